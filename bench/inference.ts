// run: npm run build && npx tsx bench/inference.ts [--clip FILE] [--rate B/S] [--ttfb MS] [--processes 3]
//                                                [--runs 2] [--steady 5] [--rounds 3] [--overhead-frames 60]
//                                                [--budget S|profile] [--one-off] [--prime] [--in-process] [--json]
//
// Issue 15 items 2 and 3 in one command: the default pipeline (bundled detector, 640, every 5th frame,
// ramped batches 1, 2, 4, 8, 16) on the bench 720p clip, served by the network simulator at the seeds'
// link (1 660 000 B/s, 100 ms to first byte).
//
// 1. Runs: --processes fresh `node` processes on dist/ (`npm run build` first; --in-process runs them in
//    this process instead, for the CI test), each preparing the pipeline as `serve` does (warmed at every
//    batch size; --one-off: as `firstframe run` does, batch 1 only) and running it --runs times on the
//    clip's URL. A process's first run is the cold one, its second the warm one (same prepared pipeline).
//    The sink's budget is raised to --budget (default 60 s) so that a run infers every kept frame and its
//    total time says what the pipeline's throughput is (with the profile's 10 s the 720p clip's runs end by
//    the budget, about a third of the frames short on 2 cores, and the total is the budget); `--budget
//    profile` keeps the profile's. The first result does not depend on it. --prime: each process runs the
//    clip's first second from disk once after preparing, before the timed runs (what a pipeline-level
//    warm-up at prepare would do: the decode, conversion and result paths compiled off the clock).
// 2. Steady inference: a session loaded as the pipeline loads its model (same file, warm-up and set-up
//    runs), then every batch shape the runs used, in the order they first appeared: its first run, then
//    --steady more (median); medians over --rounds such sessions. First/steady per shape: target ≤ 1.15.
// 3. First result: cold and warm, medians over the processes, against the run's own first frame + 1.2 ×
//    the steady batch-1 inference + 15 ms.
// 4. Total time: each run's total against max(transfer, inference), where transfer is the clip's bytes at
//    the link's rate after its TTFB, and inference is the steady time of the batches the run inferred
//    (their shapes' steady medians summed). Target ≤ 1.15 (medians over the runs).
// 5. Framework overhead per inferred frame at 640 from the 720p clip, measured while the clip is decoded
//    beside it (the decode operator, nothing converted, in a loop): stride (the keep test), conversion
//    (FFmpeg's filter graph on a libuv thread, then the letterbox resize and pad), the model input (built
//    in the session's worker: its own timing, ModelOutput.timings), the output copied back (the worker's
//    timing too) and decoded by the model's head. Each kept frame runs through the model alone. Medians
//    over --overhead-frames kept frames. Target: their sum ≤ 3 ms. The main-thread share (what issue 14
//    item 7's event-loop delay counts) is printed beside it.
//
// Prints PASS/FAIL per target, the load average and the figures (with --json, the JSON document on stdout);
// exits 0 whatever the figures say: a benchmark, not a test. The wall times of a shared machine include
// waiting for a core: read them with the load average.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { lastValueFrom, takeUntil, timer, Subject } from 'rxjs';
import type { StageEvent } from '../src/core/events.js';
import { defaultFixtureDir, makeFixtures } from '../src/fixtures/make.js';
import { planeOf } from '../src/inference/input-tensor.js';
import { loadModel, type LoadedModel } from '../src/inference/model.js';
import { beamcoder, type Beamcoder } from '../src/media/beamcoder.js';
import { letterboxGeometry, letterboxOutputFormat, packLetterbox } from '../src/media/letterbox.js';
import { decode } from '../src/operators/decode.js';
import { letterboxFilterer } from '../src/operators/decode/convert.js';
import { loadPipeline } from '../src/pipelines/load.js';
import { resolveModel } from '../src/pipelines/operators.js';
import type { PipelineDocument } from '../src/pipelines/document.js';
import { preparePipeline, type RunDocument } from '../src/pipelines/runner.js';
import { startNetSim } from '../src/sim/netsim.js';
import { fileSource } from '../src/sources/file.js';

