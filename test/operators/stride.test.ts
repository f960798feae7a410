import { describe, expect, it } from 'vitest';
import { stride, strideKeeps } from '../../src/operators/stride.js';
import { marbleScheduler } from '../support/marbles.js';

const f = (frameNumber: number) => ({ frameNumber });
const frames = { a: f(0), b: f(1), c: f(2), d: f(3), e: f(4), g: f(6) };

describe('stride', () => {
  it('keeps frames whose original number is a multiple of n', () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('  -a-b-c-d-e-|', frames);
      const e1subs = '   ^----------!';
      const expected = ' -a-----d---|';
      expectObservable(e1.pipe(stride(3))).toBe(expected, frames);
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('decides by frame number, not arrival: a dropped frame does not shift the choice', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      // frame 4 was lost upstream; 0, 3, 6 are still the kept ones
      expectObservable(cold('-a-b-c-d-g-|', frames).pipe(stride(3))).toBe('-a-----d-g-|', frames);
    });
  });

  it('stride 1 keeps everything; one value; empty; never; never-ending', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-a-b-|', frames).pipe(stride(1))).toBe('-a-b-|', frames);
      expectObservable(cold('-(a|)', frames).pipe(stride(2))).toBe('-(a|)', frames);
      expectObservable(cold<{ frameNumber: number }>('|').pipe(stride(2))).toBe('|');
      expectObservable(cold<{ frameNumber: number }>('-').pipe(stride(2))).toBe('-');
      expectObservable(cold('-a-b-c-', frames).pipe(stride(2))).toBe('-a---c-', frames);
    });
  });

  it('passes errors and unsubscribes early', () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold(' -a-b-#', frames);
      expectObservable(e1.pipe(stride(1))).toBe('-a-b-#', frames);
      const e2 = cold(' -a-b-c-d-|', frames);
      const unsub = '   ----!';
      expectObservable(e2.pipe(stride(1)), unsub).toBe('-a-b', frames);
      expectSubscriptions(e2.subscriptions).toBe('^---!');
    });
  });

  it('rejects a bad n at construction', () => {
    expect(() => stride(0)).toThrowError('stride: expected a positive integer, got 0');
    expect(() => strideKeeps(2.5)).toThrowError('stride: expected a positive integer, got 2.5');
    expect([0, 1, 2, 3, 4, 6].filter(strideKeeps(3))).toEqual([0, 3, 6]);
  });
});
