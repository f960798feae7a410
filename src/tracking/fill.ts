import { Bool, NonNegativeInt, NonNegativeNumber, PositiveInt, UnitInterval } from '../core/codecs.js';
import { ConfigError, codes } from '../core/errors.js';
import type { Detection } from '../inference/yolo.js';
import { fillContext, frameRate } from './fill-frames.js';
import { isSeen, readInferred } from './fill-input.js';
import { fillKeypoints } from './fill-keypoints.js';
import { fillTracks, repairIdSwitches } from './fill-tracks.js';

/** How an answered object (or keypoint) was made. */
export type FillSource = 'inferred' | 'interpolated' | 'extrapolated';

/** What the fill reads of a result: a `FrameResult`, tracked or not, with pitch keypoints or not. */
export interface FillInputFrame {
  readonly frameNumber: number;
  readonly pts: number;
  readonly width: number;
  readonly height: number;
  readonly objects: ReadonlyArray<Detection & { readonly trackId?: number }>;
  /** Frame-level keypoints ([x, y] in source pixels, [0, 0] unseen): the soccer pitch's 32. */
  readonly keypoints?: ReadonlyArray<readonly [number, number]>;
}

/** An answered object: a detection's fields (bbox, class, score, trackId, keypoints; no others) and its source. */
export type FilledObject = Detection & { readonly trackId?: number; readonly source: FillSource };

export interface FilledFrame {
  readonly frameNumber: number;
  /** Seconds: the decoder's when inferred, else `ClipInfo.frameTimes`', else from its neighbours. */
  readonly pts: number;
  readonly width: number;
  readonly height: number;
  /** `inferred`: the model ran on this frame; `filled`: every object on it was interpolated or carried. */
  readonly source: 'inferred' | 'filled';
  readonly objects: FilledObject[];
  /** Present on every frame when any inferred frame had keypoints, with as many points. */
  readonly keypoints?: Array<[number, number]>;
}

/** What is known of the clip when the fill runs. */
export interface ClipInfo {
  /** Frames in the clip (the MP4 index's sample count, display order), when known. */
  readonly frameCount?: number | null;
  /** The highest frame number the decoder reached (at a deadline, where the answer stops). */
  readonly lastDecodedFrame?: number | null;
  /** The run read the whole clip (ended at the video's end): fill to `frameCount` when it is known. */
  readonly complete?: boolean;
  /** Frames per second (the stream's), to turn seconds into frames and to time frames past the ends. */
  readonly fps?: number | null;
  /** Presentation time in seconds of each frame by frame number (the index's), when known. */
  readonly frameTimes?: ReadonlyArray<number>;
}

export interface FillOptions {
  /**
   * A track (or a keypoint) seen twice at most this many frames apart is interpolated between; default 30,
   * the tracker's own `trackBuffer` (it gives an id back only within that many frames anyway).
   */
  maxGapFrames?: number;
  /** The same in seconds (by the clip's fps); with both, the smaller wins. */
  maxGapS?: number;
  /**
   * A track seen on one side only is carried at constant velocity at most this many frames (and never
   * onto the next inferred frame, where the model did not see it); default 10, a third of a second at
   * 30 fps: enough to cover the frames between inferred ones up to stride 10 and the tail of a run.
   */
  horizonFrames?: number;
  /** The same in seconds; with both, the smaller wins. */
  horizonS?: number;
  /**
   * Whether an inferred frame that missed a track seen on both sides of it (within `maxGapFrames`) gets
   * the interpolated box, marked `interpolated`; default true. Its inferred objects are never changed.
   */
  bridgeInferred?: boolean;
  /** Objects in one frame, inferred ones first (the best scores); default 300, YOLO's MAX_DETECTIONS. */
  maxObjectsPerFrame?: number;
  /** Tracks filled (those seen most often); the others stay on their inferred frames; default 2000. */
  maxTracks?: number;
  /** Frames answered, from 0; default 18 000 (ten minutes at 30 fps). */
  maxFrames?: number;
  /**
   * Applied to every answered frame's objects before they are counted, e.g. the class rules' `limit`
   * (one ball per frame: an inferred ball is kept before an interpolated one before a carried one).
   */
  select?: (objects: FilledObject[]) => FilledObject[];
  /**
   * A filled object whose IoU with a more trusted object of its class in the same frame (inferred, then
   * interpolated, then the better score) is above this is dropped; default 0.5. It is the same object
   * under two ids: when the tracker switches ids, the old track is carried forward and the new one back
   * over the same frames.
   */
  suppressIoU?: number;
  /**
   * Id switches repaired first (see `stitchTracks`): a track of the same class that starts within
   * `maxGapFrames` of where another ended, and within this many box heights of where that one was
   * heading (both ways, averaged), continues it under its id; default 0.5; 0 turns it off. Skipped when
   * there are more tracks than `maxTracks`.
   */
  stitchGate?: number;
}