export const RATIO_TARGET = 1.15;
export const FIRST_RESULT_FACTOR = 1.2;
export const FIRST_RESULT_SLACK_MS = 15;
export const OVERHEAD_TARGET_MS = 3;
const PROFILE = 'default';
const MODEL = 'bundled:detector';
const IMG_SIZE = 640;
const STRIDE = 5;
/** The model stage's set-up runs after its warm-up (operators.ts, timePerFrame): two runs of batch 2. */
const SETUP_RUNS = { batch: 2, runs: 2 };

export interface Settings {
  clip: string | undefined;
  rateBytesPerSec: number;
  ttfbMs: number;
  processes: number;
  runs: number;
  steady: number;
  /** Fresh sessions the per-shape figures are medians over. */
  rounds: number;
  overheadFrames: number;
  /** The sink's budget for the runs, seconds; undefined: the profile's (10 s). */
  budgetS: number | undefined;
  /** Run the clip's first second from disk once after preparing, before the timed runs. */
  prime: boolean;
  /** Prepare as a one-off run does (warm-up at batch 1 only) instead of as `serve` does. */
  oneOff: boolean;
  inProcess: boolean;
  json: boolean;
}

/** What one run of the pipeline tells the benchmark. */
export interface RunFigures {
  timings: RunDocument['timings'];
  error?: RunDocument['error'];
  /** Each model run: its batch shape (the input's first dimension) and its wall time. */
  batches: { batch: number; frames: number; ms: number }[];
  firstResultSplit: FirstResultSplit | null;
}

/** First frame → first result: to the first model run's start, the run (input built in the worker,
 * inference, output back), its end to the result (output decoding, the stages after infer). */
export interface FirstResultSplit {
  toRunMs: number;
  runMs: number;
  toResultMs: number;
}

const median = (values: readonly number[]): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** The model runs of a run's infer events, in order. */
export function batchesOf(events: readonly StageEvent[]): RunFigures['batches'] {
  const started = new Map<number, number>();
  const batches: RunFigures['batches'] = [];
  for (const event of events) {
    if (event.stage !== 'infer') continue;
    const run = event.data?.['run'] as number;
    if (event.name === 'run-start') started.set(run, event.data?.['batch'] as number);
    if (event.name === 'run-end' && started.has(run)) {
      batches.push({
        batch: started.get(run)!,
        frames: event.data?.['frames'] as number,
        ms: event.data?.['ms'] as number,
      });
    }
  }
  return batches;
}

// ---- 1. runs ----------------------------------------------------------------------------------------

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = (path: string) => pathToFileURL(join(REPO_ROOT, 'dist', path)).href;

/** What each process does: how it prepares, what it runs before the timed runs, how many. */
interface RunPlan {
  readonly target: string;
  readonly runs: number;
  readonly warmBatchSizes: boolean;
  /** The sink's budget; undefined keeps the profile's. */
  readonly budgetS: number | undefined;
  /** A local clip run once after preparing, before the timed runs (--prime). */
  readonly prime: string | undefined;
}

/**
 * One process's share: prepare, prime, then the runs, as plain ESM for `node` on dist/. Kept to what
 * {@link runsInProcess} does, so both measure the same thing.
 */
const CHILD = `
const [runnerUrl, loadUrl, planJson] = process.argv.slice(2);
const { preparePipeline } = await import(runnerUrl);
const { loadPipeline } = await import(loadUrl);
const { profile, overrides, target, runs, warmBatchSizes, prime } = JSON.parse(planJson);
const prepared = await preparePipeline(loadPipeline({ profile, overrides }), { warmBatchSizes });
if (prime) await prepared.run(prime);
const kept = (event) =>
  event.stage === 'infer' ||
  (event.stage === 'decode' && event.name === 'first-frame') ||
  (event.stage === 'pipeline' && event.name === 'first-result');
const out = [];
for (let i = 0; i < runs; i += 1) {
  const events = [];
  const document = await prepared.run(target, { onEvent: (event) => { if (kept(event)) events.push(event); } });
  out.push({ document, events });
}
await prepared.release();
process.stdout.write(JSON.stringify({ setupMs: prepared.setupMs, runs: out }));
`;

