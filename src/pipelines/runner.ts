import { now } from '../core/clock.js';
import { nextTask } from '../core/next-task.js';
import {
  NEVER,
  Observable,
  ReplaySubject,
  filter,
  fromEvent,
  identity,
  lastValueFrom,
  map,
  of,
  take,
  throwError,
  tap,
  type OperatorFunction,
} from 'rxjs';
import type { Dispatcher } from 'undici';
import { placeInference, type PlacementOutcome } from '../core/cpu-placement.js';
import { ConfigError, FirstframeError, codes, isFirstframeError } from '../core/errors.js';
import { createTimeline, safeSink, type EventSink, type StageEvent } from '../core/events.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { sniffLayout } from '../media/layout.js';
import { compileClassRules, type ClassRules } from '../operators/class-rules.js';
import {
  warmDecode,
  type DecodeOptions,
  type StreamHeader,
  type VideoStreamInfo,
} from '../operators/decode.js';
import type { FrameResult } from '../operators/infer.js';
import { heldDuringFirstRun, prefetchGate, type FirstRunHold } from '../operators/prefetch.js';
import { budgetCodes, type RunStride, type StrideReport } from '../operators/stride-budget.js';
import { releasingSkipped } from '../operators/stride-release.js';
import { isPlannedStride } from '../operators/stride-stage.js';
import type { BudgetOutcome, EndedBy } from '../sinks/budget.js';
import { byteBudget, type ByteBudget } from '../sources/budget.js';
import type { ResourceInfo } from '../sources/types.js';
import { fillInTasks, type FillSource, type FillStats } from '../tracking/fill.js';
import type { ResolvedPipeline } from './document.js';
import { emptyRunError } from './outcome.js';
import { primeWith } from './prime.js';
import { createListStage, isListStageKind, strideForRun, strideKeepsForRun } from './stage-lists.js';
import type { DeadlineSinkContext } from './operators.js';
import {
  STAGE_KINDS,
  type RunContext,
  type SetupContext,
  type SinkContext,
  type StageImplementations,
  type StageKind,
} from './registry.js';

/** One object in a result document. */
export interface ResultObject {
  bbox: [number, number, number, number];
  classId: number;
  className: string;
  score: number;
  trackId?: number;
  /** Pose models: [x, y, confidence] per keypoint, in source pixels. */
  keypoints?: Array<[number, number, number]>;
  /**
   * How it was made: the model ran on its frame, or the fill stage interpolated or carried it. Always
   * present in a run's document (optional for documents made elsewhere).
   */
  source?: FillSource;
}

export interface ResultFrame {
  frameNumber: number;
  pts: number;
  /** `inferred`: the model ran on this frame; `filled`: the fill stage made every object on it. */
  source?: 'inferred' | 'filled';
  objects: ResultObject[];
  /** Frame-level keypoints (the soccer pipeline's pitch points), when a stage provides them. */
  keypoints?: Array<[number, number]>;
}

/** What `firstframe run --json` prints; the names are relied on by tools. */
export interface RunDocument {
  source: { url: string; bytesTotal: number | null; rangeHonoured: boolean | null; layout: string | null };
  frames: ResultFrame[];
  timings: {
    /** Model loading and warm-up, before the run started. */
    setupMs: number;
    headersMs: number | null;
    firstByteMs: number | null;
    firstFrameMs: number | null;
    firstResultMs: number | null;
    totalMs: number;
    bytesDownloaded: number;
    framesDecoded: number;
    /** Frames the model ran on (and that are in the answer). */
    framesInferred: number;
    /** Frames in the clip when its index says (the MP4 sample count), else null. The five coverage
     * fields below are always present in a run's document (optional for documents made elsewhere). */
    framesInClip?: number | null;
    /** Frames in `frames`: every one from 0 to the last with the fill stage, else the inferred ones. */
    framesAnswered?: number;
    /** Answered frames the fill stage made from their neighbours (0 without it). */
    framesFilled?: number;
    /** Answered objects by how they were made. */
    objectsBySource?: Record<FillSource, number>;
    /**
     * What the last answered frame is, with the fill stage: the clip's last (`clip`), the last decoded
     * frame (`decoded`: no frame count, or the run stopped early), the last inferred (`inferred`); null
     * without the fill stage or without frames.
     */
    lastFrameFrom?: FillStats['lastFrameFrom'];
    /**
     * How the stride was chosen (the shipped stride operators): the stride in force at the end and where
     * each one took over, the per-frame time and the margin of the last plan, the deadline.
     */
    stride?: StrideReport;
    endedBy: EndedBy;
  };
  /**
   * Why the run failed (`endedBy: 'error'`), or why a run that ended by the budget or at the video's end
   * has no frame to answer (FF_ERR_NO_HEADERS_BY_DEADLINE, …: see emptyRunError). With frames beside it,
   * a partial result.
   */
  error?: { code: string; message: string };
}

