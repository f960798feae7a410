import { describe, expect, it } from 'vitest';
import { fileSource } from '../../../src/sources/file.js';
import { probeFrameTimes } from '../../support/ffprobe.js';
import { decodeAll, fixtures, useFixtures } from './e2e-harness.js';

// The decode operator end to end: non-reference pictures the stride does not keep, skipped (non-reference.ts).
useFixtures();

describe('decode: skipping non-reference pictures the stride does not keep', () => {
  it.each(['faststart', 'mpegts', 'editlist'])(
    '%s: every kept frame is there, skipped ones are never decoded',
    async (name) => {
      const clip = fixtures.clips[name]!;
      const times = probeFrameTimes(clip.file);
      const { frames, named } = await decodeAll(fileSource(clip.file), {
        skipNonReference: true,
        keepFrame: (n) => n % 5 === 0,
      });
      const end = named('end')[0]!.data!;
      expect(end.framesSkipped).toBeGreaterThan(10);
      expect(end.framesLost).toBe(0);
      expect(frames.length + (end.framesSkipped as number)).toBe(clip.frames);
      const kept = frames.filter((f) => f.image);
      expect(kept.map((f) => f.frameNumber)).toEqual(times.map((_, i) => i).filter((i) => i % 5 === 0));
      for (const frame of frames) expect(frame.pts).toBeCloseTo(times[frame.frameNumber]!, 6);
    },
  );

  it('says why when it cannot skip', async () => {
    const { frames, named } = await decodeAll(fileSource(fixtures.clips['webm']!.file), {
      skipNonReference: true,
      keepFrame: (n) => n % 5 === 0,
    });
    expect(frames).toHaveLength(100);
    expect(named('skip-disabled')[0]!.data).toEqual({
      reason: 'codec vp9 has no reference marks firstframe reads (H.264 and HEVC only)',
    });
  });
});
