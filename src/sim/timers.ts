import { performance } from 'node:perf_hooks';

/** The simulator's clock: milliseconds from performance.now(), the clock every record carries. */
export const now = (): number => performance.now();

/**
 * The timers of one response, so that an abort (client gone, server closed) clears all of them at once.
 *
 * `at` takes an absolute deadline on the `now()` clock and never fires before it: libuv measures timeouts
 * from its cached loop time, which can lag the real clock, so a timer may fire a little early; the
 * callback then re-arms for the remainder. That is what lets the tests assert "not before" bounds.
 */
export class TimerSet {
  private readonly handles = new Set<NodeJS.Timeout>();

  at(deadline: number, callback: () => void): void {
    const remaining = deadline - now();
    if (remaining <= 0) {
      callback();
      return;
    }
    const handle = setTimeout(() => {
      this.handles.delete(handle);
      this.at(deadline, callback);
    }, Math.ceil(remaining));
    this.handles.add(handle);
  }

  clear(): void {
    for (const handle of this.handles) clearTimeout(handle);
    this.handles.clear();
  }
}
