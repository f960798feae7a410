/**
 * A resize equal, byte for byte, to OpenCV 4.x's `cv2.resize(image, (w, h), interpolation=INTER_LINEAR)` on
 * an 8-bit three-channel (BGR) image, as Ultralytics' LetterBox calls it. What makes OpenCV's numbers its own:
 *
 * - the half-pixel source mapping `fx = (dx + 0.5) * scale - 0.5`, computed in double and stored as a float,
 *   clamped at the edges (a weight of 1 on the edge pixel);
 * - weights in 11-bit fixed point (INTER_RESIZE_COEF_BITS), rounded half to even;
 * - the vertical pass's rounding: not the textbook `(S0·b0 + S1·b1 + 2^21) >> 22` but what its SIMD code
 *   computes, which OpenCV's scalar code for 8-bit images copies so that every platform agrees: each
 *   horizontally resized row shifted right by 4, each product kept to its high 16 bits, the sum rounded
 *   by 2 bits (`((b0·(S0 >> 4)) >> 16) + ((b1·(S1 >> 4)) >> 16) + 2) >> 2`);
 * - an exact halving in both directions is not interpolated at all: OpenCV switches INTER_LINEAR to its
 *   fast INTER_AREA path, the rounded mean of each 2 × 2 block.
 *
 * The three channels are resized straight from a packed or planar picture into the letterbox's planes
 * (OpenCV's interleaved rows give the same numbers as one channel at a time). Compared with OpenCV 4.6
 * (Debian's python3-opencv) byte for byte by test/media/preprocess-opencv.test.ts. The halving of packed
 * BGR, the 720p → 640 case, runs in WebAssembly SIMD (./resize-halve-simd.ts): measured 0.45–0.5 ms a frame
 * against 2–4 ms in plain JavaScript (load average 9 on the 2-core machine). The interpolation of a packed
 * picture runs in WebAssembly too (./resize-linear-simd.ts: an 848×478 → 640×361 frame in 0.8 ms against
 * 3.1–3.4 ms here, 1920×1080 → 640×360 in 1.3–1.5 ms against 4.1 ms; medians of 20, side by side, load 5);
 * the JavaScript code below does any other layout, and every layout where WebAssembly SIMD is missing.
 */

import { halveBgrSimd } from './resize-halve-simd.js';
import { resizeLinearPackedSimd } from './resize-linear-simd.js';
import { walkDestinationRows } from './resize-rows.js';

/** INTER_RESIZE_COEF_BITS: OpenCV's fixed-point weights are in units of 1/2048. */
const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;

export type ResizeMethod = 'copy' | 'area-2x' | 'linear';

/** The tables of one source size → destination size resize, made once and reused frame after frame. */
export interface ResizePlan {
  readonly sourceWidth: number;
  readonly sourceHeight: number;
  readonly width: number;
  readonly height: number;
  readonly method: ResizeMethod;
  /** Per destination column: the left source column (clamped). */
  readonly xofs: Int32Array;
  /** Per destination column: the weights of the left and the right source column (sum 2048). */
  readonly alpha0: Int32Array;
  readonly alpha1: Int32Array;
  /** From this destination column on, the source column is the last one, alone (OpenCV's `xmax`). */
  readonly xmax: number;
  /** Per destination row: the top source row, unclamped (may be -1 or the last row). */
  readonly yofs: Int32Array;
  /** Per destination row: the two vertical weights. */
  readonly beta: Int16Array;
  /** Scratch: the two horizontally resized source rows the vertical pass mixes, channels interleaved. */
  readonly rows: readonly [Int32Array, Int32Array];
}

/** One channel of a picture: value (x, y) at `data[offset + y * rowStride + x * pixelStride]`. */
export interface ChannelView {
  readonly data: Uint8Array;
  readonly offset: number;
  readonly pixelStride: number;
  readonly rowStride: number;
}

/** One plane of the destination: value (x, y) at `data[offset + y * rowStride + x]`. */
export interface PlaneTarget {
  readonly data: Uint8Array;
  readonly offset: number;
  readonly rowStride: number;
}

/** Rounds half to even, as OpenCV's cvRound (lrint) does. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** OpenCV's `saturate_cast<short>(float * INTER_RESIZE_COEF_SCALE)` of a float weight. */
function fixedWeight(weight: number): number {
  return roundHalfEven(Math.fround(weight * COEF_SCALE));
}

/**
 * The tables for resizing `sourceWidth` × `sourceHeight` to `width` × `height` as cv2.resize INTER_LINEAR
 * does (see the module's doc for which method that ends up being).
 */
