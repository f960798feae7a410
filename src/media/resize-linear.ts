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
 * Each channel is resized on its own (OpenCV's interleaved rows give the same numbers), straight from a
 * packed or planar picture into the letterbox's planes. Checked against OpenCV 4.6 (Debian's
 * python3-opencv) by test/media/resize-linear.test.ts.
 */

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
  /** Per destination column: the two horizontal weights (sum 2048). */
  readonly alpha: Int16Array;
  /** From this destination column on, the source column is the last one, alone (OpenCV's `xmax`). */
  readonly xmax: number;
  /** Per destination row: the top source row, unclamped (may be -1 or the last row). */
  readonly yofs: Int32Array;
  /** Per destination row: the two vertical weights. */
  readonly beta: Int16Array;
  /** Scratch: the two horizontally resized source rows the vertical pass mixes. */
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
  const alpha = new Int16Array(width * 2);
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
    alpha[dx * 2] = fixedWeight(Math.fround(1 - fx));
    alpha[dx * 2 + 1] = fixedWeight(fx);
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
    alpha,
    xmax,
    yofs,
    beta,
    rows: [new Int32Array(width), new Int32Array(width)],
  };
}

/**
 * Resizes each channel of `source` into the plane of `target` at the same index, as cv2.resize does each
 * channel of an image.
 */
export function resizeLinear(
  plan: ResizePlan,
  source: readonly ChannelView[],
  target: readonly PlaneTarget[],
): void {
  if (source.length !== target.length) {
    throw new RangeError(`resize: ${source.length} source channels for ${target.length} target planes`);
  }
  for (let channel = 0; channel < source.length; channel += 1) {
    const from = source[channel]!;
    const to = target[channel]!;
    if (plan.method === 'copy') copyChannel(plan, from, to);
    else if (plan.method === 'area-2x') halveChannel(plan, from, to);
    else resizeChannel(plan, from, to);
  }
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

/** OpenCV's resizeAreaFast for a factor of 2: each value the rounded mean of a 2 × 2 block. */
function halveChannel(plan: ResizePlan, from: ChannelView, to: PlaneTarget): void {
  const { width, height } = plan;
  const { data: src, pixelStride, rowStride } = from;
  const dst = to.data;
  const step = 2 * pixelStride;
  for (let y = 0; y < height; y += 1) {
    let top = from.offset + 2 * y * rowStride;
    let d = to.offset + y * to.rowStride;
    for (let x = 0; x < width; x += 1, top += step, d += 1) {
      const bottom = top + rowStride;
      dst[d] = (src[top]! + src[top + pixelStride]! + src[bottom]! + src[bottom + pixelStride]! + 2) >> 2;
    }
  }
}

/** One source row resized horizontally into `row`, as OpenCV's HResizeLinear, then shifted right by 4. */
function horizontalPass(plan: ResizePlan, from: ChannelView, sourceRow: number, row: Int32Array): void {
  const { width, xofs, alpha, xmax } = plan;
  const { data: src, pixelStride } = from;
  const base = from.offset + sourceRow * from.rowStride;
  let dx = 0;
  for (; dx < xmax; dx += 1) {
    const s = base + xofs[dx]! * pixelStride;
    row[dx] = (src[s]! * alpha[dx * 2]! + src[s + pixelStride]! * alpha[dx * 2 + 1]!) >> 4;
  }
  for (; dx < width; dx += 1) row[dx] = (src[base + xofs[dx]! * pixelStride]! * COEF_SCALE) >> 4;
}

/**
 * OpenCV's resizeGeneric for INTER_LINEAR: each destination row mixes two horizontally resized source rows
 * (clamped to the picture), each of which is computed once and kept while the next rows need it. The rows
 * are kept already shifted right by 4, as the vertical pass uses them.
 */
function resizeChannel(plan: ResizePlan, from: ChannelView, to: PlaneTarget): void {
  const { width, height, sourceHeight, yofs, beta } = plan;
  const dst = to.data;
  let [upper, lower] = plan.rows;
  let upperRow = -1;
  let lowerRow = -1;
  for (let dy = 0; dy < height; dy += 1) {
    const top = Math.min(Math.max(yofs[dy]!, 0), sourceHeight - 1);
    const bottom = Math.min(Math.max(yofs[dy]! + 1, 0), sourceHeight - 1);
    if (top !== upperRow) {
      if (top === lowerRow) {
        const swap = upper;
        upper = lower;
        lower = swap;
        upperRow = top;
        lowerRow = -1;
      } else {
        horizontalPass(plan, from, top, upper);
        upperRow = top;
      }
    }
    if (bottom !== lowerRow) {
      if (bottom === upperRow) lower.set(upper);
      else horizontalPass(plan, from, bottom, lower);
      lowerRow = bottom;
    }
    const b0 = beta[dy * 2]!;
    const b1 = beta[dy * 2 + 1]!;
    let d = to.offset + dy * to.rowStride;
    // At most ((32640 · 2048) >> 16) · 2 + 2 >> 2 = 255: no saturation needed.
    for (let dx = 0; dx < width; dx += 1, d += 1) {
      dst[d] = (((upper[dx]! * b0) >> 16) + ((lower[dx]! * b1) >> 16) + 2) >> 2;
    }
  }
}
