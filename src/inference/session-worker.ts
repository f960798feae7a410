/**
 * The ONNX Runtime session, in a worker thread. onnxruntime-node runs inference synchronously on the
 * thread that calls `run` (its promise only defers the call with setImmediate), which would stop the
 * decoder's event loop for the whole run; here the main thread keeps demuxing and converting frames while
 * the model computes. Tensors cross the thread boundary by transfer, not by copy, and the input's memory
 * goes back with the reply (result or error) so that the next batch can be written into it.
 */
import type * as Ort from 'onnxruntime-node';

export type WorkerRequest =
  | {
      type: 'load';
      bytes: Uint8Array;
      providers: Ort.InferenceSession.ExecutionProviderConfig[];
      threads?: number;
    }
  | {
      type: 'run';
      id: number;
      input: Float32Array | Uint16Array;
      inputType: 'float32' | 'float16';
      dims: number[];
    }
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
      data: Float32Array | Uint16Array;
      outputType: string;
      dims: number[];
      /** The request's input, handed back. */
      input: Float32Array | Uint16Array;
    }
  | { type: 'error'; id?: number; message: string; input?: Float32Array | Uint16Array }
  | { type: 'released' };

/**
 * The worker's code, as plain CommonJS run with `eval: true`: the same source works from the TypeScript
 * sources under vitest or tsx and from the build, with no loader in the worker. `workerData.ortPath` is
 * onnxruntime-node's resolved entry point.
 */
export const SESSION_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
let session;
const reply = (message, transfer = []) => parentPort.postMessage(message, transfer);
parentPort.on('message', async (request) => {
  try {
    if (request.type === 'load') {
      session = await ort.InferenceSession.create(request.bytes, {
        executionProviders: request.providers,
        graphOptimizationLevel: 'all',
        ...(request.threads ? { intraOpNumThreads: request.threads } : {}),
      });
      reply({ type: 'loaded', inputMetadata: [...session.inputMetadata], outputMetadata: [...session.outputMetadata] });
    } else if (request.type === 'run') {
      if (!session) throw new Error('no session loaded');
      const tensor = new ort.Tensor(request.inputType, request.input, request.dims);
      const results = await session.run({ [session.inputNames[0]]: tensor });
      const output = results[session.outputNames[0]];
      // A copy the size of the output (a few MB at most) keeps ORT's own buffer out of the transfer.
      const data = output.data.slice();
      const input = request.input;
      reply({ type: 'result', id: request.id, data, outputType: output.type, dims: [...output.dims], input }, [data.buffer, input.buffer]);
    } else if (request.type === 'release') {
      if (session) await session.release();
      session = undefined;
      reply({ type: 'released' });
    }
  } catch (error) {
    const message = String(error && error.message || error);
    if (request.type === 'run') reply({ type: 'error', id: request.id, message, input: request.input }, [request.input.buffer]);
    else reply({ type: 'error', message });
  }
});
`;
