import type { Governor } from './feeder.js';

/**
 * Wakes FFmpeg's blocked reads when the process exits.
 *
 * A demuxer read waiting for bytes holds a libuv pool thread on the governor's condition variable, and
 * `process.exit()` joins every pool thread before the process ends: with a read still waiting, the exit
 * never ends (measured: a child that called `process.exit(0)` a microtask after its first frame, before
 * the operator's teardown ran, slept for good in `uv__threadpool_cleanup` with one pool thread in
 * beamcoder's `read_packet`). Node runs no native clean-up hook before that join, only the `exit` event's
 * listeners, so the one listener here finishes every governor still open: each waiting read sees EOF and
 * its thread ends. What the read returns is never looked at, for the loop does not turn again.
 */
const open = new Set<Governor>();
let listening = false;

function wakeAll(): void {
  for (const governor of open) governor.finish();
  open.clear();
}

/** Tracks `governor` until {@link forget}: finished when the process exits while it is still open. */
export function wakeAtExit(governor: Governor): void {
  if (!listening) {
    listening = true;
    process.once('exit', wakeAll);
  }
  open.add(governor);
}

/** The governor is finished: nothing to wake at exit. */
export function forget(governor: Governor): void {
  open.delete(governor);
}

/** Governors still tracked (for tests). */
export function openGovernors(): number {
  return open.size;
}
