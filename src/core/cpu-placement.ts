/**
 * Inference on cores of its own: on a machine with few CPUs, the threads of the process's CPU inference
 * sessions (their worker threads and ONNX Runtime's pools) may run only on some CPUs, and every other thread
 * (the event loop, libuv's pool, V8's helpers, FFmpeg's decoder and filter threads, everything they start)
 * only on the others.
 *
 * Why: on 2 CPUs the bundled detector's single inference thread waited about 1 s per 180-frame run on the
 * run queue behind the decoder's frame threads and the event loop (its /proc schedstat), and the run's
 * inference took 1.14–1.16 × its steady time. With the inference thread alone on CPU 1 and the rest on
 * CPU 0, the wait fell to 0.1–0.2 s and the runs' inference time by 6–7 % (one process alternating placed
 * and shared runs; README, "Inference on CPUs of its own"). Decoding loses nothing it used: its share of a
 * run is about 0.4 of a core.
 *
 * The rule ({@link planPlacement}): with N CPUs allowed to the process, inference gets the last ⌊N/2⌋, the
 * rest the others, when the sessions that run at once fit (at most one per inference CPU). A pipeline with
 * two CPU models running side by side on 2 CPUs (the soccer operator) is left to the scheduler: each model
 * then uses what the decoder leaves of both cores. Measured on 2 CPUs only; larger machines follow the same
 * rule untested.
 *
 * How: the first placement of the process moves every thread alive to the rest; threads started later
 * inherit their creator's CPUs (Linux), so decoders started from the event loop or libuv's pool stay on the
 * rest, and a session's worker is started with the event loop briefly on the inference CPUs
 * ({@link startOnInferenceCores}), so the worker and the pool ONNX Runtime starts from it run there. Through
 * the patched beamcoder's `setAffinity` / `getAffinity` (sched_setaffinity, Linux). Once placed, a process
 * stays placed; a session started before the first placement is moved to the rest with every other thread.
 * FIRSTFRAME_CORES=shared (or PrepareOptions.cores 'shared') leaves every thread to the
 * scheduler.
 */
import { readdirSync } from 'node:fs';
import { beamcoder } from '../media/beamcoder.js';

/** Which CPUs inference's threads and the process's other threads may run on. */
export interface CpuPlacement {
  readonly inference: readonly number[];
  readonly rest: readonly number[];
}

/** What {@link placeInference} did. */
export type PlacementOutcome =
  | (CpuPlacement & {
      readonly placed: true;
      /** Threads moved to the rest by this call (0 when the process was placed before). */
      readonly moved: number;
    })
  | { readonly placed: false; readonly reason: string };

/** The two calls of the patched beamcoder used here (absent from an unpatched build). */
export interface AffinityCalls {
  setAffinity(tid: number, cpus: readonly number[]): boolean;
  getAffinity(tid: number): number[] | null;
}

/**
 * The placement for `sessions` CPU inference sessions running at once on the `allowed` CPUs, or why there is
 * none: inference gets the last ⌊N/2⌋ CPUs, the rest the others, if the sessions fit one to a CPU.
 */
export function planPlacement(allowed: readonly number[], sessions: number): CpuPlacement | string {
  if (sessions < 1) return 'no CPU inference session';
  if (allowed.length < 2)
    return `${allowed.length} CPU${allowed.length === 1 ? '' : 's'} allowed to the process`;
  const share = Math.floor(allowed.length / 2);
  if (sessions > share) {
    return `${sessions} inference sessions at once on ${allowed.length} CPUs: left to the scheduler`;
  }
  const sorted = [...allowed].sort((a, b) => a - b);
  return { inference: sorted.slice(sorted.length - share), rest: sorted.slice(0, sorted.length - share) };
}

let placement: (CpuPlacement & { placed: true; moved: number }) | undefined;
let affinityCalls: AffinityCalls | undefined;
let swaps = 0;

/** The native calls, or why they cannot be had. */
function nativeCalls(): AffinityCalls | string {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  let native: Partial<AffinityCalls>;
  try {
    native = beamcoder() as unknown as Partial<AffinityCalls>;
  } catch (error) {
    return `beamcoder did not load: ${(error as Error).message}`;
  }
  if (typeof native.setAffinity !== 'function' || typeof native.getAffinity !== 'function') {
    return 'beamcoder is not patched with setAffinity (reinstall firstframe)';
  }
  return native as AffinityCalls;
}

