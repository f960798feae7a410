// Inference on CPUs of its own (src/core/cpu-placement.ts). A placement moves every thread of the process
// and is made once per process, so it is checked in fresh node processes on the build; the rule and the
// refusals, which change nothing, are checked here.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  planPlacement,
  placeInference,
  swapInferenceCores,
  type AffinityCalls,
  type CpuPlacement,
  type PlacementOutcome,
} from '../../src/core/cpu-placement.js';
import { beamcoder } from '../../src/media/beamcoder.js';
import { defaultRegistry } from '../../src/pipelines/operators.js';
import { cleanEnv, ensureBuilt, repoRoot } from '../support/cli.js';

const dist = (path: string) => pathToFileURL(join(repoRoot, 'dist', path)).href;

/** The CPUs this test process may run on (the children start with the same). */
const allowed = (beamcoder() as unknown as AffinityCalls).getAffinity(0) ?? [];
const twoOrMore = allowed.length >= 2;

/** Each thread's allowed CPUs, as /proc says (`0`, `1`, `0-1`), counted; `own` is the calling thread's. */
const THREADS = `
import { readdirSync, readFileSync } from 'node:fs';
const cpusOf = (path) => readFileSync(path + '/status', 'utf8').match(/Cpus_allowed_list:\\s*(\\S+)/)[1];
const threads = () => {
  const byCpus = {};
  for (const tid of readdirSync('/proc/self/task')) {
    try { const cpus = cpusOf('/proc/self/task/' + tid); byCpus[cpus] = (byCpus[cpus] ?? 0) + 1; } catch {}
  }
  return byCpus;
};
`;

/**
 * Places inference for argv sessions, then reports: the outcome, a second call's, every thread's CPUs, the
 * CPUs of a worker started by startOnInferenceCores (read by the worker itself) and of one started plainly,
 * the main thread's afterwards, and the threads of a decoder started after the placement.
 */
const PLACE = `${THREADS}
import { Worker } from 'node:worker_threads';
const [placementUrl, beamcoderUrl, sessions] = process.argv.slice(2);
const { placeInference, startOnInferenceCores, inferencePlacement } = await import(placementUrl);
const out = { outcome: placeInference(Number(sessions)) };
out.again = placeInference(Number(sessions));
out.placement = inferencePlacement() ?? null;
out.threads = threads();
const workerCpus = (worker) => new Promise((resolve, reject) => {
  worker.once('message', resolve);
  worker.once('error', reject);
});
const source = "const { readFileSync } = require('node:fs');" +
  "require('node:worker_threads').parentPort.postMessage(readFileSync('/proc/thread-self/status', 'utf8').match(/Cpus_allowed_list:\\\\s*(\\\\S+)/)[1]);";
const onInference = startOnInferenceCores(() => new Worker(source, { eval: true }));
out.inferenceWorker = await workerCpus(onInference);
out.plainWorker = await workerCpus(new Worker(source, { eval: true }));
out.mainAfter = cpusOf('/proc/thread-self');
await onInference.terminate();
// A decoder's frame threads, started from libuv's pool after the placement.
const { beamcoder } = await import(beamcoderUrl);
const decoder = beamcoder().decoder({ name: 'h264', thread_count: 3, thread_type: { FRAME: true } });
await decoder.flush();
out.withDecoder = threads();
process.stdout.write(JSON.stringify(out));
process.exit(0);
`;

/**
 * Places inference for one session with a worker on the inference CPUs, then swaps twice: after each, the
 * worker's CPUs (asked of the worker), the main thread's and every thread's, and the swap count.
 */
const SWAP = `${THREADS}
import { Worker } from 'node:worker_threads';
const [placementUrl] = process.argv.slice(2);
const { placeInference, startOnInferenceCores, swapInferenceCores, inferenceCoreSwaps } = await import(placementUrl);
const out = { outcome: placeInference(1), states: [] };
const source = "const { readFileSync } = require('node:fs'); const { parentPort } = require('node:worker_threads');" +
  "parentPort.on('message', () => parentPort.postMessage(readFileSync('/proc/thread-self/status', 'utf8').match(/Cpus_allowed_list:\\\\s*(\\\\S+)/)[1]));";
const worker = startOnInferenceCores(() => new Worker(source, { eval: true }));
const ask = () => new Promise((resolve) => { worker.once('message', resolve); worker.postMessage('cpus?'); });
for (let i = 0; i < 3; i += 1) {
  const swapped = i === 0 ? null : swapInferenceCores();
  out.states.push({ swapped, worker: await ask(), main: cpusOf('/proc/thread-self'), threads: threads(), swaps: inferenceCoreSwaps() });
}
await worker.terminate();
process.stdout.write(JSON.stringify(out));
process.exit(0);
`;

