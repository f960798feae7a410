/**
 * When inference should move to the other CPUs (src/core/cpu-placement.ts, swapInferenceCores): on a
 * virtual machine a CPU can slow down for seconds at a time while the host runs something else on it.
 * Measured here, the bundled detector's batch-1 run pinned to each of the 2 CPUs in turn, every 1.3 s for
 * 2 minutes: 59–63 ms on both most of the time, and each CPU separately at 77–90 ms for spans of 8–30 s;
 * another time CPU 1 stayed at 81–97 ms for over 5 minutes while CPU 0 ran at 57–63 (session 7). A session
 * pinned to a CPU in such a span stays slow (the placed runs then took 14.7 s against 12.8 shared). So a
 * placed session is put on the quicker CPUs at load ({@link otherIsQuicker}), and the watch sees its run
 * times afterwards and says when to swap the inference CPUs with the rest's.
 *
 * The rule: the median of the last {@link RECENT} runs' time per frame above {@link SLOW} × the session's
 * reference (the 10th percentile of its last {@link HISTORY} runs) means the CPU has slowed: swap, unless
 * the last swap was less than the back-off ago. A swap that did not help (the next {@link RECENT} runs not
 * 10 % quicker than the ones that caused it: both CPUs slow) doubles the back-off, up to a minute; one that
 * did resets it to {@link MIN_BACKOFF_MS}. Batch sizes differ by a few per cent per frame, well inside SLOW.
 */

import { spreadOf } from '../report/stats.js';

/** Runs timed on each side by the choice at load ({@link otherIsQuicker}). */
export const CHOICE_RUNS = 3;

/**
 * The choice at load: after its warm-up, a placed session times {@link CHOICE_RUNS} batch-1 runs on the
 * inference CPUs and as many on the others (swapped), and keeps the others only when their median is at
 * least 5 % quicker: a CPU already in a slow spell when the process starts is not the watch's to find (its
 * reference would be the slow pace).
 */
export function otherIsQuicker(hereMs: number, thereMs: number): boolean {
  return thereMs < 0.95 * hereMs;
}

/** Runs whose median is judged. */
export const RECENT = 5;
/** Runs the reference is taken from. */
export const HISTORY = 100;
/** How much slower than the reference the recent runs must be. */
export const SLOW = 1.2;
export const MIN_BACKOFF_MS = 2_000;
export const MAX_BACKOFF_MS = 60_000;

/** What one observation decided. */
export type WatchVerdict =
  { readonly swap: false } | { readonly swap: true; readonly recentMs: number; readonly referenceMs: number };

/** The median of an odd count of run times ({@link RECENT}, {@link CHOICE_RUNS}); NaN when none is finite. */
export const median = (values: readonly number[]): number => spreadOf(values)?.median ?? Number.NaN;

export class CoreWatch {
  private readonly history: number[] = [];
  private recent: number[] = [];
  private lastSwapAt = Number.NEGATIVE_INFINITY;
  private backoffMs = MIN_BACKOFF_MS;
  /** The recent median that caused the last swap, until the runs after it are judged. */
  private causedSwap: number | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** The back-off now in force, ms. */
  get backoff(): number {
    return this.backoffMs;
  }

  /** One run's inference time per frame (ms); says whether to swap now. */
  observe(perFrameMs: number): WatchVerdict {
    if (!(perFrameMs > 0 && Number.isFinite(perFrameMs))) return { swap: false };
    this.history.push(perFrameMs);
    if (this.history.length > HISTORY) this.history.shift();
    this.recent.push(perFrameMs);
    if (this.recent.length < RECENT) return { swap: false };
    if (this.recent.length > RECENT) this.recent.shift();
    const recentMs = median(this.recent);
    if (this.causedSwap !== undefined) {
      const helped = recentMs < 0.9 * this.causedSwap;
      this.backoffMs = helped ? MIN_BACKOFF_MS : Math.min(2 * this.backoffMs, MAX_BACKOFF_MS);
      this.causedSwap = undefined;
    }
    const sorted = [...this.history].sort((a, b) => a - b);
    const referenceMs = sorted[Math.floor((sorted.length - 1) / 10)]!;
    const at = this.now();
    if (recentMs > SLOW * referenceMs && at - this.lastSwapAt >= this.backoffMs) {
      this.lastSwapAt = at;
      this.causedSwap = recentMs;
      this.recent = [];
      return { swap: true, recentMs, referenceMs };
    }
    return { swap: false };
  }
}
