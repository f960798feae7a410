import {
  Observable,
  Subscription,
  asyncScheduler,
  defer,
  from,
  map,
  merge,
  of,
  switchMap,
  take,
  takeUntil,
  timer,
  type ObservableInput,
  type OperatorFunction,
  type SchedulerLike,
} from 'rxjs';
import { now } from '../core/clock.js';
import { ConfigError, codes } from '../core/errors.js';
import { safeSink, type EventSink } from '../core/events.js';

/** The least time a budget counted from the first frame waits for that frame (the HTTP headers timeout). */
export const DEFAULT_START_WITHIN_MS = 10_000;

/** Why a run ended. */
export type EndedBy = 'budget' | 'end' | 'error' | 'cancelled';

export interface BudgetSinkOptions {
  /** The time budget (TIME_BUDGET_S × 1000); `Infinity` runs to the end of the video. */
  budgetMs: number;
  /**
   * START_BUDGET_AFTER_FIRST_FRAME: the clock starts at the first emission of this (the decoder's first
   * frame); default: at subscription.
   */
  startOn?: ObservableInput<unknown>;
  /**
   * With `startOn`: when it has not emitted this long after subscription, the deadline comes anyway, so
   * that a host that never sends a decodable frame (no headers, a trickle of junk) cannot hold the run
   * open: the clock that never starts would otherwise never end it. Default: `budgetMs`, but at least
   * {@link DEFAULT_START_WITHIN_MS} (a short budget counted from the first frame is meant to leave the
   * download its time).
   */
  startWithinMs?: number;
  /**
   * Drain: after the deadline, results still arriving are accepted for this long, so that an inference
   * already running can finish. Upstream must stop starting new work at the deadline by itself: hand
   * {@link BudgetSink.deadline$} to `infer({ stopOn })`. Default 0: cut at the deadline.
   */
  drainMs?: number;
  /** Ends the run at once with `endedBy: 'cancelled'` (an AbortSignal, a client that went away). */
  cancelOn?: ObservableInput<unknown>;
  scheduler?: SchedulerLike;
  onEvent?: EventSink;
}

/** The one value a budget sink emits: everything finished in time, and why the run ended. */
export interface BudgetOutcome<T> {
  readonly results: T[];
  readonly endedBy: EndedBy;
  /** The upstream error when `endedBy` is `error`; results before it are kept. */
  readonly error?: unknown;
}

/** A budget sink; its `deadline$` is the same deadline, for stages that must stop before the sink cuts. */
export interface BudgetSink<T> extends OperatorFunction<T, BudgetOutcome<T>> {
  /** Emits once when the budget is spent (never with an infinite budget); cold, one clock per subscriber. */
  readonly deadline$: Observable<void>;
}

function validate(options: BudgetSinkOptions): void {
  const problems: string[] = [];
  if (!(options.budgetMs > 0)) {
    problems.push(`sink.budgetMs: expected a positive number, got ${JSON.stringify(options.budgetMs)}`);
  }
  if (options.startWithinMs !== undefined && !(options.startWithinMs > 0)) {
    problems.push(
      `sink.startWithinMs: expected a positive number, got ${JSON.stringify(options.startWithinMs)}`,
    );
  }
  if (options.drainMs !== undefined && !(Number.isFinite(options.drainMs) && options.drainMs >= 0)) {
    problems.push(`sink.drainMs: expected a number >= 0, got ${JSON.stringify(options.drainMs)}`);
  }
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems, { stage: 'sink' });
}

