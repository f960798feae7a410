import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { scanTopLevelBoxes } from '../../src/media/mp4-boxes.js';
import { makeEditStartClips } from '../../src/fixtures/edit-start.js';
import {
  editStart,
  firstFragmentSample,
  readVideoTrack,
  type VideoTrackIndex,
} from '../../src/media/mp4-index.js';
import { testFixtures } from '../support/fixtures.js';

let fixtures: FixtureSet;
beforeAll(async () => {
  fixtures = await testFixtures();
});

function topLevel(file: string, type: string): { bytes: Uint8Array; offset: number } {
  const bytes = readFileSync(file);
  const box = scanTopLevelBoxes(bytes).find((b) => b.type === type)!;
  return { bytes: bytes.subarray(box.offset, box.offset + box.size), offset: box.offset };
}

/** ffprobe's first video packet: where it lies and its pts in the stream's time base. */
function firstPacket(file: string): { offset: number; size: number; pts: number } {
  const out = execFileSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'packet=pos,size,pts',
      '-read_intervals',
      '%+#1',
      '-of',
      'json',
      file,
    ],
    { encoding: 'utf8' },
  );
  const [packet] = (JSON.parse(out) as { packets: Array<{ pos: string; size: string; pts: number }> })
    .packets;
  return { offset: Number(packet!.pos), size: Number(packet!.size), pts: packet!.pts };
}

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

  it('fragmented: the track, then its first sample from the first moof', () => {
    const file = fixtures.clips['fragmented']!.file;
    const track = readVideoTrack(topLevel(file, 'moov').bytes) as VideoTrackIndex;
    expect(track).toMatchObject({ codec: 'h264', fragmented: true, first: undefined, editMediaTime: 0 });
    const moof = topLevel(file, 'moof');
    expect(firstFragmentSample(track, moof.bytes, moof.offset)).toMatchObject({
      ...firstPacket(file),
      duration: 512,
    });
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
  const random = (() => {
    let seed = 1414;
    return () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed;
    };
  })();

  it('a string or a track for every smashed moov and moof, never a throw', () => {
    for (const name of ['faststart', 'fragmented', 'audio']) {
      const file = fixtures.clips[name]!.file;
      const pristine = topLevel(file, 'moov').bytes;
      for (let round = 0; round < 300; round += 1) {
        const moov = new Uint8Array(pristine);
        const view = new DataView(moov.buffer);
        for (let i = 0; i < 1 + (round % 4); i += 1) {
          const at = 8 + (random() % (moov.byteLength - 12));
          view.setUint32(at - (at % 4), [0xffffffff, 0, 7, random()][random() % 4]!);
        }
        const track = readVideoTrack(moov);
        expect(typeof track === 'string' || typeof track === 'object').toBe(true);
        if (typeof track === 'object' && name === 'fragmented') {
          const moof = topLevel(file, 'moof');
          const smashed = new Uint8Array(moof.bytes);
          new DataView(smashed.buffer).setUint32(8 + (random() % (smashed.byteLength - 12)), random());
          expect(() => firstFragmentSample(track, smashed, moof.offset)).not.toThrow();
        }
      }
    }
  });

  it('editStart: a string or a plan for every smashed moov of the edit-start clips, never a throw', async () => {
    const clips = await makeEditStartClips(fixtures);
    for (const layout of ['faststart', 'moov-end'] as const) {
      const pristine = topLevel(clips[layout].file, 'moov').bytes;
      for (let round = 0; round < 300; round += 1) {
        const moov = new Uint8Array(pristine);
        const view = new DataView(moov.buffer);
        for (let i = 0; i < 1 + (round % 4); i += 1) {
          const at = 8 + (random() % (moov.byteLength - 12));
          view.setUint32(at - (at % 4), [0xffffffff, 0, 7, random()][random() % 4]!);
        }
        const plan = editStart(moov);
        expect(typeof plan === 'string' || typeof plan === 'object').toBe(true);
      }
    }
  });

  it('editStart: 2^32 samples of duration 0 before the edit are not walked to the end', async () => {
    const clips = await makeEditStartClips(fixtures);
    const moov = new Uint8Array(topLevel(clips.faststart.file, 'moov').bytes);
    const view = new DataView(moov.buffer);
    const bytes = Buffer.from(moov);
    // stsz: one uniform size for 2^32 − 1 samples; stts: all of them in one entry of duration 0,
    const stsz = bytes.indexOf('stsz');
    view.setUint32(stsz + 8, 1);
    view.setUint32(stsz + 12, 0xffffffff);
    const stts = bytes.indexOf('stts');
    view.setUint32(stts + 8, 1);
    view.setUint32(stts + 12, 0xffffffff);
    view.setUint32(stts + 16, 0);
    // stsc: every sample in the first chunk.
    const stsc = bytes.indexOf('stsc');
    view.setUint32(stsc + 8, 1);
    view.setUint32(stsc + 16, 0xffffffff);
    expect(editStart(moov)).toBe('no sample shown within the first 1048576');
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
