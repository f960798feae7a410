import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DecodeError } from '../../../src/core/errors.js';
import type { FixtureSet } from '../../../src/fixtures/make.js';
import type { Beamcoder } from '../../../src/media/beamcoder.js';
import { scanTopLevelBoxes } from '../../../src/media/mp4-boxes.js';
import { readVideoTrack, type VideoTrackIndex } from '../../../src/media/mp4-index.js';
import { nalFormat } from '../../../src/media/nal.js';
import { HeaderChecks } from '../../../src/operators/decode/header-checks.js';
import type { StreamHeader } from '../../../src/operators/decode/stream-header.js';
import { testFixtures } from '../../support/fixtures.js';
import { recordingContext } from './fake-context.js';

let fixtures: FixtureSet;
beforeAll(async () => {
  fixtures = await testFixtures();
});

const refuseOver = (pixels: number) => (header: StreamHeader) => {
  if (header.width * header.height > pixels) {
    throw new DecodeError('FF_ERR_LIMIT_RESOLUTION', `${header.from}: too large`);
  }
};

describe('HeaderChecks', () => {
  it('a whole moov: its sample description, SPS and duration go to checkStream, each named', () => {
    const clip = fixtures.clips['faststart']!;
    const file = new Uint8Array(readFileSync(clip.file));
    const moov = scanTopLevelBoxes(file).find((box) => box.type === 'moov')!;
    const seen: StreamHeader[] = [];
    const checks = new HeaderChecks(recordingContext({ totalBytes: file.byteLength }), (header) =>
      seen.push(header),
    );
    expect(checks.moovAccepted(file.subarray(moov.offset, moov.offset + moov.size), moov.offset)).toBe(true);
    expect(seen).toEqual([
      {
        width: clip.width,
        height: clip.height,
        durationS: expect.any(Number),
        from: 'the avc1 sample description and the index',
      },
      { width: clip.width, height: clip.height, from: 'the SPS in the avc1 sample description' },
    ]);
  });

  it('a refused header fails the session with checkStream’s error and a header-refused event', () => {
    const context = recordingContext({});
    const checks = new HeaderChecks(context, refuseOver(640 * 360));
    const header = { width: 16000, height: 16000, from: 'the SPS' };
    expect(checks.accepted([{ width: 320, height: 240, from: 'the sample description' }])).toBe(true);
    expect(checks.accepted([header])).toBe(false);
    expect(context.failures).toHaveLength(1);
    expect((context.failures[0] as Error).message).toBe('the SPS: too large');
    expect(context.named('header-refused')).toEqual([
      { headers: [header], code: (context.failures[0] as DecodeError).code },
    ]);
    // The session is over: nothing is accepted any more.
    expect(checks.accepted([{ width: 1, height: 1, from: 'x' }])).toBe(false);
  });

  it('without checkStream everything passes; a moov that lies fails with its structure error', () => {
    const context = recordingContext({ totalBytes: 100 });
    const checks = new HeaderChecks(context, undefined);
    expect(checks.accepted([{ width: 16000, height: 16000, from: 'the SPS' }])).toBe(true);
    const moov = new Uint8Array(16);
    new DataView(moov.buffer).setUint32(0, 16);
    moov.set(Buffer.from('moov'), 4);
    new DataView(moov.buffer).setUint32(8, 0xffff);
    moov.set(Buffer.from('trak'), 12);
    expect(checks.moovAccepted(moov, 0)).toBe(false);
    expect((context.failures[0] as DecodeError).code).toBe('FF_ERR_MP4_STRUCTURE');
  });

  it('an SPS in a key Annex B packet is checked; a packet not marked key is not scanned', () => {
    const context = recordingContext({});
    const clip = fixtures.clips['faststart']!;
    const checks = new HeaderChecks(context, refuseOver(clip.width * clip.height - 1));
    const annexB = nalFormat('h264', undefined)!;
    // The clip's own SPS (from its avcC: 6 bytes, a 2-byte length, the SPS), in Annex B.
    const file = new Uint8Array(readFileSync(clip.file));
    const moov = scanTopLevelBoxes(file).find((box) => box.type === 'moov')!;
    const avcC = (readVideoTrack(file.subarray(moov.offset, moov.offset + moov.size)) as VideoTrackIndex)
      .extradata;
    const spsLength = (avcC[6]! << 8) | avcC[7]!;
    const sps = [0, 0, 0, 1, ...avcC.subarray(8, 8 + spsLength)];
    const packet = (key: boolean) => {
      const data = Buffer.alloc(sps.length + 64);
      data.set(sps);
      return { data, size: sps.length, flags: { KEY: key } } as unknown as Beamcoder.Packet;
    };
    const stream = {
      layout: 'mpegts' as const,
      container: 'mpegts',
      codec: 'h264',
      decoder: 'h264',
      width: 320,
      height: 240,
      fps: 25,
      timeBase: [1, 90000] as const,
    };
    expect(checks.packetSpsAccepted(packet(false), stream, annexB, 7)).toBe(true);
    expect(context.failures).toEqual([]);
    expect(checks.packetSpsAccepted(packet(true), stream, annexB, 8)).toBe(false);
    expect((context.failures[0] as Error).message).toBe('the SPS in video packet 8: too large');
  });
});
