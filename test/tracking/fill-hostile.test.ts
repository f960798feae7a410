/**
 * The fill on a run whose frame numbers jumped (a fragmented file's tfdt jump numbers frames past 2^48):
 * the answer stops at `maxFrames`, and the work is bounded by it, not by the frame number.
 */

import { describe, expect, it } from 'vitest';
import { fill, type FillInputFrame } from '../../src/tracking/fill.js';

const frame = (frameNumber: number, x: number): FillInputFrame => ({
  frameNumber,
  pts: frameNumber / 25,
  width: 640,
  height: 360,
  objects: [{ bbox: [x, 100, x + 20, 150], classId: 2, className: 'player', score: 0.9, trackId: 1 }],
});

describe('fill after a timestamp jump', () => {
  it('a last decoded frame of 2^48 answers maxFrames frames; an inferred frame past the cap is dropped', () => {
    const jump = 2 ** 48;
    const { frames, stats } = fill(
      [frame(0, 10), frame(5, 20), frame(jump, 30)],
      {
        lastDecodedFrame: jump + 3,
        fps: 25,
      },
      { maxFrames: 1000 },
    );
    expect(frames).toHaveLength(1000);
    expect(frames[999]!.frameNumber).toBe(999);
    expect(stats).toMatchObject({
      framesAnswered: 1000,
      framesInferred: 2,
      lastFrameFrom: 'decoded',
      ignored: expect.objectContaining({ framesPastCap: jump + 3 - 999 }),
    });
    // Interpolated between 0 and 5, carried 10 frames (the default horizon) past 5, then nothing.
    expect(frames.filter((answer) => answer.objects.length > 0).map((answer) => answer.frameNumber)).toEqual(
      Array.from({ length: 16 }, (_, i) => i),
    );
  });

  it('the default cap: 18 000 frames, whatever the frame number', () => {
    const { frames } = fill([frame(0, 10), frame(2 ** 52, 30)], { lastDecodedFrame: 2 ** 53 - 1 });
    expect(frames).toHaveLength(18_000);
  });
});
