/**
 * Output heads: the registry, the centre-heatmap head's decoding (hand-made maps) and checks, the
 * generated heatmap model in a real ONNX Runtime session on a synthetic clip against its ground truth,
 * and a head registered from this file plugged into the unchanged infer stage.
 */

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConfigError, ModelError } from '../../src/core/errors.js';
import type { FixtureSet, GroundTruth } from '../../src/fixtures/make.js';
import { centreHeatmapHead, type CentreHeatmapLayout } from '../../src/inference/heads/centre-heatmap.js';
import {
  defineHead,
  headByName,
  headNames,
  registerHead,
  unregisterHead,
} from '../../src/inference/heads/registry.js';
import type { DecodeTarget, HeadLayout, HeadOutput, OutputSpec } from '../../src/inference/heads/types.js';
import { loadModel, type LoadedModel } from '../../src/inference/model.js';
import { letterboxGeometry } from '../../src/media/letterbox.js';
import { buildSoccerDetector, defaultModelDir, writeModels } from '../../src/models/generate.js';
import { buildHeatmapModel, writeHeatmapModel } from '../../src/models/heatmap.js';
import { OnnxGraphBuilder, createModel, serializeModel } from '../../src/models/onnx-writer.js';
import { batch } from '../../src/operators/batch.js';
import { decode } from '../../src/operators/decode.js';
import { infer, type FrameResult } from '../../src/operators/infer.js';
import { stride, strideKeeps } from '../../src/operators/stride.js';
import { fileSource } from '../../src/sources/file.js';
import { testFixtures } from '../support/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'ff-heads-'));
const loaded: LoadedModel[] = [];
afterAll(async () => {
  await Promise.all(loaded.map((model) => model.release()));
});

async function load(...args: Parameters<typeof loadModel>): Promise<LoadedModel> {
  const model = await loadModel(args[0], { threads: 1, ...args[1] });
  loaded.push(model);
  return model;
}

