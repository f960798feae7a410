/**
 * The fuzz harness's parts that decide what a case is: the seeded random source, the box / packet /
 * element walkers the mutators aim with, and the mutators themselves (deterministic, and changing only
 * what they say they change).
 */

import { beforeAll, describe, expect, it } from 'vitest';
import {
  caseById,
  makeCase,
  mutationKinds,
  parseCaseId,
  readClips,
  type ClipBytes,
} from '../../bench/fuzz/cases.js';
import { MKV_MUTATORS, walkEbml } from '../../bench/fuzz/mutate-mkv.js';
import { MP4_MUTATORS } from '../../bench/fuzz/mutate-mp4.js';
import { TS_MUTATORS, tsPackets } from '../../bench/fuzz/mutate-ts.js';
import { walkMp4 } from '../../bench/fuzz/mp4-walk.js';
import { createRng } from '../../bench/fuzz/rng.js';
import { boundaries, sweepIds } from '../../bench/fuzz/sweep.js';
import { scanTopLevelBoxes } from '../../src/media/mp4-boxes.js';
import { testFixtures } from '../support/fixtures.js';

/** A box: 32-bit size, type, body. */
function box(type: string, ...body: Uint8Array[]): Uint8Array {
  const length = body.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(8 + length);
  new DataView(out.buffer).setUint32(0, 8 + length);
  out.set(Buffer.from(type, 'latin1'), 4);
  let at = 8;
  for (const part of body) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const u32 = (...values: number[]): Uint8Array => {
  const out = new Uint8Array(4 * values.length);
  values.forEach((value, i) => new DataView(out.buffer).setUint32(4 * i, value));
  return out;
};

/** ftyp, then moov with one track whose stbl has stsd(avc1(avcC)), stts, stsz and stco, then mdat. */
function tinyMp4(): Uint8Array {
  const avcC = box(
    'avcC',
    Uint8Array.from([1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 1, 2, 3, 1, 0, 2, 0x68, 9]),
  );
  const avc1 = box('avc1', new Uint8Array(78), avcC);
  const stbl = box(
    'stbl',
    box('stsd', u32(0, 1), avc1),
    box('stts', u32(0, 1, 2, 512)),
    box('stsz', u32(0, 0, 2, 10, 12)),
    box('stco', u32(0, 1, 600)),
  );
  const moov = box('moov', box('trak', box('mdia', box('minf', stbl))));
  return new Uint8Array(
    Buffer.concat([box('ftyp', u32(0x69736f6d, 0)), moov, box('mdat', new Uint8Array(22))]),
  );
}

let clips: ClipBytes;
beforeAll(async () => {
  clips = await readClips(await testFixtures());
}, 120_000);

describe('createRng', () => {
  it('gives the same stream for the same (seed, index) and another for a neighbouring index', () => {
    const draw = (seed: number, index: number) => {
      const rng = createRng(seed, index);
      return Array.from({ length: 8 }, () => rng.uint32());
    };
    expect(draw(7, 123)).toEqual(draw(7, 123));
    expect(draw(7, 124)).not.toEqual(draw(7, 123));
    expect(draw(8, 123)).not.toEqual(draw(7, 123));
  });

  it('stays inside the ranges it is asked for', () => {
    const rng = createRng(1, 1);
    for (let i = 0; i < 1000; i += 1) {
      const value = rng.between(3, 5);
      expect(value === 3 || value === 4 || value === 5).toBe(true);
    }
    expect(() => rng.int(0)).toThrow(RangeError);
  });
});

describe('walkMp4', () => {
  it('finds every nested box of a hand-made file, with its path, offset and size', () => {
    const walked = walkMp4(tinyMp4()).map(({ path, offset, size }) => [path, offset, size]);
    expect(walked).toEqual([
      ['ftyp', 0, 16],
      ['moov', 16, 239],
      ['moov/trak', 24, 231],
      ['moov/trak/mdia', 32, 223],
      ['moov/trak/mdia/minf', 40, 215],
      ['moov/trak/mdia/minf/stbl', 48, 207],
      ['moov/trak/mdia/minf/stbl/stsd', 56, 127],
      ['moov/trak/mdia/minf/stbl/stsd/avc1', 72, 111],
      ['moov/trak/mdia/minf/stbl/stsd/avc1/avcC', 158, 25],
      ['moov/trak/mdia/minf/stbl/stts', 183, 24],
      ['moov/trak/mdia/minf/stbl/stsz', 207, 28],
      ['moov/trak/mdia/minf/stbl/stco', 235, 20],
      ['mdat', 255, 30],
    ]);
  });

  it('agrees with the product walker on the top-level boxes of every MP4 fixture', () => {
    for (const layout of ['faststart', 'moov-end', 'fragmented'] as const) {
      const bytes = clips[layout];
      const top = walkMp4(bytes).filter((b) => b.depth === 0);
      expect(
        top.map((b) => [b.type, b.offset, b.size]),
        layout,
      ).toEqual(scanTopLevelBoxes(bytes).map((b) => [b.type, b.offset, b.size]));
      const paths = walkMp4(bytes).map((b) => b.path);
      expect(paths, layout).toContain('moov/trak/mdia/minf/stbl/stsd/avc1/avcC');
    }
  });

  it('stops at a box whose size runs past its parent, without throwing', () => {
    const bytes = tinyMp4();
    new DataView(bytes.buffer).setUint32(56, 0xffffffff); // stsd
    const paths = walkMp4(bytes).map((b) => b.path);
    expect(paths).not.toContain('moov/trak/mdia/minf/stbl/stsd');
    expect(paths).not.toContain('moov/trak/mdia/minf/stbl/stco');
    expect(paths).toContain('mdat');
  });
});

/** The byte offsets where two arrays of the same length differ. */
const changedAt = (a: Uint8Array, b: Uint8Array): number[] => [...a.keys()].filter((i) => a[i] !== b[i]);

describe('MP4 mutators', () => {
  it('mp4-entry-count changes only a count field of a sample table', () => {
    const input = tinyMp4();
    const countAt: Record<string, number> = { stsd: 68, stts: 195, stsz: 223, stco: 247 };
    for (let index = 0; index < 40; index += 1) {
      const mutation = MP4_MUTATORS['mp4-entry-count']!.mutate(input, createRng(3, index))!;
      const table = /\/(\w{4}) count/.exec(mutation.detail)![1]!;
      const changed = changedAt(input, mutation.bytes);
      for (const at of changed) expect(at - countAt[table]!, mutation.detail).toBeGreaterThanOrEqual(0);
      for (const at of changed) expect(at - countAt[table]!, mutation.detail).toBeLessThan(4);
    }
  });

  it('mp4-box-size changes only the size field of one box', () => {
    const input = tinyMp4();
    const starts = new Set(walkMp4(input).map((b) => b.offset));
    for (let index = 0; index < 40; index += 1) {
      const mutation = MP4_MUTATORS['mp4-box-size']!.mutate(input, createRng(4, index))!;
      const changed = changedAt(input, mutation.bytes);
      const offset = Number(/@(\d+)/.exec(mutation.detail)![1]);
      expect(starts.has(offset)).toBe(true);
      for (const at of changed) expect(at >= offset && at < offset + 4, mutation.detail).toBe(true);
    }
  });

  it('mp4-truncate-box cuts the file at a box boundary or one byte beside it', () => {
    const input = tinyMp4();
    const boundaries = walkMp4(input).flatMap((b) => [b.offset, b.bodyOffset, b.offset + b.size]);
    for (let index = 0; index < 40; index += 1) {
      const mutation = MP4_MUTATORS['mp4-truncate-box']!.mutate(input, createRng(5, index))!;
      const near = boundaries.some((at) => Math.abs(at - mutation.bytes.length) <= 1);
      expect(near, mutation.detail).toBe(true);
      expect([...mutation.bytes]).toEqual([...input.subarray(0, mutation.bytes.length)]);
    }
  });

  it('mp4-chunk-offset points stco entries elsewhere and leaves the rest alone', () => {
    const input = tinyMp4();
    for (let index = 0; index < 20; index += 1) {
      const mutation = MP4_MUTATORS['mp4-chunk-offset']!.mutate(input, createRng(6, index))!;
      for (const at of changedAt(input, mutation.bytes))
        expect(at >= 251 && at < 255, mutation.detail).toBe(true);
    }
  });

  it('mutators with nothing to aim at give way (no ctts, no moov)', () => {
    const noMoov = box('ftyp', u32(0, 0));
    expect(MP4_MUTATORS['mp4-smash-moov']!.mutate(noMoov, createRng(1, 1))).toBeUndefined();
    expect(MP4_MUTATORS['mp4-sample-entry']!.mutate(noMoov, createRng(1, 1))).toBeUndefined();
  });
});

describe('TS and Matroska walkers', () => {
  it('tsPackets finds the PAT first and one packet per 188 bytes of the MPEG-TS fixture', () => {
    const packets = tsPackets(clips.mpegts);
    expect(packets.length).toBe(clips.mpegts.length / 188);
    expect(packets.some((p) => p.pid === 0 && p.payloadStart)).toBe(true);
    expect(packets.every((p) => p.offset % 188 === 0)).toBe(true);
  });

  it('walkEbml finds the header, the segment, the track with its 640×360 picture size, and clusters', () => {
    for (const layout of ['matroska', 'webm'] as const) {
      const bytes = clips[layout];
      const elements = walkEbml(bytes);
      expect(elements[0]!.id, layout).toBe(0x1a45dfa3);
      const value = (id: number) => {
        const e = elements.find((element) => element.id === id)!;
        return [...bytes.subarray(e.dataOffset, e.dataOffset + e.size!)].reduce((n, b) => n * 256 + b, 0);
      };
      expect(value(0xb0), layout).toBe(640);
      expect(value(0xba), layout).toBe(360);
      expect(
        elements.some((e) => e.id === 0x1f43b675),
        layout,
      ).toBe(true);
    }
  });

  it('every TS and Matroska mutator applies to its fixture', () => {
    for (const [kind, { mutate }] of Object.entries(TS_MUTATORS)) {
      expect(mutate(clips.mpegts, createRng(1, 1)), kind).toBeDefined();
    }
    for (const [kind, { mutate }] of Object.entries(MKV_MUTATORS)) {
      expect(mutate(clips.matroska, createRng(1, 1)), kind).toBeDefined();
    }
  });
});

describe('makeCase', () => {
  it('makes the same case from its id, and different cases from different ids', () => {
    const a = makeCase(clips, 7, 123);
    const { seed, index } = parseCaseId(a.id);
    const again = makeCase(clips, seed, index);
    expect(again.id).toBe('7-123');
    expect([again.clip, again.kind, again.detail]).toEqual([a.clip, a.kind, a.detail]);
    expect(Buffer.compare(again.bytes, a.bytes)).toBe(0);
    const other = makeCase(clips, 7, 124);
    expect(Buffer.compare(other.bytes, a.bytes) !== 0 || other.detail !== a.detail).toBe(true);
    expect(() => parseCaseId('7:123')).toThrow('SEED-INDEX');
  });

  it('reaches every clip and every mutation kind within 2000 cases, and never leaves a clip unchanged', () => {
    const seen = new Set<string>();
    const clipsSeen = new Set<string>();
    const unchanged: string[] = [];
    for (let index = 0; index < 2000; index += 1) {
      const fuzzCase = makeCase(clips, 1, index);
      seen.add(fuzzCase.kind);
      clipsSeen.add(fuzzCase.clip);
      const original = clips[fuzzCase.clip];
      if (Buffer.compare(original, fuzzCase.bytes) === 0) unchanged.push(`${fuzzCase.id} ${fuzzCase.detail}`);
    }
    expect(unchanged).toEqual([]);
    expect([...clipsSeen].sort()).toEqual([
      'editlist',
      'faststart',
      'fragmented',
      'matroska',
      'moov-end',
      'mpegts',
      'webm',
    ]);
    expect([...seen].sort()).toEqual(Object.values(mutationKinds()).flat().sort());
  });
});

describe('the truncation sweep', () => {
  it('cuts each MP4 clip where each box starts, where its header ends and where it ends', () => {
    const bytes = clips.faststart;
    const cuts = boundaries(clips, 'faststart');
    const moov = walkMp4(bytes).find((b) => b.type === 'moov')!;
    const stco = walkMp4(bytes).find((b) => b.type === 'stco')!;
    for (const at of [moov.offset, moov.bodyOffset, moov.offset + moov.size, stco.offset, stco.bodyOffset]) {
      expect(cuts).toContain(at);
    }
    expect(cuts).toEqual([...new Set(cuts)].sort((a, b) => a - b));
    expect(cuts[0]).toBeGreaterThan(0);
    expect(cuts[cuts.length - 1]).toBeLessThan(bytes.length);
  });

  it('a cut case is the clip up to its offset, and is made again from its id', () => {
    const ids = sweepIds(clips);
    expect(ids).toContain(`cut-faststart-${boundaries(clips, 'faststart')[0]}`);
    const id = ids.find((item) => item.startsWith('cut-moov-end-'))!;
    const fuzzCase = caseById(clips, id);
    const at = Number(id.slice('cut-moov-end-'.length));
    expect([fuzzCase.id, fuzzCase.clip, fuzzCase.kind, fuzzCase.bytes.length]).toEqual([
      id,
      'moov-end',
      'boundary-cut',
      at,
    ]);
    expect(Buffer.compare(fuzzCase.bytes, clips['moov-end'].subarray(0, at))).toBe(0);
    expect(() => caseById(clips, `cut-moov-end-${clips['moov-end'].length}`)).toThrow('inside the clip');
  });
});
