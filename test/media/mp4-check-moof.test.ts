import { describe, expect, it } from 'vitest';
import { scanTopLevelBoxes } from '../../src/media/mp4-boxes.js';
import { checkMoof, MAX_MP4_SAMPLES } from '../../src/media/mp4-check.js';
import { file, setU32, structureError, useFixtures } from './mp4-check-cases.js';
import { boxAt } from './mp4-tree.js';

// Fragments (mp4-check-moof.ts): each trun's sample count against its bytes, its data inside the file.
useFixtures();

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
