/**
 * Letterboxing as Ultralytics' YOLO pre-processing does it: scale to fit a square of `size` keeping the
 * aspect ratio, centre, and pad with grey 114. The numbers here are what maps a model's boxes back to
 * source pixels: x_source = (x_model - padX) / scale.
 *
 * Two ways to get there (`Preprocess`):
 * - `opencv` (the default): the pixels Ultralytics' own predict feeds the model. cv2.VideoCapture converts
 *   every frame to BGR with FFmpeg's scaler at full size, BT.601 whatever the stream's tag; the filter graph
 *   here makes that same conversion (equal byte for byte), and {@link packLetterbox} then resizes as
 *   cv2.resize INTER_LINEAR does (./resize-linear.ts) and pads.
 * - `stream-colour`: FFmpeg's scaler does it all in one filter graph, with the colour matrix the stream is
 *   tagged with and a bilinear filter that averages when shrinking. Closer to the true colours, and a
 *   little cheaper, but 2–7 levels from what a model trained and validated through Ultralytics saw.
 */
import { planResize, resizeLinear, type ChannelView, type ResizePlan } from './resize-linear.js';

export type Preprocess = 'opencv' | 'stream-colour';
export const PREPROCESS_MODES: readonly Preprocess[] = ['opencv', 'stream-colour'];
export const DEFAULT_PREPROCESS: Preprocess = 'opencv';

export interface LetterboxGeometry {
  readonly size: number;
  readonly scale: number;
  readonly scaledWidth: number;
  readonly scaledHeight: number;
  readonly padX: number;
  readonly padY: number;
  /** The decoded frame's size. */
  readonly sourceWidth: number;
  readonly sourceHeight: number;
  readonly preprocess: Preprocess;
}

/** A frame converted for the model: planar RGB bytes (R plane, G plane, B plane), `size` × `size` each. */
export interface LetterboxedImage extends LetterboxGeometry {
  readonly data: Uint8Array;
}

/** What the filter graph hands back: full-size packed BGR (`opencv`), or the finished letterbox (gbrp). */
export type ConvertedFormat = 'bgr24' | 'gbrp';

export const LETTERBOX_PAD_VALUE = 114;

/** Python's round(): halves to even. Ultralytics computes the scaled size with it. */
function pythonRound(value: number): number {
  const rounded = Math.round(value);
  return rounded - value === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}

export function letterboxGeometry(
  width: number,
  height: number,
  size: number,
  preprocess: Preprocess = DEFAULT_PREPROCESS,
): LetterboxGeometry {
  const scale = Math.min(size / width, size / height);
  const scaledWidth = Math.max(1, pythonRound(width * scale));
  const scaledHeight = Math.max(1, pythonRound(height * scale));
  // Ultralytics rounds the half padding with a small bias towards the top/left (round(d - 0.1)).
  const padX = Math.max(0, Math.round((size - scaledWidth) / 2 - 0.1));
  const padY = Math.max(0, Math.round((size - scaledHeight) / 2 - 0.1));
  return {
    size,
    scale,
    scaledWidth,
    scaledHeight,
    padX,
    padY,
    sourceWidth: width,
    sourceHeight: height,
    preprocess,
  };
}

/** The pixel format the filter graph of {@link letterboxFilterSpec} ends in. */
export function letterboxOutputFormat(geometry: LetterboxGeometry): ConvertedFormat {
  return geometry.preprocess === 'opencv' ? 'bgr24' : 'gbrp';
}

/**
 * The FFmpeg filter graph for frames of `geometry`'s source size.
 *
 * `stream-colour`: the whole letterbox in planar RGB (gbrp: planes G, B, R).
 *
 * `opencv`: the frame in packed BGR at its own size, converted as cv2.VideoCapture converts it (FFmpeg's
 * scaler with SWS_BICUBIC, BT.601, the range the pixel format implies; not the stream's colour tags).
 * `sourceFormat`, the decoded frames' pixel format, makes that exact in two cases the tags alone would
 * not: a full-range stream decoded as yuv420p (OpenCV takes it as limited range), and NVDEC's nv12, which
 * is first unpacked to yuv420p (a lossless copy) so that the conversion is the one OpenCV's software
 * decode gets. Without it the range follows the frame's tag.
 */
