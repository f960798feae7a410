/** The generated benchmark model in a real onnxruntime session: shapes at batch 1 and 4, metadata, size. */

import { readFile } from 'node:fs/promises';

import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';

import { benchmarkModelGflops, defaultModelDir, writeModels } from '../../src/models/generate.js';
import { parseModel, type OnnxModel } from '../../src/models/onnx-writer.js';

let session: ort.InferenceSession;
let model: OnnxModel;

beforeAll(async () => {
  const set = await writeModels(defaultModelDir());
  const bytes = await readFile(set.models.bench.file);
  model = parseModel(bytes);
  // One thread: vitest runs two test files at once on the two cores.
  session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
});

/** A deterministic textured input: the model's output should not be uniform. */
function input(batch: number): ort.Tensor {
  const data = new Float32Array(batch * 3 * 640 * 640);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 2654435761) >>> 0) / 4294967296;
  return new ort.Tensor('float32', data, [batch, 3, 640, 640]);
}

describe('benchmark model', () => {
  it('is YOLO-sized: 5 to 9 GFLOPs at 640 with the default width', () => {
    const gflops = benchmarkModelGflops();
    expect(gflops).toBeGreaterThan(5);
    expect(gflops).toBeLessThan(9);
    expect(benchmarkModelGflops({ width: 32 })).toBeCloseTo(4 * gflops, -1);
  });

  it('has the inputs, outputs and metadata of an Ultralytics detection export', () => {
    expect(session.inputNames).toEqual(['images']);
    expect(session.outputNames).toEqual(['output0']);
    expect(session.outputMetadata[0]).toMatchObject({ shape: ['N', 8, 8400] });
    expect(model.metadata).toMatchObject({
      task: 'detect',
      imgsz: '[640, 640]',
      names: "{0: 'ball', 1: 'goalkeeper', 2: 'player', 3: 'referee'}",
    });
  });

  it('runs at batch 1 and batch 4, each image of the batch on its own', async () => {
    const one = (await session.run({ images: input(1) })).output0;
    expect(one?.dims).toEqual([1, 8, 8400]);
    const four = (await session.run({ images: input(4) })).output0;
    expect(four?.dims).toEqual([4, 8, 8400]);
    const first = Array.from((four?.data as Float32Array).subarray(0, 8 * 8400));
    const alone = Array.from(one?.data as Float32Array);
    expect(first.every((v, i) => Math.abs(v - (alone[i] as number)) < 1e-3 * (1 + Math.abs(v)))).toBe(true);
    // Boxes inside a generous frame around the image, scores in 0..1 and mostly low.
    const data = one?.data as Float32Array;
    const scores = data.subarray(4 * 8400);
    expect(scores.every((s) => s >= 0 && s <= 1)).toBe(true);
    expect(scores.filter((s) => s > 0.5).length).toBeLessThan(scores.length / 100);
    expect(data.subarray(0, 2 * 8400).every((v) => v > -64 && v < 704)).toBe(true);
  });
});