/** The events a run's figures are made from ({@link CHILD} keeps the same). */
const keptEvent = (event: StageEvent) =>
  event.stage === 'infer' ||
  (event.stage === 'decode' && event.name === 'first-frame') ||
  (event.stage === 'pipeline' && event.name === 'first-result');

/** The sink's budget raised (or not: undefined keeps the profile's). */
const overridesFor = (budgetS: number | undefined): PipelineDocument =>
  budgetS === undefined ? {} : { sink: { budgetS } };

interface ProcessFigures {
  setupMs: number;
  runs: RunFigures[];
}

function figuresOf(document: RunDocument, events: readonly StageEvent[]): RunFigures {
  return {
    timings: document.timings,
    ...(document.error ? { error: document.error } : {}),
    batches: batchesOf(events),
    firstResultSplit: firstResultSplit(events),
  };
}

/** Where the time from the first frame to the first result went, from the run's events (ms). */
export function firstResultSplit(events: readonly StageEvent[]): FirstResultSplit | null {
  const at = (stage: string, name: string) => events.find((e) => e.stage === stage && e.name === name)?.at;
  const frame = at('decode', 'first-frame');
  const runStart = at('infer', 'run-start');
  const runEnd = at('infer', 'run-end');
  const result = at('pipeline', 'first-result');
  if (frame === undefined || runStart === undefined || runEnd === undefined || result === undefined)
    return null;
  return { toRunMs: runStart - frame, runMs: runEnd - runStart, toResultMs: result - runEnd };
}

/**
 * Runs {@link CHILD} in a fresh node. From a file, not `--eval`: a worker thread inherits the process's
 * `--input-type=module`, and the session worker's CommonJS source would not run.
 */
async function runChild(plan: RunPlan): Promise<ProcessFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'ff-bench-inference-'));
  const childScript = join(dir, 'runs.mjs');
  await writeFile(childScript, CHILD);
  try {
    return await childRuns(childScript, plan);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function childRuns(childScript: string, plan: RunPlan): Promise<ProcessFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        childScript,
        DIST('pipelines/runner.js'),
        DIST('pipelines/load.js'),
        JSON.stringify({ ...plan, profile: PROFILE, overrides: overridesFor(plan.budgetS) }),
      ],
      {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, UV_THREADPOOL_SIZE: '16' },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0)
        return reject(new Error(`the run process exited with ${code}: ${stderr.trim().slice(-800)}`));
      const parsed = JSON.parse(stdout) as {
        setupMs: number;
        runs: { document: RunDocument; events: StageEvent[] }[];
      };
      resolve({
        setupMs: parsed.setupMs,
        runs: parsed.runs.map(({ document, events }) => figuresOf(document, events)),
      });
    });
  });
}

async function runsInProcess(plan: RunPlan): Promise<ProcessFigures> {
  const pipeline = loadPipeline({ profile: PROFILE, overrides: overridesFor(plan.budgetS) });
  const prepared = await preparePipeline(pipeline, { warmBatchSizes: plan.warmBatchSizes });
  const out: RunFigures[] = [];
  try {
    if (plan.prime) await prepared.run(plan.prime);
    for (let i = 0; i < plan.runs; i += 1) {
      const events: StageEvent[] = [];
      const document = await prepared.run(plan.target, {
        onEvent: (event) => {
          if (keptEvent(event)) events.push(event);
        },
      });
      out.push(figuresOf(document, events));
    }
  } finally {
    await prepared.release();
  }
  return { setupMs: prepared.setupMs, runs: out };
}

