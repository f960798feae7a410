import { ConfigError, codes } from '../core/errors.js';
import type { Detection } from '../inference/yolo.js';
import { carryBox, carryPoint, lerpBox, walkSeries, type Box, type FillTimeline } from './interpolate.js';
import { stitchTracks, type StitchSighting } from './stitch.js';

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

/** An answered object: the detection's fields (and any others it had, on inferred frames) and its source. */
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
/** When neither the clip nor the inferred frames tell the frame rate: the lower of broadcast rates. */
const FALLBACK_FPS = 25;
/** Keypoints per frame read at most (the pitch model has 32). */
const MAX_KEYPOINTS = 256;

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

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0;
const isRate = (value: unknown): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value > 0;

function validObject(object: unknown): object is Detection & { trackId?: number } {
  if (typeof object !== 'object' || object === null) return false;
  const { bbox, score, classId } = object as Partial<Detection>;
  if (!Array.isArray(bbox) || bbox.length !== 4) return false;
  const [x1, y1, x2, y2] = bbox as number[];
  return (
    Number.isFinite(x1! + y1! + x2! + y2!) &&
    x2! > x1! &&
    y2! > y1! &&
    typeof score === 'number' &&
    Number.isFinite(score) &&
    isCount(classId)
  );
}

const UNSEEN = (): [number, number] => [0, 0];
const isSeen = (point: readonly [number, number]) => point[0] !== 0 || point[1] !== 0;

/** Points as exactly `count` finite [x, y] pairs; anything else is unseen. */
function normalisePoints(points: unknown, count: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let index = 0; index < count; index += 1) {
    const point = Array.isArray(points) ? (points[index] as unknown) : undefined;
    const x = Array.isArray(point) ? (point[0] as unknown) : undefined;
    const y = Array.isArray(point) ? (point[1] as unknown) : undefined;
    out.push(typeof x === 'number' && typeof y === 'number' && Number.isFinite(x + y) ? [x, y] : UNSEEN());
  }
  return out;
}

interface Inferred {
  frameNumber: number;
  pts: number;
  width: number;
  height: number;
  objects: FilledObject[];
  keypoints: Array<[number, number]> | undefined;
}

interface Sighting {
  inferredIndex: number;
  object: FilledObject;
}

const RANK: Record<FillSource, number> = { inferred: 0, interpolated: 1, extrapolated: 2 };
const rank = (object: FilledObject) => RANK[object.source];

function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!);
  const h = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!);
  if (!(w > 0 && h > 0)) return 0;
  const inter = w * h;
  return inter / ((a[2]! - a[0]!) * (a[3]! - a[1]!) + (b[2]! - b[0]!) * (b[3]! - b[1]!) - inter);
}

const zeroCounts = (): Record<FillSource, number> => ({ inferred: 0, interpolated: 0, extrapolated: 0 });

