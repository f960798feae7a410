import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Subject, lastValueFrom, of, toArray } from 'rxjs';
import { ModelError } from '../../src/core/errors.js';
import type { StageEvent } from '../../src/core/events.js';
import { anchorsFor, loadModel, type LoadModelOptions, type LoadedModel } from '../../src/inference/model.js';
import { letterboxGeometry } from '../../src/media/letterbox.js';
import { attr, createModel, OnnxGraphBuilder, serializeModel } from '../../src/models/onnx-writer.js';
import type { DecodedFrame, VideoStreamInfo } from '../../src/operators/decode.js';
import { fillInput } from '../../src/inference/input-tensor.js';
import { buildInputTensor, infer, type FrameResult } from '../../src/operators/infer.js';

const S = 64;
const ANCHORS = anchorsFor(S); // 64 + 16 + 4 = 84
const CLASSES = ['goal', 'ball'];
const CHANNELS = 4 + CLASSES.length;
const dir = mkdtempSync(join(tmpdir(), 'ff-infer-'));
const loaded: LoadedModel[] = [];
afterAll(async () => {
  await Promise.all(loaded.map((model) => model.release()));
});

interface PassThroughOptions {
  batch?: number | 'N';
  /** An export with half=True: float16 input and output around the same graph. */
  half?: boolean;
  inputShape?: Array<number | string>;
  outputShape?: [number | string, number, number];
  metadata?: Record<string, string>;
}

/**
 * A model whose output0 is the first CHANNELS × ANCHORS values of the R plane, box rows scaled by S: a test
 * writes the detections it wants into a frame's pixels and reads them back through the whole path.
 */
function passThroughModel(name: string, options: PassThroughOptions = {}): string {
  const batch = options.batch ?? 'N';
  const [outBatch, channels, anchors] = options.outputShape ?? [batch, CHANNELS, ANCHORS];
  const graph = new OnnxGraphBuilder(name);
  const declared = graph.input(
    'images',
    options.inputShape ?? [batch, 3, S, S],
    options.half ? 'float16' : 'float',
  );
  const images = options.half ? graph.op('Cast', [declared], { to: attr.int(1) }) : declared;
  const flat = graph.op('Reshape', [images, graph.int64s([0, -1])]);
  const head = graph.op('Slice', [
    flat,
    graph.int64s([0]),
    graph.int64s([channels * anchors]),
    graph.int64s([1]),
  ]);
  const shaped = graph.op('Reshape', [head, graph.int64s([0, channels, anchors])]);
  const scale = Array.from({ length: channels * anchors }, (_, i) => (Math.floor(i / anchors) < 4 ? S : 1));
  const scaled = graph.op('Mul', [shaped, graph.floats(scale, [1, channels, anchors])]);
  graph.op(options.half ? 'Cast' : 'Identity', [scaled], options.half ? { to: attr.int(10) } : {}, {
    output: 'output0',
  });
  graph.output('output0', [outBatch, channels, anchors], options.half ? 'float16' : 'float');
  const metadata = options.metadata ?? {
    task: 'detect',
    names: "{0: 'goal', 1: 'ball'}",
    imgsz: `[${S}, ${S}]`,
    stride: '32',
  };
  const path = join(dir, `${name}.onnx`);
  writeFileSync(path, serializeModel(createModel(graph.build(), { metadata })));
  return path;
}

const stream: VideoStreamInfo = {
  layout: 'faststart',
  container: 'mov',
  codec: 'h264',
  decoder: 'h264',
  width: S,
  height: S,
  fps: 25,
  timeBase: [1, 12800],
};

