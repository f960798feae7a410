import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type * as Ort from 'onnxruntime-node';
import { ConfigError, ModelError, codes } from '../core/errors.js';
import { safeSink, type EventSink } from '../core/events.js';
import { modelCodes } from './codes.js';
import {
  InputPool,
  SharedImagePool,
  converterData,
  halfBits,
  planeOf,
  type ModelInput,
} from './input-tensor.js';
import { OnnxFormatError, readOnnxMetadata } from './onnx-metadata.js';
import {
  SESSION_WORKER_SOURCE,
  type SessionWorkerData,
  type WorkerReply,
  type WorkerRequest,
} from './session-worker.js';
import { channelsOf, parseClassNames, type YoloLayout } from './yolo.js';

export { modelCodes };

export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

/** Whether sessions use ONNX Runtime's memory pattern unless told (LoadModelOptions.memoryPattern). */
export const DEFAULT_MEMORY_PATTERN = true;

export interface LoadModelOptions {
  /** DEVICE; `cuda` falls back to CPU with one `device-fallback` event when this build has no CUDA. */
  device?: Device;
  /** Put TensorRT in front of CUDA (when installed). */
  tensorrt?: boolean;
  /** IMG_SIZE, for models whose input size is dynamic; must agree with a fixed input size. */
  imgSize?: number;
  /** Threads ONNX Runtime may use for one run; default: its own choice. */
  threads?: number;
  /**
   * Linux nice value (1–19) for the session's threads (its worker and ONNX Runtime's pool), below the main
   * thread's priority; default 0, unchanged. It keeps the main thread (deadlines, answers) responsive on a
   * machine with fewer cores than busy threads, at the cost of inference throughput against everything
   * else at normal priority: measured on the shared 2-core machine with nice 10, the main thread's delays
   * did not change measurably while the inferred frames per challenge fell (other processes took the CPU
   * first), so it is off unless asked for. Decoder threads would need the same to keep inference and
   * decoding in balance.
   */
  nice?: number;
  /**
   * ONNX Runtime's memory pattern: it plans a run's memory from the previous run of the same input shape,
   * so the first run of each shape pays for planning and the second for the planned allocation (measured:
   * about twice the steady time). Default: see DEFAULT_MEMORY_PATTERN.
   */
  memoryPattern?: boolean;
  /**
   * Runs made before the model is handed out, so that no real frame pays for the session's first runs:
   * `runs` (default 2) of each batch size in `batches` (default: the model's fixed batch, else 1).
   */
  warmup?: { runs?: number; batches?: readonly number[] };
  onEvent?: EventSink;
}

export interface ModelOutput {
  readonly data: Float32Array;
  readonly anchors: number;
}

/** A loaded, validated and warmed-up YOLO model: one ONNX Runtime session, runs queued one at a time. */
export interface LoadedModel {
  readonly path: string;
  readonly inputName: string;
  readonly outputName: string;
  readonly inputType: 'float32' | 'float16';
  readonly imgSize: number;
  /** A fixed batch size, or 'dynamic'. */
  readonly batch: number | 'dynamic';
  readonly layout: YoloLayout;
  readonly device: 'cpu' | 'cuda';
  readonly metadata: Readonly<Record<string, string>>;
  /** Milliseconds spent loading and warming up. */
  readonly setupMs: number;
  /**
   * Runs `count` images ([count, 3, S, S] in 0..1: float32, or half bits for a float16 model; a float32
   * input to a float16 model is converted); runs are serialised per model. The input's memory is
   * transferred to the session's thread (detached here) and comes back to the model's input pool.
   */
  run(input: ModelInput, count: number): Promise<ModelOutput>;
  /**
   * Runs `images` (planar RGB bytes, 3 × S × S each; `count` ≥ their number, rows past them are zero): the
   * same as `run` on `fillInput`'s tensor of them, but the tensor is built in the session's thread, so that
   * the caller's thread only hands the bytes over (without a copy when they are in a SharedArrayBuffer,
   * see `shareImages`). Optional: a model without it gets its input built by the caller (`fillInput`).
   */
  runImages?(images: readonly Uint8Array[], count: number): Promise<ModelOutput>;
  /**
   * Gives `output`'s memory back to the session for a later output, once it has been read: its `data` is
   * detached here afterwards. Optional, as `runImages`; an output not given back is garbage as usual.
   */
  recycleOutput?(output: ModelOutput): void;
  /**
   * A buffer for `count` images of the model's input type, reused from earlier runs where one is free:
   * fill it (`fillInput`) and pass it to `run`, or give it back with `recycleInput`. Contents are stale.
   */
  inputBuffer(count: number): ModelInput;
  /** Gives back a buffer from `inputBuffer` that will not be run. */
  recycleInput(input: ModelInput): void;
  release(): Promise<void>;
}

