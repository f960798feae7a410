/**
 * OpenCV's INTER_LINEAR resize (resize-linear.ts's numbers, byte for byte) of a packed BGR picture into
 * three planes, in WebAssembly: the 848×478 → 640×361 and 1920×1080 → 640×360 cases, which do not halve.
 *
 * Two kernels, driven row by row from JavaScript as resize-linear.ts's scalar code is:
 * - `hrow`: one source row (copied into the kernel's memory) resized horizontally into three rows of
 *   16-bit values, one per channel, already shifted right by 4 (OpenCV's HResizeLinear for 8-bit pictures);
 *   scalar, one destination column at a time with the column's offset and weights from one table entry;
 * - `vrow`: two such rows mixed into a destination row of each plane with OpenCV's vertical rounding,
 *   `(((upper·b0) >> 16) + ((lower·b1) >> 16) + 2) >> 2`, 16 values a step (`i32x4.extmul_*_i16x8_s`, the
 *   products' high halves narrowed back to 16 bits, then to bytes).
 * The destination rows stay in the kernel's memory until the frame is done, then go out a plane at a time.
 */
import type { PlaneTarget, ResizePlan } from './resize-linear.js';
import { leb128, simdOp, sleb128, wasmName, wasmSection } from './wasm-bytes.js';

/** 64 KiB pages the kernel starts with: a 640 × 640 letterbox's planes and a 1920-wide source row. */
const INITIAL_PAGES = 24;
/** Room past each row and plane for a step's loads and stores that run over its end (16 values). */
const SLACK = 32;

