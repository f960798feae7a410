import { describe, expect, it } from 'vitest';
import { now, nextTask, withClock, type Clock } from '../../src/core/clock.js';
import { nextTask as nextTaskOfCore } from '../../src/core/next-task.js';

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
