/**
 * The generated soccer detector in a real onnxruntime session, on frames of the synthetic scene: drawn
 * by `renderFrame`, and decoded from the H.264 test clip.
 */

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';

import { profileScene } from '../../src/fixtures/make.js';
import { renderFrame, sceneObjects, type SceneObject } from '../../src/fixtures/scene.js';
import { anchorCount, defaultModelDir, writeModels } from '../../src/models/generate.js';
import { parseModel, type OnnxModel } from '../../src/models/onnx-writer.js';
import { testFixtures } from '../support/fixtures.js';

const SIZE = 640;
const scene = profileScene('test');
/** 640×360 letterboxed to 640×640: 140 grey rows above and below. */
const PAD_Y = (SIZE - scene.height) / 2;
const ANCHORS = anchorCount(SIZE);
const CLASSES = 4;

let session: ort.InferenceSession;
let model: OnnxModel;

beforeAll(async () => {
  const set = await writeModels(defaultModelDir());
  const bytes = await readFile(set.models.detector.file);
  model = parseModel(bytes);
  // One thread: vitest runs two test files at once on the two cores.
  session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
});

/** RGB24 frames (640×360) → the model's input: planar RGB in 0..1, grey 114 above and below. */
function letterbox(frames: Uint8Array[]): ort.Tensor {
  const plane = SIZE * SIZE;
  const data = new Float32Array(frames.length * 3 * plane).fill(114 / 255);
  frames.forEach((frame, n) => {
    for (let y = 0; y < scene.height; y++) {
      for (let x = 0; x < scene.width; x++) {
        const from = (y * scene.width + x) * 3;
        const to = n * 3 * plane + (y + PAD_Y) * SIZE + x;
        for (let c = 0; c < 3; c++) data[to + c * plane] = (frame[from + c] as number) / 255;
      }
    }
  });
  return new ort.Tensor('float32', data, [frames.length, 3, SIZE, SIZE]);
}

const DRAWN_FRAMES = [0, 63] as const;
let drawn: Promise<Float32Array> | undefined;

/** The output for the drawn frames, run once as a batch of two and shared by the tests. */
function drawnOutput(): Promise<Float32Array> {
  drawn ??= (async () => {
    const { output0 } = await session.run({ images: letterbox(DRAWN_FRAMES.map(rendered)) });
    expect(output0?.dims).toEqual([DRAWN_FRAMES.length, 8, 8400]);
    return output0?.data as Float32Array;
  })();
  return drawn;
}

function rendered(frameNumber: number): Uint8Array {
  const frame = new Uint8Array(scene.width * scene.height * 3);
  renderFrame(scene, frameNumber, frame);
  return frame;
}

async function decoded(frameNumber: number): Promise<Uint8Array> {
  const clip = (await testFixtures()).clips.faststart;
  if (!clip) throw new Error('no faststart clip in the fixture set');
  // prettier-ignore
  const { stdout } = await promisify(execFile)('ffmpeg', [
    '-v', 'error', '-i', clip.file, '-vf', `select=eq(n\\,${frameNumber})`, '-frames:v', '1',
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-',
  ], { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 });
  return new Uint8Array(stdout);
}

interface Detection {
  anchor: number;
  classId: number;
  score: number;
  box: [number, number, number, number];
}

/** Ultralytics post-processing: best class per anchor, threshold, greedy per-class NMS. */
function detections(output: Float32Array, batchIndex: number, threshold = 0.5, iouLimit = 0.5): Detection[] {
  const rows = 4 + CLASSES;
  const at = (row: number, anchor: number): number =>
    output[(batchIndex * rows + row) * ANCHORS + anchor] as number;
  const candidates: Detection[] = [];
  for (let anchor = 0; anchor < ANCHORS; anchor++) {
    let classId = 0;
    for (let c = 1; c < CLASSES; c++) if (at(4 + c, anchor) > at(4 + classId, anchor)) classId = c;
    const score = at(4 + classId, anchor);
    if (score < threshold) continue;
    const [cx, cy, w, h] = [0, 1, 2, 3].map((row) => at(row, anchor)) as [number, number, number, number];
    candidates.push({ anchor, classId, score, box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2] });
  }
  candidates.sort((a, b) => b.score - a.score);
  const kept: Detection[] = [];
  for (const candidate of candidates) {
    if (!kept.some((k) => k.classId === candidate.classId && iou(k.box, candidate.box) > iouLimit)) {
      kept.push(candidate);
    }
  }
  return kept;
}

