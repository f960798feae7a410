/**
 * glibc's allocator, set for a process that decodes video: one heap for all threads, large blocks
 * taken from it rather than mapped for each call, and freed memory kept rather than given back at once.
 *
 * Why: every decoder, filter graph and frame pool that FFmpeg opens allocates megabytes (a 720p H.264
 * decoder about 3 MB), on whichever libuv thread runs the call. With glibc's defaults each such block is a
 * fresh mapping, or comes from that thread's own arena (up to 8 per core), so its pages are touched for the
 * first time on the clock, and this VM pays about 11 µs per page fault. Measured on a 720p frame 0, a new
 * decoder, in a fresh process (test/core/allocator.test.ts): 19–21 ms and about 860 page faults with the
 * defaults; 11–12 ms and 128 faults with these settings from the environment after 24 MiB of heap were
 * touched (warmDecode does), 174 with them made by `mallopt`. What is freed stays in the process (up to
 * {@link ALLOCATOR_SETTINGS}.trimThresholdBytes above the heap's top), which a server that decodes all day
 * reuses anyway.
 *
 * The complete form is the environment, `GLIBC_TUNABLES` (see {@link ALLOCATOR_TUNABLES}), which glibc
 * reads before any thread exists: pm2's file and scripts/run-default.sh start node with it. Made later by
 * `mallopt` ({@link tuneAllocator}, the first statement of `bin/firstframe`), the thresholds apply to every
 * thread but one arena does not: node has a second arena before any JavaScript runs, and glibc then deals
 * new threads out over both in turn, so about half of the decoders allocate outside the main heap that
 * warmDecode touched. A program that embeds firstframe starts node with the variable, or calls
 * {@link tuneAllocator} at the top of its entry point. Where `GLIBC_TUNABLES` already sets any
 * `glibc.malloc.*` tunable, or `FIRSTFRAME_ALLOCATOR=default`, nothing is changed. Linux with glibc only;
 * elsewhere it reports why not.
 *
 * CommonJS (.cts) so that the launcher can require it synchronously before any ES module is loaded (the
 * loader starts libuv's threads). The call goes through the patched beamcoder's `mallopt`
 * (patches/beamcoder+0.7.1.patch), loaded without its JavaScript (no licence splash, no crash handler yet).
 */

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The settings. */
export const ALLOCATOR_SETTINGS = {
  /** One arena: a block freed by any thread serves the next allocation of any thread. */
  arenaMax: 1,
  /** Blocks below this come from the heap (glibc's default starts at 128 KiB and rises with use). */
  mmapThresholdBytes: 32 * 1024 * 1024,
  /** Freed memory above the heap's top is given back to the system only past this. */
  trimThresholdBytes: 128 * 1024 * 1024,
} as const;

/** Each setting by its glibc tunable's name and its `mallopt` parameter (malloc.h). */
const SETTINGS = [
  { tunable: 'glibc.malloc.arena_max', param: -8, value: ALLOCATOR_SETTINGS.arenaMax },
  { tunable: 'glibc.malloc.mmap_threshold', param: -3, value: ALLOCATOR_SETTINGS.mmapThresholdBytes },
  { tunable: 'glibc.malloc.trim_threshold', param: -1, value: ALLOCATOR_SETTINGS.trimThresholdBytes },
] as const;

/** The same settings as glibc reads them from the environment at a process's start. */
export const ALLOCATOR_TUNABLES = SETTINGS.map(({ tunable, value }) => `${tunable}=${value}`).join(':');

/** Whether GLIBC_TUNABLES sets any of glibc's malloc tunables: the user's choice, kept. */
const setsMallocTunables = (env: NodeJS.ProcessEnv): boolean =>
  /glibc\.malloc\./.test(env.GLIBC_TUNABLES ?? '');

/**
 * `env` for a process to start with the settings (node's own child processes, a bench's): GLIBC_TUNABLES
 * with {@link ALLOCATOR_TUNABLES} appended, unless FIRSTFRAME_ALLOCATOR=default or GLIBC_TUNABLES already sets
 * a `glibc.malloc.*` tunable (then `env` as it is).
 */
