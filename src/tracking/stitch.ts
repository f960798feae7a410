import { carryBox, type Box } from './interpolate.js';

/** One sighting of a track, as the stitcher reads it. */
export interface StitchSighting {
  readonly frameNumber: number;
  readonly bbox: Box;
  readonly classId: number;
}

export interface StitchOptions {
  /** A track may continue one that ended at most this many frames before it started. */
  readonly maxGapFrames: number;
  /**
   * How far (its centre from where the other track's motion puts it, both ways, over the boxes' mean
   * height) a track's first box may be from the ended one's to continue it; 0 stitches nothing.
   */
  readonly gate: number;
}

const centre = (box: Box): [number, number] => [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2];

/** Where a track's motion (its two sightings nearest that end, if close enough) puts it at `frameNumber`. */
function predictFrom(
  sightings: readonly StitchSighting[],
  end: 'first' | 'last',
  frameNumber: number,
  maxGapFrames: number,
): [number, number] {
  const index = end === 'last' ? sightings.length - 1 : 0;
  const anchor = sightings[index]!;
  const other = sightings[end === 'last' ? index - 1 : index + 1];
  const near = other && Math.abs(other.frameNumber - anchor.frameNumber) <= maxGapFrames ? other : undefined;
  return centre(
    carryBox(
      anchor.bbox,
      anchor.frameNumber,
      near?.bbox,
      near?.frameNumber ?? 0,
      frameNumber - anchor.frameNumber,
    ),
  );
}

/**
 * Offline repair of id switches: a track that starts where (and soon after) another of its class ended is
 * the same object under a new id when the tracker lost it (a fast turn, a stride too long for its IoU
 * gate). Each ended track is continued by at most one later track, the closest first (greedy on the
 * distance), and only within `gate`: the new track's first centre from the old one's constant-velocity
 * prediction, and the old track's last centre from the new one's prediction backward, averaged and
 * divided by the boxes' mean height. Boxes whose heights differ by more than twice are never joined.
 *
 * ```text
 * track 4:  x-x-x-x                (ends at frame 6)
 * track 9:            x-x-x-x      (starts at frame 10, where track 4 was heading)
 * stitchTracks()  →  Map { 9 → 4 }
 * ```
 *
 * Time and memory O(tracks²) at worst (pairs of one class that do not overlap in time); callers bound
 * the number of tracks.
 *
 * @param tracks each track's sightings, in frame order
 * @returns the id each continuing track takes (its chain's first id); ids not in it keep their own
 */
export function stitchTracks(
  tracks: ReadonlyMap<number, readonly StitchSighting[]>,
  options: StitchOptions,
): Map<number, number> {
  const relabel = new Map<number, number>();
  if (!(options.gate > 0)) return relabel;
  const list = [...tracks.entries()].filter(([, sightings]) => sightings.length > 0);
  const pairs: Array<{ before: number; after: number; cost: number }> = [];
  for (const [beforeId, before] of list) {
    const last = before[before.length - 1]!;
    for (const [afterId, after] of list) {
      const first = after[0]!;
      const gap = first.frameNumber - last.frameNumber;
      if (afterId === beforeId || first.classId !== last.classId || gap <= 0 || gap > options.maxGapFrames)
        continue;
      const heightBefore = last.bbox[3] - last.bbox[1];
      const heightAfter = first.bbox[3] - first.bbox[1];
      if (
        !(heightBefore > 0 && heightAfter > 0) ||
        heightBefore > 2 * heightAfter ||
        heightAfter > 2 * heightBefore
      ) {
        continue;
      }
      const forward = predictFrom(before, 'last', first.frameNumber, options.maxGapFrames);
      const backward = predictFrom(after, 'first', last.frameNumber, options.maxGapFrames);
      const [firstX, firstY] = centre(first.bbox);
      const [lastX, lastY] = centre(last.bbox);
      const distance =
        (Math.hypot(forward[0] - firstX, forward[1] - firstY) +
          Math.hypot(backward[0] - lastX, backward[1] - lastY)) /
        2;
      const cost = distance / ((heightBefore + heightAfter) / 2);
      if (cost <= options.gate) pairs.push({ before: beforeId, after: afterId, cost });
    }
  }
  pairs.sort((p, q) => p.cost - q.cost || p.before - q.before || p.after - q.after);
  const continued = new Set<number>();
  for (const pair of pairs) {
    if (continued.has(pair.before) || relabel.has(pair.after)) continue;
    continued.add(pair.before);
    relabel.set(pair.after, pair.before);
  }
  // Each chain takes its first id.
  const rootOf = (id: number): number => {
    let root = id;
    for (let parent = relabel.get(root); parent !== undefined; parent = relabel.get(root)) root = parent;
    return root;
  };
  for (const id of [...relabel.keys()]) relabel.set(id, rootOf(id));
  return relabel;
}
