/**
 * OpenCV's exact halving (the INTER_AREA path cv2.resize INTER_LINEAR takes for a factor of 2: each value
 * the rounded mean `(a + b + c + d + 2) >> 2` of a 2 × 2 block) of a packed BGR picture into three planes,
 * with WebAssembly SIMD: 16 destination pixels per step, the channels pulled apart with byte shuffles, the
 * pairs summed with `i16x8.extadd_pairwise_i8x16_u`. A 1280×720 → 640×360 frame is the usual case (720p
 * at 640); in plain JavaScript it took 2–4 ms of the main thread per frame, most of the framework's
 * per-frame cost (bench/inference.ts).
 *
 * The picture goes through the kernel's memory in bands of {@link BAND_ROWS} destination rows (the copy in
 * stays in the cache for the kernel to read). Columns past the last whole group of 16 are left to the
 * caller. The numbers are those of resize-linear.ts's scalar halving, byte for byte (its tests run both).
 */
import { leb128, simdOp, sleb128, lazyKernel, type WasmMemory, wasmName, wasmSection } from './wasm-bytes.js';

/** Destination rows per band. */
const BAND_ROWS = 16;
/** Destination pixels per SIMD step. */
const GROUP = 16;
/** 64 KiB pages the kernel starts with: a band of a 1920-wide source and its planes (230 KB). */
const INITIAL_PAGES = 4;

/** One channel's destination plane: value (x, y) at `data[offset + y * rowStride + x]`. */
export interface HalvePlane {
  readonly data: Uint8Array;
  readonly offset: number;
  readonly rowStride: number;
}

interface Kernel {
  readonly memory: WasmMemory;
  readonly halve: (
    rows: number,
    groups: number,
    rowBytes: number,
    outStride: number,
    outBase: number,
    planeBytes: number,
  ) => void;
}

/** The kernel, compiled once per thread; null where WebAssembly SIMD is not available. */
const halveKernel = lazyKernel<Kernel>(moduleBytes, (exports) => ({
  memory: exports.memory as WasmMemory,
  halve: exports.halve as Kernel['halve'],
}));

/** Whether {@link halveBgrSimd} can run here (WebAssembly SIMD: Node 16.4 on). */
export const halveSimdAvailable = (): boolean => halveKernel() !== null;

/**
 * Halves `width` × `height` destination pixels' worth of packed BGR (`source` from `offset`, rows
 * `rowStride` bytes apart, 2·width pixels a row) into the planes `blue`, `green`, `red`, up to the last
 * whole group of 16 columns; returns how many columns it wrote (the caller does the rest). Returns 0
 * where WebAssembly SIMD is not available.
 */
export function halveBgrSimd(
  source: Uint8Array,
  offset: number,
  rowStride: number,
  width: number,
  height: number,
  planes: readonly [HalvePlane, HalvePlane, HalvePlane],
): number {
  const simd = halveKernel();
  const groups = Math.floor(width / GROUP);
  if (!simd || groups === 0) return 0;
  const rowBytes = 6 * width;
  const sourceBand = 2 * BAND_ROWS * rowBytes;
  const planeBytes = BAND_ROWS * width;
  const needed = sourceBand + 3 * planeBytes;
  if (simd.memory.buffer.byteLength < needed) {
    simd.memory.grow(Math.ceil((needed - simd.memory.buffer.byteLength) / 65536));
  }
  const memory = new Uint8Array(simd.memory.buffer);
  const columns = groups * GROUP;
  for (let top = 0; top < height; top += BAND_ROWS) {
    const rows = Math.min(BAND_ROWS, height - top);
    const first = offset + 2 * top * rowStride;
    if (rowStride === rowBytes) {
      memory.set(source.subarray(first, first + 2 * rows * rowBytes), 0);
    } else {
      for (let row = 0; row < 2 * rows; row += 1) {
        const at = first + row * rowStride;
        memory.set(source.subarray(at, at + rowBytes), row * rowBytes);
      }
    }
    simd.halve(rows, groups, rowBytes, width, sourceBand, planeBytes);
    planes.forEach((plane, channel) => {
      const from = sourceBand + channel * planeBytes;
      const to = plane.offset + top * plane.rowStride;
      if (plane.rowStride === width && columns === width) {
        plane.data.set(memory.subarray(from, from + rows * width), to);
        return;
      }
      for (let row = 0; row < rows; row += 1) {
        const at = from + row * width;
        plane.data.set(memory.subarray(at, at + columns), to + row * plane.rowStride);
      }
    });
  }
  return columns;
}

// ---------------------------------------------------------------------------------------------------
// The kernel's WebAssembly binary, written out here (as input-tensor.ts's is): one memory, one function
// halve(rows, groups, rowBytes, outStride, outBase, planeBytes). Source row pairs are at 0, `rowBytes`
// apart; destination plane c (0 blue, 1 green, 2 red) at outBase + c·planeBytes, rows outStride apart.