export function withAllocatorTunables(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (env.FIRSTFRAME_ALLOCATOR === 'default' || setsMallocTunables(env)) return env;
  const tunables = env.GLIBC_TUNABLES ?? '';
  return {
    ...env,
    GLIBC_TUNABLES: tunables === '' ? ALLOCATOR_TUNABLES : `${tunables}:${ALLOCATOR_TUNABLES}`,
  };
}

/** What {@link tuneAllocator} did. */
export type AllocatorTuning =
  | { readonly tuned: true; readonly by: 'mallopt' | 'GLIBC_TUNABLES' }
  | { readonly tuned: false; readonly reason: string };

const NOT_CALLED: AllocatorTuning = { tuned: false, reason: 'tuneAllocator() was not called' };
let tuning: AllocatorTuning | undefined;

/** The native module's one function used here. */
interface MalloptBinding {
  mallopt?: (param: number, value: number) => boolean;
}

/** beamcoder's compiled module, as its `bindings` call finds it (build/Release, else build/Debug). */
function loadBinding(): MalloptBinding {
  const load = createRequire(__filename);
  const root = dirname(load.resolve('beamcoder/package.json'));
  let firstError: unknown;
  for (const build of ['Release', 'Debug']) {
    try {
      return load(join(root, 'build', build, 'beamcoder.node')) as MalloptBinding;
    } catch (error) {
      firstError ??= error;
    }
  }
  throw firstError;
}

/**
 * Sets glibc's allocator as {@link ALLOCATOR_SETTINGS} says, once per process; later calls return the first
 * call's outcome. Never throws: where it cannot, the outcome says why (and the process runs with glibc's
 * defaults, only slower to its first frames).
 */
export function tuneAllocator(env: NodeJS.ProcessEnv = process.env): AllocatorTuning {
  tuning ??= decide(env);
  return tuning;
}

/**
 * What {@link tuneAllocator} did in this process; without a call, whether the process started with the
 * settings in GLIBC_TUNABLES.
 */
export function allocatorTuning(): AllocatorTuning {
  return tuning ?? (startedWithSettings(process.env) ? { tuned: true, by: 'GLIBC_TUNABLES' } : NOT_CALLED);
}

/** Whether GLIBC_TUNABLES holds each of the settings, with no later value of the same tunable overriding it. */
function startedWithSettings(env: NodeJS.ProcessEnv): boolean {
  const values = new Map<string, string>();
  for (const pair of (env.GLIBC_TUNABLES ?? '').split(':')) {
    const at = pair.indexOf('=');
    if (at > 0) values.set(pair.slice(0, at), pair.slice(at + 1));
  }
  return SETTINGS.every(({ tunable, value }) => values.get(tunable) === String(value));
}

function decide(env: NodeJS.ProcessEnv): AllocatorTuning {
  if (startedWithSettings(env)) return { tuned: true, by: 'GLIBC_TUNABLES' };
  if (env.FIRSTFRAME_ALLOCATOR === 'default') {
    return { tuned: false, reason: 'FIRSTFRAME_ALLOCATOR=default keeps glibc’s defaults' };
  }
  if (setsMallocTunables(env)) {
    return { tuned: false, reason: 'GLIBC_TUNABLES sets glibc.malloc.* itself: those are kept' };
  }
  if (process.platform !== 'linux') return { tuned: false, reason: `not Linux (${process.platform})` };
  let binding: MalloptBinding;
  try {
    binding = loadBinding();
  } catch (error) {
    return { tuned: false, reason: `beamcoder's native module did not load: ${(error as Error).message}` };
  }
  if (typeof binding.mallopt !== 'function') {
    return { tuned: false, reason: 'beamcoder has no mallopt: it is not built from the patched sources' };
  }
  const refused = SETTINGS.filter(({ param, value }) => !binding.mallopt!(param, value)).map(
    ({ tunable }) => tunable,
  );
  if (refused.length > 0) {
    return { tuned: false, reason: `mallopt refused ${refused.join(', ')} (no glibc?)` };
  }
  return { tuned: true, by: 'mallopt' };
}
