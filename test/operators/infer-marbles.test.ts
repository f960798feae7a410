/**
 * infer's timing in virtual time (rxjs TestScheduler, 1 frame = 1 ms), with a timing double of the model:
 * its run() settles `runMs` virtual milliseconds after the call and records which frames it was given.
 * The real-model behaviour (tensors, output decoding, float16) is tested in infer.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { map, of, type Observable } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import type { StageEvent } from '../../src/core/events.js';
import { planeOf, type ModelInput } from '../../src/inference/input-tensor.js';
import { anchorsFor, type LoadedModel, type ModelOutput } from '../../src/inference/model.js';
import { letterboxGeometry } from '../../src/media/letterbox.js';
import type { DecodedFrame, VideoStreamInfo } from '../../src/operators/decode.js';
import { infer, type FrameResult, type InferOptions } from '../../src/operators/infer.js';
import { prefetchGate, type PrefetchGate } from '../../src/operators/prefetch.js';
import { marbleScheduler } from '../support/marbles.js';

const S = 32;
const PLANE = planeOf(S);
const ANCHORS = anchorsFor(S);

interface FakeRun {
  at: number;
  /** Frame numbers of the images in the input, read back from the pixels (0: a padding row). */
  frames: number[];
  count: number;
}

/**
 * A promise-like that settles `ms` virtual milliseconds from now. A real Promise would call back in a
 * microtask, after TestScheduler.run has already flushed virtual time; infer only calls `then`.
 */
function settleAfter<T>(scheduler: TestScheduler, ms: number, outcome: () => T | Error): Promise<T> {
  const callbacks: Array<[((value: T) => unknown) | undefined, ((error: unknown) => unknown) | undefined]> =
    [];
  scheduler.schedule(() => {
    const value = outcome();
    for (const [ok, fail] of callbacks) {
      if (value instanceof Error) fail?.(value);
      else ok?.(value);
    }
  }, ms);
  const thenable = {
    then(ok?: (value: T) => unknown, fail?: (error: unknown) => unknown) {
      callbacks.push([ok, fail]);
      return thenable;
    },
  };
  return thenable as unknown as Promise<T>;
}

function fakeModel(
  scheduler: TestScheduler,
  options: { runMs?: number; batch?: number | 'dynamic'; failOnRun?: number } = {},
): { model: LoadedModel; runs: FakeRun[] } {
  const runs: FakeRun[] = [];
  const runMs = options.runMs ?? 5;
  const model: LoadedModel = {
    path: 'fake.onnx',
    inputName: 'images',
    outputName: 'output0',
    inputType: 'float32',
    imgSize: S,
    batch: options.batch ?? 'dynamic',
    layout: { task: 'detect', classNames: ['thing'] },
    device: 'cpu',
    metadata: {},
    setupMs: 0,
    run(input: ModelInput, count: number): Promise<ModelOutput> {
      const frames = Array.from({ length: count }, (_, i) => Math.round(input[i * PLANE]! * 255));
      runs.push({ at: scheduler.now(), frames, count });
      const call = runs.length;
      return settleAfter(scheduler, runMs, () =>
        call === options.failOnRun
          ? new Error(`run ${call} failed`)
          : { data: new Float32Array(count * 5 * ANCHORS), anchors: ANCHORS },
      );
    },
    inputBuffer: (count) => new Float32Array(count * PLANE),
    recycleInput: () => {},
    release: () => Promise.resolve(),
  };
  return { model, runs };
}

const stream: VideoStreamInfo = {
  layout: 'faststart',
  container: 'mov',
  codec: 'h264',
  decoder: 'h264',
  width: S,
  height: S,
  fps: 25,
  timeBase: [1, 12800],
};

/** Frame n, whose first pixel is n (so the fake model can tell which frames it ran), with a slot from `gate`. */
function frame(frameNumber: number, gate?: PrefetchGate): DecodedFrame {
  const data = new Uint8Array(PLANE);
  data[0] = frameNumber;
  const slot = gate?.acquire();
  if (slot instanceof Promise) throw new Error('the test gate is too small');
  return {
    frameNumber,
    pts: frameNumber / 25,
    width: S,
    height: S,
    keyFrame: frameNumber === 1,
    decodedAt: 0,
    image: { ...letterboxGeometry(S, S, S), data },
    stream,
    ...(slot ? { slot } : {}),
  };
}

const frameNumbers = (results: Observable<FrameResult>) => results.pipe(map((r) => r.frameNumber));
/** Marble values: a..e are the results of frames 1..5. */
const numbered = { a: 1, b: 2, c: 3, d: 4, e: 5 };