/** What a running pipeline emits: every stage event, each result as it is ready, and the document last. */
export type PipelineEvent =
  | { readonly type: 'stage'; readonly event: StageEvent }
  | { readonly type: 'frame'; readonly frame: FrameResult }
  | { readonly type: 'result'; readonly result: RunDocument };

/** Limits on what one run may take in (a server's protection against abusive inputs). */
export interface RunLimits {
  /**
   * Bytes read over every request of the run (the main one, an MP4's moov fetched by Range, windows);
   * past it the run ends with FF_ERR_LIMIT_BYTES and the transfer that passed it is aborted.
   */
  maxBytes?: number;
  /**
   * Source width and height; a larger video ends the run with FF_ERR_LIMIT_RESOLUTION as soon as a
   * header says its size (the MP4 sample description or SPS, the demuxer's stream parameters), before any
   * picture is decoded; decoded frames are checked too.
   */
  maxWidth?: number;
  maxHeight?: number;
  /**
   * Seconds of video; a header that says the video is longer (the MP4 index, the demuxer) or a frame past
   * it ends the run with FF_ERR_LIMIT_DURATION.
   */
  maxDurationS?: number;
}

export const limitCodes = {
  bytes: 'FF_ERR_LIMIT_BYTES',
  resolution: 'FF_ERR_LIMIT_RESOLUTION',
  duration: 'FF_ERR_LIMIT_DURATION',
} as const;

const runLimitError = (target: string, code: string, message: string, context: Record<string, unknown>) =>
  new FirstframeError(code, `${target}: ${message}`, { url: target, ...context });

/** The byte budget of one run on `target`: FF_ERR_LIMIT_BYTES past `limits.maxBytes`, naming the request. */
export function runByteBudget(limits: RunLimits, target: string): ByteBudget {
  return byteBudget(limits.maxBytes, ({ limit, used, url, range }) =>
    runLimitError(
      target,
      limitCodes.bytes,
      `more than the ${limit} bytes allowed (${used} read, the last ${range ? `by Range ${range}` : 'by the main request'}${url && url !== target ? ` of ${url}` : ''})`,
      { maxBytes: limit, bytesRead: used, ...(range ? { range } : {}) },
    ),
  );
}

/**
 * The check of a video's size and duration against `limits` for a run on `target`, as decode calls it
 * with what a header says (and the runner with each decoded frame): throws FF_ERR_LIMIT_RESOLUTION or
 * FF_ERR_LIMIT_DURATION naming the header.
 */
export function streamLimitCheck(limits: RunLimits, target: string): (header: StreamHeader) => void {
  return (header) => {
    if (
      (limits.maxWidth !== undefined && header.width > limits.maxWidth) ||
      (limits.maxHeight !== undefined && header.height > limits.maxHeight)
    ) {
      throw runLimitError(
        target,
        limitCodes.resolution,
        `${header.width}×${header.height} video (${header.from}) is larger than the ${limits.maxWidth ?? '∞'}×${limits.maxHeight ?? '∞'} allowed`,
        { width: header.width, height: header.height, from: header.from },
      );
    }
    if (
      limits.maxDurationS !== undefined &&
      header.durationS !== undefined &&
      header.durationS > limits.maxDurationS
    ) {
      throw runLimitError(
        target,
        limitCodes.duration,
        `${header.durationS.toFixed(2)} s video (${header.from}) is longer than the ${limits.maxDurationS} s allowed`,
        { durationS: header.durationS, from: header.from },
      );
    }
  };
}

export interface RunOptions {
  /** Cancels the run: it answers at once with `endedBy: 'cancelled'` and the results so far. */
  signal?: AbortSignal;
  onEvent?: EventSink;
  logger?: Logger;
  /** The HTTP dispatcher for this run's requests (e.g. a URL-guarded one); default the shared one. */
  dispatcher?: Dispatcher;
  limits?: RunLimits;
  /**
   * performance.now() milliseconds by which the run answers, whatever its sink's own budget (which then
   * counts from before the run: a server's deadline counts from the request's arrival, queue wait
   * included). A deadline already past answers at once, with no frames and FF_ERR_BUDGET_SPENT.
   */
  deadlineAt?: number;
}

