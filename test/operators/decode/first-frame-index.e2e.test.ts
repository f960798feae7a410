import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { StageEvent } from '../../../src/core/events.js';
import { decode } from '../../../src/operators/decode.js';
import { fileSource } from '../../../src/sources/file.js';
import {
  decodeAll,
  expectFramesMatchFfprobe,
  fileName,
  fixtures,
  overHttp,
  useDecodeServer,
} from './e2e-harness.js';
import { firstPacket } from '../../media/mp4-samples.js';
import { waitFor } from '../../support/wait-for.js';

// The decode operator end to end: frame 0 from the MP4 index (first-frame-index.ts).
useDecodeServer();

describe('decode: frame 0 from the MP4 index, before FFmpeg opens the file', () => {
  it.each(['faststart', 'moov-end', 'fragmented', 'audio'])('%s', async (name) => {
    const clip = fixtures.clips[name]!;
    const { frames, named, events } = await decodeAll(
      overHttp(`/${fileName(name)}`, {}, { rateBytesPerSec: 200_000 }),
      { keepFrame: (n) => n === 0 },
    );
    const packet = firstPacket(clip.file);
    expect(named('index')[0]!.data).toEqual({
      offset: packet.offset,
      size: packet.size,
      pts: packet.pts,
      fragmented: name === 'fragmented',
    });
    expect(named('index-skipped')).toEqual([]);
    expect(named('first-frame')[0]!.data).toMatchObject({ frameNumber: 0, fromIndex: true });
    // Frame 0 is out, converted, before FFmpeg's demuxer is even opened; every frame after it is FFmpeg's.
    const order = events.filter((e) => e.stage === 'decode').map((e) => e.name);
    expect(order.indexOf('first-frame')).toBeLessThan(order.indexOf('open'));
    expect(frames[0]!.image).toBeDefined();
    expectFramesMatchFfprobe(frames, clip.file);
    // The description frame 0 went out with is the one every frame shares, FFmpeg's.
    expect(frames[0]!.stream).toBe(frames[99]!.stream);
    expect(frames[0]!.stream).toMatchObject({ codec: 'h264', width: 640, height: 360, fps: 25 });
  });

  it('one frame taken: FFmpeg never opens the file', async () => {
    const events: StageEvent[] = [];
    const frame = await firstValueFrom(
      fileSource(fixtures.clips['faststart']!.file).pipe(
        decode({ imgSize: 320, onEvent: (e) => events.push(e) }),
      ),
    );
    expect(frame).toMatchObject({ frameNumber: 0, pts: 0 });
    expect(frame.image?.data).toHaveLength(3 * 320 * 320);
    // The session's `end` comes once the unsubscription's release is done: waited for.
    await waitFor('the end event', () => events.some((e) => e.name === 'end')).catch(() => undefined);
    const names = events.filter((e) => e.stage === 'decode').map((e) => e.name);
    expect(names).toContain('first-frame');
    expect(names).not.toContain('open');
    expect(events.find((e) => e.name === 'end')!.data).toMatchObject({ reason: 'unsubscribed' });
  });

  it('an edit list that starts after the first sample: left to FFmpeg, with the reason', async () => {
    const { frames, named } = await decodeAll(fileSource(fixtures.clips['editlist']!.file));
    expect(named('index-skipped').map((e) => e.data)).toEqual([
      { reason: 'the edit list starts after the first sample' },
    ]);
    expect(named('first-frame')[0]!.data).toMatchObject({ fromIndex: false });
    expectFramesMatchFfprobe(frames, fixtures.clips['editlist']!.file);
  });

  it('not an MP4: no index', async () => {
    const { named } = await decodeAll(fileSource(fixtures.clips['mpegts']!.file));
    expect(named('index')).toEqual([]);
    expect(named('index-skipped')).toEqual([]);
    expect(named('first-frame')[0]!.data).toMatchObject({ fromIndex: false, decodedAlone: true });
  });
});