describe('infer in virtual time', () => {
  it('one run at a time: run k+1 starts when run k ends; one result per frame, in order', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { model, runs } = fakeModel(testScheduler, { runMs: 5 });
      const batches = { a: [frame(1), frame(2)], b: [frame(3)], c: [frame(4), frame(5)] };
      // prettier-ignore
      const e1 =      cold('-a-b-c----------------|', batches);
      const e1subs = '      ^---------------------!';
      const expected = '    ------(ab)-c----(de)--|';
      expectObservable(frameNumbers(e1.pipe(infer(model)))).toBe(expected, numbered);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
      testScheduler.schedule(() => {
        expect(runs).toEqual([
          { at: 1, frames: [1, 2], count: 2 },
          { at: 6, frames: [3], count: 1 },
          { at: 11, frames: [4, 5], count: 2 },
        ]);
      }, 30);
    });
  });

  it('a fixed batch size: a larger batch is split, the last run padded to the size', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, expectObservable }) => {
      const { model, runs } = fakeModel(testScheduler, { runMs: 5, batch: 2 });
      // prettier-ignore
      const e1 =      cold('-a--------------|', { a: [frame(1), frame(2), frame(3)] });
      const expected = '    ------(ab)-c----|';
      expectObservable(frameNumbers(e1.pipe(infer(model)))).toBe(expected, numbered);
      testScheduler.schedule(() => {
        expect(runs).toEqual([
          { at: 1, frames: [1, 2], count: 2 },
          { at: 6, frames: [3, 0], count: 2 },
        ]);
      }, 20);
    });
  });

  it('an error from a run is passed on, the input unsubscribed, and no further run starts', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { model, runs } = fakeModel(testScheduler, { runMs: 5, failOnRun: 2 });
      const batches = { a: [frame(1), frame(2)], b: [frame(3)], c: [frame(4)] };
      // prettier-ignore
      const e1 =      cold('-a-b-c------------|', batches);
      const e1subs = '      ^----------!';
      const expected = '    ------(ab)-#';
      expectObservable(frameNumbers(e1.pipe(infer(model)))).toBe(
        expected,
        numbered,
        new Error('run 2 failed'),
      );
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
      testScheduler.schedule(() => expect(runs.map((r) => r.frames)).toEqual([[1, 2], [3]]), 30);
    });
  });

  it('unsubscribing in the middle of a run: no run starts afterwards, and every slot goes back', () => {
    const testScheduler = marbleScheduler();
    const gate = prefetchGate(8);
    const inFlight: number[] = [];
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { model, runs } = fakeModel(testScheduler, { runMs: 5 });
      const batches = { a: [frame(1, gate), frame(2, gate)], b: [frame(3, gate)], c: [frame(4, gate)] };
      // prettier-ignore
      const e1 =      cold('-a-b-c-----------|', batches);
      const unsub = '       --------!';
      const e1subs = '      ^-------!';
      const expected = '    ------(ab)';
      expectObservable(frameNumbers(e1.pipe(infer(model, { gate }))), unsub).toBe(expected, numbered);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
      // At 9 frame 3's run is still going (6 to 11) and holds its slot; frame 4's went back at 8.
      testScheduler.schedule(() => inFlight.push(gate.inFlight), 9);
      testScheduler.schedule(() => inFlight.push(gate.inFlight), 12);
      testScheduler.schedule(() => expect(runs.map((r) => r.frames)).toEqual([[1, 2], [3]]), 40);
    });
    expect(inFlight).toEqual([1, 0]);
  });

  it('never: no result, still subscribed', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { model, runs } = fakeModel(testScheduler);
      const e1 = cold<DecodedFrame[]>('-');
      expectObservable(frameNumbers(e1.pipe(infer(model)))).toBe('-');
      expectSubscriptions(e1.subscriptions).toBe('^');
      testScheduler.schedule(() => expect(runs).toEqual([]), 50);
    });
  });

  it('empty: completes at once without a run', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { model, runs } = fakeModel(testScheduler);
      const e1 = cold<DecodedFrame[]>('|');
      expectObservable(frameNumbers(e1.pipe(infer(model)))).toBe('|');
      expectSubscriptions(e1.subscriptions).toBe('(^!)');
      testScheduler.schedule(() => expect(runs).toEqual([]), 10);
    });
  });

  it('one batch: the input ends first, the result and completion come when its run ends', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { model } = fakeModel(testScheduler, { runMs: 5 });
      // prettier-ignore
      const e1 =      cold('-a|', { a: [frame(1)] });
      const e1subs = '      ^-!';
      const expected = '    ------(a|)';
      expectObservable(frameNumbers(e1.pipe(infer(model)))).toBe(expected, numbered);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('an error from upstream is passed on at once; the run in progress is not waited for', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { model, runs } = fakeModel(testScheduler, { runMs: 5 });
      // prettier-ignore
      const e1 =      cold('-a-b#', { a: [frame(1)], b: [frame(2)] });
      const e1subs = '      ^---!';
      const expected = '    ----#';
      expectObservable(frameNumbers(e1.pipe(infer(model)))).toBe(expected, numbered);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
      testScheduler.schedule(() => expect(runs.map((r) => r.frames)).toEqual([[1]]), 20);
    });
  });

  it('a frame whose pixels do not fit the model: an error notification, no run', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, expectObservable }) => {
      const { model, runs } = fakeModel(testScheduler);
      const wrong = { ...frame(1), image: { ...letterboxGeometry(S, S, S), data: new Uint8Array(10) } };
      const e1 = cold('-a-|', { a: [wrong] });
      const result = e1.pipe(
        infer(model),
        map((r) => r.frameNumber),
      );
      expectObservable(result).toBe(
        '-#',
        undefined,
        expect.objectContaining({
          code: 'FF_ERR_MODEL_INPUT',
          message: 'frame 1: 10 bytes of pixels, the model takes 3×32×32',
        }),
      );
      testScheduler.schedule(() => expect(runs).toEqual([]), 10);
    });
  });
});

