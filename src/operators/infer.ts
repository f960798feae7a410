import { Observable, concatMap, from, map, type OperatorFunction } from 'rxjs';
import { ConfigError, codes } from '../core/errors.js';
import { safeSink, type EventSink } from '../core/events.js';
import type { LoadedModel } from '../inference/model.js';
import { decodeYolo, type Detection, type YoloDecodeOptions } from '../inference/yolo.js';
import type { DecodedFrame } from './decode.js';
import type { PrefetchGate, PrefetchSlot } from './prefetch.js';

/** What the model found in one frame. */
export interface FrameResult {
  readonly frameNumber: number;
  readonly pts: number;
  readonly width: number;
  readonly height: number;
  readonly objects: readonly Detection[];
  /** `performance.now()` when the result existed. */
  readonly inferredAt: number;
}

interface PreparedChunk {
  readonly frames: DecodedFrame[];
  readonly input: Float32Array;
}

export interface InferOptions extends YoloDecodeOptions {
  /** The gate the decode stage takes slots from: slots are given back when their run is done. */
  gate?: PrefetchGate;
  onEvent?: EventSink;
}

/** [count, 3, S, S] float32 0..1 from the frames' planar RGB bytes (rows past the frames stay 0). */
export function buildInputTensor(
  frames: readonly DecodedFrame[],
  imgSize: number,
  count = frames.length,
): Float32Array {
  const plane = 3 * imgSize * imgSize;
  const tensor = new Float32Array(count * plane);
  const scale = 1 / 255;
  for (let index = 0; index < frames.length; index += 1) {
    const source = frames[index]!.image!.data;
    const target = tensor.subarray(index * plane, (index + 1) * plane);
    for (let i = 0; i < plane; i += 1) target[i] = source[i]! * scale;
  }
  return tensor;
}

/**
 * Runs the model on each batch of frames and emits one {@link FrameResult} per frame, in order.
 *
 * One run at a time (the model's own queue): while a batch runs, decoding of the next frames goes on
 * upstream. Models with a fixed batch size get batches of exactly that size (the last one padded); dynamic
 * ones take each batch whole. Frames without converted pixels (`image`) are passed over.
 *
 * ```text
 * batches:  -A----B--C-------|
 * runs:     -[A ]-[B ][C ]
 * results:  ----aa----bb--c--|
 * unsub:    -[A ]-[B]!          no new run starts after `!` (a run in progress cannot be interrupted)
 * ```
 *
 * @example frames$.pipe(stride(5), batch({ size: 8 }), infer(model, { confThreshold: 0.3 }))
 */
export function infer(
  model: LoadedModel,
  options: InferOptions = {},
): OperatorFunction<DecodedFrame[], FrameResult> {
  const problems: string[] = [];
  if (options.confThreshold !== undefined && !(options.confThreshold >= 0 && options.confThreshold <= 1)) {
    problems.push(
      `infer.confThreshold: expected a number between 0 and 1, got ${JSON.stringify(options.confThreshold)}`,
    );
  }
  if (options.iouThreshold !== undefined && !(options.iouThreshold >= 0 && options.iouThreshold <= 1)) {
    problems.push(
      `infer.iouThreshold: expected a number between 0 and 1, got ${JSON.stringify(options.iouThreshold)}`,
    );
  }
  if (
    options.maxDetections !== undefined &&
    (!Number.isInteger(options.maxDetections) || options.maxDetections <= 0)
  ) {
    problems.push(
      `infer.maxDetections: expected a positive integer, got ${JSON.stringify(options.maxDetections)}`,
    );
  }
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems, { stage: 'infer' });
  const onEvent = safeSink(options.onEvent);
  const emit = (name: string, data: Record<string, unknown>) =>
    onEvent?.({ stage: 'infer', name, at: performance.now(), data });
  let runs = 0;

  const slotsOf = (frames: readonly DecodedFrame[]) =>
    frames.flatMap((frame) => (frame.slot ? [frame.slot] : [])) as PrefetchSlot[];
  const countFor = (frames: readonly DecodedFrame[]) =>
    typeof model.batch === 'number' ? model.batch : frames.length;
  const runChunk = (prepared: PreparedChunk): Observable<FrameResult> =>
    new Observable<FrameResult>((subscriber) => {
      // drop-oldest may have evicted some of these frames while they waited for this run.
      const frames = prepared.frames.filter((frame) => !frame.slot?.dropped);
      if (frames.length === 0) {
        subscriber.complete();
        return;
      }
      const slots = slotsOf(frames);
      options.gate?.started(slots);
      let active = true;
      const count = countFor(frames);
      const input =
        frames.length === prepared.frames.length
          ? prepared.input
          : buildInputTensor(frames, model.imgSize, count);
      const run = (runs += 1);
      const startedAt = performance.now();
      emit('run-start', { run, frames: frames.length, batch: count, firstFrame: frames[0]?.frameNumber });
      model.run(input, count).then(
        (output) => {
          options.gate?.release(slots);
          emit('run-end', { run, frames: frames.length, ms: performance.now() - startedAt });
          if (!active) return;
          frames.forEach((frame, index) => {
            const objects = decodeYolo(
              output.data,
              output.anchors,
              index,
              model.layout,
              frame.image!,
              frame,
              options,
            );
            subscriber.next({
              frameNumber: frame.frameNumber,
              pts: frame.pts,
              width: frame.width,
              height: frame.height,
              objects,
              inferredAt: performance.now(),
            });
          });
          subscriber.complete();
        },
        (error: unknown) => {
          options.gate?.release(slots);
          if (active) subscriber.error(error);
        },
      );
      return () => {
        active = false;
      };
    });

  // Input tensors are built as soon as a batch arrives, on this thread, while ONNX Runtime computes the
  // previous run on its own threads: the model never waits for its next input (memory stays bounded by
  // the prefetch gate).
  const prepare = (frames: DecodedFrame[]): PreparedChunk[] => {
    const usable = frames.filter((frame) => frame.image !== undefined);
    const size = typeof model.batch === 'number' ? model.batch : Math.max(usable.length, 1);
    const chunks: PreparedChunk[] = [];
    for (let i = 0; i < usable.length; i += size) {
      const chunk = usable.slice(i, i + size);
      chunks.push({ frames: chunk, input: buildInputTensor(chunk, model.imgSize, countFor(chunk)) });
    }
    return chunks;
  };
  return (source) =>
    source.pipe(
      map(prepare),
      concatMap((chunks) => from(chunks).pipe(concatMap(runChunk))),
    );
}
