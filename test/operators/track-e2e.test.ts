import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { from, lastValueFrom, toArray } from 'rxjs';
import type { GroundTruth } from '../../src/fixtures/make.js';
import { loadModel, type LoadedModel } from '../../src/inference/model.js';
import { defaultModelDir, writeModels } from '../../src/models/generate.js';
import { batch } from '../../src/operators/batch.js';
import { decode } from '../../src/operators/decode.js';
import { infer, type FrameResult } from '../../src/operators/infer.js';
import { prefetchGate } from '../../src/operators/prefetch.js';
import { stride, strideKeeps } from '../../src/operators/stride.js';
import { track, type TrackOptions, type TrackedFrameResult } from '../../src/operators/track.js';
import { fileSource } from '../../src/sources/file.js';
import { testFixtures } from '../support/fixtures.js';
import { iou } from '../support/truth.js';

let clip: string;
let truth: GroundTruth;
let detector: LoadedModel;

beforeAll(async () => {
  const fixtures = await testFixtures();
  clip = fixtures.clips['moov-end']!.file;
  truth = JSON.parse(readFileSync(fixtures.clips['moov-end']!.truth, 'utf8')) as GroundTruth;
  const models = await writeModels(defaultModelDir());
  detector = await loadModel(models.models.detector.file, { threads: 1 });
}, 120_000);
afterAll(async () => {
  await detector?.release();
});

/** The generated detector's results on every `every`-th frame of the synthetic clip, made once per stride. */
const detected = new Map<number, Promise<FrameResult[]>>();
function detect(every: number): Promise<FrameResult[]> {
  let results = detected.get(every);
  if (!results) {
    const gate = prefetchGate(8);
    results = lastValueFrom(
      fileSource(clip).pipe(
        decode({
          imgSize: detector.imgSize,
          keepFrame: strideKeeps(every),
          gate,
          skipNonReference: every > 1,
        }),
        stride(every),
        batch({ size: 4 }),
        // Low scores pass, as ByteTrack wants them: the tracker decides what they are worth.
        infer(detector, { gate, confThreshold: 0.1 }),
        toArray(),
      ),
    );
    detected.set(every, results);
  }
  return results;
}

async function run(every: number, options: TrackOptions = {}): Promise<TrackedFrameResult[]> {
  return lastValueFrom(from(await detect(every)).pipe(track(options), toArray()));
}

/** Truth id → the track ids its best-IoU detection had, frame by frame (IoU ≥ 0.5 counts as detected). */
function trackIdsByTruth(results: readonly TrackedFrameResult[]): Map<number, Map<number, number>> {
  const byTruth = new Map<number, Map<number, number>>();
  for (const result of results) {
    const items = truth.objects.find((o) => o.frameNumber === result.frameNumber)!.items;
    for (const item of items) {
      let best: { trackId: number; overlap: number } | undefined;
      for (const object of result.objects) {
        const overlap = object.classId === item.classId ? iou(object.bbox, item.bbox) : 0;
        if (overlap >= 0.5 && overlap > (best?.overlap ?? 0)) best = { trackId: object.trackId, overlap };
      }
      if (!best) continue;
      const frames = byTruth.get(item.id) ?? new Map<number, number>();
      frames.set(result.frameNumber, best.trackId);
      byTruth.set(item.id, frames);
    }
  }
  return byTruth;
}

/** Asserts that each of `ids` was found in every frame, always with the same track id, and no id is shared. */
function expectOneTrackEach(results: readonly TrackedFrameResult[], ids: readonly number[]): void {
  const byTruth = trackIdsByTruth(results);
  const owner = new Map<number, number>();
  for (const [truthId, frames] of byTruth) {
    for (const trackId of new Set(frames.values())) {
      expect(
        owner.get(trackId),
        `track ${trackId} follows truth objects ${owner.get(trackId)} and ${truthId}`,
      ).toBe(undefined);
      owner.set(trackId, truthId);
    }
  }
  for (const id of ids) {
    const frames = byTruth.get(id);
    expect(frames?.size, `truth object ${id} is detected in every frame`).toBe(results.length);
    expect(new Set(frames!.values()).size, `truth object ${id} has one track id: ${[...frames!]}`).toBe(1);
  }
}

describe('the generated detector and track() on the synthetic clip', () => {
  for (const every of [1, 2]) {
    it(`every player, goalkeeper and referee keeps one track id along its whole path (stride ${every})`, async () => {
      const results = await run(every);
      expect(results.map((r) => r.frameNumber)).toEqual(
        Array.from({ length: Math.ceil(truth.frames / every) }, (_, i) => i * every),
      );
      const people = truth.objects[0]!.items.filter((item) => item.classId !== 0).map((item) => item.id);
      expect(people).toHaveLength(16);
      expectOneTrackEach(results, people);
    }, 120_000);

    it(`with a match buffer for the ball, the ball keeps one track id too (stride ${every})`, async () => {
      // The 5-pixel ball moves 3 to 4 pixels a frame: with plain IoU it never overlaps its own prediction
      // enough to match (see TrackOptions.matchBuffer); buffered boxes 5 times its size do, bounces included.
      const results = await run(every, { matchBuffer: { 0: 2 } });
      expectOneTrackEach(
        results,
        truth.objects[0]!.items.map((item) => item.id),
      );
    }, 120_000);
  }
});
