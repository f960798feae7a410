import { describe, expect, it } from 'vitest';
import { checkMoov } from '../../src/media/mp4-check.js';
import { STBL, moovOf, setU32, structureError, useFixtures } from './mp4-check-cases.js';
import { boxAt } from './mp4-tree.js';

// A moov's sample tables (mp4-check-moov.ts): mandatory boxes, and chunks and samples inside the file.
useFixtures();

describe('checkMoov: sample tables', () => {
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
});
