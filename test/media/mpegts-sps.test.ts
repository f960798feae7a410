import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { createMpegtsSpsReader, type MpegtsSpsResult } from '../../src/media/mpegts-sps.js';
import { testFixtures } from '../support/fixtures.js';

let fixtures: FixtureSet;
let work: string;
beforeAll(async () => {
  fixtures = await testFixtures();
  work = mkdtempSync(join(tmpdir(), 'ff-mpegts-sps-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function readInChunks(
  bytes: Uint8Array,
  size: number,
): { result: MpegtsSpsResult | undefined; copied: number } {
  const reader = createMpegtsSpsReader();
  let result: MpegtsSpsResult | undefined;
  for (let at = 0; at < bytes.byteLength && !result; at += size)
    result = reader.push(bytes.subarray(at, at + size));
  return { result, copied: reader.bytesCopied };
}

function probeSize(file: string): { width: number; height: number } {
  const out = execFileSync(
    'ffprobe',
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'json', file],
    { encoding: 'utf8' },
  );
  const [stream] = (JSON.parse(out) as { streams: Array<{ width: number; height: number }> }).streams;
  return { width: stream!.width, height: stream!.height };
}

/** Where the next H.264 SPS NAL unit (its header byte) after `from` lies in a file's bytes; -1 if none. */
function spsAfter(bytes: Uint8Array, from: number): number {
  for (let at = from; at + 4 < bytes.byteLength; at += 1) {
    if (bytes[at] === 0 && bytes[at + 1] === 0 && bytes[at + 2] === 1 && (bytes[at + 3]! & 0x1f) === 7)
      return at + 3;
  }
  return -1;
}

describe('createMpegtsSpsReader', () => {
  it.each([1, 100, 188, 4096])('the fixture in chunks of %i bytes: its SPS, as ffprobe reads it', (size) => {
    const file = fixtures.clips['mpegts']!.file;
    const { result, copied } = readInChunks(readFileSync(file), size);
    expect(result).toEqual({
      kind: 'found',
      sps: { codec: 'h264', pid: 256, ...probeSize(file), codedWidth: 640, codedHeight: 368 },
    });
    // Partial packets (all bytes, in chunks smaller than a packet) and the video payload up to the SPS,
    // which follows x264's SEI in the first PES: never the file.
    expect(copied).toBeLessThan(size < 188 ? 16 * 188 : 4 * 188);
  });

  it("the issue's 16000×16000 SPS, from the first chunk", () => {
    const bytes = new Uint8Array(readFileSync(fixtures.clips['mpegts']!.file));
    // Each of the fixture's SPS units (one before every keyframe: High profile, with VUI) overwritten by
    // a Baseline one of 1000 × 1000 macroblocks; the zero bytes after it are trailing_zero_8bits, which
    // Annex B allows between units.
    const huge = [0x67, 0x42, 0x00, 0x33, 0xda, 0x00, 0x3e, 0x80, 0x07, 0xd1, 0x90];
    let replaced = 0;
    for (let at = spsAfter(bytes, 0); at >= 0; at = spsAfter(bytes, at)) {
      const next = Buffer.from(bytes).indexOf(Buffer.from([0, 0, 1]), at); // the next start code
      expect(next - at).toBeGreaterThan(huge.length);
      bytes.fill(0, at, next);
      bytes.set(huge, at);
      replaced += 1;
    }
    expect(replaced).toBeGreaterThan(1);
    // ffprobe reads this file as 16000×16000, after a minute of trying to decode it: not run here.
    expect(readInChunks(bytes, 4096).result).toEqual({
      kind: 'found',
      sps: { codec: 'h264', pid: 256, width: 16000, height: 16000, codedWidth: 16000, codedHeight: 16000 },
    });
  });

  it('HEVC (stream type 0x24)', () => {
    const file = join(work, 'hevc.ts');
    // prettier-ignore
    execFileSync('ffmpeg', [
      '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=642x362:rate=25', '-frames:v', '2',
      '-c:v', 'libx265', '-x265-params', 'log-level=error', '-f', 'mpegts', '-y', file,
    ]);
    expect(readInChunks(readFileSync(file), 1000).result).toEqual({
      kind: 'found',
      sps: { codec: 'hevc', pid: 256, ...probeSize(file), codedWidth: 648, codedHeight: 368 },
    });
  });

  it('none: a lost sync byte, a stream without H.264/HEVC; undefined while a packet is incomplete', () => {
    const mp4 = readFileSync(fixtures.clips['faststart']!.file);
    expect(readInChunks(mp4, 4096).result).toEqual({
      kind: 'none',
      reason: 'a transport packet without its sync byte',
    });
    const ts = readFileSync(fixtures.clips['mpegts']!.file);
    expect(createMpegtsSpsReader().push(ts.subarray(0, 187))).toBeUndefined();
    const mpeg2 = join(work, 'mpeg2.ts');
    // prettier-ignore
    execFileSync('ffmpeg', [
      '-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=25', '-frames:v', '1',
      '-c:v', 'mpeg2video', '-f', 'mpegts', '-y', mpeg2,
    ]);
    expect(readInChunks(readFileSync(mpeg2), 4096).result).toEqual({
      kind: 'none',
      reason: 'no H.264 or HEVC stream in the PMT',
    });
  });
});

describe('createMpegtsSpsReader on smashed packets', () => {
  it('a result or undefined for every mutation, never a throw', () => {
    const pristine = readFileSync(fixtures.clips['mpegts']!.file).subarray(0, 188 * 40);
    let seed = 5;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    const kinds = new Set<string>();
    for (let round = 0; round < 500; round += 1) {
      const bytes = new Uint8Array(pristine);
      for (let i = 0; i < 1 + (round % 8); i += 1) bytes[random() % bytes.byteLength] = random() >>> 24;
      const { result } = readInChunks(bytes, 1 + (random() % 900));
      kinds.add(result?.kind ?? 'undefined');
    }
    expect([...kinds].sort()).toEqual(['found', 'none', 'undefined']);
  });
});
