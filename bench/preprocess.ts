// Preprocessing benchmark (issue 15 item 1). Run:
//   npx tsx bench/preprocess.ts [--frames N] [--json]
//
// 1. Main-thread cost per frame of the `opencv` preprocess's own part (cv2.resize INTER_LINEAR reproduced,
//    then the 114 border: packLetterbox), on synthetic frames, from packed BGR (a bgr24 graph) and from gbrp
//    planes (the graph the decode stage builds today), for the source and model sizes that matter.
// 2. Per decoded frame of the 720p bench clip, both preprocess modes: the filter graph's time (FFmpeg, on
//    a libuv worker) and the packing's (main thread).
// 3. Where /usr/bin/python3 has OpenCV: how far each mode's model input is from Ultralytics' letterbox
//    (cv2.VideoCapture + cv2.resize + copyMakeBorder) on the clip's first frames.
//
// Wall times on a shared machine include waiting for a core; the CPU time (process.cpuUsage over the
// loop) does not, and is the figure for the main-thread budget. The load average is printed with them.
import { execFileSync, spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { defaultFixtureDir, makeFixtures } from '../src/fixtures/make.js';
import { beamcoder, type Beamcoder } from '../src/media/beamcoder.js';
import {
  letterboxFilterSpec,
  letterboxGeometry,
  letterboxOutputFormat,
  packLetterbox,
  type ConvertedFormat,
  type LetterboxGeometry,
  type Preprocess,
} from '../src/media/letterbox.js';

const { values } = parseArgs({
  options: {
    frames: { type: 'string', default: '60' },
    json: { type: 'boolean', default: false },
  },
});
const frameCount = Number(values.frames);
const results: Record<string, unknown> = { loadAtStart: loadavg()[0] };
const say = (line: string) => {
  if (!values.json) console.log(line);
};

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const ms = (value: number) => value.toFixed(2);

// ---- 1. the resize and pad alone --------------------------------------------------------------------

interface Timing {
  medianMs: number;
  p95Ms: number;
  cpuMsPerFrame: number;
}

function timeLoop(iterations: number, body: () => void): Timing {
  for (let i = 0; i < 20; i += 1) body();
  const times: number[] = [];
  const cpu = process.cpuUsage();
  for (let i = 0; i < iterations; i += 1) {
    const start = performance.now();
    body();
    times.push(performance.now() - start);
  }
  const used = process.cpuUsage(cpu);
  times.sort((a, b) => a - b);
  return {
    medianMs: quantile(times, 0.5),
    p95Ms: quantile(times, 0.95),
    cpuMsPerFrame: (used.user + used.system) / 1000 / iterations,
  };
}

/** A frame of noise, as FFmpeg would hand it: packed BGR, or three planes with the same linesize. */
function syntheticFrame(width: number, height: number, format: ConvertedFormat) {
  const noise = (length: number) =>
    Uint8Array.from({ length }, (_, i) => (Math.imul(i, 2654435761) >>> 24) & 255);
  if (format === 'bgr24') return { planes: [noise(width * 3 * height)], linesizes: [width * 3] };
  return { planes: [0, 1, 2].map(() => noise(width * height)), linesizes: [width, width, width] };
}

const SIZES = [
  [1280, 720, 640],
  [1280, 720, 320],
  [848, 478, 640],
  [848, 478, 320],
  [1920, 1080, 640],
] as const;

say(`preprocess bench: load average ${loadavg()[0]!.toFixed(2)} at start`);
say('\n1. opencv resize + pad on the main thread (packLetterbox), ms per frame');
say('   source     model  input  method   median   p95    CPU');
const resizeTimings: Record<string, Timing> = {};
for (const [width, height, size] of SIZES) {
  const geometry = letterboxGeometry(width, height, size, 'opencv');
  const target = new Uint8Array(3 * size * size);
  for (const format of ['bgr24', 'gbrp'] as const) {
    const { planes, linesizes } = syntheticFrame(width, height, format);
    const timing = timeLoop(200, () => packLetterbox(planes, linesizes, geometry, target, format));
    resizeTimings[`${width}x${height}@${size}:${format}`] = timing;
    const method =
      width === 2 * geometry.scaledWidth && height === 2 * geometry.scaledHeight ? 'area-2x' : 'linear';
    say(
      `   ${`${width}×${height}`.padEnd(10)} ${String(size).padEnd(6)} ${format.padEnd(6)} ${method.padEnd(8)} ` +
        `${ms(timing.medianMs).padStart(6)} ${ms(timing.p95Ms).padStart(6)} ${ms(timing.cpuMsPerFrame).padStart(6)}`,
    );
  }
}
results.resize = resizeTimings;

// ---- 2. real frames through the filter graph and the packing ----------------------------------------

const fixtures = await makeFixtures(defaultFixtureDir(), { profile: 'bench' });
const clip = fixtures.clips['bench-faststart']!;

async function decodedFrames(file: string, count: number) {
  const bc = beamcoder();
  const demuxer = await bc.demuxer(file);
  const index = demuxer.streams.findIndex((s) => s.codecpar.codec_type === 'video');
  const decoder = bc.decoder({ demuxer, stream_index: index });
  const frames: Beamcoder.Frame[] = [];
  for (let packet = await demuxer.read(); packet && frames.length < count; packet = await demuxer.read()) {
    if (packet.stream_index === index) frames.push(...(await decoder.decode(packet)).frames);
  }
  frames.push(...(await decoder.flush()).frames);
  const [num = 1, den = 1] = demuxer.streams[index]!.time_base;
  return { frames: frames.slice(0, count), timeBase: [num, den] as [number, number] };
}

async function filtererFor(
  frame: Beamcoder.Frame,
  timeBase: [number, number],
  geometry: LetterboxGeometry,
  output: ConvertedFormat,
) {
  return beamcoder().filterer({
    filterType: 'video',
    inputParams: [
      {
        width: frame.width,
        height: frame.height,
        pixelFormat: frame.format as string,
        timeBase,
        pixelAspect: [1, 1],
      },
    ],
    outputParams: [{ pixelFormat: output }],
    filterSpec: letterboxFilterSpec(geometry, undefined, frame.format as string),
    threads: 1,
  } as unknown as Parameters<(typeof Beamcoder)['filterer']>[0]);
}

const { frames, timeBase } = await decodedFrames(clip.file, frameCount);
say(
  `\n2. ${frames.length} frames of ${clip.name} (${clip.width}×${clip.height}) to 640, ms per frame (median / p95)`,
);
say('   mode                      graph out  filter graph     packing (main thread)');
const variants: { name: string; preprocess: Preprocess; output: ConvertedFormat }[] = [
  {
    name: 'opencv',
    preprocess: 'opencv',
    output: letterboxOutputFormat(letterboxGeometry(1, 1, 1, 'opencv')),
  },
  { name: 'opencv (gbrp graph output)', preprocess: 'opencv', output: 'gbrp' },
  { name: 'stream-colour', preprocess: 'stream-colour', output: 'gbrp' },
];
const letterboxes: Record<string, Uint8Array[]> = {};
const frameTimings: Record<string, unknown> = {};
for (const variant of variants) {
  const geometry = letterboxGeometry(frames[0]!.width, frames[0]!.height, 640, variant.preprocess);
  const filterer = await filtererFor(frames[0]!, timeBase, geometry, variant.output);
  const filterMs: number[] = [];
  const packMs: number[] = [];
  const kept: Uint8Array[] = [];
  const target = new Uint8Array(3 * 640 * 640);
  for (const [i, frame] of frames.entries()) {
    const start = performance.now();
    const [result] = await filterer.filter([frame]);
    const filtered = performance.now();
    const converted = result!.frames[0]!;
    // Into one reused buffer, as the decode stage packs into its prefetch slot's.
    const image = packLetterbox(converted.data, converted.linesize, geometry, target, variant.output);
    packMs.push(performance.now() - filtered);
    filterMs.push(filtered - start);
    if (i < 5) kept.push(image.data.slice());
  }
  letterboxes[variant.name] = kept;
  filterMs.sort((a, b) => a - b);
  packMs.sort((a, b) => a - b);
  frameTimings[variant.name] = {
    filterMedianMs: quantile(filterMs, 0.5),
    filterP95Ms: quantile(filterMs, 0.95),
    packMedianMs: quantile(packMs, 0.5),
    packP95Ms: quantile(packMs, 0.95),
  };
  say(
    `   ${variant.name.padEnd(26)} ${variant.output.padEnd(10)} ` +
      `${ms(quantile(filterMs, 0.5))} / ${ms(quantile(filterMs, 0.95))}`.padEnd(17) +
      `${ms(quantile(packMs, 0.5))} / ${ms(quantile(packMs, 0.95))}`,
  );
}
results.frames = frameTimings;

// ---- 3. against OpenCV --------------------------------------------------------------------------------

const python = '/usr/bin/python3';
if (spawnSync(python, ['-c', 'import cv2, numpy'], { stdio: 'ignore' }).status !== 0) {
  say('\n3. skipped: /usr/bin/python3 cannot import cv2 (apt-get install python3-opencv python3-numpy)');
} else {
  const script = fileURLToPath(new URL('../test/support/opencv_reference.py', import.meta.url));
  const compared = Math.min(5, frames.length);
  const reference = execFileSync(python, [script, 'letterbox', String(compared), clip.file, '640'], {
    maxBuffer: 1 << 28,
  });
  const each = 3 * 640 * 640;
  say(`\n3. against Ultralytics' letterbox (OpenCV ${cvVersion()}), first ${compared} frames at 640`);
  say('   mode                        within 1   equal     mean |diff|  max |diff|');
  const agreementByMode: Record<string, unknown> = {};
  for (const [name, kept] of Object.entries(letterboxes)) {
    let withinOne = 0;
    let equal = 0;
    let sum = 0;
    let max = 0;
    for (let f = 0; f < compared; f += 1) {
      const ours = kept[f]!;
      const theirs = reference.subarray(f * each, (f + 1) * each);
      for (let i = 0; i < each; i += 1) {
        const difference = Math.abs(ours[i]! - theirs[i]!);
        if (difference <= 1) withinOne += 1;
        if (difference === 0) equal += 1;
        sum += difference;
        if (difference > max) max = difference;
      }
    }
    const total = compared * each;
    agreementByMode[name] = { withinOne: withinOne / total, equal: equal / total, meanAbs: sum / total, max };
    say(
      `   ${name.padEnd(27)} ${`${((100 * withinOne) / total).toFixed(3)} %`.padEnd(10)} ` +
        `${`${((100 * equal) / total).toFixed(3)} %`.padEnd(9)} ${(sum / total).toFixed(3).padEnd(12)} ${max}`,
    );
  }
  results.agreement = agreementByMode;
}

function cvVersion(): string {
  return spawnSync(python, ['-c', 'import cv2; print(cv2.__version__)'], { encoding: 'utf8' }).stdout.trim();
}

results.loadAtEnd = loadavg()[0];
say(`\nload average ${loadavg()[0]!.toFixed(2)} at end`);
if (values.json) console.log(JSON.stringify(results, null, 2));
