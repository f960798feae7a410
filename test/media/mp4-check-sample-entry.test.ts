import { describe, expect, it } from 'vitest';
import { checkMoov } from '../../src/media/mp4-check.js';
import { STBL, moovOf, setU32, structureError, useFixtures } from './mp4-check-cases.js';
import { boxAt } from './mp4-tree.js';

// Sample descriptions (mp4-check-sample-entry.ts): stsd's count, each entry's size, avcC's parameter sets.
useFixtures();

describe('checkMoov: sample descriptions', () => {
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
});
