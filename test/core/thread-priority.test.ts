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
  const priority = lowerComputeThreads({ nice: 7, intervalMs: 60000 });
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
  console.log(JSON.stringify({ pid: process.pid, first, before, lowered, after, again }));
})();
`;

const linux = existsSync('/proc/self/task');

describe('lowerComputeThreads', () => {
  it.runIf(linux)(
    'gives every thread but the main one the nice value, catches new threads at the next sweep',
    () => {
      const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', CHILD], {
        env: { ...process.env, MODULE },
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(child.status, child.stderr).toBe(0);
      const report = JSON.parse(child.stdout.trim().split('\n').pop()!) as {
        pid: number;
        first: Record<string, number>;
        before: Record<string, number>;
        lowered: number;
        after: Record<string, number>;
        again: number;
      };
      const main = String(report.pid);
      expect(report.first[main]).toBe(0);
      const others = Object.entries(report.first).filter(([tid]) => tid !== main);
      expect(others.length).toBeGreaterThan(3);
      expect(others.every(([, nice]) => nice === 7)).toBe(true);
      const fresh = Object.keys(report.before).filter((tid) => !(tid in report.first));
      expect(fresh.length).toBeGreaterThan(0);
      expect(fresh.every((tid) => report.before[tid] === 0)).toBe(true);
      expect(report.lowered).toBe(fresh.length);
      expect(report.after[main]).toBe(0);
      expect(Object.entries(report.after).every(([tid, nice]) => tid === main || nice === 7)).toBe(true);
      expect(report.again).toBe(0);
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
