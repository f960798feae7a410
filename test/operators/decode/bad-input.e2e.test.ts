import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { from } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { DecodeError, FirstframeError } from '../../../src/core/errors.js';
import { decode } from '../../../src/operators/decode.js';
import { fileSource } from '../../../src/sources/file.js';
import type { ByteChunk, ResourceInfo } from '../../../src/sources/types.js';
import { decodeAll, decodeError, fixtures, overHttp, sim, useDecodeServer } from './e2e-harness.js';

// The decode operator end to end: bad input and bad options give typed errors, never a crash or a hang.

const scratch = mkdtempSync(join(tmpdir(), 'ff-decode-'));

/** Bytes that look random but are the same for the same seed. */
function seededNoise(seed: string, length: number): Buffer {
  const blocks: Buffer[] = [];
  for (let block = 0; blocks.length * 32 < length; block += 1) {
    blocks.push(createHash('sha256').update(`${seed}:${block}`).digest());
  }
  return Buffer.concat(blocks).subarray(0, length);
}

/** Byte-level variants of the faststart clip that make bad input, served from memory. */
function variants(): Record<string, Uint8Array> {
  const clip = readFileSync(fixtures.clips['faststart']!.file);
  const badCodec = Buffer.from(clip);
  const stsd = badCodec.indexOf('stsd');
  badCodec.write('zzzz', badCodec.indexOf('avc1', stsd), 'latin1');
  const corrupt = Buffer.from(clip);
  // Overwrite 1.5 KB in the middle of mdat with noise: the decoder drops the frames it cannot rebuild.
  // The same noise every run; this one makes FFmpeg refuse a packet while a frame fails (beamcoder then
  // hands over an empty frame, which must not be taken for a picture).
  seededNoise('corrupt-2', 1500).copy(corrupt, 40_000);
  const audioOnly = join(scratch, 'audio-only.m4a');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=d=1', '-c:a', 'aac', audioOnly]);
  return {
    '/bad-codec.mp4': badCodec,
    '/corrupt.mp4': corrupt,
    '/truncated-moov.mp4': clip.subarray(0, 1000),
    '/page.html': Buffer.from('<!DOCTYPE html><html><body><h1>403 Forbidden</h1></body></html>'.repeat(20)),
    '/random.bin': seededNoise('random', 50_000),
    '/empty.mp4': Buffer.alloc(0),
    '/audio-only.m4a': readFileSync(audioOnly),
  };
}

useDecodeServer(variants);

