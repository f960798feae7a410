import {
  EMPTY,
  NEVER,
  Observable,
  concatMap,
  finalize,
  forkJoin,
  from,
  map,
  mergeMap,
  of,
  take,
  takeUntil,
  tap,
  toArray,
  type ObservableInput,
  type OperatorFunction,
} from 'rxjs';
import { ConfigError, codes } from '../core/errors.js';
import type { EventSink } from '../core/events.js';
import { SharedImagePool } from '../inference/input-tensor.js';
import type { LoadedModel } from '../inference/model.js';
import type { Detection, YoloDecodeOptions } from '../inference/yolo.js';
import type { DecodedFrame } from './decode.js';
import { infer, type FrameResult } from './infer.js';
import type { PrefetchGate, PrefetchSlot } from './prefetch.js';

/** The soccer pitch's keypoints, in the standard vertex order. */
export const PITCH_KEYPOINTS = 32;

/** A frame's objects and its pitch keypoints: [x, y] in source pixels, [0, 0] for a point not seen. */
export interface SoccerFrameResult extends FrameResult {
  readonly keypoints: ReadonlyArray<readonly [number, number]>;
}

export interface SoccerInferOptions {
  /** Object detection (CONF_THRESHOLD, MAX_DETECTIONS, NMS IoU). */
  detection?: YoloDecodeOptions;
  /** A keypoint whose confidence is under this is reported as [0, 0]; default 0.5. */
  keypointConfidence?: number;
  /** Score a pitch detection needs to count; default 0.25. */
  pitchConfidence?: number;
  gate?: PrefetchGate;
  /** As `infer`'s: stop taking batches, finish the one running, complete. */
  stopOn?: ObservableInput<unknown>;
  onEvent?: EventSink;
}

const UNSEEN: readonly [number, number] = [0, 0];

/**
 * The frame's pitch keypoints from a pose model's detections: those of the most confident pitch
 * detection, each [x, y], or [0, 0] where its confidence is under `minConfidence` (and all 32 when no
 * pitch was found).
 */
export function pitchKeypoints(
  detections: readonly Detection[],
  count = PITCH_KEYPOINTS,
  minConfidence = 0.5,
): Array<readonly [number, number]> {
  let best: Detection | undefined;
  for (const detection of detections) {
    if (detection.keypoints && (!best || detection.score > best.score)) best = detection;
  }
  return Array.from({ length: count }, (_, index) => {
    const point = best?.keypoints?.[index];
    if (!point || !(point[2] >= minConfidence)) return UNSEEN;
    return [Math.round(point[0] * 100) / 100, Math.round(point[1] * 100) / 100] as const;
  });
}

/**
 * Runs the object detector and the pitch-keypoint model on the same batches, at the same time (each
 * session has its own worker thread, so on a GPU or with spare cores the two overlap), and merges their
 * answers per frame: the detector's objects and the frame's 32 pitch keypoints. Without a pitch model
 * (SKIP_PITCH) every keypoint is [0, 0].
 *
 * ```text
 * batches:   -A------B----|
 * detector:  -[A  ]--[B  ]
 * pitch:     -[A ]---[B ]
 * results:   ------aa----bb|
 * ```
 *
 * @example frames$.pipe(batch({ size: 8 }), soccerInfer(detector, pitch, { gate }), track())
 */
export function soccerInfer(
  detector: LoadedModel,
  pitch: LoadedModel | undefined,
  options: SoccerInferOptions = {},
): OperatorFunction<DecodedFrame[], SoccerFrameResult> {
  const keypointConfidence = options.keypointConfidence ?? 0.5;
  const pitchConfidence = options.pitchConfidence ?? 0.25;
  const problems: string[] = [];
  if (!(keypointConfidence >= 0 && keypointConfidence <= 1)) {
    problems.push(
      `soccer.keypointConfidence: expected a number between 0 and 1, got ${JSON.stringify(keypointConfidence)}`,
    );
  }
  if (!(pitchConfidence >= 0 && pitchConfidence <= 1)) {
    problems.push(
      `soccer.pitchConfidence: expected a number between 0 and 1, got ${JSON.stringify(pitchConfidence)}`,
    );
  }
  if (pitch && pitch.layout.task !== 'pose') {
    problems.push(`soccer.pitch: ${pitch.path} is a ${pitch.layout.task} model; a pose model is needed`);
  }
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems, { stage: 'infer' });
  const gate = options.gate;
  const keypointCount = pitch?.layout.keypoints?.count ?? PITCH_KEYPOINTS;
  const noKeypoints = Array.from({ length: keypointCount }, () => UNSEEN);
  // Shared by the runs of this pipeline: one buffer per run in flight (each has one batch at a time).
  const pixels = new SharedImagePool(4);
  const slotsOf = (frames: readonly DecodedFrame[]) =>
    frames.flatMap((frame) => (frame.slot ? [frame.slot] : [])) as PrefetchSlot[];

  return (source) =>
    new Observable<SoccerFrameResult>((subscriber) => {
      let stopped = false;
      const stop$ = options.stopOn
        ? from(options.stopOn).pipe(
            take(1),
            tap(() => (stopped = true)),
          )
        : NEVER;
      return source
        .pipe(
          // At the stop signal the input is unsubscribed (download aborted, decoder freed) and batches
          // already queued are passed over; the pair of runs in progress finishes.
          takeUntil(stop$),
          concatMap((batchFrames) => {
            const frames = batchFrames.filter((frame) => frame.image !== undefined && !frame.slot?.dropped);
            const slots = slotsOf(batchFrames);
            if (stopped || frames.length === 0) {
              gate?.release(slots);
              return EMPTY;
            }
            gate?.started(slots);
            // Both models read one copy of the pixels, in shared memory (see LoadedModel.runImages).
            const shared = pixels.share(frames.map((frame) => frame.image!.data));
            const batch = frames.map((frame, index) => ({
              ...frame,
              image: { ...frame.image!, data: shared.images[index]! },
            }));
            const objects$ = of(batch).pipe(
              infer(detector, {
                ...options.detection,
                ...(options.onEvent ? { onEvent: options.onEvent } : {}),
              }),
              toArray(),
            );
            const pitch$ = pitch
              ? of(batch).pipe(
                  infer(pitch, {
                    confThreshold: pitchConfidence,
                    maxDetections: 1,
                    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
                  }),
                  toArray(),
                )
              : of([] as FrameResult[]);
            return forkJoin([objects$, pitch$]).pipe(
              finalize(() => {
                gate?.release(slots);
                shared.release();
              }),
              mergeMap(([found, pitches]) =>
                found.map((result) => {
                  const pose = pitches.find((candidate) => candidate.frameNumber === result.frameNumber);
                  return {
                    ...result,
                    keypoints: pose
                      ? pitchKeypoints(pose.objects, keypointCount, keypointConfidence)
                      : noKeypoints,
                  };
                }),
              ),
              map((result): SoccerFrameResult => result),
            );
          }),
        )
        .subscribe(subscriber);
    });
}
