import { describe, expect, it } from 'vitest';
import { map, type Observable } from 'rxjs';
import { windowed } from '../../src/sources/windows.js';
import { marbleScheduler } from '../support/marbles.js';

const W = 100;

describe('windowed (the ranges strategy)', () => {
  it('fetches the first window at once and each later one only when more asks', () => {
    marbleScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const w0 = cold(' -a-b|');
      const w1 = cold('       -c|');
      const w2 = cold('            -d|');
      const more = hot('-----x-----x---');
      // prettier-ignore
      const w0subs = '  ^---!';
      const w1subs = '  -----^-!';
      const w2subs = '  -----------^-!';
      const expected = '-a-b--c-----d|';
      const windows: Record<number, Observable<string>> = { 0: w0, 100: w1, 200: w2 };
      const result = windowed({
        windowBytes: W,
        more,
        fetchWindow: (start) => windows[start]!,
        exhausted: (next) => next >= 300,
      });
      expectObservable(result).toBe(expected);
      expectSubscriptions(w0.subscriptions).toBe(w0subs);
      expectSubscriptions(w1.subscriptions).toBe(w1subs);
      expectSubscriptions(w2.subscriptions).toBe(w2subs);
    });
  });

  it('queues a request that arrives while a window is still coming', () => {
    marbleScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const w0 = cold(' ---a---b|');
      const w1 = cold('         -c|');
      const more = hot('--x--------');
      const expected = '---a---b-c|';
      const result = windowed({
        windowBytes: W,
        more,
        fetchWindow: (start) => (start === 0 ? w0 : w1),
        exhausted: (next) => next >= 200,
      });
      expectObservable(result).toBe(expected);
      expectSubscriptions(w1.subscriptions).toBe('--------^-!');
    });
  });

  it('without more, fetches windows back to back until the resource is exhausted', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const starts: number[] = [];
      const result = windowed({
        windowBytes: W,
        more: undefined,
        fetchWindow: (start) => {
          starts.push(start);
          return cold('-x|').pipe(map(() => start));
        },
        exhausted: (next) => next >= 250,
      });
      expectObservable(result).toBe('-a-b-c|', { a: 0, b: 100, c: 200 });
    });
  });

  it('unsubscribing in the middle of a window unsubscribes that window and asks for nothing more', () => {
    const fetched: number[] = [];
    marbleScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const w0 = cold(' -a-b-c|');
      const more = hot('-------x--');
      const unsub = '   ---!';
      const result = windowed({
        windowBytes: W,
        more,
        fetchWindow: (start) => {
          fetched.push(start);
          return w0;
        },
        exhausted: () => false,
      });
      expectObservable(result, unsub).toBe('-a-');
      expectSubscriptions(w0.subscriptions).toBe('^--!');
      expectSubscriptions(more.subscriptions).toBe('^--!');
    });
    expect(fetched).toEqual([0]);
  });

  it('passes a window error on and stops', () => {
    marbleScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const w0 = cold(' -a-#');
      const more = hot('-x----');
      expectObservable(
        windowed({ windowBytes: W, more, fetchWindow: () => w0, exhausted: () => false }),
      ).toBe('-a-#');
      expectSubscriptions(more.subscriptions).toBe('^--!');
    });
  });

  it('never-ending more keeps the source open after the last requested window', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const w0 = cold('-a|');
      expectObservable(
        windowed({ windowBytes: W, more: cold('-'), fetchWindow: () => w0, exhausted: () => false }),
      ).toBe('-a-');
    });
  });

  it('an empty window followed by exhaustion completes', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      expectObservable(
        windowed({ windowBytes: W, more: cold('-'), fetchWindow: () => cold('|'), exhausted: () => true }),
      ).toBe('|');
    });
  });

  it('a fetchWindow that throws becomes an error notification', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      expectObservable(
        windowed({
          windowBytes: W,
          more: cold('-'),
          fetchWindow: () => {
            throw new Error('boom');
          },
          exhausted: () => false,
        }),
      ).toBe('#', undefined, new Error('boom'));
    });
  });
});
