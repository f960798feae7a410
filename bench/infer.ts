// Inference-stage benchmark (issue 4). Run:
//   npx tsx bench/infer.ts [--model FILE] [--parts busy,overhead,memory] [--load N] [--long-minutes N] [--json]
//
// --load N keeps N extra processes spinning for the whole run (a loaded machine, reproducibly); the load
// average at the start and the end is printed with the figures, since they mean little without it.
//
// 1. Busy share: when decoding is faster than inference, the share of the time between the first decoded
//    frame and the end during which a model run is in progress (target >= 95 %: the model never starves).
// 2. Per-frame overhead at 640 of stride + batch + tensor building + output decoding (target < 3 ms).
// 3. Peak memory (RSS) decoding a 10-minute clip against a 10-second one through the bounded pipeline
//    (target: flat), each in its own child process so that one's peak does not hide the other's.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { from, lastValueFrom, take, tap, toArray } from 'rxjs';
import type { StageEvent } from '../src/core/events.js';
import { defaultFixtureDir, makeFixtures } from '../src/fixtures/make.js';
import { fillInput, simdAvailable } from '../src/inference/input-tensor.js';
import { loadModel, type LoadedModel } from '../src/inference/model.js';
import { decodeYolo } from '../src/inference/yolo.js';
import { letterboxGeometry } from '../src/media/letterbox.js';
import { batch } from '../src/operators/batch.js';
import { decode } from '../src/operators/decode.js';
import { buildInputTensor, infer } from '../src/operators/infer.js';
import { prefetchGate } from '../src/operators/prefetch.js';
import { stride, strideKeeps } from '../src/operators/stride.js';
import { fileSource } from '../src/sources/file.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: join(root, 'models/generated/bench-yolo.onnx') },
    'long-minutes': { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
    child: { type: 'string' },
    clip: { type: 'string' },
    stride: { type: 'string', default: '30' },
    parts: { type: 'string', default: 'busy,overhead,memory' },
    load: { type: 'string', default: '0' },
  },
});
const parts = new Set(values.parts!.split(','));
const loadAverage = () =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Child mode: run the bounded pipeline over one clip and print the peak RSS. */
async function memoryChild(clip: string, every: number): Promise<void> {
  const model = await loadModel(values.model!, { imgSize: 640 });
  const gate = prefetchGate(32);
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  await lastValueFrom(
    fileSource(clip).pipe(
      decode({ imgSize: 640, gate, keepFrame: strideKeeps(every), skipNonReference: true }),
      stride(every),
      batch({ size: 8, maxWaitMs: 50 }),
      infer(model, { gate }),
    ),
    { defaultValue: undefined },
  );
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  process.stdout.write(`${JSON.stringify({ peakRssMb: peak / 1e6, inFlightAtEnd: gate.inFlight })}\n`);
  await model.release();
}

/** N processes that spin until killed: a loaded machine on demand. */
function startLoad(count: number): ChildProcess[] {
  return Array.from({ length: count }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
  );
}

const print = (line: string) => {
  if (!values.json) process.stdout.write(`${line}\n`);
};

/**
 * 1. Busy share, on the first 240 frames of the bench clip (decoding ~10× faster than this model on CPU):
 * the share of the time from the first decoded frame to the end during which a run is in progress.
 */
async function busyShare(model: LoadedModel, clip: string) {
  const events: StageEvent[] = [];
  const gate = prefetchGate(32);
  let firstFrameAt: number | undefined;
  let count = 0;
  const startedAt = performance.now();
  await lastValueFrom(
    fileSource(clip).pipe(
      decode({ imgSize: 640, gate, onEvent: (e) => events.push(e) }),
      tap(() => {
        firstFrameAt ??= performance.now();
        count += 1;
      }),
      take(240),
      batch({ size: 4 }),
      infer(model, { gate, onEvent: (e) => events.push(e) }),
      toArray(),
    ),
  );
  const endedAt = performance.now();
  const runs = events.filter((e) => e.stage === 'infer' && (e.name === 'run-start' || e.name === 'run-end'));
  let busy = 0;
  let open: number | undefined;
  for (const event of runs) {
    if (event.name === 'run-start') open = event.at;
    else if (open !== undefined) {
      busy += event.at - open;
      open = undefined;
    }
  }
  const span = endedAt - firstFrameAt!;
  const ms = runs.filter((e) => e.name === 'run-end').map((e) => e.data!.ms as number);
  return {
    frames: count,
    spanMs: span,
    busyMs: busy,
    share: busy / span,
    runMedianMs: median(ms),
    totalMs: endedAt - startedAt,
  };
}

/**
 * 2. Per-frame overhead at 640 on 64 real frames, each part timed on its own over 15 rounds (medians):
 * stride + batch (size 8), input tensor building as the infer stage does it, and output decoding.
 */
