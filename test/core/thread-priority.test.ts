import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { getPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lowerComputeThreads } from '../../src/core/thread-priority.js';

const MODULE = fileURLToPath(new URL('../../src/core/thread-priority.ts', import.meta.url));

// Lowering a thread cannot be undone without privilege, so the process whose threads are lowered is a
// child of its own, never the test worker. Its threads start at the nice value it inherits (0, or more
// when the tests run under nice(1)), and are given one 7 above it (19 at most).
const CHILD = `
const { Worker } = require('node:worker_threads');
const { readdirSync, readFileSync } = require('node:fs');
const niceOf = (tid) => Number(readFileSync('/proc/self/task/' + tid + '/stat', 'utf8').split(') ')[1].split(' ')[16]);
const table = () => Object.fromEntries(readdirSync('/proc/self/task').map((tid) => [tid, niceOf(tid)]));
(async () => {
  const { lowerComputeThreads } = await import(process.env.MODULE);
  const base = niceOf(process.pid);
  const nice = Math.min(19, base + 7);
  const priority = lowerComputeThreads({ nice, intervalMs: 60000, spareRuntime: process.env.SPARE === '1' });
  const first = table();
  // A thread the main thread starts afterwards begins at the main thread's 0, until the next sweep.
  const worker = new Worker('setInterval(() => {}, 1000)', { eval: true });
  await new Promise((resolve) => worker.once('online', resolve));
  const before = table();
  const lowered = priority.sweep();
  const after = table();
  const again = priority.sweep();
  priority.stop();
  await worker.terminate();
  console.log(JSON.stringify({ pid: process.pid, base, nice, spared: priority.spared, first, before, lowered, after, again }));
})();
`;

// Linux, and not already at 19: a process there has no lower priority to give its threads.
const canLower = existsSync('/proc/self/task') && getPriority() < 19;

describe('lowerComputeThreads', () => {
  interface Report {
    pid: number;
    /** The nice value the child started with (its main thread's), and the one its threads are given. */
    base: number;
    nice: number;
    spared: number;
    first: Record<string, number>;
    before: Record<string, number>;
    lowered: number;
    after: Record<string, number>;
    again: number;
  }
  const runChild = (spare: boolean): Report => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', CHILD], {
      env: { ...process.env, MODULE, SPARE: spare ? '1' : '0', UV_THREADPOOL_SIZE: '6' },
      encoding: 'utf8',
      // Only liveness: a loaded machine takes seconds to start node with tsx.
      timeout: 120_000,
    });
    expect(child.status, `${String(child.error ?? '')} ${child.signal ?? ''} ${child.stderr}`).toBe(0);
    return JSON.parse(child.stdout.trim().split('\n').pop()!) as Report;
  };
  /** Threads born after the first table, which a sweep must lower: the worker's. */
  const expectFreshLowered = (report: Report) => {
    const main = String(report.pid);
    const fresh = Object.keys(report.before).filter((tid) => !(tid in report.first));
    expect(fresh.length).toBeGreaterThan(0);
    expect(report.nice).toBeGreaterThan(report.base);
    expect(fresh.every((tid) => report.before[tid] === report.base)).toBe(true);
    expect(report.lowered).toBe(fresh.length);
    expect(report.after[main]).toBe(report.base);
    expect(fresh.every((tid) => report.after[tid] === report.nice)).toBe(true);
    expect(report.again).toBe(0);
  };

  it.runIf(canLower)(
    "spares the runtime's threads (libuv's pool started at the call, V8's workers), lowers those born later",
    () => {
      const report = runChild(true);
      const others = Object.entries(report.first).filter(([tid]) => tid !== String(report.pid));
      // libuv's pool (UV_THREADPOOL_SIZE 6) is started by the call, so at least its 6 threads are spared.
      expect(report.spared).toBe(others.length);
      expect(report.spared).toBeGreaterThanOrEqual(6);
      expect(others.every(([, nice]) => nice === report.base)).toBe(true);
      expectFreshLowered(report);
      // The spared ones stay at the main thread's value after the sweep.
      expect(others.every(([tid]) => report.after[tid] === report.base)).toBe(true);
    },
    150_000,
  );

  it.runIf(canLower)(
    'with spareRuntime false, gives every thread but the main one the nice value, catches new threads at the next sweep',
    () => {
      const report = runChild(false);
      const main = String(report.pid);
      expect(report.spared).toBe(0);
      expect(report.first[main]).toBe(report.base);
      const others = Object.entries(report.first).filter(([tid]) => tid !== main);
      expect(others.length).toBeGreaterThan(3);
      expect(others.every(([, nice]) => nice === report.nice)).toBe(true);
      expectFreshLowered(report);
      expect(Object.entries(report.after).every(([tid, nice]) => tid === main || nice === report.nice)).toBe(
        true,
      );
    },
    150_000,
  );

  it('nice 0 is off: nothing is touched', () => {
    const priority = lowerComputeThreads({ nice: 0 });
    expect(priority.nice).toBe(0);
    expect(priority.sweep()).toBe(0);
    priority.stop();
  });

  it.each([-1, 20, 2.5, Number.NaN])('refuses nice %s with FF_ERR_INVALID_OPTION', (nice) => {
    expect(() => lowerComputeThreads({ nice })).toThrow(
      expect.objectContaining({ code: 'FF_ERR_INVALID_OPTION' }),
    );
  });
});