/** The clip's first second, stream-copied by ffmpeg into `dir`: what --prime runs before the clock. */
async function primeClip(clip: string, dir: string): Promise<string> {
  const file = join(dir, 'prime.mp4');
  await new Promise<void>((resolve, reject) => {
    const child = spawn('ffmpeg', ['-v', 'error', '-i', clip, '-t', '1', '-an', '-c', 'copy', '-y', file], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`ffmpeg could not cut ${clip}: ${stderr.trim()}`)),
    );
  });
  return file;
}

// ---- 2. steady inference per batch shape ----------------------------------------------------------------

export interface ShapeFigures {
  batch: number;
  firstMs: number;
  steadyMs: number;
  ratio: number;
}

/** Loads the model as the default pipeline does (warm-up, then the stage's set-up runs). */
async function pipelineModel(warmBatches: readonly number[]): Promise<LoadedModel> {
  const path = await resolveModel(MODEL, IMG_SIZE, REPO_ROOT);
  const model = await loadModel(path, { imgSize: IMG_SIZE, warmup: { batches: warmBatches } });
  const image = new Uint8Array(planeOf(IMG_SIZE));
  for (let i = 0; i < SETUP_RUNS.runs; i += 1) {
    model.recycleOutput?.(
      await model.runImages!([image, image].slice(0, SETUP_RUNS.batch), SETUP_RUNS.batch),
    );
  }
  return model;
}

async function shapeFigures(
  shapes: readonly number[],
  warmBatches: readonly number[],
  steadyRuns: number,
  rounds: number,
): Promise<ShapeFigures[]> {
  const image = new Uint8Array(planeOf(IMG_SIZE));
  const firsts = new Map<number, number[]>();
  const steadies = new Map<number, number[]>();
  for (let round = 0; round < rounds; round += 1) {
    const model = await pipelineModel(warmBatches);
    const timed = async (count: number) => {
      const images = Array.from({ length: count }, () => image);
      const started = performance.now();
      model.recycleOutput?.(await model.runImages!(images, count));
      return performance.now() - started;
    };
    try {
      for (const batch of shapes) {
        firsts.set(batch, [...(firsts.get(batch) ?? []), await timed(batch)]);
        const steady: number[] = [];
        for (let i = 0; i < steadyRuns; i += 1) steady.push(await timed(batch));
        steadies.set(batch, [...(steadies.get(batch) ?? []), median(steady)]);
      }
    } finally {
      await model.release();
    }
  }
  return shapes.map((batch) => {
    const firstMs = median(firsts.get(batch)!);
    const steadyMs = median(steadies.get(batch)!);
    return { batch, firstMs, steadyMs, ratio: firstMs / steadyMs };
  });
}

// ---- 5. framework overhead ----------------------------------------------------------------------------

export interface OverheadFigures {
  frames: number;
  source: string;
  /** Medians per kept frame, ms. */
  strideMs: number;
  filterMs: number;
  resizeMs: number;
  /** The input tensor, built in the session's worker (its own timing). */
  tensorMs: number;
  /** The outputs copied back to the main thread's memory, in the worker (its own timing). */
  outputCopyMs: number;
  outputMs: number;
  totalMs: number;
  /** What of it runs on the main thread (resize, output decoding, stride). */
  mainThreadMs: number;
  /** Clips decoded beside it. */
  backgroundDecodes: number;
}

/** Decodes `file` from start to end over and over (nothing converted) until `stop$` emits. */
function decodeBeside(file: string, stop$: Subject<void>): { done: Promise<number> } {
  let stopped = false;
  stop$.subscribe(() => (stopped = true));
  const done = (async () => {
    let rounds = 0;
    while (!stopped) {
      await lastValueFrom(
        fileSource(file).pipe(decode({ imgSize: IMG_SIZE, keepFrame: () => false }), takeUntil(stop$)),
        { defaultValue: undefined },
      );
      rounds += 1;
    }
    return rounds;
  })();
  return { done };
}