/**
 * Gives every frame of the clip an answer from the frames the model ran on (non-causal: run it once at
 * the end of a run, or at the deadline with the results so far).
 *
 * Id switches are repaired first: a track that starts where another of its class ended and was heading
 * continues it under its id (`stitchGate`). Frames 0 to the last are answered: the clip's last when its frame count is known and the whole clip
 * was read (`clip.complete`), else the last decoded frame, else the last inferred one; never past
 * `maxFrames`. Inferred frames keep their objects (marked `inferred`). Each track is then filled around
 * its sightings: between two sightings at most `maxGapFrames` apart its box is interpolated corner by
 * corner, linearly in time (score: the lower of the two; class and id: the track's); from a sighting with
 * no other within reach it is carried at constant velocity (its last two sightings') for at most
 * `horizonFrames` frames, never onto the next inferred frame (where the model did not see it), stopping
 * where its centre leaves the picture, the score falling linearly to 0 past the horizon (`extrapolated`).
 * A track lost for longer than the gap is not bridged. Objects without a `trackId` stay on their frame.
 * A filled box that repeats a more trusted one of its class (IoU above `suppressIoU`: an id switch) is
 * dropped, and `select` (e.g. one ball per frame) runs on every frame last.
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
  const settings = settingsFrom(options);
  const ignored: FillStats['ignored'] = {
    duplicateFrames: 0,
    invalidFrames: 0,
    invalidObjects: 0,
    objectsOverCap: 0,
    tracksOverCap: 0,
    framesPastCap: 0,
  };
  const frameCount = isCount(clip.frameCount) && clip.frameCount > 0 ? clip.frameCount : undefined;

  // The inferred frames: valid ones, first of each number, in frame order.
  const byNumber = new Map<number, FillInputFrame>();
  for (const result of Array.isArray(results) ? results : []) {
    const frameNumber = (result as Partial<FillInputFrame> | null)?.frameNumber;
    if (!isCount(frameNumber)) ignored.invalidFrames += 1;
    else if (byNumber.has(frameNumber)) ignored.duplicateFrames += 1;
    else byNumber.set(frameNumber, result);
  }
  const numbers = [...byNumber.keys()].sort((a, b) => a - b);
  const empty = (): FillOutcome => ({
    frames: [],
    reason: 'nothing-inferred',
    stats: {
      framesInClip: frameCount ?? null,
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
  });
  if (numbers.length === 0) return empty();

  // The last frame answered.
  const lastDecoded = isCount(clip.lastDecodedFrame) ? clip.lastDecodedFrame : undefined;
  let lastFrame: number;
  let lastFrameFrom: FillStats['lastFrameFrom'];
  if (frameCount !== undefined && (clip.complete === true || lastDecoded === undefined)) {
    lastFrame = frameCount - 1;
    lastFrameFrom = 'clip';
  } else if (lastDecoded !== undefined) {
    lastFrame = lastDecoded;
    lastFrameFrom = 'decoded';
  } else {
    lastFrame = numbers[numbers.length - 1]!;
    lastFrameFrom = 'inferred';
  }
  // A result past the clip's end means the count was wrong: the result is real, so it is answered.
  lastFrame = Math.max(lastFrame, numbers[numbers.length - 1]!);
  if (lastFrame > settings.maxFrames - 1) {
    ignored.framesPastCap = lastFrame - (settings.maxFrames - 1);
    lastFrame = settings.maxFrames - 1;
  }
  const kept = numbers.filter((frameNumber) => frameNumber <= lastFrame);
  if (kept.length === 0) return empty();

  const keypointCount = Math.min(
    MAX_KEYPOINTS,
    kept.reduce((most, frameNumber) => {
      const points = byNumber.get(frameNumber)!.keypoints;
      return Array.isArray(points) ? Math.max(most, points.length) : most;
    }, 0),
  );
  const hasKeypoints = kept.some((frameNumber) => Array.isArray(byNumber.get(frameNumber)!.keypoints));

  const inferred: Inferred[] = kept.map((frameNumber) => {
    const result = byNumber.get(frameNumber)!;
    const objects: FilledObject[] = [];
    for (const object of Array.isArray(result.objects) ? result.objects : []) {
      if (!validObject(object)) ignored.invalidObjects += 1;
      else objects.push({ ...object, source: 'inferred' });
    }
    if (objects.length > settings.maxObjectsPerFrame) {
      // The best scores, in their order.
      const threshold = [...objects].sort((a, b) => b.score - a.score);
      const keep = new Set(threshold.slice(0, settings.maxObjectsPerFrame));
      ignored.objectsOverCap += objects.length - keep.size;
      objects.splice(0, objects.length, ...objects.filter((object) => keep.has(object)));
    }
    return {
      frameNumber,
      pts: result.pts,
      width: result.width,
      height: result.height,
      objects,
      keypoints: hasKeypoints ? normalisePoints(result.keypoints, keypointCount) : undefined,
    };
  });

  // Timing: the clip's own rate, else the inferred frames', else the fallback.
  const timed = inferred.filter((frame) => Number.isFinite(frame.pts));
  const span = timed.length >= 2 ? timed[timed.length - 1]! : undefined;
  const estimated =
    span && span.pts > timed[0]!.pts
      ? (span.frameNumber - timed[0]!.frameNumber) / (span.pts - timed[0]!.pts)
      : undefined;
  const fps = isRate(clip.fps) ? clip.fps : isRate(estimated) ? estimated : FALLBACK_FPS;
  const frameTime = (frameNumber: number): number | undefined => {
    const time = clip.frameTimes?.[frameNumber];
    return typeof time === 'number' && Number.isFinite(time) ? time : undefined;
  };

  const timeline: FillTimeline = (() => {
    const flags = new Uint8Array(lastFrame + 1);
    for (const frame of inferred) flags[frame.frameNumber] = 1;
    return {
      inferred: inferred.map((frame) => frame.frameNumber),
      isInferred: (frameNumber) => flags[frameNumber] === 1,
      lastFrame,
    };
  })();
  const limits = {
    maxGapFrames: framesLimit(settings.maxGapFrames, settings.maxGapS, fps, DEFAULT_MAX_GAP_FRAMES),
    horizonFrames: framesLimit(settings.horizonFrames, settings.horizonS, fps, DEFAULT_HORIZON_FRAMES),
    bridgeInferred: settings.bridgeInferred,
  };

  // Id switches repaired before anything is filled: a track that continues one that ended takes its id.
  const stitched = (() => {
    const series = new Map<number, StitchSighting[]>();
    for (const frame of inferred) {
      for (const object of frame.objects) {
        if (typeof object.trackId !== 'number' || !Number.isFinite(object.trackId)) continue;
        const sightings = series.get(object.trackId) ?? [];
        if (sightings.length === 0) series.set(object.trackId, sightings);
        sightings.push({ frameNumber: frame.frameNumber, bbox: object.bbox as Box, classId: object.classId });
      }
    }
    if (series.size > settings.maxTracks) return 0;
    const relabel = stitchTracks(series, { maxGapFrames: limits.maxGapFrames, gate: settings.stitchGate });
    if (relabel.size === 0) return 0;
    for (const frame of inferred) {
      frame.objects.forEach((object, index) => {
        const root = object.trackId === undefined ? undefined : relabel.get(object.trackId);
        if (root !== undefined) frame.objects[index] = { ...object, trackId: root };
      });
    }
    return relabel.size;
  })();

  // The answer's frames, each sized and timed from the inferred frame before it (after, before the first).
  const frames: Array<{
    frameNumber: number;
    pts: number;
    width: number;
    height: number;
    source: 'inferred' | 'filled';
    objects: FilledObject[];
    keypoints: Array<[number, number]> | undefined;
  }> = [];
  let next = 0;
  for (let frameNumber = 0; frameNumber <= lastFrame; frameNumber += 1) {
    while (next < inferred.length && inferred[next]!.frameNumber < frameNumber) next += 1;
    const here = inferred[next]?.frameNumber === frameNumber ? inferred[next] : undefined;
    const before = here ?? inferred[next - 1];
    const after = inferred[next];
    const shape = before ?? after!;
    let pts = here && Number.isFinite(here.pts) ? here.pts : frameTime(frameNumber);
    if (pts === undefined) {
      if (
        before &&
        after &&
        Number.isFinite(before.pts) &&
        Number.isFinite(after.pts) &&
        after.pts > before.pts
      ) {
        const t = (frameNumber - before.frameNumber) / (after.frameNumber - before.frameNumber);
        pts = before.pts + (after.pts - before.pts) * t;
      } else if (before && Number.isFinite(before.pts))
        pts = before.pts + (frameNumber - before.frameNumber) / fps;
      else if (after && Number.isFinite(after.pts)) pts = after.pts - (after.frameNumber - frameNumber) / fps;
      else pts = frameNumber / fps;
    }
    frames.push({
      frameNumber,
      pts,
      width: shape.width,
      height: shape.height,
      source: here ? 'inferred' : 'filled',
      objects: here ? here.objects : [],
      keypoints: hasKeypoints
        ? here
          ? here.keypoints!.map(([x, y]) => [x, y])
          : normalisePoints([], keypointCount)
        : undefined,
    });
  }

  // Where in time a frame lies between two others: by the clip's frame times when it has them.
  const fraction = (frameNumber: number, before: number, after: number): number => {
    const [t0, t, t1] = [frameTime(before), frameTime(frameNumber), frameTime(after)];
    if (t0 !== undefined && t !== undefined && t1 !== undefined && t0 < t && t < t1)
      return (t - t0) / (t1 - t0);
    return (frameNumber - before) / (after - before);
  };
  const inPicture = (frame: { width: number; height: number }, x: number, y: number) =>
    !(
      x < 0 ||
      y < 0 ||
      x >= (isRate(frame.width) ? frame.width : Infinity) ||
      y >= (isRate(frame.height) ? frame.height : Infinity)
    );

  // Tracks: each id's sightings, the best-scoring object where one frame repeats an id.
  const tracks = new Map<number, Sighting[]>();
  inferred.forEach((frame, inferredIndex) => {
    for (const object of frame.objects) {
      const trackId = object.trackId;
      if (typeof trackId !== 'number' || !Number.isFinite(trackId)) continue;
      const sightings = tracks.get(trackId) ?? [];
      if (!tracks.has(trackId)) tracks.set(trackId, sightings);
      const last = sightings[sightings.length - 1];
      if (last?.inferredIndex === inferredIndex) {
        if (object.score > last.object.score) last.object = object;
      } else sightings.push({ inferredIndex, object });
    }
  });
  const ranked = [...tracks.entries()].sort(([idA, a], [idB, b]) => b.length - a.length || idA - idB);
  ignored.tracksOverCap = Math.max(0, ranked.length - settings.maxTracks);
  // Tracks seen most often go first, so that the cap keeps them where a frame is full.
  const filled: FilledObject[][] = frames.map(() => []);
  let suppressed = 0;
  const room = (frameNumber: number) => {
    if (frames[frameNumber]!.objects.length + filled[frameNumber]!.length < settings.maxObjectsPerFrame)
      return true;
    ignored.objectsOverCap += 1;
    return false;
  };
  for (const [trackId, sightings] of ranked.slice(0, settings.maxTracks)) {
    const frameOf = (index: number) => inferred[sightings[index]!.inferredIndex]!.frameNumber;
    walkSeries(
      sightings.map((sighting) => sighting.inferredIndex),
      timeline,
      limits,
      (step) => {
        const target = frames[step.frameNumber]!;
        if (step.kind === 'interpolated') {
          if (!room(step.frameNumber)) return;
          const a = sightings[step.before]!.object;
          const b = sightings[step.before + 1]!.object;
          const t = fraction(step.frameNumber, frameOf(step.before), frameOf(step.before + 1));
          const keypoints =
            a.keypoints && b.keypoints && a.keypoints.length === b.keypoints.length
              ? a.keypoints.map(
                  ([x, y, c], index) =>
                    [
                      x + (b.keypoints![index]![0] - x) * t,
                      y + (b.keypoints![index]![1] - y) * t,
                      Math.min(c, b.keypoints![index]![2]),
                    ] as const,
                )
              : undefined;
          filled[step.frameNumber]!.push({
            bbox: lerpBox(a.bbox, b.bbox, t),
            classId: a.classId,
            className: a.className,
            score: Math.min(a.score, b.score),
            trackId,
            source: 'interpolated',
            ...(keypoints ? { keypoints } : {}),
          });
          return;
        }
        const anchor = sightings[step.anchor]!.object;
        const neighbour = step.neighbour === undefined ? undefined : sightings[step.neighbour]!.object;
        const box = carryBox(
          anchor.bbox as Box,
          frameOf(step.anchor),
          neighbour?.bbox as Box | undefined,
          step.neighbour === undefined ? 0 : frameOf(step.neighbour),
          step.steps,
        );
        if (!inPicture(target, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2)) return false;
        if (!room(step.frameNumber)) return;
        const clipX = (x: number) => (isRate(target.width) ? Math.min(Math.max(x, 0), target.width) : x);
        const clipY = (y: number) => (isRate(target.height) ? Math.min(Math.max(y, 0), target.height) : y);
        filled[step.frameNumber]!.push({
          bbox: [clipX(box[0]), clipY(box[1]), clipX(box[2]), clipY(box[3])],
          classId: anchor.classId,
          className: anchor.className,
          score: anchor.score * (1 - Math.abs(step.steps) / (limits.horizonFrames + 1)),
          trackId,
          source: 'extrapolated',
        });
        return;
      },
    );
  }
  // Per frame: inferred objects first, then the filled ones that do not repeat a more trusted object of
  // their class (an id switch: the old track carried forward over the new one carried back), by id.
  frames.forEach((frame, frameNumber) => {
    const extra = filled[frameNumber]!;
    if (extra.length === 0) return;
    extra.sort((a, b) => rank(a) - rank(b) || b.score - a.score || (a.trackId ?? 0) - (b.trackId ?? 0));
    const kept = [...frame.objects];
    const added: FilledObject[] = [];
    for (const object of extra) {
      const repeats = kept.some(
        (other) => other.classId === object.classId && iou(other.bbox, object.bbox) > settings.suppressIoU,
      );
      if (repeats) {
        suppressed += 1;
        continue;
      }
      kept.push(object);
      added.push(object);
    }
    added.sort((a, b) => (a.trackId ?? 0) - (b.trackId ?? 0));
    frame.objects = [...frame.objects, ...added];
  });

  // Keypoints, point by point: the inferred frames that saw each point are its sightings.
  const keypointSource: Array<Uint8Array> | undefined = hasKeypoints ? [] : undefined;
  for (let point = 0; point < keypointCount && hasKeypoints; point += 1) {
    const sightings: number[] = [];
    inferred.forEach((frame, index) => {
      if (isSeen(frame.keypoints![point]!)) sightings.push(index);
    });
    const at = (index: number) => inferred[sightings[index]!]!;
    walkSeries(sightings, timeline, limits, (step) => {
      const target = frames[step.frameNumber]!;
      let value: [number, number];
      if (step.kind === 'interpolated') {
        const a = at(step.before);
        const b = at(step.before + 1);
        const t = fraction(step.frameNumber, a.frameNumber, b.frameNumber);
        const [pa, pb] = [a.keypoints![point]!, b.keypoints![point]!];
        value = [pa[0] + (pb[0] - pa[0]) * t, pa[1] + (pb[1] - pa[1]) * t];
      } else {
        const anchor = at(step.anchor);
        const neighbour = step.neighbour === undefined ? undefined : at(step.neighbour);
        value = carryPoint(
          anchor.keypoints![point]!,
          anchor.frameNumber,
          neighbour?.keypoints![point],
          neighbour?.frameNumber ?? 0,
          step.steps,
        );
        if (!inPicture(target, value[0], value[1])) return false;
      }
      // A filled point that lands on exactly [0, 0] would read as unseen; a hundredth of a pixel keeps it.
      if (!isSeen(value)) value = [0.01, 0.01];
      target.keypoints![point] = value;
      (keypointSource![step.frameNumber] ??= new Uint8Array(keypointCount))[point] =
        step.kind === 'interpolated' ? 1 : 2;
      return;
    });
  }

  // The caller's selection, then the counts.
  const objectCounts = zeroCounts();
  const keypointCounts = zeroCounts();
  let framesWithObjects = 0;
  const out: FilledFrame[] = frames.map((frame, frameNumber) => {
    const objects = settings.select ? settings.select(frame.objects) : frame.objects;
    for (const object of objects) objectCounts[object.source] += 1;
    if (objects.length > 0) framesWithObjects += 1;
    if (frame.keypoints) {
      const sources = keypointSource?.[frameNumber];
      frame.keypoints.forEach((point, index) => {
        if (!isSeen(point)) return;
        const made = sources?.[index];
        keypointCounts[made === 1 ? 'interpolated' : made === 2 ? 'extrapolated' : 'inferred'] += 1;
      });
    }
    return {
      frameNumber,
      pts: frame.pts,
      width: frame.width,
      height: frame.height,
      source: frame.source,
      objects,
      ...(frame.keypoints ? { keypoints: frame.keypoints } : {}),
    };
  });
  return {
    frames: out,
    stats: {
      framesInClip: frameCount ?? null,
      framesAnswered: out.length,
      framesInferred: inferred.length,
      framesFilled: out.length - inferred.length,
      framesWithObjects,
      lastFrameFrom,
      objects: objectCounts,
      tracksStitched: stitched,
      objectsSuppressed: suppressed,
      keypoints: keypointCounts,
      ignored,
    },
  };
}
