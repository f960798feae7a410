import { describe, expect, it } from 'vitest';
import { Subject } from 'rxjs';
import { DEFAULT_START_WITHIN_MS, budgetSink, type BudgetOutcome } from '../../src/sinks/budget.js';
import type { StageEvent } from '../../src/core/events.js';
import { ConfigError } from '../../src/core/errors.js';
import { withClock } from '../../src/core/clock.js';
import { marbleScheduler } from '../support/marbles.js';

const outcome = (results: string[], endedBy: BudgetOutcome<string>['endedBy'], error?: unknown) =>
  endedBy === 'error' ? { results, endedBy, error } : { results, endedBy };

describe('budgetSink', () => {
  it('the video ends before the budget: every result, endedBy end', () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      // prettier-ignore
      const e1 = cold('  -a-b-c-|');
      const e1subs = '   ^------!';
      const expected = ' -------(x|)';
      expectObservable(e1.pipe(budgetSink({ budgetMs: 100 }))).toBe(expected, {
        x: outcome(['a', 'b', 'c'], 'end'),
      });
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('the budget runs out: the results so far, and upstream unsubscribed at the deadline', () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      // prettier-ignore
      const e1 = cold('  -a--b--c--d--|');
      const e1subs = '   ^-------!';
      const expected = ' --------(x|)';
      expectObservable(e1.pipe(budgetSink({ budgetMs: 8 }))).toBe(expected, {
        x: outcome(['a', 'b', 'c'], 'budget'),
      });
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('a stalled upstream (never) still gets its answer at the deadline', () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('  -a-');
      const e1subs = '   ^ 1499ms !';
      const expected = ' 1500ms (x|)';
      expectObservable(e1.pipe(budgetSink({ budgetMs: 1500 }))).toBe(expected, {
        x: outcome(['a'], 'budget'),
      });
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('empty upstream: no results, endedBy end', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('|').pipe(budgetSink({ budgetMs: 10 }))).toBe('(x|)', {
        x: outcome([], 'end'),
      });
    });
  });

  it('an upstream error ends the run with the results before it, not with an error notification', () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const failure = new Error('stalled');
      // prettier-ignore
      const e1 = cold('  -a-b-#', undefined, failure);
      const e1subs = '   ^----!';
      const expected = ' -----(x|)';
      expectObservable(e1.pipe(budgetSink({ budgetMs: 100 }))).toBe(expected, {
        x: outcome(['a', 'b'], 'error', failure),
      });
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('startOn: the clock starts at its first emission (START_BUDGET_AFTER_FIRST_FRAME)', () => {
    marbleScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const firstFrame = hot('  ----f--f--');
      // prettier-ignore
      const e1 = cold('         --a--b--c--d--|');
      const e1subs = '          ^---------!';
      const expected = '        ----------(x|)';
      expectObservable(e1.pipe(budgetSink({ budgetMs: 6, startOn: firstFrame }))).toBe(expected, {
        x: outcome(['a', 'b', 'c'], 'budget'),
      });
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('startOn that never emits: the deadline comes startWithinMs after subscription, upstream unsubscribed', () => {
    marbleScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const firstFrame = hot('  ---------');
      // prettier-ignore
      const e1 = cold('         -j-j-j-j-j-j-');
      const e1subs = '          ^-----!';
      const expected = '        ------(x|)';
      expectObservable(e1.pipe(budgetSink({ budgetMs: 20, startOn: firstFrame, startWithinMs: 6 }))).toBe(
        expected,
        { x: outcome(['j', 'j', 'j'], 'budget') },
      );
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('startOn that never emits, no startWithinMs: the deadline comes after the budget, but not before 10 s', () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('  -');
      const long = budgetSink({ budgetMs: 15_000, startOn: cold('-') });
      expectObservable(e1.pipe(long)).toBe(' 15000ms (x|)', { x: outcome([], 'budget') });
      expectSubscriptions(e1.subscriptions).toBe('^ 14999ms !');
    });
    marbleScheduler().run(({ cold, expectObservable }) => {
      const short = budgetSink({ budgetMs: 1500, startOn: cold('-') });
      expectObservable(cold('-').pipe(short)).toBe(`${DEFAULT_START_WITHIN_MS}ms (x|)`, {
        x: outcome([], 'budget'),
      });
    });
  });

  it('startOn within startWithinMs: the full budget runs from the start, the ceiling is gone', () => {
    marbleScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const firstFrame = hot('  --f------');
      // prettier-ignore
      const e1 = cold('         -a--b--c---d--e--|');
      const e1subs = '          ^---------!';
      const expected = '        ----------(x|)';
      expectObservable(e1.pipe(budgetSink({ budgetMs: 8, startOn: firstFrame, startWithinMs: 3 }))).toBe(
        expected,
        { x: outcome(['a', 'b', 'c'], 'budget') },
      );
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('drain: results arriving within drainMs of the deadline are kept; upstream completing ends it early', () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      // The inference running at the deadline (8) finishes at 11 and upstream completes (infer's stopOn).
      // prettier-ignore
      const e1 = cold('  -a--b--c---d|');
      const e1subs = '   ^-----------!';
      const expected = ' ------------(x|)';
      expectObservable(e1.pipe(budgetSink({ budgetMs: 8, drainMs: 5 }))).toBe(expected, {
        x: outcome(['a', 'b', 'c', 'd'], 'budget'),
      });
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('drain: an inference that hangs past the grace is cut at deadline + drainMs', () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      // prettier-ignore
      const e1 = cold('  -a--b-----------d|');
      const e1subs = '   ^------------!';
      const expected = ' -------------(x|)';
      expectObservable(e1.pipe(budgetSink({ budgetMs: 8, drainMs: 5 }))).toBe(expected, {
        x: outcome(['a', 'b'], 'budget'),
      });
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('deadline$ fires at the same time as the cut, once per subscriber', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const sink = budgetSink<string>({ budgetMs: 8, startOn: cold('--s') });
      expectObservable(sink.deadline$).toBe('----------(d|)', { d: undefined });
    });
  });

  it('an infinite budget never cuts', () => {
    marbleScheduler().run(({ cold, expectObservable }) => {
      const sink = budgetSink<string>({ budgetMs: Infinity });
      expectObservable(cold('-a 10000ms b|').pipe(sink)).toBe('--- 10000ms (x|)', {
        x: outcome(['a', 'b'], 'end'),
      });
      expectObservable(sink.deadline$).toBe('-');
    });
  });

  it('cancelOn ends the run at once with endedBy cancelled', () => {
    marbleScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const cancel = hot('   -----c');
      // prettier-ignore
      const e1 = cold('      -a-b---c-|');
      const e1subs = '       ^----!';
      const expected = '     -----(x|)';
      expectObservable(e1.pipe(budgetSink({ budgetMs: 100, cancelOn: cancel }))).toBe(expected, {
        x: outcome(['a', 'b'], 'cancelled'),
      });
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('early unsubscribe by the consumer unsubscribes upstream and the deadline timer', () => {
    marbleScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold('  -a-b-c-d-|');
      const e1subs = '   ^--!';
      const unsub = '    ---!';
      expectObservable(e1.pipe(budgetSink({ budgetMs: 5 })), unsub).toBe('---');
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('reports budget-start, deadline and end events; a throwing onEvent never breaks the run', () => {
    const events: StageEvent[] = [];
    marbleScheduler().run(({ cold, expectObservable }) => {
      const sink = budgetSink<string>({
        budgetMs: 4,
        onEvent: (event) => {
          events.push(event);
          throw new Error('reporting bug');
        },
      });
      expectObservable(cold('-a-b-c-|').pipe(sink)).toBe('----(x|)', { x: outcome(['a', 'b'], 'budget') });
    });
    expect(events.map((event) => [event.name, event.data])).toEqual([
      ['budget-start', { budgetMs: 4 }],
      ['deadline', { results: 2, drainMs: 0 }],
      ['end', { endedBy: 'budget', results: 2 }],
    ]);
  });

  it('the outcome reaches a plain subscriber after a synchronous upstream', () => {
    const upstream = new Subject<string>();
    const seen: Array<BudgetOutcome<string>> = [];
    upstream.pipe(budgetSink({ budgetMs: 1000 })).subscribe((value) => seen.push(value));
    upstream.next('a');
    upstream.complete();
    expect(seen).toEqual([outcome(['a'], 'end')]);
  });

  it('rejects a budget that is not positive, a start ceiling that is not, and a negative drain, listing all', () => {
    expect(() => budgetSink({ budgetMs: 0, drainMs: -1 })).toThrow(ConfigError);
    try {
      budgetSink({ budgetMs: 0, startWithinMs: 0, drainMs: -1 });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        'sink.budgetMs: expected a positive number, got 0',
        'sink.startWithinMs: expected a positive number, got 0',
        'sink.drainMs: expected a number >= 0, got -1',
      ]);
    }
  });
});

describe("budgetSink's event times", () => {
  it('are the run clock’s: virtual milliseconds when a virtual clock is in place', () => {
    const testScheduler = marbleScheduler();
    const events: StageEvent[] = [];
    const virtual = { now: () => testScheduler.now(), nextTask: () => Promise.resolve() };
    withClock(virtual, () =>
      testScheduler.run(({ cold, expectObservable }) => {
        const e1 = cold('-a--b--c--d--|');
        const sink = budgetSink<string>({ budgetMs: 8, drainMs: 2, onEvent: (event) => events.push(event) });
        expectObservable(e1.pipe(sink)).toBe('----------(x|)', {
          x: outcome(['a', 'b', 'c', 'd'], 'budget'),
        });
      }),
    );
    expect(events.map((event) => [event.name, event.at])).toEqual([
      ['budget-start', 0],
      ['deadline', 8],
      ['end', 10],
    ]);
  });
});
