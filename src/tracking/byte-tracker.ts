/**
 * ByteTrack (Zhang et al., "ByteTrack: Multi-Object Tracking by Associating Every Detection Box", ECCV 2022)
 * over plain boxes, one frame at a time. The RxJS operator around it is `track` (src/operators/track.ts).
 *
 * The idea of the paper: low-score detections are mostly real objects that are occluded or blurred, not
 * noise. Tracks are first matched to the confident detections; the tracks still unmatched then get a second
 * chance with the low-score ones, which keeps an id through a frame where a player is half hidden, without
 * ever starting a track from a low-score box.
 */

import { assignWithLimit } from './assignment.js';
import { initiate, predict, toBox, toMeasurement, update, type BoxState } from './kalman.js';

export interface ByteTrackerSettings {
  readonly highThreshold: number;
  readonly lowThreshold: number;
  readonly newTrackThreshold: number;
  readonly matchThreshold: number;
  readonly lowMatchThreshold: number;
  readonly unconfirmedMatchThreshold: number;
  /** Source frames a lost track is kept. */
  readonly trackBuffer: number;
  /**
   * Per class: how much both boxes grow on every side, as a fraction of their width and height, before the
   * IoU of an association is taken (0: plain IoU).
   */
  readonly matchBuffer: (classId: number) => number;
}

/** A detection as the tracker sees it. */
export interface TrackerInput {
  readonly bbox: readonly [number, number, number, number];
  readonly classId: number;
  readonly score: number;
}

/** What one frame did. */
export interface TrackerStep {
  /** Per input detection, in input order: its track's id, or undefined when it belongs to no track. */
  readonly trackIds: ReadonlyArray<number | undefined>;
  /** Tracks followed in this frame (matched or just born), unconfirmed ones included. */
  readonly active: number;
  /** Tracks not seen in this frame that may still come back. */
  readonly lost: number;
  /** Tracks born in this frame. */
  readonly born: number;
  /** Tracks given up in this frame (lost too long, unconfirmed and unmatched, duplicates). */
  readonly removed: number;
}

export interface ByteTracker {
  /** Advances to `frameNumber` and associates its detections. */
  step(frameNumber: number, detections: readonly TrackerInput[]): TrackerStep;
  /** An id no track has or will have, for objects outside any track. */
  freshId(): number;
}

interface Track {
  readonly id: number;
  readonly classId: number;
  state: BoxState;
  lost: boolean;
  /** Unconfirmed tracks (one sighting) are dropped as soon as they miss a frame. */
  confirmed: boolean;
  readonly startFrame: number;
  /** The last frame a detection updated this track. */
  lastSeen: number;
}

/** Two boxes closer than this IoU distance in the tracked and lost lists are one object seen twice. */
const DUPLICATE_DISTANCE = 0.15;
/**
 * Predicting is frame by frame; a jump longer than this (a seek, a broken frame number) predicts this far
 * only. Lost tracks are gone long before; a followed track's constant-velocity guess is meaningless anyway.
 */
const MAX_PREDICT_FRAMES = 1000;

function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!);
  const h = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!);
  if (!(w > 0 && h > 0)) return 0;
  const inter = w * h;
  const union = (a[2]! - a[0]!) * (a[3]! - a[1]!) + (b[2]! - b[0]!) * (b[3]! - b[1]!) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * The box grown by `buffer` of its size on every side: the buffered IoU of C-BIoU (Yang et al., WACV 2023),
 * which lets a small fast object (the ball moves more than its own width per frame) overlap its prediction.
 */
function buffered(box: readonly number[], buffer: number): readonly number[] {
  if (buffer === 0) return box;
  const dx = (box[2]! - box[0]!) * buffer;
  const dy = (box[3]! - box[1]!) * buffer;
  return [box[0]! - dx, box[1]! - dy, box[2]! + dx, box[3]! + dy];
}

/** Tracks × detections, 1 − IoU; a track never takes a detection of another class (ball vs player). */
function iouDistance(
  tracks: readonly Track[],
  detections: readonly TrackerInput[],
  matchBuffer: (classId: number) => number,
): { cost: Float64Array[]; columns: number } {
  const cost = tracks.map((track) => {
    const buffer = matchBuffer(track.classId);
    const box = buffered(toBox(track.state), buffer);
    return Float64Array.from(detections, (detection) =>
      detection.classId === track.classId ? 1 - iou(box, buffered(detection.bbox, buffer)) : Infinity,
    );
  });
  return { cost, columns: detections.length };
}

function usable(detection: TrackerInput): boolean {
  const [x1, y1, x2, y2] = detection.bbox;
  return Number.isFinite(x1 + y1 + x2 + y2 + detection.score) && x2 > x1 && y2 > y1;
}

/**
 * A fresh tracker; all state (tracks, the id counter, the frame clock) lives in the returned object.
 *
 * Ids start at 1 and are never reused. The first frame's confident detections become confirmed tracks at
 * once; later births are unconfirmed until a second sighting in the next frame (ByteTrack's rule).
 */
