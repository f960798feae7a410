import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { ConfigError, ModelError, codes, isFirstframeError } from '../core/errors.js';
import type { Detection, ModelHead } from '../inference/heads/types.js';
import { planeOf } from '../inference/input-tensor.js';
import type { LoadedModel, ModelOutput } from '../inference/model.js';
import { modelCodes } from '../inference/model.js';
import type { DecodedFrame } from '../operators/decode.js';
import { infer } from '../operators/infer.js';
import { defineOperator, type OperatorDefinition } from '../pipelines/registry.js';

/** Stable codes of the fake model. */
export const fakeModelCodes = {
  /** The user's `detect` threw (the message names the frame; `cause` is what it threw). */
  detectFailed: 'FF_ERR_FAKE_DETECT',
} as const;

/** What a fake model's latency function is told about a run. */
export interface FakeBatch {
  /** Frames in the run. */
  readonly frames: number;
  /** The batch the model computes: `frames`, or the fixed batch size (the rest is padding). */
  readonly count: number;
}

export interface FakeModelOptions {
  /**
   * The detections of one frame; default none. Called when the frame's run ends; a throw fails the run with
   * FF_ERR_FAKE_DETECT naming the frame (a FirstframeError passes as it is).
   */
  detect?: (frame: DecodedFrame) => readonly Detection[];
  /**
   * Milliseconds a run takes, on the scheduler (virtual inside `TestScheduler.run`): one number for every
   * run, or one per run from its size; default 0.
   */
  latencyMs?: number | ((batch: FakeBatch) => number);
  /** The class names the model says it has (class rules are checked against them); default `['object']`. */
  classes?: readonly string[];
  /** A fixed batch size (a run of fewer frames is padded, and takes as long), or `'dynamic'` (default). */
  batch?: number | 'dynamic';
  /** What the model stage says its per-frame time is (`describe.perFrameMs`), for fit-budget's first plan. */
  perFrameMs?: number;
  /** The infer operator's name; default `fake`. */
  name?: string;
  /** Where the latency runs; default rxjs's asyncScheduler (which `TestScheduler.run` virtualises). */
  scheduler?: SchedulerLike;
}

/** One run of a fake model: when it started and ended (the scheduler's time) and the frames it had. */
export interface FakeRun {
  /** 1 for the first run of this fake model (over every pipeline and run it served). */
  readonly index: number;
  readonly startedAt: number;
  /** Undefined while the run is in progress. */
  readonly endedAt: number | undefined;
  /** The batch the model computed (the fixed batch size for a padded run). */
  readonly count: number;
  /** The frame numbers of the run, in batch order. */
  readonly frameNumbers: readonly number[];
}

/** A model whose results come from a function: no ONNX file, its run time on the rxjs scheduler. */
export interface FakeModel {
  /** The infer operator's name (`infer: { operator: NAME }` in a document). */
  readonly name: string;
  /**
   * The infer operator: register it (`registry.register(model.operator)`) and name it in a document;
   * `runInVirtualTime` does both when given a document. It runs the shipped `infer` stage on the fake.
   */
  readonly operator: OperatorDefinition<'infer', Record<string, never>>;
  /** The model itself, for the `infer` operator used alone: `frames$.pipe(batch(…), infer(model.load()))`. */
  load(imgSize?: number): LoadedModel;
  /** Every run so far, oldest first. */
  readonly runs: readonly FakeRun[];
}

interface MutableRun {
  index: number;
  startedAt: number;
  endedAt: number | undefined;
  count: number;
  frameNumbers: number[];
}

function validate(options: FakeModelOptions): void {
  const problems: string[] = [];
  const latency = options.latencyMs;
  if (latency !== undefined && typeof latency !== 'function' && !(Number.isFinite(latency) && latency >= 0)) {
    problems.push(
      `fakeModel.latencyMs: expected a number >= 0 or a function, got ${JSON.stringify(latency)}`,
    );
  }
  if (options.detect !== undefined && typeof options.detect !== 'function') {
    problems.push(`fakeModel.detect: expected a function, got ${typeof options.detect}`);
  }
  const batch = options.batch;
  if (batch !== undefined && batch !== 'dynamic' && !(Number.isInteger(batch) && batch > 0)) {
    problems.push(`fakeModel.batch: expected a positive integer or "dynamic", got ${JSON.stringify(batch)}`);
  }
  if (options.classes !== undefined && options.classes.length === 0) {
    problems.push('fakeModel.classes: expected at least one class name, got none');
  }
  const perFrame = options.perFrameMs;
  if (perFrame !== undefined && !(Number.isFinite(perFrame) && perFrame > 0)) {
    problems.push(`fakeModel.perFrameMs: expected a positive number, got ${JSON.stringify(perFrame)}`);
  }
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems, { stage: 'infer' });
}

/**
 * A promise-like settled by the scheduler `ms` from now. A real Promise calls back in a microtask, after
 * `TestScheduler.run` has flushed virtual time, so the infer stage would see every result after the run;
 * this one calls back within the scheduler's action, at the virtual time it settles.
 */
