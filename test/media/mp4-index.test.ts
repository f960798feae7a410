import { beforeAll, describe, expect, it } from 'vitest';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { firstFragmentSample } from '../../src/media/mp4-fragment-index.js';
import { readVideoTrack, type VideoTrackIndex } from '../../src/media/mp4-index.js';
import { testFixtures } from '../support/fixtures.js';
import { firstPacket, seededRandom, smashed, topLevel } from './mp4-samples.js';

let fixtures: FixtureSet;
beforeAll(async () => {
  fixtures = await testFixtures();
});

describe('readVideoTrack', () => {
  it.each(['faststart', 'moov-end', 'audio'])('%s: the first sample where FFmpeg finds it', (name) => {
    const file = fixtures.clips[name]!.file;
    const track = readVideoTrack(topLevel(file, 'moov').bytes) as VideoTrackIndex;
    expect(track).toMatchObject({
      codec: 'h264',
      width: 640,
      height: 360,
      timescale: 12800,
      fps: 25,
      pixelFormat: 'yuv420p',
      fragmented: false,
    });
    expect(track.extradata[0]).toBe(1);
    expect(track.first).toMatchObject(firstPacket(file));
  });

  it('says why when the first sample is not the first picture shown', () => {
    const file = fixtures.clips['editlist']!.file;
    expect(readVideoTrack(topLevel(file, 'moov').bytes)).toBe('the edit list starts after the first sample');
  });

  it('says why, never throws, on a cut-off or foreign box', () => {
    const moov = topLevel(fixtures.clips['faststart']!.file, 'moov').bytes;
    expect(readVideoTrack(moov.subarray(0, 200))).toMatch(/^a malformed moov: /);
    expect(readVideoTrack(Uint8Array.from([0, 0, 0, 8, 0x66, 0x72, 0x65, 0x65]))).toBe('not a moov box');
    const fragmented = topLevel(fixtures.clips['fragmented']!.file, 'moov').bytes;
    const track = readVideoTrack(fragmented) as VideoTrackIndex;
    expect(firstFragmentSample(track, fragmented, 0)).toBe('not a moof box');
    expect(firstFragmentSample({ ...track, editMediaTime: 1024 }, fragmented, 0)).toBe(
      'a fragmented track with an edit list',
    );
  });
});

describe('readVideoTrack and firstFragmentSample on hostile bytes', () => {
  const random = seededRandom(1414);

  it('a string or a track for every smashed moov and moof, never a throw', () => {
    for (const name of ['faststart', 'fragmented', 'audio']) {
      const file = fixtures.clips[name]!.file;
      const pristine = topLevel(file, 'moov').bytes;
      for (let round = 0; round < 300; round += 1) {
        const moov = smashed(pristine, round, random);
        const track = readVideoTrack(moov);
        expect(typeof track === 'string' || typeof track === 'object').toBe(true);
        if (typeof track === 'object' && name === 'fragmented') {
          const moof = topLevel(file, 'moof');
          const moofBytes = new Uint8Array(moof.bytes);
          new DataView(moofBytes.buffer).setUint32(8 + (random() % (moofBytes.byteLength - 12)), random());
          expect(() => firstFragmentSample(track, moofBytes, moof.offset)).not.toThrow();
        }
      }
    }
  });

  it('an inner box of size 0 is malformed (only a top-level box may run to the end)', () => {
    const moov = new Uint8Array(topLevel(fixtures.clips['faststart']!.file, 'moov').bytes);
    // The first child (mvhd) at byte 8 of the moov.
    new DataView(moov.buffer).setUint32(8, 0);
    expect(readVideoTrack(moov)).toBe('a malformed moov: box mvhd has size 0 inside its parent');
  });

  it('an stts entry count beyond its box: said, not read', () => {
    const moov = new Uint8Array(topLevel(fixtures.clips['faststart']!.file, 'moov').bytes);
    const stts = Buffer.from(moov).indexOf('stts') - 4;
    new DataView(moov.buffer).setUint32(stts + 12, 0xffffffff);
    expect(readVideoTrack(moov)).toBe('a malformed moov: stts is shorter than its entries');
  });
});