export interface PrepareOptions {
  /** Events of the set-up (model loading, warm-up, device fallback). */
  onEvent?: EventSink;
  logger?: Logger;
  /**
   * Warm a dynamic-batch model up at the batch stage's size as well as at 1, so that no batch size's first
   * run lands on a real batch (ONNX Runtime grows its memory for the largest shape; smaller ones reuse it).
   * Default false: at batch 16 and 640 px on a 2-core CPU it costs about 6.5 s of set-up (the first
   * batch-16 run takes about 5 s), worth it for a server that prepares once (`serve` turns it on), not for
   * a one-off run.
   */
  warmBatchSizes?: boolean;
  /**
   * Decode a tiny bundled clip over loopback HTTP once (warmDecode in src/operators/decode.ts) when the decode
   * stage is firstframe's own, so that what only a process's first decode pays (undici's first connection,
   * FFmpeg's first decoder and filter graph, V8 compiling the MP4 readers) is set-up, not the first run's
   * first frame. About 50–100 ms, once per prepare. Default true.
   */
  warmDecode?: boolean;
  /**
   * Run the prepared pipeline once on the bundled warm-up clip over loopback HTTP (src/pipelines/prime.ts),
   * when its source is one of the HTTP sources and its decoder firstframe's own: what only a pipeline's first
   * run pays (the stages after decode compiled, the infer stage's buffers allocated, the model's first run
   * on a real picture) then happens here and not on the first run's clock. One `pipeline/prime` event with
   * its ms. A failed prime is logged, never fatal. Default true.
   */
  prime?: boolean;
  /**
   * The longest each run holds decoding back while its first model run is in flight (prefetchGate's
   * `holdDuringFirstRun`): on a machine with few cores, the decoder's threads otherwise take the cores the
   * first inference needs, and the first result comes later. One `pipeline/decode-held` event per run
   * says how long it held and why it ended. 0 turns it off. Default {@link DEFAULT_HOLD_DECODE_MS}.
   */
  holdDecodeMs?: number;
  /**
   * Share the model stage of this prepared pipeline instead of loading the model again, when this
   * pipeline's model stage is the same (operator, options and image size): a variant of a served pipeline
   * (the `/predict` frames pipeline: another stride and tracker, the same model) then costs no second
   * session, no second copy of the weights and no second warm-up. The owner releases the model; this
   * pipeline's `release()` leaves it. A different model stage is built as usual.
   */
  inferFrom?: PreparedPipeline;
  /**
   * `auto` (the default): give the model stage's CPU sessions CPUs of their own and every other thread of
   * the process the others, when the machine has few CPUs and the sessions fit (src/core/cpu-placement.ts;
   * once per process, kept by later preparations). `shared`: leave every thread to the scheduler (as does
   * FIRSTFRAME_CORES=shared).
   */
  cores?: 'auto' | 'shared';
}

/**
 * The default cap of {@link PrepareOptions.holdDecodeMs}: a first run on a CPU ends well before (68 ms
 * steady for the bundled detector at 640 on 2 cores), and a run that takes longer (a slow model, a wedged
 * session) delays decoding by this much at most, once per run.
 */
export const DEFAULT_HOLD_DECODE_MS = 500;

/** Source operators that take a loopback URL: the ones a prime can run through. */
const PRIMED_SOURCES = new Set(['http-stream', 'http-partial', 'http-full', 'http-ranges']);

/** A pipeline whose stages are built and whose model is loaded and warmed up: ready to run, many times. */
export interface PreparedPipeline {
  readonly pipeline: ResolvedPipeline;
  /** Milliseconds of set-up (model loading and warm-up). */
  readonly setupMs: number;
  /** What the model stage says about its model (path, task, classes, size, device). */
  readonly model: Readonly<Record<string, unknown>>;
  /**
   * Where the process runs inference (PrepareOptions.cores): its CPUs and the rest's, or why every thread
   * is left to the scheduler.
   */
  readonly cores: PlacementOutcome;
  /** A cold Observable: each subscription is one run on `target` (a URL or a file). */
  run$(target: string, options?: RunOptions): Observable<PipelineEvent>;
  /** One run; resolves with the result document (never rejects for a failed run: see `error`). */
  run(target: string, options?: RunOptions): Promise<RunDocument>;
  /** Frees the model session. */
  release(): Promise<void>;
}

type Built = { [K in StageKind]: StageImplementations[K] };

/** Each prepared pipeline's model stage and what it was built from, for PrepareOptions.inferFrom. */
const inferStages = new WeakMap<PreparedPipeline, { stage: Built['infer']; key: string | undefined }>();

/** What makes two model stages the same one; undefined when it cannot be told (nothing is shared). */
function inferKey(stage: ResolvedPipeline['stages']['infer'], imgSize: number): string | undefined {
  try {
    return JSON.stringify([stage.operator, stage.definition.name, stage.options, imgSize]);
  } catch {
    return undefined;
  }
}

const round1 = (ms: number | undefined): number | null =>
  ms === undefined ? null : Math.round(ms * 10) / 10;
