/**
 * The generated pitch keypoint model in a real onnxruntime session, on a drawn frame and on a frame
 * decoded from the H.264 test clip.
 */

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';

import { profileScene } from '../../src/fixtures/make.js';
import { PITCH_KEYPOINT_COUNT, pitchKeypoints, renderFrame } from '../../src/fixtures/scene.js';
import { anchorCount, defaultModelDir, writeModels } from '../../src/models/generate.js';
import { parseModel, type OnnxModel } from '../../src/models/onnx-writer.js';
import { testFixtures } from '../support/fixtures.js';

const SIZE = 640;
const scene = profileScene('test');
const PAD_Y = (SIZE - scene.height) / 2;
const ANCHORS = anchorCount(SIZE);
const ROWS = 4 + 1 + 3 * PITCH_KEYPOINT_COUNT;

let session: ort.InferenceSession;
let model: OnnxModel;

beforeAll(async () => {
  const set = await writeModels(defaultModelDir());
  const bytes = await readFile(set.models.pose.file);
  model = parseModel(bytes);
  // One thread: vitest runs two test files at once on the two cores.
  session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
});

function letterbox(frame: Uint8Array): ort.Tensor {
  const plane = SIZE * SIZE;
  const data = new Float32Array(3 * plane).fill(114 / 255);
  for (let y = 0; y < scene.height; y++) {
    for (let x = 0; x < scene.width; x++) {
      const from = (y * scene.width + x) * 3;
      const to = (y + PAD_Y) * SIZE + x;
      for (let c = 0; c < 3; c++) data[to + c * plane] = (frame[from + c] as number) / 255;
    }
  }
  return new ort.Tensor('float32', data, [1, 3, SIZE, SIZE]);
}

interface Pose {
  anchor: number;
  score: number;
  box: [number, number, number, number];
  keypoints: Array<{ x: number; y: number; visible: number }>;
}

/** The best-scoring anchor and every anchor that scores anything at all. */
async function pose(frame: Uint8Array): Promise<{ best: Pose; scoring: number }> {
  const { output0 } = await session.run({ images: letterbox(frame) });
  expect(output0?.dims).toEqual([1, ROWS, ANCHORS]);
  const data = output0?.data as Float32Array;
  const at = (row: number, anchor: number): number => data[row * ANCHORS + anchor] as number;
  let anchor = 0;
  let scoring = 0;
  for (let a = 0; a < ANCHORS; a++) {
    if (at(4, a) > 0) scoring++;
    if (at(4, a) > at(4, anchor)) anchor = a;
  }
  const keypoints = Array.from({ length: PITCH_KEYPOINT_COUNT }, (_, k) => ({
    x: at(5 + 3 * k, anchor),
    y: at(6 + 3 * k, anchor),
    visible: at(7 + 3 * k, anchor),
  }));
  const box = [0, 1, 2, 3].map((row) => at(row, anchor)) as Pose['box'];
  return { best: { anchor, score: at(4, anchor), box, keypoints }, scoring };
}

/** Largest distance (per axis) from the scene's keypoints, in letterboxed pixels, and how many are visible. */
function keypointErrors(found: Pose): { maxError: number; visible: number } {
  const expected = pitchKeypoints(scene, 0);
  let maxError = 0;
  found.keypoints.forEach((point, k) => {
    const truth = expected[k];
    if (!truth) throw new Error(`keypoint ${k + 1} is outside the test frame`);
    maxError = Math.max(maxError, Math.abs(point.x - truth[0]), Math.abs(point.y - (truth[1] + PAD_Y)));
  });
  return { maxError, visible: found.keypoints.filter((p) => p.visible >= 0.5).length };
}

describe('pitch pose model', () => {
  it('has the inputs, outputs and metadata of an Ultralytics pose export', () => {
    expect(session.inputNames).toEqual(['images']);
    expect(session.outputNames).toEqual(['output0']);
    expect(session.inputMetadata[0]).toMatchObject({ shape: ['N', 3, 640, 640] });
    expect(session.outputMetadata[0]).toMatchObject({ shape: ['N', 101, 8400] });
    expect(model.metadata).toMatchObject({
      task: 'pose',
      kpt_shape: '[32, 3]',
      names: "{0: 'pitch'}",
      imgsz: '[640, 640]',
      stride: '32',
    });
  });

  it('finds the 32 keypoints of a drawn frame within 2 px, as one detection covering the pitch', async () => {
    const frame = new Uint8Array(scene.width * scene.height * 3);
    renderFrame(scene, 50, frame);
    const { best, scoring } = await pose(frame);
    expect(scoring).toBe(1);
    expect(best.score).toBeGreaterThan(0.9);
    // The anchor is on the stride-32 grid (the last 400 anchors), under the pitch's centre.
    expect(best.anchor).toBeGreaterThanOrEqual(ANCHORS - 400);
    const [cx, cy, w, h] = best.box;
    const corners = pitchKeypoints(scene, 0);
    expect(cx - w / 2).toBeCloseTo(corners[0]?.[0] ?? NaN, 0);
    expect(cy + h / 2).toBeCloseTo((corners[5]?.[1] ?? NaN) + PAD_Y, 0);
    const { maxError, visible } = keypointErrors(best);
    expect(maxError).toBeLessThanOrEqual(2);
    expect(visible).toBeGreaterThanOrEqual(PITCH_KEYPOINT_COUNT - 2);
  });

  it('finds them within 2 px in a frame decoded from the H.264 clip', async () => {
    const clip = (await testFixtures()).clips.faststart;
    if (!clip) throw new Error('no faststart clip in the fixture set');
    // prettier-ignore
    const { stdout } = await promisify(execFile)('ffmpeg', [
      '-v', 'error', '-i', clip.file, '-vf', 'select=eq(n\\,25)', '-frames:v', '1',
      '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-',
    ], { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 });
    const { best } = await pose(new Uint8Array(stdout));
    const { maxError, visible } = keypointErrors(best);
    expect(maxError).toBeLessThanOrEqual(2);
    expect(visible).toBeGreaterThanOrEqual(PITCH_KEYPOINT_COUNT - 2);
  });

  it('reports nothing visible on an empty grey frame', async () => {
    const grey = new Uint8Array(scene.width * scene.height * 3).fill(114);
    const { best, scoring } = await pose(grey);
    expect(scoring).toBe(0);
    expect(best.keypoints.every((p) => p.visible === 0)).toBe(true);
  });
});
