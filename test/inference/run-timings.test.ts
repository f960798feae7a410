/**
 * A run's timings as the session worker measures them (ModelOutput.timings): the input built from the
 * images' bytes, ONNX Runtime's run, the outputs copied back. What bench/inference.ts reads the input
 * tensor's cost from, in the thread where it is spent.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillInput, planeOf } from '../../src/inference/input-tensor.js';
import { loadModel, type LoadedModel } from '../../src/inference/model.js';
import { writeHeatmapModel } from '../../src/models/heatmap.js';

const IMG_SIZE = 320;
let model: LoadedModel;

beforeAll(async () => {
  const file = await writeHeatmapModel(join(mkdtempSync(join(tmpdir(), 'ff-run-timings-')), 'heatmap.onnx'), {
    imgSize: IMG_SIZE,
  });
  model = await loadModel(file, { head: 'centre-heatmap', threads: 1, warmup: { runs: 1 } });
}, 60_000);

afterAll(() => model?.release());

const isDuration = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value >= 0;

describe('ModelOutput.timings', () => {
  it('says where a runImages run went: input, inference, output, each a duration', async () => {
    const images = [new Uint8Array(planeOf(IMG_SIZE)).fill(7), new Uint8Array(planeOf(IMG_SIZE)).fill(200)];
    const output = await model.runImages!(images, 3);
    const timings = output.timings!;
    expect(Object.keys(timings).sort()).toEqual(['inferenceMs', 'inputMs', 'outputMs']);
    expect(Object.values(timings).every(isDuration)).toBe(true);
    // A model's run cannot take no time at all (a timer that never started would say 0).
    expect(timings.inferenceMs).toBeGreaterThan(0);
    model.recycleOutput?.(output);
  });

  it('comes with run() too, where the input arrives built', async () => {
    const input = model.inputBuffer(1);
    fillInput([{ frameNumber: 0, image: { data: new Uint8Array(planeOf(IMG_SIZE)) } }], input, IMG_SIZE);
    const output = await model.run(input, 1);
    expect(Object.values(output.timings!).every(isDuration)).toBe(true);
    expect(output.outputs?.map((o) => o.name)).toEqual(['player_conf', 'player_bbox', 'ball_conf']);
  });
});
