import {
  Observable,
  asyncScheduler,
  type OperatorFunction,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import { now } from '../core/clock.js';
import { ConfigError, codes } from '../core/errors.js';
import { safeSink, type EventSink } from '../core/events.js';

export interface BatchOptions {
  /** Frames per full batch (BATCH_SIZE). */
  size: number;
  /**
   * Emit a partial batch this long after its first frame arrived (as DeepStream's batched-push-timeout does);
   * undefined: wait for a full batch (or the end).
   */
  maxWaitMs?: number;
  /**
   * Ramp-up (RAMP_UP): the first batch holds only `firstBatch` frames (RAMP_UP_FIRST_BATCH) and each next
   * one twice as many, up to `size`, so the first results do not wait for a full batch.
   */
  rampUp?: boolean | { firstBatch: number };
  /** The very first frame goes alone (EARLY_FLUSH_FIRST_FRAME), before any ramp-up. */
  earlyFlushFirstFrame?: boolean;
  scheduler?: SchedulerLike;
  onEvent?: EventSink;
}

/** Why a batch was emitted, for timing events and benchmarks. */
export type BatchReason = 'first-frame' | 'full' | 'timeout' | 'end';

/** The batch sizes in order: [1?] firstBatch, 2·firstBatch, … size, size, … */
export function batchTargets(options: BatchOptions): (index: number) => number {
  const { size } = options;
  const ramp = options.rampUp === true ? { firstBatch: Math.min(4, size) } : options.rampUp || undefined;
  const early = options.earlyFlushFirstFrame ? 1 : 0;
  return (index) => {
    if (early && index === 0) return 1;
    if (!ramp) return size;
    return Math.min(size, ramp.firstBatch * 2 ** (index - early));
  };
}

function validate(options: BatchOptions): void {
  const problems: string[] = [];
  if (!Number.isInteger(options.size) || options.size <= 0) {
    problems.push(`batch.size: expected a positive integer, got ${JSON.stringify(options.size)}`);
  }
  if (options.maxWaitMs !== undefined && (!Number.isFinite(options.maxWaitMs) || options.maxWaitMs < 0)) {
    problems.push(`batch.maxWaitMs: expected a number >= 0, got ${JSON.stringify(options.maxWaitMs)}`);
  }
  if (typeof options.rampUp === 'object') {
    const first = options.rampUp.firstBatch;
    if (!Number.isInteger(first) || first <= 0) {
      problems.push(`batch.rampUp.firstBatch: expected a positive integer, got ${JSON.stringify(first)}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems, { stage: 'batch' });
}

/**
 * Groups frames into batches for the model: a batch goes when it is full, when `maxWaitMs` has passed since
 * its first frame, or when the input ends (the partial batch is flushed). With ramp-up and early flush the
 * first results never wait for a full batch.
 *
 * ```text
 * frames:   -a-b-c-d-e-f-g-h-i-|
 * batch({ size: 4, earlyFlushFirstFrame: true, rampUp: { firstBatch: 2 } })
 * result:   -x---y-------z---(w|)     x=[a] y=[b,c] z=[d,e,f,g] w=[h,i]
 * ```
 *
 * @example frames$.pipe(batch({ size: 16, maxWaitMs: 50, rampUp: { firstBatch: 4 }, earlyFlushFirstFrame: true }))
 * @returns an operator from frames to arrays of frames; errors pass through after nothing more is emitted.
 */
export function batch<T>(options: BatchOptions): OperatorFunction<T, T[]> {
  validate(options);
  const targets = batchTargets(options);
  const scheduler = options.scheduler ?? asyncScheduler;
  const onEvent = safeSink(options.onEvent);
  return (source) =>
    new Observable<T[]>((subscriber) => {
      let buffer: T[] = [];
      let index = 0;
      let timer: Subscription | undefined;
      const flush = (reason: BatchReason) => {
        timer?.unsubscribe();
        timer = undefined;
        if (buffer.length === 0) return;
        const frames = buffer;
        buffer = [];
        onEvent?.({
          stage: 'batch',
          name: 'batch',
          at: now(),
          data: { index, size: frames.length, reason },
        });
        index += 1;
        subscriber.next(frames);
      };
      const upstream = source.subscribe({
        next: (frame) => {
          buffer.push(frame);
          const target = targets(index);
          if (buffer.length >= target) {
            flush(index === 0 && options.earlyFlushFirstFrame ? 'first-frame' : 'full');
          } else if (buffer.length === 1 && options.maxWaitMs !== undefined) {
            timer = scheduler.schedule(() => flush('timeout'), options.maxWaitMs);
          }
        },
        error: (error: unknown) => {
          timer?.unsubscribe();
          buffer = [];
          subscriber.error(error);
        },
        complete: () => {
          flush('end');
          subscriber.complete();
        },
      });
      return () => {
        timer?.unsubscribe();
        buffer = [];
        upstream.unsubscribe();
      };
    });
}
