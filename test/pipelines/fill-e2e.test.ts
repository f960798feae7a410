/**
 * The fill stage wired into the pipeline: the soccer profile answers every frame of the synthetic clip
 * from every 5th one inferred, at most one ball per frame, with the ids and keypoints of the inferred
 * frames carried through, and each object saying how it was made.
 */

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEnvConfig } from '../../src/core/config.js';
import { ConfigError } from '../../src/core/errors.js';
import type { FixtureSet, GroundTruth } from '../../src/fixtures/make.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import type { PipelineDocument } from '../../src/pipelines/document.js';
import { preparePipeline, type PreparedPipeline, type RunDocument } from '../../src/pipelines/runner.js';
import { startNetSim } from '../../src/sim/netsim.js';
import { testFixtures } from '../support/fixtures.js';
import { iou, readTruth } from '../support/truth.js';

let fixtures: FixtureSet;
let truth: GroundTruth;
const prepared: PreparedPipeline[] = [];

async function prepare(profile: string, overrides: PipelineDocument = {}): Promise<PreparedPipeline> {
  const pipeline = await preparePipeline(
    loadPipeline({ profile, env: readEnvConfig({}), overrides: { sink: { budgetS: 120 }, ...overrides } }),
  );
  prepared.push(pipeline);
  return pipeline;
}

beforeAll(async () => {
  fixtures = await testFixtures();
  truth = readTruth(fixtures, 'moov-end');
}, 120_000);

afterAll(async () => {
  await Promise.all(prepared.map((pipeline) => pipeline.release()));
});

/** The largest corner distance, in pixels, between two boxes. */
const cornerError = (a: readonly number[], b: readonly number[]) =>
  Math.max(...a.map((value, index) => Math.abs(value - b[index]!)));