function iou(a: Detection['box'], b: Detection['box']): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  const inter = w > 0 && h > 0 ? w * h : 0;
  const area = (r: Detection['box']): number => (r[2] - r[0]) * (r[3] - r[1]);
  return inter / (area(a) + area(b) - inter);
}

/** Pairs each object with the nearest detection of its class; what is left over on either side is wrong. */
function compare(
  found: Detection[],
  truth: SceneObject[],
): { maxError: number; misses: number[]; extras: Detection[] } {
  const unused = new Set(found);
  const misses: number[] = [];
  let maxError = 0;
  for (const object of truth) {
    const [x1, y1, x2, y2] = object.bbox;
    const expected = [x1, y1 + PAD_Y, x2, y2 + PAD_Y];
    let best: Detection | undefined;
    let bestError = Infinity;
    for (const detection of unused) {
      if (detection.classId !== object.classId) continue;
      const error = Math.max(...detection.box.map((v, i) => Math.abs(v - (expected[i] as number))));
      if (error < bestError) [best, bestError] = [detection, error];
    }
    if (!best || bestError > 3) {
      misses.push(object.id);
      continue;
    }
    unused.delete(best);
    maxError = Math.max(maxError, bestError);
  }
  return { maxError, misses, extras: [...unused] };
}

describe('soccer detector', () => {
  it('has the inputs, outputs and metadata of an Ultralytics detection export', () => {
    expect(session.inputNames).toEqual(['images']);
    expect(session.outputNames).toEqual(['output0']);
    expect(session.inputMetadata[0]).toMatchObject({ type: 'float32', shape: ['N', 3, 640, 640] });
    expect(session.outputMetadata[0]).toMatchObject({ type: 'float32', shape: ['N', 8, 8400] });
    expect(model.opsetImports).toEqual([{ domain: '', version: 17 }]);
    expect(model.metadata).toMatchObject({
      task: 'detect',
      stride: '32',
      batch: '1',
      imgsz: '[640, 640]',
      names: "{0: 'ball', 1: 'goalkeeper', 2: 'player', 3: 'referee'}",
    });
    expect(Object.keys(model.metadata)).toEqual(
      expect.arrayContaining([
        'description',
        'author',
        'version',
        'task',
        'stride',
        'batch',
        'imgsz',
        'names',
      ]),
    );
  });

  it('finds every object of drawn frames, boxes within 3 px, nothing else (a batch of two)', async () => {
    const output = await drawnOutput();
    DRAWN_FRAMES.forEach((frameNumber, n) => {
      const result = compare(detections(output, n), sceneObjects(scene, frameNumber));
      expect({ frameNumber, misses: result.misses, extras: result.extras }).toEqual({
        frameNumber,
        misses: [],
        extras: [],
      });
      expect(result.maxError).toBeLessThanOrEqual(3);
    });
  });

  it('finds every object of a frame decoded from the H.264 clip, boxes within 3 px, nothing else', async () => {
    const frameNumber = 25;
    const { output0 } = await session.run({ images: letterbox([await decoded(frameNumber)]) });
    const result = compare(detections(output0?.data as Float32Array, 0), sceneObjects(scene, frameNumber));
    expect({ misses: result.misses, extras: result.extras }).toEqual({ misses: [], extras: [] });
    expect(result.maxError).toBeLessThanOrEqual(3);
  });

  it('answers at the stride that suits the size, and scores 0 where there is nothing', async () => {
    const output = (await drawnOutput()).subarray(0, 8 * ANCHORS);
    const found = detections(output, 0);
    const strideOf = (anchor: number): number => (anchor < 6400 ? 8 : anchor < 8000 ? 16 : 32);
    // The 5-px ball is found on the stride-8 grid, the 18 × 43 px people on the stride-16 grid.
    expect(found.map((d) => [d.classId, strideOf(d.anchor)]).sort()).toEqual(
      sceneObjects(scene, DRAWN_FRAMES[0])
        .map((o) => [o.classId, o.classId === 0 ? 8 : 16])
        .sort(),
    );
    let scored = 0;
    for (let i = 4 * ANCHORS; i < 8 * ANCHORS; i++) if ((output[i] as number) > 0) scored++;
    expect(scored).toBeLessThanOrEqual(2 * found.length);
  });
});
