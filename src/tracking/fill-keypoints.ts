import { isSeen } from './fill-input.js';
import type { FillContext } from './fill-frames.js';
import { carryPoint, walkSeries } from './interpolate.js';

/** How a frame keypoint was filled, per frame and point: 1 interpolated, 2 carried; 0 or absent: not filled. */
export type KeypointSources = ReadonlyArray<Uint8Array | undefined>;

/**
 * Fills the frames' keypoints point by point: each point's sightings are the inferred frames that saw it
 * (not [0, 0]); between two sightings within the gap it is interpolated, from one it is carried at its
 * constant velocity up to the horizon and stops where it leaves the picture. Points nothing fills stay
 * [0, 0]. Writes into `context.frames`.
 */
export function fillKeypoints(context: FillContext, keypointCount: number): KeypointSources {
  const { inferred, frames, timeline, limits } = context;
  const sources: Array<Uint8Array | undefined> = [];
  for (let point = 0; point < keypointCount; point += 1) {
    const sightings: number[] = [];
    inferred.forEach((frame, index) => {
      if (frame.keypoints && isSeen(frame.keypoints[point]!)) sightings.push(index);
    });
    const at = (index: number) => inferred[sightings[index]!]!;
    walkSeries(sightings, timeline, limits, (step) => {
      const target = frames[step.frameNumber]!;
      let value: [number, number];
      if (step.kind === 'interpolated') {
        const a = at(step.before);
        const b = at(step.before + 1);
        const t = context.fraction(step.frameNumber, a.frameNumber, b.frameNumber);
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
        if (!context.inPicture(target, value[0], value[1])) return false;
      }
      // A filled point that lands on exactly [0, 0] would read as unseen; a hundredth of a pixel keeps it.
      if (!isSeen(value)) value = [0.01, 0.01];
      target.keypoints![point] = value;
      (sources[step.frameNumber] ??= new Uint8Array(keypointCount))[point] =
        step.kind === 'interpolated' ? 1 : 2;
      return true;
    });
  }
  return sources;
}
