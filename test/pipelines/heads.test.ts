/** A pipeline document names the model's output head (`infer.head`); the run decodes with it. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { writeHeatmapModel } from '../../src/models/heatmap.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { preparePipeline } from '../../src/pipelines/runner.js';
import { testFixtures } from '../support/fixtures.js';

let fixtures: FixtureSet;
let dir: string;
let heatmap: string;

beforeAll(async () => {
  fixtures = await testFixtures();
  dir = mkdtempSync(join(tmpdir(), 'firstframe-heads-'));
  heatmap = await writeHeatmapModel(join(dir, 'heatmap.onnx'));
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const documentFor = (head: string) => ({
  extends: 'default',
  stride: { operator: 'every-nth', every: 25 },
  infer: { operator: 'onnx', model: heatmap, head },
});

describe('infer.head in a pipeline document', () => {
  it("runs a centre-heatmap model through the pipeline's own infer stage", async () => {
    const prepared = await preparePipeline(loadPipeline({ document: documentFor('centre-heatmap') }));
    try {
      expect(prepared.model).toMatchObject({ head: 'centre-heatmap' });
      const result = await prepared.run(fixtures.clips['faststart']!.file);
      expect(result.frames.map((frame) => frame.frameNumber)).toEqual([0, 25, 50, 75]);
      // The clip's 16 people and its ball, every frame.
      expect(result.frames.map((frame) => frame.objects.length)).toEqual([17, 17, 17, 17]);
      expect(new Set(result.frames.flatMap((frame) => frame.objects.map((o) => o.className)))).toEqual(
        new Set(['player', 'ball']),
      );
    } finally {
      await prepared.release();
    }
  }, 120_000);

  it('an unknown head is a configuration error naming the known ones', async () => {
    await expect(
      preparePipeline(loadPipeline({ document: documentFor('centre-hetamap') })),
    ).rejects.toMatchObject({
      code: 'FF_ERR_UNKNOWN_HEAD',
      message: expect.stringContaining('centre-heatmap'),
    });
  }, 60_000);
});