let ortModule: typeof Ort | undefined;
function ort(): typeof Ort {
  ortModule ??= createRequire(import.meta.url)('onnxruntime-node') as typeof Ort;
  return ortModule;
}

/** Half-precision bits of each value, for models exported with half=True. */
export function float32ToFloat16(input: Float32Array): Uint16Array {
  const out = new Uint16Array(input.length);
  const scratch = new DataView(new ArrayBuffer(4));
  for (let i = 0; i < input.length; i += 1) out[i] = halfBits(input[i]!, scratch);
  return out;
}

/** Anchors of a YOLO head with strides 8, 16 and 32 on a square input. */
export function anchorsFor(imgSize: number): number {
  return [8, 16, 32].reduce((sum, stride) => sum + (imgSize / stride) ** 2, 0);
}

function layoutFrom(metadata: Record<string, string>, channels: number, where: string): YoloLayout {
  const task = metadata.task === 'pose' ? 'pose' : 'detect';
  const named = metadata.names ? parseClassNames(metadata.names) : undefined;
  if (metadata.names && !named) {
    throw new ModelError(
      modelCodes.invalid,
      `${where}: metadata "names" is not a Python dict of class names: ${metadata.names.slice(0, 80)}`,
      { path: where },
    );
  }
  let keypoints: YoloLayout['keypoints'];
  if (task === 'pose') {
    const shape = metadata.kpt_shape ? (JSON.parse(metadata.kpt_shape) as unknown) : undefined;
    if (
      !Array.isArray(shape) ||
      shape.length !== 2 ||
      (shape[1] !== 2 && shape[1] !== 3) ||
      !Number.isInteger(shape[0])
    ) {
      throw new ModelError(
        modelCodes.invalid,
        `${where}: a pose model needs kpt_shape metadata like [17, 3], got ${JSON.stringify(metadata.kpt_shape)}`,
        { path: where },
      );
    }
    keypoints = { count: shape[0] as number, dims: shape[1] as 2 | 3 };
  }
  const classCount = channels - 4 - (keypoints ? keypoints.count * keypoints.dims : 0);
  const classNames = named ?? Array.from({ length: Math.max(0, classCount) }, (_, i) => `class${i}`);
  const layout: YoloLayout = { task, classNames, ...(keypoints ? { keypoints } : {}) };
  if (classCount < 1 || channelsOf(layout) !== channels) {
    throw new ModelError(
      modelCodes.output,
      `${where}: output has ${channels} channels per anchor, but a YOLO ${task} output with ${classNames.length} classes` +
        (keypoints ? ` and ${keypoints.count}×${keypoints.dims} keypoint values` : '') +
        ` has ${channelsOf(layout)}`,
      { path: where, channels },
    );
  }
  return layout;
}

