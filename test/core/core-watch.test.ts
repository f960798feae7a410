// When inference moves to the other CPUs (src/core/core-watch.ts): the rule on made-up run times, with a
// clock of the test's own.
import { describe, expect, it } from 'vitest';
import {
  CoreWatch,
  MAX_BACKOFF_MS,
  MIN_BACKOFF_MS,
  RECENT,
  otherIsQuicker,
} from '../../src/core/core-watch.js';

/** A watch on a clock the test moves; `feed` observes each time and returns the indexes that swapped. */
function watched() {
  let now = 0;
  const watch = new CoreWatch(() => now);
  return {
    watch,
    advance: (ms: number) => (now += ms),
    feed: (times: readonly number[]) => times.flatMap((ms, index) => (watch.observe(ms).swap ? [index] : [])),
  };
}
const repeat = (ms: number, count: number) => Array.from({ length: count }, () => ms);

describe('CoreWatch', () => {
  it('never swaps at a steady pace, nor for batch shapes a few per cent apart', () => {
    const { feed } = watched();
    expect(feed(repeat(60, 200))).toEqual([]);
    expect(feed(Array.from({ length: 200 }, (_, i) => [55.6, 58.3, 61.1][i % 3]!))).toEqual([]);
  });

  it(`swaps when the median of the last ${RECENT} runs is over 1.2 × the reference, and says both`, () => {
    const { watch, feed } = watched();
    expect(feed(repeat(60, 20))).toEqual([]);
    // Two slow runs are not a slow CPU (the median of 5 is still 60); the third is.
    expect(feed([80, 80])).toEqual([]);
    expect(watch.observe(80)).toEqual({ swap: true, recentMs: 80, referenceMs: 60 });
    // 1.2 × exactly is not over.
    const edge = watched();
    expect(edge.feed([...repeat(50, 20), ...repeat(60, 10)])).toEqual([]);
  });

  it('waits for the back-off after a swap that helped, then swaps again', () => {
    const { watch, advance, feed } = watched();
    feed(repeat(60, 20));
    expect(feed(repeat(80, 3))).toEqual([2]);
    advance(500);
    // The other CPUs are quick: judged after RECENT runs, the back-off stays at its least.
    expect(feed(repeat(60, RECENT))).toEqual([]);
    expect(watch.backoff).toBe(MIN_BACKOFF_MS);
    // Slow again 0.5 s after the swap: not yet; past the back-off, yes.
    expect(feed(repeat(80, 10))).toEqual([]);
    advance(MIN_BACKOFF_MS);
    expect(feed([80])).toEqual([0]);
  });

  it('doubles the back-off after each swap that did not help (both CPUs slow), up to a minute', () => {
    const { watch, advance, feed } = watched();
    feed(repeat(60, 20));
    expect(feed(repeat(80, 3))).toEqual([2]);
    const backoffs: number[] = [];
    for (let swap = 0; swap < 7; swap += 1) {
      // Still slow after the swap: the back-off doubles; at it, the next swap.
      expect(feed(repeat(80, RECENT))).toEqual([]);
      backoffs.push(watch.backoff);
      advance(watch.backoff);
      expect(feed([80])).toEqual([0]);
    }
    expect(backoffs).toEqual([4_000, 8_000, 16_000, 32_000, MAX_BACKOFF_MS, MAX_BACKOFF_MS, MAX_BACKOFF_MS]);
  });

  it('ignores run times that are not a positive number', () => {
    const { feed } = watched();
    feed(repeat(60, 20));
    expect(feed([0, -1, Number.NaN, Number.POSITIVE_INFINITY, 80, 80])).toEqual([]);
    expect(feed([80])).toEqual([0]);
  });

  it('the choice at load keeps the other CPUs only when they are at least 5 % quicker', () => {
    expect(otherIsQuicker(80, 60)).toBe(true);
    expect(otherIsQuicker(60, 56.9)).toBe(true);
    expect(otherIsQuicker(60, 57)).toBe(false);
    expect(otherIsQuicker(60, 80)).toBe(false);
    expect(otherIsQuicker(60, Number.NaN)).toBe(false);
  });
});