interface Kernel {
  readonly memory: { buffer: ArrayBuffer; grow(pages: number): number };
  /** (r, g, b, out, width, xmax, table): r, g, b the channels' bytes of pixel 0 of the row. */
  readonly hrow: (
    r: number,
    g: number,
    b: number,
    out: number,
    width: number,
    xmax: number,
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

/** The part of the WebAssembly API used here (the project's TypeScript libs do not declare it). */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

let kernel: Kernel | null | undefined;

/** The kernels, compiled once per thread; null where WebAssembly SIMD is not available. */
function linearKernel(): Kernel | null {
  if (kernel !== undefined) return kernel;
  kernel = null;
  const wasm = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  try {
    const binary = moduleBytes();
    if (wasm?.validate(binary)) {
      const { exports } = new wasm.Instance(new wasm.Module(binary));
      kernel = {
        memory: exports.memory as Kernel['memory'],
        hrow: exports.hrow as Kernel['hrow'],
        vrow: exports.vrow as Kernel['vrow'],
      };
    }
  } catch {
    kernel = null;
  }
  return kernel;
}

/** Whether {@link resizeLinearPackedSimd} can run here (WebAssembly SIMD: Node 16.4 on). */
export const linearSimdAvailable = (): boolean => linearKernel() !== null;

/** Where one plan's tables, rows and planes lie in the kernel's memory. */
interface Layout {
  readonly plan: ResizePlan;
  /** Per destination column: the left source pixel's byte offset in the row, then the two weights (i32). */
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
  const upper = table + 12 * width;
  const lower = upper + rowBytes;
  const source = lower + rowBytes;
  const planes = source + 3 * sourceWidth + SLACK;
  const planeStride = width * height + SLACK;
  const end = planes + 3 * planeStride;
  if (simd.memory.buffer.byteLength < end) {
    simd.memory.grow(Math.ceil((end - simd.memory.buffer.byteLength) / 65536));
  }
  const entries = new Int32Array(simd.memory.buffer, table, 3 * width);
  for (let dx = 0; dx < width; dx += 1) {
    entries[3 * dx] = 3 * plan.xofs[dx]!;
    entries[3 * dx + 1] = plan.alpha0[dx]!;
    entries[3 * dx + 2] = plan.alpha1[dx]!;
  }
  current = { plan, table, upper, lower, source, planes, planeStride, end };
  return current;
}

/**
 * Resizes the packed picture in `data` (pixel (x, y)'s red, green and blue bytes at `offsets[c] + y ·
 * rowStride + 3x`; the three offsets one pixel's three bytes, in any order) by `plan` (a 'linear' one) into
 * `targets` (red, green, blue). Returns false, having written nothing, where WebAssembly SIMD is not
 * available. The caller has checked that `data` holds the picture (packLetterbox does).
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
  const { width, height, sourceWidth, sourceHeight, yofs, beta, xmax } = plan;
  const layout = layoutFor(simd, plan);
  const memory = new Uint8Array(simd.memory.buffer);
  const first = Math.min(...offsets);
  const [r, g, b] = offsets.map((offset) => layout.source + offset - first) as [number, number, number];
  const rowSpan = 3 * sourceWidth;
  const resizeRow = (row: number, into: number): void => {
    const at = first + row * rowStride;
    memory.set(data.subarray(at, at + rowSpan), layout.source);
    simd.hrow(r, g, b, into, width, xmax, layout.table);
  };
  let upper = layout.upper;
  let lower = layout.lower;
  let upperRow = -1;
  let lowerRow = -1;
  for (let dy = 0; dy < height; dy += 1) {
    const top = Math.min(Math.max(yofs[dy]!, 0), sourceHeight - 1);
    const bottom = Math.min(Math.max(yofs[dy]! + 1, 0), sourceHeight - 1);
    if (top !== upperRow) {
      if (top === lowerRow) {
        [upper, lower] = [lower, upper];
        upperRow = top;
        lowerRow = -1;
      } else {
        resizeRow(top, upper);
        upperRow = top;
      }
    }
    if (bottom !== lowerRow) {
      if (bottom === upperRow) memory.copyWithin(lower, upper, upper + 6 * width);
      else resizeRow(bottom, lower);
      lowerRow = bottom;
    }
    simd.vrow(
      upper,
      lower,
      beta[dy * 2]!,
      beta[dy * 2 + 1]!,
      width,
      layout.planes + dy * width,
      layout.planeStride,
    );
  }
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
// functions. hrow's table has 12 bytes a destination column: the left pixel's byte offset, alpha0, alpha1.

function moduleBytes(): Uint8Array {
  const [LOCAL_GET, LOCAL_SET, I32_CONST, I32_ADD, I32_MUL, I32_SHL, I32_SHR_S, I32_GE_U] = [
    0x20, 0x21, 0x41, 0x6a, 0x6c, 0x74, 0x75, 0x4f,
  ];
  const [I32_LOAD, I32_LOAD8_U, I32_STORE16] = [0x28, 0x2d, 0x3b];
  const [BLOCK, LOOP, BR, BR_IF, END, VOID] = [0x02, 0x03, 0x0c, 0x0d, 0x0b, 0x40];
  const [V128_LOAD, V128_STORE, I16_SPLAT] = [0x00, 0x0b, 0x10];
  const [U8_NARROW_I16, I16_NARROW_I32_S, I16_SHR_S, I16_ADD] = [0x66, 0x85, 0x8c, 0x8e];
  const [I32X4_SHR_S, EXTMUL_LOW_S, EXTMUL_HIGH_S] = [0xac, 0xbc, 0xbd];
  const simd = simdOp;
  const get = (local: number) => [LOCAL_GET, local];
  const set = (local: number) => [LOCAL_SET, local];
  const int = (value: number) => [I32_CONST, ...sleb128(value)];
  const add = (local: number, value: number) => [...get(local), ...int(value), I32_ADD, ...set(local)];
  // Memory immediates: alignment (log2), then offset.
  const load32 = (offset: number) => [I32_LOAD, 2, ...leb128(offset)];
  const load8 = (offset: number) => [I32_LOAD8_U, 0, ...leb128(offset)];
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

  // hrow(r, g, b, out, width, xmax, table); locals: 7 dx, 8 t (table entry), 9 o (channel 0's value),
  // 10 x (pixel offset), 11 a0, 12 a1, 13 w2 (bytes from one channel's row to the next).
  const [R, G, B, OUT, WIDTH, XMAX, TABLE] = [0, 1, 2, 3, 4, 5, 6];
  const [DX, T, O, X, A0, A1, W2] = [7, 8, 9, 10, 11, 12, 13];
  // The address of channel c's value: o + c·w2.
  const at = (c: number) => [
    ...get(O),
    ...(c > 0 ? [...get(W2), I32_ADD] : []),
    ...(c > 1 ? [...get(W2), I32_ADD] : []),
  ];
  const pixel = (channel: number, offset: number) => [...get(channel), ...get(X), I32_ADD, ...load8(offset)];
  const interpolated = (c: number, channel: number) => [
    ...at(c),
    ...pixel(channel, 0),
    ...get(A0),
    I32_MUL,
    ...pixel(channel, 3),
    ...get(A1),
    I32_MUL,
    I32_ADD,
    ...int(4),
    I32_SHR_S,
    ...store16,
  ];
  // Past xmax the source column is the last one, alone: (v · 2048) >> 4 = v << 7.
  const edge = (c: number, channel: number) => [
    ...at(c),
    ...pixel(channel, 0),
    ...int(7),
    I32_SHL,
    ...store16,
  ];
  const step = [...add(T, 12), ...add(O, 2), ...add(DX, 1)];
  // prettier-ignore
  const hrow = [
    1, 7, 0x7f, // locals: 7 × i32
    ...get(WIDTH), ...int(1), I32_SHL, ...set(W2),
    ...get(TABLE), ...set(T), ...get(OUT), ...set(O), ...int(0), ...set(DX),
    ...loop([...get(DX), ...get(XMAX), I32_GE_U], [
      ...get(T), ...load32(0), ...set(X),
      ...get(T), ...load32(4), ...set(A0),
      ...get(T), ...load32(8), ...set(A1),
      ...interpolated(0, R), ...interpolated(1, G), ...interpolated(2, B),
      ...step,
    ]),
    ...loop([...get(DX), ...get(WIDTH), I32_GE_U], [
      ...get(T), ...load32(0), ...set(X),
      ...edge(0, R), ...edge(1, G), ...edge(2, B),
      ...step,
    ]),
    END,
  ];

  // vrow(upper, lower, b0, b1, width, dst, planeStride); locals: 7 i, 8 u, 9 l (channel 0's values at i),
  // 10 d (plane 0's byte at i), 11 w2; then v128: 12 b0 splat, 13 b1 splat, 14 twos.
  const [UPPER, LOWER, BETA0, BETA1, VWIDTH, DST, PLANE] = [0, 1, 2, 3, 4, 5, 6];
  const [I, U, L, D, VW2, SB0, SB1, TWOS] = [7, 8, 9, 10, 11, 12, 13, 14];
  const plus = (base: number, stride: number, times: number) => [
    ...get(base),
    ...Array.from({ length: times }, () => [...get(stride), I32_ADD]).flat(),
  ];
  // ((row · b) >> 16) of eight 16-bit values at `address` + offset, as eight 16-bit values.
  const product = (address: number[], offset: number, weight: number) => [
    ...address,
    ...simd(V128_LOAD),
    0,
    ...leb128(offset),
    ...get(weight),
    ...simd(EXTMUL_LOW_S),
    ...int(16),
    ...simd(I32X4_SHR_S),
    ...address,
    ...simd(V128_LOAD),
    0,
    ...leb128(offset),
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
    2, 5, 0x7f, 3, 0x7b, // locals: 5 × i32, 3 × v128
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
    ...wasmSection(1, [1, 0x60, 7, ...i32s(7), 0]), // type 0: (7 × i32) → ()
    ...wasmSection(3, [2, 0, 0]),
    ...wasmSection(5, [1, 0, INITIAL_PAGES]),
    ...wasmSection(7, [3, ...wasmName('memory'), 2, 0, ...wasmName('hrow'), 0, 0, ...wasmName('vrow'), 0, 1]),
    ...wasmSection(10, [2, ...leb128(hrow.length), ...hrow, ...leb128(vrow.length), ...vrow]),
  ]);
}
