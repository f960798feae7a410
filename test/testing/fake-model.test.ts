/**
 * The fake model with the shipped infer stage, in virtual time (1 character = 1 ms): what it returns, when,
 * and what it records. Its use in whole pipelines is in virtual-run.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { map, tap, type Observable } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { ConfigError, ModelError } from '../../src/core/errors.js';
import type { Detection } from '../../src/inference/heads/types.js';
import type { DecodedFrame } from '../../src/operators/decode.js';
import { infer, type FrameResult } from '../../src/operators/infer.js';
import { fakeModel, frames } from '../../src/testing/index.js';
import { marbleScheduler } from '../support/marbles.js';

const S = 32;
const clip = frames(6, { imgSize: S, width: 64, height: 64 });
const f = (n: number) => clip[n]!;

const ball = (frame: DecodedFrame): Detection => ({
  bbox: [frame.frameNumber, 10, frame.frameNumber + 8, 18],
  classId: 0,
  className: 'ball',
  score: 0.9,
});

type Note = [at: number, what: number | 'complete' | { error: unknown }];

/** What `results$` does, with the virtual time of each notification: frame numbers, completion, error. */
function notes(scheduler: TestScheduler, results$: Observable<FrameResult>): Note[] {
  const seen: Note[] = [];
  results$.subscribe({
    next: (result) => seen.push([scheduler.now(), result.frameNumber]),
    complete: () => seen.push([scheduler.now(), 'complete']),
    error: (error: unknown) => seen.push([scheduler.now(), { error }]),
  });
  return seen;
}

