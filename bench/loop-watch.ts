// What is the event loop's thread doing while the loop is late? A watcher thread polls the main thread's
// /proc entries (state, the system call it is in, the kernel function it sleeps in) every millisecond and,
// whenever the main thread's heartbeat (a 5 ms timer writing a shared clock) is over `lateMs` behind, tallies
// what it saw until the heartbeat resumes; one line per stall goes to stderr (fd 2, written by the watcher
// itself, so that a blocked main thread cannot hold it back). Linux only; elsewhere it does nothing.
//
// Used by bench/deadline.ts (`--watch-main`) in the server's process: e.g. `futex` with state S means the
// thread waits on a lock (or a condition: a GC join, a synchronous hand-off to another thread), `epoll_wait`
// means it was idle and the timer's wake-up waited for a core, state R means it ran or was runnable.
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

const WATCHER = `
const { readFileSync, writeSync } = require('node:fs');
const { workerData } = require('node:worker_threads');
const beat = new BigInt64Array(workerData.shared);
const base = '/proc/' + workerData.pid + '/task/' + workerData.pid;
const names = { 0: 'read', 1: 'write', 7: 'poll', 202: 'futex', 232: 'epoll_wait', 281: 'epoll_pwait',
  56: 'clone', 57: 'fork', 58: 'vfork', 435: 'clone3', 9: 'mmap', 11: 'munmap', 10: 'mprotect',
  28: 'madvise', 35: 'nanosleep', 230: 'clock_nanosleep', 257: 'openat', 3: 'close', 17: 'pread64',
  18: 'pwrite64', 20: 'writev', 19: 'readv', 213: 'epoll_create', 233: 'epoll_ctl', 59: 'execve', 61: 'wait4' };
const lateNs = BigInt(workerData.lateMs) * 1000000n;
let stall;
const read = (name) => { try { return readFileSync(base + '/' + name, 'utf8'); } catch { return ''; } };
setInterval(() => {
  const now = process.hrtime.bigint();
  const behind = now - Atomics.load(beat, 0);
  if (behind > lateNs) {
    stall ??= { started: now - behind, seen: new Map() };
    const stat = read('stat');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    const call = read('syscall').trim().split(' ')[0];
    const key = state + ' ' + (call === 'running' ? 'user' : (names[call] ?? 'sys' + call)) + ' ' + (read('wchan').trim() || '-');
    stall.seen.set(key, (stall.seen.get(key) ?? 0) + 1);
  } else if (stall) {
    const ms = Number(now - stall.started) / 1e6;
    const seen = [...stall.seen].sort((a, b) => b[1] - a[1]).map(([k, n]) => k + ' ×' + n).join(', ');
    writeSync(2, 'loop-watch: main thread stalled ' + ms.toFixed(0) + ' ms: ' + seen + '\\n');
    stall = undefined;
  }
}, 1);
`;

/** Starts the watcher (and the heartbeat); returns a function that stops both. */
export function watchMainThread(lateMs = 30): () => void {
  if (!existsSync(`/proc/${process.pid}/task/${process.pid}/syscall`)) return () => undefined;
  const shared = new SharedArrayBuffer(8);
  const beat = new BigInt64Array(shared);
  Atomics.store(beat, 0, process.hrtime.bigint());
  const heartbeat = setInterval(() => Atomics.store(beat, 0, process.hrtime.bigint()), 5);
  heartbeat.unref();
  const worker = new Worker(WATCHER, { eval: true, workerData: { shared, pid: process.pid, lateMs } });
  worker.unref();
  return () => {
    clearInterval(heartbeat);
    void worker.terminate();
  };
}