async function overheadFigures(file: string, wanted: number): Promise<OverheadFigures> {
  const bc = beamcoder();
  const demuxer = await bc.demuxer(file);
  const streamIndex = demuxer.streams.findIndex((s) => s.codecpar.codec_type === 'video');
  const stream = demuxer.streams[streamIndex]!;
  const decoder = bc.decoder({ demuxer, stream_index: streamIndex });
  const [num = 1, den = 1] = stream.time_base;
  const path = await resolveModel(MODEL, IMG_SIZE, REPO_ROOT);
  const model = await loadModel(path, { imgSize: IMG_SIZE });
  const stop$ = new Subject<void>();
  let filterer: Beamcoder.Filterer | undefined;
  const strideMs: number[] = [];
  const filterMs: number[] = [];
  const resizeMs: number[] = [];
  const tensorMs: number[] = [];
  const outputMs: number[] = [];
  const outputCopyMs: number[] = [];
  const keep = (frameNumber: number) => frameNumber % STRIDE === 0;
  let frameNumber = 0;
  let width = 0;
  let height = 0;
  // The decoder beside the measurement starts once the first frame is in hand, as a pipeline's decode
  // goes on while its frames are converted.
  let beside: { done: Promise<number> } | undefined;
  try {
    const kept: Beamcoder.Frame[] = [];
    for (let packet = await demuxer.read(); packet; packet = await demuxer.read()) {
      if (packet.stream_index !== streamIndex) continue;
      for (const frame of (await decoder.decode(packet)).frames) {
        const started = performance.now();
        const keepIt = keep(frameNumber);
        strideMs.push(performance.now() - started);
        frameNumber += 1;
        if (keepIt) kept.push(frame);
      }
      if (kept.length === 0) continue;
      beside ??= decodeBeside(file, stop$);
      const frame = kept.shift()!;
      width = frame.width;
      height = frame.height;
      const geometry = letterboxGeometry(frame.width, frame.height, IMG_SIZE, 'opencv');
      filterer ??= await letterboxFilterer(
        bc,
        { width: frame.width, height: frame.height, format: frame.format as string, timeBase: [num, den] },
        geometry,
      );
      const filterStarted = performance.now();
      const [result] = await filterer.filter([frame]);
      const converted = result!.frames[0]!;
      const resizeStarted = performance.now();
      const image = packLetterbox(
        converted.data,
        converted.linesize,
        geometry,
        undefined,
        letterboxOutputFormat(geometry),
      );
      const resized = performance.now();
      filterMs.push(resizeStarted - filterStarted);
      resizeMs.push(resized - resizeStarted);
      // The frame through the model as the infer stage runs it: the input tensor built in the session's
      // worker (its own timing), then the output decoded here by the model's head.
      const output = await model.runImages!([image.data], 1);
      tensorMs.push(output.timings!.inputMs);
      outputCopyMs.push(output.timings!.outputMs);
      const decodeStarted = performance.now();
      model.head!.decode(
        output.outputs!,
        { index: 0, geometry: image, source: { width, height } },
        { confThreshold: 0.25, maxDetections: 300 },
      );
      outputMs.push(performance.now() - decodeStarted);
      model.recycleOutput?.(output);
      if (filterMs.length >= wanted) break;
    }
  } finally {
    stop$.next();
    stop$.complete();
    await model.release();
  }
  const backgroundDecodes = beside ? await beside.done : 0;
  const figures = {
    strideMs: median(strideMs),
    filterMs: median(filterMs),
    resizeMs: median(resizeMs),
    tensorMs: median(tensorMs),
    outputCopyMs: median(outputCopyMs),
    outputMs: median(outputMs),
  };
  return {
    frames: filterMs.length,
    source: `${width}×${height}`,
    ...figures,
    totalMs:
      figures.strideMs +
      figures.filterMs +
      figures.resizeMs +
      figures.tensorMs +
      figures.outputCopyMs +
      figures.outputMs,
    mainThreadMs: figures.strideMs + figures.resizeMs + figures.outputMs,
    backgroundDecodes,
  };
}