export function planResize(
  sourceWidth: number,
  sourceHeight: number,
  width: number,
  height: number,
): ResizePlan {
  for (const [name, value] of Object.entries({ sourceWidth, sourceHeight, width, height })) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`resize: ${name} must be a positive integer, got ${value}`);
    }
  }
  const inverseScaleX = width / sourceWidth;
  const inverseScaleY = height / sourceHeight;
  const scaleX = 1 / inverseScaleX;
  const scaleY = 1 / inverseScaleY;
  const integerScaleX = roundHalfEven(scaleX);
  const integerScaleY = roundHalfEven(scaleY);
  const areaFast =
    Math.abs(scaleX - integerScaleX) < Number.EPSILON && Math.abs(scaleY - integerScaleY) < Number.EPSILON;
  const method: ResizeMethod =
    width === sourceWidth && height === sourceHeight
      ? 'copy'
      : areaFast && integerScaleX === 2 && integerScaleY === 2
        ? 'area-2x'
        : 'linear';

  const xofs = new Int32Array(width);
  const alpha0 = new Int32Array(width);
  const alpha1 = new Int32Array(width);
  let xmax = width;
  for (let dx = 0; dx < width; dx += 1) {
    let fx = Math.fround((dx + 0.5) * scaleX - 0.5);
    let sx = Math.floor(fx);
    fx = Math.fround(fx - sx);
    if (sx < 0) {
      fx = 0;
      sx = 0;
    }
    if (sx + 1 >= sourceWidth) {
      xmax = Math.min(xmax, dx);
      if (sx >= sourceWidth - 1) {
        fx = 0;
        sx = sourceWidth - 1;
      }
    }
    xofs[dx] = sx;
    alpha0[dx] = fixedWeight(Math.fround(1 - fx));
    alpha1[dx] = fixedWeight(fx);
  }

  const yofs = new Int32Array(height);
  const beta = new Int16Array(height * 2);
  for (let dy = 0; dy < height; dy += 1) {
    let fy = Math.fround((dy + 0.5) * scaleY - 0.5);
    const sy = Math.floor(fy);
    fy = Math.fround(fy - sy);
    yofs[dy] = sy;
    beta[dy * 2] = fixedWeight(Math.fround(1 - fy));
    beta[dy * 2 + 1] = fixedWeight(fy);
  }

  return {
    sourceWidth,
    sourceHeight,
    width,
    height,
    method,
    xofs,
    alpha0,
    alpha1,
    xmax,
    yofs,
    beta,
    rows: [new Int32Array(width * 3), new Int32Array(width * 3)],
  };
}

/**
 * Resizes the three channels of `source` into the planes of `target` at the same index, as cv2.resize does
 * each channel of an image. The views must hold the plan's sizes (packLetterbox checks them; past a typed
 * array's end the JavaScript code reads 0, and the WebAssembly path throws a RangeError). The
 * interpolation of a packed picture runs in WebAssembly (./resize-linear-simd.ts) where it can;
 * `simd: false` runs the JavaScript code (the tests compare them).
 */
export function resizeLinear(
  plan: ResizePlan,
  source: readonly [ChannelView, ChannelView, ChannelView],
  target: readonly [PlaneTarget, PlaneTarget, PlaneTarget],
  options: { simd?: boolean } = {},
): void {
  if (plan.method === 'linear') {
    const [red, green, blue] = source;
    const simd =
      options.simd !== false &&
      isPacked(source) &&
      isOnePixel(red.offset, green.offset, blue.offset) &&
      resizeLinearPackedSimd(plan, red.data, [red.offset, green.offset, blue.offset], red.rowStride, target);
    if (!simd) resizeChannels(plan, source, target);
    return;
  }
  if (plan.method === 'area-2x') {
    const done = halvePackedBgr(plan, source, target);
    if (done < plan.width) halveChannels(plan, source, target, done);
    return;
  }
  for (const channel of [0, 1, 2] as const) copyChannel(plan, source[channel], target[channel]);
}

function copyChannel(plan: ResizePlan, from: ChannelView, to: PlaneTarget): void {
  const { width, height } = plan;
  const { data: src, pixelStride, rowStride } = from;
  const dst = to.data;
  for (let y = 0; y < height; y += 1) {
    let s = from.offset + y * rowStride;
    let d = to.offset + y * to.rowStride;
    for (let x = 0; x < width; x += 1, s += pixelStride, d += 1) dst[d] = src[s]!;
  }
}

