import { describe, expect, it } from 'vitest';
import { isNonReferencePicture, nalFormat } from '../../src/media/nal.js';

const lengthPrefixed = (...nals: number[][]) =>
  Uint8Array.from(nals.flatMap((nal) => [0, 0, 0, nal.length, ...nal]));
const annexB = (...nals: number[][]) => Uint8Array.from(nals.flatMap((nal) => [0, 0, 0, 1, ...nal]));

describe('nalFormat', () => {
  it('reads the length size from avcC and hvcC, and falls back to Annex B', () => {
    expect(nalFormat('h264', Uint8Array.from([1, 0x64, 0, 0x1f, 0xff]))).toEqual({
      kind: 'length-prefixed',
      lengthSize: 4,
    });
    expect(nalFormat('h264', Uint8Array.from([1, 0x64, 0, 0x1f, 0xfd]))).toEqual({
      kind: 'length-prefixed',
      lengthSize: 2,
    });
    const hvcc = new Uint8Array(23);
    hvcc[0] = 1;
    hvcc[21] = 0x0f;
    expect(nalFormat('hevc', hvcc)).toEqual({ kind: 'length-prefixed', lengthSize: 4 });
    expect(nalFormat('h264', null)).toEqual({ kind: 'annex-b' });
    expect(nalFormat('h264', Uint8Array.from([0, 0, 0, 1, 0x67]))).toEqual({ kind: 'annex-b' });
    expect(nalFormat('vp9', null)).toBeUndefined();
  });
});

describe('isNonReferencePicture', () => {
  const avcc = { kind: 'length-prefixed', lengthSize: 4 } as const;
  it('H.264: a slice with nal_ref_idc 0 is non-reference; 1..3 or an IDR is a reference', () => {
    expect(isNonReferencePicture('h264', lengthPrefixed([0x01, 0xaa]), avcc)).toBe(true); // ref_idc 0, non-IDR
    expect(isNonReferencePicture('h264', lengthPrefixed([0x21, 0xaa]), avcc)).toBe(false); // ref_idc 1
    expect(isNonReferencePicture('h264', lengthPrefixed([0x65, 0xaa]), avcc)).toBe(false); // IDR, ref_idc 3
    // SEI (type 6) and AUD (9) are not slices and do not decide.
    expect(
      isNonReferencePicture('h264', lengthPrefixed([0x06, 0x05], [0x09, 0xf0], [0x01, 0xaa]), avcc),
    ).toBe(true);
    expect(isNonReferencePicture('h264', lengthPrefixed([0x01, 0xaa], [0x41, 0xbb]), avcc)).toBe(false);
  });

  it('H.264 in Annex B (MPEG-TS)', () => {
    expect(isNonReferencePicture('h264', annexB([0x09, 0xf0], [0x01, 0xaa, 0xbb]), { kind: 'annex-b' })).toBe(
      true,
    );
    expect(isNonReferencePicture('h264', annexB([0x41, 0xaa]), { kind: 'annex-b' })).toBe(false);
  });

  it('HEVC: sub-layer non-reference types only', () => {
    const hevc = (type: number) => lengthPrefixed([type << 1, 0x01, 0xaa]);
    expect(isNonReferencePicture('hevc', hevc(0), avcc)).toBe(true); // TRAIL_N
    expect(isNonReferencePicture('hevc', hevc(8), avcc)).toBe(true); // RASL_N
    expect(isNonReferencePicture('hevc', hevc(1), avcc)).toBe(false); // TRAIL_R
    expect(isNonReferencePicture('hevc', hevc(19), avcc)).toBe(false); // IDR_W_RADL
  });

  it('is false when unsure: no slice, a cut-off packet, another codec', () => {
    expect(isNonReferencePicture('h264', lengthPrefixed([0x06, 0x05]), avcc)).toBe(false);
    expect(isNonReferencePicture('h264', Uint8Array.from([0, 0, 0, 9, 0x01]), avcc)).toBe(false);
    expect(isNonReferencePicture('vp9', lengthPrefixed([0x01]), avcc)).toBe(false);
  });
});