async function overhead(model: LoadedModel, clip: string) {
  const sample = await lastValueFrom(fileSource(clip).pipe(decode({ imgSize: 640 }), take(64), toArray()));
  const output = await model.run(buildInputTensor(sample.slice(0, 1), 640), 1);
  const rounds = 15;
  const stageMs: number[] = [];
  const tensorMs: number[] = [];
  const decodeMs: number[] = [];
  const geometry = letterboxGeometry(1280, 720, 640);
  for (let r = 0; r < rounds; r += 1) {
    let t = performance.now();
    await lastValueFrom(from(sample).pipe(stride(1), batch({ size: 8 }), toArray()));
    stageMs.push((performance.now() - t) / sample.length);
    t = performance.now();
    // As the infer stage does it: a buffer from the model's pool (a run hands it back), filled in place.
    for (let i = 0; i < sample.length; i += 8) {
      const input = model.inputBuffer(8);
      fillInput(sample.slice(i, i + 8), input, 640);
      model.recycleInput(input);
    }
    tensorMs.push((performance.now() - t) / sample.length);
    t = performance.now();
    for (let i = 0; i < sample.length; i += 1) {
      decodeYolo(
        output.data,
        output.anchors,
        0,
        model.layout,
        geometry,
        { width: 1280, height: 720 },
        { confThreshold: 0.25 },
      );
    }
    decodeMs.push((performance.now() - t) / sample.length);
  }
  const strideBatch = median(stageMs);
  const tensor = median(tensorMs);
  const outputDecode = median(decodeMs);
  return {
    strideBatch,
    tensor,
    outputDecode,
    total: strideBatch + tensor + outputDecode,
    simd: simdAvailable(),
  };
}

/** 3. Peak memory: 10 s against N minutes of the same content (stream-copied loops of the bench clip). */
function memory(clip: string) {
  const dir = join(defaultFixtureDir(), 'long');
  mkdirSync(dir, { recursive: true });
  const minutes = Number(values['long-minutes']);
  const make = (name: string, seconds: number) => {
    const out = join(dir, name);
    if (!existsSync(out)) {
      // prettier-ignore
      execFileSync('ffmpeg', [
        '-v', 'error', '-y', '-stream_loop', '-1', '-i', clip, '-t', String(seconds), '-c', 'copy',
        '-movflags', '+faststart', out,
      ]);
    }
    return out;
  };
  const short = make('ten-seconds.mp4', 10);
  const long = make(`${minutes}-minutes.mp4`, minutes * 60);
  const child = (file: string) => {
    // prettier-ignore
    const result = spawnSync(process.execPath, [
      '--import', 'tsx', fileURLToPath(import.meta.url), '--child', 'memory', '--clip', file,
      '--stride', values.stride!, '--model', values.model!,
    ], { encoding: 'utf8', cwd: root });
    if (result.status !== 0) throw new Error(`memory child failed: ${result.stderr}`);
    return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { peakRssMb: number };
  };
  const a = child(short);
  const b = child(long);
  return {
    shortClip: { file: short, bytes: statSync(short).size, peakRssMb: a.peakRssMb },
    longClip: { file: long, bytes: statSync(long).size, peakRssMb: b.peakRssMb },
    ratio: b.peakRssMb / a.peakRssMb,
  };
}

async function main(): Promise<void> {
  if (values.child === 'memory') {
    await memoryChild(values.clip!, Number(values.stride));
    return;
  }
  if (!existsSync(values.model!)) {
    throw new Error(`no model at ${values.model}: run ./bin/firstframe models first`);
  }
  const fixtures = await makeFixtures(defaultFixtureDir(), { profile: 'bench' });
  const clip = fixtures.clips['bench-faststart']!.file;
  const spinners = startLoad(Number(values.load));
  let failed = false;
  try {
    const model = await loadModel(values.model!, { imgSize: 640 });
    const report: Record<string, unknown> = {
      model: values.model,
      setupMs: model.setupMs,
      extraLoadProcesses: spinners.length,
      loadAverageAtStart: loadavg(),
    };
    print(
      `model ${values.model} (setup ${model.setupMs.toFixed(0)} ms), ${spinners.length} extra spinning processes, load average ${loadAverage()}`,
    );
    if (parts.has('busy')) {
      const busy = await busyShare(model, clip);
      report.busyShare = busy;
      failed ||= busy.share < 0.95;
      print(
        `busy share: ${(busy.share * 100).toFixed(1)} % of ${busy.spanMs.toFixed(0)} ms over ${busy.frames} frames (median run ${busy.runMedianMs.toFixed(1)} ms)  target >= 95 %  ${busy.share >= 0.95 ? 'PASS' : 'FAIL'}`,
      );
    }
    if (parts.has('overhead')) {
      const cost = await overhead(model, clip);
      report.overheadPerFrameMs = cost;
      failed ||= cost.total >= 3;
      print(
        `per-frame overhead at 640 (medians): stride+batch ${cost.strideBatch.toFixed(3)} ms, tensor ${cost.tensor.toFixed(3)} ms, output decode ${cost.outputDecode.toFixed(3)} ms${cost.simd ? '' : ' (no WebAssembly SIMD)'}, total ${cost.total.toFixed(3)} ms  target < 3 ms  ${cost.total < 3 ? 'PASS' : 'FAIL'}`,
      );
    }
    await model.release();
    if (parts.has('memory')) {
      const peak = memory(clip);
      report.memory = peak;
      failed ||= peak.ratio > 1.15;
      print(
        `peak RSS: 10 s clip (${(peak.shortClip.bytes / 1e6).toFixed(1)} MB) ${peak.shortClip.peakRssMb.toFixed(0)} MB, long clip (${(peak.longClip.bytes / 1e6).toFixed(1)} MB) ${peak.longClip.peakRssMb.toFixed(0)} MB, ratio ${peak.ratio.toFixed(2)}  target flat (<= 1.15)  ${peak.ratio <= 1.15 ? 'PASS' : 'FAIL'}`,
      );
    }
    report.loadAverageAtEnd = loadavg();
    print(`load average at the end ${loadAverage()}`);
    if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    for (const spinner of spinners) spinner.kill();
  }
  if (failed) process.exitCode = 1;
}

void main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? error}\n`);
  process.exitCode = 1;
});
