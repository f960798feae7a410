import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { fileSource } from '../../../src/sources/file.js';
import { decodeAll, expectFramesMatchFfprobe, fixtures, useFixtures } from './e2e-harness.js';

// The decode operator end to end: the decoder's threads (threads.ts, decoding.ts).
useFixtures();

describe('decode: threads', () => {
  it.each([
    ['faststart', 50],
    ['mpegts', 50],
    ['matroska', 50],
    ['webm', 50],
    // The edit list hides frames 0–9: of the packets before the keyframe at 50, the three trimmed B-frames
    // nothing references are never submitted.
    ['editlist', 47],
  ])(
    '%s: auto starts on slice threads and moves to frame threads at the next keyframe (packet %i)',
    async (name, fromPacket) => {
      const clip = fixtures.clips[name]!;
      const { frames, named } = await decodeAll(fileSource(clip.file), { threads: 'auto' });
      // threadCount 0 (default): FFmpeg's own choice, one thread per core plus one.
      const cores = availableParallelism();
      expect(named('decoder-threads').map((e) => e.data)).toEqual(
        cores > 1 ? [{ threads: 'frame', threadCount: Math.min(cores + 1, 16), fromPacket }] : [],
      );
      expectFramesMatchFfprobe(frames, clip.file);
      expect(named('frames-lost')).toEqual([]);
    },
  );

  it.each(['slice', 'frame'] as const)('%s threads throughout: every frame, no switch', async (threads) => {
    const clip = fixtures.clips['faststart']!;
    const { frames, named } = await decodeAll(fileSource(clip.file), { threads });
    expect(named('decoder-threads')).toEqual([]);
    expectFramesMatchFfprobe(frames, clip.file);
  });
});
