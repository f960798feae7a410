import { isDeepStrictEqual } from 'node:util';
import { map, merge, timer, type Observable, type Subscription } from 'rxjs';
import { TestScheduler, type RunHelpers } from 'rxjs/testing';
import { withClock, type Clock } from '../core/clock.js';
import { ConfigError, FirstframeError, codes } from '../core/errors.js';
import type { StageEvent } from '../core/events.js';
import type { Detection } from '../inference/heads/types.js';
import type { DecodedFrame } from '../operators/decode.js';
import { resolvePipeline, type UntypedPipelineDocument } from '../pipelines/document.js';
import { defaultRegistry } from '../pipelines/operators.js';
import { PROFILES } from '../pipelines/profiles.js';
import { copyRegistry, type OperatorRegistry } from '../pipelines/registry.js';
import {
  preparePipeline,
  type PipelineEvent,
  type PreparedPipeline,
  type RunDocument,
  type RunOptions,
} from '../pipelines/runner.js';
import { fakeModel, type FakeModel } from './fake-model.js';
import {
  VIRTUAL_OPERATOR,
  testingCodes,
  virtualDecode,
  virtualSource,
  withVirtualFrames,
} from './virtual-stages.js';

/**
 * A pipeline document, as every function taking one accepts it: a typed `PipelineDocument` (a misspelt
 * option fails `tsc`) or one built at run time; the stages are checked against the registry's codecs when
 * the document is prepared (your own operators' names and options too).
 */
export type VirtualDocument = UntypedPipelineDocument;

/** The frames of a virtual run. */
export type VirtualFrames =
  readonly DecodedFrame[] | Observable<DecodedFrame> | ((helpers: RunHelpers) => Observable<DecodedFrame>);

export interface PrepareVirtualOptions {
  /** The model: it replaces the document's infer stage; default a fake model that finds nothing, at once. */
  model?: FakeModel;
  /** Where the document's operators are found; default the shipped ones (copied: yours is not changed). */
  registry?: OperatorRegistry;
  /** Relative paths in the document point from here; default the working directory. */
  baseDir?: string;
}

export interface VirtualRunOptions extends PrepareVirtualOptions {
  /**
   * The clip, as the decode stage would emit it: an array of frames (`frames(n, …)`), each emitted at its
   * pts (a decoder at the clip's rate; see `frameIntervalMs`), completing with the last; an Observable;
   * or a function of the TestScheduler's helpers, for marbles: `({ cold }) => cold('a 39ms b|', { a, b })`.
   * Observables run in virtual time: rxjs's timers in them are virtual.
   */
  frames: VirtualFrames;
  /** An array's frames this many milliseconds apart instead of by their pts (0: all at once). */
  frameIntervalMs?: number;
  /**
   * An array's frames at the times of a marble diagram instead: letter `a` is the first frame, `b` the
   * second, …; `|` ends the clip, `#` fails the decoder. `'abcd 200ms e 500ms |'`: four frames at 0 to
   * 3 ms, the fifth at 204 ms, the end at 705 ms.
   */
  marble?: string;
  /**
   * Passed to the run. `deadlineAt` is in virtual milliseconds (the run starts at 0); `signal` cancels it
   * only before the run, since nothing else runs during virtual time.
   */
  run?: Pick<RunOptions, 'limits' | 'deadlineAt' | 'signal'>;
}

/** A stage event at the virtual time it happened (milliseconds from the run's start). */
export interface TimedEvent extends StageEvent {
  readonly at: number;
}

/** A result as it left the pipeline (after tracking), at its virtual time. */
export interface TimedResult {
  readonly at: number;
  readonly frameNumber: number;
  readonly objects: readonly Detection[];
}

/** One model run: when it started and ended, and the frames whose results came out of it. */
export interface TimedModelRun {
  readonly startedAt: number;
  /**
   * When the model finished: after the answer for a run the sink cut at the deadline (its frames are then
   * not answered: `frameNumbers` is empty), undefined if its model never finished.
   */
  readonly endedAt: number | undefined;
  readonly frameNumbers: readonly number[];
}

/** What a run in virtual time did, and when: every time in milliseconds from the run's start. */
export interface VirtualRun {
  /** The run's result document, as `run` answers it. */
  readonly document: RunDocument;
  /** Every stage event, in order. */
  readonly events: readonly TimedEvent[];
  /** Every result, in the order they came out. */
  readonly results: readonly TimedResult[];
  /** When the first result came out; undefined without results. */
  readonly firstResultAt: number | undefined;
  /** The batches as the batch stage emitted them. */
  readonly batches: ReadonlyArray<{ readonly at: number; readonly size: number; readonly reason: string }>;
  /** The model's runs (infer's run-start and run-end events). */
  readonly runs: readonly TimedModelRun[];
  /** When the sink's deadline came (the budget spent); undefined if it never came. */
  readonly deadlineAt: number | undefined;
  /** When the sink answered. */
  readonly endedAt: number;
}

let virtualRuns = 0;

