/**
 * The ONNX Runtime session, in a worker thread. onnxruntime-node runs inference synchronously on the
 * thread that calls `run` (its promise only defers the call with setImmediate), which would stop the
 * decoder's event loop for the whole run; here the main thread keeps demuxing and converting frames while
 * the model computes. Tensors cross the thread boundary by transfer, not by copy, and the input's memory
 * goes back with the reply (result or error) so that the next batch can be written into it.
 *
 * `run-images` goes further: it takes the frames' planar RGB bytes (in a SharedArrayBuffer, so posting them
 * copies nothing) and builds the model's input here, in a buffer the worker keeps. Building a batch of 16
 * at 640 is 20 M values (15–40 ms on one core, plus page faults and garbage for a fresh 78 MB buffer), and
 * on the main thread that time is taken from the decoder, the deadline timer and every other challenge.
 * The conversion is the one of `fillInput` (the same tables and the same SIMD kernel), so the values are
 * identical. Float16 outputs are widened to float32 here too, and outputs are written into memory the main
 * thread gives back once it has read them (`give-output`), so that neither thread touches fresh memory per
 * batch.
 *
 * A run fetches the outputs its request names (the model's head says which at load: YOLO reads `output0`
 * only, a heatmap head three maps), or every output when none are named, and answers each with its name
 * and dimensions.
 *
 * ONNX Runtime's thread pools spin while they wait for work by default; on a machine with few cores the
 * spinning threads take the CPU from the main thread (measured: event loop delays of several hundred ms on
 * 2 cores with the two soccer sessions), so they are told to sleep instead (allow_spinning 0).
 */
import type * as Ort from 'onnxruntime-node';
import type { ConverterData } from './input-tensor.js';

/** What the worker is started with. */
export interface SessionWorkerData {
  ortPath: string;
  converter: ConverterData;
  /** The nice value of the worker's thread and of ONNX Runtime's threads (Linux); 0: unchanged. */
  nice: number;
}

export type WorkerRequest =
  | {
      type: 'load';
      bytes: Uint8Array;
      providers: Ort.InferenceSession.ExecutionProviderConfig[];
      threads?: number;
      /** ONNX Runtime's memory pattern (enableMemPattern); its default (on) when absent. */
      memoryPattern?: boolean;
    }
  | {
      type: 'run';
      id: number;
      input: Float32Array | Uint16Array;
      inputType: 'float32' | 'float16';
      dims: number[];
      /** Outputs to fetch, in the order of the reply; every output of the model when absent. */
      outputs?: string[];
    }
  | {
      type: 'run-images';
      id: number;
      /** One image per frame, 3 × S × S bytes each; rows of the batch past them are zero. */
      images: Uint8Array[];
      inputType: 'float32' | 'float16';
      /** [count, 3, S, S]; count ≥ images.length. */
      dims: number[];
      /** As `run`'s. */
      outputs?: string[];
    }
  /** A result's output memory, given back for later outputs (no reply). */
  | { type: 'give-output'; buffers: ArrayBuffer[] }
  | { type: 'release' };

export type WorkerReply =
  | {
      type: 'loaded';
      inputMetadata: Ort.InferenceSession.ValueMetadata[];
      outputMetadata: Ort.InferenceSession.ValueMetadata[];
    }
  | {
      type: 'result';
      id: number;
      /** The outputs asked for, in that order: float32 values (a float16 output is widened in the worker). */
      outputs: WorkerOutput[];
      /** The request's input, handed back (`run` only). */
      input?: Float32Array | Uint16Array;
      timings: RunTimings;
    }
  | { type: 'error'; id?: number; message: string; input?: Float32Array | Uint16Array }
  | { type: 'released' };

/**
 * Where a run's time went in the worker, ms: building the input (the tensor from the images' bytes for
 * `run-images`; nothing much for `run`), ONNX Runtime's run, and copying (widening) the outputs.
 */
export interface RunTimings {
  inputMs: number;
  inferenceMs: number;
  outputMs: number;
}

/** One output of a run. */
export interface WorkerOutput {
  name: string;
  dims: number[];
  data: Float32Array;
}

/**
 * The worker's code, as plain CommonJS run with `eval: true`: the same source works from the TypeScript
 * sources under vitest or tsx and from the build, with no loader in the worker. `workerData.ortPath` is
 * onnxruntime-node's resolved entry point.
 */
export const SESSION_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
const { floatOfByte, halfOfByte, simd, chunk } = workerData.converter;

// With a nice value (LoadModelOptions.nice), this thread and the pool threads ONNX Runtime creates from it
// (Linux threads inherit their creator's nice value) run at a lower priority than the main thread.
// Lowering one's own priority needs no privilege; where it is not possible, nothing changes.
if (workerData.nice) {
  try {
    const tid = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop());
    require('node:os').setPriority(tid, workerData.nice);
  } catch {}
}
let session;
const reply = (message, transfer = []) => parentPort.postMessage(message, transfer);

