import { NEVER, Observable, ReplaySubject, filter, fromEvent, lastValueFrom, map, of, take, tap } from 'rxjs';
import type { Dispatcher } from 'undici';
import { FirstframeError, isFirstframeError } from '../core/errors.js';
import { createTimeline, safeSink, type EventSink, type StageEvent } from '../core/events.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { sniffLayout } from '../media/layout.js';
import type { FrameResult } from '../operators/infer.js';
import { prefetchGate } from '../operators/prefetch.js';
import type { EndedBy } from '../sinks/budget.js';
import type { ResourceInfo } from '../sources/types.js';
import type { ResolvedPipeline } from './document.js';
import { emptyRunError } from './outcome.js';
import {
  STAGE_KINDS,
  type RunContext,
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
}

export interface ResultFrame {
  frameNumber: number;
  pts: number;
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
    framesInferred: number;
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
  /** Bytes downloaded; past it the run ends with FF_ERR_LIMIT_BYTES. */
  maxBytes?: number;
  /** Source width and height; a larger video ends the run with FF_ERR_LIMIT_RESOLUTION at its first frame. */
  maxWidth?: number;
  maxHeight?: number;
  /** Seconds of video; a frame past it ends the run with FF_ERR_LIMIT_DURATION. */
  maxDurationS?: number;
}

export const limitCodes = {
  bytes: 'FF_ERR_LIMIT_BYTES',
  resolution: 'FF_ERR_LIMIT_RESOLUTION',
  duration: 'FF_ERR_LIMIT_DURATION',
} as const;

export interface RunOptions {
  /** Cancels the run: it answers at once with `endedBy: 'cancelled'` and the results so far. */
  signal?: AbortSignal;
  onEvent?: EventSink;
  logger?: Logger;
  /** The HTTP dispatcher for this run's requests (e.g. a URL-guarded one); default the shared one. */
  dispatcher?: Dispatcher;
  limits?: RunLimits;
}

export interface PrepareOptions {
  /** Events of the set-up (model loading, warm-up, device fallback). */
  onEvent?: EventSink;
  logger?: Logger;
}

/** A pipeline whose stages are built and whose model is loaded and warmed up: ready to run, many times. */
export interface PreparedPipeline {
  readonly pipeline: ResolvedPipeline;
  /** Milliseconds of set-up (model loading and warm-up). */
  readonly setupMs: number;
  /** What the model stage says about its model (path, task, classes, size, device). */
  readonly model: Readonly<Record<string, unknown>>;
  /** A cold Observable: each subscription is one run on `target` (a URL or a file). */
  run$(target: string, options?: RunOptions): Observable<PipelineEvent>;
  /** One run; resolves with the result document (never rejects for a failed run: see `error`). */
  run(target: string, options?: RunOptions): Promise<RunDocument>;
  /** Frees the model session. */
  release(): Promise<void>;
}

type Built = { [K in StageKind]: StageImplementations[K] };

const round1 = (ms: number | undefined): number | null =>
  ms === undefined ? null : Math.round(ms * 10) / 10;
const round2 = (value: number): number => Math.round(value * 100) / 100;

function documentFrame(result: FrameResult): ResultFrame {
  const extra = result as FrameResult & { keypoints?: Array<[number, number]> };
  return {
    frameNumber: result.frameNumber,
    pts: Math.round(result.pts * 1e6) / 1e6,
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
      };
    }),
    ...(extra.keypoints ? { keypoints: extra.keypoints } : {}),
  };
}

/**
 * Builds every stage of a checked pipeline once: the model is loaded and warmed up here, so that its cost
 * is `setupMs` and not part of any run.
 */
