import type { FillSource, FillStats, FilledObject } from './fill.js';
import type { FillContext } from './fill-frames.js';
import type { Inferred } from './fill-input.js';
import { carryBox, lerpBox, walkSeries, type Box } from './interpolate.js';
import { stitchTracks, type StitchSighting } from './stitch.js';

const RANK: Record<FillSource, number> = { inferred: 0, interpolated: 1, extrapolated: 2 };
const rank = (object: FilledObject) => RANK[object.source];

function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!);
  const h = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!);
  if (!(w > 0 && h > 0)) return 0;
  const inter = w * h;
  return inter / ((a[2]! - a[0]!) * (a[3]! - a[1]!) + (b[2]! - b[0]!) * (b[3]! - b[1]!) - inter);
}

const hasTrack = (object: FilledObject): object is FilledObject & { trackId: number } =>
  typeof object.trackId === 'number' && Number.isFinite(object.trackId);

/**
 * Repairs id switches before anything is filled (see `stitchTracks`): the inferred objects of a track that
 * continues an earlier one take its id. Skipped with more than `maxTracks` tracks.
 *
 * @returns how many tracks took another's id
 */
export function repairIdSwitches(
  inferred: readonly Inferred[],
  options: { readonly maxGapFrames: number; readonly gate: number; readonly maxTracks: number },
): number {
  const series = new Map<number, StitchSighting[]>();
  for (const frame of inferred) {
    for (const object of frame.objects) {
      if (!hasTrack(object)) continue;
      const sightings = series.get(object.trackId) ?? [];
      if (sightings.length === 0) {
        // Too many tracks to pair up (a hostile input): leave the ids as they are.
        if (series.size === options.maxTracks) return 0;
        series.set(object.trackId, sightings);
      }
      sightings.push({ frameNumber: frame.frameNumber, bbox: object.bbox as Box, classId: object.classId });
    }
  }
  const relabel = stitchTracks(series, options);
  if (relabel.size === 0) return 0;
  for (const frame of inferred) {
    frame.objects.forEach((object, index) => {
      const root = object.trackId === undefined ? undefined : relabel.get(object.trackId);
      if (root !== undefined) frame.objects[index] = { ...object, trackId: root };
    });
  }
  return relabel.size;
}

interface Sighting {
  readonly inferredIndex: number;
  object: FilledObject;
}

export interface TrackFillOptions {
  readonly maxObjectsPerFrame: number;
  readonly maxTracks: number;
  readonly suppressIoU: number;
}

/**
 * Fills every track around its sightings (see `walkSeries`): boxes interpolated corner by corner between
 * two sightings (score the lower, class and id the track's, per-object keypoints point by point when both
 * have as many), carried at constant velocity from one (score falling linearly to 0 past the horizon,
 * box clipped to the picture, stopping where its centre leaves it). Tracks seen most often go first, so
 * that the per-frame cap keeps them; a filled box that repeats a more trusted object of its class in its
 * frame (IoU above `suppressIoU`) is dropped. Writes into `context.frames`: inferred objects first, then
 * the filled ones by id.
 *
 * @returns how many filled boxes were dropped as repeats
 */
