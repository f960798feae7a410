import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastValueFrom, toArray } from 'rxjs';
import type { Dispatcher } from 'undici';
import type { FixtureSet, GroundTruth } from '../../src/fixtures/make.js';
import { loadModel, type LoadedModel } from '../../src/inference/model.js';
import { defaultModelDir, writeModels } from '../../src/models/generate.js';
import { batch } from '../../src/operators/batch.js';
import { decode } from '../../src/operators/decode.js';
import { infer, type FrameResult } from '../../src/operators/infer.js';
import { prefetchGate } from '../../src/operators/prefetch.js';
import { stride, strideKeeps } from '../../src/operators/stride.js';
import { startNetSim, type NetSim } from '../../src/sim/netsim.js';
import { createDispatcher } from '../../src/sources/dispatcher.js';
import { httpSource } from '../../src/sources/http.js';
import { testFixtures } from '../support/fixtures.js';

let fixtures: FixtureSet;
let sim: NetSim;
let dispatcher: Dispatcher;
let detector: LoadedModel;
let pose: LoadedModel;

beforeAll(async () => {
  fixtures = await testFixtures();
  const models = await writeModels(defaultModelDir());
  detector = await loadModel(models.models.detector.file, { threads: 1 });
  pose = await loadModel(models.models.pose.file, { threads: 1 });
  sim = await startNetSim({
    files: { '/clip.mp4': readFileSync(fixtures.clips['moov-end']!.file) },
    rateBytesPerSec: 2_000_000,
    ttfbMs: 20,
  });
  dispatcher = createDispatcher();
}, 120_000);
afterAll(async () => {
  await dispatcher?.destroy();
  await sim?.close();
  await detector?.release();
  await pose?.release();
});

/** The whole chain on the moov-at-end clip, as bytes arrive from the simulator. */
async function run(model: LoadedModel, every: number): Promise<FrameResult[]> {
  const gate = prefetchGate(8);
  return lastValueFrom(
    httpSource(sim.urlFor('/clip.mp4'), { dispatcher }).pipe(
      decode({ imgSize: model.imgSize, keepFrame: strideKeeps(every), gate, skipNonReference: true }),
      stride(every),
      batch({ size: 2, earlyFlushFirstFrame: true }),
      infer(model, { gate, confThreshold: 0.5 }),
      toArray(),
    ),
  );
}

describe('source → decode → stride → batch → infer on the synthetic clip', () => {
  it('finds every player, goalkeeper, referee and the ball within 3 px of the ground truth, nothing else', async () => {
    const truth = JSON.parse(readFileSync(fixtures.clips['moov-end']!.truth, 'utf8')) as GroundTruth;
    const results = await run(detector, 25);
    expect(results.map((r) => r.frameNumber)).toEqual([0, 25, 50, 75]);
    for (const result of results) {
      const expected = truth.objects.find((o) => o.frameNumber === result.frameNumber)!.items;
      expect(result.objects).toHaveLength(expected.length);
      for (const object of expected) {
        const match = result.objects.find(
          (found) =>
            found.classId === object.classId &&
            found.bbox.every((v, i) => Math.abs(v - object.bbox[i]!) <= 3),
        );
        expect(
          match,
          `frame ${result.frameNumber}: object ${object.id} (class ${object.classId}) at ${object.bbox}`,
        ).toBeDefined();
      }
      expect(new Set(result.objects.map((o) => o.className))).toEqual(
        new Set(['ball', 'goalkeeper', 'player', 'referee']),
      );
    }
  }, 60_000);

  it('the pitch pose model gives the 32 pitch keypoints within 3 px', async () => {
    const truth = JSON.parse(readFileSync(fixtures.clips['moov-end']!.truth, 'utf8')) as GroundTruth;
    const [result] = await run(pose, 100);
    expect(result!.frameNumber).toBe(0);
    const keypoints = result!.objects[0]!.keypoints!;
    expect(keypoints).toHaveLength(32);
    // A point a player stands on is reported with visibility 0; every visible one is where the line crosses.
    let visible = 0;
    truth.keypoints.forEach((point, index) => {
      const [x, y, confidence] = keypoints[index]!;
      if (!point || confidence < 0.5) return;
      visible += 1;
      expect(Math.hypot(x - point[0], y - point[1]), `keypoint ${index}`).toBeLessThanOrEqual(3);
    });
    expect(visible).toBeGreaterThanOrEqual(28);
  }, 60_000);
});
