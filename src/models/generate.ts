/**
 * The project's ONNX models, generated instead of downloaded: a soccer detector with hand-set weights
 * that finds the synthetic clips' objects, a pose model for the 32 pitch keypoints, and a YOLO-shaped
 * model with random weights and realistic compute for benchmarks; and the detector again as users also
 * export it, dynamically quantized to int8 and in half precision (see variants.ts).
 *
 * All of them look like Ultralytics exports to a consumer: input `images` [N, 3, S, S] (float32 RGB in
 * 0..1, letterboxed; float16 for the half-precision export), output `output0` [N, 4 + classes (+ 3 × keypoints), anchors] with the anchors of
 * strides 8, 16 and 32 in that order, each grid row-major, boxes as centre x, centre y, width, height in
 * input pixels, scores already in 0..1; and the same `metadata_props` keys.
 *
 * Nothing here is trained. The detector and the pose model compute their answers from the pixels with
 * fixed arithmetic (colour prototypes, morphology, run lengths, centroids); see the builders' comments.
 */

import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { generatedDir } from '../core/cache-dir.js';
import { ConfigError, codes } from '../core/errors.js';
import { SCENE_COLOURS, SOCCER_CLASSES, pitchKeypoints } from '../fixtures/scene.js';
import { letterboxGeometry } from '../media/letterbox.js';
import {
  OnnxGraphBuilder,
  attr,
  createModel,
  serializeModel,
  type Dim,
  type OnnxModel,
} from './onnx-writer.js';
import { quantizeConvWeights, toHalfPrecision } from './variants.js';

/** Bump whenever a generated model would come out different: existing files are then rewritten. */
export const MODELS_VERSION = 1;

/** The strides of an Ultralytics detection head, in output order. */
export const STRIDES = [8, 16, 32] as const;

export const MODEL_FILES = {
  detector: 'soccer-detector.onnx',
  detectorInt8: 'soccer-detector-int8.onnx',
  detectorHalf: 'soccer-detector-fp16.onnx',
  pose: 'pitch-pose.onnx',
  bench: 'bench-yolo.onnx',
} as const;

export type GeneratedModelKind = keyof typeof MODEL_FILES;

export interface ModelSizeOptions {
  /** Side of the square letterboxed input; a multiple of 32 in 64..2048. Default 640. */
  imgSize?: number;
  /** Batch dimension `N` (symbolic) when true, 1 when false. Default true. */
  dynamicBatch?: boolean;
}

export interface BenchmarkModelOptions extends ModelSizeOptions {
  /** Channels of the first layer; the widest is 16 × width. Default 16 (about 6 GFLOPs at 640). */
  width?: number;
  /** Seed of the weights. Default 1. */
  seed?: number;
}

/** Anchors of a detection head at `imgSize`: (S/8)² + (S/16)² + (S/32)², 8400 at 640. */
export function anchorCount(imgSize: number): number {
  return STRIDES.reduce((sum, stride) => sum + (imgSize / stride) ** 2, 0);
}

