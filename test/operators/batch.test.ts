import { describe, expect, it } from 'vitest';
import { batch, batchTargets, type BatchOptions } from '../../src/operators/batch.js';
import type { StageEvent } from '../../src/core/events.js';
import { marbleScheduler } from '../support/marbles.js';

describe('batch', () => {
  it('emits full batches and flushes the partial one on completion', () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('  -a-b-c-d-e-|');
      const e1subs = '   ^----------!';
      const expected = ' ---x---y---(z|)';
      expectObservable(e1.pipe(batch({ size: 2 }))).toBe(expected, {
        x: ['a', 'b'],
        y: ['c', 'd'],
        z: ['e'],
      });
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('emits a partial batch maxWaitMs after its first frame', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const e1 = cold('  a 9ms b 49ms c d e f -|');
      // a at 0, b at 10: the batch opened at 0 goes at 30 (timeout); c, d, e, f fill the next one at 63.
      const expected = ' 30ms x 32ms y -|';
      expectObservable(e1.pipe(batch({ size: 4, maxWaitMs: 30 }))).toBe(expected, {
        x: ['a', 'b'],
        y: ['c', 'd', 'e', 'f'],
      });
    });
  });

  it('a full batch cancels its timeout; the next batch gets its own', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const e1 = cold('  ab 20ms c 50ms |');
      // b fills [a, b] at 1; c (at 22) waits alone until its own timeout at 52.
      const expected = ' -x 50ms y 20ms |';
      expectObservable(e1.pipe(batch({ size: 2, maxWaitMs: 30 }))).toBe(expected, {
        x: ['a', 'b'],
        y: ['c'],
      });
    });
  });

  it('ramp-up: the first batch holds firstBatch frames, each next one twice as many up to size', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const e1 = cold('  abcdefghijklmnopqrstu|');
      const expected = ' -x---y-------z-------(w|)';
      expectObservable(e1.pipe(batch({ size: 8, rampUp: { firstBatch: 2 } }))).toBe(expected, {
        x: ['a', 'b'],
        y: ['c', 'd', 'e', 'f'],
        z: ['g', 'h', 'i', 'j', 'k', 'l', 'm', 'n'],
        w: ['o', 'p', 'q', 'r', 's', 't', 'u'],
      });
    });
  });

  it('early flush: the very first frame goes alone, then the ramp', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const e1 = cold('  -a-b-c-d-e-f-g-h-i-|');
      const expected = ' -x---y-------z-----(w|)';
      expectObservable(
        e1.pipe(batch({ size: 4, earlyFlushFirstFrame: true, rampUp: { firstBatch: 2 } })),
      ).toBe(expected, { x: ['a'], y: ['b', 'c'], z: ['d', 'e', 'f', 'g'], w: ['h', 'i'] });
    });
  });

  it('one value, empty, never, never-ending', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-a|').pipe(batch({ size: 3 }))).toBe('--(x|)', { x: ['a'] });
      expectObservable(cold('|').pipe(batch({ size: 3 }))).toBe('|');
      expectObservable(cold('-').pipe(batch({ size: 3 }))).toBe('-');
      expectObservable(cold('-a-b-c-d-').pipe(batch({ size: 3 }))).toBe('-----x---', { x: ['a', 'b', 'c'] });
    });
  });

  it('an error drops the partial batch and passes on', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-a-b-c-#').pipe(batch({ size: 2 }))).toBe('---x---#', { x: ['a', 'b'] });
    });
  });

  it('unsubscribing in the middle of a batch emits nothing more and clears its timer', () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold(' -a-b-c-----|');
      const e1subs = '  ^----!';
      const unsub = '   -----!';
      expectObservable(e1.pipe(batch({ size: 2, maxWaitMs: 3 })), unsub).toBe('---x--', { x: ['a', 'b'] });
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('reports each batch with its reason', () => {
    const events: StageEvent[] = [];
    marbleScheduler().run(({ cold, expectObservable }) => {
      const options: BatchOptions = {
        size: 3,
        maxWaitMs: 5,
        earlyFlushFirstFrame: true,
        onEvent: (e) => events.push(e),
      };
      expectObservable(cold('ab 10ms cde|').pipe(batch(options))).toBe('x 5ms y 7ms z|', {
        x: ['a'],
        y: ['b'],
        z: ['c', 'd', 'e'],
      });
    });
    expect(events.map((e) => e.data)).toEqual([
      { index: 0, size: 1, reason: 'first-frame' },
      { index: 1, size: 1, reason: 'timeout' },
      { index: 2, size: 3, reason: 'full' },
    ]);
  });

  it('batchTargets and bad options', () => {
    const targets = batchTargets({ size: 64, rampUp: { firstBatch: 4 }, earlyFlushFirstFrame: true });
    expect([0, 1, 2, 3, 4, 5, 6].map(targets)).toEqual([1, 4, 8, 16, 32, 64, 64]);
    expect([0, 1].map(batchTargets({ size: 8 }))).toEqual([8, 8]);
    expect(() => batch({ size: 0, maxWaitMs: -1, rampUp: { firstBatch: 0 } })).toThrowError(
      'batch.size: expected a positive integer, got 0\nbatch.maxWaitMs: expected a number >= 0, got -1\nbatch.rampUp.firstBatch: expected a positive integer, got 0',
    );
  });
});
