/**
 * A pool of fuzz worker processes. Each case runs in a child (bench/fuzz/worker.ts, forked under tsx) so
 * that a native crash or a hang costs one case, not the run: a child that dies with a case in flight makes
 * that case a crash, a child that does not answer within budget + margin is killed (SIGKILL) and the case
 * is a hang; either way the next case gets a fresh child.
 *
 * The children run in `workDir`, where the case files are written and served from: beamcoder's segfault
 * handler writes its `crash.log` into the working directory, and that belongs there, not in the repo.
 */

import { fork, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { withAllocatorTunables } from '../../src/core/allocator.cjs';
import {
  WORKER_CONFIG_ENV,
  type Transport,
  type WorkerConfig,
  type WorkerMessage,
  type WorkerOutcome,
} from './protocol.js';

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'worker.ts');
/** tsx's loader by its full path: the workers run in another directory, where `tsx` does not resolve. */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
/** Loading FFmpeg and ONNX Runtime and warming the model up; generous for a loaded 2-core machine. */
const READY_TIMEOUT_MS = 120_000;
const STDERR_TAIL_CHARS = 4000;
const HISTORY = 5;

export interface PoolOptions extends Omit<WorkerConfig, 'workDir'> {
  workers: number;
  /** How long past the budget a case may take before it is a hang and its worker is killed. */
  hangMarginMs: number;
  /** Where case files go (created; removed by close() unless `keepWorkDir`). */
  workDir: string;
  keepWorkDir?: boolean;
}

export interface PoolCase {
  id: string;
  ext: string;
  bytes: Uint8Array;
  transport: Transport;
}

/** What became of a case in a worker. */
export type PoolResult =
  | { kind: 'outcome'; outcome: WorkerOutcome }
  | {
      kind: 'crash';
      signal: string | null;
      exitCode: number | null;
      stderrTail: string;
      crashLog?: string;
      /** The cases this worker ran before, oldest first: a crash may come from an earlier case's damage. */
      previous: string[];
    }
  | { kind: 'hang'; waitedMs: number; stderrTail: string; previous: string[] };

export interface FuzzPool {
  run(item: PoolCase): Promise<PoolResult>;
  /** Workers started so far (1 per slot, plus one for each crash or hang). */
  readonly started: number;
  close(): Promise<void>;
}

interface Worker {
  child: ChildProcess;
  ready: Promise<void>;
  stderr: string;
  /** The ids of the last cases it ran. */
  history: string[];
  exited: Promise<{ signal: string | null; exitCode: number | null }>;
  onMessage?: (message: WorkerMessage) => void;
  /** Set while a case is in flight: what to do if the worker dies. */
  onExit?: (exit: { signal: string | null; exitCode: number | null }) => void;
}

