import { Observable, from, type ObservableInput, type OperatorFunction, type Subscription } from 'rxjs';
import { now } from '../core/clock.js';
import { ConfigError, codes } from '../core/errors.js';
import { safeSink, type EventSink } from '../core/events.js';
import {
  checkImages,
  fillInput,
  planeOf,
  type InputFrame,
  type ModelInput,
} from '../inference/input-tensor.js';
import type { LoadedModel, ModelOutput } from '../inference/model.js';
import type { DecodeOptions, DecodeTarget, Detection } from '../inference/heads/types.js';
import { decodeYolo } from '../inference/yolo.js';
import type { DecodedFrame } from './decode.js';
import type { PrefetchGate, PrefetchSlot } from './prefetch.js';

/** What the model found in one frame. */
export interface FrameResult {
  readonly frameNumber: number;
  readonly pts: number;
  readonly width: number;
  readonly height: number;
  readonly objects: readonly Detection[];
  /** When the result existed: the run's clock (`performance.now()` in real time, see src/core/clock.ts). */
  readonly inferredAt: number;
}

/** Frames that go to the model in one run, and their input once built. */
interface Chunk {
  readonly frames: DecodedFrame[];
  input?: ModelInput;
}

export interface InferOptions extends DecodeOptions {
  /** The gate the decode stage takes slots from: slots are given back when their run is done. */
  gate?: PrefetchGate;
  /**
   * Stop early and drain (the budget sink's `drain` mode). When this emits, infer unsubscribes from its
   * input batches at once (upstream the download is aborted and the decoder freed), drops the batches
   * waiting for their run (their prefetch slots go back to the gate), lets the run in progress finish and
   * emit its results, then completes; with no run in progress it completes at once. Completing without a
   * value changes nothing; an error is passed on, as `takeUntil` does.
   */
  stopOn?: ObservableInput<unknown>;
  onEvent?: EventSink;
}

/**
 * [count, 3, S, S] float32 0..1 from the frames' planar RGB bytes (rows past the frames are 0), in a new
 * array. The infer stage itself writes into the model's reused input buffers instead (`fillInput`).
 */
export function buildInputTensor(
  frames: readonly InputFrame[],
  imgSize: number,
  count = frames.length,
): Float32Array {
  const tensor = new Float32Array(count * planeOf(imgSize));
  fillInput(frames, tensor, imgSize);
  return tensor;
}

function validate(options: InferOptions): void {
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
}

const slotsOf = (frames: readonly DecodedFrame[]): PrefetchSlot[] =>
  frames.flatMap((frame) => (frame.slot ? [frame.slot] : []));

type Decoder = (output: ModelOutput, count: number, target: DecodeTarget) => Detection[];

/** How the stage reads a run's outputs: with the model's head, or as YOLO for a hand-made model without one. */
function decoderOf(model: LoadedModel, options: DecodeOptions): Decoder {
  const head = model.head;
  if (!head) {
    return (output, _count, { index, geometry, source }) =>
      decodeYolo(output.data, output.anchors, index, model.layout, geometry, source, options);
  }
  return (output, count, target) =>
    head.decode(
      output.outputs ?? [
        {
          name: model.outputName,
          dims: [count, output.data.length / (count * output.anchors), output.anchors],
          data: output.data,
        },
      ],
      target,
      options,
    );
}

/**
 * Runs the model on each batch of frames and emits one {@link FrameResult} per frame, in order.
 *
 * One run at a time: while a batch runs (in the model's worker thread), decoding of the next frames goes
 * on upstream. The model's input is built from the frames' pixels in the model's thread (`runImages`), so
 * that this thread, which also decodes, answers and keeps every deadline, only hands the bytes over; a
 * model without `runImages` gets it built here, for the next batch while the current one runs. Models with a fixed batch size get batches of exactly that size (the last one padded); dynamic ones
 * take each batch whole. Frames without converted pixels (`image`) are passed over. Each frame's
 * detections come from the model's head (`LoadedModel.head`: YOLO unless the model was loaded with
 * another), so a model with another output format needs a head, not a change here.
 *
 * ```text
 * batches:  -A--B-C------|
 * runs:      [A][B][C]              B waits for A's run to end, C for B's
 * results:  ----a--b--c--|          a: one result per frame of A, in frame order
 * stopOn:   -----s
 * results:  ----a--(b|)             at s: input unsubscribed, C never seen, B's run ends and emits, done
 * unsub:    -----!                  no run starts after `!` (B's, in progress, ends unseen)
 * ```
 *
 * @example frames$.pipe(stride(5), batch({ size: 8 }), infer(model, { confThreshold: 0.3, gate, stopOn: drain$ }))
 * @param model a loaded model (`loadModel`)
 * @param options thresholds (read by the model's head), the prefetch gate, the stop signal and the event sink; bad values throw here
 * @returns an operator from batches of frames to results; an error from a run or from upstream is passed
 * on, and no run starts after it.
 */
