// What patches/beamcoder+0.7.1.patch changes in beamcoder, checked on the real library (package.json's
// postinstall applies the patch and builds it). Each test here fails on the unpatched build.
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { beamcoder, closeDecoder, type Beamcoder } from '../../src/media/beamcoder.js';
import { testFixtures } from '../support/fixtures.js';
import { processThreadCount } from '../support/threads.js';

let fixtures: FixtureSet;
beforeAll(async () => {
  fixtures = await testFixtures();
});

describe('beamcoder, as patched', () => {
  it('a frame whose data is dropped stops counting as external memory, so V8 stops collecting for it', async () => {
    // Unpatched, each frame reported its pool buffers (0.35 MB at 640×360) to V8 until its object was
    // finalized, even after the pixels were dropped, and V8 ran a mark-compact for "external memory
    // pressure" every few dozen frames: 13 and 14 over these 800 frames, measured, against 3 patched
    // (those the JS objects themselves cause).
    const bc = beamcoder();
    let markCompacts = 0;
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const { kind } = (entry as unknown as { detail: { kind: number } }).detail;
        if (kind === perfConstants.NODE_PERFORMANCE_GC_MAJOR) markCompacts += 1;
      }
    });
    observer.observe({ entryTypes: ['gc'] });
    let frames = 0;
    const drop = (decoded: Beamcoder.DecodedFrames) => {
      for (const frame of decoded.frames) {
        frames += 1;
        (frame as unknown as { data: null }).data = null;
      }
    };
    for (let pass = 0; pass < 8; pass += 1) {
      const demuxer = await bc.demuxer(`file:${fixtures.clips['faststart']!.file}`);
      const decoder = bc.decoder({ demuxer, stream_index: 0 });
      for (let packet = await demuxer.read(); packet; packet = await demuxer.read()) {
        drop(await decoder.decode(packet));
      }
      drop(await decoder.flush());
      closeDecoder(decoder);
      demuxer.forceClose();
    }
    await new Promise((resolve) => setImmediate(resolve));
    observer.disconnect();
    expect(frames).toBe(800);
    expect(markCompacts).toBeLessThanOrEqual(7);
  });

  it("decoder.close() ends the decoder's threads at once; the decoder stays usable", async () => {
    const bc = beamcoder();
    const demuxer = await bc.demuxer(`file:${fixtures.clips['faststart']!.file}`);
    const packets: Beamcoder.Packet[] = [];
    for (let i = 0; i < 12; i += 1) packets.push((await demuxer.read())!);
    const before = processThreadCount();
    const decoder = bc.decoder({
      demuxer,
      stream_index: 0,
      thread_count: 4,
      thread_type: { FRAME: true, SLICE: false },
    } as unknown as { demuxer: Beamcoder.Demuxer; stream_index: number });
    const frames = (await decoder.decode(packets)).frames;
    expect(processThreadCount()).toBe(before + 4);
    closeDecoder(decoder);
    expect(processThreadCount()).toBe(before);
    // Frames it gave keep their pixels; the closed decoder decodes again from a key frame.
    expect(frames[0]!.data[0]!.byteLength).toBeGreaterThanOrEqual(640 * 360);
    expect(decoder.name).toBe('h264');
    const again = [...(await decoder.decode(packets[0]!)).frames, ...(await decoder.flush()).frames];
    expect(again.map((frame) => [frame.width, frame.pts])).toEqual([[640, packets[0]!.pts]]);
    closeDecoder(decoder);
    demuxer.forceClose();
  });
});
