import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/core/errors.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { scanTopLevelBoxes } from '../../src/media/mp4-boxes.js';
import { checkMoof, checkMoov, MAX_MP4_SAMPLES } from '../../src/media/mp4-check.js';
import { testFixtures } from '../support/fixtures.js';
import { boxAt, topLevel } from './mp4-tree.js';

let fixtures: FixtureSet;
beforeAll(async () => {
  fixtures = await testFixtures();
});

const file = (name: string) => readFileSync(fixtures.clips[name]!.file);

/** A copy of a fixture's moov (and its file offset), to smash. */
function moovOf(name: string): { moov: Uint8Array; offset: number; fileSize: number } {
  const bytes = file(name);
  const box = topLevel(bytes, 'moov');
  return {
    moov: new Uint8Array(bytes.subarray(box.offset, box.offset + box.size)),
    offset: box.offset,
    fileSize: bytes.length,
  };
}

function setU32(bytes: Uint8Array, at: number, value: number): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(at, value);
}

function structureError(result: DecodeError | undefined): Record<string, unknown> {
  expect(result).toBeInstanceOf(DecodeError);
  expect(result!.code).toBe('FF_ERR_MP4_STRUCTURE');
  return result!.context;
}

const STBL = 'moov.trak[0].mdia.minf.stbl';

