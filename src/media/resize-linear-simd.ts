/**
 * OpenCV's INTER_LINEAR resize (resize-linear.ts's numbers, byte for byte) of a packed BGR picture into
 * three planes, in WebAssembly: the 848×478 → 640×361 and 1920×1080 → 640×360 cases, which do not halve.
 *
 * Two kernels, driven row by row from JavaScript as resize-linear.ts's scalar code is:
 * - `hrow`: one source row (copied into the kernel's memory) resized horizontally into three rows of
 *   16-bit values, one per channel, already shifted right by 4 (OpenCV's HResizeLinear for 8-bit pictures):
 *   per destination column, the two source pixels' bytes paired by channel and multiplied by the column's
 *   two weights in one `i32x4.dot_i16x8_s`;
 * - `vrow`: two such rows mixed into a destination row of each plane with OpenCV's vertical rounding,
 *   `(((upper·b0) >> 16) + ((lower·b1) >> 16) + 2) >> 2`, 16 values a step (`i32x4.extmul_*_i16x8_s`, the
 *   products' high halves narrowed back to 16 bits, then to bytes).
 * The destination rows stay in the kernel's memory until the frame is done, then go out a plane at a time.
 */
import type { PlaneTarget, ResizePlan } from './resize-linear.js';
import { walkDestinationRows } from './resize-rows.js';
import { leb128, simdOp, sleb128, lazyKernel, type WasmMemory, wasmName, wasmSection } from './wasm-bytes.js';

/** 64 KiB pages the kernel starts with: a 640 × 640 letterbox's planes and a 1920-wide source row. */
const INITIAL_PAGES = 24;
/** Room past each row and plane for a step's loads and stores that run over its end (16 values). */
const SLACK = 32;

interface Kernel {
  readonly memory: WasmMemory;
  /**
   * (source, out0, out1, out2, width, table): the row's pixels at `source`; outK the 16-bit row for the
   * values of each pixel's byte K.
   */
  readonly hrow: (
    source: number,
    out0: number,
    out1: number,
    out2: number,
    width: number,
    table: number,
  ) => void;
  /** (upper, lower, b0, b1, width, dst, planeStride). */
  readonly vrow: (
    upper: number,
    lower: number,
    b0: number,
    b1: number,
    width: number,
    dst: number,
    planeStride: number,
  ) => void;
}

/** The kernels, compiled once per thread; null where WebAssembly SIMD is not available. */
const linearKernel = lazyKernel<Kernel>(moduleBytes, (exports) => ({
  memory: exports.memory as WasmMemory,
  hrow: exports.hrow as Kernel['hrow'],
  vrow: exports.vrow as Kernel['vrow'],
}));

/** Whether {@link resizeLinearPackedSimd} can run here (WebAssembly SIMD: Node 16.4 on). */
export const linearSimdAvailable = (): boolean => linearKernel() !== null;

/** Where one plan's tables, rows and planes lie in the kernel's memory. */
interface Layout {
  readonly plan: ResizePlan;
  /** Per destination column: the left source pixel's byte offset in the row, then the two weights (i16). */
  readonly table: number;
  readonly upper: number;
  readonly lower: number;
  /** The source row being resized. */
  readonly source: number;
  /** Plane c at planes + c·planeStride, rows `width` bytes apart. */
  readonly planes: number;
  readonly planeStride: number;
  readonly end: number;
}

/** The layout of the last plan run, its table already in memory. */
let current: Layout | undefined;