const round2 = (value: number): number => Math.round(value * 100) / 100;

/** What a document frame is made from: an inferred result, or a filled frame (objects with `source`). */
interface AnswerFrame {
  readonly frameNumber: number;
  readonly pts: number;
  readonly source?: 'inferred' | 'filled';
  readonly objects: ReadonlyArray<FrameResult['objects'][number] & { readonly source?: FillSource }>;
}

function documentFrame(result: AnswerFrame): ResultFrame {
  const extra = result as AnswerFrame & { keypoints?: Array<[number, number]> };
  return {
    frameNumber: result.frameNumber,
    pts: Math.round(result.pts * 1e6) / 1e6,
    source: result.source ?? 'inferred',
    objects: result.objects.map((object) => {
      const tracked = object as typeof object & { trackId?: number };
      return {
        bbox: object.bbox.map(round2) as ResultObject['bbox'],
        classId: object.classId,
        className: object.className,
        score: Math.round(object.score * 1e4) / 1e4,
        ...(tracked.trackId !== undefined ? { trackId: tracked.trackId } : {}),
        ...(object.keypoints
          ? {
              keypoints: object.keypoints.map(
                ([x, y, c]) => [round2(x), round2(y), Math.round(c * 1e4) / 1e4] as [number, number, number],
              ),
            }
          : {}),
        source: object.source ?? 'inferred',
      };
    }),
    ...(extra.keypoints ? { keypoints: extra.keypoints } : {}),
  };
}

/** Decode operators whose first run warmDecode warms (firstframe's own; NVDEC's shares its first steps). */
const WARMED_DECODERS = new Set(['beamcoder', 'beamcoder-nvdec']);

/** warmDecode with the pipeline's size and preprocess; a failed warm-up is logged, never fatal. */
async function warmDecodeStage(
  pipeline: ResolvedPipeline,
  onEvent: EventSink | undefined,
  logger: Logger,
): Promise<void> {
  const preprocess = pipeline.stages.decode.options['preprocess'] as DecodeOptions['preprocess'] | undefined;
  try {
    const warm = await warmDecode({ imgSize: pipeline.imgSize, ...(preprocess ? { preprocess } : {}) });
    onEvent?.({ stage: 'decode', name: 'warm-up', at: performance.now(), data: { ...warm } });
    logger.debug({ ms: Math.round(warm.ms), frames: warm.frames }, 'decode warmed up');
  } catch (error) {
    logger.warn({ err: error }, `decode warm-up failed (the first run pays a fresh process's first decode)`);
  }
}

/** Frames converted per task by documentFrames: about 5 ms of the event loop for soccer frames. */
const DOCUMENT_FRAMES_PER_TASK = 64;

/**
 * The answer's frames as the run document gives them, converted a slice at a time, each slice in a task of
 * its own: at a deadline several runs answer at once, and the whole conversion (about 25 ms for 270 soccer
 * frames with keypoints) in one task held the event loop past its 50 ms target with 4 challenges at once.
 */
async function documentFrames(frames: readonly AnswerFrame[]): Promise<ResultFrame[]> {
  const converted: ResultFrame[] = [];
  for (let start = 0; start < frames.length; start += DOCUMENT_FRAMES_PER_TASK) {
    if (start > 0) await nextTask();
    for (const frame of frames.slice(start, start + DOCUMENT_FRAMES_PER_TASK))
      converted.push(documentFrame(frame));
  }
  return converted;
}

/**
 * Builds every stage of a checked pipeline once: the model is loaded and warmed up here, so that its cost
 * is `setupMs` and not part of any run.
 */