export function letterboxFilterSpec(
  geometry: LetterboxGeometry,
  padValue = LETTERBOX_PAD_VALUE,
  sourceFormat?: string,
): string {
  const { size, scaledWidth, scaledHeight, padX, padY } = geometry;
  if (geometry.preprocess === 'opencv') {
    const range =
      sourceFormat === undefined ? '' : `:in_range=${sourceFormat.startsWith('yuvj') ? 'pc' : 'tv'}`;
    const unpack = sourceFormat === 'nv12' ? 'scale=flags=bicubic,format=yuv420p,' : '';
    return `${unpack}scale=flags=bicubic:in_color_matrix=bt601${range},format=bgr24`;
  }
  const grey = padValue.toString(16).padStart(2, '0');
  return (
    `scale=${scaledWidth}:${scaledHeight}:flags=bilinear,format=gbrp,` +
    `pad=${size}:${size}:${padX}:${padY}:color=0x${grey}${grey}${grey}`
  );
}

/** The resize tables of each geometry, made at its first frame (a geometry lives as long as its graph). */
const resizePlans = new WeakMap<LetterboxGeometry, ResizePlan>();

/**
 * Makes the resize tables of `geometry` now (`opencv` preprocessing), ahead of its first frame: the decoder's
 * conversion asks for them when it builds its filter graph, while frame 0's bytes are still on their way
 * (measured: 2–7 ms the first time in a process, on the 2-core machine).
 */
export function prepareLetterbox(geometry: LetterboxGeometry): void {
  if (geometry.preprocess === 'opencv') resizePlanFor(geometry);
}

/** Whether `geometry`'s resize tables are made (for tests). */
export function resizePlanReady(geometry: LetterboxGeometry): boolean {
  return resizePlans.has(geometry);
}

function resizePlanFor(geometry: LetterboxGeometry): ResizePlan {
  let plan = resizePlans.get(geometry);
  if (!plan) {
    plan = planResize(
      geometry.sourceWidth,
      geometry.sourceHeight,
      geometry.scaledWidth,
      geometry.scaledHeight,
    );
    resizePlans.set(geometry, plan);
  }
  return plan;
}

function checkTarget(geometry: LetterboxGeometry, target: Uint8Array | undefined): Uint8Array {
  const { size } = geometry;
  const bytes = 3 * size * size;
  if (target && target.byteLength !== bytes) {
    throw new RangeError(
      `a letterbox of ${size}×${size} takes ${bytes} bytes, the target has ${target.byteLength}`,
    );
  }
  return target ?? new Uint8Array(bytes);
}

/** The last byte a channel view reads must be inside its plane: a short plane is an error, not garbage. */
function checkPlane(
  plane: Uint8Array | undefined,
  view: Omit<ChannelView, 'data'>,
  width: number,
  height: number,
): Uint8Array {
  const last = view.offset + (height - 1) * view.rowStride + (width - 1) * view.pixelStride;
  if (!plane || view.rowStride < width * view.pixelStride || plane.length <= last) {
    throw new RangeError(
      `a converted ${width}×${height} frame needs ${last + 1} bytes in a plane with rows of at least ${width * view.pixelStride}; ` +
        `got ${plane?.length ?? 0} bytes, rows of ${view.rowStride}`,
    );
  }
  return plane;
}

/**
 * The letterbox from what the filter graph of {@link letterboxFilterSpec} returned, into `target` when
 * given (3 × size × size bytes, e.g. a prefetch slot's reused buffer), else into a new buffer.
 *
 * For `stream-colour` the planes are the finished letterbox in gbrp, only reordered to R, G, B here. For
 * `opencv` they are the full-size frame, packed BGR (`bgr24`) or planar (`gbrp`, where the graph's output
 * is fixed to it): resized as cv2.resize INTER_LINEAR into the centre and padded with `padValue`.
 */
