import { describe, expect, it } from 'vitest';
import { now, nextTask, withClock, type Clock } from '../../src/core/clock.js';
import { nextTask as nextTaskOfCore } from '../../src/core/next-task.js';
import type { StageEvent } from '../../src/core/events.js';
import { infer, type FrameResult } from '../../src/operators/infer.js';
import { track } from '../../src/operators/track.js';
import { fakeModel, frames } from '../../src/testing/index.js';
import { marbleScheduler } from '../support/marbles.js';

const fixed = (at: number): Clock => ({ now: () => at, nextTask: () => Promise.resolve() });

describe('the run clock', () => {
  it('withClock swaps the clock for one call and puts the previous one back, nested too', () => {
    const seen = withClock(fixed(5), () => [now(), withClock(fixed(7), () => now()), now()]);
    expect(seen).toEqual([5, 7, 5]);
    expect(now()).not.toBe(5);
  });

  it('puts the previous clock back when the call throws', () => {
    expect(() =>
      withClock(fixed(5), () => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    const before = performance.now();
    const read = now();
    expect(read).toBeGreaterThanOrEqual(before);
    expect(read).toBeLessThanOrEqual(performance.now());
  });

  it('nextTask goes through the clock: the real one settles after setImmediate callbacks queued before it', async () => {
    const order: string[] = [];
    setImmediate(() => order.push('immediate'));
    await nextTask();
    order.push('next task');
    expect(order).toEqual(['immediate', 'next task']);
    expect(nextTaskOfCore).toBe(nextTask);
    const virtual: Clock = {
      now: () => 0,
      nextTask: () =>
        Promise.resolve().then(() => {
          order.push('virtual');
        }),
    };
    await withClock(virtual, () => nextTask());
    expect(order).toEqual(['immediate', 'next task', 'virtual']);
  });
});

describe('stages read the run clock', () => {
  it("infer's events and inferredAt, and track's events, are in the clock's time", () => {
    const testScheduler = marbleScheduler();
    const events: StageEvent[] = [];
    const results: FrameResult[] = [];
    const onEvent = (event: StageEvent) => events.push(event);
    const virtual: Clock = { now: () => testScheduler.now(), nextTask: () => Promise.resolve() };
    const clip = frames(2, { imgSize: 32, width: 32, height: 32 });
    withClock(virtual, () =>
      testScheduler.run(({ cold }) => {
        const model = fakeModel({ latencyMs: 4 }).load(32);
        cold('--a|', { a: clip })
          .pipe(infer(model, { onEvent }), track({ onEvent }))
          .subscribe((result) => results.push(result));
      }),
    );
    expect(events.map((event) => [event.stage, event.name, event.at])).toEqual([
      ['infer', 'run-start', 2],
      ['infer', 'run-end', 6],
      ['track', 'frame', 6],
      ['track', 'frame', 6],
    ]);
    expect(events[1]!.data).toMatchObject({ ms: 4 });
    expect(results.map((result) => [result.frameNumber, result.inferredAt])).toEqual([
      [0, 6],
      [1, 6],
    ]);
  });
});
