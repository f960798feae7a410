import { describe, expect, it } from 'vitest';
import { letterboxGeometry } from '../../src/media/letterbox.js';
import { channelsOf, decodeYolo, parseClassNames, type YoloLayout } from '../../src/inference/yolo.js';

const detect: YoloLayout = { task: 'detect', classNames: ['ball', 'goalkeeper', 'player', 'referee'] };
const geometry = letterboxGeometry(640, 360, 640); // scale 1, padY 140

/** A [1, channels, anchors] output with the given anchors set: [cx, cy, w, h, ...scores(, ...keypoints)]. */
function output(layout: YoloLayout, anchors: number, set: Record<number, number[]>): Float32Array {
  const channels = channelsOf(layout);
  const data = new Float32Array(channels * anchors);
  for (const [anchor, values] of Object.entries(set)) {
    values.forEach((value, channel) => (data[channel * anchors + Number(anchor)] = value));
  }
  return data;
}

describe('decodeYolo', () => {
  it('maps boxes back to source pixels through the letterbox and names the class', () => {
    const data = output(detect, 10, { 3: [100, 200, 20, 40, 0, 0, 0.9, 0] });
    expect(decodeYolo(data, 10, 0, detect, geometry, { width: 640, height: 360 })).toEqual([
      { bbox: [90, 40, 110, 80], classId: 2, className: 'player', score: expect.closeTo(0.9, 6) },
    ]);
    // At imgSize 320 the same source box is half the size and padded by 70.
    const half = letterboxGeometry(640, 360, 320);
    const small = output(detect, 10, { 3: [50, 100, 10, 20, 0, 0.8, 0, 0] });
    expect(decodeYolo(small, 10, 0, detect, half, { width: 640, height: 360 })[0]!.bbox).toEqual([
      90, 40, 110, 80,
    ]);
  });

  it('applies the confidence threshold, class-wise NMS and the detection cap', () => {
    const data = output(detect, 6, {
      0: [100, 200, 20, 40, 0, 0, 0.9, 0],
      1: [101, 201, 20, 40, 0, 0, 0.8, 0], // same player, lower score: suppressed
      2: [101, 201, 20, 40, 0, 0, 0, 0.7], // same place, other class: kept (class-wise)
      3: [300, 200, 20, 40, 0, 0, 0.2, 0], // under 0.25
      4: [400, 200, 20, 40, 0.6, 0, 0, 0],
    });
    const found = decodeYolo(data, 6, 0, detect, geometry, { width: 640, height: 360 });
    expect(found.map((d) => [d.className, Math.round(d.bbox[0])])).toEqual([
      ['player', 90],
      ['referee', 91],
      ['ball', 390],
    ]);
    expect(
      decodeYolo(data, 6, 0, detect, geometry, { width: 640, height: 360 }, { maxDetections: 2 }),
    ).toHaveLength(2);
    expect(
      decodeYolo(data, 6, 0, detect, geometry, { width: 640, height: 360 }, { confThreshold: 0.85 }),
    ).toHaveLength(1);
  });

  it('as Ultralytics: a score at the threshold is out, NMS compares unclipped boxes, clipping comes after', () => {
    const data = output(detect, 5, {
      0: [-90, 200, 220, 40, 0, 0, 0.9, 0], // x -200..20: clipped to 0..20
      1: [5, 200, 30, 40, 0, 0, 0.8, 0], // x -10..20: IoU 30/220 with the first unclipped, 1 clipped
      2: [-30, 200, 40, 40, 0, 0, 0, 0.6], // x -50..-10: wholly outside, no width once clipped: dropped
      3: [300, 200, 20, 40, 0, 0, 0.25, 0], // exactly the threshold: not above it
    });
    const found = decodeYolo(data, 5, 0, detect, geometry, { width: 640, height: 360 });
    expect(found.map((d) => [d.className, d.bbox])).toEqual([
      ['player', [0, 40, 20, 80]],
      ['player', [0, 40, 20, 80]],
    ]);
  });

  it('never lets NaN, infinite or out-of-range scores and boxes through', () => {
    const data = output(detect, 5, {
      0: [100, 200, 20, 40, 0, 0, Number.NaN, 0],
      1: [100, 200, 20, 40, 0, 0, 1.5, 0],
      2: [Number.NaN, 200, 20, 40, 0, 0, 0.9, 0],
      3: [100, 200, Number.POSITIVE_INFINITY, 40, 0, 0, 0.9, 0],
      4: [100, 200, -5, 40, 0, 0, 0.9, 0],
    });
    expect(decodeYolo(data, 5, 0, detect, geometry, { width: 640, height: 360 })).toEqual([]);
  });

  it('clips to the source frame and reads the right image of a batch', () => {
    const one = output(detect, 4, { 1: [5, 150, 20, 40, 0, 0, 0.9, 0] });
    const two = output(detect, 4, { 2: [600, 480, 100, 100, 0.5, 0, 0, 0] });
    const batch = new Float32Array([...one, ...two]);
    expect(decodeYolo(batch, 4, 0, detect, geometry, { width: 640, height: 360 })[0]!.bbox).toEqual([
      0, 0, 15, 30,
    ]);
    expect(decodeYolo(batch, 4, 1, detect, geometry, { width: 640, height: 360 })[0]).toMatchObject({
      bbox: [550, 290, 640, 360],
      className: 'ball',
    });
  });

  it('pose models give keypoints in source pixels with clamped confidences', () => {
    const pose: YoloLayout = { task: 'pose', classNames: ['pitch'], keypoints: { count: 2, dims: 3 } };
    const data = output(pose, 3, { 1: [320, 320, 600, 300, 0.95, 10, 150, 0.9, 630, 500, 7] });
    const [found] = decodeYolo(data, 3, 0, pose, geometry, { width: 640, height: 360 });
    expect(found!.keypoints).toEqual([
      [10, 10, expect.closeTo(0.9, 6)],
      [630, 360, 1],
    ]);
  });
});

describe('parseClassNames', () => {
  it('reads the Python dict literal Ultralytics writes', () => {
    expect(parseClassNames("{0: 'person', 1: 'bicycle', 2: \"traffic light\"}")).toEqual([
      'person',
      'bicycle',
      'traffic light',
    ]);
    expect(parseClassNames("{0: 'ball', 1: 'goalkeeper', 2: 'player', 3: 'referee'}")).toHaveLength(4);
    expect(parseClassNames("{0: 'it\\'s'}")).toEqual(["it's"]);
  });
  it('refuses what is not such a dict', () => {
    expect(parseClassNames("['a', 'b']")).toBeUndefined();
    expect(parseClassNames("{0: 'a', 2: 'c'}")).toBeUndefined();
    expect(parseClassNames('{0: a}')).toBeUndefined();
  });
});