export async function preparePipeline(
  resolved: ResolvedPipeline,
  options: PrepareOptions = {},
): Promise<PreparedPipeline> {
  const holdDecodeMs = options.holdDecodeMs ?? DEFAULT_HOLD_DECODE_MS;
  if (!(holdDecodeMs >= 0 && Number.isFinite(holdDecodeMs))) {
    throw new ConfigError(
      codes.config.invalidOption,
      [`holdDecodeMs: expected a number of ms >= 0, got ${JSON.stringify(options.holdDecodeMs)}`],
      { stage: 'prefetch' },
    );
  }
  const logger = options.logger ?? silentLogger;
  const setupStarted = performance.now();
  const built: Partial<Built> = {};
  /** False when the model stage is another prepared pipeline's (inferFrom): its owner releases it. */
  let ownsInfer = true;
  let pipeline = resolved;
  const batchSize = pipeline.stages.batch.options['size'];
  const batchSizes =
    options.warmBatchSizes && typeof batchSize === 'number' && Number.isInteger(batchSize) && batchSize > 1
      ? [batchSize, 1]
      : [1];
  // Without an image size of the user's, the model's fixed input size decides: the model stage is built
  // first, and the others with its size.
  const sizeFromModel = resolved.imgSizeGiven === false;
  const cores = placeCores(resolved, options, logger);
  const order = sizeFromModel
    ? (['infer', ...STAGE_KINDS.filter((kind) => kind !== 'infer')] as const)
    : STAGE_KINDS;
  try {
    for (const kind of order) {
      const stage = pipeline.stages[kind];
      const setup: SetupContext = {
        imgSize: pipeline.imgSize,
        ...(sizeFromModel ? { imgSizeGiven: false } : {}),
        baseDir: pipeline.baseDir,
        batchSizes,
        ...(cores.placed ? { inferenceCores: cores.inference } : {}),
        logger: logger.child({ stage: kind }),
        ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      };
      const shared = kind === 'infer' ? sharedInfer(options.inferFrom, pipeline) : undefined;
      if (shared) {
        built.infer = shared;
        ownsInfer = false;
        continue;
      }
      (built as Record<StageKind, unknown>)[kind] = isListStageKind(kind)
        ? await createListStage(kind, stage, setup)
        : await stage.definition.create(stage.options, setup);
      const modelSize = kind === 'infer' ? built.infer?.describe['imgSize'] : undefined;
      if (sizeFromModel && typeof modelSize === 'number' && modelSize !== pipeline.imgSize) {
        logger.info(
          { imgSize: modelSize, preferred: pipeline.imgSize },
          `image size ${modelSize} from the model's fixed input (no imgSize given; ${pipeline.imgSize} preferred)`,
        );
        pipeline = {
          ...pipeline,
          imgSize: modelSize,
          document: { ...pipeline.document, imgSize: modelSize },
        };
      }
    }
  } catch (error) {
    if (ownsInfer) await built.infer?.release();
    throw error;
  }
  const stages = built as Built;
  const releaseInfer = () => (ownsInfer ? stages.infer.release() : Promise.resolve());
  let rules: ClassRules | undefined;
  try {
    rules = pipelineClassRules(pipeline, stages.infer.describe);
  } catch (error) {
    await releaseInfer();
    throw error;
  }
  const classStage: OperatorFunction<FrameResult, FrameResult> = rules
    ? map((result: FrameResult): FrameResult => ({ ...result, objects: rules.apply(result.objects) }))
    : identity;
  if (options.warmDecode !== false && WARMED_DECODERS.has(pipeline.stages.decode.definition.name)) {
    await warmDecodeStage(pipeline, options.onEvent, logger);
  }
  let setupMs = performance.now() - setupStarted;

  const run$ = (target: string, runOptions: RunOptions = {}): Observable<PipelineEvent> =>
    new Observable<PipelineEvent>((subscriber) => {
      const timeline = createTimeline();
      const firstFrame$ = new ReplaySubject<void>(1);
      const userSink = safeSink(runOptions.onEvent);
      // Made below, once the run's facts exist; the events before that (none of the stride's) pass it by.
      let strideRun: RunStride | undefined = undefined;
      const onEvent: EventSink = (event) => {
        timeline.sink(event);
        strideRun?.observe(event);
        userSink?.(event);
        if (event.stage === 'decode' && event.name === 'first-frame') firstFrame$.next();
        subscriber.next({ type: 'stage', event });
      };
      const emit = (name: string, data: Record<string, unknown>) =>
        onEvent({ stage: 'pipeline', name, at: now(), data });
      const signal = runOptions.signal;
      const cancel$ = !signal ? NEVER : signal.aborted ? of(true) : fromEvent(signal, 'abort').pipe(take(1));
      const onHoldEnd = (hold: FirstRunHold) => {
        if (!subscriber.closed)
          onEvent({ stage: 'pipeline', name: 'decode-held', at: now(), data: { ...hold } });
      };
      const gate = prefetchGate(
        pipeline.prefetch.frames,
        pipeline.prefetch.policy,
        holdDecodeMs > 0 ? { holdDuringFirstRun: { maxMs: holdDecodeMs, onEnd: onHoldEnd } } : {},
      );
      const deadlineAt = runOptions.deadlineAt;
      const spent = deadlineAt !== undefined && deadlineAt <= now();
      const sinkContext: DeadlineSinkContext = {
        firstFrame$,
        cancel$,
        onEvent,
        ...(deadlineAt !== undefined ? { deadlineAt } : {}),
      };
      const sink = stages.sink(sinkContext as SinkContext);
      const limits = runOptions.limits ?? {};
      const limitError = (code: string, message: string, context: Record<string, unknown>) =>
        new FirstframeError(code, `${target}: ${message}`, { url: target, ...context });
      const budget = runByteBudget(limits, target);
      const limitCheck = streamLimitCheck(limits, target);
      let durationS: number | undefined;
      const checkStream = (header: StreamHeader) => {
        limitCheck(header);
        if (header.durationS !== undefined && header.durationS > 0 && durationS === undefined) {
          durationS = header.durationS;
          strideRun?.replan();
        }
      };
      let resource: ResourceInfo | undefined;
      let bytes = 0;
      let firstByteAt: number | undefined;
      let stream: VideoStreamInfo | undefined;
      const sinkBudgetS = pipeline.stages.sink.options['budgetS'];
      const perFrameMs = stages.infer.describe['perFrameMs'];
      // A run whose deadline is already past does not plan: it answers at once (below).
      strideRun =
        isPlannedStride(stages.stride) && !spent
          ? stages.stride.forRun({
              target,
              now,
              perFrameMs: typeof perFrameMs === 'number' && perFrameMs > 0 ? perFrameMs : undefined,
              budgetMs: typeof sinkBudgetS === 'number' ? sinkBudgetS * 1000 : undefined,
              deadlineAt,
              clip: () => ({
                frameCount: stream?.frameCount,
                fps: stream?.fps,
                durationS,
                // Every request's bytes (an edit-skip's Range response, a moov's), not the main response's only.
                bytes: budget.used,
                totalBytes: resource?.totalBytes ?? undefined,
                firstByteAt,
              }),
              onEvent,
            })
          : undefined;
      const context: RunContext = {
        target,
        imgSize: pipeline.imgSize,
        onEvent,
        gate,
        keepFrame: strideKeepsForRun(stages.stride, strideRun),
        deadline$: sink.deadline$,
        drain: Boolean(pipeline.stages.sink.options.drainS),
        logger: (runOptions.logger ?? logger).child({ target }),
        dispatcher: runOptions.dispatcher,
        bytes: budget,
        checkStream,
      };

      let prefix: Uint8Array | undefined;
      let layout: string | undefined;
      let framesDecoded = 0;
      let framesInferred = 0;
      let lastDecodedFrame: number | null = null;
      emit('start', { target, pipeline: pipeline.name });
      const source$ = spent
        ? throwError(
            () =>
              new FirstframeError(
                budgetCodes.spent,
                `${target}: the deadline passed ${Math.round(now() - deadlineAt!)} ms before the run could start (its budget counts from the request's arrival)`,
                { url: target, deadlineAt },
              ),
          )
        : stages.source(context);
      const subscription = source$
        .pipe(
          tap((chunk) => {
            firstByteAt ??= now();
            resource ??= chunk.resource;
            if (chunk.offset === 0 && !prefix) prefix = chunk.bytes.subarray(0, 64 * 1024);
            bytes += chunk.bytes.byteLength;
            // Sources that charge the budget themselves have counted these bytes already (and more);
            // for any other source, the main stream is counted here.
            budget.atLeast(bytes, { url: chunk.resource.url });
          }),
          // The bytes wait while the first model run holds decoding back (counted above, as they came).
          (chunks$) => stages.decode(context)(chunks$.pipe(heldDuringFirstRun(gate))),
          tap((frame) => {
            framesDecoded += 1;
            layout ??= frame.stream.layout;
            const known = stream?.frameCount;
            stream = frame.stream;
            if (framesDecoded === 1 || known !== stream.frameCount) strideRun?.replan();
            if (lastDecodedFrame === null || frame.frameNumber > lastDecodedFrame)
              lastDecodedFrame = frame.frameNumber;
            checkStream({ width: frame.width, height: frame.height, from: `frame ${frame.frameNumber}` });
            if (limits.maxDurationS !== undefined && frame.pts > limits.maxDurationS) {
              throw limitError(
                limitCodes.duration,
                `frame ${frame.frameNumber} at ${frame.pts.toFixed(2)} s is past the ${limits.maxDurationS} s allowed`,
                { frameNumber: frame.frameNumber, pts: frame.pts },
              );
            }
          }),
          // Every frame the stride stage passes over gives its prefetch slot back, whatever its operators.
          releasingSkipped(gate, strideForRun(stages.stride, strideRun, context), { onEvent }),
          stages.batch(context),
          (batches$) => stages.infer.operator(context)(batches$).pipe(classStage),
          stages.track(context),
          tap((frame) => {
            framesInferred += 1;
            if (framesInferred === 1) emit('first-result', { frameNumber: frame.frameNumber });
            subscriber.next({ type: 'frame', frame });
          }),
          sink,
        )
        .subscribe({
          next: (outcome) => {
            const totalMs = now() - timeline.startedAt;
            answerFrames(outcome.results, pipeline, rules, {
              frameCount: stream?.frameCount ?? null,
              lastDecodedFrame,
              complete: outcome.endedBy === 'end',
              fps: stream?.fps ?? null,
            })
              .then(async (answer) => ({ answer, frames: await documentFrames(answer.frames) }))
              .then(
                ({ answer, frames }) => {
                  // Unsubscribed while the answer was being filled: nobody to tell.
                  if (!subscriber.closed) finish(outcome, answer, frames, totalMs);
                },
                (error: unknown) => subscriber.error(error),
              );
          },
          error: (error: unknown) => subscriber.error(error),
        });
      /** The run's document from the sink's outcome and its answer, emitted; the run is over. */
      const finish = (
        outcome: BudgetOutcome<FrameResult>,
        answer: Answer,
        frames: ResultFrame[],
        totalMs: number,
      ) => {
        const error = outcome.error;
        const document: RunDocument = {
          source: {
            url: resource?.url ?? target,
            bytesTotal: resource?.totalBytes ?? null,
            rangeHonoured: resource?.rangeHonoured ?? null,
            layout: layout ?? (prefix ? (sniffLayout(prefix)?.layout ?? null) : null),
          },
          frames,
          timings: {
            setupMs: round1(setupMs) ?? 0,
            headersMs: round1(timeline.msTo('source', 'headers')),
            firstByteMs: round1(timeline.msTo('source', 'first-byte')),
            firstFrameMs: round1(timeline.msTo('decode', 'first-frame')),
            firstResultMs: round1(timeline.msTo('pipeline', 'first-result')),
            totalMs: round1(totalMs) ?? 0,
            // What every request of the run read (the byte budget's count), Range responses included.
            bytesDownloaded: budget.used,
            framesDecoded,
            framesInferred: answer.framesInferred,
            framesInClip: stream?.frameCount ?? null,
            framesAnswered: answer.frames.length,
            framesFilled: answer.frames.length - answer.framesInferred,
            objectsBySource: answer.objectsBySource,
            lastFrameFrom: answer.lastFrameFrom,
            ...(strideRun ? { stride: strideRun.report(timeline.startedAt) } : {}),
            endedBy: spent ? 'budget' : outcome.endedBy,
          },
        };
        if (outcome.endedBy === 'error' || spent) {
          document.error = isFirstframeError(error)
            ? { code: error.code, message: error.message }
            : {
                code: 'FF_ERR_INTERNAL',
                message: error instanceof Error ? error.message : String(error),
              };
        }
        // A run that answers nothing never passes for a success: it says why (src/pipelines/outcome.ts).
        const empty = emptyRunError({
          target: document.source.url,
          endedBy: outcome.endedBy,
          failed: document.error !== undefined,
          headersMs: document.timings.headersMs,
          bytes: document.timings.bytesDownloaded,
          framesDecoded,
          framesInferred: answer.framesInferred,
          totalMs,
        });
        if (empty) document.error = { code: empty.code, message: empty.message };
        emit('end', {
          endedBy: document.timings.endedBy,
          frames: document.frames.length,
          framesInferred: answer.framesInferred,
          totalMs,
        });
        subscriber.next({ type: 'result', result: document });
        subscriber.complete();
      };
      return () => {
        subscription.unsubscribe();
        gate.close();
        firstFrame$.complete();
      };
    });

  const run = (target: string, runOptions?: RunOptions): Promise<RunDocument> =>
    lastValueFrom(
      run$(target, runOptions).pipe(
        filter((event): event is Extract<PipelineEvent, { type: 'result' }> => event.type === 'result'),
        map((event) => event.result),
      ),
    );
  if (
    options.prime !== false &&
    PRIMED_SOURCES.has(pipeline.stages.source.definition.name) &&
    WARMED_DECODERS.has(pipeline.stages.decode.definition.name)
  ) {
    await primeStage(run, options.onEvent, logger);
    setupMs = performance.now() - setupStarted;
  }

  const prepared: PreparedPipeline = {
    pipeline,
    setupMs,
    model: stages.infer.describe,
    cores,
    run$,
    run,
    release: releaseInfer,
  };
  inferStages.set(prepared, { stage: stages.infer, key: inferKey(pipeline.stages.infer, pipeline.imgSize) });
  return prepared;
}