export function fillTracks(
  context: FillContext,
  options: TrackFillOptions,
  ignored: FillStats['ignored'],
): number {
  const { inferred, frames, timeline, limits } = context;
  // The tracks filled: those seen most often, then the lowest ids. Counted first, so that a hostile input
  // with a fresh id for every object costs a count per object, not a track each.
  const seen = new Map<number, number>();
  for (const frame of inferred) {
    for (const object of frame.objects)
      if (hasTrack(object)) seen.set(object.trackId, (seen.get(object.trackId) ?? 0) + 1);
  }
  let chosen: Set<number> | undefined;
  if (seen.size > options.maxTracks) {
    const ranking = [...seen.entries()].sort(([idA, a], [idB, b]) => b - a || idA - idB);
    chosen = new Set(ranking.slice(0, options.maxTracks).map(([trackId]) => trackId));
  }
  ignored.tracksOverCap = Math.max(0, seen.size - options.maxTracks);
  // Each id's sightings; where one frame repeats an id, the better-scoring object.
  const tracks = new Map<number, Sighting[]>();
  inferred.forEach((frame, inferredIndex) => {
    for (const object of frame.objects) {
      if (!hasTrack(object) || (chosen && !chosen.has(object.trackId))) continue;
      const sightings = tracks.get(object.trackId) ?? [];
      if (sightings.length === 0) tracks.set(object.trackId, sightings);
      const last = sightings[sightings.length - 1];
      if (last?.inferredIndex === inferredIndex) {
        if (object.score > last.object.score) last.object = object;
      } else sightings.push({ inferredIndex, object });
    }
  });
  const ranked = [...tracks.entries()].sort(([idA, a], [idB, b]) => b.length - a.length || idA - idB);

  const filled: FilledObject[][] = frames.map(() => []);
  const room = (frameNumber: number) => {
    if (frames[frameNumber]!.objects.length + filled[frameNumber]!.length < options.maxObjectsPerFrame)
      return true;
    ignored.objectsOverCap += 1;
    return false;
  };
  for (const [trackId, sightings] of ranked) {
    const frameOf = (index: number) => inferred[sightings[index]!.inferredIndex]!.frameNumber;
    walkSeries(
      sightings.map((sighting) => sighting.inferredIndex),
      timeline,
      limits,
      (step) => {
        const target = frames[step.frameNumber]!;
        if (step.kind === 'interpolated') {
          if (!room(step.frameNumber)) return true;
          const a = sightings[step.before]!.object;
          const b = sightings[step.before + 1]!.object;
          const t = context.fraction(step.frameNumber, frameOf(step.before), frameOf(step.before + 1));
          const keypoints =
            a.keypoints && b.keypoints && a.keypoints.length === b.keypoints.length
              ? a.keypoints.map(([x, y, c], index) => {
                  const [xb, yb, cb] = b.keypoints![index]!;
                  return [x + (xb - x) * t, y + (yb - y) * t, Math.min(c, cb)] as const;
                })
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
          return true;
        }
        const anchor = sightings[step.anchor]!.object;
        const neighbour = step.neighbour === undefined ? undefined : sightings[step.neighbour]!.object;
        const box = carryBox(
          anchor.bbox,
          frameOf(step.anchor),
          neighbour?.bbox,
          step.neighbour === undefined ? 0 : frameOf(step.neighbour),
          step.steps,
        );
        if (!context.inPicture(target, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2)) return false;
        if (!room(step.frameNumber)) return true;
        const clip = (value: number, size: number) => (size > 0 ? Math.min(Math.max(value, 0), size) : value);
        filled[step.frameNumber]!.push({
          bbox: [
            clip(box[0], target.width),
            clip(box[1], target.height),
            clip(box[2], target.width),
            clip(box[3], target.height),
          ],
          classId: anchor.classId,
          className: anchor.className,
          score: anchor.score * (1 - Math.abs(step.steps) / (limits.horizonFrames + 1)),
          trackId,
          source: 'extrapolated',
        });
        return true;
      },
    );
  }

  // Per frame: a filled box over a more trusted one of its class is the same object under two ids (the
  // old track carried forward over the new one carried back).
  let suppressed = 0;
  frames.forEach((frame, frameNumber) => {
    const extra = filled[frameNumber]!;
    if (extra.length === 0) return;
    extra.sort((a, b) => rank(a) - rank(b) || b.score - a.score || (a.trackId ?? 0) - (b.trackId ?? 0));
    const kept = [...frame.objects];
    const added: FilledObject[] = [];
    for (const object of extra) {
      const repeats = kept.some(
        (other) => other.classId === object.classId && iou(other.bbox, object.bbox) > options.suppressIoU,
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
  return suppressed;
}