/**
 * The halving of a packed BGR picture (R, G, B views of one buffer at offsets 2, 1, 0 from its pixels)
 * by the SIMD kernel; returns the columns done from the left (0 for any other layout, or without
 * WebAssembly SIMD).
 */
function halvePackedBgr(
  plan: ResizePlan,
  source: readonly [ChannelView, ChannelView, ChannelView],
  target: readonly [PlaneTarget, PlaneTarget, PlaneTarget],
): number {
  const [red, green, blue] = source;
  const packed =
    red.data === green.data &&
    red.data === blue.data &&
    [red, green, blue].every((view) => view.pixelStride === 3 && view.rowStride === blue.rowStride) &&
    green.offset === blue.offset + 1 &&
    red.offset === blue.offset + 2;
  if (!packed) return 0;
  return halveBgrSimd(blue.data, blue.offset, blue.rowStride, plan.width, plan.height, [
    target[2],
    target[1],
    target[0],
  ]);
}

/**
 * OpenCV's resizeAreaFast for a factor of 2: each value the rounded mean of a 2 × 2 block; from column
 * `from` on (the SIMD kernel did the ones before).
 */
function halveChannels(
  plan: ResizePlan,
  source: readonly [ChannelView, ChannelView, ChannelView],
  target: readonly [PlaneTarget, PlaneTarget, PlaneTarget],
  from = 0,
): void {
  const { width, height } = plan;
  const [c0, c1, c2] = source;
  const [t0, t1, t2] = target;
  const src0 = c0.data;
  const src1 = c1.data;
  const src2 = c2.data;
  const dst0 = t0.data;
  const dst1 = t1.data;
  const dst2 = t2.data;
  const step0 = c0.pixelStride;
  const step1 = c1.pixelStride;
  const step2 = c2.pixelStride;
  for (let y = 0; y < height; y += 1) {
    let s0 = c0.offset + 2 * y * c0.rowStride + 2 * from * step0;
    let s1 = c1.offset + 2 * y * c1.rowStride + 2 * from * step1;
    let s2 = c2.offset + 2 * y * c2.rowStride + 2 * from * step2;
    const below0 = c0.rowStride;
    const below1 = c1.rowStride;
    const below2 = c2.rowStride;
    let d0 = t0.offset + y * t0.rowStride + from;
    let d1 = t1.offset + y * t1.rowStride + from;
    let d2 = t2.offset + y * t2.rowStride + from;
    for (let x = from; x < width; x += 1, s0 += 2 * step0, s1 += 2 * step1, s2 += 2 * step2) {
      dst0[d0++] = (src0[s0]! + src0[s0 + step0]! + src0[s0 + below0]! + src0[s0 + below0 + step0]! + 2) >> 2;
      dst1[d1++] = (src1[s1]! + src1[s1 + step1]! + src1[s1 + below1]! + src1[s1 + below1 + step1]! + 2) >> 2;
      dst2[d2++] = (src2[s2]! + src2[s2 + step2]! + src2[s2 + below2]! + src2[s2 + below2 + step2]! + 2) >> 2;
    }
  }
}

/** Whether three offsets are the three bytes of one pixel, in any order. */
function isOnePixel(a: number, b: number, c: number): boolean {
  const first = Math.min(a, b, c);
  return a !== b && b !== c && a !== c && Math.max(a, b, c) === first + 2;
}

/** Whether the three views are one packed picture: one buffer, 3 bytes a pixel, the same rows. */
function isPacked([c0, c1, c2]: readonly [ChannelView, ChannelView, ChannelView]): boolean {
  return (
    c0.data === c1.data &&
    c1.data === c2.data &&
    [c0, c1, c2].every((view) => view.pixelStride === 3 && view.rowStride === c0.rowStride)
  );
}

/**
 * One source row resized horizontally into `row` (channels interleaved), as OpenCV's HResizeLinear does,
 * then shifted right by 4 as the vertical pass uses it. The three channels go together: the column tables
 * are read once for all three, which measured a quarter faster than a pass per channel.
 */