// ---- the whole benchmark ------------------------------------------------------------------------------

export interface InferenceBenchResult {
  clip: string;
  link: { rateBytesPerSec: number; ttfbMs: number };
  prepare: 'serve' | 'one-off';
  processes: ProcessFigures[];
  shapes: ShapeFigures[];
  firstResult: {
    cold: FirstResultFigures;
    warm: FirstResultFigures | null;
  };
  total: { transferMs: number; runs: TotalFigures[]; medianRatio: number; passes: boolean };
  overhead: OverheadFigures;
  ratiosPass: boolean;
  load: { start: number[]; end: number[] };
  cpus: number;
}

export interface FirstResultFigures {
  firstFrameMs: number;
  firstResultMs: number;
  limitMs: number;
  passes: boolean;
  /** Medians of the runs' splits. */
  split: FirstResultSplit;
}

export interface TotalFigures {
  totalMs: number;
  inferenceMs: number;
  framesInferred: number;
  endedBy: string;
  ratio: number;
}

function firstResult(runs: readonly RunFigures[], steadyBatch1Ms: number): FirstResultFigures {
  const firstFrameMs = median(runs.map((run) => run.timings.firstFrameMs ?? Number.NaN));
  const firstResultMs = median(runs.map((run) => run.timings.firstResultMs ?? Number.NaN));
  const limitMs = firstFrameMs + FIRST_RESULT_FACTOR * steadyBatch1Ms + FIRST_RESULT_SLACK_MS;
  const splits = runs.flatMap((run) => (run.firstResultSplit ? [run.firstResultSplit] : []));
  return {
    firstFrameMs,
    firstResultMs,
    limitMs,
    passes: firstResultMs <= limitMs,
    split: {
      toRunMs: median(splits.map((split) => split.toRunMs)),
      runMs: median(splits.map((split) => split.runMs)),
      toResultMs: median(splits.map((split) => split.toResultMs)),
    },
  };
}