/** This process's threads, main thread first. */
function threadIds(): number[] {
  return readdirSync('/proc/self/task')
    .map(Number)
    .filter((tid) => Number.isInteger(tid))
    .sort((a, b) => (a === process.pid ? -1 : b === process.pid ? 1 : a - b));
}

/**
 * Gives inference its CPUs for `sessions` CPU sessions running at once (see the module's comment), once per
 * process: a later call returns the first placement (moved 0) when it was made, else tries again. Never
 * throws: where it cannot, the outcome says why and every thread stays where it was.
 */
export function placeInference(
  sessions: number,
  options: { env?: NodeJS.ProcessEnv; calls?: AffinityCalls } = {},
): PlacementOutcome {
  if (placement) return { ...placement, moved: 0 };
  const env = options.env ?? process.env;
  if (env.FIRSTFRAME_CORES === 'shared') {
    return { placed: false, reason: 'FIRSTFRAME_CORES=shared leaves every thread to the scheduler' };
  }
  const calls = options.calls ?? nativeCalls();
  if (typeof calls === 'string') return { placed: false, reason: calls };
  const allowed = calls.getAffinity(0);
  if (!allowed) return { placed: false, reason: 'the kernel did not say which CPUs the process may use' };
  const plan = planPlacement(allowed, sessions);
  if (typeof plan === 'string') return { placed: false, reason: plan };
  let moved = 0;
  for (const tid of threadIds()) {
    // The main thread first: a refusal there (a seccomp filter, say) leaves everything as it was.
    const done = calls.setAffinity(tid === process.pid ? 0 : tid, plan.rest);
    if (tid === process.pid && !done) {
      return { placed: false, reason: 'the kernel refused to set the event loop’s CPUs' };
    }
    if (done) moved += 1;
  }
  placement = { placed: true, ...plan, moved };
  affinityCalls = calls;
  return placement;
}

/** The process's placement, once {@link placeInference} made one. */
export function inferencePlacement(): CpuPlacement | undefined {
  return placement ? { inference: placement.inference, rest: placement.rest } : undefined;
}

/** Whether two lists of CPUs hold the same ones (both ascending). */
const same = (a: readonly number[] | null, b: readonly number[]) =>
  a !== null && a.length === b.length && a.every((cpu, index) => cpu === b[index]);

/**
 * Swaps the inference CPUs with the rest's (when there are as many of each: 2 CPUs, 4, …): every thread
 * on the inference CPUs moves to the rest's and every thread on the rest's to the inference CPUs; threads
 * on other CPUs (a user's own setting) stay. For a CPU that is slower than the others (the choice at load
 * and src/core/core-watch.ts). Returns the new placement, or undefined when there is nothing to swap.
 */
export function swapInferenceCores(): CpuPlacement | undefined {
  if (!placement || !affinityCalls || placement.inference.length !== placement.rest.length) return undefined;
  const { inference, rest } = placement;
  const calls = affinityCalls;
  // Twice: a thread started during the first pass by one not yet moved has the old CPUs.
  const seen = new Set<number>();
  for (let pass = 0; pass < 2; pass += 1) {
    for (const tid of threadIds()) {
      if (seen.has(tid)) continue;
      seen.add(tid);
      const cpus = calls.getAffinity(tid);
      if (same(cpus, inference)) calls.setAffinity(tid, rest);
      else if (same(cpus, rest)) calls.setAffinity(tid, inference);
    }
  }
  placement = { ...placement, inference: rest, rest: inference };
  swaps += 1;
  return { inference: placement.inference, rest: placement.rest };
}

/** How many times {@link swapInferenceCores} swapped the CPUs in this process. */
export function inferenceCoreSwaps(): number {
  return swaps;
}

/**
 * Runs `start` (which starts a thread: `new Worker(…)`) with the calling thread on the inference CPUs, then
 * puts the calling thread back, so that the thread started inherits those CPUs. Without a placement, just
 * `start()`.
 */
export function startOnInferenceCores<T>(start: () => T): T {
  if (!placement || !affinityCalls) return start();
  const calls = affinityCalls;
  const own = calls.getAffinity(0);
  if (!own || !calls.setAffinity(0, placement.inference)) return start();
  try {
    return start();
  } finally {
    calls.setAffinity(0, own);
  }
}