describe('checkMoov', () => {
  it.each(['faststart', 'moov-end', 'fragmented', 'audio', 'editlist'])(
    'passes the %s fixture unchanged',
    (name) => {
      const { moov, offset, fileSize } = moovOf(name);
      expect(checkMoov(moov, { offset, fileSize })).toBeUndefined();
      expect(checkMoov(moov)).toBeUndefined();
    },
  );

  it.each([
    ['stco', 4],
    ['stsc', 12],
    ['stts', 8],
    ['ctts', 8],
    ['stss', 4],
  ])('an entry count of 0xFFFFFFFF in %s: the box, its offset, the value and the cap', (type) => {
    const { moov, offset } = moovOf('faststart');
    const box = boxAt(moov, `${STBL}.${type}`);
    setU32(moov, box.body + 4, 0xffffffff);
    expect(structureError(checkMoov(moov, { offset }))).toEqual({
      box: `${STBL}.${type}`,
      offset: offset + box.start,
      field: 'entry_count',
      value: 0xffffffff,
      bound: `≤ ${MAX_MP4_SAMPLES}`,
    });
  });

  it.each([
    ['stco', 4],
    ['stsc', 12],
    ['stts', 8],
    ['ctts', 8],
    ['stss', 4],
  ])('an entry count in %s beyond what the box holds', (type, entryBytes) => {
    const { moov, offset } = moovOf('faststart');
    const box = boxAt(moov, `${STBL}.${type}`);
    const holds = box.end - box.body - 8;
    const count = holds / entryBytes + 1;
    setU32(moov, box.body + 4, count);
    const error = checkMoov(moov, { offset });
    expect(structureError(error)).toEqual({
      box: `${STBL}.${type}`,
      offset: offset + box.start,
      field: 'entry_count',
      value: count,
      bound: `${count} × ${entryBytes} bytes ≤ the ${holds} bytes the box holds`,
    });
    expect(error!.message).toBe(
      `MP4 ${STBL}.${type} at byte ${offset + box.start}: entry count ${count} breaks its bound (${count} × ${entryBytes} bytes ≤ the ${holds} bytes the box holds)`,
    );
  });

  it('stsd: an entry count of 0xFFFFFFFF, of 0, and of more entries than it holds', () => {
    const { moov, offset } = moovOf('faststart');
    const stsd = boxAt(moov, `${STBL}.stsd`);
    const expected = { box: `${STBL}.stsd`, offset: offset + stsd.start, field: 'entry_count' };
    setU32(moov, stsd.body + 4, 0xffffffff);
    expect(structureError(checkMoov(moov, { offset }))).toEqual({
      ...expected,
      value: 0xffffffff,
      bound: '≤ 1024',
    });
    setU32(moov, stsd.body + 4, 0);
    expect(structureError(checkMoov(moov, { offset }))).toEqual({ ...expected, value: 0, bound: '≥ 1' });
    setU32(moov, stsd.body + 4, 2);
    expect(structureError(checkMoov(moov, { offset }))).toEqual({
      ...expected,
      value: 2,
      bound: '≤ the 1 sample entries the box holds',
    });
  });

  it('an avc1 sample entry of size 0, and one shorter than a visual sample entry', () => {
    const { moov, offset } = moovOf('faststart');
    const avc1 = boxAt(moov, `${STBL}.stsd.avc1`);
    const original = avc1.end - avc1.start;
    setU32(moov, avc1.start, 0);
    expect(structureError(checkMoov(moov, { offset }))).toEqual({
      box: `${STBL}.stsd.avc1`,
      offset: offset + avc1.start,
      field: 'size',
      value: 0,
      bound: 'only a top-level box may run to the end of the file',
    });
    // 80 bytes fit in stsd but not the 8 + 78 bytes of a VisualSampleEntry.
    setU32(moov, avc1.start, 80);
    expect(original).toBeGreaterThan(80);
    expect(structureError(checkMoov(moov, { offset }))).toMatchObject({
      box: `${STBL}.stsd.avc1`,
      field: 'size',
      value: 80,
      bound: '≥ 86 for a avc1 sample entry',
    });
  });

  it('avcC: version 1, an SPS and a PPS in an avc1 entry, each of its NAL type', () => {
    const path = `${STBL}.stsd.avc1.avcC`;
    const fault = (mutate: (moov: Uint8Array, body: number) => void) => {
      const { moov, offset } = moovOf('faststart');
      const avcC = boxAt(moov, path);
      mutate(moov, avcC.body);
      const error = checkMoov(moov, { offset });
      return { ...structureError(error), at: offset + avcC.start };
    };
    const version = fault((moov, body) => (moov[body] = 0));
    expect(version).toEqual({
      box: path,
      offset: version.at,
      at: version.at,
      field: 'configurationVersion',
      value: 0,
      bound: '1',
    });
    // numOfSequenceParameterSets is the low 5 bits of byte 5.
    expect(fault((moov, body) => (moov[body + 5] = 0xe0))).toMatchObject({
      box: path,
      field: 'numOfSequenceParameterSets',
      value: 0,
      bound: '≥ 1 in an avc1 sample entry',
    });
    // A zeroed SPS (its NAL header byte first, after the 2-byte length at 6).
    expect(fault((moov, body) => moov.fill(0, body + 8, body + 12))).toMatchObject({
      box: path,
      field: 'nal_unit_type',
      value: 0,
      bound: '7 for each unit counted in numOfSequenceParameterSets',
    });
  });

  it('a sample table without one of its mandatory boxes (stsz renamed)', () => {
    const { moov, offset } = moovOf('faststart');
    const stbl = boxAt(moov, STBL);
    const stsz = boxAt(moov, `${STBL}.stsz`);
    moov.set(Buffer.from('rtsz'), stsz.start + 4);
    expect(structureError(checkMoov(moov, { offset }))).toEqual({
      box: STBL,
      offset: offset + stbl.start,
      field: 'children',
      value: 'no stsz or stz2',
      bound: 'stsd, stts, stsc, stsz or stz2, stco or co64',
    });
  });

  it('a moov of size 7, and a moov larger than the bytes or the file', () => {
    const { moov, offset, fileSize } = moovOf('faststart');
    const size = moov.byteLength;
    setU32(moov, 0, 7);
    expect(structureError(checkMoov(moov, { offset }))).toEqual({
      box: 'moov',
      offset,
      field: 'size',
      value: 7,
      bound: '≥ its 8-byte header',
    });
    setU32(moov, 0, 0xffffffff);
    expect(structureError(checkMoov(moov, { offset, fileSize }))).toEqual({
      box: 'moov',
      offset,
      field: 'size',
      value: 0xffffffff,
      bound: `≤ ${fileSize - offset} bytes to the file's end at ${fileSize}`,
    });
    expect(structureError(checkMoov(moov, { offset }))).toMatchObject({ bound: `≤ the ${size} bytes given` });
    expect(structureError(checkMoov(moov.subarray(0, 5), { offset }))).toMatchObject({
      field: 'size',
      value: 5,
    });
  });

  it('a child that runs past its parent', () => {
    const { moov, offset } = moovOf('faststart');
    const stbl = boxAt(moov, STBL);
    const stco = boxAt(moov, `${STBL}.stco`);
    setU32(moov, stco.start, stco.end - stco.start + 4);
    expect(structureError(checkMoov(moov, { offset }))).toEqual({
      box: `${STBL}.stco`,
      offset: offset + stco.start,
      field: 'size',
      value: stco.end - stco.start + 4,
      bound: `≤ ${stbl.end - stco.start} bytes left in ${STBL}`,
    });
  });

  it('64-bit sizes: a moov with a largesize passes; a child largesize past its parent does not', () => {
    const { moov } = moovOf('faststart');
    const wide = new Uint8Array(moov.byteLength + 8);
    wide.set(moov.subarray(8), 16);
    setU32(wide, 0, 1);
    wide.set(Buffer.from('moov'), 4);
    new DataView(wide.buffer).setBigUint64(8, BigInt(wide.byteLength));
    expect(checkMoov(wide)).toBeUndefined();
    const trak = boxAt(wide, 'moov.trak[0]');
    const tkhd = boxAt(wide, 'moov.trak[0].tkhd');
    // tkhd as a 64-bit box claiming the moon; its type moves 8 bytes on, over the version and flags.
    setU32(wide, tkhd.start, 1);
    new DataView(wide.buffer).setBigUint64(tkhd.start + 8, 1n << 40n);
    expect(structureError(checkMoov(wide))).toEqual({
      box: 'moov.trak[0].tkhd',
      offset: tkhd.start,
      field: 'size',
      value: 2 ** 40,
      bound: `≤ ${trak.end - tkhd.start} bytes left in moov.trak[0]`,
    });
  });

  it('chunk offsets past the file: checked when the file size is known', () => {
    const { moov, offset, fileSize } = moovOf('faststart');
    const stco = boxAt(moov, `${STBL}.stco`);
    const stsz = boxAt(moov, `${STBL}.stsz`);
    const view = new DataView(moov.buffer);
    let total = 0;
    for (let i = 0; i < view.getUint32(stsz.body + 8); i += 1)
      total += view.getUint32(stsz.body + 12 + i * 4);
    // The single chunk holds all 100 samples: moved so that its last byte is one past the file's end.
    const moved = fileSize - total + 1;
    setU32(moov, stco.body + 8, moved);
    expect(checkMoov(moov, { offset })).toBeUndefined();
    expect(structureError(checkMoov(moov, { offset, fileSize }))).toEqual({
      box: `${STBL}.stco`,
      offset: offset + stco.start,
      field: 'chunk_offset',
      value: moved,
      bound: `chunk 0 at ${moved} + ${total} bytes of samples ≤ file size ${fileSize}`,
    });
    setU32(moov, stco.body + 8, moved - 1);
    expect(checkMoov(moov, { offset, fileSize })).toBeUndefined();
  });

  it('the audio fixture: 99 chunks of each track checked against the file', () => {
    const { moov, offset, fileSize } = moovOf('audio');
    const stco = boxAt(moov, 'moov.trak[1].mdia.minf.stbl.stco');
    setU32(moov, stco.body + 8 + 98 * 4, fileSize);
    expect(structureError(checkMoov(moov, { offset, fileSize }))).toMatchObject({
      box: 'moov.trak[1].mdia.minf.stbl.stco',
      field: 'chunk_offset',
      value: fileSize,
    });
  });

  it('a uniform sample size whose samples cannot fit the file', () => {
    const { moov, offset, fileSize } = moovOf('faststart');
    const stsz = boxAt(moov, `${STBL}.stsz`);
    setU32(moov, stsz.body + 4, 1000);
    setU32(moov, stsz.body + 8, 0xffff);
    expect(structureError(checkMoov(moov, { offset, fileSize }))).toEqual({
      box: `${STBL}.stsz`,
      offset: offset + stsz.start,
      field: 'sample_count',
      value: 0xffff,
      bound: `65535 × 1000 bytes ≤ file size ${fileSize}`,
    });
  });

  it("a duplicated byte range inside a fragmented file's moov", () => {
    const bytes = file('fragmented');
    const box = topLevel(bytes, 'moov');
    const moov = bytes.subarray(box.offset, box.offset + box.size);
    // stsd's first 16 bytes twice: the moov's size no longer covers its content, and the walk, which
    // checks a box's children before descending into any, finds the last one (udta) 16 bytes too long.
    const stsd = boxAt(moov, `${STBL}.stsd`);
    const udta = boxAt(moov, 'moov.udta');
    const smashed = Buffer.concat([moov.subarray(0, stsd.start + 16), moov.subarray(stsd.start)]);
    const error = checkMoov(smashed, { offset: box.offset, fileSize: bytes.length + 16 });
    expect(structureError(error)).toEqual({
      box: 'moov.udta',
      offset: box.offset + udta.start + 16,
      field: 'size',
      value: udta.end - udta.start,
      bound: `≤ ${udta.end - udta.start - 16} bytes left in moov`,
    });
    expect(error!.message).toBe(
      `MP4 moov.udta at byte ${box.offset + udta.start + 16}: box size 98 breaks its bound (≤ 82 bytes left in moov)`,
    );
  });

  it('random bytes and smashed 32-bit fields: a typed error or a pass, never a throw', () => {
    const { moov: pristine, offset, fileSize } = moovOf('faststart');
    let seed = 14;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed;
    };
    let failures = 0;
    for (let round = 0; round < 400; round += 1) {
      const moov = new Uint8Array(pristine);
      const at = 8 + (random() % (moov.byteLength - 12));
      const choice = random() % 4;
      const value = [0xffffffff, 0, random(), 7][choice]!;
      setU32(moov, at - (at % 4), value);
      if (round % 5 === 0)
        for (let i = 0; i < 64; i += 1) moov[8 + (random() % (moov.byteLength - 8))] = random() >>> 24;
      const result = checkMoov(moov, { offset, fileSize });
      if (result) {
        expect(result.code).toBe('FF_ERR_MP4_STRUCTURE');
        failures += 1;
      }
    }
    // Most smashes land in a size, a count or an offset; some land in harmless fields (matrix, names).
    expect(failures).toBeGreaterThan(100);
    const noise = new Uint8Array(4096).map(() => random() >>> 24);
    noise.set([0, 0, 16, 0], 0);
    noise.set(Buffer.from('moov'), 4);
    expect(structureError(checkMoov(noise))).toMatchObject({ box: expect.stringMatching(/^moov\./) });
  });
});

