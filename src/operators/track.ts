import { defer, map, type OperatorFunction } from 'rxjs';
import { now } from '../core/clock.js';
import { ConfigError, codes } from '../core/errors.js';
import { safeSink, type EventSink } from '../core/events.js';
import type { Detection } from '../inference/yolo.js';
import { createByteTracker, type ByteTrackerSettings } from '../tracking/byte-tracker.js';
import type { FrameResult } from './infer.js';

/** A detection with the id of the object it belongs to across frames. */
export type TrackedDetection = Detection & { readonly trackId: number };

/** A {@link FrameResult} whose objects carry track ids (still a `FrameResult` to any later stage). */
export interface TrackedFrameResult extends FrameResult {
  readonly objects: readonly TrackedDetection[];
}

export interface TrackOptions {
  /** Detections at or above this score are matched first and may start tracks; default 0.5. */
  highThreshold?: number;
  /** Detections from this score up to `highThreshold` only extend followed tracks; default 0.1. */
  lowThreshold?: number;
  /** A confident detection no track takes starts a track from this score up; default 0.6. */
  newTrackThreshold?: number;
  /** Largest IoU distance (1 − IoU) of a track and a confident detection that still match; default 0.8. */
  matchThreshold?: number;
  /** The same for followed tracks and low-score detections; default 0.5. */
  lowMatchThreshold?: number;
  /** The same for tracks born in the previous frame and confident detections; default 0.7. */
  unconfirmedMatchThreshold?: number;
  /**
   * Source frames (by `frameNumber`, so a stride does not change it) a track missed in some result may go
   * unseen and still take its id back; default 30 (ByteTrack's buffer at 30 fps: one second). With a
   * stride above it a track missed once is gone before the next result.
   */
  trackBuffer?: number;
  /**
   * Buffered IoU for association (C-BIoU): both boxes grow by this fraction of their width and height on
   * every side before their IoU is taken, either for every class or per class id (`{ 0: 2 }`: the ball
   * only). Default 0, plain IoU as ByteTrack. A small fast object needs it: the synthetic clip's 5-pixel
   * ball moves 3 to 4 pixels a frame, so its boxes in two frames overlap by less than the 0.2 IoU a match
   * needs, and without a buffer it gets a new id in every frame; with `{ 0: 2 }` it keeps one id through
   * its bounces, every frame or every second one.
   */
  matchBuffer?: number | Readonly<Record<number, number>>;
  /**
   * Objects that belong to no track (below `lowThreshold`, or unmatched and not confident enough to start
   * one): `'emit'` (default) passes them on, each with a fresh id that nothing else ever has, so every
   * object of a response has an id; `'drop'` leaves them out.
   */
  untracked?: 'emit' | 'drop';
  onEvent?: EventSink;
}

const DEFAULTS: Omit<ByteTrackerSettings, 'matchBuffer'> = {
  highThreshold: 0.5,
  lowThreshold: 0.1,
  newTrackThreshold: 0.6,
  matchThreshold: 0.8,
  lowMatchThreshold: 0.5,
  unconfirmedMatchThreshold: 0.7,
  trackBuffer: 30,
};

const UNIT_INTERVAL_OPTIONS = [
  'highThreshold',
  'lowThreshold',
  'newTrackThreshold',
  'matchThreshold',
  'lowMatchThreshold',
  'unconfirmedMatchThreshold',
] as const;

