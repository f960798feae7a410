import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/core/errors.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { sniffLayout } from '../../src/media/layout.js';
import { scanTopLevelBoxes } from '../../src/media/mp4-boxes.js';
import { checkMoov } from '../../src/media/mp4-check.js';
import { testFixtures } from '../support/fixtures.js';
import {
  createLayoutSniffer,
  type LayoutDecision,
  type LayoutSnifferOptions,
} from '../../src/media/layout-sniffer.js';

let fixtures: FixtureSet;
beforeAll(async () => {
  fixtures = await testFixtures();
});

/** A box with a 32-bit size (or an explicit size field) and the given body. */
function box(type: string, body: Uint8Array | number = 0, sizeField?: number): Uint8Array {
  const content = typeof body === 'number' ? new Uint8Array(body) : body;
  const bytes = new Uint8Array(8 + content.byteLength);
  new DataView(bytes.buffer).setUint32(0, sizeField ?? bytes.byteLength);
  bytes.set(Buffer.from(type, 'latin1'), 4);
  bytes.set(content, 8);
  return bytes;
}

function largeBox(type: string, bodyLength: number): Uint8Array {
  const bytes = new Uint8Array(16 + bodyLength);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 1);
  bytes.set(Buffer.from(type, 'latin1'), 4);
  view.setBigUint64(8, BigInt(bytes.byteLength));
  return bytes;
}

const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