/**
 * Loads an Ultralytics YOLO ONNX export (detect or pose), checks its input and output against the YOLO
 * layout, reads class names and keypoint shape from its metadata, creates the session on the device asked
 * for (or CPU, with one event saying why), and warms it up with one run.
 */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  if (
    options.nice !== undefined &&
    !(Number.isInteger(options.nice) && options.nice >= 0 && options.nice <= 19)
  ) {
    throw new ConfigError(
      codes.config.invalidOption,
      [`nice: expected an integer from 0 to 19, got ${JSON.stringify(options.nice)}`],
      { stage: 'infer' },
    );
  }
  const warmupProblems = [
    ...(options.warmup?.runs !== undefined &&
    !(Number.isInteger(options.warmup.runs) && options.warmup.runs >= 0 && options.warmup.runs <= 10)
      ? [`warmup.runs: expected an integer from 0 to 10, got ${JSON.stringify(options.warmup.runs)}`]
      : []),
    ...(options.warmup?.batches ?? [])
      .filter((size) => !(Number.isInteger(size) && size >= 1 && size <= 256))
      .map((size) => `warmup.batches: expected batch sizes from 1 to 256, got ${JSON.stringify(size)}`),
  ];
  if (warmupProblems.length > 0) {
    throw new ConfigError(codes.config.invalidOption, warmupProblems, { stage: 'infer' });
  }
  const onEvent = safeSink(options.onEvent);
  const emit = (name: string, data: Record<string, unknown>) =>
    onEvent?.({ stage: 'infer', name, at: performance.now(), data });
  const startedAt = performance.now();
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new ModelError(
      code === 'ENOENT' ? modelCodes.notFound : modelCodes.invalid,
      code === 'ENOENT'
        ? `no model file at ${path}`
        : `cannot read model ${path}: ${(error as Error).message}`,
      { path },
    );
  }
  let metadata: Record<string, string>;
  try {
    metadata = readOnnxMetadata(bytes);
  } catch (error) {
    const reason = error instanceof OnnxFormatError ? error.message : String(error);
    throw new ModelError(modelCodes.invalid, `${path} is not an ONNX model (${reason})`, { path });
  }

  const runtime = ort();
  const wanted = options.device ?? 'cpu';
  let device: 'cpu' | 'cuda' = 'cpu';
  const providers: Ort.InferenceSession.ExecutionProviderConfig[] = ['cpu'];
  if (wanted.startsWith('cuda')) {
    const backends =
      (
        runtime as unknown as { listSupportedBackends?: () => Array<{ name: string; bundled: boolean }> }
      ).listSupportedBackends?.() ?? [];
    const cuda = backends.find((backend) => backend.name === 'cuda');
    if (cuda?.bundled) {
      const deviceId = Number(wanted.split(':')[1] ?? 0);
      providers.unshift({ name: 'cuda', deviceId } as Ort.InferenceSession.ExecutionProviderConfig);
      if (options.tensorrt && backends.some((backend) => backend.name === 'tensorrt' && backend.bundled)) {
        providers.unshift({ name: 'tensorrt', deviceId } as Ort.InferenceSession.ExecutionProviderConfig);
      }
      device = 'cuda';
    } else {
      emit('device-fallback', {
        wanted,
        reason:
          'this onnxruntime-node has no CUDA execution provider (install it: ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node)',
      });
    }
  }

  let session: SessionWorker;
  try {
    session = await SessionWorker.start(bytes, providers, {
      threads: options.threads,
      nice: options.nice,
      memoryPattern: options.memoryPattern ?? DEFAULT_MEMORY_PATTERN,
    });
  } catch (error) {
    if (device === 'cuda') {
      emit('device-fallback', { wanted, reason: (error as Error).message });
      return loadModel(path, { ...options, device: 'cpu' });
    }
    throw new ModelError(
      modelCodes.invalid,
      `${path}: ONNX Runtime refused the model: ${(error as Error).message}`,
      { path },
    );
  }

  const input = session.inputMetadata[0];
  const output = session.outputMetadata[0];
  const fail = (code: string, message: string): never => {
    void session.release();
    throw new ModelError(code, `${path}: ${message}`, { path });
  };
  if (!input || !input.isTensor || (input.type !== 'float32' && input.type !== 'float16')) {
    return fail(modelCodes.input, `expected a float32 or float16 image input, got ${JSON.stringify(input)}`);
  }
  const [batchDim, channelDim, heightDim, widthDim] = input.shape;
  if (input.shape.length !== 4 || channelDim !== 3) {
    return fail(
      modelCodes.input,
      `expected input ${input.name} of shape [N, 3, H, W], got [${input.shape.join(', ')}]`,
    );
  }
  const staticSize = typeof heightDim === 'number' && typeof widthDim === 'number' ? heightDim : undefined;
  if (staticSize !== undefined && heightDim !== widthDim) {
    return fail(
      modelCodes.input,
      `expects a ${widthDim}×${heightDim} input; only square inputs are supported (export with a square imgsz)`,
    );
  }
  const metadataSize = metadata.imgsz ? (JSON.parse(metadata.imgsz) as number[])[0] : undefined;
  const imgSize = staticSize ?? options.imgSize ?? metadataSize ?? 640;
  if (options.imgSize !== undefined && staticSize !== undefined && options.imgSize !== staticSize) {
    return fail(
      modelCodes.input,
      `expects ${staticSize}×${staticSize} input, but IMG_SIZE is ${options.imgSize}`,
    );
  }
  if (!output || !output.isTensor || output.shape.length !== 3) {
    return fail(
      modelCodes.output,
      `expected output0 of shape [N, 4 + classes, anchors], got ${JSON.stringify(output?.isTensor ? output.shape : output)}`,
    );
  }
  const [, channels, anchorDim] = output.shape;
  if (typeof channels !== 'number')
    return fail(modelCodes.output, `output ${output.name} has no fixed channel count`);
  if (typeof anchorDim === 'number' && anchorDim < channels) {
    return fail(
      modelCodes.output,
      `output [${output.shape.join(', ')}] is anchor-major or end-to-end (NMS inside the model); a YOLO export's output0 is channel-major [N, 4 + classes, anchors]`,
    );
  }
  if (typeof anchorDim === 'number' && anchorDim !== anchorsFor(imgSize)) {
    return fail(
      modelCodes.output,
      `output has ${anchorDim} anchors; a YOLO head at ${imgSize} has ${anchorsFor(imgSize)}`,
    );
  }
  let layout: YoloLayout;
  try {
    layout = layoutFrom(metadata, channels, path);
  } catch (error) {
    void session.release();
    throw error;
  }

  const inputType = input.type;
  const batch = typeof batchDim === 'number' ? batchDim : 'dynamic';
  const pool = new InputPool(inputType, planeOf(imgSize));
  const pixels = new SharedImagePool();
  session.inputBack = (buffer) => pool.give(buffer);
  // Buffers handed out by inputBuffer: theirs to lend to the worker even when a batch fills only part.
  const issued = new WeakSet<ArrayBufferLike>();
  let queue: Promise<unknown> = Promise.resolve();
  let released: Promise<void> | undefined;
  const run = (data: ModelInput, count: number): Promise<ModelOutput> => {
    const task = queue.then(async () => {
      if (data instanceof Uint16Array && inputType !== 'float16') {
        throw new ModelError(
          modelCodes.input,
          `${path}: half-precision input given to a model whose input is ${inputType}`,
          { path },
        );
      }
      const input = inputType === 'float16' && data instanceof Float32Array ? float32ToFloat16(data) : data;
      const whole = input.byteOffset === 0 && input.byteLength === input.buffer.byteLength;
      let out: Extract<WorkerReply, { type: 'result' }>;
      try {
        out = await session.run(
          input,
          inputType,
          [count, 3, imgSize, imgSize],
          whole || issued.has(input.buffer),
        );
      } catch (error) {
        throw new ModelError(
          modelCodes.run,
          `${path}: inference failed on a batch of ${count}: ${(error as Error).message}`,
          { path, count },
        );
      }
      return { data: out.data, anchors: out.dims[2]! };
    });
    queue = task.catch(() => undefined);
    return task;
  };
  const runImages = (images: readonly Uint8Array[], count: number): Promise<ModelOutput> => {
    const plane = planeOf(imgSize);
    const wrong = images.findIndex((image) => image.length !== plane);
    if (wrong >= 0 || images.length > count || !(Number.isInteger(count) && count > 0)) {
      return Promise.reject(
        new ModelError(
          modelCodes.input,
          wrong >= 0
            ? `${path}: image ${wrong} has ${images[wrong]!.length} bytes, the model takes 3×${imgSize}×${imgSize}`
            : `${path}: a batch of ${count} cannot hold ${images.length} images`,
          { path, count },
        ),
      );
    }
    // Copied now (unless already shared), while the caller's views are certainly alive; the memory goes
    // back to the pool when the worker has answered, since it reads the images before it runs the model.
    const shared = pixels.share(images);
    const task = queue.then(async () => {
      try {
        const out = await session.runImages(shared.images, inputType, [count, 3, imgSize, imgSize]);
        return { data: out.data, anchors: out.dims[2]! };
      } catch (error) {
        throw new ModelError(
          modelCodes.run,
          `${path}: inference failed on a batch of ${count}: ${(error as Error).message}`,
          { path, count },
        );
      } finally {
        shared.release();
      }
    });
    queue = task.catch(() => undefined);
    return task;
  };

  // Warm-up: the first runs pay for memory planning, allocation and kernel selection; do them before the
  // clock starts. Through runImages, as the pipelines' runs do, so that the worker's converter is warm too.
  const warmBatches = [...new Set(typeof batch === 'number' ? [batch] : (options.warmup?.batches ?? [1]))];
  const warmRuns = options.warmup?.runs ?? 2;
  for (const count of warmBatches) {
    for (let i = 0; i < warmRuns; i += 1) await runImages([new Uint8Array(planeOf(imgSize))], count);
  }
  const setupMs = performance.now() - startedAt;
  emit('model-loaded', {
    path,
    device,
    imgSize,
    batch,
    task: layout.task,
    classes: layout.classNames.length,
    memoryPattern: options.memoryPattern ?? DEFAULT_MEMORY_PATTERN,
    warmup: { runs: warmRuns, batches: warmBatches },
    setupMs,
  });
  return {
    path,
    inputName: input.name,
    outputName: output.name,
    inputType,
    imgSize,
    batch,
    layout,
    device,
    metadata,
    setupMs,
    run,
    runImages,
    recycleOutput: (output) => session.giveOutput(output.data),
    inputBuffer: (count) => {
      const buffer = pool.take(count);
      issued.add(buffer.buffer);
      return buffer;
    },
    recycleInput: (buffer) => pool.give(buffer.buffer),
    release: () => {
      pool.clear();
      pixels.clear();
      // Once: a second call gets the first one's promise (the worker is gone by then).
      released ??= session.release();
      return released;
    },
  };
}