/** A frame whose pixels make the pass-through model report one detection at `anchor`. */
function frame(
  frameNumber: number,
  anchor: number,
  box: [number, number, number, number],
  classId: number,
): DecodedFrame {
  const data = new Uint8Array(3 * S * S);
  const set = (row: number, value: number) => (data[row * ANCHORS + anchor] = value);
  // Box rows come back × S / 255: a pixel p gives p · 64 / 255 pixels.
  box.forEach((value, row) => set(row, Math.round((value * 255) / S)));
  set(4 + classId, 230); // score 0.902
  return {
    frameNumber,
    pts: frameNumber / 25,
    width: S,
    height: S,
    keyFrame: frameNumber === 0,
    decodedAt: 0,
    image: { ...letterboxGeometry(S, S, S), data },
    stream,
  };
}

async function load(path: string, events?: StageEvent[], options: LoadModelOptions = {}) {
  const model = await loadModel(path, { ...options, onEvent: (e) => events?.push(e) });
  loaded.push(model);
  return model;
}

describe('loadModel', () => {
  it('reads the layout from an Ultralytics-style export and warms the session up', async () => {
    const events: StageEvent[] = [];
    const model = await load(passThroughModel('dynamic'), events);
    expect(model).toMatchObject({
      inputName: 'images',
      outputName: 'output0',
      inputType: 'float32',
      imgSize: S,
      batch: 'dynamic',
      device: 'cpu',
      layout: { task: 'detect', classNames: CLASSES },
      metadata: { stride: '32' },
    });
    expect(model.setupMs).toBeGreaterThan(0);
    expect(events.map((e) => e.name)).toEqual(['model-loaded']);
  });

  it('warms up with the runs and batch sizes asked for, and says so', async () => {
    const events: StageEvent[] = [];
    const model = await load(passThroughModel('dynamic'), events, {
      warmup: { runs: 3, batches: [1, 4, 4] },
      memoryPattern: false,
    });
    expect(events[0]!.data).toMatchObject({ memoryPattern: false, warmup: { runs: 3, batches: [1, 4] } });
    // The default: two runs of batch 1, memory pattern on; a fixed batch is warmed at its size only.
    const defaults: StageEvent[] = [];
    await load(passThroughModel('dynamic'), defaults);
    expect(defaults[0]!.data).toMatchObject({ memoryPattern: true, warmup: { runs: 2, batches: [1] } });
    expect(model.batch).toBe('dynamic');
  });

  it('refuses warm-up settings out of range, every problem at once', async () => {
    await expect(
      loadModel(passThroughModel('dynamic'), { warmup: { runs: 11, batches: [0, 2, 300] } }),
    ).rejects.toMatchObject({
      code: 'FF_ERR_INVALID_OPTION',
      problems: [
        'warmup.runs: expected an integer from 0 to 10, got 11',
        'warmup.batches: expected batch sizes from 1 to 256, got 0',
        'warmup.batches: expected batch sizes from 1 to 256, got 300',
      ],
    });
  });

  it('DEVICE=cuda without the CUDA build: one event saying why, then CPU', async () => {
    const events: StageEvent[] = [];
    const model = await loadModel(passThroughModel('cuda'), {
      device: 'cuda',
      onEvent: (e) => events.push(e),
    });
    loaded.push(model);
    expect(model.device).toBe('cpu');
    const fallback = events.filter((e) => e.name === 'device-fallback');
    expect(fallback).toHaveLength(1);
    expect(String(fallback[0]!.data!.reason)).toMatch(/CUDA/);
  });

  const failures: Array<[string, () => string, string, RegExp]> = [
    [
      'a missing file',
      () => join(dir, 'nope.onnx'),
      'FF_ERR_MODEL_NOT_FOUND',
      /no model file at .*nope\.onnx/,
    ],
    [
      'a file that is not ONNX',
      () => {
        const path = join(dir, 'random.onnx');
        writeFileSync(path, randomBytes(4096));
        return path;
      },
      'FF_ERR_MODEL_INVALID',
      /random\.onnx is not an ONNX model|ONNX Runtime refused/,
    ],
    [
      'an input that is not [N, 3, H, W]',
      () => passThroughModel('gray', { inputShape: ['N', 1, S, S] }),
      'FF_ERR_MODEL_INPUT',
      /expected input images of shape \[N, 3, H, W\], got \[N, 1, 64, 64\]/,
    ],
    [
      'an anchor-major output',
      () => passThroughModel('anchor-major', { outputShape: ['N', ANCHORS, CHANNELS] }),
      'FF_ERR_MODEL_OUTPUT',
      /anchor-major or end-to-end/,
    ],
    [
      'class names that do not fit the output',
      () => passThroughModel('names', { metadata: { task: 'detect', names: "{0: 'a', 1: 'b', 2: 'c'}" } }),
      'FF_ERR_MODEL_OUTPUT',
      /output has 6 channels per anchor, but a YOLO detect output with 3 classes has 7/,
    ],
    [
      'a pose model without kpt_shape',
      () => passThroughModel('pose', { metadata: { task: 'pose', names: "{0: 'a'}" } }),
      'FF_ERR_MODEL_INVALID',
      /a pose model needs kpt_shape metadata/,
    ],
  ];
  it.each(failures)('%s: a clear error at load naming the model', async (_name, make, code, message) => {
    const path = make();
    const error = await loadModel(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ModelError);
    expect((error as ModelError).code).toBe(code);
    expect((error as ModelError).message).toMatch(message);
    expect((error as ModelError).message).toContain(path);
  });

  it('IMG_SIZE that disagrees with a fixed input size', async () => {
    const path = passThroughModel('fixed-size', { batch: 1 });
    await expect(loadModel(path, { imgSize: 640 })).rejects.toThrow(
      /expects 64×64 input, but IMG_SIZE is 640/,
    );
  });
});

