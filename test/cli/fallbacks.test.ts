/**
 * Downgrades the user did not ask for are named in `firstframe run`'s summary (`fallbacks:`) and logged at
 * warn: here a fixed batch-1 model given batch 4, which runs each batch frame by frame. The phrases of
 * every kind are checked on hand-made events.
 */

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import type { StageEvent } from '../../src/core/events.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { buildSoccerDetector } from '../../src/models/generate.js';
import { serializeModel } from '../../src/models/onnx-writer.js';
import { fallbacksOf } from '../../src/report/summary.js';
import { ensureBuilt, lines, runCli } from '../support/cli.js';
import { testFixtures } from '../support/fixtures.js';

let fixtures: FixtureSet;
let fixedBatchModel: string;

beforeAll(async () => {
  fixtures = await testFixtures();
  await ensureBuilt();
  const scratch = mkdtempSync(join(tmpdir(), 'ff-fallbacks-'));
  fixedBatchModel = join(scratch, 'detector-batch1.onnx');
  writeFileSync(fixedBatchModel, serializeModel(buildSoccerDetector({ imgSize: 640, dynamicBatch: false })));
}, 180_000);

const event = (stage: StageEvent['stage'], name: string, data?: Record<string, unknown>): StageEvent => ({
  stage,
  name,
  at: 1,
  ...(data ? { data } : {}),
});

describe('fallbacksOf', () => {
  it('names each kind of downgrade once, with its reason', () => {
    const events = [
      event('infer', 'device-fallback', { wanted: 'cuda', reason: 'no CUDA provider' }),
      event('decode', 'nvdec-unavailable', { reason: 'no h264_cuvid' }),
      event('decode', 'nvdec-unavailable', { reason: 'no h264_cuvid' }),
      event('decode', 'moov-fetch-fallback', { reason: 'FF_ERR_RANGE_IGNORED' }),
      event('decode', 'frame'),
    ];
    expect(fallbacksOf(events, { batchSize: 16, modelBatch: 'dynamic' })).toEqual([
      'cuda unavailable: the model ran on the CPU (no CUDA provider)',
      'NVDEC unavailable: decoded in software (no h264_cuvid)',
      'Range refused: the moov at the end read from the main response (FF_ERR_RANGE_IGNORED)',
    ]);
  });

  it('a fixed-batch model smaller than the batch is a fallback; one as large or dynamic is not', () => {
    expect(fallbacksOf([], { batchSize: 4, modelBatch: 1 })).toEqual([
      "batch 4 run as 4 runs of 1 (the model's batch size is fixed at 1)",
    ]);
    expect(fallbacksOf([], { batchSize: 5, modelBatch: 2 })).toEqual([
      "batch 5 run as 3 runs of 2 (the model's batch size is fixed at 2)",
    ]);
    expect(fallbacksOf([], { batchSize: 4, modelBatch: 4 })).toEqual([]);
    expect(fallbacksOf([], { batchSize: 4, modelBatch: 'dynamic' })).toEqual([]);
    expect(fallbacksOf([])).toEqual([]);
  });
});

describe('firstframe run: fallbacks in the summary', () => {
  it('a fixed batch-1 model at batch 4: named in the summary and warned about in the log', async () => {
    const file = fixtures.clips['faststart']!.file;
    const result = await runCli(['run', file, '--model', fixedBatchModel, '--batch', '4', '--stride', '25'], {
      timeoutMs: 90_000,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^pipeline: +default: .* batch 4 detector-batch1\.onnx on cpu /m);
    expect(result.stdout).toMatch(
      /^fallbacks: {4}batch 4 run as 4 runs of 1 \(the model's batch size is fixed at 1\)$/m,
    );
    const warnings = lines(result.stderr)
      .filter((line) => line.startsWith('{'))
      .map(
        (line) => JSON.parse(line) as { level: number; event?: string; batch?: number; modelBatch?: number },
      );
    expect(warnings.filter((entry) => entry.event === 'batch-fixed')).toMatchObject([
      { level: 40, batch: 4, modelBatch: 1 },
    ]);
  }, 120_000);

  it('a dynamic model at its batch: "fallbacks: none"', async () => {
    const file = fixtures.clips['faststart']!.file;
    const result = await runCli(['run', file, '--batch', '4', '--stride', '50'], { timeoutMs: 90_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^fallbacks: {4}none$/m);
  }, 120_000);
});
