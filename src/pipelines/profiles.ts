import type { PipelineDocument } from './document.js';

/**
 * The shipped profiles. Each is a complete pipeline document; a user's document can start from one with
 * `extends: NAME`, and environment variables and command-line options are laid on top of it.
 */
/** The bundled soccer detector, as every profile but `soccer` runs it. */
const DETECTOR = {
  operator: 'onnx',
  model: 'bundled:detector',
  device: 'cpu',
  confThreshold: 0.25,
  maxDetections: 300,
} as const;

/** Batches of 1 (the first frame alone), 2, 4, … up to 16; a partial one goes after 50 ms. */
const RAMPED_BATCHES = {
  operator: 'batch',
  size: 16,
  rampUp: 2,
  earlyFlushFirstFrame: true,
  maxWaitMs: 50,
} as const;

export const PROFILES: Readonly<Record<string, PipelineDocument>> = {
  /**
   * Streams the video and decodes while it downloads; every 5th frame (5 results per second of 25 fps
   * video) goes to the bundled soccer detector in batches that start small (the first frame alone, then
   * 2, 4, … up to 16) so the first result never waits for a full batch; answers after 10 s at the latest.
   * Frames the stride drops that nothing references are not even decoded. No fill stage: the answer is
   * the inferred frames (a generic user gets what the model saw; `fill: {}` answers every frame).
   */
  default: {
    version: 1,
    name: 'default',
    description: 'stream, decode while downloading, every 5th frame, ramped batches of up to 16, 10 s budget',
    imgSize: 640,
    prefetch: { frames: 32, policy: 'block' },
    source: { operator: 'http-stream' },
    decode: { operator: 'beamcoder', skipNonReference: true },
    stride: { operator: 'every-nth', every: 5 },
    batch: { ...RAMPED_BATCHES },
    infer: { ...DETECTOR },
    track: { operator: 'none' },
    sink: { operator: 'budget', budgetS: 10, startAfterFirstFrame: false },
  },
  /**
   * The SN44 seeds' "ultra-fast" settings: IMG_SIZE 384, BATCH_SIZE 64, FRAME_STRIDE 6, TIME_BUDGET_S 1.5,
   * PARTIAL_DOWNLOAD_MB 2, STREAM_MIN_START_BYTES 256 KB, STREAM_BUFFER_TIMEOUT_S 0.1.
   */
  'ultra-fast': {
    version: 1,
    name: 'ultra-fast',
    description: "the seeds' ultra-fast values: first 2 MiB only, 384 px, every 6th frame, 1.5 s budget",
    imgSize: 384,
    prefetch: { frames: 64, policy: 'block' },
    source: { operator: 'http-partial', partialMb: 2 },
    decode: { operator: 'beamcoder', skipNonReference: true, minStartBytes: 262_144, minStartWaitS: 0.1 },
    stride: { operator: 'every-nth', every: 6 },
    batch: { operator: 'batch', size: 64, rampUp: 4, earlyFlushFirstFrame: true, maxWaitMs: 50 },
    infer: { ...DETECTOR },
    track: { operator: 'none' },
    sink: { operator: 'budget', budgetS: 1.5, startAfterFirstFrame: false },
  },
  /** Download the whole file, then decode: the baseline the streaming profiles are measured against. */
  'full-download': {
    version: 1,
    name: 'full-download',
    description: 'the baseline: download the whole file first, then decode and infer',
    imgSize: 640,
    prefetch: { frames: 32, policy: 'block' },
    source: { operator: 'http-full' },
    decode: { operator: 'beamcoder', skipNonReference: true },
    stride: { operator: 'every-nth', every: 5 },
    batch: { ...RAMPED_BATCHES },
    infer: { ...DETECTOR },
    track: { operator: 'none' },
    sink: { operator: 'budget', budgetS: 10, startAfterFirstFrame: false },
  },
  /**
   * The SN44 game-state pipeline: players, goalkeepers, referees and the ball (classes 0 ball,
   * 1 goalkeeper, 2 player, 3 referee), the 32 pitch keypoints from a pose model run on the same frames,
   * and ByteTrack ids; every frame of the clip answered (the fill stage: interpolated along the tracks
   * between the inferred frames), at most one ball per frame. The stride is the smallest from 5 to 15 that
   * lets the whole clip be inferred within the budget (fit-budget: the clip's frame count, the models'
   * measured time per frame, 15 % of the time left kept free); FRAME_STRIDE pins it. DISABLE_TRACKING=1
   * removes the tracker; SKIP_PITCH=1 the keypoint model.
   */
  soccer: {
    version: 1,
    name: 'soccer',
    description:
      'SN44 game state: detections, 32 pitch keypoints and ByteTrack ids on every frame, the stride (5 to 15) fitted to a 12 s budget',
    imgSize: 640,
    prefetch: { frames: 32, policy: 'block' },
    source: { operator: 'http-stream' },
    decode: { operator: 'beamcoder', skipNonReference: true },
    // The stride is planned from the clip's frame count, the models' time per frame and the budget left
    // (see fit-budget); never below 5 (interpolation loses little there, and the answer's speed is scored).
    // Above 15 the tracker loses most players between inferred frames (720p, bench/answer.ts).
    stride: { operator: 'fit-budget', margin: 0.15, min: 5, max: 15 },
    batch: { ...RAMPED_BATCHES },
    infer: {
      operator: 'soccer',
      detector: 'bundled:detector',
      pitch: 'bundled:pose',
      device: 'cpu',
      confThreshold: 0.25,
      maxDetections: 300,
      keypointConfidence: 0.5,
    },
    // Boxes grown by twice their size before matching: at the strides fit-budget picks on a CPU (8–15)
    // players move more than their width between inferred frames (filled-box IoU at stride 12 on the
    // 720p bench clip: 0.73 with 0.5, 0.87 with 2).
    track: { operator: 'bytetrack', matchBuffer: 2, ballMatchBuffer: 8 },
    // The validator's speed score is 0 at 15 s on its own clock: 12 s leaves the answer's way back, and
    // the stride keeps 15 % of what is left free on top.
    sink: { operator: 'budget', budgetS: 12, startAfterFirstFrame: false },
    // The validator scores every frame of the clip and takes each ball past one as a penalty.
    fill: {},
    classes: { maxPerClass: { ball: 1 } },
  },
};
