/**
 * PrepareOptions.inferFrom: a variant of a prepared pipeline (another stride and tracker, the same model
 * stage) shares its model stage instead of loading the model again; `/predict`'s frames pipeline is one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StageEvent } from '../../src/core/events.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { preparePipeline, type PreparedPipeline } from '../../src/pipelines/runner.js';
import { framesVariant } from '../../src/server/server.js';
import { testFixtures } from '../support/fixtures.js';

let fixtures: FixtureSet;
let owner: PreparedPipeline;
const quick = { prime: false, warmDecode: false } as const;
const document = (confThreshold?: number) =>
  loadPipeline({
    profile: 'default',
    overrides: {
      stride: { every: 25 },
      sink: { budgetS: 30 },
      ...(confThreshold !== undefined ? { infer: { confThreshold } } : {}),
    },
  });

beforeAll(async () => {
  fixtures = await testFixtures();
  owner = await preparePipeline(document(), quick);
}, 60_000);
afterAll(async () => {
  await owner?.release();
});

describe('preparePipeline inferFrom', () => {
  it('the same model stage: shared (no model loaded again); release leaves it to its owner', async () => {
    const setup: StageEvent[] = [];
    const variant = await preparePipeline(framesVariant(owner.pipeline), {
      ...quick,
      inferFrom: owner,
      onEvent: (event) => setup.push(event),
    });
    expect(variant.model).toBe(owner.model);
    expect(setup.filter((event) => event.stage === 'infer')).toEqual([]);
    // Every frame (the variant's stride), with the shared session.
    const frames = await variant.run(fixtures.clips['faststart']!.file);
    expect(frames.error).toBeUndefined();
    expect(frames.frames.map((frame) => frame.frameNumber)).toEqual(
      Array.from({ length: fixtures.clips['faststart']!.frames }, (_, i) => i),
    );
    await variant.release();
    // The owner's session still runs after the variant is released.
    const after = await owner.run(fixtures.clips['faststart']!.file);
    expect(after.error).toBeUndefined();
    expect(after.frames.map((frame) => frame.frameNumber)).toEqual([0, 25, 50, 75]);
  }, 120_000);

  it('another model stage (another threshold): built as usual, its own model', async () => {
    const setup: StageEvent[] = [];
    const other = await preparePipeline(document(0.5), {
      ...quick,
      inferFrom: owner,
      onEvent: (event) => setup.push(event),
    });
    try {
      expect(other.model).not.toBe(owner.model);
      expect(setup.filter((event) => event.stage === 'infer').length).toBeGreaterThan(0);
    } finally {
      await other.release();
    }
  }, 60_000);
});
