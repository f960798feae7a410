import { existsSync } from 'node:fs';
import type * as t from 'io-ts';
import { isAbsolute, join, resolve } from 'node:path';
import { defer, identity, map, timer, toArray, type Observable } from 'rxjs';
import { now } from '../core/clock.js';
import { ConfigError, isFirstframeError } from '../core/errors.js';
import { loadModel, modelCodes, type Device, type LoadedModel } from '../inference/model.js';
import { defaultModelDir, writeModels, MODEL_FILES, type GeneratedModelKind } from '../models/generate.js';
import { beamcoder } from '../media/beamcoder.js';
import { DEFAULT_PREPROCESS, PREPROCESS_MODES, warmUpLetterbox } from '../media/letterbox.js';
import { batch } from '../operators/batch.js';
import { decode, type DecodeOptions } from '../operators/decode.js';
import { infer, type FrameResult } from '../operators/infer.js';
import { soccerInfer } from '../operators/soccer.js';
import { plannedStride } from '../operators/stride-stage.js';
import { track } from '../operators/track.js';
import { budgetSink } from '../sinks/budget.js';
import { fileSource } from '../sources/file.js';
import { httpSource, type HttpStrategy } from '../sources/http.js';
import { MEBIBYTE, type ByteChunk } from '../sources/types.js';
import {
  Bool,
  NonEmptyString,
  NonNegativeInt,
  NonNegativeNumber,
  PositiveInt,
  PositiveNumber,
  RampUp,
  UnitInterval,
  oneOf,
} from '../core/codecs.js';
import {
  createRegistry,
  defineOperator,
  pipelineCodes,
  type OperatorRegistry,
  type OptionsOf,
  type SetupContext,
  type SinkContext,
} from './registry.js';

/** True when the target names a URL rather than a local file. */
export function isUrl(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(target);
}

// ---------------------------------------------------------------------------------------------------
// Sources. The four HTTP strategies share one set of options; given a file instead of a URL they read
// the file the same way (partial: the first bytes only; full: everything, as one chunk).

const httpOptions = {
  partialMb: PositiveNumber,
  windowMb: PositiveNumber,
  headersTimeoutS: PositiveNumber,
  stallTimeoutS: PositiveNumber,
  /** Hold the bytes until the transfer ends (partial download, then decode). */
  buffered: Bool,
};

function httpOperator(strategy: HttpStrategy, summary: string) {
  return defineOperator({
    kind: 'source',
    name: `http-${strategy}`,
    summary,
    options: httpOptions,
    create: (options) => {
      const partialBytes = Math.round((options.partialMb ?? 4) * MEBIBYTE);
      const buffered = strategy === 'full' || options.buffered === true;
      return (context) => {
        if (!isUrl(context.target)) {
          const chunks = fileSource(context.target, {
            onEvent: context.onEvent,
            budget: context.bytes,
            ...(strategy === 'partial' ? { limitBytes: partialBytes } : {}),
          });
          return buffered ? chunks.pipe(toArray(), map(joinChunks)) : chunks;
        }
        return httpSource(context.target, {
          strategy,
          partialBytes,
          buffered,
          budget: context.bytes,
          ...(context.dispatcher ? { dispatcher: context.dispatcher } : {}),
          ...(options.windowMb ? { windowBytes: Math.round(options.windowMb * MEBIBYTE) } : {}),
          ...(options.headersTimeoutS ? { headersTimeoutMs: options.headersTimeoutS * 1000 } : {}),
          ...(options.stallTimeoutS ? { stallTimeoutMs: options.stallTimeoutS * 1000 } : {}),
          onEvent: context.onEvent,
        });
      };
    },
  });
}

