import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lowerComputeThreads } from '../../src/core/thread-priority.js';

const MODULE = fileURLToPath(new URL('../../src/core/thread-priority.ts', import.meta.url));

// Lowering a thread cannot be undone without privilege, so the process whose threads are lowered is a
// child of its own, never the test worker.
const CHILD = `
const { Worker } = require('node:worker_threads');
const { readdirSync, readFileSync } = require('node:fs');
const niceOf = (tid) => Number(readFileSync('/proc/self/task/' + tid + '/stat', 'utf8').split(') ')[1].split(' ')[16]);
const table = () => Object.fromEntries(readdirSync('/proc/self/task').map((tid) => [tid, niceOf(tid)]));
(async () => {
  const { lowerComputeThreads } = await import(process.env.MODULE);
  const priority = lowerComputeThreads({ nice: 7, intervalMs: 60000, spareRuntime: process.env.SPARE === '1' });
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
  console.log(JSON.stringify({ pid: process.pid, spared: priority.spared, first, before, lowered, after, again }));
})();
`;

const linux = existsSync('/proc/self/task');

describe('lowerComputeThreads', () => {
  interface Report {
    pid: number;
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
      timeout: 20_000,
    });
    expect(child.status, child.stderr).toBe(0);
    return JSON.parse(child.stdout.trim().split('\n').pop()!) as Report;
  };
  /** Threads born after the first table, which a sweep must lower: the worker's. */
  const expectFreshLowered = (report: Report) => {
    const main = String(report.pid);
    const fresh = Object.keys(report.before).filter((tid) => !(tid in report.first));
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.every((tid) => report.before[tid] === 0)).toBe(true);
    expect(report.lowered).toBe(fresh.length);
    expect(report.after[main]).toBe(0);
    expect(fresh.every((tid) => report.after[tid] === 7)).toBe(true);
    expect(report.again).toBe(0);
  };

  it.runIf(linux)(
    "spares the runtime's threads (libuv's pool started at the call, V8's workers), lowers those born later",
    () => {
      const report = runChild(true);
      const others = Object.entries(report.first).filter(([tid]) => tid !== String(report.pid));
      // libuv's pool (UV_THREADPOOL_SIZE 6) is started by the call, so at least its 6 threads are spared.
      expect(report.spared).toBe(others.length);
      expect(report.spared).toBeGreaterThanOrEqual(6);
      expect(others.every(([, nice]) => nice === 0)).toBe(true);
      expectFreshLowered(report);
      // The spared ones stay at 0 after the sweep.
      expect(others.every(([tid]) => report.after[tid] === 0)).toBe(true);
    },
  );

  it.runIf(linux)(
    'with spareRuntime false, gives every thread but the main one the nice value, catches new threads at the next sweep',
    () => {
      const report = runChild(false);
      const main = String(report.pid);
      expect(report.spared).toBe(0);
      expect(report.first[main]).toBe(0);
      const others = Object.entries(report.first).filter(([tid]) => tid !== main);
      expect(others.length).toBeGreaterThan(3);
      expect(others.every(([, nice]) => nice === 7)).toBe(true);
      expectFreshLowered(report);
      expect(Object.entries(report.after).every(([tid, nice]) => tid === main || nice === 7)).toBe(true);
    },
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