/** The default profile prepared (no prime, no warm decode): where its session's threads run. */
const PREPARE = `${THREADS}
const [runnerUrl, loadUrl, cores] = process.argv.slice(2);
const { preparePipeline } = await import(runnerUrl);
const { loadPipeline } = await import(loadUrl);
const { inferencePlacement } = await import(new URL('../core/cpu-placement.js', runnerUrl).href);
const events = [];
const chosen = [];
const before = new Set(readdirSync('/proc/self/task'));
const prepared = await preparePipeline(loadPipeline({ profile: 'default' }), {
  prime: false, warmDecode: false, cores, onEvent: (event) => {
    if (event.name === 'cores') events.push(event.data);
    if (event.name === 'cores-chosen') chosen.push(event.data);
  },
});
// The session's threads: those started while the model loaded that did most of its warm-up work.
const cpuMs = (tid) => {
  const fields = readFileSync('/proc/self/task/' + tid + '/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
const busiest = readdirSync('/proc/self/task').filter((tid) => !before.has(tid)).sort((a, b) => cpuMs(b) - cpuMs(a))[0];
const out = { cores: prepared.cores, events, chosen, now: inferencePlacement() ?? null, threads: threads(), inferenceThread: cpusOf('/proc/self/task/' + busiest) };
await prepared.release();
process.stdout.write(JSON.stringify(out));
process.exit(0);
`;

let scratch: string;

/**
 * Runs `script` in a fresh node process (from a file: `--input-type=module` would reach the session's
 * worker, whose CommonJS source `eval` then fails), without FIRSTFRAME_CORES; its JSON output.
 */
/** What PLACE reports: CPU lists in /proc's form (`1`, `0-1`), threads counted by their CPUs. */
interface PlaceOut {
  outcome: PlacementOutcome;
  again: PlacementOutcome;
  placement: CpuPlacement | null;
  threads: Record<string, number>;
  inferenceWorker: string;
  plainWorker: string;
  mainAfter: string;
  withDecoder: Record<string, number>;
}

/** What PREPARE reports. */
interface PrepareOut {
  cores: PlacementOutcome;
  events: unknown[];
  chosen: { inference: number[]; startedOn: number[]; hereMs: number; thereMs: number }[];
  now: CpuPlacement | null;
  threads: Record<string, number>;
  inferenceThread: string;
}

