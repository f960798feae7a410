import type { ClipInfo, FilledObject } from './fill.js';
import { isRate, normalisePoints, type FillInput, type Inferred } from './fill-input.js';
import type { FillTimeline, SeriesLimits } from './interpolate.js';

/** One frame of the answer while it is being filled. */
export interface AnswerFrame {
  readonly frameNumber: number;
  readonly pts: number;
  readonly width: number;
  readonly height: number;
  readonly source: 'inferred' | 'filled';
  objects: FilledObject[];
  readonly keypoints: Array<[number, number]> | undefined;
}

/** What the parts of the fill (tracks, keypoints) share. */
export interface FillContext {
  readonly inferred: readonly Inferred[];
  /** Every frame from 0 to the last, indexed by frame number. */
  readonly frames: readonly AnswerFrame[];
  readonly timeline: FillTimeline;
  readonly limits: SeriesLimits;
  /** Where `frameNumber` lies between two frames, 0..1: in time by the clip's frame times, else by number. */
  fraction(frameNumber: number, before: number, after: number): number;
  /** Whether a point is inside a frame's picture (anywhere, when the frame's size is unknown). */
  inPicture(frame: AnswerFrame, x: number, y: number): boolean;
}

/** When neither the clip nor the inferred frames tell the frame rate: the lower of broadcast rates. */
const FALLBACK_FPS = 25;

/** The clip's own frame rate, else the inferred frames' (frames over seconds), else 25. */
export function frameRate(clip: ClipInfo, inferred: readonly Inferred[]): number {
  if (isRate(clip.fps)) return clip.fps;
  const timed = inferred.filter((frame) => Number.isFinite(frame.pts));
  const first = timed[0];
  const last = timed[timed.length - 1];
  if (first && last && last.pts > first.pts) {
    const estimated = (last.frameNumber - first.frameNumber) / (last.pts - first.pts);
    if (isRate(estimated)) return estimated;
  }
  return FALLBACK_FPS;
}

/**
 * The context the parts fill: every frame from 0 to the last, each sized from the inferred frame before it
 * (after it, before the first) and timed by the decoder when inferred, else by the clip's frame times,
 * else linearly between its inferred neighbours, else by the frame rate from the nearest one.
 */
export function fillContext(
  input: FillInput,
  clip: ClipInfo,
  fps: number,
  limits: SeriesLimits,
): FillContext {
  const { inferred, lastFrame, hasKeypoints, keypointCount } = input;
  const frameTime = (frameNumber: number): number | undefined => {
    const time = clip.frameTimes?.[frameNumber];
    return typeof time === 'number' && Number.isFinite(time) ? time : undefined;
  };
  const flags = new Uint8Array(lastFrame + 1);
  for (const frame of inferred) flags[frame.frameNumber] = 1;
  const timeline: FillTimeline = {
    inferred: inferred.map((frame) => frame.frameNumber),
    isInferred: (frameNumber) => flags[frameNumber] === 1,
    lastFrame,
  };

  const frames: AnswerFrame[] = [];
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

  return {
    inferred,
    frames,
    timeline,
    limits,
    fraction: (frameNumber, before, after) => {
      const [t0, t, t1] = [frameTime(before), frameTime(frameNumber), frameTime(after)];
      if (t0 !== undefined && t !== undefined && t1 !== undefined && t0 < t && t < t1)
        return (t - t0) / (t1 - t0);
      return (frameNumber - before) / (after - before);
    },
    inPicture: (frame, x, y) =>
      !(
        x < 0 ||
        y < 0 ||
        x >= (isRate(frame.width) ? frame.width : Infinity) ||
        y >= (isRate(frame.height) ? frame.height : Infinity)
      ),
  };
}