describe('fakeModel with infer, in virtual time', () => {
  it('each run takes latencyMs on the scheduler, one at a time; results from detect', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, expectSubscriptions, flush }) => {
      const model = fakeModel({ latencyMs: 3, classes: ['ball'], detect: (frame) => [ball(frame)] });
      const results: FrameResult[] = [];
      // prettier-ignore
      const e1 =  cold('-a-b--------|', { a: [f(0), f(1)], b: [f(2)] });
      const e1subs = ' ^-----------!';
      const seen = notes(
        testScheduler,
        e1.pipe(
          infer(model.load(S)),
          tap((result) => results.push(result)),
        ),
      );
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
      flush();
      // b arrives during a's run and waits for it.
      expect(seen).toEqual([
        [4, 0],
        [4, 1],
        [7, 2],
        [12, 'complete'],
      ]);
      expect(model.runs).toEqual([
        { index: 1, startedAt: 1, endedAt: 4, count: 2, frameNumbers: [0, 1] },
        { index: 2, startedAt: 4, endedAt: 7, count: 1, frameNumbers: [2] },
      ]);
      expect(results.map((result) => [result.frameNumber, result.objects, result.width])).toEqual([
        [0, [ball(f(0))], 64],
        [1, [ball(f(1))], 64],
        [2, [ball(f(2))], 64],
      ]);
    });
  });

  it('latency per run from its size; a fixed batch pads the run (count) and is split', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, flush }) => {
      const sizes: Array<{ frames: number; count: number }> = [];
      const model = fakeModel({
        batch: 2,
        latencyMs: (run) => {
          sizes.push(run);
          return run.frames * 2;
        },
      });
      const seen = notes(testScheduler, cold('-a--|', { a: [f(0), f(1), f(2)] }).pipe(infer(model.load(S))));
      flush();
      expect(seen).toEqual([
        [5, 0],
        [5, 1],
        [7, 2],
        [7, 'complete'],
      ]);
      expect(sizes).toEqual([
        { frames: 2, count: 2 },
        { frames: 1, count: 2 },
      ]);
      expect(model.runs.map((run) => [run.startedAt, run.endedAt, run.count, run.frameNumbers])).toEqual([
        [1, 5, 2, [0, 1]],
        [5, 7, 2, [2]],
      ]);
    });
  });

  it('latency 0 (the default): results in the millisecond of their batch', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, flush }) => {
      const model = fakeModel();
      const seen = notes(
        testScheduler,
        cold('--a-b|', { a: [f(0)], b: [f(1), f(2)] }).pipe(infer(model.load(S))),
      );
      flush();
      expect(seen).toEqual([
        [2, 0],
        [4, 1],
        [4, 2],
        [5, 'complete'],
      ]);
    });
  });

  it('a throwing detect fails the run at its end: FF_ERR_FAKE_DETECT naming the frame, input unsubscribed', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, expectSubscriptions, flush }) => {
      const failure = new Error('detect broke on frame 2');
      const model = fakeModel({
        latencyMs: 2,
        detect: (frame) => {
          if (frame.frameNumber === 2) throw failure;
          return [];
        },
      });
      // prettier-ignore
      const e1 =  cold('-a-b------|', { a: [f(0), f(1)], b: [f(2), f(3)] });
      const e1subs = ' ^----!';
      const seen = notes(testScheduler, e1.pipe(infer(model.load(S))));
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
      flush();
      expect(seen).toEqual([
        [3, 0],
        [3, 1],
        [5, { error: expect.any(ModelError) }],
      ]);
      const error = (seen[2]![1] as { error: ModelError }).error;
      expect(error).toMatchObject({
        code: 'FF_ERR_FAKE_DETECT',
        message: 'fake model fake: detect threw at frame 2: detect broke on frame 2',
        context: { frameNumber: 2 },
        cause: failure,
      });
    });
  });

  it('a latency function giving a bad value fails the run: FF_ERR_MODEL_INPUT', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, expectObservable }) => {
      const model = fakeModel({ latencyMs: () => Number.NaN });
      const e1 = cold('-a|', { a: [f(0)] });
      const out$ = e1.pipe(
        infer(model.load(S)),
        map(() => 'result'),
      );
      expectObservable(out$).toBe(
        '-#',
        undefined,
        expect.objectContaining({
          code: 'FF_ERR_MODEL_INPUT',
          message: 'fake model fake: latencyMs gave null for a run of 1 frames; expected a number >= 0',
        }),
      );
    });
  });

  it('frames of another size than the model: the infer stage says so (FF_ERR_MODEL_INPUT)', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, expectObservable }) => {
      const model = fakeModel();
      const e1 = cold('-a|', { a: [f(0)] });
      expectObservable(e1.pipe(infer(model.load(640)))).toBe(
        '-#',
        undefined,
        expect.objectContaining({
          code: 'FF_ERR_MODEL_INPUT',
          message: 'frame 0: 3072 bytes of pixels, the model takes 3×640×640',
        }),
      );
    });
  });

  it('the infer operator it makes says what it is', async () => {
    const model = fakeModel({ name: 'my-fake', classes: ['ball', 'player'], batch: 4, perFrameMs: 7 });
    expect(model.operator).toMatchObject({ kind: 'infer', name: 'my-fake', options: {} });
    const stage = await model.operator.create({}, { imgSize: 320, baseDir: '.', logger: undefined as never });
    expect(stage.describe).toEqual({
      perFrameMs: 7,
      path: 'fake:my-fake',
      head: 'fake',
      task: 'detect',
      classes: ['ball', 'player'],
      imgSize: 320,
      batch: 4,
      device: 'cpu',
      inputType: 'float32',
    });
    expect(stage.setupMs).toBe(0);
    await expect(stage.release()).resolves.toBeUndefined();
  });

  it('bad options: a ConfigError listing every problem', () => {
    let error: unknown;
    try {
      fakeModel({ latencyMs: -1, batch: 0, classes: [], perFrameMs: 0 });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'fakeModel.latencyMs: expected a number >= 0 or a function, got -1',
      'fakeModel.batch: expected a positive integer or "dynamic", got 0',
      'fakeModel.classes: expected at least one class name, got none',
      'fakeModel.perFrameMs: expected a positive number, got 0',
    ]);
  });
});
