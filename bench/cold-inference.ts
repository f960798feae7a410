// run: npx tsx bench/cold-inference.ts [--model bundled:detector|bundled:pose|FILE] [--img-size 640]
//                                       [--batches 1,2,3,4,8,16] [--steady 5] [--rounds 3]
//
// Does the first real inference of each batch size cost more than the steady ones? For each session
// setting (ONNX Runtime's memory pattern on and off, with the default warm-up — two runs of batch 1 — or
// warmed at the largest batch first, then batch 1, twice or once each),
// a fresh session is loaded and every batch size of --batches is run: its first run, then --steady more
// (median). Printed per setting and batch size: first, steady median and their ratio (target ≤ 1.15), and
// the steady time per frame (what the memory pattern buys, if anything). --rounds repeats the whole thing
// with fresh sessions, settings taking turns, and the medians over rounds are what is printed.
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { loadModel } from '../src/inference/model.js';
import { planeOf } from '../src/inference/input-tensor.js';
import { resolveModel } from '../src/pipelines/operators.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'bundled:detector' },
    'img-size': { type: 'string', default: '640' },
    batches: { type: 'string', default: '1,2,3,4,8,16' },
    steady: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
  },
  strict: true,
});
const imgSize = Number(values['img-size']);
const batches = values.batches.split(',').map(Number);
const steadyRuns = Number(values.steady);
const rounds = Number(values.rounds);
const path = await resolveModel(values.model, imgSize, process.cwd());

const median = (xs: readonly number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
};

interface Figures {
  first: number[];
  steady: number[];
}
const largest = Math.max(...batches);
const SETTINGS: ReadonlyArray<{
  label: string;
  memoryPattern: boolean;
  warmup?: { runs?: number; batches?: number[] };
}> = [
  { label: 'pattern on', memoryPattern: true },
  { label: 'pattern off', memoryPattern: false },
  { label: `off, warm ${largest}`, memoryPattern: false, warmup: { batches: [largest, 1] } },
  { label: `on, warm ${largest}`, memoryPattern: true, warmup: { batches: [largest, 1] } },
  { label: `off, warm ${largest} once`, memoryPattern: false, warmup: { batches: [largest, 1], runs: 1 } },
];
const results = new Map<string, Figures>();
const key = (label: string, size: number) => `${label}/${size}`;

console.log(
  `bench/cold-inference: ${path} at ${imgSize}, batches ${batches.join(', ')}, ${rounds} round(s); load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
for (let round = 0; round < rounds; round += 1) {
  for (const setting of SETTINGS) {
    const model = await loadModel(path, {
      imgSize,
      memoryPattern: setting.memoryPattern,
      ...(setting.warmup ? { warmup: setting.warmup } : {}),
    });
    const image = new Uint8Array(planeOf(imgSize));
    const run = async (count: number) => {
      const started = performance.now();
      const images = Array.from({ length: count }, () => image);
      const output = await model.runImages!(images, count);
      model.recycleOutput?.(output);
      return performance.now() - started;
    };
    for (const size of batches) {
      const figures = results.get(key(setting.label, size)) ?? { first: [], steady: [] };
      figures.first.push(await run(size));
      const steady: number[] = [];
      for (let i = 0; i < steadyRuns; i += 1) steady.push(await run(size));
      figures.steady.push(median(steady));
      results.set(key(setting.label, size), figures);
    }
    await model.release();
  }
}

console.log(
  'setting              batch   first ms  steady ms   ratio   steady/frame   (target ratio ≤ 1.15)',
);
for (const setting of SETTINGS) {
  for (const size of batches) {
    const figures = results.get(key(setting.label, size))!;
    const first = median(figures.first);
    const steady = median(figures.steady);
    const ratio = first / steady;
    console.log(
      `${setting.label.padEnd(20)} ${String(size).padStart(5)} ${first.toFixed(1).padStart(10)} ${steady
        .toFixed(1)
        .padStart(10)} ${ratio.toFixed(2).padStart(7)} ${(steady / size).toFixed(1).padStart(14)}   ${
        ratio <= 1.15 ? 'PASS' : 'FAIL'
      }`,
    );
  }
}
console.log(
  `load average after: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