describe('infer stopOn (drain)', () => {
  const options = (gate: PrefetchGate, events: StageEvent[]): InferOptions => ({
    gate,
    onEvent: (e) => events.push(e),
  });

  it('during a run: input unsubscribed at once, waiting batches dropped with their slots, the run finishes and emits, then complete', () => {
    const testScheduler = marbleScheduler();
    const gate = prefetchGate(8);
    const events: StageEvent[] = [];
    const inFlight: number[] = [];
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { model, runs } = fakeModel(testScheduler, { runMs: 5 });
      const batches = {
        a: [frame(1, gate), frame(2, gate)],
        b: [frame(3, gate)],
        c: [frame(4, gate)],
        d: [frame(5, gate)],
      };
      // prettier-ignore
      const e1 =      cold('-a-b-c-d----------|', batches);
      const stop = cold('   --------s');
      const e1subs = '      ^-------!';
      const expected = '    ------(ab)-(c|)';
      const result = e1.pipe(infer(model, { ...options(gate, events), stopOn: stop }));
      expectObservable(frameNumbers(result)).toBe(expected, numbered);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
      // 7: frame 3 running, 4 and 5 waiting; 9: 4 and 5 dropped, their slots back; 12: all back.
      for (const at of [7, 9, 12]) testScheduler.schedule(() => inFlight.push(gate.inFlight), at);
      testScheduler.schedule(() => expect(runs.map((r) => r.frames)).toEqual([[1, 2], [3]]), 40);
    });
    expect(inFlight).toEqual([3, 1, 0]);
    expect(events.find((e) => e.name === 'stop')?.data).toEqual({
      droppedBatches: 2,
      droppedFrames: 2,
      runInProgress: true,
    });
  });

  it('with no run in progress: completes at once', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { model, runs } = fakeModel(testScheduler, { runMs: 5 });
      // prettier-ignore
      const e1 =      cold('-a-----------b--|', { a: [frame(1)], b: [frame(2)] });
      const stop = cold('   ---------s');
      const e1subs = '      ^--------!';
      const expected = '    ------a--|';
      expectObservable(frameNumbers(e1.pipe(infer(model, { stopOn: stop })))).toBe(expected, numbered);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
      testScheduler.schedule(() => expect(runs).toHaveLength(1), 30);
    });
  });

  it('a signal at subscription: completes without subscribing to the input', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { model } = fakeModel(testScheduler);
      const e1 = cold('-a|', { a: [frame(1)] });
      expectObservable(frameNumbers(e1.pipe(infer(model, { stopOn: of(true) })))).toBe('|');
      expectSubscriptions(e1.subscriptions).toBe([]);
    });
  });

  it('a signal that completes without a value changes nothing', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { model } = fakeModel(testScheduler, { runMs: 5 });
      // prettier-ignore
      const e1 =      cold('-a-b---------|', { a: [frame(1)], b: [frame(2)] });
      const stop = cold('   --|');
      const e1subs = '      ^------------!';
      const expected = '    ------a----b-|';
      expectObservable(frameNumbers(e1.pipe(infer(model, { stopOn: stop })))).toBe(expected, numbered);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('an error from the signal is passed on', () => {
    const testScheduler = marbleScheduler();
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const { model } = fakeModel(testScheduler, { runMs: 5 });
      // prettier-ignore
      const e1 =      cold('-a-------|', { a: [frame(1)] });
      const stop = cold('   ---#');
      const e1subs = '      ^--!';
      const expected = '    ---#';
      expectObservable(frameNumbers(e1.pipe(infer(model, { stopOn: stop })))).toBe(expected, numbered);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });
});