export function createByteTracker(settings: ByteTrackerSettings): ByteTracker {
  let tracked: Track[] = [];
  let lost: Track[] = [];
  let nextId = 1;
  let clock: number | undefined;

  const freshId = () => nextId++;

  const step = (frameNumber: number, detections: readonly TrackerInput[]): TrackerStep => {
    const first = clock === undefined;
    // A repeated or backwards frame number (not something decode emits) counts as the next frame, so that
    // ages stay monotonic.
    const gap = clock === undefined ? 0 : frameNumber > clock ? frameNumber - clock : 1;
    const now = (clock = clock === undefined ? frameNumber : clock + gap);
    const frames = Math.min(gap, MAX_PREDICT_FRAMES);

    // Expiry is checked before matching (ByteTrack checks after, which lets a track back one frame late,
    // and a whole stride late on strided input): a track is never revived after `trackBuffer` frames.
    const kept = lost.filter((track) => now - track.lastSeen <= settings.trackBuffer);
    let removed = lost.length - kept.length;
    lost = kept;
    for (const track of lost) {
      // As ByteTrack: a lost track keeps drifting with its last speed but stops growing or shrinking.
      const mean = track.state.mean.slice();
      mean[7] = 0;
      track.state = predict({ mean, covariance: track.state.covariance }, frames);
    }
    for (const track of tracked) track.state = predict(track.state, frames);

    const trackIds: Array<number | undefined> = new Array(detections.length).fill(undefined);
    const high: number[] = [];
    const low: number[] = [];
    detections.forEach((detection, index) => {
      if (!usable(detection)) return;
      if (detection.score >= settings.highThreshold) high.push(index);
      else if (detection.score >= settings.lowThreshold) low.push(index);
    });
    const pick = (indexes: readonly number[]) => indexes.map((index) => detections[index]!);
    const take = (track: Track, index: number) => {
      track.state = update(track.state, toMeasurement(detections[index]!.bbox));
      track.lost = false;
      track.lastSeen = now;
      trackIds[index] = track.id;
    };

    // 1. Confirmed tracks, followed or lost, with the confident detections.
    const pool = [...tracked.filter((track) => track.confirmed), ...lost];
    const unconfirmed = tracked.filter((track) => !track.confirmed);
    const firstPass = iouDistance(pool, pick(high), settings.matchBuffer);
    const firstAssignment = assignWithLimit(firstPass.cost, firstPass.columns, settings.matchThreshold);
    for (const [row, column] of firstAssignment.matches) take(pool[row]!, high[column]!);
    const highLeft = firstAssignment.unmatchedColumns.map((column) => high[column]!);

    // 2. Followed tracks still unmatched with the low-score detections: a lost track is not revived by a
    // low-score box, which is as likely background as the object.
    const stillFollowed = firstAssignment.unmatchedRows
      .map((row) => pool[row]!)
      .filter((track) => !track.lost);
    const secondPass = iouDistance(stillFollowed, pick(low), settings.matchBuffer);
    const secondAssignment = assignWithLimit(secondPass.cost, secondPass.columns, settings.lowMatchThreshold);
    for (const [row, column] of secondAssignment.matches) take(stillFollowed[row]!, low[column]!);
    for (const row of secondAssignment.unmatchedRows) stillFollowed[row]!.lost = true;

    // 3. Tracks born in the previous frame with the confident detections nobody took.
    const thirdPass = iouDistance(unconfirmed, pick(highLeft), settings.matchBuffer);
    const thirdAssignment = assignWithLimit(
      thirdPass.cost,
      thirdPass.columns,
      settings.unconfirmedMatchThreshold,
    );
    for (const [row, column] of thirdAssignment.matches) {
      take(unconfirmed[row]!, highLeft[column]!);
      unconfirmed[row]!.confirmed = true;
    }
    removed += thirdAssignment.unmatchedRows.length;
    const confirmedNow = new Set(thirdAssignment.matches.map(([row]) => unconfirmed[row]!));

    // 4. Births from the confident detections left over.
    const born: Track[] = [];
    for (const column of thirdAssignment.unmatchedColumns) {
      const index = highLeft[column]!;
      const detection = detections[index]!;
      if (detection.score < settings.newTrackThreshold) continue;
      const track: Track = {
        id: freshId(),
        classId: detection.classId,
        state: initiate(toMeasurement(detection.bbox)),
        lost: false,
        confirmed: first,
        startFrame: now,
        lastSeen: now,
      };
      trackIds[index] = track.id;
      born.push(track);
    }

    // 5. Book-keeping; a track that went unseen across a gap longer than the buffer is given up at once.
    const all = [...pool, ...confirmedNow, ...born];
    let nowTracked = all.filter((track) => !track.lost);
    let nowLost = all.filter((track) => track.lost && now - track.lastSeen <= settings.trackBuffer);
    removed += all.length - nowTracked.length - nowLost.length;

    // A followed and a lost track on the same spot are one object: keep the one with the longer history.
    const duplicates = new Set<Track>();
    for (const a of nowTracked) {
      const boxA = toBox(a.state);
      for (const b of nowLost) {
        if (a.classId !== b.classId || 1 - iou(boxA, toBox(b.state)) >= DUPLICATE_DISTANCE) continue;
        duplicates.add(a.lastSeen - a.startFrame > b.lastSeen - b.startFrame ? b : a);
      }
    }
    if (duplicates.size > 0) {
      nowTracked = nowTracked.filter((track) => !duplicates.has(track));
      nowLost = nowLost.filter((track) => !duplicates.has(track));
      removed += duplicates.size;
    }
    tracked = nowTracked;
    lost = nowLost;
    return { trackIds, active: tracked.length, lost: lost.length, born: born.length, removed };
  };

  return { step, freshId };
}