/** A copy of `registry` with the virtual source and decode stages and `model`'s infer operator. */
function virtualRegistry(registry: OperatorRegistry, model: FakeModel): OperatorRegistry {
  const copy = copyRegistry(registry);
  copy.register(virtualSource, { replace: true });
  copy.register(virtualDecode, { replace: true });
  copy.register(model.operator, { replace: true });
  return copy;
}

/**
 * Prepares `document` for runs in virtual time: its source and decode stages become the virtual ones
 * (the frames given to each run), its infer stage the fake `model`; every other stage (stride, batch,
 * track, sink, fill, class rules) is the document's own, as it runs in production.
 *
 * @returns a prepared pipeline for {@link runInVirtualTime}; release it when done (the fake holds nothing).
 */
export async function prepareVirtual(
  document: VirtualDocument,
  options: PrepareVirtualOptions = {},
): Promise<PreparedPipeline> {
  const model = options.model ?? fakeModel();
  const registry = virtualRegistry(options.registry ?? defaultRegistry(), model);
  const pipeline = resolvePipeline(
    {
      ...document,
      source: { operator: VIRTUAL_OPERATOR },
      decode: { operator: VIRTUAL_OPERATOR },
      infer: { operator: model.name },
    } as VirtualDocument,
    { registry, profiles: PROFILES, ...(options.baseDir ? { baseDir: options.baseDir } : {}) },
  );
  return preparePipeline(pipeline);
}

function validate(options: VirtualRunOptions): void {
  const problems: string[] = [];
  const interval = options.frameIntervalMs;
  if (interval !== undefined && !(Number.isFinite(interval) && interval >= 0)) {
    problems.push(`frameIntervalMs: expected a number >= 0, got ${JSON.stringify(interval)}`);
  }
  if (options.frames === undefined || options.frames === null) {
    problems.push('frames: expected frames (an array, an Observable or a function of the marble helpers)');
  }
  if (options.marble !== undefined) {
    if (!Array.isArray(options.frames)) {
      problems.push('marble: gives the times of an array of frames; got no array in frames');
    } else if (options.frames.length > 52) {
      problems.push(`marble: letters name at most 52 frames (a…z, A…Z), got ${options.frames.length}`);
    }
    if (interval !== undefined) problems.push('marble and frameIntervalMs: give one or the other');
  }
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems, { stage: 'testing' });
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
/** The marble letter of the frame at `index`: a…z, then A…Z (marbles take one character per value). */
const marbleLetter = (index: number): string =>
  index < 26 ? LETTERS[index]! : LETTERS[index - 26]!.toUpperCase();

/** The frames as an Observable in virtual time. */
function framesOf(options: VirtualRunOptions, helpers: RunHelpers): Observable<DecodedFrame> {
  const frames = options.frames;
  if (typeof frames === 'function') return frames(helpers);
  if (!Array.isArray(frames)) return frames as Observable<DecodedFrame>;
  const list = frames as readonly DecodedFrame[];
  if (options.marble !== undefined) {
    const values = Object.fromEntries(list.map((frame, index) => [marbleLetter(index), frame]));
    return helpers.cold(options.marble, values);
  }
  const firstPts = list[0]?.pts ?? 0;
  const interval = options.frameIntervalMs;
  // To the microsecond: 0.14 s × 1000 is 140.00000000000003 in floating point.
  const atOf = (frame: DecodedFrame, index: number) =>
    interval === undefined ? Math.max(0, Math.round((frame.pts - firstPts) * 1e6) / 1e3) : index * interval;
  // Frames at the same time go out in order: their timers fire in the order they were scheduled.
  return merge(...list.map((frame, index) => timer(atOf(frame, index)).pipe(map(() => frame))));
}

/**
 * Runs a whole pipeline in virtual time (rxjs's TestScheduler): the batch stage's `maxWaitMs`, the budget
 * sink's deadline and drain, the fake model's latency and the stride's plans all take virtual
 * milliseconds, so the run is exact and instant: a 10 s budget takes no 10 s, and the same run gives the
 * same times every time.
 *
 * Given a document, it is prepared with {@link prepareVirtual} (and released after); a pipeline prepared
 * with `prepareVirtual` can run many times. The run is subscribed at virtual time 0 inside
 * `TestScheduler.run`, with the run's clock (`performance.now()`, `setImmediate`) swapped for the test
 * scheduler's while it flushes; the answer (the fill stage, the document) is made after, as in production
 * it is made after the sink's answer.
 *
 * ```text
 * frames(750, { fps: 25 })         a frame every 40 ms: 0 at 0 ms, 1 at 40, 2 at 80, 3 at 120, …
 * batch { size: 4, maxWaitMs: 50 } [0, 1] at 50 ms (its first frame waited 50 ms), [2, 3] at 130, …
 * fakeModel({ latencyMs: 30 })      [0, 1] runs from 50 to 80 ms, [2, 3] from 130 to 160, …
 * results                           0 and 1 at 80 ms (firstResultAt), 2 and 3 at 160, … 22 and 23 at 960
 * sink { budgetS: 1 }               the deadline at 1000 ms: the answer, 24 frames, endedBy 'budget'
 * ```
 *
 * @example
 * const run = await runInVirtualTime(
 *   { batch: { size: 4, maxWaitMs: 50 }, sink: { budgetS: 1 } },
 *   { model: fakeModel({ latencyMs: 30 }), frames: frames(100, { fps: 25 }) },
 * );
 * run.firstResultAt; // 80
 * @returns every event, result, batch and model run with its virtual time, and the result document.
 *   Rejects with FF_ERR_VIRTUAL_RUN_OPEN if virtual time runs out with the run still open (frames that
 *   never end and no budget), and with the run's error if it fails outside the sink (which answers errors).
 */