/** `from`'s model stage when it is the one `pipeline` would build (see PrepareOptions.inferFrom). */
function sharedInfer(
  from: PreparedPipeline | undefined,
  pipeline: ResolvedPipeline,
): Built['infer'] | undefined {
  const entry = from ? inferStages.get(from) : undefined;
  if (!entry || entry.key === undefined) return undefined;
  return entry.key === inferKey(pipeline.stages.infer, pipeline.imgSize) ? entry.stage : undefined;
}

/**
 * PrepareOptions.cores: places the process's inference (src/core/cpu-placement.ts) for the model stage's
 * CPU sessions; one `pipeline/cores` event says where, or why not.
 */
function placeCores(pipeline: ResolvedPipeline, options: PrepareOptions, logger: Logger): PlacementOutcome {
  const infer = pipeline.stages.infer;
  const sessions = infer.definition.cpuSessions?.(infer.options);
  const cores: PlacementOutcome =
    options.cores === 'shared'
      ? { placed: false, reason: 'cores: shared leaves every thread to the scheduler' }
      : sessions === undefined
        ? {
            placed: false,
            reason: `infer operator ${infer.definition.name} does not say how many CPU sessions it runs`,
          }
        : placeInference(sessions);
  options.onEvent?.({ stage: 'pipeline', name: 'cores', at: performance.now(), data: { ...cores } });
  if (cores.placed) {
    logger.info(
      { inference: cores.inference, rest: cores.rest },
      `inference on CPU ${cores.inference.join(', ')}; the rest of the process on CPU ${cores.rest.join(', ')}`,
    );
  } else {
    logger.debug({ reason: cores.reason }, `inference CPUs left to the scheduler: ${cores.reason}`);
  }
  return cores;
}