/** Feeds `bytes` in chunks of `size`; returns the decision and the bytes pushed when it came. */
function sniffInChunks(
  bytes: Uint8Array,
  size: number,
  options?: LayoutSnifferOptions,
): { decision: LayoutDecision | undefined; at: number; copied: number } {
  const sniffer = createLayoutSniffer(options);
  for (let at = 0; at < bytes.byteLength; at += size) {
    const decision = sniffer.push(bytes.subarray(at, at + size));
    if (decision) return { decision, at: sniffer.bytesSeen, copied: sniffer.bytesCopied };
  }
  return { decision: sniffer.end(), at: sniffer.bytesSeen, copied: sniffer.bytesCopied };
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

/** What the decode stage uses of a decision. */
const essentials = (decision: LayoutDecision | undefined) =>
  decision && {
    layout: decision.layout,
    ...(decision.mdat
      ? {
          mdat: {
            offset: decision.mdat.offset,
            size: decision.mdat.size,
            headerSize: decision.mdat.headerSize,
          },
        }
      : {}),
  };

describe('createLayoutSniffer', () => {
  const names = ['moov-end', 'faststart', 'fragmented', 'mpegts', 'matroska', 'webm', 'audio', 'editlist'];

  it.each(names.flatMap((name) => [1, 7, 4096].map((size) => [name, size] as const)))(
    '%s in chunks of %i bytes: what sniffLayout says of the whole file',
    (name, size) => {
      const bytes = readFileSync(fixtures.clips[name]!.file);
      const whole = sniffLayout(bytes);
      const layout = fixtures.clips[name]!.layout;
      expect(whole?.layout).toBe(layout === 'webm' ? 'matroska' : layout);
      const { decision, copied } = sniffInChunks(bytes, size, { fileSize: bytes.byteLength });
      expect(essentials(decision)).toEqual(essentials(whole));
      if (decision?.moov) {
        // Handed over whole, and a moov that checks out.
        const moov = scanTopLevelBoxes(bytes).find((box) => box.type === 'moov');
        expect(decision.moov).toEqual(moov);
        const moovBytes = bytes.subarray(moov!.offset, moov!.offset + moov!.size);
        expect(checkMoov(moovBytes, { offset: moov!.offset, fileSize: bytes.byteLength })).toBeUndefined();
      } else {
        expect(['moov-end', 'mpegts', 'matroska', 'webm']).toContain(layout);
      }
      // The head (189 bytes at most) and the box headers walked: nothing in proportion to the file.
      expect(copied).toBeLessThanOrEqual(189 + 16 * 12);
    },
  );

  it('decides at the byte that settles it: mdat header, mvex header, moov end, TS byte 188', () => {
    const read = (name: string) => readFileSync(fixtures.clips[name]!.file);
    // moov-end: ftyp 32, free 8, then the mdat header's 8th byte.
    expect(sniffInChunks(read('moov-end'), 1).at).toBe(48);
    // faststart: the moov (at 32, 1749 bytes) must be all in to rule out an mvex.
    expect(sniffInChunks(read('faststart'), 1).at).toBe(32 + 1749);
    // fragmented: ftyp 28, then its moov (753 bytes, with an mvex) all in, to be checked.
    expect(sniffInChunks(read('fragmented'), 1).at).toBe(28 + 753);
    expect(sniffInChunks(read('mpegts'), 1).at).toBe(189);
    expect(sniffInChunks(read('matroska'), 1).at).toBe(8);
  });

  it('is not misled where sniffLayout on a prefix is: a fragmented moov cut before its mvex', () => {
    const bytes = readFileSync(fixtures.clips['fragmented']!.file);
    expect(sniffLayout(bytes.subarray(0, 200))?.layout).toBe('faststart');
    const sniffer = createLayoutSniffer();
    expect(sniffer.push(bytes.subarray(0, 200))).toBeUndefined();
    const decision = {
      layout: 'fragmented',
      moov: { type: 'moov', offset: 28, size: 753, headerSize: 8, complete: true },
    };
    expect(sniffer.push(bytes.subarray(200))).toEqual(decision);
    // Asked again, or at the end, it says the same.
    expect(sniffer.push(new Uint8Array(10))).toEqual(decision);
    expect(sniffer.end()).toEqual(decision);
  });

  it('ftyp and a 200 MB free box in 64 KB chunks: linear, only headers copied', () => {
    const ftyp = box('ftyp', 24);
    const freeSize = 200 * 1024 * 1024;
    const moov = box('moov', concat(box('mvhd', 100), box('trak', 40), box('mvex', box('trex', 24))));
    const sniffer = createLayoutSniffer();
    // The first chunk: ftyp and the free box's header; then the free body, one zeroed 64 KB array reused.
    expect(sniffer.push(concat(ftyp, box('free', 0, freeSize + 8)))).toBeUndefined();
    const body = new Uint8Array(64 * 1024);
    let pushes = 0;
    for (let left = freeSize; left > 0; left -= body.byteLength) {
      expect(sniffer.push(body.subarray(0, Math.min(left, body.byteLength)))).toBeUndefined();
      pushes += 1;
    }
    expect(pushes).toBe(3200);
    expect(sniffer.push(moov)).toEqual({
      layout: 'fragmented',
      moov: { type: 'moov', offset: 40 + freeSize, size: moov.byteLength, headerSize: 8, complete: true },
    });
    expect(sniffer.bytesSeen).toBe(32 + 8 + freeSize + moov.byteLength);
    // 40 bytes of head (all the first chunk held), then the headers of ftyp, free, moov, mvhd, trak, mvex.
    expect(sniffer.bytesCopied).toBe(40 + 6 * 8);
  });

  it('MPEG-TS only with the sync byte at 188 too; shorter inputs as sniffLayout says', () => {
    const ts = new Uint8Array(400);
    ts[0] = 0x47;
    ts[188] = 0x47;
    expect(sniffInChunks(ts, 7).decision).toEqual({ layout: 'mpegts' });
    ts[188] = 0x00;
    // sniffLayout on the first 8 bytes said mpegts; the whole file is not one.
    expect(sniffLayout(ts.subarray(0, 8))?.layout).toBe('mpegts');
    expect(sniffInChunks(ts, 7).decision).toEqual({ layout: 'other' });
    expect(sniffInChunks(ts.subarray(0, 100), 7)).toMatchObject({ decision: { layout: 'mpegts' }, at: 100 });
    expect(sniffInChunks(new Uint8Array(Buffer.from('<!DOCTYPE html><html></html>')), 1).decision).toEqual({
      layout: 'other',
    });
    expect(sniffInChunks(new Uint8Array(3), 1).decision).toEqual(sniffLayout(new Uint8Array(3)));
  });

  it('64-bit and to-the-end mdat sizes', () => {
    const large = concat(box('ftyp', 8), largeBox('mdat', 100), box('moov', 8));
    expect(sniffInChunks(large, 1)).toEqual({
      decision: {
        layout: 'moov-end',
        mdat: { type: 'mdat', offset: 16, size: 116, headerSize: 16, complete: false },
      },
      at: 32,
      // The head held 8 bytes when the first box was seen to be ftyp; then the ftyp and mdat headers.
      copied: 8 + 8 + 16,
    });
    const toEnd = concat(box('ftyp', 8), box('mdat', 100, 0));
    expect(sniffInChunks(toEnd, 20).decision).toEqual({
      layout: 'moov-end',
      mdat: { type: 'mdat', offset: 16, size: 24, headerSize: 8, complete: false, toEndOfFile: true },
    });
  });

  it('an MP4 with only ftyp: undefined at the end, as sniffLayout', () => {
    const bytes = box('ftyp', 24);
    expect(sniffInChunks(bytes, 5).decision).toBeUndefined();
    expect(sniffLayout(bytes)).toBeUndefined();
  });

  it('typed errors for headers that cannot be true', () => {
    const ftyp = box('ftyp', 24);
    const moov7 = concat(ftyp, box('moov', 0, 7), new Uint8Array(100));
    expect(thrown(() => sniffInChunks(moov7, 3))).toMatchObject({
      code: 'FF_ERR_MP4_STRUCTURE',
      context: { box: 'moov', offset: 32, field: 'size', value: 7, bound: '≥ its 8-byte header' },
    });
    const big = concat(ftyp, box('moov', 0, 2000));
    expect(thrown(() => sniffInChunks(big, 4096, { maxMoovBytes: 1000 })).context).toEqual({
      box: 'moov',
      offset: 32,
      field: 'size',
      value: 2000,
      bound: '≤ 1000 bytes',
    });
    // A moov running to the end of a file of unknown size: measured as it comes.
    const open = concat(ftyp, box('moov', concat(box('mvhd', 100), box('free', 1000)), 0));
    expect(thrown(() => sniffInChunks(open, 64, { maxMoovBytes: 500 })).context).toMatchObject({
      box: 'moov',
      value: 'to the end of the file',
    });
    expect(sniffInChunks(open, 64).decision).toEqual({
      layout: 'faststart',
      moov: {
        type: 'moov',
        offset: 32,
        size: open.byteLength - 32,
        headerSize: 8,
        complete: false,
        toEndOfFile: true,
      },
    });
    // The same with the file's size known: the moov is the rest of the file.
    expect(sniffInChunks(open, 64, { fileSize: open.byteLength }).decision).toEqual({
      layout: 'faststart',
      moov: {
        type: 'moov',
        offset: 32,
        size: open.byteLength - 32,
        headerSize: 8,
        complete: true,
        toEndOfFile: true,
      },
    });
    const pastFile = concat(ftyp, box('moov', 100));
    expect(thrown(() => sniffInChunks(pastFile, 4096, { fileSize: 100 })).context).toEqual({
      box: 'moov',
      offset: 32,
      field: 'size',
      value: 108,
      bound: "≤ 68 bytes to the file's end at 100",
    });
    const zeroChild = concat(
      ftyp,
      box('moov', concat(box('mvhd', 100), box('trak', 0, 0), new Uint8Array(20))),
    );
    expect(thrown(() => sniffInChunks(zeroChild, 1)).context).toEqual({
      box: 'moov.trak',
      offset: 32 + 8 + 108,
      field: 'size',
      value: 0,
      bound: 'only a top-level box may run to the end of the file',
    });
    const childPast = concat(ftyp, box('moov', concat(box('mvhd', 100), box('trak', 0, 500))));
    expect(thrown(() => sniffInChunks(childPast, 1)).context).toMatchObject({
      box: 'moov.trak',
      value: 500,
      bound: '≤ 8 bytes left in moov',
    });
    const binary = concat(ftyp, box('moov', 8));
    binary[32 + 5] = 0;
    expect(thrown(() => sniffInChunks(binary, 1)).context).toMatchObject({
      box: '????',
      offset: 32,
      field: 'type',
    });
    const freeToEnd = concat(ftyp, box('free', 10, 0));
    expect(thrown(() => sniffInChunks(freeToEnd, 1))).toMatchObject({
      code: 'FF_ERR_MOOV_MISSING',
      context: { box: 'free', offset: 32 },
    });
  });
});