describe('checkMoof', () => {
  it('passes every fragment of the fragmented fixture with the file size', () => {
    const bytes = file('fragmented');
    const moofs = scanTopLevelBoxes(bytes).filter((box) => box.type === 'moof');
    expect(moofs.length).toBe(2);
    for (const moof of moofs) {
      expect(
        checkMoof(bytes.subarray(moof.offset, moof.offset + moof.size), {
          offset: moof.offset,
          fileSize: bytes.length,
        }),
      ).toBeUndefined();
    }
  });

  it("a trun sample count beyond its bytes, and data past the file's end", () => {
    const bytes = file('fragmented');
    const box = scanTopLevelBoxes(bytes).find((b) => b.type === 'moof')!;
    const moof = new Uint8Array(bytes.subarray(box.offset, box.offset + box.size));
    const trun = boxAt(moof, 'moof.traf[0].trun');
    setU32(moof, trun.body + 4, 0xffffffff);
    expect(structureError(checkMoof(moof, { offset: box.offset }))).toEqual({
      box: 'moof.traf[0].trun',
      offset: box.offset + trun.start,
      field: 'sample_count',
      value: 0xffffffff,
      bound: `≤ ${MAX_MP4_SAMPLES}`,
    });
    // 50 samples, each with duration-less fields: flags 0xa05 = data offset, first flags, size, cts.
    setU32(moof, trun.body + 4, 51);
    expect(structureError(checkMoof(moof, { offset: box.offset }))).toEqual({
      box: 'moof.traf[0].trun',
      offset: box.offset + trun.start,
      field: 'sample_count',
      value: 51,
      bound: '51 × 8 bytes ≤ the 400 bytes the box holds',
    });
    setU32(moof, trun.body + 4, 50);
    const dataOffset = new DataView(moof.buffer).getInt32(trun.body + 8);
    expect(checkMoof(moof, { offset: box.offset, fileSize: bytes.length })).toBeUndefined();
    expect(
      structureError(checkMoof(moof, { offset: box.offset, fileSize: box.offset + dataOffset + 100 })),
    ).toMatchObject({
      box: 'moof.traf[0].trun',
      field: 'data_offset',
      value: box.offset + dataOffset,
    });
  });
});