/** One chunk from several contiguous ones (a file read as `full`). */
function joinChunks(chunks: ByteChunk[]): ByteChunk {
  const total = chunks.reduce((sum, chunk) => sum + chunk.bytes.byteLength, 0);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk.bytes, at);
    at += chunk.bytes.byteLength;
  }
  const last = chunks[chunks.length - 1];
  return {
    bytes,
    offset: chunks[0]?.offset ?? 0,
    receivedAt: last?.receivedAt ?? performance.now(),
    resource: last?.resource ?? {
      url: '',
      totalBytes: 0,
      rangeHonoured: undefined,
      contentType: undefined,
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Decode.

const decodeOptions = {
  threads: oneOf(['auto', 'slice', 'frame']),
  threadCount: PositiveInt,
  minStartBytes: NonNegativeInt,
  minStartWaitS: NonNegativeNumber,
  skipNonReference: Bool,
  maxQueuedMb: PositiveNumber,
  probeSize: PositiveInt,
  /** 'opencv' (default): the input Ultralytics feeds its models; 'stream-colour': the stream's colours. */
  preprocess: oneOf(PREPROCESS_MODES),
};

function decodeOperator(nvdec: boolean) {
  return defineOperator({
    kind: 'decode',
    name: nvdec ? 'beamcoder-nvdec' : 'beamcoder',
    summary: nvdec
      ? "FFmpeg's cuvid decoders (NVDEC) when present, else software decoding with one warning"
      : 'FFmpeg software decoding, while the bytes arrive',
    options: {
      ...decodeOptions,
      ...(nvdec ? { outWidth: PositiveInt, outHeight: PositiveInt } : {}),
    } as typeof decodeOptions & { outWidth?: typeof PositiveInt; outHeight?: typeof PositiveInt },
    create: (options) => {
      // Loading FFmpeg's libraries takes a few hundred milliseconds the first time: part of the set-up,
      // not of the first run's clock.
      beamcoder();
      // The OpenCV-equal resize's kernels compiled on small frames now, not on the first real one.
      if ((options.preprocess ?? DEFAULT_PREPROCESS) === 'opencv') warmUpLetterbox();
      return (context) => {
        const extra = options as { outWidth?: number; outHeight?: number };
        const decodeOptions: DecodeOptions = {
          imgSize: context.imgSize,
          keepFrame: context.keepFrame,
          gate: context.gate,
          sourceUrl: context.target,
          onEvent: context.onEvent,
          checkStream: context.checkStream,
          skipNonReference: options.skipNonReference ?? true,
          nvdec: nvdec ? { outWidth: extra.outWidth, outHeight: extra.outHeight } : false,
          ...(options.threads ? { threads: options.threads } : {}),
          ...(options.threadCount ? { threadCount: options.threadCount } : {}),
          ...(options.minStartBytes !== undefined ? { minStartBytes: options.minStartBytes } : {}),
          ...(options.minStartWaitS !== undefined ? { minStartWaitMs: options.minStartWaitS * 1000 } : {}),
          ...(options.maxQueuedMb ? { maxQueuedBytes: Math.round(options.maxQueuedMb * MEBIBYTE) } : {}),
          ...(options.probeSize ? { probeSize: options.probeSize } : {}),
          ...(options.preprocess ? { preprocess: options.preprocess } : {}),
          // The edit-start skip never jumps past the run's byte limit (a hostile index cannot make it feed
          // gigabytes of filler).
          ...(context.bytes.limit !== undefined ? { maxBytes: context.bytes.limit } : {}),
        };
        return decode(decodeOptions);
      };
    },
  });
}

// ---------------------------------------------------------------------------------------------------
// Stride, batch.

const everyNth = defineOperator({
  kind: 'stride',
  name: 'every-nth',
  summary: 'keeps frames whose original frame number is a multiple of `every` (FRAME_STRIDE)',
  options: { every: PositiveInt },
  create: (options) => {
    const every = options.every ?? 1;
    return plannedStride({
      operator: 'every-nth',
      every,
      margin: 0,
      min: every,
      max: every,
      assumeFrames: 750,
      tailFrames: Infinity,
    });
  },
});

const fitBudget = defineOperator({
  kind: 'stride',
  name: 'fit-budget',
  summary:
    'the smallest stride in [min, max] that infers the whole clip before the deadline, keeping `margin` of the time left; `every` pins it',
  options: {
    /** Share of the time left kept free; default 0.15. */
    margin: UnitInterval,
    min: PositiveInt,
    max: PositiveInt,
    /** Pins the stride (FRAME_STRIDE, `--stride`): the margin is still reported. */
    every: PositiveInt,
    /** Frames assumed when neither the index nor a header's duration says; default 750. */
    assumeFrames: PositiveInt,
    /** The clip's last frame is kept when the stride leaves more than this many after the last kept one; default 10. */
    tailFrames: NonNegativeInt,
  },
  create: (options) => {
    const min = options.min ?? 1;
    const max = options.max ?? 30;
    const margin = options.margin ?? 0.15;
    const problems: string[] = [];
    if (min > max) problems.push(`stride.min (${min}) is larger than stride.max (${max})`);
    if (margin >= 1) problems.push(`stride.margin: expected a share below 1, got ${margin}`);
    if (problems.length > 0) throw new ConfigError(pipelineCodes.conflict, problems);
    return plannedStride({
      operator: 'fit-budget',
      ...(options.every !== undefined ? { every: options.every } : {}),
      margin,
      min,
      max,
      assumeFrames: options.assumeFrames ?? 750,
      tailFrames: options.tailFrames ?? 10,
    });
  },
});

const batchOperator = defineOperator({
  kind: 'batch',
  name: 'batch',
  summary: 'batches of `size`, ramp-up and early first frame, partial batch after `maxWaitMs`',
  options: { size: PositiveInt, maxWaitMs: NonNegativeNumber, rampUp: RampUp, earlyFlushFirstFrame: Bool },
  create: (options) => {
    const size = options.size ?? 16;
    const rampUp = options.rampUp ?? false;
    if (typeof rampUp === 'number' && rampUp > size) {
      throw new ConfigError(pipelineCodes.conflict, [
        `batch.rampUp: the first batch (${rampUp}) is larger than batch.size (${size})`,
      ]);
    }
    return (context) =>
      batch({
        size,
        rampUp: typeof rampUp === 'number' ? { firstBatch: rampUp } : rampUp,
        earlyFlushFirstFrame: options.earlyFlushFirstFrame ?? false,
        ...(options.maxWaitMs !== undefined ? { maxWaitMs: options.maxWaitMs } : {}),
        onEvent: context.onEvent,
      });
  },
});

// ---------------------------------------------------------------------------------------------------
// Inference.

/** `bundled:detector`, `bundled:pose`, `bundled:bench`: the generated models, made on first use. */
export const BUNDLED_PREFIX = 'bundled:';

/** The file a model reference names; bundled models are generated for the pipeline's image size. */
export async function resolveModel(reference: string, imgSize: number, baseDir: string): Promise<string> {
  if (reference.startsWith(BUNDLED_PREFIX)) {
    const kind = reference.slice(BUNDLED_PREFIX.length);
    if (!(kind in MODEL_FILES)) {
      throw new ConfigError(pipelineCodes.invalid, [
        `infer.model: unknown bundled model ${JSON.stringify(reference)}; known: ${Object.keys(MODEL_FILES)
          .map((name) => BUNDLED_PREFIX + name)
          .join(', ')}`,
      ]);
    }
    // One directory per size: a generated model's input size is fixed.
    const dir = imgSize === 640 ? defaultModelDir() : join(defaultModelDir(), String(imgSize));
    const set = await writeModels(dir, { imgSize });
    return set.models[kind as GeneratedModelKind].file;
  }
  const path = isAbsolute(reference) ? reference : resolve(baseDir, reference);
  if (!existsSync(path)) {
    throw new ConfigError(pipelineCodes.invalid, [`infer.model: no such file: ${path}`], { path });
  }
  return path;
}

/** Whether a model stage's models run on the CPU (a CUDA device that falls back at load is not counted). */
const onCpu = (options: { device?: string }) => (options.device ?? 'cpu') === 'cpu';

async function loadFor(
  reference: string,
  options: { device?: string; tensorrt?: boolean; threads?: number; head?: string },
  setup: SetupContext,
  /** The stage's CPU sessions that run at once: the inference CPUs are shared out among them. */
  sessions = 1,
): Promise<LoadedModel> {
  const path = await resolveModel(reference, setup.imgSize, setup.baseDir);
  const cores = onCpu(options) ? setup.inferenceCores : undefined;
  const threads = options.threads ?? (cores ? Math.max(1, Math.floor(cores.length / sessions)) : undefined);
  const load = (imgSize: number | undefined) =>
    loadModel(path, {
      device: (options.device ?? 'cpu') as Device,
      // The output decoder (src/inference/heads); unknown names: FF_ERR_UNKNOWN_HEAD listing the known ones.
      ...(options.head ? { head: options.head } : {}),
      ...(imgSize !== undefined ? { imgSize } : {}),
      ...(setup.batchSizes ? { warmup: { batches: setup.batchSizes } } : {}),
      ...(options.tensorrt ? { tensorrt: true } : {}),
      ...(threads ? { threads } : {}),
      ...(cores ? { onInferenceCores: true } : {}),
      ...(setup.onEvent ? { onEvent: setup.onEvent } : {}),
    });
  return load(setup.imgSize)
    .catch((error: unknown) => {
      // No size of the user's: the preferred size gives way to a model's fixed one (loaded again without it).
      if (setup.imgSizeGiven === false && isFirstframeError(error) && error.code === modelCodes.input) {
        return load(undefined);
      }
      throw error;
    })
    .catch((error: unknown) => {
      if (isFirstframeError(error) && error.code === modelCodes.input) {
        // A model whose fixed input disagrees with IMG_SIZE: a configuration conflict, not a broken run.
        throw new ConfigError(pipelineCodes.conflict, [`imgSize ${setup.imgSize}: ${error.message}`], {
          path,
        });
      }
      throw error;
    });
}

/** What every model stage takes: where it runs and how its output is filtered. */
const modelOptions = {
  device: oneOf(['cpu', 'cuda', 'cuda:0', 'cuda:1', 'cuda:2', 'cuda:3']),
  tensorrt: Bool,
  threads: PositiveInt,
  confThreshold: UnitInterval,
  iouThreshold: UnitInterval,
  maxDetections: PositiveInt,
};

/** The YOLO decoding options a document set (unset ones keep the decoder's defaults). */
function detectionOptions(options: {
  confThreshold?: number;
  iouThreshold?: number;
  maxDetections?: number;
}) {
  return {
    ...(options.confThreshold !== undefined ? { confThreshold: options.confThreshold } : {}),
    ...(options.iouThreshold !== undefined ? { iouThreshold: options.iouThreshold } : {}),
    ...(options.maxDetections !== undefined ? { maxDetections: options.maxDetections } : {}),
  };
}

/** Frames of the timed run that measures the model stage's per-frame time at set-up. */
const TIMED_FRAMES = 2;

/**
 * The model stage's wall-clock milliseconds per frame on this device: the quicker of two timed runs of a small batch of
 * blank frames after the warm-up, every model of the stage at once (as the stage runs them). What the
 * budget-aware stride plans with until the run's own batches say better. Undefined when a model cannot run
 * images directly.
 */
async function timePerFrame(models: readonly LoadedModel[], imgSize: number): Promise<number | undefined> {
  if (models.some((model) => !model.runImages)) return undefined;
  let frames = TIMED_FRAMES;
  const once = async () => {
    const started = performance.now();
    await Promise.all(
      models.map((model) => {
        const count = typeof model.batch === 'number' ? model.batch : TIMED_FRAMES;
        const images = Array.from(
          { length: Math.min(count, TIMED_FRAMES) },
          () => new Uint8Array(3 * imgSize * imgSize),
        );
        // A fixed-batch model pays for its whole batch whatever it holds.
        frames = Math.min(frames, images.length);
        return model.runImages!(images, count);
      }),
    );
    return performance.now() - started;
  };
  // The runs after the warm-up still vary (memory planning, a busy machine): the quicker of two.
  const ms = Math.min(await once(), await once());
  return ms / frames;
}

const onnxOperator = defineOperator({
  kind: 'infer',
  name: 'onnx',
  summary:
    'an ONNX model in ONNX Runtime, read by its head (default yolo: an Ultralytics detect or pose export); CPU, or CUDA when installed',
  options: { model: NonEmptyString, head: NonEmptyString, ...modelOptions },
  required: ['model'],
  cpuSessions: (options) => (onCpu(options) ? 1 : 0),
  create: async (options, setup) => {
    const model = await loadFor(options.model!, options, setup);
    const path = model.path;
    const perFrameMs = await timePerFrame([model], model.imgSize).catch(async (error: unknown) => {
      await model.release();
      throw error;
    });
    return {
      setupMs: model.setupMs,
      describe: {
        perFrameMs,
        path,
        head: model.head?.name ?? 'yolo',
        task: model.layout.task,
        classes: model.layout.classNames,
        imgSize: model.imgSize,
        batch: model.batch,
        device: model.device,
        inputType: model.inputType,
      },
      release: () => model.release(),
      operator: (context) =>
        infer(model, {
          gate: context.gate,
          onEvent: context.onEvent,
          ...detectionOptions(options),
          ...(context.drain ? { stopOn: context.deadline$ } : {}),
        }),
    };
  },
});

const soccerOperator = defineOperator({
  kind: 'infer',
  name: 'soccer',
  summary: 'players, goalkeepers, referees and the ball, and the 32 pitch keypoints, two models at once',
  options: {
    detector: NonEmptyString,
    /** The detector's head; the pitch model is always a YOLO pose export. */
    head: NonEmptyString,
    pitch: NonEmptyString,
    skipPitch: Bool,
    ...modelOptions,
    keypointConfidence: UnitInterval,
  },
  required: ['detector'],
  // The detector and the pitch model run side by side on each batch.
  cpuSessions: (options) => (onCpu(options) ? (options.skipPitch ? 1 : 2) : 0),
  create: async (options, setup) => {
    const sessions = options.skipPitch ? 1 : 2;
    const detector = await loadFor(options.detector!, options, setup, sessions);
    let pitch: LoadedModel | undefined;
    if (!options.skipPitch) {
      if (options.pitch === undefined) {
        await detector.release();
        throw new ConfigError(pipelineCodes.invalid, [
          'infer.pitch: required by infer operator soccer unless skipPitch is set (SKIP_PITCH=1)',
        ]);
      }
      pitch = await loadFor(options.pitch, { ...options, head: undefined }, setup, sessions).catch(
        async (error: unknown) => {
          await detector.release();
          throw error;
        },
      );
    }
    const models = pitch ? [detector, pitch] : [detector];
    const perFrameMs = await timePerFrame(models, detector.imgSize).catch(async (error: unknown) => {
      await Promise.all(models.map((model) => model.release()));
      throw error;
    });
    return {
      setupMs: detector.setupMs + (pitch?.setupMs ?? 0),
      describe: {
        perFrameMs,
        path: detector.path,
        pitch: pitch?.path ?? null,
        task: 'soccer',
        classes: detector.layout.classNames,
        imgSize: detector.imgSize,
        device: detector.device,
      },
      release: async () => {
        await Promise.all([detector.release(), pitch?.release()]);
      },
      operator: (context) =>
        soccerInfer(detector, pitch, {
          gate: context.gate,
          onEvent: context.onEvent,
          detection: detectionOptions(options),
          ...(options.keypointConfidence !== undefined
            ? { keypointConfidence: options.keypointConfidence }
            : {}),
          ...(context.drain ? { stopOn: context.deadline$ } : {}),
        }),
    };
  },
});

// ---------------------------------------------------------------------------------------------------
// Track, sink.

const byteTrack = defineOperator({
  kind: 'track',
  name: 'bytetrack',
  summary: 'ByteTrack: Kalman motion, high- then low-score association by IoU, track birth and death',
  options: {
    highThreshold: UnitInterval,
    lowThreshold: UnitInterval,
    newTrackThreshold: UnitInterval,
    matchThreshold: UnitInterval,
    trackBuffer: PositiveInt,
    /** Buffered IoU (C-BIoU): boxes grow by this fraction of their size on every side before matching. */
    matchBuffer: NonNegativeNumber,
    /** The same for the ball (class 0), which is small and fast. */
    ballMatchBuffer: NonNegativeNumber,
  },
  create: (options) => (context) =>
    track({
      ...(options.highThreshold !== undefined ? { highThreshold: options.highThreshold } : {}),
      ...(options.lowThreshold !== undefined ? { lowThreshold: options.lowThreshold } : {}),
      ...(options.newTrackThreshold !== undefined ? { newTrackThreshold: options.newTrackThreshold } : {}),
      ...(options.matchThreshold !== undefined ? { matchThreshold: options.matchThreshold } : {}),
      ...(options.trackBuffer !== undefined ? { trackBuffer: options.trackBuffer } : {}),
      ...(options.ballMatchBuffer !== undefined
        ? {
            // Per class id: the ball's own, every other class the common one.
            matchBuffer: {
              ...Object.fromEntries(Array.from({ length: 256 }, (_, id) => [id, options.matchBuffer ?? 0])),
              0: options.ballMatchBuffer,
            },
          }
        : options.matchBuffer !== undefined
          ? { matchBuffer: options.matchBuffer }
          : {}),
      onEvent: context.onEvent,
    }),
});

const noTracking = defineOperator({
  kind: 'track',
  name: 'none',
  summary: 'no tracking: results pass through unchanged',
  options: {},
  create: () => () => identity,
});

/**
 * What the runner gives a sink factory beyond SinkContext: the run's absolute deadline, when the caller
 * set one (a server's, counted from the request's arrival). NOTE: belongs in SinkContext (registry.ts).
 */
export interface DeadlineSinkContext extends SinkContext {
  /** performance.now() milliseconds by which the run answers; later than now (the runner checks). */
  readonly deadlineAt?: number;
}

const budgetOperator = defineOperator({
  kind: 'sink',
  name: 'budget',
  summary:
    'answers with the results so far when the time budget is spent (TIME_BUDGET_S), or at the deadline the run was given',
  options: { budgetS: PositiveNumber, startAfterFirstFrame: Bool, drainS: NonNegativeNumber },
  create: (options) => (context: DeadlineSinkContext) => {
    const budgetMs = options.budgetS === undefined ? Infinity : options.budgetS * 1000;
    const sinkOptions = (ms: number) => ({
      budgetMs: ms,
      ...(options.drainS ? { drainMs: options.drainS * 1000 } : {}),
      cancelOn: context.cancel$,
      onEvent: context.onEvent,
    });
    const deadlineAt = context.deadlineAt;
    if (deadlineAt === undefined) {
      return budgetSink<FrameResult>({
        ...sinkOptions(budgetMs),
        ...(options.startAfterFirstFrame ? { startOn: context.firstFrame$ } : {}),
      });
    }
    // A deadline given with the run counts from before the run (a request's arrival): the clock is
    // already running, so it does not wait for the first frame, and what is left is read when the run
    // subscribes, so that the sink's clock ends at the deadline itself.
    const leftMs = () => Math.max(1, Math.min(budgetMs, deadlineAt - now()));
    const sink = (source: Observable<FrameResult>) =>
      defer(() => source.pipe(budgetSink<FrameResult>(sinkOptions(leftMs()))));
    const deadline$ = defer(() => timer(leftMs())).pipe(map((): void => undefined));
    return Object.assign(sink, { deadline$ });
  },
});

/** The options a document may give for codecs `P`: each codec's type, every one optional. */
export type OptionsOfProps<P extends t.Props> = { [O in keyof P]?: t.TypeOf<P[O]> };

/**
 * The shipped operators by stage kind and name, each with the options a document may give it, typed from
 * the same codecs that check documents at run time (see PipelineDocument).
 */
export interface ShippedOperators {
  source: Record<
    'http-stream' | 'http-partial' | 'http-full' | 'http-ranges',
    OptionsOfProps<typeof httpOptions>
  >;
  decode: {
    beamcoder: OptionsOfProps<typeof decodeOptions>;
    'beamcoder-nvdec': OptionsOfProps<
      typeof decodeOptions & { outWidth: typeof PositiveInt; outHeight: typeof PositiveInt }
    >;
  };
  stride: { 'every-nth': OptionsOf<typeof everyNth>; 'fit-budget': OptionsOf<typeof fitBudget> };
  batch: { batch: OptionsOf<typeof batchOperator> };
  infer: { onnx: OptionsOf<typeof onnxOperator>; soccer: OptionsOf<typeof soccerOperator> };
  track: { none: OptionsOf<typeof noTracking>; bytetrack: OptionsOf<typeof byteTrack> };
  sink: { budget: OptionsOf<typeof budgetOperator> };
}

/** A registry holding the shipped operators; register your own on it. */
export function defaultRegistry(): OperatorRegistry {
  return createRegistry([
    httpOperator('stream', 'one GET, decoded while it downloads'),
    httpOperator('partial', 'only the first `partialMb` MiB (a Range request), decoded while it downloads'),
    httpOperator('full', 'the whole file downloaded first, then decoded (the baseline)'),
    httpOperator('ranges', 'consecutive Range requests of `windowMb` MiB'),
    decodeOperator(false),
    decodeOperator(true),
    everyNth,
    fitBudget,
    batchOperator,
    onnxOperator,
    soccerOperator,
    noTracking,
    byteTrack,
    budgetOperator,
  ]);
}