describe('loadModel({ nice })', () => {
  const niceOfThreads = () =>
    readdirSync(`/proc/${process.pid}/task`).map((tid) =>
      Number(readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]),
    );

  it.runIf(process.platform === 'linux')(
    'runs the session worker and its ONNX Runtime threads at that nice value',
    async () => {
      const before = niceOfThreads().filter((nice) => nice === 7).length;
      const model = await load(passThroughModel('nice'), undefined, { nice: 7 });
      expect(niceOfThreads().filter((nice) => nice === 7).length).toBeGreaterThan(before);
      await model.release();
      expect(niceOfThreads().filter((nice) => nice === 7).length).toBe(before);
      // Released twice (here and after all): the second call does not wait for a worker that is gone,
      // and a run on a released model fails at once.
      await model.release();
      await expect(model.runImages!([], 1)).rejects.toMatchObject({ code: 'FF_ERR_MODEL_RUN' });
    },
  );

  it('refuses a value that is not an integer from 0 to 19', async () => {
    await expect(loadModel(passThroughModel('nice-bad'), { nice: -1 })).rejects.toMatchObject({
      code: 'FF_ERR_INVALID_OPTION',
      problems: ['nice: expected an integer from 0 to 19, got -1'],
    });
  });
});

describe('LoadedModel.runImages: the input built in the session worker', () => {
  const plane = 3 * S * S;
  /** Pixels that run through every byte value, different in each image. */
  const images = (count: number) =>
    Array.from({ length: count }, (_, f) =>
      Uint8Array.from({ length: plane }, (_, i) => (i * 7 + f * 31) & 255),
    );
  const asFrames = (pixels: Uint8Array[]) =>
    pixels.map((data, frameNumber) => ({ frameNumber, image: { data } }));

  it.each([
    ['float32, dynamic batch', {}, 3],
    ['float32, fixed batch of 4 (one padding row)', { batch: 4 }, 4],
    ['float16 export', { half: true }, 3],
  ] as const)('%s: exactly the output of run() on fillInput’s tensor', async (_, options, count) => {
    const model = await load(
      passThroughModel(`images-${count}-${'half' in options ? 'half' : 'float'}`, options),
    );
    const pixels = images(3);
    const expectedOutput = await model.run(buildInputTensor(asFrames(pixels), S, count), count);
    const output = await model.runImages!(pixels, count);
    expect(output.anchors).toBe(ANCHORS);
    expect(output.data).toEqual(expectedOutput.data);
    expect(output.data.subarray(0, CHANNELS * ANCHORS).some((v) => v !== 0)).toBe(true);
    if (count === 4) expect(output.data.subarray(3 * CHANNELS * ANCHORS).every((v) => v === 0)).toBe(true);
    // The caller's pixels are neither detached nor changed.
    expect(pixels.map((image) => image.length)).toEqual([plane, plane, plane]);
    expect(pixels).toEqual(images(3));
  });

  it('the worker reuses its input buffer: a smaller batch after a larger one has zeros past its images', async () => {
    const model = await load(passThroughModel('images-reuse', { batch: 2 }));
    await model.runImages!(images(2), 2);
    const output = await model.runImages!(images(1), 2);
    const expectedOutput = await model.run(buildInputTensor(asFrames(images(1)), S, 2), 2);
    expect(output.data).toEqual(expectedOutput.data);
    expect(output.data.subarray(CHANNELS * ANCHORS).every((v) => v === 0)).toBe(true);
  });

  it('an output given back is detached here, and the next output is written into its memory, exactly', async () => {
    const model = await load(passThroughModel('images-recycle'));
    const large = await model.runImages!(images(3), 3);
    model.recycleOutput!(large);
    expect(large.data).toHaveLength(0);
    const small = await model.runImages!(images(1), 1);
    // The memory of the three-image output, written again: nothing fresh was allocated.
    expect(small.data.buffer.byteLength).toBe(3 * CHANNELS * ANCHORS * 4);
    expect(small.data).toHaveLength(CHANNELS * ANCHORS);
    const expectedOutput = await model.run(buildInputTensor(asFrames(images(1)), S, 1), 1);
    expect(small.data).toEqual(expectedOutput.data);
  });

  it('refuses pixels of another size and more images than the batch, naming the model', async () => {
    const path = passThroughModel('images-wrong');
    const model = await load(path);
    await expect(
      model.runImages!([new Uint8Array(plane), new Uint8Array(plane - 1)], 2),
    ).rejects.toMatchObject({
      code: 'FF_ERR_MODEL_INPUT',
      message: `${path}: image 1 has ${plane - 1} bytes, the model takes 3×${S}×${S}`,
    });
    await expect(model.runImages!(images(3), 2)).rejects.toMatchObject({
      code: 'FF_ERR_MODEL_INPUT',
      message: `${path}: a batch of 2 cannot hold 3 images`,
    });
    // The session is still usable.
    expect((await model.runImages!(images(1), 1)).anchors).toBe(ANCHORS);
  });
});