/**
 * The options a pipeline document may give the fill stage, as io-ts codecs (for `defineOperator`'s
 * `options`); `select` is code, not a document value, and is left out.
 */
export const FILL_OPTION_CODECS = {
  maxGapFrames: NonNegativeInt,
  maxGapS: NonNegativeNumber,
  horizonFrames: NonNegativeInt,
  horizonS: NonNegativeNumber,
  bridgeInferred: Bool,
  maxObjectsPerFrame: PositiveInt,
  maxTracks: NonNegativeInt,
  maxFrames: PositiveInt,
  suppressIoU: UnitInterval,
  stitchGate: NonNegativeNumber,
} as const;

export interface FillStats {
  /** The clip's frame count when known. */
  framesInClip: number | null;
  /** Frames in the answer (0 to the last, every one). */
  framesAnswered: number;
  /** Answered frames the model ran on. */
  framesInferred: number;
  /** Answered frames filled from their neighbours. */
  framesFilled: number;
  /** Answered frames with at least one object (the validator counts only these as answered). */
  framesWithObjects: number;
  /** What the last answered frame is: the clip's end, the last decoded frame, or the last inferred one. */
  lastFrameFrom: 'clip' | 'decoded' | 'inferred' | null;
  /** Answered objects by source. */
  objects: Record<FillSource, number>;
  /** Tracks that continue an earlier one under its id (id switches repaired, `stitchGate`). */
  tracksStitched: number;
  /** Filled objects dropped as repeats of a more trusted object (`suppressIoU`). */
  objectsSuppressed: number;
  /** Seen (not [0, 0]) frame keypoints by source. */
  keypoints: Record<FillSource, number>;
  /** Input the fill did not use: each is a count. */
  ignored: {
    /** Results for a frame number already given (the first one given is used). */
    duplicateFrames: number;
    /** Results whose frame number is not an integer >= 0, or that are not objects. */
    invalidFrames: number;
    /** Objects without a finite, non-empty box, a finite score or an integer class id. */
    invalidObjects: number;
    /** Objects past `maxObjectsPerFrame` (inferred or filled). */
    objectsOverCap: number;
    /** Tracks past `maxTracks` (not filled). */
    tracksOverCap: number;
    /** Frames past `maxFrames` (not answered; inferred ones among them dropped). */
    framesPastCap: number;
  };
}

export interface FillOutcome {
  /** Every frame from 0 to the last, in order; empty when nothing was inferred. */
  readonly frames: FilledFrame[];
  readonly stats: FillStats;
  /** Why `frames` is empty: no usable inferred frame. Absent when there are frames. */
  readonly reason?: 'nothing-inferred';
}

interface Settings {
  maxGapFrames: number | undefined;
  maxGapS: number | undefined;
  horizonFrames: number | undefined;
  horizonS: number | undefined;
  bridgeInferred: boolean;
  maxObjectsPerFrame: number;
  maxTracks: number;
  maxFrames: number;
  select: ((objects: FilledObject[]) => FilledObject[]) | undefined;
  suppressIoU: number;
  stitchGate: number;
}

const DEFAULT_MAX_GAP_FRAMES = 30;
const DEFAULT_HORIZON_FRAMES = 10;