export async function benchInference(
  settings: Settings,
  say: (line: string) => void,
): Promise<InferenceBenchResult> {
  const loadStart = loadavg();
  const clip =
    settings.clip ??
    (await makeFixtures(defaultFixtureDir(), { profile: 'bench' })).clips['bench-faststart']!.file;
  const bytes = await readFile(clip);
  const sim = await startNetSim({
    files: { '/clip.mp4': bytes },
    rateBytesPerSec: settings.rateBytesPerSec,
    ttfbMs: settings.ttfbMs,
  });
  const target = `${sim.url}/clip.mp4`;
  const warmBatchSizes = !settings.oneOff;
  say(
    `bench/inference: ${clip} (${bytes.length} B) at ${settings.rateBytesPerSec} B/s, ${settings.ttfbMs} ms TTFB; ` +
      `profile ${PROFILE} (budget ${settings.budgetS === undefined ? "the profile's" : `${settings.budgetS} s`}), prepared as ${settings.oneOff ? 'a one-off run (warm-up at batch 1)' : 'serve (warm-up at every batch size)'}; ` +
      `${settings.prime ? "primed with the clip's first second from disk, " : ''}${settings.processes} ${settings.inProcess ? 'preparations in this process' : 'fresh node processes on dist/'} × ${settings.runs} runs; ` +
      `${availableParallelism()} cpus, load ${loadStart.map((x) => x.toFixed(2)).join(' ')}`,
  );
  const processes: ProcessFigures[] = [];
  const primeDir = settings.prime ? await mkdtemp(join(tmpdir(), 'ff-bench-prime-')) : undefined;
  try {
    const plan: RunPlan = {
      target,
      runs: settings.runs,
      warmBatchSizes,
      budgetS: settings.budgetS,
      prime: primeDir ? await primeClip(clip, primeDir) : undefined,
    };
    for (let i = 0; i < settings.processes; i += 1) {
      processes.push(settings.inProcess ? await runsInProcess(plan) : await runChild(plan));
    }
  } finally {
    await sim.close();
    if (primeDir) await rm(primeDir, { recursive: true, force: true });
  }

  const shapesUsed = [
    ...new Set(processes.flatMap((p) => p.runs.flatMap((run) => run.batches.map((b) => b.batch)))),
  ];
  const warmBatches = warmBatchSizes ? [16, 1] : [1];
  const shapes = await shapeFigures(shapesUsed, warmBatches, settings.steady, settings.rounds);
  const steadyOf = new Map(shapes.map((shape) => [shape.batch, shape.steadyMs]));
  const ratiosPass = shapes.every((shape) => shape.ratio <= RATIO_TARGET);
  say(
    '\nfirst inference / steady, per batch shape the runs used (a session loaded as the pipeline loads it)',
  );
  say('  batch   first ms  steady ms   ratio  steady/frame');
  for (const shape of shapes) {
    say(
      `  ${String(shape.batch).padStart(5)} ${shape.firstMs.toFixed(1).padStart(10)} ${shape.steadyMs.toFixed(1).padStart(10)} ` +
        `${shape.ratio.toFixed(2).padStart(7)} ${(shape.steadyMs / shape.batch).toFixed(1).padStart(13)}   ` +
        `${shape.ratio <= RATIO_TARGET ? 'PASS' : 'FAIL'} (≤ ${RATIO_TARGET})`,
    );
  }

  const steady1 = steadyOf.get(1) ?? Number.NaN;
  const cold = firstResult(
    processes.map((p) => p.runs[0]!),
    steady1,
  );
  const warmRuns = processes.flatMap((p) => p.runs.slice(1, 2));
  const warm = warmRuns.length > 0 ? firstResult(warmRuns, steady1) : null;
  say(
    `\nfirst result ≤ first frame + ${FIRST_RESULT_FACTOR} × steady batch-1 inference (${steady1.toFixed(1)} ms) + ${FIRST_RESULT_SLACK_MS} ms, medians over ${processes.length}`,
  );
  for (const [name, figures] of [
    ['cold', cold],
    ['warm', warm],
  ] as const) {
    if (!figures) continue;
    say(
      `  ${name}: first frame ${figures.firstFrameMs.toFixed(1)} ms, first result ${figures.firstResultMs.toFixed(1)} ms, ` +
        `limit ${figures.limitMs.toFixed(1)} ms   ${figures.passes ? 'PASS' : 'FAIL'}; first frame → run ` +
        `${figures.split.toRunMs.toFixed(1)} ms, run ${figures.split.runMs.toFixed(1)} ms, → result ${figures.split.toResultMs.toFixed(1)} ms`,
    );
  }

  const transferMs = settings.ttfbMs + (1000 * bytes.length) / settings.rateBytesPerSec;
  const totals: TotalFigures[] = processes.flatMap((p) =>
    p.runs.map((run) => {
      const inferenceMs = run.batches.reduce((sum, b) => sum + (steadyOf.get(b.batch) ?? Number.NaN), 0);
      return {
        totalMs: run.timings.totalMs,
        inferenceMs,
        framesInferred: run.timings.framesInferred,
        endedBy: run.timings.endedBy,
        ratio: run.timings.totalMs / Math.max(transferMs, inferenceMs),
      };
    }),
  );
  const medianRatio = median(totals.map((t) => t.ratio));
  say(`\ntotal / max(transfer ${transferMs.toFixed(0)} ms, steady inference of the batches run), per run`);
  for (const t of totals) {
    say(
      `  total ${t.totalMs.toFixed(0)} ms, inference ${t.inferenceMs.toFixed(0)} ms (${t.framesInferred} frames), ` +
        `ended by ${t.endedBy}: ${t.ratio.toFixed(3)}`,
    );
  }
  say(
    `  median ${medianRatio.toFixed(3)}   ${medianRatio <= RATIO_TARGET ? 'PASS' : 'FAIL'} (≤ ${RATIO_TARGET})`,
  );

  const overhead = await overheadFigures(clip, settings.overheadFrames);
  say(
    `\nframework overhead per inferred frame, ${overhead.source} → ${IMG_SIZE}, medians over ${overhead.frames} kept frames ` +
      `while the clip decodes beside (${overhead.backgroundDecodes} times), ms`,
  );
  say(
    `  stride ${overhead.strideMs.toFixed(3)}, filter graph ${overhead.filterMs.toFixed(2)} (libuv thread), ` +
      `resize + pad ${overhead.resizeMs.toFixed(2)}, input tensor ${overhead.tensorMs.toFixed(2)} (worker), ` +
      `output copy ${overhead.outputCopyMs.toFixed(2)} (worker), output decoding ${overhead.outputMs.toFixed(2)}`,
  );
  say(
    `  total ${overhead.totalMs.toFixed(2)} ms   ${overhead.totalMs <= OVERHEAD_TARGET_MS ? 'PASS' : 'FAIL'} (≤ ${OVERHEAD_TARGET_MS}); ` +
      `on the main thread ${overhead.mainThreadMs.toFixed(2)} ms`,
  );
  const loadEnd = loadavg();
  say(`\nload average at end ${loadEnd.map((x) => x.toFixed(2)).join(' ')}`);
  return {
    clip,
    link: { rateBytesPerSec: settings.rateBytesPerSec, ttfbMs: settings.ttfbMs },
    prepare: settings.oneOff ? 'one-off' : 'serve',
    processes,
    shapes,
    firstResult: { cold, warm },
    total: { transferMs, runs: totals, medianRatio, passes: medianRatio <= RATIO_TARGET },
    overhead,
    ratiosPass,
    load: { start: loadStart, end: loadEnd },
    cpus: availableParallelism(),
  };
}

