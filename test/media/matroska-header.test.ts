import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { createMatroskaHeaderReader, type MatroskaHeaderResult } from '../../src/media/matroska-header.js';
import { testFixtures } from '../support/fixtures.js';

let fixtures: FixtureSet;
beforeAll(async () => {
  fixtures = await testFixtures();
});

function readInChunks(
  bytes: Uint8Array,
  size: number,
): { result: MatroskaHeaderResult | undefined; copied: number } {
  const reader = createMatroskaHeaderReader();
  let result: MatroskaHeaderResult | undefined;
  for (let at = 0; at < bytes.byteLength && !result; at += size)
    result = reader.push(bytes.subarray(at, at + size));
  return { result, copied: reader.bytesCopied };
}

/** ffprobe's width, height and container duration. */
function probe(file: string): { width: number; height: number; durationS: number } {
  const out = execFileSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'stream=width,height:format=duration',
      '-of',
      'json',
      file,
    ],
    { encoding: 'utf8' },
  );
  const parsed = JSON.parse(out) as {
    streams: Array<{ width: number; height: number }>;
    format: { duration: string };
  };
  return {
    width: parsed.streams[0]!.width,
    height: parsed.streams[0]!.height,
    durationS: Number(parsed.format.duration),
  };
}

describe('createMatroskaHeaderReader', () => {
  it.each([1, 64, 4096])('matroska (H.264) in chunks of %i bytes: as ffprobe reads it', (size) => {
    const file = fixtures.clips['matroska']!.file;
    const { width, height, durationS } = probe(file);
    const { result, copied } = readInChunks(readFileSync(file), size);
    expect(result).toEqual({
      kind: 'found',
      header: {
        codecId: 'V_MPEG4/ISO/AVC',
        pixelWidth: width,
        pixelHeight: height,
        sps: { width, height, codedWidth: 640, codedHeight: 368 },
        durationS,
      },
    });
    // The head up to the end of Tracks (a few hundred bytes; the whole first chunk when larger).
    expect(copied).toBeLessThanOrEqual(Math.max(size, 2048));
  });

  it('webm (VP9): the Video element and the duration, no SPS', () => {
    const file = fixtures.clips['webm']!.file;
    const { width, height, durationS } = probe(file);
    expect(readInChunks(readFileSync(file), 100).result).toEqual({
      kind: 'found',
      header: { codecId: 'V_VP9', pixelWidth: width, pixelHeight: height, sps: undefined, durationS },
    });
  });

  it('none for what is not Matroska, or has no video before its first Cluster', () => {
    expect(readInChunks(readFileSync(fixtures.clips['faststart']!.file), 4096).result).toEqual({
      kind: 'none',
      reason: 'no EBML header',
    });
    // EBML header (empty), Segment of unknown size, then a Cluster.
    const clusterFirst = Uint8Array.from([
      0x1a, 0x45, 0xdf, 0xa3, 0x80, 0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0x1f, 0x43, 0xb6, 0x75, 0x80,
    ]);
    expect(readInChunks(clusterFirst, 1).result).toEqual({
      kind: 'none',
      reason: 'a Cluster before any video track',
    });
    expect(readInChunks(clusterFirst.subarray(0, 12), 1).result).toBeUndefined();
  });

  it('many tiny elements fed a byte at a time: walked to the Cluster, the head copied about once', () => {
    // EBML header, Segment of unknown size, then 20000 empty Void elements (0xEC, size 0) and a Cluster.
    const voids = new Uint8Array(40_000).map((_, i) => (i % 2 === 0 ? 0xec : 0x80));
    const bytes = new Uint8Array(
      Buffer.concat([
        Buffer.from([
          0x1a, 0x45, 0xdf, 0xa3, 0x80, 0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff,
        ]),
        voids,
        Buffer.from([0x1f, 0x43, 0xb6, 0x75, 0x80]),
      ]),
    );
    const { result, copied } = readInChunks(bytes, 1);
    expect(result).toEqual({ kind: 'none', reason: 'a Cluster before any video track' });
    // Each byte once, plus the doublings of the head's buffer (together less than its final size, < 2×).
    expect(copied).toBeLessThan(3 * bytes.byteLength);
  });
});

describe('createMatroskaHeaderReader on smashed heads', () => {
  it('a result or undefined for every mutation, never a throw', async () => {
    const pristine = readFileSync((await testFixtures()).clips['matroska']!.file).subarray(0, 8192);
    let seed = 9;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    const kinds = new Set<string>();
    for (let round = 0; round < 500; round += 1) {
      const bytes = new Uint8Array(pristine);
      for (let i = 0; i < 1 + (round % 6); i += 1) bytes[random() % 1024] = random() >>> 24;
      const { result } = readInChunks(bytes, 1 + (random() % 700));
      kinds.add(result?.kind ?? 'undefined');
    }
    // Smashes in the head give each outcome.
    expect([...kinds].sort()).toEqual(['found', 'none', 'undefined']);
  });
});