/** One run on the bundled clip (primeWith); a failed prime is logged, never fatal. */
async function primeStage(
  run: (target: string, options: RunOptions) => Promise<RunDocument>,
  onEvent: EventSink | undefined,
  logger: Logger,
): Promise<void> {
  try {
    const primed = await primeWith(async (target, primeOptions) => {
      const document = await run(target, primeOptions);
      return { ...document.timings, ...(document.error ? { error: document.error } : {}) };
    });
    onEvent?.({ stage: 'pipeline', name: 'prime', at: performance.now(), data: { ...primed } });
    if (primed.error) {
      logger.warn(
        { ms: Math.round(primed.ms), code: primed.error.code },
        `pipeline prime ended with ${primed.error.code} (the first run pays what it would have warmed)`,
      );
    } else {
      logger.debug({ ms: Math.round(primed.ms), frames: primed.framesInferred }, 'pipeline primed');
    }
  } catch (error) {
    logger.warn({ err: error }, `pipeline prime failed (the first run pays what it would have warmed)`);
  }
}

/**
 * The pipeline's class rules, checked against the model's class names (`describe.classes`, when the model
 * stage gives them): a class map naming classes the model does not have is a ConfigError
 * (FF_ERR_UNKNOWN_CLASS) listing them. Undefined when the document has no `classes`.
 */
