/**
 * The shipped soccer pipeline on the synthetic clip: the generated detector and pitch model, run together
 * on the same frames, and ByteTrack ids that follow each synthetic player along its path. The inferred
 * frames only (`fill: false`): the fill stage on top of them is tested in fill-e2e.test.ts.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEnvConfig } from '../../src/core/config.js';
import type { FixtureSet, GroundTruth } from '../../src/fixtures/make.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { preparePipeline, type PreparedPipeline, type RunDocument } from '../../src/pipelines/runner.js';
import { testFixtures } from '../support/fixtures.js';
import { iou, readTruth } from '../support/truth.js';

let fixtures: FixtureSet;
let truth: GroundTruth;
const prepared: PreparedPipeline[] = [];

async function runSoccer(
  env: Record<string, string> = {},
): Promise<{ result: RunDocument; model: Record<string, unknown> }> {
  const pipeline = await preparePipeline(
    loadPipeline({
      profile: 'soccer',
      env: readEnvConfig(env),
      overrides: { sink: { budgetS: 120 }, fill: false },
    }),
  );
  prepared.push(pipeline);
  return { result: await pipeline.run(fixtures.clips['moov-end']!.file), model: { ...pipeline.model } };
}

beforeAll(async () => {
  fixtures = await testFixtures();
  truth = readTruth(fixtures, 'moov-end');
}, 120_000);

afterAll(async () => {
  await Promise.all(prepared.map((pipeline) => pipeline.release()));
});

describe('the soccer pipeline', () => {
  it('every 5th frame: objects by class, 32 pitch keypoints, one track id per synthetic object', async () => {
    const { result } = await runSoccer();
    expect(result.timings.endedBy).toBe('end');
    expect(result.frames.map((frame) => frame.frameNumber)).toEqual(
      Array.from({ length: 20 }, (_, index) => index * 5),
    );
    const idsOfTruth = new Map<number, Set<number>>();
    for (const frame of result.frames) {
      // Keypoints: 32, each where the pitch line crosses, or [0, 0] where unseen (confidence < 0.5).
      expect(frame.keypoints).toHaveLength(32);
      let visible = 0;
      frame.keypoints!.forEach(([x, y], index) => {
        const point = truth.keypoints[index];
        if (x === 0 && y === 0) return;
        visible += 1;
        expect(point, `keypoint ${index} seen where the truth has none`).toBeTruthy();
        expect(
          Math.hypot(x - point![0], y - point![1]),
          `frame ${frame.frameNumber} keypoint ${index}`,
        ).toBeLessThanOrEqual(3);
      });
      expect(visible).toBeGreaterThanOrEqual(24);

      const expected = truth.objects.find((o) => o.frameNumber === frame.frameNumber)!.items;
      expect(frame.objects).toHaveLength(expected.length);
      for (const item of expected) {
        const match = frame.objects
          .filter((object) => object.classId === item.classId)
          .sort((a, b) => iou(b.bbox, item.bbox) - iou(a.bbox, item.bbox))[0];
        expect(match, `frame ${frame.frameNumber}: object ${item.id}`).toBeDefined();
        expect(typeof match!.trackId).toBe('number');
        const ids = idsOfTruth.get(item.id) ?? new Set<number>();
        ids.add(match!.trackId!);
        idsOfTruth.set(item.id, ids);
      }
    }
    // Each synthetic object (players, goalkeepers, referees and the ball) keeps one id along its path…
    for (const [truthId, ids] of idsOfTruth) expect([...ids], `object ${truthId}`).toHaveLength(1);
    // …and no two objects share one.
    const all = [...idsOfTruth.values()].map((ids) => [...ids][0]);
    expect(new Set(all).size).toBe(all.length);
    expect(idsOfTruth.size).toBe(truth.objects[0]!.items.length);
  }, 120_000);

  it('DISABLE_TRACKING=1 removes the tracker; SKIP_PITCH=1 the pitch model (keypoints all [0, 0])', async () => {
    const { result, model } = await runSoccer({ DISABLE_TRACKING: '1', SKIP_PITCH: '1' });
    expect(model.pitch).toBeNull();
    expect(result.frames.length).toBe(20);
    for (const frame of result.frames) {
      expect(frame.keypoints).toEqual(Array.from({ length: 32 }, () => [0, 0]));
      for (const object of frame.objects) expect(object.trackId).toBeUndefined();
    }
  }, 120_000);
});