function settingsFrom(options: TrackOptions): ByteTrackerSettings {
  const problems: string[] = [];
  for (const name of UNIT_INTERVAL_OPTIONS) {
    const value = options[name];
    if (value !== undefined && !(typeof value === 'number' && value >= 0 && value <= 1)) {
      problems.push(`track.${name}: expected a number between 0 and 1, got ${JSON.stringify(value)}`);
    }
  }
  const high = options.highThreshold ?? DEFAULTS.highThreshold;
  const low = options.lowThreshold ?? DEFAULTS.lowThreshold;
  if (problems.length === 0 && low > high) {
    problems.push(`track.lowThreshold: expected at most highThreshold (${high}), got ${low}`);
  }
  const buffer = options.trackBuffer;
  if (buffer !== undefined && !(Number.isInteger(buffer) && buffer >= 0)) {
    problems.push(`track.trackBuffer: expected an integer >= 0, got ${JSON.stringify(buffer)}`);
  }
  const matchBuffer = options.matchBuffer ?? 0;
  const isBuffer = (value: unknown) => typeof value === 'number' && value >= 0 && Number.isFinite(value);
  if (typeof matchBuffer === 'object' && matchBuffer !== null) {
    for (const [classId, value] of Object.entries(matchBuffer)) {
      if (!/^\d+$/.test(classId)) {
        problems.push(`track.matchBuffer: expected class ids as keys, got ${JSON.stringify(classId)}`);
      } else if (!isBuffer(value)) {
        problems.push(`track.matchBuffer[${classId}]: expected a number >= 0, got ${JSON.stringify(value)}`);
      }
    }
  } else if (!isBuffer(matchBuffer)) {
    problems.push(`track.matchBuffer: expected a number >= 0, got ${JSON.stringify(matchBuffer)}`);
  }
  if (options.untracked !== undefined && options.untracked !== 'emit' && options.untracked !== 'drop') {
    problems.push(`track.untracked: expected "emit" or "drop", got ${JSON.stringify(options.untracked)}`);
  }
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems, { stage: 'track' });
  const byClass = typeof matchBuffer === 'number' ? undefined : new Map(Object.entries(matchBuffer));
  return {
    highThreshold: high,
    lowThreshold: low,
    newTrackThreshold: options.newTrackThreshold ?? DEFAULTS.newTrackThreshold,
    matchThreshold: options.matchThreshold ?? DEFAULTS.matchThreshold,
    lowMatchThreshold: options.lowMatchThreshold ?? DEFAULTS.lowMatchThreshold,
    unconfirmedMatchThreshold: options.unconfirmedMatchThreshold ?? DEFAULTS.unconfirmedMatchThreshold,
    trackBuffer: buffer ?? DEFAULTS.trackBuffer,
    matchBuffer: byClass ? (classId) => byClass.get(String(classId)) ?? 0 : () => matchBuffer as number,
  };
}

/**
 * Gives every object a `trackId` that stays the same while the object stays in view: ByteTrack, a
 * multi-object tracker with a Kalman filter per track and two rounds of IoU matching.
 *
 * Each track predicts where its box will be (constant velocity, by the frame gap, so strided input works);
 * confident detections are matched to the predictions first, then the tracks left over try the low-score
 * detections (an occluded player scores low but is still there). A track unseen for up to `trackBuffer`
 * frames takes its id back when it is matched again; a confident detection nobody takes starts a new track,
 * confirmed on its second sighting (at once in the first frame). A detection is never matched to a track of
 * another class, so the ball never takes a player's id.
 *
 * One result out per result in, at once, with the same fields and the objects in the same order (less the
 * untracked ones with `untracked: 'drop'`); tracks and ids live in the subscription (subscribing again
 * starts from id 1).
 *
 * ```text
 * results:  -a-b-c-#       a, b, c: FrameResult
 * track()
 * result:   -A-B-C-#       A, B, C: the same with trackId on every object
 * ```
 *
 * @example frames$.pipe(stride(2), batch({ size: 8 }), infer(model), track({ trackBuffer: 60 }))
 * @returns an operator from `FrameResult` to `TrackedFrameResult`; bad options throw a `ConfigError`
 *   (`FF_ERR_INVALID_OPTION`) listing every problem. Emits a `frame` event (stage `track`) per result.
 */
export function track(options: TrackOptions = {}): OperatorFunction<FrameResult, TrackedFrameResult> {
  const settings = settingsFrom(options);
  const dropUntracked = options.untracked === 'drop';
  const onEvent = safeSink(options.onEvent);
  return (source) =>
    defer(() => {
      const tracker = createByteTracker(settings);
      return source.pipe(
        map((result): TrackedFrameResult => {
          const startedAt = now();
          const step = tracker.step(result.frameNumber, result.objects);
          const objects: TrackedDetection[] = [];
          result.objects.forEach((object, index) => {
            const trackId = step.trackIds[index];
            if (trackId !== undefined) objects.push({ ...object, trackId });
            else if (!dropUntracked) objects.push({ ...object, trackId: tracker.freshId() });
          });
          if (onEvent) {
            const at = now();
            onEvent({
              stage: 'track',
              name: 'frame',
              at,
              data: {
                frameNumber: result.frameNumber,
                objects: result.objects.length,
                active: step.active,
                lost: step.lost,
                new: step.born,
                removed: step.removed,
                ms: at - startedAt,
              },
            });
          }
          return { ...result, objects };
        }),
      );
    });
}