function settingsFrom(options: FillOptions): Settings {
  const problems: string[] = [];
  const check = (name: keyof FillOptions, accept: (value: number) => boolean, expected: string) => {
    const value = options[name];
    if (value !== undefined && !(typeof value === 'number' && accept(value))) {
      problems.push(`fill.${name}: expected ${expected}, got ${JSON.stringify(value)}`);
    }
  };
  const nonNegativeInt = (value: number) => Number.isInteger(value) && value >= 0;
  const positiveInt = (value: number) => Number.isInteger(value) && value > 0;
  const nonNegative = (value: number) => Number.isFinite(value) && value >= 0;
  check('maxGapFrames', nonNegativeInt, 'an integer >= 0');
  check('horizonFrames', nonNegativeInt, 'an integer >= 0');
  check('maxGapS', nonNegative, 'a number >= 0');
  check('horizonS', nonNegative, 'a number >= 0');
  check('maxObjectsPerFrame', positiveInt, 'a positive integer');
  check('maxTracks', nonNegativeInt, 'an integer >= 0');
  check('maxFrames', positiveInt, 'a positive integer');
  check('stitchGate', nonNegative, 'a number >= 0');
  check('suppressIoU', (value) => value >= 0 && value <= 1, 'a number between 0 and 1');
  if (options.bridgeInferred !== undefined && typeof options.bridgeInferred !== 'boolean') {
    problems.push(
      `fill.bridgeInferred: expected true or false, got ${JSON.stringify(options.bridgeInferred)}`,
    );
  }
  if (options.select !== undefined && typeof options.select !== 'function') {
    problems.push(`fill.select: expected a function, got ${typeof options.select}`);
  }
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems, { stage: 'fill' });
  return {
    maxGapFrames: options.maxGapFrames,
    maxGapS: options.maxGapS,
    horizonFrames: options.horizonFrames,
    horizonS: options.horizonS,
    bridgeInferred: options.bridgeInferred ?? true,
    maxObjectsPerFrame: options.maxObjectsPerFrame ?? 300,
    maxTracks: options.maxTracks ?? 2000,
    maxFrames: options.maxFrames ?? 18_000,
    select: options.select,
    suppressIoU: options.suppressIoU ?? 0.5,
    stitchGate: options.stitchGate ?? 0.5,
  };
}

/** Frames from a frame count and a duration in seconds, the smaller winning; the default with neither. */
function framesLimit(frames: number | undefined, seconds: number | undefined, fps: number, fallback: number) {
  if (seconds === undefined) return frames ?? fallback;
  const fromSeconds = Math.floor(seconds * fps + 1e-9);
  return frames === undefined ? fromSeconds : Math.min(frames, fromSeconds);
}

const zeroCounts = (): Record<FillSource, number> => ({ inferred: 0, interpolated: 0, extrapolated: 0 });

/**
 * Gives every frame of the clip an answer from the frames the model ran on (non-causal: run it once at
 * the end of a run, or at the deadline with the results so far).
 *
 * Frames 0 to the last are answered: the clip's last when its frame count is known and the whole clip
 * was read (`clip.complete`), else the last decoded frame, else the last inferred one; never past
 * `maxFrames`. Inferred frames keep their objects (marked `inferred`). Id switches are repaired first: a
 * track that starts where another of its class ended, and was heading, continues it under its id
 * (`stitchGate`). Each track is then filled around its sightings: between two sightings at most
 * `maxGapFrames` apart its box is interpolated corner by corner, linearly in time (score: the lower of
 * the two; class and id: the track's); from a sighting with no other within reach it is carried at
 * constant velocity (its last two sightings') for at most `horizonFrames` frames, never onto the next
 * inferred frame (where the model did not see it), stopping where its centre leaves the picture, the
 * score falling linearly to 0 past the horizon (`extrapolated`). A track lost for longer than the gap is
 * not bridged. Objects without a `trackId` stay on their frame. A filled box that repeats a more trusted
 * one of its class (IoU above `suppressIoU`) is dropped, and `select` (e.g. one ball per frame) runs on
 * every frame last.
 * Frame keypoints are filled point by point the same way; a point not filled is [0, 0].
 *
 * ```text
 * inferred:  a-------b-------c---          (stride 8; a, b, c: results with tracked objects)
 * fill()
 * frames:    aiiiiiiibiiiiiiicee-          i: interpolated, e: carried (horizonFrames 2); to the last frame
 * ```
 *
 * Odd input never throws: results with a frame number that is not an integer >= 0 are ignored, a frame
 * number given twice keeps the first result given, objects with a NaN or empty box are ignored, and each
 * is counted in `stats.ignored`. Time and memory are O(frames × objects), bounded by the caps.
 *
 * @example
 * const { frames, stats } = fill(outcome.results, { frameCount: 750, complete: true, fps: 25 }, {
 *   select: (objects) => rules.limit(objects),
 * });
 * @param results the inferred frames, in any order
 * @returns every frame's answer and the counts; with nothing usable inferred, no frames and `reason`
 * @throws ConfigError (`FF_ERR_INVALID_OPTION`) for bad options, listing every problem
 */
