import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { shiftChunkOffsets } from '../../src/media/faststart.js';
import { checkMoov } from '../../src/media/mp4-check.js';
import { mp4StreamHeader } from '../../src/media/mp4-header.js';
import { decoderConfigSps } from '../../src/media/sps.js';
import { testFixtures } from '../support/fixtures.js';
import { boxAt, replaceBody, topLevel } from './mp4-tree.js';

let fixtures: FixtureSet;
let work: string;
beforeAll(async () => {
  fixtures = await testFixtures();
  work = mkdtempSync(join(tmpdir(), 'ff-mp4-header-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function moovOf(name: string): Uint8Array {
  const bytes = readFileSync(fixtures.clips[name]!.file);
  const moov = topLevel(bytes, 'moov');
  return new Uint8Array(bytes.subarray(moov.offset, moov.offset + moov.size));
}

/** ffprobe's view of the first video stream: size, duration and frame count as its header gives them. */
function probe(file: string): { width: number; height: number; durationS: number; frameCount: number } {
  const out = execFileSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=width,height,duration,nb_frames',
      '-of',
      'json',
      file,
    ],
    { encoding: 'utf8' },
  );
  const [stream] = (
    JSON.parse(out) as {
      streams: Array<{ width: number; height: number; duration: string; nb_frames: string }>;
    }
  ).streams;
  return {
    width: stream!.width,
    height: stream!.height,
    durationS: Number(stream!.duration),
    frameCount: Number(stream!.nb_frames),
  };
}

describe('mp4StreamHeader', () => {
  it.each(['faststart', 'moov-end', 'audio', 'editlist'])(
    '%s: size, duration and frames as ffprobe reads them',
    (name) => {
      const header = mp4StreamHeader(moovOf(name));
      const probed = probe(fixtures.clips[name]!.file);
      expect(header).toMatchObject({ ...probed, codec: 'h264', sampleEntry: 'avc1', trackId: 1 });
      expect(header!.sources).toEqual({
        sampleEntry: { width: 640, height: 360 },
        trackHeader: { width: 640, height: 360 },
        sps: { width: 640, height: 360, codedWidth: 640, codedHeight: 368 },
      });
      expect([header!.maxWidth, header!.maxHeight]).toEqual([640, 368]);
    },
  );

  it('editlist: the edit list, not mdhd, gives the duration (3.6 s of 4 s of media)', () => {
    expect(mp4StreamHeader(moovOf('editlist'))?.durationS).toBe(3.6);
  });

  it('fragmented: the size; no duration or frame count in an empty moov', () => {
    expect(mp4StreamHeader(moovOf('fragmented'))).toMatchObject({
      width: 640,
      height: 360,
      durationS: undefined,
      frameCount: undefined,
    });
  });

  it('a 16000×16000 SPS behind a 640×360 sample entry: the SPS decides', () => {
    const moov = moovOf('faststart');
    const path = 'moov.trak.mdia.minf.stbl.stsd.avc1.avcC';
    const avcC = boxAt(moov, path);
    const config = moov.subarray(avcC.body, avcC.end);
    const [sps] = decoderConfigSps('h264', config);
    // Baseline SPS: 1000 × 1000 macroblocks, frame_mbs_only, no crop, no VUI (bits written out by hand).
    const huge = Uint8Array.from([0x67, 0x42, 0x00, 0x33, 0xda, 0x00, 0x3e, 0x80, 0x07, 0xd1, 0x90]);
    const ppsAt = 6 + 2 + sps!.byteLength;
    const body = Buffer.concat([
      config.subarray(0, 6),
      Buffer.from([0, huge.byteLength]),
      huge,
      config.subarray(ppsAt),
    ]);
    const smashed = replaceBody(moov, path, body);
    expect(checkMoov(smashed)).toBeUndefined();
    // The same moov in the clip (its chunk offsets moved by the bytes it grew): ffprobe reads 16000×16000.
    const clip = readFileSync(fixtures.clips['faststart']!.file);
    const at = topLevel(clip, 'moov');
    const file = join(work, 'huge-sps.mp4');
    writeFileSync(
      file,
      Buffer.concat([
        clip.subarray(0, at.offset),
        shiftChunkOffsets(smashed, smashed.byteLength - moov.byteLength).moov,
        clip.subarray(at.offset + at.size),
      ]),
    );
    expect(probe(file)).toMatchObject({ width: 16000, height: 16000 });
    expect(mp4StreamHeader(smashed)).toMatchObject({
      width: 16000,
      height: 16000,
      maxWidth: 16000,
      maxHeight: 16000,
      sources: { sampleEntry: { width: 640, height: 360 }, sps: { width: 16000, height: 16000 } },
    });
  });

  it('a zeroed SPS: the sample entry gives the size, the SPS none', () => {
    const moov = moovOf('faststart');
    const avcC = boxAt(moov, 'moov.trak.mdia.minf.stbl.stsd.avc1.avcC');
    moov.fill(0, avcC.body + 9, avcC.body + 20);
    const header = mp4StreamHeader(moov);
    expect(header).toMatchObject({ width: 640, height: 360, sources: { sps: undefined } });
  });

  it('undefined, never a throw, without a video track or on garbage', () => {
    expect(mp4StreamHeader(new Uint8Array(8))).toBeUndefined();
    const moov = moovOf('faststart');
    expect(mp4StreamHeader(moov.subarray(0, 300))).toBeUndefined();
    let seed = 3;
    for (let round = 0; round < 300; round += 1) {
      const copy = new Uint8Array(moov);
      for (let i = 0; i < 8; i += 1) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        copy[8 + (seed % (copy.byteLength - 8))] = seed >>> 24;
      }
      expect(() => mp4StreamHeader(copy)).not.toThrow();
    }
  });
});
