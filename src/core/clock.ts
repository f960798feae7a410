/**
 * The clock every stage of a run reads: `now()` for timestamps and elapsed times, `nextTask()` for a later
 * task of the event loop. By default they are `performance.now()` and `setImmediate`.
 *
 * Timers already go through rxjs's schedulers, which `TestScheduler.run` virtualises; `performance.now()`
 * and `setImmediate` are not rxjs's, so a run in virtual time (`firstframe/testing`'s `runInVirtualTime`)
 * swaps this clock for the test scheduler's for the length of its flush, with {@link withClock}. The swap is
 * process-wide, as rxjs's own providers are while `TestScheduler.run` runs: it lasts one synchronous call,
 * so nothing else of the process can run meanwhile.
 */

/** What reads time in a run. */
export interface Clock {
  /** Milliseconds, monotonic: `performance.now()` in real time. */
  now(): number;
  /** Settles in a later task (real time: after pending I/O callbacks and timers). */
  nextTask(): Promise<void>;
}

/** Real time. */
export const realClock: Clock = {
  now: () => performance.now(),
  nextTask: () => new Promise((resolve) => setImmediate(resolve)),
};

let current: Clock = realClock;

/** The current clock's time in milliseconds: what stages stamp events and measure durations with. */
export const now = (): number => current.now();

/** A promise settled in a later task of the current clock. */
export const nextTask = (): Promise<void> => current.nextTask();

/**
 * Runs `work` with `clock` as the clock and puts the previous one back when it returns or throws. For a
 * synchronous `work` (a `TestScheduler.run`): a clock left in place across an `await` would be read by
 * whatever else ran meanwhile.
 */
export function withClock<T>(clock: Clock, work: () => T): T {
  const previous = current;
  current = clock;
  try {
    return work();
  } finally {
    current = previous;
  }
}