describe('infer', () => {
  const boxes: Array<[number, number, number, number]> = [
    [20, 30, 10, 12],
    [40, 20, 8, 8],
    [10, 50, 6, 10],
  ];
  const frames = () => [frame(0, 5, boxes[0]!, 1), frame(5, 40, boxes[1]!, 0), frame(10, 70, boxes[2]!, 1)];
  const expected = (results: FrameResult[]) =>
    results.map((r) => [
      r.frameNumber,
      r.objects.map((o) => [o.className, o.bbox.map((v) => Math.round(v))]),
    ]);

  it('a dynamic-batch model takes the batch whole and gives one result per frame, in order', async () => {
    const events: StageEvent[] = [];
    const model = await load(passThroughModel('dynamic-run'));
    const results = await lastValueFrom(
      of(frames()).pipe(infer(model, { onEvent: (e) => events.push(e) }), toArray()),
    );
    expect(expected(results)).toEqual([
      [0, [['ball', [15, 24, 25, 36]]]],
      [5, [['goal', [36, 16, 44, 24]]]],
      [10, [['ball', [7, 45, 13, 55]]]],
    ]);
    expect(events.filter((e) => e.name === 'run-start').map((e) => e.data!.batch)).toEqual([3]);
  });

  it('a fixed batch-1 model runs frame by frame with the same results', async () => {
    const events: StageEvent[] = [];
    const model = await load(passThroughModel('batch1', { batch: 1 }));
    expect(model.batch).toBe(1);
    const results = await lastValueFrom(
      of(frames()).pipe(infer(model, { onEvent: (e) => events.push(e) }), toArray()),
    );
    expect(results.map((r) => r.frameNumber)).toEqual([0, 5, 10]);
    expect(results[2]!.objects[0]!.className).toBe('ball');
    expect(events.filter((e) => e.name === 'run-start').map((e) => e.data!.batch)).toEqual([1, 1, 1]);
  });

  it('a half-precision export (float16 input and output) gives the same results', async () => {
    const model = await load(passThroughModel('half', { half: true }));
    expect(model.inputType).toBe('float16');
    const results = await lastValueFrom(of(frames()).pipe(infer(model), toArray()));
    expect(expected(results)).toEqual([
      [0, [['ball', [15, 24, 25, 36]]]],
      [5, [['goal', [36, 16, 44, 24]]]],
      [10, [['ball', [7, 45, 13, 55]]]],
    ]);
    expect(results[0]!.objects[0]!.score).toBeCloseTo(0.902, 2);
  });

  it('passes over frames without pixels (not kept by the stride)', async () => {
    const model = await load(passThroughModel('skip-unconverted'));
    const [a, b, c] = frames();
    const results = await lastValueFrom(
      of([a!, { ...b!, image: undefined }, c!]).pipe(infer(model), toArray()),
    );
    expect(results.map((r) => r.frameNumber)).toEqual([0, 10]);
  });

  it('unsubscribing while a batch runs: no new run starts', async () => {
    const events: StageEvent[] = [];
    const model = await load(passThroughModel('unsubscribe'));
    const batches = new Subject<DecodedFrame[]>();
    const seen: FrameResult[] = [];
    const subscription = batches
      .pipe(infer(model, { onEvent: (e) => events.push(e) }))
      .subscribe((r) => seen.push(r));
    batches.next(frames());
    batches.next(frames());
    batches.next(frames());
    subscription.unsubscribe();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events.filter((e) => e.name === 'run-start')).toHaveLength(1);
    expect(seen).toEqual([]);
  });

  it('a run lends its input memory to the worker, which hands it back for the next batch', async () => {
    const model = await load(passThroughModel('pool'));
    const plane = 3 * S * S;
    const first = model.inputBuffer(3);
    fillInput(frames(), first, S);
    const expectedOutput = await model.run(buildInputTensor(frames(), S), 3);
    const output = await model.run(first, 3);
    expect(output.data).toEqual(expectedOutput.data);
    expect(first.length).toBe(0); // transferred: detached here
    // The next buffer is that memory again, contents and all (a new allocation would be zeros).
    const second = model.inputBuffer(3);
    expect(Array.from(second.subarray(0, 8))).toEqual(
      Array.from(frames()[0]!.image!.data.subarray(0, 8), (byte) => Math.fround(byte / 255)),
    );
    expect(second.subarray(0, plane).some((v) => v !== 0)).toBe(true);
    model.recycleInput(second);
    // A view into memory the caller keeps is copied, never detached.
    const shared = new Float32Array(4 * plane);
    await model.run(shared.subarray(plane, 2 * plane), 1);
    expect(shared).toHaveLength(4 * plane);
  });

  it('bad options throw at construction', async () => {
    const model = await load(passThroughModel('options'));
    expect(() => infer(model, { confThreshold: 2, maxDetections: 0 })).toThrowError(
      'infer.confThreshold: expected a number between 0 and 1, got 2\ninfer.maxDetections: expected a positive integer, got 0',
    );
  });
});