function settleOn<T>(scheduler: SchedulerLike, ms: number, outcome: () => T): Promise<T> {
  type Callbacks = [((value: T) => unknown) | undefined, ((error: unknown) => unknown) | undefined];
  const waiting: Callbacks[] = [];
  let settled: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  const call = ([ok, fail]: Callbacks) => {
    if (settled?.ok) ok?.(settled.value);
    else if (settled) fail?.(settled.error);
  };
  scheduler.schedule(() => {
    try {
      settled = { ok: true, value: outcome() };
    } catch (error) {
      settled = { ok: false, error };
    }
    waiting.splice(0).forEach(call);
  }, ms);
  const thenable = {
    then(ok?: (value: T) => unknown, fail?: (error: unknown) => unknown) {
      if (settled) call([ok, fail]);
      else waiting.push([ok, fail]);
      return thenable;
    },
  };
  return thenable as unknown as Promise<T>;
}

/**
 * A fake model for tests: its detections come from `detect(frame)`, each run takes `latencyMs` on the rxjs
 * scheduler, and it plugs into the shipped `infer` stage as a loaded model would (one run at a time,
 * prefetch slots given back, the drain stop), so a pipeline with it times exactly as with a real model
 * of that speed. Inside `TestScheduler.run` (or `runInVirtualTime`) its runs take virtual time.
 *
 * ```text
 * batches:  -A---B|                 fakeModel({ latencyMs: 3 })
 * model:    -AAA-BBB                one run at a time, 3 ms each
 * results:  ----a---(b|)            a: the results of A's frames, when its run ends
 * ```
 *
 * @example
 * const model = fakeModel({
 *   latencyMs: 30,
 *   classes: ['ball'],
 *   detect: (frame) => [{ bbox: [frame.frameNumber, 10, frame.frameNumber + 8, 18], classId: 0, className: 'ball', score: 0.9 }],
 * });
 * frames$.pipe(batch({ size: 4 }), infer(model.load(640)));
 * @returns the model as an infer operator (`operator`) and as a loaded model (`load`), with its runs.
 */
export function fakeModel(options: FakeModelOptions = {}): FakeModel {
  validate(options);
  const scheduler = options.scheduler ?? asyncScheduler;
  const name = options.name ?? 'fake';
  const classes = [...(options.classes ?? ['object'])];
  const batch = options.batch ?? 'dynamic';
  const latency = options.latencyMs ?? 0;
  const detect = options.detect ?? (() => []);
  const runs: MutableRun[] = [];
  /** The run whose results the infer stage is reading (decode is called right after it settles). */
  let reading: MutableRun | undefined;

  const head: ModelHead = {
    name: 'fake',
    layout: { task: 'detect', classNames: classes },
    outputs: [],
    decode: (_outputs, target) => {
      // The infer stage hands the frame itself as the target's source.
      const frame = target.source as DecodedFrame;
      reading?.frameNumbers.push(frame.frameNumber);
      try {
        return [...detect(frame)];
      } catch (error) {
        if (isFirstframeError(error)) throw error;
        const message = error instanceof Error ? error.message : String(error);
        throw new ModelError(
          fakeModelCodes.detectFailed,
          `fake model ${name}: detect threw at frame ${frame.frameNumber}: ${message}`,
          { frameNumber: frame.frameNumber },
          { cause: error },
        );
      }
    },
  };

  const load = (imgSize = 640): LoadedModel => {
    const runImages = (images: readonly Uint8Array[], count: number): Promise<ModelOutput> => {
      const ms = typeof latency === 'function' ? latency({ frames: images.length, count }) : latency;
      if (!(Number.isFinite(ms) && ms >= 0)) {
        throw new ModelError(
          modelCodes.input,
          `fake model ${name}: latencyMs gave ${JSON.stringify(ms)} for a run of ${images.length} frames; expected a number >= 0`,
        );
      }
      const run: MutableRun = {
        index: runs.length + 1,
        startedAt: scheduler.now(),
        endedAt: undefined,
        count,
        frameNumbers: [],
      };
      runs.push(run);
      return settleOn(scheduler, ms, () => {
        run.endedAt = scheduler.now();
        reading = run;
        return { data: new Float32Array(0), anchors: 0, outputs: [] };
      });
    };
    return {
      path: `fake:${name}`,
      inputName: 'images',
      outputName: 'output0',
      inputType: 'float32',
      imgSize,
      batch,
      layout: head.layout,
      head,
      device: 'cpu',
      metadata: {},
      setupMs: 0,
      run: (_input, count) => runImages([], count),
      runImages,
      inputBuffer: (count) => new Float32Array(count * planeOf(imgSize)),
      recycleInput: () => {},
      release: () => Promise.resolve(),
    };
  };

  const operator = defineOperator({
    kind: 'infer',
    name,
    summary:
      'a fake model for tests (firstframe/testing): detections from a function, latency on the scheduler',
    options: {},
    create: (_options, setup) => {
      const model = load(setup.imgSize);
      return {
        setupMs: 0,
        describe: {
          perFrameMs: options.perFrameMs,
          path: model.path,
          head: 'fake',
          task: 'detect',
          classes,
          imgSize: setup.imgSize,
          batch,
          device: 'cpu',
          inputType: 'float32',
        },
        release: () => Promise.resolve(),
        operator: (context) =>
          infer(model, {
            gate: context.gate,
            onEvent: context.onEvent,
            ...(context.drain ? { stopOn: context.deadline$ } : {}),
          }),
      };
    },
  });

  return { name, operator, load, runs };
}
