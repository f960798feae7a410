import type { LetterboxGeometry } from '../../media/letterbox.js';

/**
 * A model's head: what turns its raw outputs into detections. A head is told the model's outputs and
 * metadata once, at load (`check`), and answers with a layout (what it found: classes, keypoints, strides)
 * and the outputs it reads; it then decodes each image of each batch (`decode`). The infer stage only ever
 * calls `decode`, so a model with another output format plugs in by registering a head (registry.ts),
 * without a change to the stage.
 */

/** What every head's layout says about its detections; a head's own layout adds what it needs. */
export interface HeadLayout {
  /** `pose` when detections carry keypoints. */
  readonly task: 'detect' | 'pose';
  readonly classNames: readonly string[];
  /** Pose models: keypoints per detection and values per keypoint (2: x, y; 3: x, y, visibility). */
  readonly keypoints?: { readonly count: number; readonly dims: 2 | 3 };
}

export interface Detection {
  /** x1, y1, x2, y2 in source pixels. */
  readonly bbox: readonly [number, number, number, number];
  readonly classId: number;
  readonly className: string;
  readonly score: number;
  /** Pose models: [x, y, confidence] in source pixels. */
  readonly keypoints?: ReadonlyArray<readonly [number, number, number]>;
}

/** The post-processing settings a pipeline gives every head; each head documents how it reads them. */
export interface DecodeOptions {
  /** CONF_THRESHOLD: scores strictly above it count; default 0.25 as Ultralytics' predict. */
  readonly confThreshold?: number;
  /** NMS IoU threshold, for heads that suppress overlapping boxes; default 0.7 as Ultralytics' predict. */
  readonly iouThreshold?: number;
  /** MAX_DETECTIONS; default 300. */
  readonly maxDetections?: number;
}

/** One output of the model as ONNX Runtime declares it: dimensions are numbers, or names when symbolic. */
export interface OutputSpec {
  readonly name: string;
  readonly shape: ReadonlyArray<number | string>;
  /** ONNX Runtime's element type (`float32`, `float16`, …). */
  readonly type: string;
}

/** What a head is told at load. */
export interface HeadCheckContext {
  /** The model file, for messages. */
  readonly path: string;
  /** Side of the square model input. */
  readonly imgSize: number;
  /** The model's `metadata_props`. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Every output of the model, in the model's order. */
  readonly outputs: readonly OutputSpec[];
}

/** A head's answer at load: its layout, and the outputs `decode` gets, in this order. */
export interface HeadPlan<L extends HeadLayout = HeadLayout> {
  readonly layout: L;
  /** Names of the outputs to fetch from each run (others are not computed where the graph allows). */
  readonly outputs: readonly string[];
}

/** One output of one run: the whole batch, float32 (float16 outputs are widened). */
export interface HeadOutput {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** Where in the batch the image is and how it was letterboxed. */
export interface DecodeTarget {
  /** Which image of the batch. */
  readonly index: number;
  readonly geometry: LetterboxGeometry;
  /** The source frame's size: boxes are clipped to it. */
  readonly source: { readonly width: number; readonly height: number };
}

export interface Head<L extends HeadLayout = HeadLayout> {
  /** The name a model is loaded with (`loadModel(path, { head: NAME })`). */
  readonly name: string;
  /** One line for documentation and error messages. */
  readonly summary: string;
  /**
   * Checks the model's outputs and metadata and says how to read them. Throws a `ModelError` naming the
   * model and what is wrong: `FF_ERR_MODEL_OUTPUT` for outputs of the wrong names or shapes,
   * `FF_ERR_MODEL_INVALID` for metadata that does not parse.
   */
  check(context: HeadCheckContext): HeadPlan<L>;
  /**
   * The detections of one image of a batch, in source pixels (mapped back through the letterbox and
   * clipped to the frame), best first. `outputs` are those `check` asked for, in its order. Must not throw
   * on values a model can produce (NaN, infinities, scores out of range): such values yield no detection.
   */
  decode(
    outputs: readonly HeadOutput[],
    layout: L,
    target: DecodeTarget,
    options: DecodeOptions,
  ): Detection[];
}

/** A head bound to one loaded model's layout: what `LoadedModel.head` is and what the infer stage calls. */
export interface ModelHead {
  readonly name: string;
  readonly layout: HeadLayout;
  /** The outputs each run fetches, in the order `decode` takes them. */
  readonly outputs: readonly string[];
  decode(outputs: readonly HeadOutput[], target: DecodeTarget, options: DecodeOptions): Detection[];
}

/**
 * Infers the layout type from `check`, so that `decode` is typed with it:
 * `defineHead<MyLayout>({ name: 'mine', summary, check: () => ({ layout, outputs }), decode })`.
 */
export function defineHead<L extends HeadLayout>(head: Head<L>): Head<L> {
  return head;
}
