/**
 * The event loop's thread first: every other thread of the process (libuv's pool, where FFmpeg demuxes,
 * decodes and scales, the decoders' own frame threads, ONNX Runtime's worker and pools, V8's helpers) runs
 * at a lower priority, so that on a machine with fewer cores than busy threads the thread that fires the
 * deadline and writes the answer is never queued behind the process's own computing. Total throughput does
 * not change (the scheduler still gives the cores to whoever is ready); only who goes first does.
 *
 * Linux keeps a nice value per thread and a thread starts with its creator's, so FFmpeg's threads started
 * from a lowered pool thread are lowered from birth; threads the main thread starts later (a Node worker,
 * libuv's pool on first use) are caught by the next sweep. Raising one's own nice value needs no
 * privilege; lowering it back would, so a thread is never touched twice and a failure leaves it as it is.
 * Elsewhere (no /proc/self/task) this does nothing and says so.
 */
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { ConfigError, codes } from './errors.js';

export interface ComputePriority {
  /** The nice value given to every thread but the main one; 0: off. */
  readonly nice: number;
  /** Whether this platform allows it (Linux with /proc). */
  readonly supported: boolean;
  /** Looks at the threads now; returns how many it lowered. */
  sweep(): number;
  /** Stops the periodic sweep (threads already lowered stay so). */
  stop(): void;
}

const TASKS = '/proc/self/task';

/** The threads of this process, main thread excluded; undefined where the platform does not list them. */
function otherThreads(): number[] | undefined {
  let names: string[];
  try {
    names = readdirSync(TASKS);
  } catch {
    return undefined;
  }
  return names.map(Number).filter((tid) => Number.isInteger(tid) && tid !== process.pid);
}

/**
 * Lowers every thread of the process but the main one to `nice` (1–19), now and every `intervalMs`
 * (default 1000; the timer does not keep the process alive). `nice: 0` returns a handle that does nothing.
 * A sweep reads the thread list and one priority per thread: about 0.1 ms for 40 threads.
 *
 * @throws ConfigError (FF_ERR_INVALID_OPTION) for a nice value outside 0–19.
 */
export function lowerComputeThreads(options: { nice: number; intervalMs?: number }): ComputePriority {
  const { nice } = options;
  if (!Number.isInteger(nice) || nice < 0 || nice > 19) {
    throw new ConfigError(codes.config.invalidOption, [
      `compute nice: expected an integer from 0 to 19, got ${JSON.stringify(nice)}`,
    ]);
  }
  const supported = otherThreads() !== undefined;
  if (nice === 0 || !supported) {
    return { nice: 0, supported, sweep: () => 0, stop: () => undefined };
  }
  const settled = new Set<number>();
  const sweep = (): number => {
    let lowered = 0;
    const threads = otherThreads() ?? [];
    const alive = new Set(threads);
    // Thread ids are reused: forget those that have exited.
    for (const tid of settled) if (!alive.has(tid)) settled.delete(tid);
    for (const tid of threads) {
      if (settled.has(tid)) continue;
      settled.add(tid);
      try {
        if (getPriority(tid) < nice) {
          setPriority(tid, nice);
          lowered += 1;
        }
      } catch {
        // Exited between the listing and now, or not ours to change: left as it is.
      }
    }
    return lowered;
  };
  sweep();
  const timer = setInterval(sweep, options.intervalMs ?? 1000);
  timer.unref();
  return { nice, supported, sweep, stop: () => clearInterval(timer) };
}
