import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/core/errors.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { createBoxWalker, type BoxWalkerOptions } from '../../src/media/box-walker.js';
import { scanTopLevelBoxes, type Mp4Box } from '../../src/media/mp4-boxes.js';
import { testFixtures } from '../support/fixtures.js';

let fixtures: FixtureSet;
beforeAll(async () => {
  fixtures = await testFixtures();
});

function box(type: string, bodyLength: number, sizeField = 8 + bodyLength): Uint8Array {
  const bytes = new Uint8Array(8 + bodyLength);
  new DataView(bytes.buffer).setUint32(0, sizeField);
  bytes.set(Buffer.from(type, 'latin1'), 4);
  return bytes;
}

const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** Every box the walker reports for `bytes` (at file offset `start`) fed in chunks of `size`. */
function walkAll(bytes: Uint8Array, size: number, options: BoxWalkerOptions = {}): Mp4Box[] {
  const walker = createBoxWalker(options);
  const boxes: Mp4Box[] = [];
  const start = options.start ?? 0;
  for (let at = 0; at < bytes.byteLength; at += size) {
    boxes.push(...walker.push(bytes.subarray(at, at + size), start + at));
  }
  return boxes;
}

function thrown(run: () => unknown): DecodeError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DecodeError);
    return error as DecodeError;
  }
  throw new Error('expected a DecodeError');
}

describe('createBoxWalker', () => {
  it.each([1, 5, 4096])('the fragments after a moov, in chunks of %i bytes', (size) => {
    const bytes = readFileSync(fixtures.clips['fragmented']!.file);
    const all = scanTopLevelBoxes(bytes);
    const moov = all.find((b) => b.type === 'moov')!;
    const start = moov.offset + moov.size;
    const boxes = walkAll(bytes.subarray(start), size, { start, fileSize: bytes.byteLength });
    expect(boxes.map((b) => b.type)).toEqual(['moof', 'mdat', 'moof', 'mdat', 'mfra']);
    // Offsets and sizes as the whole-file scan has them; complete as far as the bytes seen went.
    expect(boxes.map(({ complete: _, ...b }) => b)).toEqual(
      all.filter((b) => b.offset >= start).map(({ complete: _, ...b }) => b),
    );
  });

  it("a box's children: the moov of the faststart fixture, header bytes only copied", () => {
    const bytes = readFileSync(fixtures.clips['faststart']!.file);
    const moov = scanTopLevelBoxes(bytes).find((b) => b.type === 'moov')!;
    const walker = createBoxWalker({ start: moov.offset + 8, end: moov.offset + moov.size, parent: 'moov' });
    const boxes = walker.push(bytes, 0);
    expect(boxes.map((b) => [b.type, b.offset, b.size])).toEqual([
      ['mvhd', 40, 108],
      ['trak', 148, 1535],
      ['udta', 1683, 98],
    ]);
    expect(walker.done).toBe(true);
    expect(walker.next).toBe(moov.offset + moov.size);
    expect(walker.bytesCopied).toBe(3 * 8);
  });

  it('stops after a box of an `until` type, and after a size-0 box', () => {
    const file = concat(box('ftyp', 8), box('moov', 8), box('\u0000bad', 8));
    expect(walkAll(file, 3, { until: new Set(['moov']) }).map((b) => b.type)).toEqual(['ftyp', 'moov']);
    const toEnd = concat(box('ftyp', 8), box('mdat', 30, 0));
    expect(walkAll(toEnd, 7)).toEqual([
      // Reported when its header is in, with 14 of its 16 bytes seen.
      { type: 'ftyp', offset: 0, size: 16, headerSize: 8, complete: false },
      // Reported when its header is in (bytes 16..24 of the file, in the chunk ending at 28).
      { type: 'mdat', offset: 16, size: 12, headerSize: 8, complete: false, toEndOfFile: true },
    ]);
  });

  it('skips bytes pushed before its position, and refuses a gap', () => {
    const file = concat(box('ftyp', 8), box('moov', 8), box('mdat', 8));
    const walker = createBoxWalker({ start: 16 });
    expect(walker.push(file.subarray(0, 20), 0)).toEqual([]);
    expect(walker.push(file.subarray(20), 20).map((b) => b.type)).toEqual(['moov', 'mdat']);
    expect(() => createBoxWalker().push(file, 4)).toThrow('box walker: bytes 0 to 4 were not pushed');
  });

  it('typed errors for headers that cannot be true', () => {
    const ftyp = box('ftyp', 8);
    expect(thrown(() => walkAll(concat(ftyp, box('moov', 0, 7)), 1)).context).toEqual({
      box: 'moov',
      offset: 16,
      field: 'size',
      value: 7,
      bound: '≥ its 8-byte header',
    });
    expect(thrown(() => walkAll(concat(ftyp, box('moov', 10)), 4, { fileSize: 30 })).context).toEqual({
      box: 'moov',
      offset: 16,
      field: 'size',
      value: 18,
      bound: "≤ 14 bytes to the file's end at 30",
    });
    const inside = { start: 8, end: 40, parent: 'moov.trak' };
    expect(thrown(() => walkAll(box('tkhd', 40, 0), 9, inside)).context).toMatchObject({
      box: 'moov.trak.tkhd',
      offset: 8,
      value: 0,
    });
    expect(thrown(() => walkAll(box('tkhd', 40), 9, inside)).context).toMatchObject({
      box: 'moov.trak.tkhd',
      value: 48,
      bound: '≤ 32 bytes left in moov.trak',
    });
    const large = new Uint8Array(16);
    new DataView(large.buffer).setUint32(0, 1);
    large.set(Buffer.from('mdat'), 4);
    new DataView(large.buffer).setBigUint64(8, 1n << 60n);
    expect(thrown(() => walkAll(large, 3)).context).toMatchObject({
      box: 'mdat',
      value: (1n << 60n).toString(),
    });
    expect(thrown(() => walkAll(concat(ftyp, box('\u0001oov', 8)), 1)).context).toMatchObject({
      box: '????',
      field: 'type',
      value: '"\\u0001oov"',
    });
  });
});
