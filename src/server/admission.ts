import { ConfigError, codes } from '../core/errors.js';

/** Gives back a run slot; calling it again does nothing. */
export type ReleaseSlot = () => void;

export interface Admission {
  /**
   * A run slot: at once when one is free, after the challenges ahead of it when all are taken and the queue
   * has room. Undefined when the queue is full too (the caller answers 503). The promise rejects with
   * `signal.reason` when `signal` aborts while it waits (the client went away, the server is stopping).
   */
  enter(signal?: AbortSignal): Promise<ReleaseSlot> | undefined;
  /** Challenges holding a slot. */
  readonly active: number;
  /** Challenges waiting for one. */
  readonly queued: number;
  readonly concurrency: number;
  /** True while a challenge would start at once. */
  readonly available: boolean;
}

interface Waiter {
  grant(release: ReleaseSlot): void;
}

/**
 * At most `concurrency` challenges run at once, at most `queue` more wait for a slot in arrival order, and
 * the rest are turned away. Runs share one model session, whose inference calls are serialised anyway; the
 * limit bounds what the downloads and decoders of concurrent runs take (memory, libuv threads, CPU), and the
 * queue absorbs a burst without letting waits grow without bound.
 *
 *     slots:  [A][B]      queue: C D      E → 503
 *     A done: [C][B]      queue: D
 *
 * @throws ConfigError (FF_ERR_INVALID_OPTION) for a concurrency below 1 or a negative queue.
 */
export function createAdmission(options: { concurrency: number; queue: number }): Admission {
  const problems: string[] = [];
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
    problems.push(`concurrency: expected a positive integer, got ${JSON.stringify(options.concurrency)}`);
  }
  if (!Number.isInteger(options.queue) || options.queue < 0) {
    problems.push(`queue: expected an integer >= 0, got ${JSON.stringify(options.queue)}`);
  }
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems);

  let active = 0;
  const waiting: Waiter[] = [];

  const slot = (): ReleaseSlot => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = waiting.shift();
      // The slot passes straight to the next in line: `active` does not dip, so no newcomer can jump the queue.
      if (next) next.grant(slot());
      else active -= 1;
    };
  };

  return {
    enter(signal) {
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (active < options.concurrency) {
        active += 1;
        return Promise.resolve(slot());
      }
      if (waiting.length >= options.queue) return undefined;
      return new Promise<ReleaseSlot>((resolve, reject) => {
        const onAbort = () => {
          const index = waiting.indexOf(waiter);
          if (index >= 0) waiting.splice(index, 1);
          reject(signal?.reason);
        };
        const waiter: Waiter = {
          grant(release) {
            signal?.removeEventListener('abort', onAbort);
            resolve(release);
          },
        };
        waiting.push(waiter);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    get active() {
      return active;
    },
    get queued() {
      return waiting.length;
    },
    concurrency: options.concurrency,
    get available() {
      return active < options.concurrency;
    },
  };
}
