import { describe, expect, it } from 'vitest';
import { stitchTracks, type StitchSighting } from '../../src/tracking/stitch.js';

/** A 20×40 box whose top-left corner is at x0 + vx·n, y0 + vy·n, seen at the given frames. */
function track(
  frames: number[],
  x0: number,
  y0: number,
  vx = 0,
  vy = 0,
  classId = 2,
  height = 40,
): StitchSighting[] {
  return frames.map((frameNumber) => {
    const x = x0 + vx * frameNumber;
    const y = y0 + vy * frameNumber;
    return { frameNumber, bbox: [x, y, x + 20, y + height], classId };
  });
}

const options = { maxGapFrames: 30, gate: 0.5 };

describe('stitchTracks', () => {
  it('a track that starts where an ended one was heading continues it', () => {
    const tracks = new Map([
      [4, track([0, 5, 10], 100, 100, 3)],
      [9, track([20, 25, 30], 100, 100, 3)],
    ]);
    expect(stitchTracks(tracks, options)).toEqual(new Map([[9, 4]]));
  });

  it('a chain takes its first id', () => {
    const tracks = new Map([
      [1, track([0, 5], 100, 100, 2)],
      [2, track([10, 15], 100, 100, 2)],
      [3, track([20, 25], 100, 100, 2)],
    ]);
    expect(stitchTracks(tracks, options)).toEqual(
      new Map([
        [2, 1],
        [3, 1],
      ]),
    );
  });

  it('never across classes, over time overlaps, past the gap, beyond the gate or between sizes far apart', () => {
    const ended = track([0, 5, 10], 100, 100, 3);
    const cases: Array<[string, StitchSighting[]]> = [
      ['another class', track([15, 20], 100, 100, 3, 0, 3)],
      ['overlapping in time', track([10, 15], 100, 100, 3)],
      ['too late', track([41, 46], 100, 100, 3)],
      ['too far (a box height from the prediction)', track([15, 20], 100, 140, 3)],
      ['more than twice as tall', track([15, 20], 100, 100, 3, 0, 2, 81)],
    ];
    for (const [, later] of cases) {
      expect(
        stitchTracks(
          new Map([
            [1, ended],
            [2, later],
          ]),
          options,
        ),
      ).toEqual(new Map());
    }
    // Within the gate: half a box height off.
    expect(
      stitchTracks(
        new Map([
          [1, ended],
          [2, track([15, 20], 100, 119, 3)],
        ]),
        options,
      ),
    ).toEqual(new Map([[2, 1]]));
    expect(
      stitchTracks(
        new Map([
          [1, ended],
          [2, track([15, 20], 100, 100, 3)],
        ]),
        { ...options, gate: 0 },
      ),
    ).toEqual(new Map());
  });

  it('one continuation per ended track: the closest wins, the other keeps its id', () => {
    const tracks = new Map([
      [1, track([0, 5, 10], 100, 100, 3)],
      [2, track([15, 20], 100, 110, 3)],
      [3, track([15, 20], 100, 101, 3)],
    ]);
    expect(stitchTracks(tracks, options)).toEqual(new Map([[3, 1]]));
  });

  it('uses each side motion: a fast track is joined where it went, not where it was', () => {
    // 6 px a frame: at frame 20 it is 60 px on from its last sighting, more than a box height.
    const tracks = new Map([
      [1, track([0, 5, 10], 100, 100, 6)],
      [2, track([20, 25], 100, 100, 6)],
      [3, track([20, 25], 160, 100, 0)],
    ]);
    expect(stitchTracks(tracks, options)).toEqual(new Map([[2, 1]]));
  });
});
