import { describe, expect, it } from 'vitest';
import {
  carryBox,
  carryPoint,
  lerpBox,
  walkSeries,
  type FillTimeline,
  type SeriesLimits,
  type SeriesStep,
} from '../../src/tracking/interpolate.js';

function timeline(inferred: number[], lastFrame: number): FillTimeline {
  const set = new Set(inferred);
  return { inferred, isInferred: (frameNumber) => set.has(frameNumber), lastFrame };
}

/** One letter per frame: x sighting, i interpolated, e extrapolated, . nothing. */
function plan(
  inferred: number[],
  sightingFrames: number[],
  lastFrame: number,
  limits: Partial<SeriesLimits> = {},
  stopAt?: (step: SeriesStep) => boolean,
): string {
  const line = Array.from({ length: lastFrame + 1 }, () => '.');
  for (const frameNumber of sightingFrames) line[frameNumber] = 'x';
  const seen = new Set<number>();
  walkSeries(
    sightingFrames.map((frameNumber) => inferred.indexOf(frameNumber)),
    timeline(inferred, lastFrame),
    { maxGapFrames: 10, horizonFrames: 3, bridgeInferred: true, ...limits },
    (step) => {
      // Never two values for one frame, never a sighting's own frame.
      expect(seen.has(step.frameNumber)).toBe(false);
      expect(line[step.frameNumber]).toBe('.');
      seen.add(step.frameNumber);
      if (stopAt?.(step)) return false;
      line[step.frameNumber] = step.kind === 'interpolated' ? 'i' : 'e';
      return true;
    },
  );
  return line.join('');
}

const stride = (step: number, last: number) =>
  Array.from({ length: Math.floor(last / step) + 1 }, (_, index) => index * step);

describe('walkSeries', () => {
  it('interpolates between close sightings and carries each end up to the horizon', () => {
    const inferred = stride(5, 30);
    // prettier-ignore
    expect(plan(inferred, [0, 5, 10, 25, 30], 33)).toBe(
      'xiiiixiiiixeee........eeexiiiixeee',
    );
  });

  it('never carries onto an inferred frame that did not see the series', () => {
    const inferred = stride(2, 20);
    expect(plan(inferred, [10], 20)).toBe('.........exe.........');
  });

  it('bridges an inferred frame that missed the series, unless told not to', () => {
    const inferred = stride(2, 12);
    expect(plan(inferred, [2, 8], 12)).toBe('.exiiiiixe...');
    expect(plan(inferred, [2, 8], 12, { bridgeInferred: false })).toBe('.exi.i.ixe...');
  });

  it('a gap longer than maxGapFrames is not bridged; each side is carried no further than the middle', () => {
    // Consecutive inferred frames 20 apart, horizon larger than half the gap.
    expect(plan([0, 20], [0, 20], 20, { maxGapFrames: 10, horizonFrames: 15 })).toBe('xeeeeeeeeeeeeeeeeeeex');
    expect(plan([0, 20], [0, 20], 20, { maxGapFrames: 20, horizonFrames: 0 })).toBe('xiiiiiiiiiiiiiiiiiiix');
    expect(plan([0, 21], [0, 21], 21, { maxGapFrames: 20, horizonFrames: 4 })).toBe('xeeee............eeeex');
  });

  it('stops carrying when the visitor says so, in that direction only', () => {
    const inferred = [10];
    expect(plan(inferred, [10], 20, {}, (step) => step.kind === 'extrapolated' && step.steps === 2)).toBe(
      '.......eeexe.........',
    );
  });

  it('reports the anchor, the neighbour within the gap, and signed steps', () => {
    const steps: SeriesStep[] = [];
    walkSeries(
      [0, 1, 2],
      timeline([0, 4, 20], 22),
      { maxGapFrames: 5, horizonFrames: 2, bridgeInferred: true },
      (step) => {
        steps.push(step);
      },
    );
    expect(steps).toEqual([
      { kind: 'interpolated', frameNumber: 1, before: 0 },
      { kind: 'interpolated', frameNumber: 2, before: 0 },
      { kind: 'interpolated', frameNumber: 3, before: 0 },
      { kind: 'extrapolated', frameNumber: 5, anchor: 1, neighbour: 0, steps: 1 },
      { kind: 'extrapolated', frameNumber: 6, anchor: 1, neighbour: 0, steps: 2 },
      { kind: 'extrapolated', frameNumber: 19, anchor: 2, neighbour: undefined, steps: -1 },
      { kind: 'extrapolated', frameNumber: 18, anchor: 2, neighbour: undefined, steps: -2 },
      { kind: 'extrapolated', frameNumber: 21, anchor: 2, neighbour: undefined, steps: 1 },
      { kind: 'extrapolated', frameNumber: 22, anchor: 2, neighbour: undefined, steps: 2 },
    ]);
  });

  it('does nothing for a series never seen', () => {
    expect(plan(stride(5, 20), [], 20)).toBe('.....................');
  });
});

describe('box and point motion', () => {
  it('lerpBox moves every corner linearly', () => {
    expect(lerpBox([0, 10, 20, 50], [10, 30, 40, 50], 0.25)).toEqual([2.5, 15, 25, 50]);
  });

  it('carryBox moves the centre at the sightings velocity and keeps the anchor size', () => {
    // Centre from (10, 20) at frame 0 to (16, 23) at frame 3: 2 and 1 pixels a frame; the box grew, the
    // carried one keeps the anchor's size.
    expect(carryBox([6, 13, 26, 33], 3, [5, 15, 15, 25], 0, 2)).toEqual([10, 15, 30, 35]);
    // Backward, with the neighbour after the anchor.
    expect(carryBox([5, 15, 15, 25], 0, [8, 18, 18, 28], 3, -2)).toEqual([3, 13, 13, 23]);
    expect(carryBox([5, 15, 15, 25], 0, undefined, 0, 7)).toEqual([5, 15, 15, 25]);
    expect(carryPoint([10, 10], 4, [2, 6], 0, 3)).toEqual([16, 13]);
    expect(carryPoint([10, 10], 4, undefined, 0, 3)).toEqual([10, 10]);
  });
});