/**
 * Collects results until the video ends or the time budget is spent, then emits them all at once with the
 * reason the run ended, and completes.
 *
 * At the deadline it unsubscribes from upstream before it answers: that aborts the download and frees the
 * decoder, so nothing of the run outlives its answer. A stalled server or a hung inference cannot delay
 * the answer past the deadline (past deadline + `drainMs` with drain). An upstream error does not become
 * an error notification: it ends the run with `endedBy: 'error'` and the results so far are kept.
 *
 * ```text
 * results:  -a--b--c--d--|
 * budgetSink({ budgetMs: 8 })
 * outcome:  --------(x|)          x = { results: [a, b, c], endedBy: 'budget' }
 * upstream: ^-------!             unsubscribed at the deadline
 *
 * with startOn (the first frame) that never emits, and startWithinMs: 6:
 * results:  ----------
 * outcome:  ------(x|)            x = { results: [], endedBy: 'budget' }
 * upstream: ^-----!
 *
 * with drainMs: 5, and infer({ stopOn: deadline$ }) completing upstream after its last run:
 * results:  -a--b--c----d|
 * outcome:  -------------(x|)     x = { results: [a, b, c, d], endedBy: 'budget' }
 * ```
 *
 * @example
 * const sink = budgetSink<FrameResult>({ budgetMs: 1500, drainMs: 200 });
 * batches$.pipe(infer(model, { stopOn: sink.deadline$ }), sink).subscribe((outcome) => answer(outcome));
 * @returns an operator that emits exactly one {@link BudgetOutcome} and completes; it never errors.
 */
export function budgetSink<T>(options: BudgetSinkOptions): BudgetSink<T> {
  validate(options);
  const scheduler = options.scheduler ?? asyncScheduler;
  const onEvent = safeSink(options.onEvent);
  const emit = (name: string, data?: Record<string, unknown>) =>
    onEvent?.({ stage: 'sink', name, at: now(), ...(data ? { data } : {}) });
  const drainMs = options.drainMs ?? 0;

  const clockStart$ = (): Observable<unknown> =>
    options.startOn === undefined ? of(undefined) : from(options.startOn).pipe(take(1));
  const startWithinMs = options.startWithinMs ?? Math.max(options.budgetMs, DEFAULT_START_WITHIN_MS);
  const deadline$: Observable<void> = defer(() => {
    if (!Number.isFinite(options.budgetMs)) return new Observable<void>();
    const budgetSpent$ = clockStart$().pipe(switchMap(() => timer(options.budgetMs, scheduler)));
    if (options.startOn === undefined || !Number.isFinite(startWithinMs)) {
      return budgetSpent$.pipe(map(() => undefined));
    }
    // merge, not race: race would end with the first branch to complete, and the second one completes
    // (without emitting) as soon as the clock starts.
    const neverStarted$ = timer(startWithinMs, scheduler).pipe(takeUntil(clockStart$()));
    return merge(budgetSpent$, neverStarted$).pipe(
      take(1),
      map(() => undefined),
    );
  });

  const sink = (source: Observable<T>): Observable<BudgetOutcome<T>> =>
    new Observable<BudgetOutcome<T>>((subscriber) => {
      const results: T[] = [];
      let done = false;
      let pastDeadline = false;
      // A container, so that a subscription made after the run already ended is closed at once.
      const upstream = new Subscription();
      const watchers: Subscription[] = [];

      const finish = (endedBy: EndedBy, error?: unknown) => {
        if (done) return;
        done = true;
        // Upstream goes first: the download is aborted and the decoder freed before anyone hears the answer.
        upstream.unsubscribe();
        for (const watcher of watchers) watcher.unsubscribe();
        emit('end', { endedBy, results: results.length });
        subscriber.next(endedBy === 'error' ? { results, endedBy, error } : { results, endedBy });
        subscriber.complete();
      };

      if (Number.isFinite(options.budgetMs)) {
        watchers.push(clockStart$().subscribe(() => emit('budget-start', { budgetMs: options.budgetMs })));
      }
      watchers.push(
        deadline$.subscribe(() => {
          pastDeadline = true;
          emit('deadline', { results: results.length, drainMs });
          if (drainMs === 0) finish('budget');
          else watchers.push(scheduler.schedule(() => finish('budget'), drainMs));
        }),
      );
      if (options.cancelOn !== undefined) {
        watchers.push(from(options.cancelOn).subscribe(() => finish('cancelled')));
      }
      if (done) return;
      upstream.add(
        source.subscribe({
          next: (value) => {
            if (!done) results.push(value);
          },
          error: (error: unknown) => finish('error', error),
          complete: () => finish(pastDeadline ? 'budget' : 'end'),
        }),
      );
      return () => {
        done = true;
        upstream.unsubscribe();
        for (const watcher of watchers) watcher.unsubscribe();
      };
    });

  return Object.assign(sink, { deadline$ });
}