async function child<T>(script: string, args: string[], env: Record<string, string> = {}): Promise<T> {
  const base = cleanEnv();
  delete base.FIRSTFRAME_CORES;
  const file = join(scratch, `child-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, script);
  const { stdout } = await promisify(execFile)(process.execPath, [file, ...args], {
    env: { ...base, ...env },
    timeout: 120_000,
  });
  return JSON.parse(stdout) as T;
}

beforeAll(async () => {
  await ensureBuilt();
  scratch = mkdtempSync(join(tmpdir(), 'firstframe-placement-'));
}, 180_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('planPlacement', () => {
  it('gives inference the last half of the CPUs (rounded down) and the rest the others, sorted', () => {
    expect(planPlacement([0, 1], 1)).toEqual({ inference: [1], rest: [0] });
    expect(planPlacement([3, 1, 2, 0], 2)).toEqual({ inference: [2, 3], rest: [0, 1] });
    expect(planPlacement([0, 1, 2], 1)).toEqual({ inference: [2], rest: [0, 1] });
    expect(planPlacement([4, 5, 6, 7, 8, 9, 10, 11], 4)).toEqual({
      inference: [8, 9, 10, 11],
      rest: [4, 5, 6, 7],
    });
  });

  it('places nothing when the sessions do not fit one to a CPU, with one CPU, or with no CPU session', () => {
    expect(planPlacement([0, 1], 2)).toBe('2 inference sessions at once on 2 CPUs: left to the scheduler');
    expect(planPlacement([0, 1, 2], 2)).toBe('2 inference sessions at once on 3 CPUs: left to the scheduler');
    expect(planPlacement([0], 1)).toBe('1 CPU allowed to the process');
    expect(planPlacement([0, 1], 0)).toBe('no CPU inference session');
  });
});

describe('placeInference, refused', () => {
  it('swapInferenceCores without a placement: nothing to swap', () => {
    expect(swapInferenceCores()).toBeUndefined();
  });

  it("a kernel that refuses the event loop's CPUs: nothing placed, no other thread touched", () => {
    const asked: number[] = [];
    const calls: AffinityCalls = {
      getAffinity: () => [0, 1],
      setAffinity: (tid) => {
        asked.push(tid);
        return false;
      },
    };
    expect(placeInference(1, { env: {}, calls })).toEqual({
      placed: false,
      reason: 'the kernel refused to set the event loop’s CPUs',
    });
    // The main thread (0: the caller) was asked first, and nothing after it.
    expect(asked).toEqual([0]);
  });

  it('no answer on the allowed CPUs, FIRSTFRAME_CORES=shared: nothing placed, nothing asked', () => {
    const calls: AffinityCalls = {
      getAffinity: () => null,
      setAffinity: () => {
        throw new Error('not to be called');
      },
    };
    expect(placeInference(1, { env: {}, calls })).toEqual({
      placed: false,
      reason: 'the kernel did not say which CPUs the process may use',
    });
    expect(placeInference(1, { env: { FIRSTFRAME_CORES: 'shared' }, calls })).toEqual({
      placed: false,
      reason: 'FIRSTFRAME_CORES=shared leaves every thread to the scheduler',
    });
  });
});

describe('model stages say how many CPU sessions they run at once', () => {
  it('onnx: one on the CPU, none on CUDA; soccer: two (detector and pitch), one with skipPitch', () => {
    const registry = defaultRegistry();
    const onnx = registry.get('infer', 'onnx') as { cpuSessions?: (options: object) => number };
    const soccer = registry.get('infer', 'soccer') as { cpuSessions?: (options: object) => number };
    expect(onnx.cpuSessions!({})).toBe(1);
    expect(onnx.cpuSessions!({ device: 'cuda' })).toBe(0);
    expect(soccer.cpuSessions!({})).toBe(2);
    expect(soccer.cpuSessions!({ skipPitch: true })).toBe(1);
    expect(soccer.cpuSessions!({ device: 'cuda:0' })).toBe(0);
  });
});

describe.runIf(twoOrMore)(`placed, in a fresh process (CPUs ${allowed.join(', ')})`, () => {
  const last = allowed[allowed.length - 1]!;
  const plan = planPlacement(allowed, 1) as { inference: number[]; rest: number[] };
  /** /proc's form of a list of CPUs with no gaps. */
  const list = (cpus: readonly number[]) =>
    cpus.length === 1 ? `${cpus[0]}` : `${cpus[0]}-${cpus[cpus.length - 1]}`;

  it('every thread moves to the rest; a worker started on the inference CPUs runs there, later threads on the rest', async () => {
    const out = await child<PlaceOut>(PLACE, [
      dist('core/cpu-placement.js'),
      dist('media/beamcoder.js'),
      '1',
    ]);
    expect(out.outcome).toMatchObject({ placed: true, ...plan });
    expect(out.outcome.placed && out.outcome.moved).toBeGreaterThanOrEqual(5);
    expect(out.again).toEqual({ placed: true, ...plan, moved: 0 });
    expect(out.placement).toEqual(plan);
    // Every thread alive (the event loop, libuv's pool, V8's helpers) on the rest, none elsewhere.
    expect(Object.keys(out.threads)).toEqual([list(plan.rest)]);
    expect(out.inferenceWorker).toBe(`${last}`);
    expect(out.plainWorker).toBe(list(plan.rest));
    expect(out.mainAfter).toBe(list(plan.rest));
    // The decoder's threads were started from the rest: still nothing on the inference CPUs.
    expect(Object.keys(out.withDecoder)).toEqual([list(plan.rest)]);
    expect(out.withDecoder[list(plan.rest)]).toBeGreaterThan(out.threads[list(plan.rest)]!);
  });

  it.runIf(allowed.length === 2)(
    'two sessions at once on 2 CPUs, or FIRSTFRAME_CORES=shared: no thread moves',
    async () => {
      const both = list(allowed);
      for (const [sessions, env, reason] of [
        ['2', {}, '2 inference sessions at once on 2 CPUs: left to the scheduler'],
        ['1', { FIRSTFRAME_CORES: 'shared' }, 'FIRSTFRAME_CORES=shared leaves every thread to the scheduler'],
      ] as const) {
        const out = await child<PlaceOut>(
          PLACE,
          [dist('core/cpu-placement.js'), dist('media/beamcoder.js'), sessions],
          env,
        );
        expect(out.outcome).toEqual({ placed: false, reason });
        expect(out.placement).toBeNull();
        expect(Object.keys(out.withDecoder)).toEqual([both]);
        expect(out.inferenceWorker).toBe(both);
      }
    },
  );

  it.runIf(allowed.length === 2)(
    'swapInferenceCores: the worker and every other thread change places, and back',
    async () => {
      const out = await child<{ outcome: PlacementOutcome; states: unknown[] }>(SWAP, [
        dist('core/cpu-placement.js'),
      ]);
      const [a, b] = [list(plan.inference), list(plan.rest)];
      expect(out.outcome).toMatchObject({ placed: true, ...plan });
      expect(out.states).toEqual([
        { swapped: null, worker: a, main: b, threads: { [a]: 1, [b]: expect.any(Number) }, swaps: 0 },
        {
          swapped: { inference: plan.rest, rest: plan.inference },
          worker: b,
          main: a,
          threads: { [b]: 1, [a]: expect.any(Number) },
          swaps: 1,
        },
        { swapped: plan, worker: a, main: b, threads: { [a]: 1, [b]: expect.any(Number) }, swaps: 2 },
      ]);
    },
  );

  it("a prepared pipeline's model session runs on the quicker of the two sets of CPUs, everything else on the other", async () => {
    const out = await child<PrepareOut>(PREPARE, [
      dist('pipelines/runner.js'),
      dist('pipelines/load.js'),
      'auto',
    ]);
    expect(out.cores).toMatchObject({ placed: true, ...plan });
    expect(out.events).toEqual([expect.objectContaining({ placed: true, ...plan })]);
    // The choice at load: timed on the planned CPUs, then on the others; the others kept only when 5 %
    // quicker (which depends on this machine's moment: both outcomes are checked for what follows).
    expect(out.chosen).toHaveLength(1);
    const [choice] = out.chosen;
    const swapped = choice!.thereMs < 0.95 * choice!.hereMs;
    const now = swapped ? { inference: plan.rest, rest: plan.inference } : plan;
    expect(choice).toMatchObject({ startedOn: plan.inference, inference: now.inference });
    expect(out.now).toEqual(now);
    expect(out.inferenceThread).toBe(list(now.inference));
    // The session's worker and ONNX Runtime's threads (one per inference CPU: no pool beyond the worker's
    // own thread and the runtime's), the rest elsewhere.
    expect(out.threads[list(now.inference)]).toBeGreaterThanOrEqual(1);
    expect(out.threads[list(now.inference)]).toBeLessThanOrEqual(2 * now.inference.length);
    expect(out.threads[list(now.rest)]).toBeGreaterThanOrEqual(10);
    expect(Object.keys(out.threads).sort()).toEqual([list(now.inference), list(now.rest)].sort());
  });

  it('PrepareOptions.cores shared: the session and every thread stay on every CPU', async () => {
    const out = await child<PrepareOut>(PREPARE, [
      dist('pipelines/runner.js'),
      dist('pipelines/load.js'),
      'shared',
    ]);
    expect(out.cores).toEqual({
      placed: false,
      reason: 'cores: shared leaves every thread to the scheduler',
    });
    expect(out.events).toEqual([out.cores]);
    expect(Object.keys(out.threads)).toEqual([list(allowed)]);
    expect(out.inferenceThread).toBe(list(allowed));
  });
});