/** `{0: 'ball', 1: 'goalkeeper'}`: how Ultralytics writes class names into `metadata_props`. */
export function pythonNamesLiteral(names: readonly string[]): string {
  const quote = (name: string): string => `'${name.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
  return `{${names.map((name, id) => `${id}: ${quote(name)}`).join(', ')}}`;
}

function ultralyticsMetadata(fields: {
  description: string;
  task: 'detect' | 'pose';
  imgSize: number;
  names: readonly string[];
  kptShape?: [number, number];
}): Record<string, string> {
  return {
    description: fields.description,
    author: 'firstframe (generated, not trained)',
    version: `firstframe-models-${MODELS_VERSION}`,
    task: fields.task,
    stride: '32',
    batch: '1',
    imgsz: `[${fields.imgSize}, ${fields.imgSize}]`,
    names: pythonNamesLiteral(fields.names),
    ...(fields.kptShape ? { kpt_shape: `[${fields.kptShape[0]}, ${fields.kptShape[1]}]` } : {}),
  };
}

function checkedSize(options: ModelSizeOptions, what: string): { size: number; batch: Dim } {
  const size = options.imgSize ?? 640;
  const problems: string[] = [];
  if (!Number.isInteger(size) || size % 32 !== 0 || size < 64 || size > 2048) {
    problems.push(`${what}.imgSize: expected a multiple of 32 in 64..2048, got ${JSON.stringify(size)}`);
  }
  if (options.dynamicBatch !== undefined && typeof options.dynamicBatch !== 'boolean') {
    problems.push(`${what}.dynamicBatch: expected a boolean, got ${JSON.stringify(options.dynamicBatch)}`);
  }
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems, { options });
  return { size, batch: options.dynamicBatch === false ? 1 : 'N' };
}

// ---------------------------------------------------------------------------------------------------
// Small graph helpers.

type G = OnnxGraphBuilder;

/** Constants already in each graph, by value, so that each is stored once. */
const constantNames = new WeakMap<G, Map<string, string>>();

function constant(g: G, key: string, add: () => string): string {
  let names = constantNames.get(g);
  if (!names) {
    names = new Map();
    constantNames.set(g, names);
  }
  let name = names.get(key);
  if (name === undefined) {
    name = add();
    names.set(key, name);
  }
  return name;
}

/** A float32 scalar initializer. */
const scalar = (g: G, value: number): string => constant(g, `float ${value}`, () => g.floats([value], []));
/** A 1-D int64 initializer (axes, shapes, pads). */
const ints = (g: G, values: number[]): string =>
  constant(g, `int64 ${values.join(',')}`, () => g.int64s(values));

function clip01(g: G, x: string): string {
  return g.op('Clip', [x, scalar(g, 0), scalar(g, 1)]);
}

function slice(g: G, x: string, axis: number, start: number, end: number): string {
  return g.op('Slice', [x, ints(g, [start]), ints(g, [end]), ints(g, [axis])]);
}

/**
 * `x` moved along `axis` so that out[i] = x[i + offset], with zeros past the edge. The shifted copies
 * are what lets elementwise operators look at a neighbour `offset` pixels away.
 *
 * One Pad that crops one end and pads the other: negative pads have meant cropping since Pad-2, and
 * onnxruntime does it in one copy, measured 4× quicker than a Slice followed by a Pad.
 */
function shift(g: G, x: string, axis: 2 | 3, offset: number): string {
  const pads = [0, 0, 0, 0, 0, 0, 0, 0];
  pads[axis] = -offset;
  pads[4 + axis] = offset;
  return g.op('Pad', [x, ints(g, pads)]);
}

/**
 * Morphological opening (erosion then dilation) of 0..1 masks with a `kh` × `kw` rectangle: what
 * survives is the union of every `kh` × `kw` block that lies wholly inside the mask, so thin lines and
 * ragged single pixels vanish and any rectangle at least that big comes back exactly.
 */
function opening(g: G, mask: string, kh: number, kw: number): string {
  // For an even side the two passes must use mirrored anchors, or the result drifts by a pixel.
  const before = [Math.floor((kh - 1) / 2), Math.floor((kw - 1) / 2)];
  const after = [kh - 1 - (before[0] as number), kw - 1 - (before[1] as number)];
  const kernel = attr.ints([kh, kw]);
  const negated = g.op('Neg', [mask]);
  const eroded = g.op('Neg', [
    g.op('MaxPool', [negated], { kernel_shape: kernel, pads: attr.ints([...before, ...after]) }),
  ]);
  return g.op('MaxPool', [eroded], { kernel_shape: kernel, pads: attr.ints([...after, ...before]) });
}

/** How steeply a colour mask falls from 1 to 0 as a pixel moves from a tie towards another colour. */
const MASK_GAIN = 1000;

/**
 * One 0..1 mask per object colour, in the order white, yellow, red, blue, black: a pixel belongs to the
 * colour prototype it is nearest to (grass included, so grass and the letterbox grey belong to none).
 *
 * Nearest prototype is argmax of 2·p·x − |p|², one 1×1 convolution; the mask is 1 for the winner and
 * falls to 0 within 1/MASK_GAIN of a tie. A pixel mixed half-and-half from two colours (a blurred
 * edge) ties, so mask edges sit where the colour is half-way, which keeps boxes unbiased on decoded
 * video where chroma subsampling smears every edge over two pixels.
 */
function colourMasks(g: G, images: string): string {
  const white = SCENE_COLOURS.line.map((v, i) => (v + (SCENE_COLOURS.ball[i] as number)) / 2);
  const prototypes = [
    SCENE_COLOURS.grass,
    white,
    SCENE_COLOURS.goalkeeper,
    SCENE_COLOURS.teamA,
    SCENE_COLOURS.teamB,
    SCENE_COLOURS.referee,
  ].map((rgb) => rgb.map((v) => v / 255));
  const weights = prototypes.flatMap((p) => p.map((v) => 2 * v));
  const bias = prototypes.map((p) => -p.reduce((sum, v) => sum + v * v, 0));
  const affinity = g.op('Conv', [images, g.floats(weights, [6, 3, 1, 1]), g.floats(bias, [6])], {
    kernel_shape: attr.ints([1, 1]),
  });
  const best = g.op('ReduceMax', [affinity], { axes: attr.ints([1]), keepdims: attr.int(1) });
  const margin = g.op('Sub', [slice(g, affinity, 1, 1, 6), best]);
  return g.op('Relu', [g.op('Add', [g.op('Mul', [margin, scalar(g, MASK_GAIN)]), scalar(g, 1)])]);
}

/**
 * For every pixel of a 0/1 map, the number of consecutive ones that starts there and goes in
 * `direction` along `axis`, capped at `cap` (a power of two): 0 where the map is 0.
 *
 * Pointer doubling: with R_n = min(run, n), R_2n(i) = R_n(i) + [R_n(i) = n] · R_n(i + n). For whole
 * numbers [R_n = n] is Relu(R_n − n + 1), so log2(cap) rounds of shift, subtract, Relu, multiply, add
 * give exact run lengths.
 */
function runLength(g: G, ones: string, axis: 2 | 3, direction: 1 | -1, cap: number): string {
  let run = ones;
  for (let n = 1; n < cap; n *= 2) {
    const full = n === 1 ? run : g.op('Relu', [g.op('Sub', [run, scalar(g, n - 1)])]);
    const ahead = shift(g, run, axis, direction * n);
    run = g.op('Add', [run, g.op('Mul', [full, ahead])]);
  }
  return run;
}

/**
 * For every pixel, the minimum of `values` over the run of mask pixels that starts there and goes in
 * `direction` along `axis`, whose lengths are `runs` (from `runLength`, broadcastable to `values`).
 *
 * The same doubling as `runLength`: M_2n(i) = min(M_n(i), M_n(i + n)), where the second term counts only
 * when the run from i is longer than n; otherwise it is pushed out of reach by adding FAR.
 */
function runMinimum(
  g: G,
  values: string,
  runs: string,
  scan: { axis: 2 | 3; direction: 1 | -1; cap: number },
): string {
  let minimum = values;
  for (let n = 1; n < scan.cap; n *= 2) {
    const ended = clip01(g, g.op('Sub', [scalar(g, n + 1), runs]));
    const ahead = shift(g, minimum, scan.axis, scan.direction * n);
    minimum = g.op('Min', [minimum, g.op('Add', [ahead, g.op('Mul', [ended, scalar(g, FAR)])])]);
  }
  return minimum;
}

/** Larger than any coordinate: what `runMinimum` adds to values it must not see. */
const FAR = 1e5;

// ---------------------------------------------------------------------------------------------------
// The soccer detector.

/** Mask channel (white, yellow, red, blue, black) → class id (ball, goalkeeper, player, player, referee). */
const MASK_CLASSES = [0, 1, 2, 2, 3] as const;
/** Owner pixels at which a class score reaches 0.5: count / (count + this). */
const SCORE_HALF_COUNT = 3;

/**
 * A detector for the synthetic clips, with hand-set weights.
 *
 * 1. Colour masks (`colourMasks`), then an opening with a 3 × 3 square (2 × 2 below 480 px). The opening
 *    is what tells the ball from the pitch lines, which have the same colour after encoding: lines are
 *    two pixels wide and vanish, the 5 × 5 ball stays.
 * 2. Links: a pixel is linked to its right (lower) neighbour when both are in the same mask. From then
 *    on one channel serves all colours, since links never join two colours.
 * 3. For every mask pixel, the run lengths to the left, right, up and down (`runLength` over links). A
 *    pixel of a clean rectangle then knows the whole rectangle: left edge x − left + 1, and so on.
 * 4. Encoded edges are not clean: a column smeared by chroma subsampling can stick out of a player for
 *    half its height, and the pixels in it would see a different rectangle. So the extents are spread
 *    (`runMinimum`): the top and bottom a pixel reports are the extremes over its row run of the column
 *    extents, and left and right the extremes over its column run of the row extents. Every pixel of a
 *    rectangle with ragged edges then reports the same box, the bounding box of the ragged shape.
 * 5. Each pixel votes at one stride only, by the shorter side of its box (4 to 15 px at 640: stride 8,
 *    under 32: 16, else 32), and only in the cell that contains its box's centre. Two objects at least
 *    one cell wide cannot have their centres in the same cell, so a cell's voters all belong to one
 *    object; cells off the centre get no votes. Boxes under 4 px are not objects: where two lines meet,
 *    a 3 × 3 block of white can survive the opening.
 * 6. Average pooling over each cell sums the votes: the box is the mean of the voters' boxes, and each
 *    class's score is its voters' count c as c / (c + 3): about 0.75 for the smallest ball, 0.99 for a
 *    player.
 *
 * Anchors without voters score exactly 0. Runs are capped at about S / 10 (64 at 640), enough for the
 * scene's players (43 px tall at 640). Boxes follow pixel edges: a rectangle drawn on pixels x1..x2 − 1
 * comes back as [x1, x2].
 *
 * ```ts
 * const session = await ort.InferenceSession.create(serializeModel(buildSoccerDetector()));
 * ```
 */
export function buildSoccerDetector(options: ModelSizeOptions = {}): OnnxModel {
  const { size, batch } = checkedSize(options, 'detector');
  const g = new OnnxGraphBuilder('soccer_detector');
  const images = g.input('images', [batch, 3, size, size]);
  const side = size >= 480 ? 3 : 2;
  // Where two lines meet at a corner, a 3 × 3 block of white can survive the opening (the bench clip's
  // 4-px lines scaled to 640 are 2 to 3 px wide); the 5-px ball never measures under 4.
  const smallest = Math.max(side, Math.round((4 * size) / 640));
  const cap = 2 ** Math.ceil(Math.log2(Math.max(8, size / 10)));
  const masks = opening(g, colourMasks(g, images), side, side);
  const box = objectBoxes(g, masks, size, cap);

  const classWeights = SOCCER_CLASSES.flatMap((_, classId) =>
    MASK_CLASSES.map((c) => (c === classId ? 1 : 0)),
  );
  const classMatrix = g.floats(classWeights, [SOCCER_CLASSES.length, MASK_CLASSES.length, 1, 1]);
  // left, right, top, bottom → centre x, centre y, width, height
  const boxMatrix = g.floats([0.5, 0.5, 0, 0, 0, 0, 0.5, 0.5, -1, 1, 0, 0, 0, 0, -1, 1], [4, 4, 1, 1]);
  const rows = 4 + SOCCER_CLASSES.length;

  const heads = STRIDES.map((stride, index) => {
    const inCell = (centre2: string, axis: 2 | 3): string => {
      // 0 ≤ offset in the cell + centre offset < stride, counted in half pixels.
      const shape = axis === 3 ? [1, 1, 1, size] : [1, 1, size, 1];
      const low = g.floats(
        Array.from({ length: size }, (_, i) => 2 * (i % stride) + 1),
        shape,
      );
      const high = g.floats(
        Array.from({ length: size }, (_, i) => 2 * (stride - (i % stride))),
        shape,
      );
      return g.op('Mul', [clip01(g, g.op('Add', [centre2, low])), clip01(g, g.op('Sub', [high, centre2]))]);
    };
    let vote = g.op('Mul', [box.inMask, g.op('Mul', [inCell(box.centreX2, 3), inCell(box.centreY2, 2)])]);
    // Sides are whole pixels: side ≥ k is Clip(side − k + 1), side < k is Clip(k − side).
    const lower = index === 0 ? smallest : stride;
    vote = g.op('Mul', [vote, clip01(g, g.op('Sub', [box.shortSide, scalar(g, lower - 1)]))]);
    if (index < STRIDES.length - 1) {
      vote = g.op('Mul', [vote, clip01(g, g.op('Sub', [scalar(g, 2 * stride), box.shortSide]))]);
    }

    // [N, 4 edge sums + 5 colour counts, grid, grid], each divided by stride².
    const pooled = g.op(
      'AveragePool',
      [g.op('Concat', [g.op('Mul', [box.edges, vote]), g.op('Mul', [masks, vote])], { axis: attr.int(1) })],
      { kernel_shape: attr.ints([stride, stride]), strides: attr.ints([stride, stride]) },
    );
    const colourVotes = slice(g, pooled, 1, 4, 9);
    const voters = g.op('ReduceSum', [colourVotes, ints(g, [1])], { keepdims: attr.int(1) });
    const edgeMeans = g.op('Div', [slice(g, pooled, 1, 0, 4), g.op('Add', [voters, scalar(g, 1e-12)])]);
    const xywh = g.op('Conv', [edgeMeans, boxMatrix], { kernel_shape: attr.ints([1, 1]) });
    const counts = g.op('Mul', [colourVotes, scalar(g, stride * stride)]);
    const confidence = g.op('Div', [counts, g.op('Add', [counts, scalar(g, SCORE_HALF_COUNT)])]);
    const scores = clip01(g, g.op('Conv', [confidence, classMatrix], { kernel_shape: attr.ints([1, 1]) }));
    const head = g.op('Concat', [xywh, scores], { axis: attr.int(1) });
    return g.op('Reshape', [head, ints(g, [0, rows, -1])]);
  });
  g.op('Concat', heads, { axis: attr.int(2) }, { output: 'output0' });
  g.output('output0', [batch, rows, anchorCount(size)]);
  return createModel(g.build(), {
    metadata: ultralyticsMetadata({
      description:
        'firstframe soccer detector: hand-set weights for the synthetic clips (colour masks, run lengths)',
      task: 'detect',
      imgSize: size,
      names: SOCCER_CLASSES,
    }),
  });
}

/**
 * The soccer detector as onnxruntime's `quantize_dynamic` (per channel) writes it: its convolution
 * weights stored as int8, the colour convolution on the image run as DynamicQuantizeLinear +
 * ConvInteger, the two 1 × 1 convolutions on box coordinates and vote counts as DequantizeLinear on int8
 * weights (an 8-bit activation cannot hold coordinates up to S); float32 input and output. The file is
 * no smaller: the detector's large constants (coordinate ramps) are not weights.
 */
export function buildSoccerDetectorInt8(options: ModelSizeOptions = {}): OnnxModel {
  const model = quantizeConvWeights(buildSoccerDetector(options));
  return {
    ...model,
    metadata: {
      ...model.metadata,
      description: `${model.metadata.description} (int8, dynamic quantization)`,
    },
  };
}

/** The soccer detector as a half-precision (`half=True`) export: the whole graph in float16. */
export function buildSoccerDetectorHalf(options: ModelSizeOptions = {}): OnnxModel {
  const model = toHalfPrecision(buildSoccerDetector(options));
  return {
    ...model,
    metadata: { ...model.metadata, description: `${model.metadata.description} (float16)` },
  };
}

interface ObjectBoxes {
  /** [N, 1, S, S]: 1 on any mask. */
  inMask: string;
  /** [N, 4, S, S]: left, right, top, bottom of the box each mask pixel belongs to. */
  edges: string;
  /** Twice the offset from the pixel to its box's centre, per axis (whole numbers). */
  centreX2: string;
  centreY2: string;
  shortSide: string;
}

/** Steps 2 to 4 of `buildSoccerDetector`: every mask pixel's box. */
function objectBoxes(g: G, masks: string, size: number, cap: number): ObjectBoxes {
  const sumColours = (x: string): string => g.op('ReduceSum', [x, ints(g, [1])], { keepdims: attr.int(1) });
  const inMask = sumColours(masks);
  const linkRight = sumColours(g.op('Mul', [masks, shift(g, masks, 3, 1)]));
  const linkDown = sumColours(g.op('Mul', [masks, shift(g, masks, 2, 1)]));
  const one = scalar(g, 1);
  // Pixels in the run, counting the pixel itself: 1 + links in a row, 0 off the masks.
  const run = (links: string, axis: 2 | 3, direction: 1 | -1): string =>
    g.op('Mul', [inMask, g.op('Add', [runLength(g, links, axis, direction, cap), one])]);
  const toLeft = run(shift(g, linkRight, 3, -1), 3, -1);
  const toRight = run(linkRight, 3, 1);
  const toTop = run(shift(g, linkDown, 2, -1), 2, -1);
  const toBottom = run(linkDown, 2, 1);
  const column = g.floats(
    Array.from({ length: size }, (_, x) => x),
    [1, 1, 1, size],
  );
  const row = g.floats(
    Array.from({ length: size }, (_, y) => y),
    [1, 1, size, 1],
  );
  // [N, 2, S, S]: low edge and minus high edge, so that one running minimum finds both extremes.
  const spread = (low: string, high: string, axis: 2 | 3, before: string, after: string): string => {
    const values = g.op('Concat', [low, g.op('Neg', [high])], { axis: attr.int(1) });
    return g.op('Min', [
      runMinimum(g, values, before, { axis, direction: -1, cap }),
      runMinimum(g, values, after, { axis, direction: 1, cap }),
    ]);
  };
  const columnTop = g.op('Add', [g.op('Sub', [row, toTop]), one]);
  const columnBottom = g.op('Add', [row, toBottom]);
  const rowLeft = g.op('Add', [g.op('Sub', [column, toLeft]), one]);
  const rowRight = g.op('Add', [column, toRight]);
  const vertical = spread(columnTop, columnBottom, 3, toLeft, toRight);
  const horizontal = spread(rowLeft, rowRight, 2, toTop, toBottom);
  const top = slice(g, vertical, 1, 0, 1);
  const bottom = g.op('Neg', [slice(g, vertical, 1, 1, 2)]);
  const left = slice(g, horizontal, 1, 0, 1);
  const right = g.op('Neg', [slice(g, horizontal, 1, 1, 2)]);
  const width = g.op('Sub', [right, left]);
  const height = g.op('Sub', [bottom, top]);
  return {
    inMask,
    edges: g.op('Concat', [left, right, top, bottom], { axis: attr.int(1) }),
    centreX2: g.op('Sub', [g.op('Add', [left, right]), g.op('Mul', [column, scalar(g, 2)])]),
    centreY2: g.op('Sub', [g.op('Add', [top, bottom]), g.op('Mul', [row, scalar(g, 2)])]),
    shortSide: g.op('Min', [width, height]),
  };
}

// ---------------------------------------------------------------------------------------------------
// The pitch keypoint model.

/** Below this the scene's 16:9 frame is under 64 rows, which it does not draw. */
const MIN_POSE_SIZE = 128;

/** Lines and marks whose position the pose model measures; every keypoint is a pair of them. */
type PitchLine =
  | 'left'
  | 'goalLeft'
  | 'spotLeft'
  | 'penaltyLeft'
  | 'half'
  | 'penaltyRight'
  | 'spotRight'
  | 'goalRight'
  | 'right'
  | 'circleLeft'
  | 'circleRight'
  | 'top'
  | 'penaltyTop'
  | 'goalTop'
  | 'middle'
  | 'goalBottom'
  | 'penaltyBottom'
  | 'bottom'
  | 'circleTop'
  | 'circleBottom';

/** Keypoint i (0-based) of `pitchKeypoints` is at (x of the first line, y of the second). */
const KEYPOINT_LINES: ReadonlyArray<readonly [PitchLine, PitchLine]> = [
  ['left', 'top'],
  ['left', 'penaltyTop'],
  ['left', 'goalTop'],
  ['left', 'goalBottom'],
  ['left', 'penaltyBottom'],
  ['left', 'bottom'],
  ['goalLeft', 'goalTop'],
  ['goalLeft', 'goalBottom'],
  ['spotLeft', 'middle'],
  ['penaltyLeft', 'penaltyTop'],
  ['penaltyLeft', 'goalTop'],
  ['penaltyLeft', 'goalBottom'],
  ['penaltyLeft', 'penaltyBottom'],
  ['half', 'top'],
  ['half', 'circleTop'],
  ['half', 'circleBottom'],
  ['half', 'bottom'],
  ['penaltyRight', 'penaltyTop'],
  ['penaltyRight', 'goalTop'],
  ['penaltyRight', 'goalBottom'],
  ['penaltyRight', 'penaltyBottom'],
  ['spotRight', 'middle'],
  ['goalRight', 'goalTop'],
  ['goalRight', 'goalBottom'],
  ['right', 'top'],
  ['right', 'penaltyTop'],
  ['right', 'goalTop'],
  ['right', 'goalBottom'],
  ['right', 'penaltyBottom'],
  ['right', 'bottom'],
  ['circleLeft', 'middle'],
  ['circleRight', 'middle'],
];

/** Which picture a probe looks at: white in horizontal runs, white in vertical runs, or any white. */
const RESPONSE = { horizontal: 0, vertical: 1, white: 2 } as const;

interface Probe {
  line: PitchLine;
  response: (typeof RESPONSE)[keyof typeof RESPONSE];
  axis: 'x' | 'y';
  /** Inclusive pixel ranges the probe looks at. */
  columns: Array<[number, number]>;
  rows: Array<[number, number]>;
  /** Where the line should be: the answer when nothing is seen. */
  expected: number;
  /** Pixels of evidence that make the line fully visible. */
  need: number;
}

/**
 * Where to look for each line, from the scene's own geometry for a 16:9 frame letterboxed to `size`:
 * the camera is fixed, so the lines only move by rounding and encoding, and a window of ±12 px (at
 * 640) around each one holds that line and no parallel one (the closest pairs are 26 px apart).
 */
function pitchProbes(size: number): Probe[] {
  const frameHeight = Math.round((size * 9) / 16);
  const { padY } = letterboxGeometry(size, frameHeight, size);
  // No players: the line layout does not depend on them, and small frames would not fit them.
  const points = pitchKeypoints({ width: size, height: frameHeight, fps: 25, frames: 1, players: 0 }, 0);
  const at = (index: number): [number, number] => {
    const point = points[index];
    if (!point) throw new ConfigError(codes.config.invalidOption, [`pose.imgSize: ${size} is too small`], {});
    return [point[0], point[1] + padY];
  };
  const x = (index: number): number => at(index)[0];
  const y = (index: number): number => at(index)[1];
  const m = Math.max(3, Math.round((12 * size) / 640));
  const thin = Math.max(1, Math.round((3 * size) / 640));
  const around = (centre: number, reach = m): [number, number] => [centre - reach, centre + reach];
  const [left, top, right, bottom] = [x(0), y(0), x(24), y(5)];
  const [goalLeft, penaltyLeft, half, penaltyRight, goalRight] = [x(6), x(9), x(13), x(17), x(22)];
  const [penaltyTop, goalTop, goalBottom, penaltyBottom] = [y(1), y(2), y(3), y(4)];
  const [spotLeft, spotRight, middle] = [x(8), x(21), y(8)];
  const vertical = (line: PitchLine, position: number, from: number, to: number): Probe => ({
    line,
    response: RESPONSE.vertical,
    axis: 'x',
    columns: [around(position)],
    rows: [[from, to]],
    expected: position,
    need: 8,
  });
  const horizontal = (
    line: PitchLine,
    position: number,
    columns: Array<[number, number]>,
    reach = m,
  ): Probe => ({
    line,
    response: RESPONSE.horizontal,
    axis: 'y',
    columns,
    rows: [around(position, reach)],
    expected: position,
    need: 8,
  });
  const spot = (
    line: PitchLine,
    axis: 'x' | 'y',
    position: number,
    columns: Array<[number, number]>,
    rows: Array<[number, number]>,
  ): Probe => ({
    line,
    response: RESPONSE.white,
    axis,
    columns,
    rows,
    expected: position,
    need: 2,
  });
  const goalAreas: Array<[number, number]> = [
    [left, goalLeft],
    [goalRight, right],
  ];
  const penaltyAreas: Array<[number, number]> = [
    [left, penaltyLeft],
    [penaltyRight, right],
  ];
  const spots = [around(spotLeft), around(spotRight)];
  return [
    vertical('left', left, top, bottom),
    vertical('goalLeft', goalLeft, goalTop, goalBottom),
    spot('spotLeft', 'x', spotLeft, [around(spotLeft)], [around(middle)]),
    vertical('penaltyLeft', penaltyLeft, penaltyTop, penaltyBottom),
    vertical('half', half, top, bottom),
    vertical('penaltyRight', penaltyRight, penaltyTop, penaltyBottom),
    spot('spotRight', 'x', spotRight, [around(spotRight)], [around(middle)]),
    vertical('goalRight', goalRight, goalTop, goalBottom),
    vertical('right', right, top, bottom),
    // The circle's leftmost and rightmost points: the ring is vertical there for a few rows.
    spot('circleLeft', 'x', x(30), [around(x(30))], [around(middle, thin)]),
    spot('circleRight', 'x', x(31), [around(x(31))], [around(middle, thin)]),
    horizontal('top', top, [[left, right]]),
    horizontal('penaltyTop', penaltyTop, penaltyAreas),
    horizontal('goalTop', goalTop, goalAreas),
    spot('middle', 'y', middle, spots, [around(middle)]),
    horizontal('goalBottom', goalBottom, goalAreas),
    horizontal('penaltyBottom', penaltyBottom, penaltyAreas),
    horizontal('bottom', bottom, [[left, right]]),
    // The circle's top and bottom, where the ring is horizontal; the halfway line crossing it is not.
    horizontal('circleTop', y(14), [around(half)], Math.ceil(m / 2)),
    horizontal('circleBottom', y(15), [around(half)], Math.ceil(m / 2)),
  ];
}

/**
 * A pose-layout model for the 32 pitch keypoints (`kpt_shape` [32, 3], one class, `pitch`), computed
 * from the image.
 *
 * Each keypoint is where two pitch lines cross (or a spot, or a point of the centre circle), so the
 * model measures 20 line positions and pairs them up. A line's position is the centroid of the white
 * pixels in a window around where the fixed camera puts it (`pitchProbes`), after an opening that keeps
 * only horizontal runs (for horizontal lines) or vertical runs (for vertical lines), so that crossing
 * lines do not pull the centroid. The sums are two matrix products of window masks with the image.
 * Visibility is how much line was found (full at 8 pixels; 2 for a spot), the lesser of a keypoint's
 * two lines; a line nobody can see (a player on a penalty spot) reads as its expected position.
 *
 * The output is one detection, on the stride-32 anchor under the pitch's centre: the box between the
 * four touchlines' centres, score the mean line visibility, then x, y, visibility per keypoint. Every
 * other anchor is 0. The windows assume the project's 16:9 clips letterboxed to `imgSize`.
 */
export function buildPitchPoseModel(options: ModelSizeOptions = {}): OnnxModel {
  const { size, batch } = checkedSize(options, 'pose');
  if (size < MIN_POSE_SIZE) {
    throw new ConfigError(
      codes.config.invalidOption,
      [`pose.imgSize: expected at least ${MIN_POSE_SIZE}, got ${size}`],
      { imgSize: size },
    );
  }
  const probes = pitchProbes(size);
  const g = new OnnxGraphBuilder('pitch_pose');
  const images = g.input('images', [batch, 3, size, size]);
  const white = slice(g, colourMasks(g, images), 1, 0, 1);
  const responses = g.op('Concat', [opening(g, white, 1, 5), opening(g, white, 5, 1), white], {
    axis: attr.int(1),
  });

  // Window masks [3 responses, probes, S]; a probe's rows are zero except for its own response.
  const count = probes.length;
  const windows = (pick: (p: Probe) => Array<[number, number]>, weight: (i: number) => number): number[] => {
    const values = new Array<number>(3 * count * size).fill(0);
    probes.forEach((probe, j) => {
      for (const [from, to] of pick(probe)) {
        for (let i = Math.max(0, from); i <= Math.min(size - 1, to); i++) {
          values[(probe.response * count + j) * size + i] = weight(i);
        }
      }
    });
    return values;
  };
  const shape = [3, count, size];
  const centre = (i: number): number => i + 0.5;
  const rowWindows = g.floats(
    windows(
      (p) => p.rows,
      () => 1,
    ),
    shape,
  );
  const rowWindowsY = g.floats(
    windows((p) => p.rows, centre),
    shape,
  );
  const columnWindows = g.floats(
    windows(
      (p) => p.columns,
      () => 1,
    ),
    shape,
  );
  const columnWindowsX = g.floats(
    windows((p) => p.columns, centre),
    shape,
  );
  // [N, 3, probes, S]: each probe's column profile over its rows.
  const profile = g.op('MatMul', [rowWindows, responses]);
  const profileY = g.op('MatMul', [rowWindowsY, responses]);
  const total = (a: string, b: string): string =>
    g.op('ReduceSum', [g.op('Mul', [a, b]), ints(g, [1, 3])], { keepdims: attr.int(0) });
  const mass = total(profile, columnWindows);
  const sumX = total(profile, columnWindowsX);
  const sumY = total(profileY, columnWindows);
  const isX = probes.map((p) => (p.axis === 'x' ? 1 : 0));
  const moment = g.op('Add', [
    g.op('Mul', [sumX, g.floats(isX, [count])]),
    g.op('Mul', [
      sumY,
      g.floats(
        isX.map((v) => 1 - v),
        [count],
      ),
    ]),
  ]);
  // A faint prior: decides nothing once a single pixel is seen, and is the answer when none is.
  const prior = 1e-3;
  const position = g.op('Div', [
    g.op('Add', [
      moment,
      g.floats(
        probes.map((p) => prior * p.expected),
        [count],
      ),
    ]),
    g.op('Add', [mass, scalar(g, prior)]),
  ]);
  const seen = clip01(
    g,
    g.op('Div', [
      mass,
      g.floats(
        probes.map((p) => p.need),
        [count],
      ),
    ]),
  );

  const index = (line: PitchLine): number => probes.findIndex((p) => p.line === line);
  const gather = (values: string, which: 0 | 1): string =>
    g.op(
      'Gather',
      [
        values,
        ints(
          g,
          KEYPOINT_LINES.map((pair) => index(pair[which])),
        ),
      ],
      {
        axis: attr.int(1),
      },
    );
  const keypointX = gather(position, 0);
  const keypointY = gather(position, 1);
  const visible = g.op('Min', [gather(seen, 0), gather(seen, 1)]);
  const keypoints = g.op('Reshape', [
    g.op(
      'Concat',
      [keypointX, keypointY, visible].map((v) => g.op('Unsqueeze', [v, ints(g, [2])])),
      { axis: attr.int(2) },
    ),
    ints(g, [0, 3 * KEYPOINT_LINES.length]),
  ]);
  // left, right, top, bottom line → centre x, centre y, width, height
  const boxWeights = new Array<number>(count * 4).fill(0);
  const put = (line: PitchLine, column: number, value: number): void => {
    boxWeights[index(line) * 4 + column] = value;
  };
  put('left', 0, 0.5);
  put('right', 0, 0.5);
  put('top', 1, 0.5);
  put('bottom', 1, 0.5);
  put('left', 2, -1);
  put('right', 2, 1);
  put('top', 3, -1);
  put('bottom', 3, 1);
  const box = g.op('MatMul', [position, g.floats(boxWeights, [count, 4])]);
  const score = g.op('ReduceMean', [seen], { axes: attr.ints([1]), keepdims: attr.int(1) });
  const detection = g.op('Concat', [box, score, keypoints], { axis: attr.int(1) });

  const anchors = anchorCount(size);
  const grid = size / 32;
  const expectedCentre = (line1: PitchLine, line2: PitchLine): number =>
    ((probes[index(line1)] as Probe).expected + (probes[index(line2)] as Probe).expected) / 2;
  const anchor =
    anchorCount(size) -
    grid * grid +
    Math.floor(expectedCentre('top', 'bottom') / 32) * grid +
    Math.floor(expectedCentre('left', 'right') / 32);
  const oneHot = new Array<number>(anchors).fill(0);
  oneHot[anchor] = 1;
  g.op(
    'Mul',
    [g.op('Unsqueeze', [detection, ints(g, [2])]), g.floats(oneHot, [1, 1, anchors])],
    {},
    { output: 'output0' },
  );
  g.output('output0', [batch, 4 + 1 + 3 * KEYPOINT_LINES.length, anchors]);
  return createModel(g.build(), {
    metadata: ultralyticsMetadata({
      description: 'firstframe pitch keypoints: line positions measured in fixed windows, no training',
      task: 'pose',
      imgSize: size,
      names: ['pitch'],
      kptShape: [KEYPOINT_LINES.length, 3],
    }),
  });
}

// ---------------------------------------------------------------------------------------------------
// The benchmark model.

interface ConvLayer {
  inChannels: number;
  outChannels: number;
  kernel: 1 | 3;
  stride: 1 | 2;
  /** Side of the layer's output feature map. */
  outSize: number;
  activation: boolean;
}

interface BenchmarkPlan {
  backbone: ConvLayer[];
  /** Indices into `backbone` whose outputs feed the heads at strides 8, 16 and 32. */
  taps: [number, number, number];
  heads: ConvLayer[][];
}

/**
 * The layers: a backbone of 3 × 3 convolutions with SiLU that halves the resolution five times (a
 * stride-2 layer, then two or one at the same width), and a head per stride of two 3 × 3 layers and a
 * 1 × 1 prediction. Widths width, 2, 4, 8, 16 × width as in YOLOv8; at width 16 and 640 px that is about
 * 2.9 G multiply-adds, 5.8 GFLOPs by Ultralytics' count (2 per multiply-add), between yolov8n and s.
 */
function benchmarkPlan(size: number, width: number, outputs: number): BenchmarkPlan {
  const backbone: ConvLayer[] = [];
  const taps: number[] = [];
  let channels = 3;
  let side = size;
  const add = (outChannels: number, stride: 1 | 2): void => {
    side /= stride;
    backbone.push({ inChannels: channels, outChannels, kernel: 3, stride, outSize: side, activation: true });
    channels = outChannels;
  };
  add(width, 2);
  for (const [multiple, repeats] of [
    [2, 2],
    [4, 2],
    [8, 2],
    [16, 1],
  ] as const) {
    add(width * multiple, 2);
    for (let i = 0; i < repeats; i++) add(width * multiple, 1);
    if (multiple >= 4) taps.push(backbone.length - 1);
  }
  const hidden = Math.max(4 * width, 64);
  const heads = taps.map((tap) => {
    const { outChannels, outSize } = backbone[tap] as ConvLayer;
    const layer = (inChannels: number, out: number, kernel: 1 | 3, activation: boolean): ConvLayer => ({
      inChannels,
      outChannels: out,
      kernel,
      stride: 1,
      outSize,
      activation,
    });
    return [
      layer(outChannels, hidden, 3, true),
      layer(hidden, hidden, 3, true),
      layer(hidden, outputs, 1, false),
    ];
  });
  return { backbone, taps: taps as [number, number, number], heads };
}

function checkedWidth(options: BenchmarkModelOptions): number {
  const width = options.width ?? 16;
  if (!Number.isInteger(width) || width < 1 || width > 256) {
    throw new ConfigError(
      codes.config.invalidOption,
      [`bench.width: expected an integer in 1..256, got ${JSON.stringify(width)}`],
      { width },
    );
  }
  return width;
}

/** Convolution GFLOPs of `buildBenchmarkModel(options)` at batch 1, counted as Ultralytics does (2 × MACs). */
export function benchmarkModelGflops(options: BenchmarkModelOptions = {}): number {
  const { size } = checkedSize(options, 'bench');
  const plan = benchmarkPlan(size, checkedWidth(options), 4 + SOCCER_CLASSES.length);
  const macs = [...plan.backbone, ...plan.heads.flat()].reduce(
    (sum, l) => sum + l.inChannels * l.outChannels * l.kernel * l.kernel * l.outSize * l.outSize,
    0,
  );
  return (2 * macs) / 1e9;
}

/**
 * A YOLO-shaped model with random, seeded weights and realistic compute, for timing the inference
 * stage: the same input, output layout and metadata as the soccer detector, about 6 GFLOPs at 640
 * (`benchmarkModelGflops`). Its detections mean nothing; the class scores are biased low (mostly under
 * 0.05) as a real model's are on most anchors, so post-processing sees a realistic number of candidates.
 *
 * Boxes are decoded inside the graph as in YOLOv5: centre (grid + 2σ − 0.5) · stride, side
 * (2σ)² · 4 · stride.
 */
export function buildBenchmarkModel(options: BenchmarkModelOptions = {}): OnnxModel {
  const { size, batch } = checkedSize(options, 'bench');
  const width = checkedWidth(options);
  const classes = SOCCER_CLASSES.length;
  const rows = 4 + classes;
  const plan = benchmarkPlan(size, width, rows);
  const random = seededNormal(options.seed ?? 1);
  const g = new OnnxGraphBuilder('bench_yolo');
  const images = g.input('images', [batch, 3, size, size]);
  const conv = (input: string, layer: ConvLayer, bias?: number[]): string => {
    const fanIn = layer.inChannels * layer.kernel * layer.kernel;
    // He initialisation keeps activations of about unit size through the SiLU stack.
    const std = Math.sqrt((layer.activation ? 2 : 1) / fanIn);
    const weights = Array.from({ length: layer.outChannels * fanIn }, () => random() * std);
    const pad = (layer.kernel - 1) / 2;
    const out = g.op(
      'Conv',
      [
        input,
        g.floats(weights, [layer.outChannels, layer.inChannels, layer.kernel, layer.kernel]),
        g.floats(bias ?? new Array<number>(layer.outChannels).fill(0), [layer.outChannels]),
      ],
      {
        kernel_shape: attr.ints([layer.kernel, layer.kernel]),
        strides: attr.ints([layer.stride, layer.stride]),
        pads: attr.ints([pad, pad, pad, pad]),
      },
    );
    return layer.activation ? g.op('Mul', [out, g.op('Sigmoid', [out])]) : out;
  };
  const features: string[] = [];
  let x = images;
  for (const layer of plan.backbone) {
    x = conv(x, layer);
    features.push(x);
  }
  const heads = plan.heads.map((layers, index) => {
    const stride = STRIDES[index] as number;
    const grid = size / stride;
    let y = features[plan.taps[index] as number] as string;
    layers.forEach((layer, i) => {
      const last = i === layers.length - 1;
      y = conv(y, layer, last ? [0, 0, 0, 0, ...new Array<number>(classes).fill(-4)] : undefined);
    });
    const sigma = g.op('Sigmoid', [y]);
    const offsets = new Array<number>(2 * grid * grid);
    for (let i = 0; i < grid * grid; i++) {
      offsets[i] = ((i % grid) - 0.5) * stride;
      offsets[grid * grid + i] = (Math.floor(i / grid) - 0.5) * stride;
    }
    const centre = g.op('Add', [
      g.op('Mul', [slice(g, sigma, 1, 0, 2), scalar(g, 2 * stride)]),
      g.floats(offsets, [1, 2, grid, grid]),
    ]);
    const twice = slice(g, sigma, 1, 2, 4);
    const sides = g.op('Mul', [g.op('Mul', [twice, twice]), scalar(g, 16 * stride)]);
    const head = g.op('Concat', [centre, sides, slice(g, sigma, 1, 4, rows)], { axis: attr.int(1) });
    return g.op('Reshape', [head, ints(g, [0, rows, -1])]);
  });
  g.op('Concat', heads, { axis: attr.int(2) }, { output: 'output0' });
  g.output('output0', [batch, rows, anchorCount(size)]);
  const gflops = benchmarkModelGflops({ imgSize: size, width });
  return createModel(g.build(), {
    metadata: ultralyticsMetadata({
      description: `firstframe benchmark model: YOLO-shaped, random weights, ${gflops.toFixed(1)} GFLOPs`,
      task: 'detect',
      imgSize: size,
      names: SOCCER_CLASSES,
    }),
  });
}

/** Standard normal samples from a seeded 32-bit generator (a multiply-xorshift hash of a counter). */
function seededNormal(seed: number): () => number {
  let counter = seed >>> 0;
  const uniform = (): number => {
    counter = (counter + 0x9e3779b9) >>> 0;
    let h = Math.imul(counter ^ (counter >>> 16), 0x21f0aaad);
    h = Math.imul(h ^ (h >>> 15), 0x735a2d97);
    return (((h ^ (h >>> 15)) >>> 0) + 0.5) / 4294967296;
  };
  // Box–Muller; the second sample of each pair is dropped, which costs nothing worth keeping here.
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

// ---------------------------------------------------------------------------------------------------
// Writing the files.

export interface ModelFileInfo {
  kind: GeneratedModelKind;
  /** Absolute path (the manifest on disk stores the bare file name). */
  file: string;
  bytes: number;
  /** Hex SHA-256 of the file. */
  sha256: string;
  task: 'detect' | 'pose';
  imgSize: number;
  outputShape: Dim[];
  /** Convolution GFLOPs per frame, for the benchmark model. */
  gflops?: number;
}

export interface ModelSet {
  dir: string;
  version: number;
  models: Record<GeneratedModelKind, ModelFileInfo>;
}

export interface WriteModelsOptions {
  /** Default 640. */
  imgSize?: number;
  /** Rewrite the files even when the manifest says they are current. */
  force?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
}

const MANIFEST = 'manifest.json';

interface Manifest {
  version: number;
  imgSize: number;
  models: Record<GeneratedModelKind, Omit<ModelFileInfo, 'file'> & { file: string }>;
}

/**
 * Writes `soccer-detector.onnx` (and its `-int8` and `-fp16` exports), `pitch-pose.onnx` and
 * `bench-yolo.onnx` (dynamic batch) and a `manifest.json` into `dir`, or finds them there: a second call
 * with the same generator version and image size only checks the files' sizes against the manifest.
 *
 * The models are deterministic, so processes racing to write the same directory write the same bytes;
 * each file goes to a private temporary name first and is renamed into place, and the manifest last.
 *
 * ```ts
 * const set = await writeModels(defaultModelDir());
 * const session = await ort.InferenceSession.create(set.models.detector.file);
 * ```
 */
export async function writeModels(dir: string, options: WriteModelsOptions = {}): Promise<ModelSet> {
  const imgSize = options.imgSize ?? 640;
  checkedSize({ imgSize }, 'models');
  if (imgSize < MIN_POSE_SIZE) {
    throw new ConfigError(
      codes.config.invalidOption,
      [`models.imgSize: expected at least ${MIN_POSE_SIZE} (the pose model's smallest), got ${imgSize}`],
      { imgSize },
    );
  }
  const root = resolve(dir);
  const log = options.log ?? (() => {});
  if (!options.force) {
    const existing = await readReadySet(root, imgSize);
    if (existing) return existing;
  }
  await mkdir(root, { recursive: true });
  const builders: Record<GeneratedModelKind, () => OnnxModel> = {
    detector: () => buildSoccerDetector({ imgSize }),
    detectorInt8: () => buildSoccerDetectorInt8({ imgSize }),
    detectorHalf: () => buildSoccerDetectorHalf({ imgSize }),
    pose: () => buildPitchPoseModel({ imgSize }),
    bench: () => buildBenchmarkModel({ imgSize }),
  };
  const models = {} as Manifest['models'];
  for (const kind of Object.keys(MODEL_FILES) as GeneratedModelKind[]) {
    const started = Date.now();
    const model = builders[kind]();
    const bytes = serializeModel(model);
    const file = MODEL_FILES[kind];
    const temporary = join(root, `.${file}.${process.pid}.tmp`);
    await writeFile(temporary, bytes);
    await rename(temporary, join(root, file));
    models[kind] = {
      kind,
      file,
      bytes: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      task: model.metadata.task === 'pose' ? 'pose' : 'detect',
      imgSize,
      outputShape: [...(model.graph.outputs[0]?.shape ?? [])],
      ...(kind === 'bench' ? { gflops: Number(benchmarkModelGflops({ imgSize }).toFixed(3)) } : {}),
    };
    log(`models: wrote ${file} (${(bytes.length / 1024).toFixed(0)} KiB) in ${Date.now() - started} ms`);
  }
  const manifest: Manifest = { version: MODELS_VERSION, imgSize, models };
  const temporary = join(root, `.${MANIFEST}.${process.pid}.tmp`);
  await writeFile(temporary, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(temporary, join(root, MANIFEST));
  return withAbsolutePaths(root, manifest);
}