/**
 * The session, in a worker thread (see session-worker.ts for why). Requests are answered in order; the
 * worker is unref'd while idle, so a forgotten model never keeps a process alive.
 */
class SessionWorker {
  private nextId = 0;
  private readonly pending = new Map<
    number | string,
    { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void }
  >();

  private constructor(
    private readonly worker: Worker,
    readonly inputMetadata: readonly Ort.InferenceSession.ValueMetadata[],
    readonly outputMetadata: readonly Ort.InferenceSession.ValueMetadata[],
  ) {}

  /** Set when the worker thread has exited (released, or crashed). */
  exited: Error | undefined;

  /** Where a run's input memory goes when the worker hands it back (the model's input pool). */
  inputBack: (buffer: ArrayBufferLike) => void = () => {};

  static async start(
    bytes: Uint8Array,
    providers: Ort.InferenceSession.ExecutionProviderConfig[],
    settings: { threads: number | undefined; nice: number | undefined; memoryPattern: boolean },
  ): Promise<SessionWorker> {
    const { threads, nice, memoryPattern } = settings;
    const workerData: SessionWorkerData = {
      ortPath: createRequire(import.meta.url).resolve('onnxruntime-node'),
      converter: converterData(),
      nice: nice ?? 0,
    };
    const worker = new Worker(SESSION_WORKER_SOURCE, { eval: true, workerData });
    const loaded = await new Promise<WorkerReply>((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      worker.once('error', onError);
      worker.once('message', (reply: WorkerReply) => {
        worker.off('error', onError);
        if (reply.type === 'error') reject(new Error(reply.message));
        else resolve(reply);
      });
      const request: WorkerRequest = {
        type: 'load',
        bytes,
        providers,
        memoryPattern,
        ...(threads ? { threads } : {}),
      };
      worker.postMessage(request);
    }).catch(async (error: unknown) => {
      await worker.terminate();
      throw error;
    });
    if (loaded.type !== 'loaded') throw new Error(`unexpected worker reply ${loaded.type}`);
    const session = new SessionWorker(worker, loaded.inputMetadata, loaded.outputMetadata);
    worker.on('message', (reply: WorkerReply) => session.onReply(reply));
    worker.on('error', (error) => session.failAll(error));
    worker.on('exit', (code) => {
      session.exited = new Error(`inference worker exited (code ${code})`);
      session.failAll(session.exited);
    });
    worker.unref();
    return session;
  }