function horizontalPass(
  plan: ResizePlan,
  source: readonly [ChannelView, ChannelView, ChannelView],
  packed: boolean,
  sourceRow: number,
  row: Int32Array,
): void {
  const { width, xofs, alpha0, alpha1, xmax } = plan;
  const [c0, c1, c2] = source;
  if (packed) {
    horizontalPassPacked(
      plan,
      c0.data,
      c0.offset + sourceRow * c0.rowStride,
      c1.offset - c0.offset,
      c2.offset - c0.offset,
      row,
    );
    return;
  }
  const src0 = c0.data;
  const src1 = c1.data;
  const src2 = c2.data;
  const step0 = c0.pixelStride;
  const step1 = c1.pixelStride;
  const step2 = c2.pixelStride;
  const base0 = c0.offset + sourceRow * c0.rowStride;
  const base1 = c1.offset + sourceRow * c1.rowStride;
  const base2 = c2.offset + sourceRow * c2.rowStride;
  let dx = 0;
  let r = 0;
  for (; dx < xmax; dx += 1, r += 3) {
    const x = xofs[dx]!;
    const a0 = alpha0[dx]!;
    const a1 = alpha1[dx]!;
    const s0 = base0 + x * step0;
    const s1 = base1 + x * step1;
    const s2 = base2 + x * step2;
    row[r] = (src0[s0]! * a0 + src0[s0 + step0]! * a1) >> 4;
    row[r + 1] = (src1[s1]! * a0 + src1[s1 + step1]! * a1) >> 4;
    row[r + 2] = (src2[s2]! * a0 + src2[s2 + step2]! * a1) >> 4;
  }
  for (; dx < width; dx += 1, r += 3) {
    const x = xofs[dx]!;
    row[r] = (src0[base0 + x * step0]! * COEF_SCALE) >> 4;
    row[r + 1] = (src1[base1 + x * step1]! * COEF_SCALE) >> 4;
    row[r + 2] = (src2[base2 + x * step2]! * COEF_SCALE) >> 4;
  }
}

/**
 * {@link horizontalPass} for the three channels of one packed picture (3 bytes a pixel, the channels at
 * `at1` and `at2` from the first): one offset table lookup per pixel, no per-channel stride products.
 */
function horizontalPassPacked(
  plan: ResizePlan,
  src: Uint8Array,
  base: number,
  at1: number,
  at2: number,
  row: Int32Array,
): void {
  const { width, xofs, alpha0, alpha1, xmax } = plan;
  let dx = 0;
  let r = 0;
  for (; dx < xmax; dx += 1, r += 3) {
    const s = base + 3 * xofs[dx]!;
    const a0 = alpha0[dx]!;
    const a1 = alpha1[dx]!;
    row[r] = (src[s]! * a0 + src[s + 3]! * a1) >> 4;
    row[r + 1] = (src[s + at1]! * a0 + src[s + at1 + 3]! * a1) >> 4;
    row[r + 2] = (src[s + at2]! * a0 + src[s + at2 + 3]! * a1) >> 4;
  }
  for (; dx < width; dx += 1, r += 3) {
    const s = base + 3 * xofs[dx]!;
    row[r] = (src[s]! * COEF_SCALE) >> 4;
    row[r + 1] = (src[s + at1]! * COEF_SCALE) >> 4;
    row[r + 2] = (src[s + at2]! * COEF_SCALE) >> 4;
  }
}

/**
 * OpenCV's resizeGeneric for INTER_LINEAR: each destination row mixes two horizontally resized source rows
 * (clamped to the picture), each of which is computed once and kept while the next rows need it.
 */
function resizeChannels(
  plan: ResizePlan,
  source: readonly [ChannelView, ChannelView, ChannelView],
  target: readonly [PlaneTarget, PlaneTarget, PlaneTarget],
): void {
  const { width, beta } = plan;
  const packed = isPacked(source);
  const [t0, t1, t2] = target;
  const dst0 = t0.data;
  const dst1 = t1.data;
  const dst2 = t2.data;
  walkDestinationRows(
    plan,
    plan.rows,
    (row, into) => horizontalPass(plan, source, packed, row, into),
    (from, to) => to.set(from),
    (dy, upper, lower) => {
      const b0 = beta[dy * 2]!;
      const b1 = beta[dy * 2 + 1]!;
      let d0 = t0.offset + dy * t0.rowStride;
      let d1 = t1.offset + dy * t1.rowStride;
      let d2 = t2.offset + dy * t2.rowStride;
      // At most ((32640 · 2048) >> 16) · 2 + 2 >> 2 = 255: no saturation needed.
      for (let r = 0; r < 3 * width; r += 3) {
        dst0[d0++] = (((upper[r]! * b0) >> 16) + ((lower[r]! * b1) >> 16) + 2) >> 2;
        dst1[d1++] = (((upper[r + 1]! * b0) >> 16) + ((lower[r + 1]! * b1) >> 16) + 2) >> 2;
        dst2[d2++] = (((upper[r + 2]! * b0) >> 16) + ((lower[r + 2]! * b1) >> 16) + 2) >> 2;
      }
    },
  );
}