export async function runInVirtualTime(
  pipeline: VirtualDocument | PreparedPipeline,
  options: VirtualRunOptions,
): Promise<VirtualRun> {
  validate(options);
  if (!isPrepared(pipeline)) {
    const prepared = await prepareVirtual(pipeline, options);
    try {
      return await runPrepared(prepared, options);
    } finally {
      await prepared.release();
    }
  }
  return runPrepared(pipeline, options);
}

const isPrepared = (pipeline: VirtualDocument | PreparedPipeline): pipeline is PreparedPipeline =>
  typeof (pipeline as Partial<PreparedPipeline>).run$ === 'function';

async function runPrepared(prepared: PreparedPipeline, options: VirtualRunOptions): Promise<VirtualRun> {
  const scheduler = new TestScheduler((actual, expected) => {
    if (!isDeepStrictEqual(actual, expected)) {
      throw new Error(`expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
    }
  });
  const clock: Clock = { now: () => scheduler.now(), nextTask: () => Promise.resolve() };
  const target = `virtual:${(virtualRuns += 1)}`;
  const events: TimedEvent[] = [];
  const results: TimedResult[] = [];
  const runs: Array<{ startedAt: number; endedAt: number | undefined; frameNumbers: number[] }> = [];
  let reading: (typeof runs)[number] | undefined;
  let framesRead = false;
  let answered = false;
  let failure: { error: unknown } | undefined;
  let subscription: Subscription | undefined;
  let settle: ((event: PipelineEvent | { error: unknown }) => void) | undefined;
  const after = new Promise<PipelineEvent | { error: unknown }>((resolve) => (settle = resolve));

  const onEvent = (event: PipelineEvent) => {
    const at = scheduler.now();
    if (event.type === 'stage') {
      const timed = { ...event.event, at };
      events.push(timed);
      if (timed.stage === 'infer' && timed.name === 'run-start') {
        runs.push({ startedAt: at, endedAt: undefined, frameNumbers: [] });
      } else if (timed.stage === 'infer' && timed.name === 'run-end') {
        reading = runs.find((run) => run.endedAt === undefined);
        if (reading) reading.endedAt = at;
      } else if (timed.stage === 'sink' && timed.name === 'end') {
        answered = true;
      }
    } else if (event.type === 'frame') {
      results.push({ at, frameNumber: event.frame.frameNumber, objects: event.frame.objects });
      reading?.frameNumbers.push(event.frame.frameNumber);
    } else {
      settle?.(event);
    }
  };

  withClock(clock, () =>
    scheduler.run((helpers) =>
      withVirtualFrames(
        target,
        () => {
          framesRead = true;
          return framesOf(options, helpers);
        },
        () => {
          subscription = prepared.run$(target, options.run ?? {}).subscribe({
            next: onEvent,
            error: (error: unknown) => {
              failure = { error };
              settle?.({ error });
            },
          });
          // Everything of the run happens here, in virtual time.
          helpers.flush();
        },
      ),
    ),
  );

  if (failure) throw failure.error;
  if (!framesRead) {
    subscription?.unsubscribe();
    throw new FirstframeError(
      testingCodes.notVirtual,
      `runInVirtualTime: the pipeline never read the virtual frames; its decode stage must be the virtual one (prepare it with prepareVirtual)`,
    );
  }
  if (!answered) {
    subscription?.unsubscribe();
    throw new FirstframeError(
      testingCodes.runOpen,
      `runInVirtualTime: virtual time ran out at ${scheduler.now()} ms with the run still open (${results.length} results): frames that never end, and no budget?`,
      { at: scheduler.now(), results: results.length },
    );
  }
  const end = await after;
  if ('error' in end) throw end.error;
  if (end.type !== 'result') throw new Error('unreachable: the run settles with its result');
  const at = (stage: string, name: string) => events.find((e) => e.stage === stage && e.name === name)?.at;
  return {
    document: end.result,
    events,
    results,
    firstResultAt: results[0]?.at,
    batches: events
      .filter((event) => event.stage === 'batch' && event.name === 'batch')
      .map((event) => ({
        at: event.at,
        size: event.data?.['size'] as number,
        reason: event.data?.['reason'] as string,
      })),
    runs,
    deadlineAt: at('sink', 'deadline'),
    endedAt: at('sink', 'end')!,
  };
}