function layoutFor(simd: Kernel, plan: ResizePlan): Layout {
  if (current?.plan === plan) return current;
  const { width, height, sourceWidth } = plan;
  const table = 0;
  const rowBytes = 3 * 2 * width + SLACK;
  const upper = table + 8 * width;
  const lower = upper + rowBytes;
  const source = lower + rowBytes;
  const planes = source + 3 * sourceWidth + SLACK;
  const planeStride = width * height + SLACK;
  const end = planes + 3 * planeStride;
  if (simd.memory.buffer.byteLength < end) {
    simd.memory.grow(Math.ceil((end - simd.memory.buffer.byteLength) / 65536));
  }
  // Past xmax the weights are 2048 and 0 (the last pixel alone), as the scalar code's shift by 7 is.
  const entries = new Int32Array(simd.memory.buffer, table, 2 * width);
  for (let dx = 0; dx < width; dx += 1) {
    entries[2 * dx] = 3 * plan.xofs[dx]!;
    entries[2 * dx + 1] = plan.alpha0[dx]! | (plan.alpha1[dx]! << 16);
  }
  current = { plan, table, upper, lower, source, planes, planeStride, end };
  return current;
}

/**
 * Resizes the packed picture in `data` (pixel (x, y)'s red, green and blue bytes at `offsets[c] + y ·
 * rowStride + 3x`; the three offsets one pixel's three bytes, in any order) by `plan` (a 'linear' one) into
 * `targets` (red, green, blue). Returns false, having written nothing, where WebAssembly SIMD is not
 * available; throws a RangeError, having written nothing, when `data` does not hold the picture.
 */
export function resizeLinearPackedSimd(
  plan: ResizePlan,
  data: Uint8Array,
  offsets: readonly [number, number, number],
  rowStride: number,
  targets: readonly [PlaneTarget, PlaneTarget, PlaneTarget],
): boolean {
  const simd = linearKernel();
  if (!simd) return false;
  const { width, height, sourceWidth, sourceHeight, beta } = plan;
  const layout = layoutFor(simd, plan);
  const memory = new Uint8Array(simd.memory.buffer);
  const first = Math.min(...offsets);
  const last = first + (sourceHeight - 1) * rowStride + 3 * sourceWidth;
  if (first < 0 || last > data.length) {
    throw new RangeError(
      `resize: a ${sourceWidth}×${sourceHeight} picture with rows of ${rowStride} bytes from offset ${first} needs ${last} bytes, got ${data.length}`,
    );
  }
  // The 16-bit row of each pixel byte's values: byte K of a pixel is channel c's where offsets[c] is K on.
  const rowOf = (byte: number): number => 2 * width * offsets.findIndex((offset) => offset - first === byte);
  const [row0, row1, row2] = [rowOf(0), rowOf(1), rowOf(2)];
  const rowSpan = 3 * sourceWidth;
  const resizeRow = (row: number, into: number): void => {
    const at = first + row * rowStride;
    memory.set(data.subarray(at, at + rowSpan), layout.source);
    simd.hrow(layout.source, into + row0, into + row1, into + row2, width, layout.table);
  };
  walkDestinationRows(
    plan,
    [layout.upper, layout.lower],
    resizeRow,
    (from, to) => memory.copyWithin(to, from, from + 6 * width),
    (dy, upper, lower) =>
      simd.vrow(
        upper,
        lower,
        beta[dy * 2]!,
        beta[dy * 2 + 1]!,
        width,
        layout.planes + dy * width,
        layout.planeStride,
      ),
  );
  targets.forEach((target, channel) => {
    const from = layout.planes + channel * layout.planeStride;
    if (target.rowStride === width) {
      target.data.set(memory.subarray(from, from + width * height), target.offset);
      return;
    }
    for (let y = 0; y < height; y += 1) {
      const at = from + y * width;
      target.data.set(memory.subarray(at, at + width), target.offset + y * target.rowStride);
    }
  });
  return true;
}

// ---------------------------------------------------------------------------------------------------
// The kernels' WebAssembly binary, written out here (as resize-halve-simd.ts's is): one memory and two
// functions. hrow's table has 8 bytes a destination column: the left pixel's byte offset, then alpha0 and
// alpha1 as two 16-bit halves.