describe('the soccer profile with the fill stage', () => {
  let result: RunDocument;
  beforeAll(async () => {
    result = await (await prepare('soccer')).run(fixtures.clips['moov-end']!.file);
  }, 180_000);

  it('answers every frame of the clip from every 5th one inferred, and says so in the timings', () => {
    expect(result.error).toBe(undefined);
    expect(truth.frames).toBe(100);
    expect(result.frames.map((frame) => frame.frameNumber)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const counts = { inferred: 0, interpolated: 0, extrapolated: 0 };
    for (const frame of result.frames) for (const object of frame.objects) counts[object.source!] += 1;
    expect(result.timings).toMatchObject({
      endedBy: 'end',
      framesInClip: 100,
      framesAnswered: 100,
      framesInferred: 20,
      framesFilled: 80,
      lastFrameFrom: 'clip',
      objectsBySource: counts,
    });
    // Inferred objects only on the inferred frames (0, 5, …, 95), filled ones only between them.
    for (const frame of result.frames) {
      expect(frame.source, `frame ${frame.frameNumber}`).toBe(
        frame.frameNumber % 5 === 0 ? 'inferred' : 'filled',
      );
      const sources = new Set(frame.objects.map((object) => object.source));
      expect([...sources], `frame ${frame.frameNumber}`).toEqual(
        frame.frameNumber % 5 === 0
          ? ['inferred']
          : frame.frameNumber < 95
            ? ['interpolated']
            : ['extrapolated'],
      );
    }
    // 17 synthetic objects on each of 20 inferred frames; 4 frames in each of the 19 gaps; 96..99 carried.
    expect(counts).toEqual({ inferred: 340, interpolated: 19 * 4 * 17, extrapolated: 4 * 17 });
  });

  it('filled boxes lie within a few pixels of the truth, one id per object and never two balls', () => {
    const idsOfTruth = new Map<number, Set<number>>();
    const worst: Record<string, number> = {};
    for (const frame of result.frames) {
      expect(frame.objects.filter((object) => object.classId === 0).length).toBeLessThanOrEqual(1);
      const items = truth.objects.find((o) => o.frameNumber === frame.frameNumber)!.items;
      expect(frame.objects, `frame ${frame.frameNumber}`).toHaveLength(items.length);
      for (const item of items) {
        const match = frame.objects
          .filter((object) => object.classId === item.classId)
          .sort((a, b) => iou(b.bbox, item.bbox) - iou(a.bbox, item.bbox))[0]!;
        const error = cornerError(match.bbox, item.bbox);
        const key = `${match.source}/${item.classId === 0 ? 'ball' : 'people'}`;
        worst[key] = Math.max(worst[key] ?? 0, error);
        const ids = idsOfTruth.get(item.id) ?? new Set<number>();
        ids.add(match.trackId!);
        idsOfTruth.set(item.id, ids);
      }
    }
    console.log('worst corner error (px) by source/class', JSON.stringify(worst));
    expect(worst).toEqual({
      'inferred/people': expect.any(Number),
      'inferred/ball': expect.any(Number),
      'interpolated/people': expect.any(Number),
      'interpolated/ball': expect.any(Number),
      'extrapolated/people': expect.any(Number),
      'extrapolated/ball': expect.any(Number),
    });
    // Measured: 1 px inferred, 5.8 px interpolated (a player turning between two inferred frames), 9 px
    // carried past frame 95 at constant velocity (4 frames).
    const bounds: Record<string, number> = { inferred: 1, interpolated: 6, extrapolated: 10 };
    for (const [key, error] of Object.entries(worst)) {
      expect(error, key).toBeLessThanOrEqual(bounds[key.split('/')[0]!]!);
    }
    for (const [truthId, ids] of idsOfTruth) expect([...ids], `object ${truthId}`).toHaveLength(1);
    const all = [...idsOfTruth.values()].map((ids) => [...ids][0]);
    expect(new Set(all).size).toBe(truth.objects[0]!.items.length);
  });

  it('gives 32 pitch keypoints on every frame, the filled ones near the truth', () => {
    for (const frame of result.frames) {
      expect(frame.keypoints, `frame ${frame.frameNumber}`).toHaveLength(32);
      let seen = 0;
      frame.keypoints!.forEach(([x, y], index) => {
        if (x === 0 && y === 0) return;
        seen += 1;
        const point = truth.keypoints[index]!;
        expect(
          Math.hypot(x - point[0], y - point[1]),
          `frame ${frame.frameNumber} point ${index}`,
        ).toBeLessThanOrEqual(3);
      });
      expect(seen, `frame ${frame.frameNumber}`).toBeGreaterThanOrEqual(24);
    }
  });
});

describe('the fill stage without a frame count', () => {
  it('a fragmented clip is filled to its last decoded frame and says so', async () => {
    const pipeline = await prepare('soccer');
    const result = await pipeline.run(fixtures.clips['fragmented']!.file);
    expect(result.timings.framesInClip).toBe(null);
    expect(result.timings.lastFrameFrom).toBe('decoded');
    expect(result.frames.map((frame) => frame.frameNumber)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(result.timings.framesInferred).toBe(20);
  }, 180_000);
});

describe('the fill stage at the deadline', () => {
  it('a stalled server: the frames so far, filled to the last decoded one', async () => {
    const sim = await startNetSim({
      files: { '/faststart.mp4': readFileSync(fixtures.clips['faststart']!.file) },
      rateBytesPerSec: 1_000_000,
      ttfbMs: 20,
    });
    try {
      const pipeline = await prepare('soccer', { sink: { budgetS: 4 } });
      const result = await pipeline.run(sim.urlFor('/faststart.mp4', { stallAfterBytes: 40_000 }));
      const t = result.timings;
      expect(t.endedBy).toBe('budget');
      expect(result.error).toBe(undefined);
      expect(t.framesInClip).toBe(100);
      expect(t.lastFrameFrom).toBe('decoded');
      expect(t.framesInferred).toBeGreaterThan(0);
      // Every frame from 0 to the last decoded one (fewer than the clip's 100: the bytes stopped).
      expect(t.framesAnswered).toBeLessThan(100);
      expect(result.frames.map((frame) => frame.frameNumber)).toEqual(
        Array.from({ length: t.framesAnswered! }, (_, i) => i),
      );
      expect(result.frames.filter((frame) => frame.source === 'inferred')).toHaveLength(t.framesInferred);
    } finally {
      await sim.close();
    }
  }, 120_000);
});

describe('without the fill stage', () => {
  it('the default profile answers the inferred frames only, every object marked inferred', async () => {
    const result = await (await prepare('default')).run(fixtures.clips['moov-end']!.file);
    expect(result.frames.map((frame) => frame.frameNumber)).toEqual(
      Array.from({ length: 20 }, (_, i) => i * 5),
    );
    const objects = result.frames.flatMap((frame) => frame.objects);
    expect(new Set(objects.map((object) => object.source))).toEqual(new Set(['inferred']));
    expect(result.timings).toMatchObject({
      framesInClip: 100,
      framesAnswered: 20,
      framesInferred: 20,
      framesFilled: 0,
      lastFrameFrom: null,
      objectsBySource: { inferred: objects.length, interpolated: 0, extrapolated: 0 },
    });
  }, 180_000);

  it("fill: false turns the soccer profile's fill off", async () => {
    const result = await (await prepare('soccer', { fill: false })).run(fixtures.clips['moov-end']!.file);
    expect(result.timings.framesAnswered).toBe(20);
    expect(result.timings.framesFilled).toBe(0);
  }, 180_000);
});

describe('class rules in the pipeline', () => {
  it('a class map naming classes the model does not have is a ConfigError at prepare, listing them', async () => {
    const pipeline = loadPipeline({
      profile: 'soccer',
      env: readEnvConfig({}),
      overrides: {
        classes: {
          map: {
            person: { id: 2, name: 'player' },
            ball: { id: 0, name: 'ball' },
            'sports ball': { id: 0, name: 'ball' },
          },
        },
      },
    });
    const error = await preparePipeline(pipeline).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('FF_ERR_UNKNOWN_CLASS');
    expect((error as ConfigError).problems[0]).toMatch(
      /^classes\.map: "person", "sports ball" are not among the model's classes \(/,
    );
  }, 120_000);

  it('a class map renames and drops classes before the tracker', async () => {
    const result = await (
      await prepare('soccer', {
        fill: false,
        classes: { map: { player: { id: 7, name: 'person' }, ball: { id: 0, name: 'ball' } } },
      })
    ).run(fixtures.clips['moov-end']!.file);
    const classes = new Set(
      result.frames.flatMap((frame) => frame.objects.map((o) => `${o.classId}:${o.className}`)),
    );
    expect(classes).toEqual(new Set(['7:person', '0:ball']));
  }, 180_000);
});
