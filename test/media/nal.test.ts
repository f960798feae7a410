import { describe, expect, it } from 'vitest';
import {
  isDecoderEntryPoint,
  isNonReferencePicture,
  nalFormat,
  packetSpsDimensions,
} from '../../src/media/nal.js';

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

describe('isDecoderEntryPoint', () => {
  const avcc = { kind: 'length-prefixed', lengthSize: 4 } as const;
  const annex = { kind: 'annex-b' } as const;
  it('H.264: an IDR slice; in Annex B only with its SPS and PPS in the packet', () => {
    expect(isDecoderEntryPoint('h264', lengthPrefixed([0x09, 0xf0], [0x65, 0x88]), avcc)).toBe(true);
    expect(isDecoderEntryPoint('h264', lengthPrefixed([0x41, 0x9a]), avcc)).toBe(false); // non-IDR I/P slice
    expect(isDecoderEntryPoint('h264', annexB([0x67, 0x64], [0x68, 0xee], [0x65, 0x88]), annex)).toBe(true);
    expect(isDecoderEntryPoint('h264', annexB([0x65, 0x88]), annex)).toBe(false);
  });

  it('HEVC: IDR_W_RADL and IDR_N_LP, not CRA; in Annex B with VPS, SPS and PPS', () => {
    const nal = (type: number) => [type << 1, 0x01, 0xaa];
    expect(isDecoderEntryPoint('hevc', lengthPrefixed(nal(19)), avcc)).toBe(true);
    expect(isDecoderEntryPoint('hevc', lengthPrefixed(nal(20)), avcc)).toBe(true);
    expect(isDecoderEntryPoint('hevc', lengthPrefixed(nal(21)), avcc)).toBe(false); // CRA
    expect(isDecoderEntryPoint('hevc', annexB(nal(32), nal(33), nal(34), nal(19)), annex)).toBe(true);
    expect(isDecoderEntryPoint('hevc', annexB(nal(33), nal(34), nal(19)), annex)).toBe(false);
  });

  it('is false for other codecs', () => {
    expect(isDecoderEntryPoint('vp9', lengthPrefixed([0x65]), avcc)).toBe(false);
  });
});

describe('packetSpsDimensions', () => {
  // Baseline SPS, 40 × 23 macroblocks cropped by 8 lines at the bottom: 640×360.
  const sps = [0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0x40];
  const hevcSps = [0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03];
  const annex = { kind: 'annex-b' } as const;
  const avcc = { kind: 'length-prefixed', lengthSize: 4 } as const;

  it('the SPS among the units of a key packet, Annex B or length-prefixed', () => {
    const size = { width: 640, height: 360, codedWidth: 640, codedHeight: 368 };
    expect(packetSpsDimensions('h264', annexB([0x09, 0xf0], sps, [0x68, 0xce], [0x65, 0x88]), annex)).toEqual(
      size,
    );
    // A 4-byte start code leaves a zero at the end of the unit before it: still read.
    const fourByte = Uint8Array.from([0, 0, 0, 1, ...sps, 0, 0, 0, 1, 0x65, 0x88]);
    expect(packetSpsDimensions('h264', fourByte, annex)).toEqual(size);
    expect(packetSpsDimensions('h264', lengthPrefixed([0x06, 0x05], sps), avcc)).toEqual(size);
  });

  it('undefined without an SPS, with an unreadable one, or for another codec', () => {
    expect(packetSpsDimensions('h264', annexB([0x65, 0x88]), annex)).toBeUndefined();
    expect(packetSpsDimensions('h264', annexB(sps.slice(0, 4)), annex)).toBeUndefined();
    expect(packetSpsDimensions('hevc', annexB(sps), annex)).toBeUndefined();
    expect(packetSpsDimensions('hevc', annexB(hevcSps), annex)).toBeUndefined(); // cut off
    expect(packetSpsDimensions('vp9', annexB(sps), annex)).toBeUndefined();
    expect(packetSpsDimensions('h264', Uint8Array.from([0, 0, 1, 0, 0, 1]), annex)).toBeUndefined();
  });
});