export async function preparePipeline(
  pipeline: ResolvedPipeline,
  options: PrepareOptions = {},
): Promise<PreparedPipeline> {
  const logger = options.logger ?? silentLogger;
  const setupStarted = performance.now();
  const built: Partial<Built> = {};
  try {
    for (const kind of STAGE_KINDS) {
      const stage = pipeline.stages[kind];
      (built as Record<StageKind, unknown>)[kind] = await stage.definition.create(stage.options, {
        imgSize: pipeline.imgSize,
        baseDir: pipeline.baseDir,
        logger: logger.child({ stage: kind }),
        ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      });
    }
  } catch (error) {
    await built.infer?.release();
    throw error;
  }
  const stages = built as Built;
  const setupMs = performance.now() - setupStarted;

  const run$ = (target: string, runOptions: RunOptions = {}): Observable<PipelineEvent> =>
    new Observable<PipelineEvent>((subscriber) => {
      const timeline = createTimeline();
      const firstFrame$ = new ReplaySubject<void>(1);
      const userSink = safeSink(runOptions.onEvent);
      const onEvent: EventSink = (event) => {
        timeline.sink(event);
        userSink?.(event);
        if (event.stage === 'decode' && event.name === 'first-frame') firstFrame$.next();
        subscriber.next({ type: 'stage', event });
      };
      const emit = (name: string, data: Record<string, unknown>) =>
        onEvent({ stage: 'pipeline', name, at: performance.now(), data });
      const signal = runOptions.signal;
      const cancel$ = !signal ? NEVER : signal.aborted ? of(true) : fromEvent(signal, 'abort').pipe(take(1));
      const gate = prefetchGate(pipeline.prefetch.frames, pipeline.prefetch.policy);
      const sinkContext: SinkContext = { firstFrame$, cancel$, onEvent };
      const sink = stages.sink(sinkContext);
      const context: RunContext = {
        target,
        imgSize: pipeline.imgSize,
        onEvent,
        gate,
        keepFrame: stages.stride.keeps,
        deadline$: sink.deadline$,
        drain: Boolean(pipeline.stages.sink.options.drainS),
        logger: (runOptions.logger ?? logger).child({ target }),
        dispatcher: runOptions.dispatcher,
      };
      const limits = runOptions.limits ?? {};
      const limitError = (code: string, message: string, context: Record<string, unknown>) =>
        new FirstframeError(code, `${target}: ${message}`, { url: target, ...context });

      let resource: ResourceInfo | undefined;
      let prefix: Uint8Array | undefined;
      let layout: string | undefined;
      let bytes = 0;
      let framesDecoded = 0;
      let framesInferred = 0;
      emit('start', { target, pipeline: pipeline.name });
      const subscription = stages
        .source(context)
        .pipe(
          tap((chunk) => {
            resource ??= chunk.resource;
            if (chunk.offset === 0 && !prefix) prefix = chunk.bytes.subarray(0, 64 * 1024);
            bytes += chunk.bytes.byteLength;
            if (limits.maxBytes !== undefined && bytes > limits.maxBytes) {
              throw limitError(limitCodes.bytes, `more than the ${limits.maxBytes} bytes allowed`, {
                maxBytes: limits.maxBytes,
              });
            }
          }),
          stages.decode(context),
          tap((frame) => {
            framesDecoded += 1;
            layout ??= frame.stream.layout;
            if (
              (limits.maxWidth !== undefined && frame.width > limits.maxWidth) ||
              (limits.maxHeight !== undefined && frame.height > limits.maxHeight)
            ) {
              throw limitError(
                limitCodes.resolution,
                `${frame.width}×${frame.height} video is larger than the ${limits.maxWidth ?? '∞'}×${limits.maxHeight ?? '∞'} allowed`,
                { width: frame.width, height: frame.height },
              );
            }
            if (limits.maxDurationS !== undefined && frame.pts > limits.maxDurationS) {
              throw limitError(
                limitCodes.duration,
                `frame ${frame.frameNumber} at ${frame.pts.toFixed(2)} s is past the ${limits.maxDurationS} s allowed`,
                { frameNumber: frame.frameNumber, pts: frame.pts },
              );
            }
          }),
          stages.stride.operator(context),
          stages.batch(context),
          stages.infer.operator(context),
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
            const totalMs = performance.now() - timeline.startedAt;
            const error = outcome.error;
            const document: RunDocument = {
              source: {
                url: resource?.url ?? target,
                bytesTotal: resource?.totalBytes ?? null,
                rangeHonoured: resource?.rangeHonoured ?? null,
                layout: layout ?? (prefix ? (sniffLayout(prefix)?.layout ?? null) : null),
              },
              frames: [...outcome.results].sort((a, b) => a.frameNumber - b.frameNumber).map(documentFrame),
              timings: {
                setupMs: round1(setupMs) ?? 0,
                headersMs: round1(timeline.msTo('source', 'headers')),
                firstByteMs: round1(timeline.msTo('source', 'first-byte')),
                firstFrameMs: round1(timeline.msTo('decode', 'first-frame')),
                firstResultMs: round1(timeline.msTo('pipeline', 'first-result')),
                totalMs: round1(totalMs) ?? 0,
                bytesDownloaded: bytes,
                framesDecoded,
                framesInferred: outcome.results.length,
                endedBy: outcome.endedBy,
              },
            };
            if (outcome.endedBy === 'error') {
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
              bytes,
              framesDecoded,
              framesInferred: document.frames.length,
              totalMs,
            });
            if (empty) document.error = { code: empty.code, message: empty.message };
            emit('end', { endedBy: outcome.endedBy, frames: document.frames.length, totalMs });
            subscriber.next({ type: 'result', result: document });
            subscriber.complete();
          },
          error: (error: unknown) => subscriber.error(error),
        });
      return () => {
        subscription.unsubscribe();
        gate.close();
        firstFrame$.complete();
      };
    });

  return {
    pipeline,
    setupMs,
    model: stages.infer.describe,
    run$,
    run: (target, runOptions) =>
      lastValueFrom(
        run$(target, runOptions).pipe(
          filter((event): event is Extract<PipelineEvent, { type: 'result' }> => event.type === 'result'),
          map((event) => event.result),
        ),
      ),
    release: () => stages.infer.release(),
  };
}
