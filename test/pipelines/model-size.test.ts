/**
 * The image size from a fixed-shape model: without an imgSize of the user's (a profile's or the default
 * 640 is a preference), a generated 320 model runs at 320; a size the user gave that disagrees is still a
 * conflict.
 */

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { defaultModelDir, writeModels } from '../../src/models/generate.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { preparePipeline, type PreparedPipeline } from '../../src/pipelines/runner.js';
import { testFixtures } from '../support/fixtures.js';

let fixtures: FixtureSet;
let model320: string;
const prepared: PreparedPipeline[] = [];

beforeAll(async () => {
  fixtures = await testFixtures();
  // Where the bundled 320 models go (resolveModel): made once, shared with the other tests.
  model320 = (await writeModels(join(defaultModelDir(), '320'), { imgSize: 320 })).models.detector.file;
}, 120_000);

afterAll(async () => {
  await Promise.all(prepared.map((pipeline) => pipeline.release()));
});

describe('image size from a fixed-shape model', () => {
  it('no imgSize given (the default profile’s 640 is a preference): the 320 model’s size is used', async () => {
    const pipeline = loadPipeline({
      profile: 'default',
      overrides: { infer: { model: model320 }, stride: { every: 25 }, sink: { budgetS: 60 } },
    });
    expect(pipeline.imgSize).toBe(640);
    expect(pipeline.imgSizeGiven).toBe(false);
    const ready = await preparePipeline(pipeline);
    prepared.push(ready);
    expect(ready.pipeline.imgSize).toBe(320);
    expect(ready.pipeline.document.imgSize).toBe(320);
    expect(ready.model['imgSize']).toBe(320);
    const result = await ready.run(fixtures.clips['faststart']!.file);
    expect(result.error).toBeUndefined();
    expect(result.frames.map((frame) => frame.frameNumber)).toEqual([0, 25, 50, 75]);
  }, 120_000);

  it('an imgSize the user gave (document, IMG_SIZE, option) that disagrees: FF_ERR_CONFIG_CONFLICT', async () => {
    const given = [
      loadPipeline({ document: { extends: 'default', imgSize: 640, infer: { model: model320 } } }),
      loadPipeline({ profile: 'default', env: { IMG_SIZE: 640 }, overrides: { infer: { model: model320 } } }),
      loadPipeline({ profile: 'default', overrides: { imgSize: 640, infer: { model: model320 } } }),
    ];
    expect(given.map((pipeline) => pipeline.imgSizeGiven)).toEqual([true, true, true]);
    for (const pipeline of given) {
      const error = await preparePipeline(pipeline).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).code).toBe('FF_ERR_CONFIG_CONFLICT');
      expect((error as ConfigError).problems).toEqual([
        `imgSize 640: ${model320}: expects 320×320 input, but IMG_SIZE is 640`,
      ]);
    }
  }, 120_000);

  it('a document without imgSize: not given; the bundled models keep the preferred size', () => {
    expect(loadPipeline({ document: { extends: 'ultra-fast' } }).imgSizeGiven).toBe(false);
    expect(loadPipeline({ document: { extends: 'ultra-fast' } }).imgSize).toBe(384);
    expect(loadPipeline({ profile: 'soccer' }).imgSizeGiven).toBe(false);
  });
});