export async function createFuzzPool(options: PoolOptions): Promise<FuzzPool> {
  await mkdir(options.workDir, { recursive: true });
  const config: WorkerConfig = {
    budgetS: options.budgetS,
    imgSize: options.imgSize,
    stride: options.stride,
    workDir: options.workDir,
    ...(options.limits ? { limits: options.limits } : {}),
  };
  let started = 0;
  let serial = 0;
  const slots: Array<Worker | undefined> = Array.from({ length: options.workers }, () => undefined);
  const free: number[] = slots.map((_, i) => i);
  const waiting: Array<(slot: number) => void> = [];

  const spawnWorker = (): Worker => {
    started += 1;
    const child = fork(WORKER, [], {
      cwd: options.workDir,
      execArgv: ['--import', TSX_LOADER],
      // As pm2 starts `serve`: 16 libuv threads, glibc's allocator set (FIRSTFRAME_ALLOCATOR=default: its defaults).
      env: withAllocatorTunables({
        ...process.env,
        UV_THREADPOOL_SIZE: '16',
        [WORKER_CONFIG_ENV]: JSON.stringify(config),
      }),
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const worker: Worker = {
      child,
      stderr: '',
      history: [],
      exited: new Promise((resolve) =>
        child.once('exit', (exitCode, signal) => {
          const exit = { exitCode, signal: signal ?? null };
          worker.onExit?.(exit);
          resolve(exit);
        }),
      ),
      ready: Promise.resolve(),
    };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (text: string) => {
      worker.stderr = (worker.stderr + text).slice(-STDERR_TAIL_CHARS);
    });
    worker.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`fuzz: a worker was not ready after ${READY_TIMEOUT_MS} ms\n${worker.stderr}`));
      }, READY_TIMEOUT_MS);
      child.on('message', (message: WorkerMessage) => {
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolve();
        } else worker.onMessage?.(message);
      });
      void worker.exited.then(({ exitCode, signal }) => {
        clearTimeout(timer);
        reject(
          new Error(`fuzz: a worker died before it was ready (${signal ?? exitCode})\n${worker.stderr}`),
        );
      });
    });
    worker.ready.catch(() => {});
    return worker;
  };

  const acquire = (): Promise<number> => {
    const slot = free.shift();
    return slot !== undefined ? Promise.resolve(slot) : new Promise((resolve) => waiting.push(resolve));
  };
  const releaseSlot = (slot: number): void => {
    const next = waiting.shift();
    if (next) next(slot);
    else free.push(slot);
  };

  const runOn = async (worker: Worker, item: PoolCase, file: string): Promise<PoolResult> => {
    worker.stderr = '';
    const previous = worker.history.slice();
    worker.history = [...worker.history, item.id].slice(-HISTORY);
    const limitMs = options.budgetS * 1000 + options.hangMarginMs;
    const startedAt = performance.now();
    return new Promise<PoolResult>((resolve) => {
      let settled = false;
      const settle = (result: PoolResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        worker.onMessage = undefined;
        worker.onExit = undefined;
        resolve(result);
      };
      const timer = setTimeout(() => {
        worker.child.kill('SIGKILL');
        settle({
          kind: 'hang',
          waitedMs: performance.now() - startedAt,
          stderrTail: worker.stderr,
          previous,
        });
      }, limitMs);
      worker.onMessage = (message) => {
        if (message.type === 'outcome' && message.id === item.id)
          settle({ kind: 'outcome', outcome: message });
      };
      worker.onExit = ({ exitCode, signal }) => {
        void (async () => {
          const log = join(options.workDir, 'crash.log');
          const crashLog = await readFile(log, 'utf8').catch(() => undefined);
          await rm(log, { force: true });
          settle({
            kind: 'crash',
            signal,
            exitCode,
            stderrTail: worker.stderr,
            previous,
            ...(crashLog ? { crashLog: crashLog.slice(-STDERR_TAIL_CHARS) } : {}),
          });
        })();
      };
      worker.child.send({ type: 'case', id: item.id, file, transport: item.transport });
    });
  };

  return {
    get started() {
      return started;
    },
    async run(item) {
      const slot = await acquire();
      // The same case may run twice at once (--repeat): each run its own file.
      serial += 1;
      const file = join(options.workDir, `case-${item.id}-${serial}.${item.ext}`);
      try {
        let worker = slots[slot];
        if (!worker || worker.child.exitCode !== null || worker.child.signalCode !== null) {
          worker = spawnWorker();
          slots[slot] = worker;
        }
        await worker.ready;
        await writeFile(file, item.bytes);
        const result = await runOn(worker, item, file);
        if (result.kind !== 'outcome') {
          slots[slot] = undefined;
          await worker.exited;
        }
        return result;
      } finally {
        await rm(file, { force: true });
        releaseSlot(slot);
      }
    },
    async close() {
      await Promise.all(
        slots.map(async (worker) => {
          if (!worker || worker.child.exitCode !== null || worker.child.signalCode !== null) return;
          worker.child.send({ type: 'exit' });
          const timer = setTimeout(() => worker.child.kill('SIGKILL'), 10_000);
          await worker.exited;
          clearTimeout(timer);
        }),
      );
      if (!options.keepWorkDir) await rm(options.workDir, { recursive: true, force: true });
    },
  };
}