function pipelineClassRules(
  pipeline: ResolvedPipeline,
  describe: Readonly<Record<string, unknown>>,
): ClassRules | undefined {
  if (!pipeline.classes) return undefined;
  const names = describe.classes;
  const modelClasses =
    Array.isArray(names) && names.every((name) => typeof name === 'string') ? (names as string[]) : undefined;
  return compileClassRules(pipeline.classes, modelClasses);
}

interface Answer {
  readonly frames: AnswerFrame[];
  readonly framesInferred: number;
  readonly objectsBySource: Record<FillSource, number>;
  readonly lastFrameFrom: FillStats['lastFrameFrom'];
}

/**
 * The frames a run answers: with the fill stage, every frame from 0 to the last (the clip's when the run
 * read it whole and the index gives its frame count, else the last decoded one), the class rules' limits
 * applied to each; without it, the inferred frames in order.
 */
async function answerFrames(
  results: readonly FrameResult[],
  pipeline: ResolvedPipeline,
  rules: ClassRules | undefined,
  clip: { frameCount: number | null; lastDecodedFrame: number | null; complete: boolean; fps: number | null },
): Promise<Answer> {
  if (pipeline.fill === false) {
    const frames = [...results].sort((a, b) => a.frameNumber - b.frameNumber);
    const objects = frames.reduce((sum, frame) => sum + frame.objects.length, 0);
    return {
      frames,
      framesInferred: frames.length,
      objectsBySource: { inferred: objects, interpolated: 0, extrapolated: 0 },
      lastFrameFrom: null,
    };
  }
  // In tasks of its own, phase by phase: at a deadline the event loop has timers and answers to serve.
  const filled = await fillInTasks(
    results,
    clip,
    {
      ...pipeline.fill,
      ...(rules ? { select: (objects) => rules.limit(objects) } : {}),
    },
    nextTask,
  );
  return {
    frames: filled.frames,
    framesInferred: filled.stats.framesInferred,
    objectsBySource: filled.stats.objects,
    lastFrameFrom: filled.stats.lastFrameFrom,
  };
}
