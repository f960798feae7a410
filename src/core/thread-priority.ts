/**
 * The event loop's thread first: the threads that compute for the process (FFmpeg's codec threads, ONNX
 * Runtime's pools and the worker thread that drives them, any thread started after start-up) run at a lower
 * priority, so that on a machine with fewer cores than busy threads the thread that fires the deadline and
 * writes the answer is not queued behind the process's own computing. Total throughput does not change (the
 * scheduler still gives the cores to whoever is ready); only who goes first does.
 *
 * The runtime's own threads keep the event loop's priority: libuv's pool and V8's platform workers (garbage
 * collection helpers, the optimising compiler). The event loop waits on them synchronously — a condition
 * variable signalled to queue pool work makes the signaller wait until the previously woken pool thread has
 * run; a mark-compact joins its concurrent markers — so a lowered runtime thread, starved by a dozen lowered
 * compute threads, made the loop itself wait: measured with `perf record -e sched:sched_switch` on the
 * server's main thread under 4 challenges at once, stalls of up to 76 ms in `uv_queue_work`'s signal and
 * 53 ms in the marking join, with every thread but the main one lowered. They are told apart by age: the
 * pool is started (a no-op `stat` queues its first work, which creates all its threads before returning)
 * and every thread alive then is the runtime's; those born later are lowered.
 *
 * Linux keeps a nice value per thread and a thread starts with its creator's, so threads started from a
 * lowered thread are lowered from birth; others (a decoder's frame threads, started from the event loop)
 * are caught by the next sweep. Raising one's own nice value needs no privilege; lowering it back would,
 * so a thread is never touched twice and a failure leaves it as it is. Elsewhere (no /proc/self/task)
 * this does nothing and says so.
 */
import { readdirSync, stat } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { ConfigError, codes } from './errors.js';

export interface ComputePriority {
  /** The nice value given to every thread but the main one; 0: off. */
  readonly nice: number;
  /** Whether this platform allows it (Linux with /proc). */
  readonly supported: boolean;
  /** The runtime's threads left at the event loop's priority (libuv's pool, V8's workers). */
  readonly spared: number;
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

/** The threads alive once libuv's pool has started: the runtime's own (see the module's comment). */
function runtimeThreads(): Set<number> {
  // Queuing the pool's first work creates all of its threads before the call returns.
  stat('/', () => undefined);
  return new Set(otherThreads() ?? []);
}

/**
 * Lowers every thread of the process to `nice` (1–19) but the main one and, with `spareRuntime` (the
 * default), the runtime's own threads alive at this call (libuv's pool, V8's workers): call it at start-up,
 * before any model or decoder has started threads of its own. It sweeps now and every `intervalMs`
 * (default 250; the timer does not keep the process alive). `nice: 0` returns a handle that does nothing.
 * A sweep reads the thread list and one priority per new thread: about 0.1 ms for 40 threads.
 *
 * @throws ConfigError (FF_ERR_INVALID_OPTION) for a nice value outside 0–19.
 */
export function lowerComputeThreads(options: {
  nice: number;
  intervalMs?: number;
  spareRuntime?: boolean;
}): ComputePriority {
  const { nice } = options;
  if (!Number.isInteger(nice) || nice < 0 || nice > 19) {
    throw new ConfigError(codes.config.invalidOption, [
      `compute nice: expected an integer from 0 to 19, got ${JSON.stringify(nice)}`,
    ]);
  }
  const supported = otherThreads() !== undefined;
  if (nice === 0 || !supported) {
    return { nice: 0, supported, spared: 0, sweep: () => 0, stop: () => undefined };
  }
  const spared = options.spareRuntime === false ? new Set<number>() : runtimeThreads();
  const settled = new Set<number>();
  const sweep = (): number => {
    let lowered = 0;
    const threads = otherThreads() ?? [];
    const alive = new Set(threads);
    // Thread ids are reused: forget those that have exited, so that a compute thread given the id of one
    // that was spared (a thread alive at the call that was not the runtime's own) is lowered all the same.
    for (const tid of settled) if (!alive.has(tid)) settled.delete(tid);
    for (const tid of spared) if (!alive.has(tid)) spared.delete(tid);
    for (const tid of threads) {
      if (settled.has(tid) || spared.has(tid)) continue;
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
  const timer = setInterval(sweep, options.intervalMs ?? 250);
  timer.unref();
  return {
    nice,
    supported,
    get spared() {
      return spared.size;
    },
    sweep,
    stop: () => clearInterval(timer),
  };
}