async function readReadySet(root: string, imgSize: number): Promise<ModelSet | null> {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(root, MANIFEST), 'utf8')) as Manifest;
  } catch {
    return null;
  }
  if (
    manifest.version !== MODELS_VERSION ||
    manifest.imgSize !== imgSize ||
    typeof manifest.models !== 'object'
  ) {
    return null;
  }
  for (const kind of Object.keys(MODEL_FILES) as GeneratedModelKind[]) {
    const entry = manifest.models[kind];
    if (entry?.file !== MODEL_FILES[kind]) return null;
    const size = await stat(join(root, entry.file)).catch(() => null);
    if (size?.size !== entry.bytes) return null;
  }
  return withAbsolutePaths(root, manifest);
}

function withAbsolutePaths(root: string, manifest: Manifest): ModelSet {
  const models = {} as ModelSet['models'];
  for (const kind of Object.keys(MODEL_FILES) as GeneratedModelKind[]) {
    models[kind] = { ...manifest.models[kind], file: join(root, manifest.models[kind].file) };
  }
  return { dir: root, version: manifest.version, models };
}

/**
 * Where the generated models live: `models/generated` in a development checkout, the user's cache
 * (`$FIRSTFRAME_CACHE/models`, …) for an installed package (src/core/cache-dir.ts).
 */
export function defaultModelDir(): string {
  return generatedDir('models');
}
