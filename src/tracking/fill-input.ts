import type { Detection } from '../inference/yolo.js';
import type { ClipInfo, FillInputFrame, FillStats, FilledObject } from './fill.js';

/*
 * The fill's input, made safe: the inferred frames it can use (valid frame numbers, the first result of
 * each, valid objects within the cap, keypoints of one length) and the last frame to answer.
 */

export const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0;
export const isRate = (value: unknown): value is number =>
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
export const isSeen = (point: readonly [number, number]) => point[0] !== 0 || point[1] !== 0;

/** Points as exactly `count` finite [x, y] pairs; anything else is unseen. */
export function normalisePoints(points: unknown, count: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let index = 0; index < count; index += 1) {
    const point = Array.isArray(points) ? (points[index] as unknown) : undefined;
    const x = Array.isArray(point) ? (point[0] as unknown) : undefined;
    const y = Array.isArray(point) ? (point[1] as unknown) : undefined;
    out.push(typeof x === 'number' && typeof y === 'number' && Number.isFinite(x + y) ? [x, y] : UNSEEN());
  }
  return out;
}

/**
 * The answer's copy of a detection: its own fields only, in one shape (a spread of each object costs
 * five times as much, which shows with hundreds of thousands of them).
 */
function inferredObject(object: Detection & { trackId?: number }): FilledObject {
  const { bbox, classId, score, trackId, keypoints } = object;
  const className = typeof object.className === 'string' ? object.className : String(classId);
  if (keypoints === undefined) {
    return trackId === undefined
      ? { bbox, classId, className, score, source: 'inferred' }
      : { bbox, classId, className, score, trackId, source: 'inferred' };
  }
  return trackId === undefined
    ? { bbox, classId, className, score, keypoints, source: 'inferred' }
    : { bbox, classId, className, score, trackId, keypoints, source: 'inferred' };
}

/** An inferred frame as the fill uses it. */
export interface Inferred {
  readonly frameNumber: number;
  readonly pts: number;
  readonly width: number;
  readonly height: number;
  /** Valid objects marked `inferred`; track ids may be rewritten (id switches repaired). */
  readonly objects: FilledObject[];
  /** Exactly `keypointCount` points when any inferred frame had keypoints. */
  readonly keypoints: Array<[number, number]> | undefined;
}

export interface FillInput {
  /** In frame order, none past `lastFrame`. */
  readonly inferred: Inferred[];
  readonly lastFrame: number;
  readonly lastFrameFrom: NonNullable<FillStats['lastFrameFrom']>;
  readonly keypointCount: number;
  readonly hasKeypoints: boolean;
}

/** Keypoints per frame read at most (the pitch model has 32). */
const MAX_KEYPOINTS = 256;

/**
 * The usable inferred frames and the last frame to answer: the clip's last when its frame count is known
 * and the whole clip was read, else the last decoded frame, else the last inferred one; never before the
 * last inferred frame, never past `maxFrames`. Undefined when no inferred frame is usable. What it leaves
 * out is counted in `ignored`.
 */
export function readInferred(
  results: unknown,
  clip: ClipInfo,
  caps: { readonly maxObjectsPerFrame: number; readonly maxFrames: number },
  ignored: FillStats['ignored'],
): FillInput | undefined {
  // The inferred frames: valid ones, first of each number, in frame order.
  const byNumber = new Map<number, FillInputFrame>();
  for (const result of (Array.isArray(results) ? results : []) as FillInputFrame[]) {
    const frameNumber = (result as Partial<FillInputFrame> | null)?.frameNumber;
    if (!isCount(frameNumber)) ignored.invalidFrames += 1;
    else if (byNumber.has(frameNumber)) ignored.duplicateFrames += 1;
    else byNumber.set(frameNumber, result);
  }
  const numbers = [...byNumber.keys()].sort((a, b) => a - b);
  if (numbers.length === 0) return undefined;

  // The last frame answered.
  const frameCount = isCount(clip.frameCount) && clip.frameCount > 0 ? clip.frameCount : undefined;
  const lastDecoded = isCount(clip.lastDecodedFrame) ? clip.lastDecodedFrame : undefined;
  let lastFrame: number;
  let lastFrameFrom: FillInput['lastFrameFrom'];
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
  if (lastFrame > caps.maxFrames - 1) {
    ignored.framesPastCap = lastFrame - (caps.maxFrames - 1);
    lastFrame = caps.maxFrames - 1;
  }
  const kept = numbers.filter((frameNumber) => frameNumber <= lastFrame);
  if (kept.length === 0) return undefined;

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
      else objects.push(inferredObject(object));
    }
    if (objects.length > caps.maxObjectsPerFrame) {
      // The best scores, in their order.
      const threshold = [...objects].sort((a, b) => b.score - a.score);
      const keep = new Set(threshold.slice(0, caps.maxObjectsPerFrame));
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

  return { inferred, lastFrame, lastFrameFrom, keypointCount, hasKeypoints };
}