// The SIMD kernel of input-tensor.ts, compiled here; the table loop where it is not available.
let kernel = null;
try {
  if (simd) {
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(simd));
    kernel = { bytes: new Uint8Array(exports.memory.buffer, 0, chunk), floats: new Float32Array(exports.memory.buffer, chunk, chunk), convert: exports.convert };
  }
} catch {
  kernel = null;
}
function toFloats(source, target, at) {
  let done = 0;
  if (kernel) {
    const whole = source.length - (source.length % 16);
    while (done < whole) {
      const count = Math.min(chunk, whole - done);
      kernel.bytes.set(source.subarray(done, done + count));
      kernel.convert(count);
      target.set(count === chunk ? kernel.floats : kernel.floats.subarray(0, count), at + done);
      done += count;
    }
  }
  for (let i = done; i < source.length; i += 1) target[at + i] = floatOfByte[source[i]];
}
function toHalves(source, target, at) {
  for (let i = 0; i < source.length; i += 1) target[at + i] = halfOfByte[source[i]];
}

// The input buffer, kept between runs (runs are one at a time: see the queue below).
let scratch = new ArrayBuffer(0);
function inputFrom(images, inputType, dims) {
  const plane = dims[1] * dims[2] * dims[3];
  const length = dims[0] * plane;
  const bytes = length * (inputType === 'float16' ? 2 : 4);
  if (scratch.byteLength < bytes) scratch = new ArrayBuffer(bytes);
  const target = inputType === 'float16' ? new Uint16Array(scratch, 0, length) : new Float32Array(scratch, 0, length);
  images.forEach((image, index) => {
    if (image.length !== plane) throw new Error('image ' + index + ' has ' + image.length + ' bytes, the input takes ' + plane);
    if (inputType === 'float16') toHalves(image, target, index * plane);
    else toFloats(image, target, index * plane);
  });
  target.fill(0, images.length * plane);
  return target;
}

function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
// Output memory the main thread gave back (give-output), written again by later runs: a pose model's
// output is 54 MB for a batch of 16 at 640, and fresh memory each time means page faults here and garbage
// (external memory that drives full collections) on the main thread. Two results' worth are kept.
const spareOutputs = [];
let spareLimit = 2;
function outputBuffer(bytes) {
  let best = -1;
  spareOutputs.forEach((buffer, index) => {
    if (buffer.byteLength >= bytes && (best < 0 || buffer.byteLength < spareOutputs[best].byteLength)) best = index;
  });
  return best >= 0 ? spareOutputs.splice(best, 1)[0] : new ArrayBuffer(bytes);
}
// A copy keeps ORT's own buffer out of the transfer.
function outputData(output) {
  const data = new Float32Array(outputBuffer(output.data.length * 4), 0, output.data.length);
  if (output.type !== 'float16') data.set(output.data);
  else for (let i = 0; i < data.length; i += 1) data[i] = halfToFloat(output.data[i]);
  return data;
}

async function handle(request) {
  try {
    if (request.type === 'load') {
      session = await ort.InferenceSession.create(request.bytes, {
        executionProviders: request.providers,
        graphOptimizationLevel: 'all',
        ...(request.threads ? { intraOpNumThreads: request.threads } : {}),
        ...(request.memoryPattern === undefined ? {} : { enableMemPattern: request.memoryPattern }),
        extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
      });
      reply({ type: 'loaded', inputMetadata: [...session.inputMetadata], outputMetadata: [...session.outputMetadata] });
    } else if (request.type === 'run' || request.type === 'run-images') {
      if (!session) throw new Error('no session loaded');
      const started = performance.now();
      const values = request.type === 'run' ? request.input : inputFrom(request.images, request.inputType, request.dims);
      const tensor = new ort.Tensor(request.inputType, values, request.dims);
      const names = request.outputs || session.outputNames;
      const feeds = { [session.inputNames[0]]: tensor };
      const built = performance.now();
      const results = await (request.outputs ? session.run(feeds, names) : session.run(feeds));
      const inferred = performance.now();
      spareLimit = 2 * names.length;
      const outputs = names.map((name) => {
        const output = results[name];
        return { name, dims: [...output.dims], data: outputData(output) };
      });
      const buffers = outputs.map((output) => output.data.buffer);
      const timings = { inputMs: built - started, inferenceMs: inferred - built, outputMs: performance.now() - inferred };
      if (request.type === 'run') {
        const input = request.input;
        reply({ type: 'result', id: request.id, outputs, input, timings }, [...buffers, input.buffer]);
      } else {
        reply({ type: 'result', id: request.id, outputs, timings }, buffers);
      }
    } else if (request.type === 'give-output') {
      spareOutputs.push(...request.buffers);
      if (spareOutputs.length > spareLimit) {
        spareOutputs.sort((a, b) => b.byteLength - a.byteLength);
        spareOutputs.length = spareLimit;
      }
    } else if (request.type === 'release') {
      spareOutputs.length = 0;
      if (session) await session.release();
      session = undefined;
      reply({ type: 'released' });
    }
  } catch (error) {
    const message = String(error && error.message || error);
    if (request.type === 'run') reply({ type: 'error', id: request.id, message, input: request.input }, [request.input.buffer]);
    else if (request.type === 'run-images') reply({ type: 'error', id: request.id, message });
    else reply({ type: 'error', message });
  }
}

// One request at a time, in order: the input buffer above is reused by the next run.
let queue = Promise.resolve();
parentPort.on('message', (request) => {
  queue = queue.then(() => handle(request));
});
`;
