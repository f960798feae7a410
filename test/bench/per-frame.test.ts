/**
 * The per-frame latency benchmark (bench/per-frame.ts) in CI size: the grouping of model runs into batches
 * and the percentiles on made-up events (exact values), then a real run of the soccer pipeline on 24 frames
 * of the test clip, which prints its figures (no timing is asserted: only what was measured).
 */

import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  LATENCY_LIMIT_MS,
  batchesOf,
  measurePerFrame,
  percentiles,
  report,
  reportLines,
} from '../../bench/per-frame-latency.js';
import type { StageEvent } from '../../src/core/events.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { testFixtures } from '../support/fixtures.js';

const run = (name: string, at: number, data: Record<string, unknown>): StageEvent => ({
  stage: 'infer',
  name,
  at,
  data,
});

describe('batchesOf', () => {
  it('makes one batch of overlapping runs on the same frames, and counts different frames of overlapping runs', () => {
    const events: StageEvent[] = [
      // The detector and the pitch model on frame 0 alone.
      run('run-start', 0, { frames: 1, firstFrame: 0 }),
      run('run-start', 1, { frames: 1, firstFrame: 0 }),
      run('run-end', 30, { frames: 1 }),
      run('run-end', 40, { frames: 1 }),
      { stage: 'decode', name: 'first-frame', at: 41 },
      // Two batches in flight at once (a pipelined model): one group of 6 frames.
      run('run-start', 50, { frames: 2, firstFrame: 1 }),
      run('run-start', 60, { frames: 4, firstFrame: 3 }),
      run('run-end', 90, {}),
      run('run-error', 150, {}),
    ];
    expect(batchesOf(events)).toEqual([
      { frames: 1, ms: 40 },
      { frames: 6, ms: 100 },
    ]);
  });

  it('reports nearest-rank percentiles per frame and per batch, and passes at p95 <= 100 ms', () => {
    expect(percentiles([5, 1, 4, 2, 3])).toEqual({ p50: 3, p95: 5, p99: 5, max: 5 });
    const result = report('p', [
      { frames: 1, ms: 40 },
      { frames: 4, ms: 200 },
      { frames: 4, ms: 480 },
    ]);
    expect(result.framesInferred).toBe(9);
    expect(result.batchSizes).toEqual({ 1: 1, 4: 2 });
    // Per frame: 40, then 50 × 4, then 120 × 4.
    expect(result.perFrameMs).toEqual({ p50: 50, p95: 120, p99: 120, max: 120 });
    expect(result.batchMs).toEqual({ p50: 200, p95: 480, p99: 480, max: 480 });
    expect(result.limitMs).toBe(LATENCY_LIMIT_MS);
    expect(result.passes).toBe(false);
    expect(report('p', [{ frames: 2, ms: 200 }]).passes).toBe(true);
    expect(report('p', []).passes).toBe(false);
    expect(reportLines(result)).toEqual([
      'pipeline p: 9 frames in 3 batches (size×count: 1×1 4×2)',
      'per frame  p50 50 ms  p95 120 ms  p99 120 ms  max 120 ms',
      'per batch  p50 200 ms  p95 480 ms  p99 480 ms  max 480 ms',
      'FAIL: per-frame p95 120 ms > 100 ms',
    ]);
  });
});

describe('measurePerFrame', () => {
  it("infers every frame of a clip at the soccer pipeline's ramped batch sizes and prints the figures", async () => {
    const fixtures = await testFixtures();
    const clip = join(mkdtempSync(join(tmpdir(), 'ff-per-frame-test-')), 'clip.mp4');
    await promisify(execFile)('ffmpeg', [
      '-loglevel',
      'error',
      '-i',
      fixtures.clips['faststart']!.file,
      '-frames:v',
      '24',
      '-c',
      'copy',
      clip,
    ]);
    const result = await measurePerFrame(loadPipeline({ profile: 'soccer' }), clip);
    console.log(reportLines(result).join('\n'));
    expect(result.framesInferred).toBe(24);
    // The soccer profile: the first frame alone, then 2, 4, 8, 16 at most; the end flushes the rest.
    expect(result.batchSizes).toEqual({ 1: 1, 2: 1, 4: 1, 8: 1, 9: 1 });
    expect(result.batches.map((batch) => batch.frames)).toEqual([1, 2, 4, 8, 9]);
    expect(result.passes).toBe(result.perFrameMs.p95 <= 100);
  }, 120_000);
});