  private onReply(reply: WorkerReply): void {
    if ((reply.type === 'result' || reply.type === 'error') && reply.input)
      this.inputBack(reply.input.buffer);
    const key = reply.type === 'result' || reply.type === 'error' ? (reply.id ?? 'control') : 'control';
    const waiter = this.pending.get(key);
    if (!waiter) return;
    this.pending.delete(key);
    if (this.pending.size === 0) this.worker.unref();
    if (reply.type === 'error') waiter.reject(new Error(reply.message));
    else waiter.resolve(reply);
  }

  private failAll(error: Error): void {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }

  private request(
    key: number | string,
    message: WorkerRequest,
    transfer: ArrayBuffer[] = [],
  ): Promise<WorkerReply> {
    return new Promise<WorkerReply>((resolve, reject) => {
      // A worker that is gone answers nothing: fail now instead of waiting forever.
      if (this.exited) return reject(this.exited);
      this.pending.set(key, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage(message, transfer);
    });
  }

  /**
   * Runs one batch. With `lend`, `input`'s memory is transferred to the worker (it is detached here
   * afterwards) and comes back to `inputBack` with the reply; without, the worker gets a copy.
   */
  async run(
    input: ModelInput,
    inputType: 'float32' | 'float16',
    dims: number[],
    lend: boolean,
  ): Promise<Extract<WorkerReply, { type: 'result' }>> {
    const id = (this.nextId += 1);
    const owned = lend && input.buffer instanceof ArrayBuffer ? input : input.slice();
    const reply = await this.request(id, { type: 'run', id, input: owned, inputType, dims }, [
      owned.buffer as ArrayBuffer,
    ]);
    return reply as Extract<WorkerReply, { type: 'result' }>;
  }

  /** Runs one batch built in the worker from `images` (shared memory: nothing is copied or detached). */
  async runImages(
    images: Uint8Array[],
    inputType: 'float32' | 'float16',
    dims: number[],
  ): Promise<Extract<WorkerReply, { type: 'result' }>> {
    const id = (this.nextId += 1);
    const reply = await this.request(id, { type: 'run-images', id, images, inputType, dims });
    return reply as Extract<WorkerReply, { type: 'result' }>;
  }

  /** Hands an output's memory back to the worker (transferred: detached here). */
  giveOutput(data: Float32Array): void {
    const buffer = data.buffer;
    if (this.exited || !(buffer instanceof ArrayBuffer) || buffer.byteLength === 0) return;
    const message: WorkerRequest = { type: 'give-output', buffer };
    this.worker.postMessage(message, [buffer]);
  }

  async release(): Promise<void> {
    try {
      await this.request('control', { type: 'release' });
    } finally {
      await this.worker.terminate();
    }
  }
}