export function infer(
  model: LoadedModel,
  options: InferOptions = {},
): OperatorFunction<DecodedFrame[], FrameResult> {
  validate(options);
  const decodeOptions: DecodeOptions = {
    ...(options.confThreshold !== undefined ? { confThreshold: options.confThreshold } : {}),
    ...(options.iouThreshold !== undefined ? { iouThreshold: options.iouThreshold } : {}),
    ...(options.maxDetections !== undefined ? { maxDetections: options.maxDetections } : {}),
  };
  const decodeOutput = decoderOf(model, decodeOptions);
  const onEvent = safeSink(options.onEvent);
  const emit = (name: string, data: Record<string, unknown>) =>
    onEvent?.({ stage: 'infer', name, at: now(), data });
  const countFor = (frames: readonly DecodedFrame[]) =>
    typeof model.batch === 'number' ? model.batch : frames.length;
  const plane = planeOf(model.imgSize);

  return (source) =>
    new Observable<FrameResult>((subscriber) => {
      /** Chunks not started yet, oldest first; only the first has its input built. */
      const waiting: Chunk[] = [];
      let running = false;
      /** The source completed, or `stopOn` fired: no more batches. */
      let inputEnded = false;
      let stopped = false;
      let runs = 0;
      let upstream: Subscription | undefined;
      let stopper: Subscription | undefined;

      const discard = (chunk: Chunk) => {
        options.gate?.release(slotsOf(chunk.frames));
        if (chunk.input) model.recycleInput(chunk.input);
      };
      const finishIfDone = () => {
        if (inputEnded && !running && waiting.length === 0) subscriber.complete();
      };
      const build = (frames: readonly DecodedFrame[], reuse?: ModelInput): ModelInput => {
        const length = countFor(frames) * plane;
        let input = reuse?.length === length ? reuse : undefined;
        if (!input) {
          if (reuse) model.recycleInput(reuse);
          input = model.inputBuffer(countFor(frames));
        }
        fillInput(frames, input, model.imgSize);
        return input;
      };

      const start = (chunk: Chunk) => {
        // drop-oldest may have evicted some of these frames while they waited for this run.
        const frames = chunk.frames.filter((frame) => !frame.slot?.dropped);
        if (frames.length === 0) {
          if (chunk.input) model.recycleInput(chunk.input);
          return;
        }
        const slots = slotsOf(frames);
        let input: ModelInput | undefined;
        try {
          if (model.runImages) {
            checkImages(frames, model.imgSize);
            if (chunk.input) model.recycleInput(chunk.input);
          } else {
            input =
              frames.length === chunk.frames.length && chunk.input ? chunk.input : build(frames, chunk.input);
          }
        } catch (error) {
          discard({ frames });
          throw error;
        }
        options.gate?.started(slots);
        const count = countFor(frames);
        const run = (runs += 1);
        const startedAt = now();
        emit('run-start', { run, frames: frames.length, batch: count, firstFrame: frames[0]?.frameNumber });
        running = true;
        const ended = (error?: unknown) => {
          running = false;
          options.gate?.release(slots);
          emit(error === undefined ? 'run-end' : 'run-error', {
            run,
            frames: frames.length,
            ms: now() - startedAt,
            ...(error === undefined ? {} : { message: String((error as Error)?.message ?? error) }),
          });
        };
        let pending: PromiseLike<ModelOutput>;
        try {
          pending = input
            ? model.run(input, count)
            : model.runImages!(
                frames.map((frame) => frame.image!.data),
                count,
              );
        } catch (error) {
          ended(error);
          throw error;
        }
        pending.then(
          (output) => {
            ended();
            if (subscriber.closed) {
              model.recycleOutput?.(output);
              return;
            }
            try {
              frames.forEach((frame, index) => {
                const objects = decodeOutput(output, count, { index, geometry: frame.image!, source: frame });
                subscriber.next({
                  frameNumber: frame.frameNumber,
                  pts: frame.pts,
                  width: frame.width,
                  height: frame.height,
                  objects,
                  inferredAt: now(),
                });
              });
            } catch (error) {
              subscriber.error(error);
              return;
            } finally {
              // Every frame's detections are plain objects now: the output's memory can go back.
              model.recycleOutput?.(output);
            }
            pump();
          },
          (error: unknown) => {
            ended(error);
            subscriber.error(error);
          },
        );
      };

      function pump(): void {
        try {
          while (!running && waiting.length > 0 && !subscriber.closed) start(waiting.shift()!);
          // Without runImages, the next batch's input is built now, on this thread, while the model
          // computes on its own; with it, the model's thread builds it.
          const next = waiting[0];
          if (running && next && !next.input && !model.runImages) next.input = build(next.frames);
        } catch (error) {
          subscriber.error(error);
          return;
        }
        finishIfDone();
      }

      const stop = () => {
        if (stopped) return;
        stopped = true;
        inputEnded = true;
        upstream?.unsubscribe();
        stopper?.unsubscribe();
        const dropped = waiting.splice(0);
        dropped.forEach(discard);
        emit('stop', {
          droppedBatches: dropped.length,
          droppedFrames: dropped.reduce((sum, chunk) => sum + chunk.frames.length, 0),
          runInProgress: running,
        });
        finishIfDone();
      };

      if (options.stopOn) {
        stopper = from(options.stopOn).subscribe({
          next: stop,
          error: (error: unknown) => subscriber.error(error),
        });
        if (stopped) stopper.unsubscribe();
      }
      if (!stopped && !subscriber.closed) {
        upstream = source.subscribe({
          next: (frames) => {
            const usable = frames.filter((frame) => frame.image !== undefined);
            const size = typeof model.batch === 'number' ? model.batch : Math.max(usable.length, 1);
            for (let i = 0; i < usable.length; i += size) waiting.push({ frames: usable.slice(i, i + size) });
            pump();
          },
          error: (error: unknown) => subscriber.error(error),
          complete: () => {
            inputEnded = true;
            finishIfDone();
          },
        });
        if (stopped) upstream.unsubscribe();
      }
      return () => {
        upstream?.unsubscribe();
        stopper?.unsubscribe();
        waiting.splice(0).forEach(discard);
      };
    });
}
