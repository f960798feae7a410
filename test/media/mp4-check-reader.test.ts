import { describe, expect, it } from 'vitest';
import { checkMoov, MAX_MP4_SAMPLES } from '../../src/media/mp4-check.js';
import { STBL, file, moovOf, setU32, structureError, useFixtures } from './mp4-check-cases.js';
import { boxAt, topLevel } from './mp4-tree.js';

// The check's walk (mp4-check-reader.ts): box sizes against their parent and entry counts against their box.
useFixtures();

describe('checkMoov: box sizes and entry counts', () => {
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
});