describe('head registry', () => {
  it('knows the shipped heads, yolo first', () => {
    expect(headNames().slice(0, 2)).toEqual(['yolo', 'centre-heatmap']);
    expect(headByName('centre-heatmap')).toBe(centreHeatmapHead);
  });

  it('an unknown name: a ConfigError listing the known heads, before the model file is read', async () => {
    const error = (() => {
      try {
        return headByName('centernet');
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({
      code: 'FF_ERR_UNKNOWN_HEAD',
      problems: ['head: unknown head "centernet"; known: yolo, centre-heatmap'],
    });
    // The file does not exist: the head's name is what is refused.
    await expect(loadModel(join(dir, 'none.onnx'), { head: 'centernet' })).rejects.toMatchObject({
      code: 'FF_ERR_UNKNOWN_HEAD',
    });
  });

  it('refuses a second head of one name unless replacing, and a head without check or decode', () => {
    expect(() => registerHead({ ...centreHeatmapHead })).toThrowError(
      'registerHead: a head named "centre-heatmap" exists; pass { replace: true } to replace it',
    );
    const broken = { name: 'broken', summary: '', check: 1 } as unknown as Parameters<typeof registerHead>[0];
    expect(() => registerHead(broken)).toThrowError(
      'registerHead("broken"): check is not a function\nregisterHead("broken"): decode is not a function',
    );
    expect(headNames()).not.toContain('broken');
  });
});

// ---------------------------------------------------------------------------------------------------
// The centre-heatmap head on hand-made maps.

const H = 6;
const W = 6;
const STRIDE = 8;
const LAYOUT: CentreHeatmapLayout = { task: 'detect', classNames: ['player', 'ball'], stride: STRIDE };

/** One image's maps: scores by cell [y, x] and ltrb distances by cell. */
function maps(
  players: Record<string, number>,
  balls: Record<string, number>,
  boxes: Record<string, [number, number, number, number]>,
  images = 1,
  index = 0,
): HeadOutput[] {
  const plane = H * W;
  const conf = (scores: Record<string, number>) => {
    const data = new Float32Array(images * plane);
    for (const [cell, score] of Object.entries(scores)) {
      const [y, x] = cell.split(',').map(Number) as [number, number];
      data[index * plane + y * W + x] = score;
    }
    return data;
  };
  const bbox = new Float32Array(images * 4 * plane);
  for (const [cell, ltrb] of Object.entries(boxes)) {
    const [y, x] = cell.split(',').map(Number) as [number, number];
    ltrb.forEach((value, c) => (bbox[(index * 4 + c) * plane + y * W + x] = value));
  }
  return [
    { name: 'player_conf', dims: [images, 1, H, W], data: conf(players) },
    { name: 'player_bbox', dims: [images, 4, H, W], data: bbox },
    { name: 'ball_conf', dims: [images, 1, H, W], data: conf(balls) },
  ];
}

/** A 48×48 source in a 48×48 input: input pixels are source pixels. */
const PLAIN: DecodeTarget = {
  index: 0,
  geometry: letterboxGeometry(48, 48, 48),
  source: { width: 48, height: 48 },
};

const summary = (found: ReturnType<typeof centreHeatmapHead.decode>) =>
  found.map((d) => [
    d.className,
    Math.round(d.score * 1000) / 1000,
    d.bbox.map((v) => Math.round(v * 100) / 100),
  ]);

describe('centre-heatmap head: decode', () => {
  it('peaks are cells no 3×3 neighbour exceeds; boxes from ltrb distances to the cell centre, best first', () => {
    const outputs = maps(
      // (1, 1) is a peak; (1, 2) is lower and beside it; (4, 4) is a second peak; (4, 5) equals it: kept too.
      { '1,1': 0.9, '1,2': 0.8, '4,4': 0.6, '4,5': 0.6 },
      { '2,4': 0.7 },
      {
        '1,1': [4, 6, 5, 10], // centre (12, 12): x 8..17, y 6..22
        '1,2': [1, 1, 1, 1],
        '4,4': [2, 2, 2, 2],
        '4,5': [3, 3, 3, 3],
        '2,4': [1.5, 1.5, 1.5, 1.5], // the ball's box, from the same map: centre (36, 20)
      },
    );
    expect(summary(centreHeatmapHead.decode(outputs, LAYOUT, PLAIN, {}))).toEqual([
      ['player', 0.9, [8, 6, 17, 22]],
      ['ball', 0.7, [34.5, 18.5, 37.5, 21.5]],
      ['player', 0.6, [34, 34, 38, 38]],
      ['player', 0.6, [41, 33, 47, 39]],
    ]);
  });

  it('scores strictly above the threshold; NaN, infinite and out-of-range values give nothing', () => {
    const outputs = maps(
      { '0,0': 0.5, '0,3': 0.51, '3,0': Number.NaN, '3,3': 1.5, '5,5': 0.9 },
      { '2,2': Infinity },
      {
        '0,0': [1, 1, 1, 1],
        '0,3': [1, 1, 1, 1],
        '3,0': [1, 1, 1, 1],
        '3,3': [1, 1, 1, 1],
        '5,5': [Number.NaN, 1, 1, 1],
      },
    );
    expect(summary(centreHeatmapHead.decode(outputs, LAYOUT, PLAIN, { confThreshold: 0.5 }))).toEqual([
      ['player', 0.51, [27, 3, 29, 5]],
    ]);
  });

  it('at most maxDetections per class', () => {
    const outputs = maps(
      { '0,0': 0.9, '0,3': 0.8, '3,0': 0.7 },
      { '3,3': 0.6, '5,5': 0.5 },
      {
        '0,0': [1, 1, 1, 1],
        '0,3': [1, 1, 1, 1],
        '3,0': [1, 1, 1, 1],
        '3,3': [1, 1, 1, 1],
        '5,5': [1, 1, 1, 1],
      },
    );
    const found = centreHeatmapHead.decode(outputs, LAYOUT, PLAIN, { maxDetections: 1 });
    expect(found.map((d) => [d.className, d.score])).toEqual([
      ['player', Math.fround(0.9)],
      ['ball', Math.fround(0.6)],
    ]);
  });

  it('maps boxes back through the letterbox, clips them to the frame and drops those left without area', () => {
    // A 96×48 source in a 48×48 input: scale 0.5, 12 rows of padding above and below.
    const target: DecodeTarget = {
      index: 1,
      geometry: letterboxGeometry(96, 48, 48),
      source: { width: 96, height: 48 },
    };
    const outputs = maps(
      { '2,2': 0.9, '0,4': 0.8 },
      {},
      {
        '2,2': [4, 4, 4, 4], // input 16..24, 16..24 → source 32..48, 8..24
        '0,4': [2, 2, 2, 2], // input y 2..6: wholly in the padding
      },
      2,
      1,
    );
    expect(summary(centreHeatmapHead.decode(outputs, LAYOUT, target, {}))).toEqual([
      ['player', 0.9, [32, 8, 48, 24]],
    ]);
    const edge = maps({ '5,0': 0.9 }, {}, { '5,0': [10, 1, 1, 20] }, 2, 1);
    // Input x −6..5, y 43..64 → source −12..10 and 62..104: clipped to 0..10 and nothing in height.
    expect(summary(centreHeatmapHead.decode(edge, LAYOUT, target, {}))).toEqual([]);
  });

  it('maps of a run that disagree on the grid: a ModelError', () => {
    const outputs = maps({}, {}, {});
    const wrong = [outputs[0]!, { ...outputs[1]!, dims: [1, 4, H, W - 1] }, outputs[2]!];
    expect(() => centreHeatmapHead.decode(wrong, LAYOUT, PLAIN, {})).toThrowError(
      "centre-heatmap: a run's maps do not share one grid: player_conf [1, 1, 6, 6], player_bbox [1, 4, 6, 5], ball_conf [1, 1, 6, 6]",
    );
  });
});

describe('centre-heatmap head: check', () => {
  const spec = (
    name: string,
    channels: number,
    h: number | string = 160,
    w: number | string = h,
  ): OutputSpec => ({
    name,
    shape: ['N', channels, h, w],
    type: 'float32',
  });
  const good = [spec('player_conf', 1), spec('player_bbox', 4), spec('ball_conf', 1)];
  const check = (outputs: OutputSpec[], metadata: Record<string, string> = {}) =>
    centreHeatmapHead.check({ path: 'm.onnx', imgSize: 640, metadata, outputs });
  const refusal = (outputs: OutputSpec[], metadata: Record<string, string> = {}) => {
    try {
      check(outputs, metadata);
    } catch (error) {
      expect(error).toBeInstanceOf(ModelError);
      return [(error as ModelError).code, (error as ModelError).message];
    }
    throw new Error('accepted');
  };

  it('the stride from the maps, or from the metadata when they are dynamic; the outputs in decode order', () => {
    expect(check([good[2]!, good[0]!, good[1]!])).toEqual({
      layout: { task: 'detect', classNames: ['player', 'ball'], stride: 4 },
      outputs: ['player_conf', 'player_bbox', 'ball_conf'],
    });
    const dynamic = [
      spec('player_conf', 1, 'h', 'w'),
      spec('player_bbox', 4, 'h', 'w'),
      spec('ball_conf', 1, 'h', 'w'),
    ];
    expect(check(dynamic, { stride: '8' }).layout.stride).toBe(8);
  });

  it.each([
    [
      'a missing map',
      [good[0]!, good[1]!, spec('output0', 6)],
      {},
      'FF_ERR_MODEL_OUTPUT',
      'm.onnx: a centre-heatmap model has outputs player_conf [N, 1, h, w], player_bbox [N, 4, h, w], ball_conf [N, 1, h, w]; missing ball_conf (the model has player_conf, player_bbox, output0)',
    ],
    [
      'a box map of 2 channels',
      [good[0]!, spec('player_bbox', 2), good[2]!],
      {},
      'FF_ERR_MODEL_OUTPUT',
      'm.onnx: expected player_bbox of shape [N, 4, h, w], got [N, 2, 160, 160]',
    ],
    [
      'maps on two grids',
      [good[0]!, good[1]!, spec('ball_conf', 1, 80)],
      {},
      'FF_ERR_MODEL_OUTPUT',
      'm.onnx: the three maps must share one grid, got player_conf [N, 1, 160, 160], player_bbox [N, 4, 160, 160], ball_conf [N, 1, 80, 80]',
    ],
    [
      'a grid the input cannot make',
      [spec('player_conf', 1, 150), spec('player_bbox', 4, 150), spec('ball_conf', 1, 150)],
      {},
      'FF_ERR_MODEL_OUTPUT',
      'm.onnx: a 640×640 input cannot make the 150×150 grid of player_conf [N, 1, 150, 150]',
    ],
    [
      'metadata stride that disagrees',
      good,
      { stride: '8' },
      'FF_ERR_MODEL_OUTPUT',
      'm.onnx: metadata says stride 8, but player_conf [N, 1, 160, 160] on a 640×640 input is stride 4',
    ],
    [
      'metadata stride that is not a number',
      good,
      { stride: 'four' },
      'FF_ERR_MODEL_INVALID',
      'm.onnx: metadata "stride" must be a positive integer, got "four"',
    ],
    [
      'dynamic maps and no stride',
      [spec('player_conf', 1, 'h'), spec('player_bbox', 4, 'h'), spec('ball_conf', 1, 'h')],
      {},
      'FF_ERR_MODEL_OUTPUT',
      'm.onnx: the maps have no fixed size and the metadata no "stride": the grid is unknown',
    ],
  ] as const)('%s: refused, saying what is wrong', (_, outputs, metadata, code, message) => {
    expect(refusal([...outputs], metadata)).toEqual([code, message]);
  });
});

// ---------------------------------------------------------------------------------------------------
// The generated heatmap model in ONNX Runtime, on the synthetic clip.

let fixtures: FixtureSet;
let heatmapFile: string;
let detectorFile: string;

beforeAll(async () => {
  fixtures = await testFixtures();
  heatmapFile = await writeHeatmapModel(join(dir, 'heatmap.onnx'));
  detectorFile = (await writeModels(defaultModelDir())).models.detector.file;
}, 120_000);

/** Every `every`-th frame of the faststart clip through decode, stride, batch and infer. */
function run(model: LoadedModel, every: number, confThreshold = 0.5): Promise<FrameResult[]> {
  return lastValueFrom(
    fileSource(fixtures.clips.faststart!.file).pipe(
      decode({ imgSize: model.imgSize, keepFrame: strideKeeps(every) }),
      stride(every),
      batch({ size: 2 }),
      infer(model, { confThreshold }),
      toArray(),
    ),
  );
}

function truthOf(): GroundTruth {
  return JSON.parse(readFileSync(fixtures.clips.faststart!.truth, 'utf8')) as GroundTruth;
}

describe('the generated centre-heatmap model', () => {
  it('loads with the centre-heatmap head, which says the layout and the outputs each run fetches', async () => {
    const model = await load(heatmapFile, { head: 'centre-heatmap' });
    expect(model.head!.name).toBe('centre-heatmap');
    expect(model.head!.outputs).toEqual(['player_conf', 'player_bbox', 'ball_conf']);
    expect(model.layout).toEqual({ task: 'detect', classNames: ['player', 'ball'], stride: 4 });
    expect(model.outputName).toBe('player_conf');
    expect(model.metadata).toMatchObject({ head: 'centre-heatmap', stride: '4', imgsz: '[640, 640]' });
    const output = await model.runImages!([new Uint8Array(3 * 640 * 640)], 1);
    expect(output.outputs!.map((o) => [o.name, o.dims])).toEqual([
      ['player_conf', [1, 1, 160, 160]],
      ['player_bbox', [1, 4, 160, 160]],
      ['ball_conf', [1, 1, 160, 160]],
    ]);
    expect(output.data).toBe(output.outputs![0]!.data);
    // Every map's memory goes back, and the next run's maps are written into it.
    const sizes = output.outputs!.map((o) => o.data.buffer.byteLength);
    model.recycleOutput!(output);
    expect(output.outputs!.map((o) => o.data.length)).toEqual([0, 0, 0]);
    const next = await model.runImages!([new Uint8Array(3 * 640 * 640)], 1);
    expect(next.outputs!.map((o) => o.data.buffer.byteLength).sort()).toEqual(sizes.sort());
  });

  it('finds every player and the ball of the clip within 3 px of the ground truth, nothing else', async () => {
    const model = await load(heatmapFile, { head: 'centre-heatmap' });
    const results = await run(model, 25);
    const truth = truthOf();
    expect(results.map((r) => r.frameNumber)).toEqual([0, 25, 50, 75]);
    const ball = truth.classes.indexOf('ball');
    for (const result of results) {
      const expected = truth.objects.find((o) => o.frameNumber === result.frameNumber)!.items;
      const count = (className: string) => result.objects.filter((o) => o.className === className).length;
      expect([count('player'), count('ball')]).toEqual([
        expected.filter((o) => o.classId !== ball).length,
        expected.filter((o) => o.classId === ball).length,
      ]);
      for (const object of expected) {
        const className = object.classId === ball ? 'ball' : 'player';
        const match = result.objects.find(
          (found) =>
            found.className === className && found.bbox.every((v, i) => Math.abs(v - object.bbox[i]!) <= 3),
        );
        expect(
          match,
          `frame ${result.frameNumber}: ${className} ${object.id} at ${object.bbox}`,
        ).toBeDefined();
      }
    }
  }, 60_000);

  it('at 320 (source scaled by 0.5, 70 rows of padding): the objects of the YOLO detector it is built on', async () => {
    const detector = join(dir, 'detector-320.onnx');
    writeFileSync(detector, serializeModel(buildSoccerDetector({ imgSize: 320 })));
    const yolo = await load(detector);
    const heatmap = await load(await writeHeatmapModel(join(dir, 'heatmap-320.onnx'), { imgSize: 320 }), {
      head: 'centre-heatmap',
    });
    const objects = (results: FrameResult[], names: (className: string) => string) =>
      results.map((result): [number, string[]] => [
        result.frameNumber,
        result.objects
          .map((o) => [names(o.className), o.score.toFixed(4), ...o.bbox.map((v) => v.toFixed(2))].join(' '))
          .sort(),
      ]);
    const expected = objects(await run(yolo, 50), (name) => (name === 'ball' ? 'ball' : 'player'));
    expect(objects(await run(heatmap, 50), (name) => name)).toEqual(expected);
    expect(expected.map(([frameNumber, found]) => [frameNumber, found.length])).toEqual([
      [0, 17],
      [50, 17],
    ]);
  }, 60_000);

  it('with the default head (YOLO) the same file is refused, naming what YOLO expected', async () => {
    const error = await loadModel(heatmapFile).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ModelError);
    expect((error as ModelError).code).toBe('FF_ERR_MODEL_OUTPUT');
    expect((error as ModelError).message).toBe(
      `${heatmapFile}: expected output0 of shape [N, 4 + classes, anchors], got ["N",1,160,160]`,
    );
  });

  it('a YOLO export loaded with the centre-heatmap head is refused, naming the missing maps', async () => {
    const error = await loadModel(detectorFile, { head: 'centre-heatmap' }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({
      code: 'FF_ERR_MODEL_OUTPUT',
      message: `${detectorFile}: a centre-heatmap model has outputs player_conf [N, 1, h, w], player_bbox [N, 4, h, w], ball_conf [N, 1, h, w]; missing player_conf, player_bbox, ball_conf (the model has output0)`,
    });
  });

  it('metadata whose stride disagrees with the maps is refused at load', async () => {
    const model = buildHeatmapModel({ imgSize: 640 });
    const path = join(dir, 'heatmap-stride.onnx');
    writeFileSync(path, serializeModel({ ...model, metadata: { ...model.metadata, stride: '8' } }));
    await expect(loadModel(path, { head: 'centre-heatmap' })).rejects.toMatchObject({
      code: 'FF_ERR_MODEL_OUTPUT',
      message: `${path}: metadata says stride 8, but player_conf [N, 1, 160, 160] on a 640×640 input is stride 4`,
    });
  });
});

// ---------------------------------------------------------------------------------------------------
// A user's head, registered here: the infer stage is not touched.

interface BallOnlyLayout extends HeadLayout {
  readonly cell: number;
}

/** Reads only `ball_conf`: the best cell, as a box of the cell's size; refuses a model without it. */
const ballOnlyHead = defineHead<BallOnlyLayout>({
  name: 'test-ball-cell',
  summary: 'the ball_conf map alone: its best cell as a box',
  check: ({ path, imgSize, outputs }) => {
    const map = outputs.find((output) => output.name === 'ball_conf');
    if (!map || typeof map.shape[3] !== 'number') {
      throw new ModelError('FF_ERR_MODEL_OUTPUT', `${path}: no ball_conf map of a fixed size`);
    }
    return {
      layout: { task: 'detect', classNames: ['ball'], cell: imgSize / map.shape[3] },
      outputs: ['ball_conf'],
    };
  },
  decode: ([map], layout, { index, geometry, source }, options) => {
    const [, , h, w] = map!.dims as [number, number, number, number];
    const plane = map!.data.subarray(index * h * w, (index + 1) * h * w);
    let best = 0;
    plane.forEach((score, cell) => (best = score > plane[best]! ? cell : best));
    if (!(plane[best]! > (options.confThreshold ?? 0.25))) return [];
    const x = (best % w) * layout.cell;
    const y = Math.floor(best / w) * layout.cell;
    const toSource = (value: number, pad: number, size: number) =>
      Math.min(Math.max((value - pad) / geometry.scale, 0), size);
    return [
      {
        bbox: [
          toSource(x, geometry.padX, source.width),
          toSource(y, geometry.padY, source.height),
          toSource(x + layout.cell, geometry.padX, source.width),
          toSource(y + layout.cell, geometry.padY, source.height),
        ],
        classId: 0,
        className: 'ball',
        score: plane[best]!,
      },
    ];
  },
});

describe('a head registered by a user', () => {
  beforeAll(() => registerHead(ballOnlyHead));
  afterAll(() => unregisterHead(ballOnlyHead.name));

  it('is loaded by name, fetches only its output, and the infer stage decodes with it', async () => {
    expect(headNames()).toContain('test-ball-cell');
    const model = await load(heatmapFile, { head: 'test-ball-cell' });
    expect(model.head!.outputs).toEqual(['ball_conf']);
    expect(model.layout).toEqual({ task: 'detect', classNames: ['ball'], cell: 4 });
    const results = await run(model, 25);
    const truth = truthOf();
    const ball = truth.classes.indexOf('ball');
    expect(results.map((r) => r.frameNumber)).toEqual([0, 25, 50, 75]);
    for (const result of results) {
      const [x1, y1, x2, y2] = truth.objects
        .find((o) => o.frameNumber === result.frameNumber)!
        .items.find((o) => o.classId === ball)!.bbox;
      expect(result.objects).toHaveLength(1);
      // The cell holding the ball's centre (the truth's box is in source pixels; here source = input − pad).
      const [cx1, cy1, cx2, cy2] = result.objects[0]!.bbox;
      expect(cx2 - cx1).toBe(4);
      expect(cy2 - cy1).toBe(4);
      expect((x1 + x2) / 2).toBeGreaterThanOrEqual(cx1);
      expect((x1 + x2) / 2).toBeLessThan(cx2);
      expect((y1 + y2) / 2).toBeGreaterThanOrEqual(cy1);
      expect((y1 + y2) / 2).toBeLessThan(cy2);
    }
  }, 60_000);

  it('and its refusal at load is passed on as it is', async () => {
    await expect(loadModel(detectorFile, { head: 'test-ball-cell' })).rejects.toMatchObject({
      code: 'FF_ERR_MODEL_OUTPUT',
      message: `${detectorFile}: no ball_conf map of a fixed size`,
    });
  });

  it('a head whose check throws, or that asks for outputs the model lacks or cannot give as floats: FF_ERR_MODEL_OUTPUT', async () => {
    const throwing = defineHead({
      ...ballOnlyHead,
      name: 'test-throwing',
      check: () => {
        throw new TypeError('no idea');
      },
    });
    await expect(loadModel(heatmapFile, { head: throwing })).rejects.toMatchObject({
      code: 'FF_ERR_MODEL_OUTPUT',
      message: `${heatmapFile}: head test-throwing failed to check the model: no idea`,
    });
    const greedy = defineHead({
      ...ballOnlyHead,
      name: 'test-greedy',
      check: (context) => ({ ...ballOnlyHead.check(context), outputs: ['ball_conf', 'ball_bbox'] }),
    });
    await expect(loadModel(heatmapFile, { head: greedy })).rejects.toMatchObject({
      code: 'FF_ERR_MODEL_OUTPUT',
      message: `${heatmapFile}: head test-greedy asks for outputs the model does not have: ball_bbox (the model has player_conf, player_bbox, ball_conf)`,
    });
    // An output that is not float (here the image's shape, int64): the worker could not widen it.
    const graph = new OnnxGraphBuilder('int64-output');
    const images = graph.input('images', ['N', 3, 64, 64]);
    graph.op('Shape', [images], {}, { output: 'shape' });
    graph.output('shape', [4], 'int64');
    const int64File = join(dir, 'int64-output.onnx');
    writeFileSync(int64File, serializeModel(createModel(graph.build())));
    const shapeReader = defineHead({
      ...ballOnlyHead,
      name: 'test-shape',
      check: () => ({ layout: { task: 'detect', classNames: ['x'], cell: 1 }, outputs: ['shape'] }),
    });
    await expect(loadModel(int64File, { head: shapeReader })).rejects.toMatchObject({
      code: 'FF_ERR_MODEL_OUTPUT',
      message: `${int64File}: head test-shape reads shape (int64); only float32 and float16 outputs can be read`,
    });
    // A head given as it is, checked as registerHead checks it, before the file is read.
    await expect(
      loadModel(join(dir, 'none.onnx'), { head: { name: '', summary: '' } as unknown as typeof greedy }),
    ).rejects.toMatchObject({
      code: 'FF_ERR_INVALID_HEAD',
      problems: [
        'head: expected a head with a non-empty name, got ""',
        'head(""): check is not a function',
        'head(""): decode is not a function',
      ],
    });
  });

  it('a head object can be given to loadModel without registering it', async () => {
    const model = await load(heatmapFile, { head: { ...ballOnlyHead, name: 'unregistered' } });
    expect(model.head!.name).toBe('unregistered');
    expect(headNames()).not.toContain('unregistered');
  });
});
