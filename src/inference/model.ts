import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type * as Ort from 'onnxruntime-node';
import { CHOICE_RUNS, CoreWatch, median, otherIsQuicker } from '../core/core-watch.js';
import { inferencePlacement, startOnInferenceCores, swapInferenceCores } from '../core/cpu-placement.js';
import { ConfigError, ModelError, codes, isFirstframeError } from '../core/errors.js';
import { safeSink, type EventSink } from '../core/events.js';
import { modelCodes } from './codes.js';
import { bindHead, resolveHead } from './heads/registry.js';
import type { Head, HeadLayout, HeadOutput, HeadPlan, ModelHead, OutputSpec } from './heads/types.js';
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
  type RunTimings,
  type SessionWorkerData,
  type WorkerReply,
  type WorkerRequest,
} from './session-worker.js';

export { modelCodes };
export type { RunTimings };
export { anchorsFor } from './heads/yolo.js';

export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

/** Whether sessions use ONNX Runtime's memory pattern unless told (LoadModelOptions.memoryPattern). */
export const DEFAULT_MEMORY_PATTERN = true;

export interface LoadModelOptions {
  /**
   * How the model's outputs are read (heads/registry.ts): a registered head's name, or a head itself.
   * Default `yolo` (Ultralytics' output0); `centre-heatmap` ships too. An unknown name is a ConfigError
   * (FF_ERR_UNKNOWN_HEAD) listing the known ones; a model the head cannot read, a ModelError
   * (FF_ERR_MODEL_OUTPUT) from the head's `check`.
   */
  head?: string | Head;
  /** DEVICE; `cuda` falls back to CPU with one `device-fallback` event when this build has no CUDA. */
  device?: Device;
  /** Put TensorRT in front of CUDA (when installed). */
  tensorrt?: boolean;
  /** IMG_SIZE, for models whose input size is dynamic; must agree with a fixed input size. */
  imgSize?: number;
  /** Threads ONNX Runtime may use for one run; default: its own choice. */
  threads?: number;
  /**
   * Start the session's threads (its worker and ONNX Runtime's pool) on the CPUs the process gave inference
   * (src/core/cpu-placement.ts, placeInference); nothing changes where no placement was made. Default false.
   */
  onInferenceCores?: boolean;
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

/**
 * The choice at load (src/core/core-watch.ts, otherIsQuicker): the session's batch-1 inference timed on the
 * inference CPUs and on the others; the quicker keep it. One `cores-chosen` event with both medians.
 */
async function chooseInferenceCores(
  runImages: (images: readonly Uint8Array[], count: number) => Promise<ModelOutput>,
  imgSize: number,
  emit: (name: string, data: Record<string, unknown>) => void,
): Promise<void> {
  const image = new Uint8Array(planeOf(imgSize));
  const timed = async () => {
    const times: number[] = [];
    for (let i = 0; i < CHOICE_RUNS; i += 1) {
      const output = await runImages([image], 1);
      times.push(output.timings?.inferenceMs ?? Number.NaN);
    }
    return median(times);
  };
  const startedOn = inferencePlacement()!.inference;
  const hereMs = await timed();
  if (!swapInferenceCores()) return;
  const thereMs = await timed();
  if (!otherIsQuicker(hereMs, thereMs)) swapInferenceCores();
  emit('cores-chosen', { inference: inferencePlacement()!.inference, startedOn, hereMs, thereMs });
}

/** What one run gives back. */
export interface ModelOutput {
  /** The first output the head reads (YOLO's `output0`), all images of the batch. */
  readonly data: Float32Array;
  /** That output's third dimension: a YOLO output's anchors. */
  readonly anchors: number;
  /**
   * Every output the head reads, in the order of `head.outputs` (the first is `data`). Absent from a
   * hand-made model's output: then `data` is the only one.
   */
  readonly outputs?: readonly HeadOutput[];
  /**
   * Where the run's time went in the session's thread (input building, inference, output copy), as the
   * worker measured it; absent from a hand-made model's output.
   */
  readonly timings?: RunTimings;
}

/** A loaded, validated and warmed-up model: one ONNX Runtime session, runs queued one at a time. */
export interface LoadedModel {
  readonly path: string;
  readonly inputName: string;
  /** The first output the head reads. */
  readonly outputName: string;
  readonly inputType: 'float32' | 'float16';
  readonly imgSize: number;
  /** A fixed batch size, or 'dynamic'. */
  readonly batch: number | 'dynamic';
  /** The head's layout: task, class names, keypoints (and what else the head keeps). */
  readonly layout: HeadLayout;
  /**
   * The head that reads the outputs, bound to this model's layout: what the infer stage decodes with.
   * Absent on a hand-made model (tests): that one is read as YOLO with `layout`.
   */
  readonly head?: ModelHead;
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
   * Gives `output`'s memory back to the session for later outputs, once it has been read: its `data` (and
   * every one of its `outputs`) is detached here afterwards. Optional, as `runImages`; an output not given
   * back is garbage as usual.
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

/** What a head's `check` is told about one output. */
function outputSpec(output: Ort.InferenceSession.ValueMetadata): OutputSpec {
  return output.isTensor
    ? { name: output.name, shape: [...output.shape], type: output.type }
    : { name: output.name, shape: [], type: 'non-tensor' };
}

/** A run's outputs as `LoadedModel.run` answers them. */
function modelOutput(outputs: readonly HeadOutput[], timings: RunTimings): ModelOutput {
  const first = outputs[0]!;
  return { data: first.data, anchors: first.dims[2] ?? 0, outputs, timings };
}

/**
 * Loads an ONNX model with an image input [N, 3, S, S]: creates the session on the device asked for (or
 * CPU, with one event saying why), checks the input, lets the head (`options.head`, default an Ultralytics
 * YOLO detect or pose export) check the outputs and metadata, and warms the session up.
 */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const head = resolveHead(options.head);
  // Every bad option at once, as the pipeline documents report theirs.
  const problems = [
    ...(options.nice !== undefined &&
    !(Number.isInteger(options.nice) && options.nice >= 0 && options.nice <= 19)
      ? [`nice: expected an integer from 0 to 19, got ${JSON.stringify(options.nice)}`]
      : []),
    ...(options.warmup?.runs !== undefined &&
    !(Number.isInteger(options.warmup.runs) && options.warmup.runs >= 0 && options.warmup.runs <= 10)
      ? [`warmup.runs: expected an integer from 0 to 10, got ${JSON.stringify(options.warmup.runs)}`]
      : []),
    ...(options.warmup?.batches ?? [])
      .filter((size) => !(Number.isInteger(size) && size >= 1 && size <= 256))
      .map((size) => `warmup.batches: expected batch sizes from 1 to 256, got ${JSON.stringify(size)}`),
  ];
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems, { stage: 'infer' });
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
      onInferenceCores: options.onInferenceCores === true,
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
  let plan: HeadPlan;
  try {
    plan = head.check({
      path,
      imgSize,
      metadata,
      outputs: session.outputMetadata.map(outputSpec),
    });
  } catch (error) {
    void session.release();
    if (isFirstframeError(error)) throw error;
    throw new ModelError(
      modelCodes.output,
      `${path}: head ${head.name} failed to check the model: ${(error as Error)?.message ?? String(error)}`,
      { path, head: head.name },
    );
  }
  const unknownOutputs = plan.outputs.filter(
    (name) => !session.outputMetadata.some((output) => output.name === name),
  );
  if (plan.outputs.length === 0 || unknownOutputs.length > 0) {
    return fail(
      modelCodes.output,
      `head ${head.name} asks for ${plan.outputs.length === 0 ? 'no outputs' : `outputs the model does not have: ${unknownOutputs.join(', ')}`} (the model has ${session.outputMetadata.map((output) => output.name).join(', ')})`,
    );
  }
  // The worker widens every output to float32 (see session-worker.ts): other element types cannot be read.
  const notFloat = session.outputMetadata.filter(
    (output) =>
      plan.outputs.includes(output.name) &&
      !(output.isTensor && (output.type === 'float32' || output.type === 'float16')),
  );
  if (notFloat.length > 0) {
    return fail(
      modelCodes.output,
      `head ${head.name} reads ${notFloat.map((output) => `${output.name} (${output.isTensor ? output.type : 'not a tensor'})`).join(', ')}; only float32 and float16 outputs can be read`,
    );
  }
  const bound = bindHead(head, plan);
  const layout = bound.layout;
  const fetch = [...bound.outputs];

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
          fetch,
        );
      } catch (error) {
        throw new ModelError(
          modelCodes.run,
          `${path}: inference failed on a batch of ${count}: ${(error as Error).message}`,
          { path, count },
        );
      }
      watchCores(out.timings, count);
      return modelOutput(out.outputs, out.timings);
    });
    queue = task.catch(() => undefined);
    return task;
  };
  // A session on the inference CPUs follows the quicker ones (src/core/core-watch.ts), from the first run
  // after its warm-up.
  let watch: CoreWatch | undefined;
  const watchCores = (timings: RunTimings, count: number) => {
    const verdict = watch?.observe(timings.inferenceMs / count);
    if (!verdict?.swap) return;
    const placement = swapInferenceCores();
    if (placement) {
      emit('cores-swapped', {
        inference: placement.inference,
        rest: placement.rest,
        recentMs: verdict.recentMs,
        referenceMs: verdict.referenceMs,
      });
    }
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
        const out = await session.runImages(shared.images, inputType, [count, 3, imgSize, imgSize], fetch);
        watchCores(out.timings, count);
        return modelOutput(out.outputs, out.timings);
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
  if (options.onInferenceCores && device === 'cpu' && inferencePlacement()) {
    await chooseInferenceCores(runImages, imgSize, emit);
    watch = new CoreWatch();
  }
  const setupMs = performance.now() - startedAt;
  emit('model-loaded', {
    path,
    device,
    imgSize,
    batch,
    head: head.name,
    task: layout.task,
    classes: layout.classNames.length,
    memoryPattern: options.memoryPattern ?? DEFAULT_MEMORY_PATTERN,
    warmup: { runs: warmRuns, batches: warmBatches },
    setupMs,
  });
  return {
    path,
    inputName: input.name,
    outputName: fetch[0]!,
    inputType,
    imgSize,
    batch,
    layout,
    head: bound,
    device,
    metadata,
    setupMs,
    run,
    runImages,
    recycleOutput: (output) =>
      session.giveOutput([...new Set([output.data, ...(output.outputs ?? []).map((o) => o.data)])]),
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
    settings: {
      threads: number | undefined;
      nice: number | undefined;
      memoryPattern: boolean;
      onInferenceCores: boolean;
    },
  ): Promise<SessionWorker> {
    const { threads, nice, memoryPattern, onInferenceCores } = settings;
    const workerData: SessionWorkerData = {
      ortPath: createRequire(import.meta.url).resolve('onnxruntime-node'),
      converter: converterData(),
      nice: nice ?? 0,
    };
    const startWorker = () => new Worker(SESSION_WORKER_SOURCE, { eval: true, workerData });
    // The worker's thread inherits the CPUs of the thread that starts it, and ONNX Runtime's pool the worker's.
    const worker = onInferenceCores ? startOnInferenceCores(startWorker) : startWorker();
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
    outputs: string[],
  ): Promise<Extract<WorkerReply, { type: 'result' }>> {
    const id = (this.nextId += 1);
    const owned = lend && input.buffer instanceof ArrayBuffer ? input : input.slice();
    const reply = await this.request(id, { type: 'run', id, input: owned, inputType, dims, outputs }, [
      owned.buffer as ArrayBuffer,
    ]);
    return reply as Extract<WorkerReply, { type: 'result' }>;
  }

  /** Runs one batch built in the worker from `images` (shared memory: nothing is copied or detached). */
  async runImages(
    images: Uint8Array[],
    inputType: 'float32' | 'float16',
    dims: number[],
    outputs: string[],
  ): Promise<Extract<WorkerReply, { type: 'result' }>> {
    const id = (this.nextId += 1);
    const reply = await this.request(id, { type: 'run-images', id, images, inputType, dims, outputs });
    return reply as Extract<WorkerReply, { type: 'result' }>;
  }

  /** Hands a result's output memory back to the worker (transferred: detached here). */
  giveOutput(outputs: readonly Float32Array[]): void {
    if (this.exited) return;
    const buffers = [
      ...new Set(
        outputs
          .map((data) => data.buffer)
          .filter((buffer): buffer is ArrayBuffer => buffer instanceof ArrayBuffer && buffer.byteLength > 0),
      ),
    ];
    if (buffers.length === 0) return;
    const message: WorkerRequest = { type: 'give-output', buffers };
    this.worker.postMessage(message, buffers);
  }

  async release(): Promise<void> {
    try {
      await this.request('control', { type: 'release' });
    } finally {
      await this.worker.terminate();
    }
  }
}