export function packLetterbox(
  planes: readonly Uint8Array[],
  linesizes: readonly number[],
  geometry: LetterboxGeometry,
  target?: Uint8Array,
  format: ConvertedFormat = 'gbrp',
  padValue = LETTERBOX_PAD_VALUE,
): LetterboxedImage {
  const data = checkTarget(geometry, target);
  if (geometry.preprocess === 'opencv') {
    resizeIntoLetterbox(planes, linesizes, geometry, data, format, padValue);
  } else {
    if (format !== 'gbrp') throw new RangeError(`a stream-colour letterbox comes as gbrp, got ${format}`);
    copyGbrpLetterbox(planes, linesizes, geometry, data);
  }
  return { ...geometry, data };
}

/**
 * {@link packLetterbox} for the gbrp planes a graph with a gbrp output returns (both modes), into `target`
 * when given.
 */
export function packGbrpPlanes(
  planes: readonly Uint8Array[],
  linesizes: readonly number[],
  geometry: LetterboxGeometry,
  target?: Uint8Array,
): LetterboxedImage {
  return packLetterbox(planes, linesizes, geometry, target, 'gbrp');
}

/** gbrp stores G, B, R; the model wants R, G, B: the gbrp plane of each RGB channel. */
const GBRP_PLANE_OF_RGB = [2, 0, 1] as const;

function copyGbrpLetterbox(
  planes: readonly Uint8Array[],
  linesizes: readonly number[],
  geometry: LetterboxGeometry,
  data: Uint8Array,
): void {
  const { size } = geometry;
  const area = size * size;
  for (let channel = 0; channel < 3; channel += 1) {
    const from = GBRP_PLANE_OF_RGB[channel]!;
    const linesize = linesizes[from]!;
    const plane = checkPlane(planes[from], { offset: 0, pixelStride: 1, rowStride: linesize }, size, size);
    const base = channel * area;
    if (linesize === size) {
      data.set(plane.subarray(0, area), base);
      continue;
    }
    for (let y = 0; y < size; y += 1) {
      data.set(plane.subarray(y * linesize, y * linesize + size), base + y * size);
    }
  }
}

/**
 * A plain Uint8Array over the same memory as `bytes`: FFmpeg's planes come as Node Buffers, the warm-up's
 * and the slots' as plain Uint8Arrays, and the kernels see one object shape whichever it is.
 */