describe('decode: bad input gives a typed error, never a crash or a hang', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['an HTML error page', '/page.html', /FF_ERR_NOT_A_VIDEO: .*looks like an HTML or XML page/],
    ['random bytes', '/random.bin', /FF_ERR_NOT_A_VIDEO: .*first bytes match no known container/],
    [
      'a truncated moov (its size past the Content-Length)',
      '/truncated-moov.mp4',
      /FF_ERR_MP4_STRUCTURE: .*moov at byte 32: box size 1749 breaks its bound \(≤ 968 bytes to the file's end at 1000\)/,
    ],
    [
      'an unsupported codec',
      '/bad-codec.mp4',
      /FF_ERR_UNSUPPORTED_CODEC: .*no decoder for codec none \(tag "zzzz"\)/,
    ],
    ['no video track', '/audio-only.m4a', /FF_ERR_NO_VIDEO_STREAM: .*found audio:aac/],
    ['an empty body', '/empty.mp4', /FF_ERR_NO_DATA: .*ended before any byte/],
  ];
  it.each(cases)('%s', async (_name, path, expected) => {
    const { error, events } = await decodeError(overHttp(path), { sourceUrl: sim.urlFor(path) });
    expect(`${error.code}: ${error.message}`).toMatch(expected);
    expect(error.message).toContain(sim.urlFor(path));
    expect(error).toBeInstanceOf(error.code === 'FF_ERR_NO_DATA' ? DecodeError : FirstframeError);
    expect(events.filter((e) => e.name === 'end' && e.stage === 'decode').at(-1)!.data).toMatchObject({
      reason: 'error',
      code: error.code,
    });
  });

  it('a cut-off moov that arrived whole before FFmpeg opened: a typed error every time, never a crash', async () => {
    // All the bytes, and their end, are in before the demuxer's open is called (frame 0 from the index
    // waits for the moov first): beamcoder crashed when such an open failed on a finished governor.
    // Without a known size the moov cannot be judged before FFmpeg's open, which fails; with one (a file,
    // a Content-Length) it is refused before FFmpeg sees it.
    const cut = readFileSync(fixtures.clips['faststart']!.file).subarray(0, 1000);
    const resource: ResourceInfo = {
      url: 'memory:cut-moov.mp4',
      totalBytes: undefined,
      rangeHonoured: undefined,
      contentType: undefined,
    };
    const file = join(scratch, 'cut-moov.mp4');
    writeFileSync(file, cut);
    for (let i = 0; i < 20; i += 1) {
      const { error } = await decodeError(from([{ bytes: cut, offset: 0, receivedAt: 0, resource }]));
      expect(error.code).toBe('FF_ERR_NOT_A_VIDEO');
      expect((await decodeError(fileSource(file))).error.code).toBe('FF_ERR_MP4_STRUCTURE');
    }
  });

  it('corrupt packets in the middle: lost frames are counted and reported, numbering stays true, decoding goes on', async () => {
    const { frames, named } = await decodeAll(overHttp('/corrupt.mp4'));
    const lost = named('frames-lost');
    expect(lost.length).toBeGreaterThan(0);
    const total = named('end')[0]!.data!.framesLost as number;
    expect(total).toBeGreaterThan(0);
    expect(frames.length + total).toBe(100);
    for (const frame of frames) {
      expect(frame.frameNumber).toBe(Math.round(frame.pts * 25));
      expect([frame.width, frame.height]).toEqual([640, 360]);
    }
    expect(frames.at(-1)!.frameNumber).toBe(99);
  });

  it('corrupt packets all in at once, frame threads: never an empty frame, numbering stays true', async () => {
    // With the decoder behind, packets go to it several per call, and unpatched beamcoder took a frame the
    // decoder failed to give (EAGAIN, then a failed receive) for an empty 0×0 frame without a timestamp
    // (patches/beamcoder+0.7.1.patch). Whether a run hits that depends on the decoder threads' timing:
    // unpatched, each of these noise patterns hit it in 5 to 8 of 10 runs here, so five of them all
    // missing is very unlikely.
    const clip = readFileSync(fixtures.clips['faststart']!.file);
    for (const seed of ['corrupt-2', 'corrupt-9', 'corrupt-20', 'corrupt-21', 'corrupt-28']) {
      const bytes = Buffer.from(clip);
      seededNoise(seed, 1500).copy(bytes, 40_000);
      const resource: ResourceInfo = {
        url: `memory:${seed}.mp4`,
        totalBytes: bytes.byteLength,
        rangeHonoured: undefined,
        contentType: 'video/mp4',
      };
      const chunks: ByteChunk[] = [];
      for (let offset = 0; offset < bytes.byteLength; offset += 16_384) {
        chunks.push({ offset, bytes: bytes.subarray(offset, offset + 16_384), receivedAt: 0, resource });
      }
      const { frames, named } = await decodeAll(from(chunks), { threads: 'frame', threadCount: 2 });
      // A picture frame threads give late (after a later one, also seen here) is not emitted: every
      // number is either emitted once, in order, or counted lost.
      const total = named('end')[0]!.data!.framesLost as number;
      expect(frames.length + total).toBe(100);
      for (const frame of frames) {
        expect([frame.frameNumber, frame.width, frame.height]).toEqual([
          Math.round(frame.pts * 25),
          640,
          360,
        ]);
      }
      const numbers = frames.map((frame) => frame.frameNumber);
      expect(numbers.every((number, index) => index === 0 || number > numbers[index - 1]!)).toBe(true);
    }
  });

  it('bad options throw a ConfigError listing every problem', () => {
    expect(() =>
      decode({ imgSize: 0, threads: 'many' as 'slice', probeSize: 8, threadCount: -1 }),
    ).toThrowError(
      'decode.imgSize: expected a positive integer, got 0\ndecode.threadCount: expected an integer >= 0 (0: FFmpeg\'s choice), got -1\ndecode.probeSize: expected an integer >= 32, got 8\ndecode.threads: expected slice, frame or auto, got "many"',
    );
    expect(() => decode({ threadCount: 0 })).not.toThrow();
  });
});
