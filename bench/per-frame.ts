// Turbovision's latency rule (issue 13): public models must keep p95 inference latency <= 100 ms per frame
// on 2 vCPUs. Prints p50/p95/p99 per-frame latency of the configured pipeline's models at the batch sizes
// the pipeline makes, and PASS/FAIL against 100 ms. Run:
//   npx tsx bench/per-frame.ts [--profile soccer | --pipeline FILE] [--clip FILE] [--frames N] [--json]
//
// The miners' variables (BATCH_SIZE, IMG_SIZE, DEVICE, SKIP_PITCH, …) configure the pipeline as for
// `firstframe run`. The default clip is the bench fixture (1280×720, made on first use), cut to its first
// --frames frames (default 300) with ffmpeg. See bench/per-frame-latency.ts for what is measured.

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { readEnvConfig } from '../src/core/config.js';
import { defaultFixtureDir, makeFixtures } from '../src/fixtures/make.js';
import { loadPipeline } from '../src/pipelines/load.js';
import { measurePerFrame, reportLines } from './per-frame-latency.js';

const { values } = parseArgs({
  options: {
    profile: { type: 'string' },
    pipeline: { type: 'string' },
    clip: { type: 'string' },
    frames: { type: 'string', default: '300' },
    json: { type: 'boolean', default: false },
  },
});

const frames = Number(values.frames);
if (!Number.isInteger(frames) || frames <= 0)
  throw new Error(`--frames: expected a positive integer, got ${values.frames}`);
const pipeline = loadPipeline({
  ...(values.pipeline !== undefined ? { file: values.pipeline } : { profile: values.profile ?? 'soccer' }),
  env: readEnvConfig(process.env),
});
const source =
  values.clip ??
  (await makeFixtures(defaultFixtureDir(), { profile: 'bench' })).clips['bench-faststart']!.file;

const dir = await mkdtemp(join(tmpdir(), 'ff-per-frame-'));
try {
  const clip = join(dir, 'clip.mp4');
  await promisify(execFile)('ffmpeg', [
    '-loglevel',
    'error',
    '-i',
    source,
    '-an',
    '-frames:v',
    String(frames),
    '-c',
    'copy',
    clip,
  ]);
  const loadBefore = loadavg()[0]!;
  const result = await measurePerFrame(pipeline, clip);
  const machine = `${availableParallelism()} cpus, load average ${loadBefore.toFixed(2)} → ${loadavg()[0]!.toFixed(2)}`;
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ ...result, batches: undefined, machine, clip: source, frames })}\n`,
    );
  } else {
    process.stdout.write(
      `${[`clip ${source}, first ${frames} frames; ${machine}`, ...reportLines(result)].join('\n')}\n`,
    );
  }
  process.exitCode = result.passes ? 0 : 1;
} finally {
  await rm(dir, { recursive: true, force: true });
}