export function readSettings(argv: readonly string[]): Settings {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      clip: { type: 'string' },
      rate: { type: 'string', default: '1660000' },
      ttfb: { type: 'string', default: '100' },
      processes: { type: 'string', default: '3' },
      budget: { type: 'string', default: '60' },
      runs: { type: 'string', default: '2' },
      steady: { type: 'string', default: '5' },
      rounds: { type: 'string', default: '3' },
      'overhead-frames': { type: 'string', default: '60' },
      'one-off': { type: 'boolean', default: false },
      prime: { type: 'boolean', default: false },
      'in-process': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const positive = (name: string, raw: string, integer = true) => {
    const value = Number(raw);
    if (!(value > 0) || (integer && !Number.isInteger(value))) {
      throw new RangeError(
        `--${name}: expected a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(raw)}`,
      );
    }
    return value;
  };
  const ttfbMs = Number(values.ttfb);
  if (!(ttfbMs >= 0))
    throw new RangeError(`--ttfb: expected a number of ms >= 0, got ${JSON.stringify(values.ttfb)}`);
  return {
    clip: values.clip,
    rateBytesPerSec: positive('rate', values.rate),
    ttfbMs,
    processes: positive('processes', values.processes),
    budgetS: values.budget === 'profile' ? undefined : positive('budget', values.budget, false),
    runs: positive('runs', values.runs),
    steady: positive('steady', values.steady),
    rounds: positive('rounds', values.rounds),
    overheadFrames: positive('overhead-frames', values['overhead-frames']),
    oneOff: values['one-off'],
    prime: values.prime,
    inProcess: values['in-process'],
    json: values.json,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const settings = readSettings(process.argv.slice(2));
  const result = await benchInference(
    settings,
    settings.json ? (line) => console.error(line) : (line) => console.log(line),
  );
  if (settings.json) console.log(JSON.stringify(result, null, 2));
  // Timers of the simulator or the decoders must not keep a finished benchmark alive.
  await lastValueFrom(timer(0));
  process.exit(0);
}
