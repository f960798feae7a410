/**
 * The frames one series (a track, or one pitch keypoint) is filled on, and how: the plan the fill stage
 * follows for every series, whatever its values are. Pure functions, no allocation per frame.
 */

/** How far a series is filled around its sightings, in frames. */
export interface SeriesLimits {
  /** Two consecutive sightings at most this many frames apart are joined by interpolation. */
  readonly maxGapFrames: number;
  /** A series seen on one side only is carried at most this many frames beyond its sighting. */
  readonly horizonFrames: number;
  /**
   * Whether an inferred frame where the series was not seen gets an interpolated value when the series
   * is seen on both sides of it within `maxGapFrames` (a missed detection between two sightings).
   */
  readonly bridgeInferred: boolean;
}

/** The inferred frames of the run, ascending, and the last frame to fill. */
export interface FillTimeline {
  readonly inferred: readonly number[];
  readonly isInferred: (frameNumber: number) => boolean;
  readonly lastFrame: number;
}

/** One frame of a series to fill: between two sightings, or carried from one. */
export type SeriesStep =
  | {
      readonly kind: 'interpolated';
      readonly frameNumber: number;
      /** Index (in the series) of the sighting before; the one after is `before + 1`. */
      readonly before: number;
    }
  | {
      readonly kind: 'extrapolated';
      readonly frameNumber: number;
      /** Index of the sighting it is carried from. */
      readonly anchor: number;
      /** Index of the sighting the motion is estimated with, when there is one close enough. */
      readonly neighbour: number | undefined;
      /** Frames from the anchor: positive forward, negative backward. */
      readonly steps: number;
    };

/**
 * Walks the frames a series fills: every frame between two sightings at most `maxGapFrames` apart
 * (interpolated), and from each end of a run of such sightings at most `horizonFrames` frames outward
 * (extrapolated), never onto or past the next inferred frame (the model looked there and did not see
 * the series), never past frame 0 or `lastFrame`. Where a gap is too long, each side is carried toward
 * the other, no further than its middle, so one series never has two values in a frame.
 *
 * `visit` returns false to stop carrying in that direction (e.g. the object left the picture).
 *
 * ```text
 * inferred:   0    5    10   15   20   25   30   (stride 5)
 * sightings:  x    x    x              x    x    (maxGapFrames 10, horizonFrames 3)
 * filled:     iiiiiiiiii eee         eee iiiii eee
 * ```
 *
 * @param sightings indices into `timeline.inferred`, strictly ascending
 */
export function walkSeries(
  sightings: readonly number[],
  timeline: FillTimeline,
  limits: SeriesLimits,
  visit: (step: SeriesStep) => boolean | void,
): void {
  const { inferred, isInferred, lastFrame } = timeline;
  const count = sightings.length;
  if (count === 0) return;
  const frameOf = (index: number) => inferred[sightings[index]!]!;

  const carry = (anchor: number, direction: 1 | -1, bound: number) => {
    const from = frameOf(anchor);
    const other = anchor - direction;
    const neighbour =
      other >= 0 && other < count && Math.abs(frameOf(other) - from) <= limits.maxGapFrames
        ? other
        : undefined;
    const end =
      direction > 0
        ? Math.min(bound, from + limits.horizonFrames)
        : Math.max(bound, from - limits.horizonFrames);
    for (
      let frameNumber = from + direction;
      direction > 0 ? frameNumber <= end : frameNumber >= end;
      frameNumber += direction
    ) {
      const step = {
        kind: 'extrapolated',
        frameNumber,
        anchor,
        neighbour,
        steps: frameNumber - from,
      } as const;
      if (visit(step) === false) return;
    }
  };
  // The inferred frame next to a sighting's, on either side.
  const inferredBeside = (index: number, direction: 1 | -1): number | undefined =>
    inferred[sightings[index]! + direction];

  carry(0, -1, (inferredBeside(0, -1) ?? -1) + 1);
  for (let index = 0; index + 1 < count; index += 1) {
    const before = frameOf(index);
    const after = frameOf(index + 1);
    const gap = after - before;
    if (gap <= limits.maxGapFrames) {
      for (let frameNumber = before + 1; frameNumber < after; frameNumber += 1) {
        if (!limits.bridgeInferred && isInferred(frameNumber)) continue;
        visit({ kind: 'interpolated', frameNumber, before: index });
      }
      continue;
    }
    const middle = before + Math.floor(gap / 2);
    carry(index, 1, Math.min(middle, inferredBeside(index, 1)! - 1));
    carry(index + 1, -1, Math.max(middle + 1, inferredBeside(index + 1, -1)! + 1));
  }
  carry(count - 1, 1, (inferredBeside(count - 1, 1) ?? lastFrame + 1) - 1);
}

/** x1, y1, x2, y2. */
export type Box = readonly [number, number, number, number];

/** The box a fraction `t` of the way from `a` to `b`, corner by corner. */
export function lerpBox(a: Box, b: Box, t: number): [number, number, number, number] {
  return [
    a[0] + (b[0] - a[0]) * t,
    a[1] + (b[1] - a[1]) * t,
    a[2] + (b[2] - a[2]) * t,
    a[3] + (b[3] - a[3]) * t,
  ];
}

/**
 * Constant velocity: the anchor box moved by its centre's velocity (from the neighbour sighting to the
 * anchor, per frame) times `steps`, its size kept (a Kalman tracker's prediction without the size's own
 * velocity, which is too noisy over a few sightings to extrapolate).
 */
export function carryBox(
  anchor: Box,
  anchorFrame: number,
  neighbour: Box | undefined,
  neighbourFrame: number,
  steps: number,
): [number, number, number, number] {
  let dx = 0;
  let dy = 0;
  if (neighbour && neighbourFrame !== anchorFrame) {
    const frames = anchorFrame - neighbourFrame;
    dx = ((anchor[0] + anchor[2] - neighbour[0] - neighbour[2]) / 2 / frames) * steps;
    dy = ((anchor[1] + anchor[3] - neighbour[1] - neighbour[3]) / 2 / frames) * steps;
  }
  return [anchor[0] + dx, anchor[1] + dy, anchor[2] + dx, anchor[3] + dy];
}

/** The same for a point. */
export function carryPoint(
  anchor: readonly [number, number],
  anchorFrame: number,
  neighbour: readonly [number, number] | undefined,
  neighbourFrame: number,
  steps: number,
): [number, number] {
  if (!neighbour || neighbourFrame === anchorFrame) return [anchor[0], anchor[1]];
  const frames = anchorFrame - neighbourFrame;
  return [
    anchor[0] + ((anchor[0] - neighbour[0]) / frames) * steps,
    anchor[1] + ((anchor[1] - neighbour[1]) / frames) * steps,
  ];
}
