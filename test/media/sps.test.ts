import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { checkMoov } from '../../src/media/mp4-check.js';
import { mp4StreamHeader } from '../../src/media/mp4-header.js';
import { decoderConfigSps, spsDimensions } from '../../src/media/sps.js';
import { testFixtures } from '../support/fixtures.js';
import { boxAt, topLevel } from './mp4-tree.js';

let fixtures: FixtureSet;
let work: string;
beforeAll(async () => {
  fixtures = await testFixtures();
  work = mkdtempSync(join(tmpdir(), 'ff-sps-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** ffprobe's width and height of the first video stream. */
function probeSize(file: string): { width: number; height: number } {
  const out = execFileSync(
    'ffprobe',
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'json', file],
    { encoding: 'utf8' },
  );
  const [stream] = (JSON.parse(out) as { streams: Array<{ width: number; height: number }> }).streams;
  return { width: stream!.width, height: stream!.height };
}

/** The decoder configuration (avcC / hvcC body) of an MP4's first track. */
function decoderConfig(file: string, entry: string): Uint8Array {
  const bytes = readFileSync(file);
  const moov = topLevel(bytes, 'moov');
  const moovBytes = bytes.subarray(moov.offset, moov.offset + moov.size);
  const config = boxAt(
    moovBytes,
    `moov.trak.mdia.minf.stbl.stsd.${entry}.${entry.startsWith('avc') ? 'avcC' : 'hvcC'}`,
  );
  return moovBytes.subarray(config.body, config.end);
}

/** A two-frame clip made with ffmpeg from the test source. */
function encode(name: string, size: string, args: string[]): string {
  const file = join(work, name);
  // prettier-ignore
  execFileSync('ffmpeg', [
    '-v', 'error', '-f', 'lavfi', '-i', `testsrc=size=${size}:rate=25`, '-frames:v', '2', ...args, '-y', file,
  ]);
  return file;
}

/** Writes an RBSP bit by bit, then escapes it into a NAL unit's payload. */
class BitWriter {
  private bits: number[] = [];
  u(value: number, count: number): this {
    for (let i = count - 1; i >= 0; i -= 1) this.bits.push(Math.floor(value / 2 ** i) % 2);
    return this;
  }
  ue(value: number): this {
    const code = value + 1;
    const length = Math.floor(Math.log2(code));
    return this.u(0, length).u(code, length + 1);
  }
  nal(header: number[]): Uint8Array {
    this.bits.push(1); // rbsp_stop_one_bit
    while (this.bits.length % 8 !== 0) this.bits.push(0);
    const out = [...header];
    let zeros = 0;
    for (let i = 0; i < this.bits.length; i += 8) {
      const byte = this.bits.slice(i, i + 8).reduce((value, bit) => value * 2 + bit, 0);
      if (zeros >= 2 && byte <= 3) {
        out.push(3);
        zeros = 0;
      }
      out.push(byte);
      zeros = byte === 0 ? zeros + 1 : 0;
    }
    return Uint8Array.from(out);
  }
}

/** A Baseline H.264 SPS for a picture of widthMbs × heightMbs macroblocks, with an optional crop. */
function h264Sps(widthMbs: number, heightMbs: number, crop?: [number, number, number, number]): Uint8Array {
  const bits = new BitWriter().u(66, 8).u(0, 8).u(51, 8).ue(0); // profile, constraints, level, id
  bits.ue(0).ue(2).ue(1).u(0, 1); // log2_max_frame_num_minus4, poc type 2, ref frames, gaps
  bits
    .ue(widthMbs - 1)
    .ue(heightMbs - 1)
    .u(1, 1)
    .u(1, 1); // size, frame_mbs_only, direct_8x8
  bits.u(crop ? 1 : 0, 1);
  if (crop) for (const value of crop) bits.ue(value);
  bits.u(0, 1); // no VUI
  return bits.nal([0x67]);
}

describe('spsDimensions', () => {
  it('H.264 in the fixtures (360 lines: 23 macroblock rows cropped by 8) agrees with ffprobe', () => {
    const probed = probeSize(fixtures.clips['faststart']!.file);
    expect(probed).toEqual({ width: 640, height: 360 });
    for (const name of ['faststart', 'fragmented', 'editlist']) {
      const file = fixtures.clips[name]!.file;
      const [sps, ...more] = decoderConfigSps('h264', decoderConfig(file, 'avc1'));
      expect(more).toEqual([]);
      expect(spsDimensions('h264', sps!)).toEqual({ ...probed, codedWidth: 640, codedHeight: 368 });
    }
  });

  it('H.264 in-band, after an Annex B start code in MPEG-TS', () => {
    const bytes = readFileSync(fixtures.clips['mpegts']!.file);
    let at = -1;
    for (let i = 0; i + 4 < bytes.byteLength; i += 1) {
      if (bytes[i] === 0 && bytes[i + 1] === 0 && bytes[i + 2] === 1 && (bytes[i + 3]! & 0x1f) === 7) {
        at = i + 3;
        break;
      }
    }
    expect(at).toBeGreaterThan(0);
    expect(spsDimensions('h264', bytes.subarray(at, at + 64))).toEqual({
      width: 640,
      height: 360,
      codedWidth: 640,
      codedHeight: 368,
    });
  });

  it.each([
    // Interlaced: frame_mbs_only 0, map units are field macroblock pairs (32 lines) and the crop unit is 4.
    [
      'interlaced.mp4',
      '640x360',
      ['-c:v', 'libx264', '-flags', '+ildct+ilme', '-x264-params', 'interlaced=1'],
      640,
      384,
    ],
    // High 4:4:4: crop unit 1 in both directions.
    ['444.mp4', '642x362', ['-c:v', 'libx264', '-pix_fmt', 'yuv444p'], 656, 368],
    // Scaling matrices in the SPS (seq_scaling_matrix_present_flag) must be skipped over.
    ['cqm.mp4', '634x358', ['-c:v', 'libx264', '-x264-params', 'cqm=jvt'], 640, 368],
  ] as const)('H.264 %s (%s) agrees with ffprobe', (name, size, args, codedWidth, codedHeight) => {
    const file = encode(name, size, [...args]);
    const [sps] = decoderConfigSps('h264', decoderConfig(file, 'avc1'));
    expect(spsDimensions('h264', sps!)).toEqual({ ...probeSize(file), codedWidth, codedHeight });
  });

  it('HEVC (hvc1, conformance window) agrees with ffprobe', () => {
    // prettier-ignore
    const file = encode('hevc.mp4', '642x362', [
      '-c:v', 'libx265', '-x265-params', 'log-level=error', '-tag:v', 'hvc1', '-pix_fmt', 'yuv420p',
    ]);
    const [sps, ...more] = decoderConfigSps('hevc', decoderConfig(file, 'hvc1'));
    expect(more).toEqual([]);
    const probed = probeSize(file);
    expect(probed).toEqual({ width: 642, height: 362 });
    // x265 codes whole 8-sample minimum coding blocks and crops the rest.
    expect(spsDimensions('hevc', sps!)).toEqual({ ...probed, codedWidth: 648, codedHeight: 368 });
    // The same file's moov: its hvcC passes the structure check, and the header reads the SPS.
    const bytes = readFileSync(file);
    const moov = topLevel(bytes, 'moov');
    const moovBytes = bytes.subarray(moov.offset, moov.offset + moov.size);
    expect(checkMoov(moovBytes, { offset: moov.offset, fileSize: bytes.byteLength })).toBeUndefined();
    expect(mp4StreamHeader(moovBytes)).toMatchObject({ codec: 'hevc', sampleEntry: 'hvc1', ...probed });
  });

  it("the issue's 16000×16000 SPS, and a crop", () => {
    expect(spsDimensions('h264', h264Sps(1000, 1000))).toEqual({
      width: 16000,
      height: 16000,
      codedWidth: 16000,
      codedHeight: 16000,
    });
    expect(spsDimensions('h264', h264Sps(40, 23, [0, 1, 0, 4]))).toEqual({
      width: 638,
      height: 360,
      codedWidth: 640,
      codedHeight: 368,
    });
    // A crop that leaves nothing is ignored, as FFmpeg does.
    expect(spsDimensions('h264', h264Sps(2, 2, [0, 0, 0, 100]))).toMatchObject({ width: 32, height: 32 });
  });

  it('undefined, never a throw, for what is not a readable SPS', () => {
    const sps = h264Sps(40, 23);
    expect(spsDimensions('h264', sps.subarray(0, 5))).toBeUndefined(); // cut off
    expect(spsDimensions('h264', new Uint8Array(32))).toBeUndefined(); // zeroed: NAL type 0
    expect(spsDimensions('h264', Uint8Array.from([0x67, ...new Uint8Array(31)]))).toBeUndefined(); // zeroed body
    expect(spsDimensions('h264', Uint8Array.from([0x68, ...sps.subarray(1)]))).toBeUndefined(); // a PPS
    expect(spsDimensions('hevc', sps)).toBeUndefined();
    expect(spsDimensions('vp9', sps)).toBeUndefined();
    let seed = 7;
    for (let round = 0; round < 500; round += 1) {
      const noise = new Uint8Array(1 + (round % 40)).map(() => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed >>> 24;
      });
      noise[0] = round % 2 ? 0x67 : 0x42;
      for (const codec of ['h264', 'hevc']) {
        const result = spsDimensions(codec, noise);
        if (result) expect(result.codedWidth).toBeGreaterThan(0);
      }
    }
  });
});

describe('decoderConfigSps', () => {
  it('is empty for a cut-off or foreign configuration', () => {
    const config = decoderConfig(fixtures.clips['faststart']!.file, 'avc1');
    expect(decoderConfigSps('h264', config)).toHaveLength(1);
    expect(decoderConfigSps('h264', config.subarray(0, 10))).toEqual([]);
    expect(decoderConfigSps('h264', new Uint8Array(3))).toEqual([]);
    expect(decoderConfigSps('hevc', config)).toEqual([]);
  });
});
