import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { StageEvent } from '../../../src/core/events.js';
import { scanTopLevelBoxes } from '../../../src/media/mp4-boxes.js';
import { fileSource } from '../../../src/sources/file.js';
import {
  decodeAll,
  expectFramesMatchFfprobe,
  fileName,
  fixtures,
  overHttp,
  sim,
  useDecodeServer,
} from './e2e-harness.js';

// The decode operator end to end: each container layout, and frame numbers and pts as ffprobe reports them.
useDecodeServer();

/** Source events, kept apart from the decode events each test collects. */
const sourceEvents: StageEvent[] = [];

describe('decode: every layout, frame numbers and pts as ffprobe reports them', () => {
  const layouts = ['faststart', 'moov-end', 'fragmented', 'editlist', 'audio', 'mpegts', 'matroska', 'webm'];

  it.each(layouts)('%s from a file', async (name) => {
    const clip = fixtures.clips[name]!;
    const { frames, named } = await decodeAll(fileSource(clip.file));
    expect(frames).toHaveLength(clip.frames);
    expectFramesMatchFfprobe(frames, clip.file);
    expect(frames[0]!.stream).toMatchObject({
      width: 640,
      height: 360,
      codec: name === 'webm' ? 'vp9' : 'h264',
    });
    expect(named('end')[0]!.data).toMatchObject({
      reason: 'complete',
      framesDecoded: clip.frames,
      truncated: false,
    });
  });

  it.each(['faststart', 'moov-end', 'fragmented', 'mpegts'])(
    '%s over HTTP, decoding while the bytes arrive',
    async (name) => {
      const clip = fixtures.clips[name]!;
      // 200 KB/s: the clip takes about half a second to arrive, long enough to see frames come before the end.
      sourceEvents.length = 0;
      const { frames, named } = await decodeAll(
        overHttp(
          `/${fileName(name)}`,
          { onEvent: (e) => sourceEvents.push(e) },
          { rateBytesPerSec: 200_000 },
        ),
      );
      expectFramesMatchFfprobe(frames, clip.file);
      expect(frames[0]!.stream.layout).toBe(clip.layout);
      const firstFrame = named('first-frame')[0]!;
      expect(firstFrame.data!.offsetReached).toBeLessThan(clip.bytes);
      // The first frame came while the (first) response was still arriving.
      const firstRequest = sourceEvents[0]!.data!.requestId;
      const sourceEnd = sourceEvents.find((e) => e.name === 'end' && e.data?.requestId === firstRequest)!;
      expect(firstFrame.at).toBeLessThan(sourceEnd.at);
    },
  );

  it('moov at the end: fetched with one Range request while the first response streams, offsets patched', async () => {
    const clip = fixtures.clips['moov-end']!;
    const bytes = readFileSync(clip.file);
    const moov = scanTopLevelBoxes(bytes).find((box) => box.type === 'moov')!;
    const mdat = scanTopLevelBoxes(bytes).find((box) => box.type === 'mdat')!;
    const before = sim.requests.length;
    const { frames, named } = await decodeAll(
      overHttp(`/${fileName('moov-end')}`, {}, { rateBytesPerSec: 200_000 }),
    );
    expect(frames).toHaveLength(100);
    expect(named('layout')[0]!.data).toMatchObject({
      layout: 'moov-end',
      mdatOffset: mdat.offset,
      mdatSize: mdat.size,
    });
    expect(named('moov')[0]!.data).toMatchObject({
      offset: moov.offset,
      bytes: moov.size,
      chunkOffsetTables: 1,
    });
    const ranges = sim.requests.slice(before).map((r) => r.rangeHeader);
    expect(ranges).toEqual([undefined, `bytes=${mdat.offset + mdat.size}-`]);
  });

  it('moov at the end from a server that ignores Range: waits for the moov at the end of the same response', async () => {
    const before = sim.requests.length;
    const { frames, named } = await decodeAll(overHttp(`/${fileName('moov-end')}`, {}, { range: false }));
    expect(frames).toHaveLength(100);
    // Either the Range answer (a 200: FF_ERR_RANGE_IGNORED) or the end of the first response came first.
    const answers = sim.requests.slice(before).map((r) => [r.rangeHeader, r.status]);
    expect(answers[0]).toEqual([undefined, 200]);
    expect(named('moov')).toHaveLength(1);
    expectFramesMatchFfprobe(frames, fixtures.clips['moov-end']!.file);
  });
});

describe('decode: frame 0 without the reorder delay', () => {
  it.each([
    ['faststart', true],
    ['fragmented', true],
    ['mpegts', true],
    // Its first packet is before the edit: frame 0 comes from the trimmed-start lead (trimmed-lead.ts).
    ['editlist', true],
  ])('%s: decoded alone: %s', async (name, alone) => {
    const clip = fixtures.clips[name]!;
    const { frames, named } = await decodeAll(fileSource(clip.file));
    expect(named('first-frame')[0]!.data).toMatchObject({ frameNumber: 0, decodedAlone: alone });
    expectFramesMatchFfprobe(frames, clip.file);
  });
});