function plainBytes(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function resizeIntoLetterbox(
  sourcePlanes: readonly Uint8Array[],
  linesizes: readonly number[],
  geometry: LetterboxGeometry,
  target: Uint8Array,
  format: ConvertedFormat,
  padValue: number,
): void {
  const planes = sourcePlanes.map((plane) => (plane ? plainBytes(plane) : plane));
  const data = plainBytes(target);
  const { size, scaledWidth, scaledHeight, padX, padY, sourceWidth, sourceHeight } = geometry;
  const area = size * size;
  // Source channels and target planes both in R, G, B order.
  const channel = (rgb: 0 | 1 | 2): ChannelView => {
    if (format === 'bgr24') {
      const view = { offset: 2 - rgb, pixelStride: 3, rowStride: linesizes[0]! };
      return { ...view, data: checkPlane(planes[0], view, sourceWidth, sourceHeight) };
    }
    const from = GBRP_PLANE_OF_RGB[rgb];
    const view = { offset: 0, pixelStride: 1, rowStride: linesizes[from]! };
    return { ...view, data: checkPlane(planes[from], view, sourceWidth, sourceHeight) };
  };
  const plane = (rgb: 0 | 1 | 2) => ({ data, offset: rgb * area + padY * size + padX, rowStride: size });
  resizeLinear(resizePlanFor(geometry), [channel(0), channel(1), channel(2)], [plane(0), plane(1), plane(2)]);
  // The border, as cv2.copyMakeBorder's constant 114: rows above and below, then the sides of the rest.
  const right = padX + scaledWidth;
  for (let channel = 0; channel < 3; channel += 1) {
    const base = channel * area;
    data.fill(padValue, base, base + padY * size);
    data.fill(padValue, base + (padY + scaledHeight) * size, base + area);
    if (padX === 0 && right === size) continue;
    for (let y = padY; y < padY + scaledHeight; y += 1) {
      const row = base + y * size;
      data.fill(padValue, row, row + padX);
      data.fill(padValue, row + right, row + size);
    }
  }
}

/**
 * Runs the `opencv` packing's kernels (2 × 2 means, interpolation, copy; packed and planar input) on small
 * synthetic frames until V8 has compiled them, so that the first real frame does not pay for it: on a
 * 720p → 640 frame in a fresh process, measured 17–31 ms of CPU for the first call cold against 7–14 ms
 * after this, which itself took 50–60 ms of CPU (2-core machine at load average 7). Call it while preparing
 * a pipeline, off the clock.
 */
export function warmUpLetterbox(): void {
  // The first ArrayBuffer a process detaches (the decoder's feeder detaches its fed copies when a run ends)
  // makes V8 throw away all the code it compiled on the promise that none ever would be: done after this
  // warm-up, it threw these kernels away (node --trace-deopt: "marking dependent code … code dependencies"
  // for every resize function as the warm clip's run ended), and the first real frame ran them in the
  // interpreter while V8 compiled them again (19–42 ms for a first 848×478 frame against 3–7 compiled).
  // Detaching one buffer first settles that before anything is compiled.
  const detached = new ArrayBuffer(8);
  structuredClone(detached, { transfer: [detached] });
  const frames: readonly (readonly [number, number, number])[] = [
    // Interpolation up, first: the right-hand columns past the last source pair (xmax) run a loop of their
    // own and equal edge rows are copied, which a downscale never reaches. Compiled without feedback from
    // them, the kernels were thrown away at the warm clip's (upscaled) frames (`node --trace-deopt`:
    // "insufficient type feedback" in horizontalPass, horizontalPassPacked and resizeChannels) and the
    // first real frame ran while V8 compiled them again (20–38 ms of compiling). Now none is thrown away.
    [24, 14, 32],
    [64, 36, 32], // 2 × 2 means
    [60, 34, 32], // interpolation down
    [32, 18, 32], // copy
  ];
  for (const [width, height, size] of frames) {
    const geometry = letterboxGeometry(width, height, size, 'opencv');
    const packed = new Uint8Array(width * height * 3).map((_, i) => i & 255);
    const planes = [0, 1, 2].map(() => packed.subarray(0, width * height));
    const target = new Uint8Array(3 * size * size);
    for (let i = 0; i < WARM_UP_ROUNDS; i += 1) {
      packLetterbox([packed], [width * 3], geometry, target, 'bgr24');
      packLetterbox(planes, [width, width, width], geometry, target, 'gbrp');
    }
  }
  // The WebAssembly interpolation at a real frame's size: V8 runs a module's functions first as compiled
  // in one quick pass and recompiles them optimised once they have run enough, which the small frames above
  // do not reach; and the kernel's memory for a 640 × 640 letterbox is touched. Measured in a fresh
  // process after the rest of the warm-up: the first 848×478 frames packed in 8.4 and 6.1 ms, then 0.9.
  const geometry = letterboxGeometry(660, 660, 640, 'opencv');
  const packed = new Uint8Array(660 * 660 * 3);
  const target = new Uint8Array(3 * 640 * 640);
  for (let i = 0; i < WARM_UP_LARGE_ROUNDS; i += 1) {
    packLetterbox([packed], [660 * 3], geometry, target, 'bgr24');
  }
}

const WARM_UP_LARGE_ROUNDS = 4;

const WARM_UP_ROUNDS = 40;