export function fill(
  results: readonly FillInputFrame[],
  clip: ClipInfo = {},
  options: FillOptions = {},
): FillOutcome {
  const steps = fillSteps(results, clip, options);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * `fill`, its phases (reading, stitching, tracks, keypoints, selection) each in a task of its own:
 * `nextTask` is awaited between them, so that an event loop with timers and other requests is never held
 * for the whole fill (0.11 ms per answered frame measured, 80–95 ms for 700–840 frames in a fresh
 * process). Same result as `fill`.
 */
export async function fillInTasks(
  results: readonly FillInputFrame[],
  clip: ClipInfo,
  options: FillOptions,
  nextTask: () => Promise<void>,
): Promise<FillOutcome> {
  const steps = fillSteps(results, clip, options);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    await nextTask();
  }
}

/** The fill, as a generator that yields between its phases (see fill and fillInTasks). */
function* fillSteps(
  results: readonly FillInputFrame[],
  clip: ClipInfo,
  options: FillOptions,
): Generator<void, FillOutcome, void> {
  const settings = settingsFrom(options);
  const ignored: FillStats['ignored'] = {
    duplicateFrames: 0,
    invalidFrames: 0,
    invalidObjects: 0,
    objectsOverCap: 0,
    tracksOverCap: 0,
    framesPastCap: 0,
  };
  const framesInClip = Number.isInteger(clip.frameCount) && clip.frameCount! > 0 ? clip.frameCount! : null;
  const input = readInferred(results, clip, settings, ignored);
  if (!input) {
    return {
      frames: [],
      reason: 'nothing-inferred',
      stats: {
        framesInClip,
        framesAnswered: 0,
        framesInferred: 0,
        framesFilled: 0,
        framesWithObjects: 0,
        lastFrameFrom: null,
        objects: zeroCounts(),
        tracksStitched: 0,
        objectsSuppressed: 0,
        keypoints: zeroCounts(),
        ignored,
      },
    };
  }

  const fps = frameRate(clip, input.inferred);
  const limits = {
    maxGapFrames: framesLimit(settings.maxGapFrames, settings.maxGapS, fps, DEFAULT_MAX_GAP_FRAMES),
    horizonFrames: framesLimit(settings.horizonFrames, settings.horizonS, fps, DEFAULT_HORIZON_FRAMES),
    bridgeInferred: settings.bridgeInferred,
  };
  yield;
  const tracksStitched = repairIdSwitches(input.inferred, {
    maxGapFrames: limits.maxGapFrames,
    gate: settings.stitchGate,
    maxTracks: settings.maxTracks,
  });
  const context = fillContext(input, clip, fps, limits);
  yield;
  const objectsSuppressed = fillTracks(context, settings, ignored);
  yield;
  const keypointSources = input.hasKeypoints ? fillKeypoints(context, input.keypointCount) : [];
  yield;

  // The caller's selection, then the counts.
  const objects = zeroCounts();
  const keypoints = zeroCounts();
  let framesWithObjects = 0;
  const frames: FilledFrame[] = context.frames.map((frame) => {
    const selected = settings.select ? settings.select(frame.objects) : frame.objects;
    for (const object of selected) objects[object.source] += 1;
    if (selected.length > 0) framesWithObjects += 1;
    const sources = keypointSources[frame.frameNumber];
    frame.keypoints?.forEach((point, index) => {
      if (!isSeen(point)) return;
      const made = sources?.[index];
      keypoints[made === 1 ? 'interpolated' : made === 2 ? 'extrapolated' : 'inferred'] += 1;
    });
    return {
      frameNumber: frame.frameNumber,
      pts: frame.pts,
      width: frame.width,
      height: frame.height,
      source: frame.source,
      objects: selected,
      ...(frame.keypoints ? { keypoints: frame.keypoints } : {}),
    };
  });
  return {
    frames,
    stats: {
      framesInClip,
      framesAnswered: frames.length,
      framesInferred: input.inferred.length,
      framesFilled: frames.length - input.inferred.length,
      framesWithObjects,
      lastFrameFrom: input.lastFrameFrom,
      objects,
      tracksStitched,
      objectsSuppressed,
      keypoints,
      ignored,
    },
  };
}