function moduleBytes(): Uint8Array {
  const [LOCAL_GET, LOCAL_SET, LOCAL_TEE, I32_CONST, I32_ADD, I32_SHL, I32_GE_U] = [
    0x20, 0x21, 0x22, 0x41, 0x6a, 0x74, 0x4f,
  ];
  const [I32_LOAD, I32_STORE16] = [0x28, 0x3b];
  const [BLOCK, LOOP, BR, BR_IF, END, VOID] = [0x02, 0x03, 0x0c, 0x0d, 0x0b, 0x40];
  const [V128_LOAD, V128_STORE, V128_CONST, SHUFFLE, I16_SPLAT, I32X4_SPLAT] = [
    0x00, 0x0b, 0x0c, 0x0d, 0x10, 0x11,
  ];
  const [V128_LOAD64_ZERO, I32X4_EXTRACT_LANE, I32X4_DOT_I16X8_S] = [0x5d, 0x1b, 0xba];
  const [U8_NARROW_I16, I16_NARROW_I32_S, I16_SHR_S, I16_ADD] = [0x66, 0x85, 0x8c, 0x8e];
  const [I32X4_SHR_S, EXTMUL_LOW_S, EXTMUL_HIGH_S] = [0xac, 0xbc, 0xbd];
  const simd = simdOp;
  const get = (local: number) => [LOCAL_GET, local];
  const set = (local: number) => [LOCAL_SET, local];
  const int = (value: number) => [I32_CONST, ...sleb128(value)];
  const add = (local: number, value: number) => [...get(local), ...int(value), I32_ADD, ...set(local)];
  // Memory immediates: alignment (log2), then offset.
  const load32 = (offset: number) => [I32_LOAD, 2, ...leb128(offset)];
  const store16 = [I32_STORE16, 1, 0];
  const loop = (exit: number[], body: number[]) => [
    BLOCK,
    VOID,
    LOOP,
    VOID,
    ...exit,
    BR_IF,
    1,
    ...body,
    BR,
    0,
    END,
    END,
  ];

  // hrow(source, out0, out1, out2, width, table); locals: 6 p (2 · the destination column), 7 t (its table
  // entry), 8 end (the table's end); v128 9 d. Per column: the left and right pixels' six bytes, paired by
  // byte (b0 b0' b1 b1' b2 b2') and widened to 16 bits by one shuffle with zeros, times (a0, a1) pairwise
  // (i32x4.dot_i16x8_s), shifted right by 4: the three values, each stored to its row.
  const [SOURCE, OUT0, OUT1, OUT2, WIDTH, TABLE] = [0, 1, 2, 3, 4, 5];
  const [P, T, TABLE_END, VALUES] = [6, 7, 8, 9];
  const zero = 16; // a lane of the all-zero second operand
  const pairs = [0, zero, 3, zero, 1, zero, 4, zero, 2, zero, 5, zero, zero, zero, zero, zero];
  const store = (out: number, lane: number) => [
    ...get(out),
    ...get(P),
    I32_ADD,
    ...get(VALUES),
    ...simd(I32X4_EXTRACT_LANE),
    lane,
    ...store16,
  ];
  // prettier-ignore
  const hrow = [
    2, 3, 0x7f, 1, 0x7b, // locals: 3 × i32, 1 × v128
    ...int(0), ...set(P), ...get(TABLE), ...set(T),
    ...get(TABLE), ...get(WIDTH), ...int(3), I32_SHL, I32_ADD, ...set(TABLE_END),
    ...loop([...get(T), ...get(TABLE_END), I32_GE_U], [
      ...get(SOURCE), ...get(T), ...load32(0), I32_ADD, ...simd(V128_LOAD64_ZERO), 0, 0,
      ...simd(V128_CONST), ...Array.from({ length: 16 }, () => 0),
      ...simd(SHUFFLE), ...pairs,
      ...get(T), ...load32(4), ...simd(I32X4_SPLAT),
      ...simd(I32X4_DOT_I16X8_S), ...int(4), ...simd(I32X4_SHR_S), ...set(VALUES),
      ...store(OUT0, 0), ...store(OUT1, 1), ...store(OUT2, 2),
      ...add(T, 8), ...add(P, 2),
    ]),
    END,
  ];

  // vrow(upper, lower, b0, b1, width, dst, planeStride); locals: 7 i, 8 u, 9 l (channel 0's values at i),
  // 10 d (plane 0's byte at i), 11 w2; then v128: 12 b0 splat, 13 b1 splat, 14 twos, 15 row.
  const [UPPER, LOWER, BETA0, BETA1, VWIDTH, DST, PLANE] = [0, 1, 2, 3, 4, 5, 6];
  const [I, U, L, D, VW2, SB0, SB1, TWOS, ROW] = [7, 8, 9, 10, 11, 12, 13, 14, 15];
  const plus = (base: number, stride: number, times: number) => [
    ...get(base),
    ...Array.from({ length: times }, () => [...get(stride), I32_ADD]).flat(),
  ];
  // ((row · b) >> 16) of eight 16-bit values at `address` + offset, as eight 16-bit values (the row loaded
  // once, kept in ROW for its high half).
  const product = (address: number[], offset: number, weight: number) => [
    ...address,
    ...simd(V128_LOAD),
    0,
    ...leb128(offset),
    LOCAL_TEE,
    ROW,
    ...get(weight),
    ...simd(EXTMUL_LOW_S),
    ...int(16),
    ...simd(I32X4_SHR_S),
    ...get(ROW),
    ...get(weight),
    ...simd(EXTMUL_HIGH_S),
    ...int(16),
    ...simd(I32X4_SHR_S),
    ...simd(I16_NARROW_I32_S),
  ];
  const eight = (c: number, offset: number) => [
    ...product(plus(U, VW2, c), offset, SB0),
    ...product(plus(L, VW2, c), offset, SB1),
    ...simd(I16_ADD),
    ...get(TWOS),
    ...simd(I16_ADD),
    ...int(2),
    ...simd(I16_SHR_S),
  ];
  const sixteen = (c: number) => [
    ...plus(D, PLANE, c),
    ...eight(c, 0),
    ...eight(c, 16),
    ...simd(U8_NARROW_I16),
    ...simd(V128_STORE),
    0,
    0,
  ];
  // prettier-ignore
  const vrow = [
    2, 5, 0x7f, 4, 0x7b, // locals: 5 × i32, 4 × v128
    ...get(VWIDTH), ...int(1), I32_SHL, ...set(VW2),
    ...get(BETA0), ...simd(I16_SPLAT), ...set(SB0),
    ...get(BETA1), ...simd(I16_SPLAT), ...set(SB1),
    ...int(2), ...simd(I16_SPLAT), ...set(TWOS),
    ...get(UPPER), ...set(U), ...get(LOWER), ...set(L), ...get(DST), ...set(D), ...int(0), ...set(I),
    ...loop([...get(I), ...get(VWIDTH), I32_GE_U], [
      ...sixteen(0), ...sixteen(1), ...sixteen(2),
      ...add(U, 32), ...add(L, 32), ...add(D, 16), ...add(I, 16),
    ]),
    END,
  ];
  const i32s = (count: number) => Array.from({ length: count }, () => 0x7f);
  // prettier-ignore
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    // type 0: (6 × i32) → (), hrow's; type 1: (7 × i32) → (), vrow's
    ...wasmSection(1, [2, 0x60, 6, ...i32s(6), 0, 0x60, 7, ...i32s(7), 0]),
    ...wasmSection(3, [2, 0, 1]),
    ...wasmSection(5, [1, 0, INITIAL_PAGES]),
    ...wasmSection(7, [3, ...wasmName('memory'), 2, 0, ...wasmName('hrow'), 0, 0, ...wasmName('vrow'), 0, 1]),
    ...wasmSection(10, [2, ...leb128(hrow.length), ...hrow, ...leb128(vrow.length), ...vrow]),
  ]);
}