function moduleBytes(): Uint8Array {
  const name = wasmName;
  const section = wasmSection;
  const simd = simdOp;
  const [LOCAL_GET, LOCAL_SET, I32_CONST, I32_ADD, I32_MUL, I32_GE_U] = [0x20, 0x21, 0x41, 0x6a, 0x6c, 0x4f];
  const [BLOCK, LOOP, BR, BR_IF, END, VOID] = [0x02, 0x03, 0x0c, 0x0d, 0x0b, 0x40];
  const [V128_LOAD, V128_STORE, V128_CONST, SHUFFLE] = [0x00, 0x0b, 0x0c, 0x0d];
  const [NARROW_U, EXTADD_PAIRWISE_U, I16_SHR_U, I16_ADD] = [0x66, 0x7d, 0x8d, 0x8e];
  // Params 0–5, then locals: 6 y, 7 g, 8 s0 (upper row), 9 s1 (lower row), 10 d (blue destination).
  const [ROWS, GROUPS, ROW_BYTES, OUT_STRIDE, OUT_BASE, PLANE_BYTES] = [0, 1, 2, 3, 4, 5];
  const [Y, G, S0, S1, D] = [6, 7, 8, 9, 10];
  const get = (local: number) => [LOCAL_GET, local];
  const set = (local: number) => [LOCAL_SET, local];
  const load = (local: number, at: number) => [...get(local), ...simd(V128_LOAD), 0, ...leb128(at)];
  const lanes = (f: (lane: number) => number) => Array.from({ length: 16 }, (_, lane) => f(lane));
  const twos = [...simd(V128_CONST), ...lanes((lane) => (lane % 2 === 0 ? 2 : 0))]; // i16x8 of 2
  // Channel c of 16 pixels (48 bytes at `at`): bytes 3p + c; those below 32 from the first two vectors,
  // the rest from the third.
  const channel = (row: number, at: number, c: number) => [
    ...load(row, at),
    ...load(row, at + 16),
    ...simd(SHUFFLE),
    ...lanes((p) => (3 * p + c < 32 ? 3 * p + c : 0)),
    ...load(row, at + 32),
    ...simd(SHUFFLE),
    ...lanes((p) => (3 * p + c < 32 ? p : 16 + 3 * p + c - 32)),
    ...simd(EXTADD_PAIRWISE_U),
  ];
  // Eight destination values of channel c from the 16 source pixels at `at` of both rows.
  const eight = (at: number, c: number) => [
    ...channel(S0, at, c),
    ...channel(S1, at, c),
    ...simd(I16_ADD),
    ...twos,
    ...simd(I16_ADD),
    I32_CONST,
    2,
    ...simd(I16_SHR_U),
  ];
  const store = (c: number) => [
    ...get(D),
    ...(c === 0 ? [] : [...get(PLANE_BYTES), I32_CONST, c, I32_MUL, I32_ADD]),
    ...eight(0, c),
    ...eight(48, c),
    ...simd(NARROW_U),
    ...simd(V128_STORE),
    0,
    0,
  ];
  // prettier-ignore
  const body = [
    1, 5, 0x7f, // locals: 5 × i32
    I32_CONST, 0, ...set(Y),
    BLOCK, VOID, LOOP, VOID,
    ...get(Y), ...get(ROWS), I32_GE_U, BR_IF, 1,
    I32_CONST, 0, ...set(G),
    // s0 = 2·y·rowBytes, d = outBase + y·outStride
    ...get(Y), ...get(ROW_BYTES), I32_MUL, I32_CONST, 2, I32_MUL, ...set(S0),
    ...get(OUT_BASE), ...get(Y), ...get(OUT_STRIDE), I32_MUL, I32_ADD, ...set(D),
    BLOCK, VOID, LOOP, VOID,
    ...get(G), ...get(GROUPS), I32_GE_U, BR_IF, 1,
    ...get(S0), ...get(ROW_BYTES), I32_ADD, ...set(S1),
    ...store(0), ...store(1), ...store(2),
    ...get(S0), I32_CONST, ...sleb128(96), I32_ADD, ...set(S0),
    ...get(D), I32_CONST, ...sleb128(16), I32_ADD, ...set(D),
    ...get(G), I32_CONST, 1, I32_ADD, ...set(G),
    BR, 0,
    END, END,
    ...get(Y), I32_CONST, 1, I32_ADD, ...set(Y),
    BR, 0,
    END, END,
    END,
  ];
  // prettier-ignore
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, [1, 0x60, 6, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0]), // type 0: (6 × i32) → ()
    ...section(3, [1, 0]),
    // One memory, sized for a band of a 1920-wide source (a wider one grows it): nothing to allocate at
    // the first frame of the usual sizes.
    ...section(5, [1, 0, INITIAL_PAGES]),
    ...section(7, [2, ...name('memory'), 2, 0, ...name('halve'), 0, 0]),
    ...section(10, [1, ...leb128(body.length), ...body]),
  ]);
}
