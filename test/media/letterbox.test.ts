import { describe, expect, it } from 'vitest';

import {
  letterboxFilterSpec,
  letterboxGeometry,
  letterboxOutputFormat,
  packGbrpPlanes,
  packLetterbox,
  prepareLetterbox,
  resizePlanReady,
} from '../../src/media/letterbox.js';

describe('letterboxGeometry', () => {
  it('fits, centres and records the source, opencv by default', () => {
    expect(letterboxGeometry(1280, 720, 640)).toEqual({
      size: 640,
      scale: 0.5,
      scaledWidth: 640,
      scaledHeight: 360,
      padX: 0,
      padY: 140,
      sourceWidth: 1280,
      sourceHeight: 720,
      preprocess: 'opencv',
    });
    // 478 × 640/848 = 360.75: 361 rows, 279 of padding split 139 above and 140 below, as Ultralytics.
    expect(letterboxGeometry(848, 478, 640, 'stream-colour')).toMatchObject({
      scaledWidth: 640,
      scaledHeight: 361,
      padX: 0,
      padY: 139,
      preprocess: 'stream-colour',
    });
  });

  it("rounds the scaled size as Python's round() does: halves to even", () => {
    // 997 × 0.5 = 498.5 → 498 and 999 × 0.5 = 499.5 → 500 (Math.round would give 499 and 500).
    expect(letterboxGeometry(997, 1280, 640)).toMatchObject({ scaledWidth: 498, padX: 71 });
    expect(letterboxGeometry(999, 1280, 640)).toMatchObject({ scaledWidth: 500, padX: 70 });
  });
});

describe('letterboxFilterSpec', () => {
  it('opencv: the full-size BT.601 conversion cv2.VideoCapture makes, range from the pixel format', () => {
    const geometry = letterboxGeometry(1280, 720, 640);
    expect(letterboxOutputFormat(geometry)).toBe('bgr24');
    expect(letterboxFilterSpec(geometry)).toBe('scale=flags=bicubic:in_color_matrix=bt601,format=bgr24');
    expect(letterboxFilterSpec(geometry, 114, 'yuv420p')).toBe(
      'scale=flags=bicubic:in_color_matrix=bt601:in_range=tv,format=bgr24',
    );
    expect(letterboxFilterSpec(geometry, 114, 'yuvj420p')).toBe(
      'scale=flags=bicubic:in_color_matrix=bt601:in_range=pc,format=bgr24',
    );
    expect(letterboxFilterSpec(geometry, 114, 'nv12')).toBe(
      'scale=flags=bicubic,format=yuv420p,scale=flags=bicubic:in_color_matrix=bt601:in_range=tv,format=bgr24',
    );
  });

  it("stream-colour: FFmpeg's scaler does the whole letterbox", () => {
    const geometry = letterboxGeometry(848, 478, 640, 'stream-colour');
    expect(letterboxOutputFormat(geometry)).toBe('gbrp');
    expect(letterboxFilterSpec(geometry, 100, 'yuv420p')).toBe(
      'scale=640:361:flags=bilinear,format=gbrp,pad=640:640:0:139:color=0x646464',
    );
  });
});

/** A packed BGR frame whose pixel (x, y) is (B, G, R) = (10y + x, 100 + 10y + x, 200 + x + y). */
function bgrFrame(width: number, height: number, linesize: number): Uint8Array {
  const frame = new Uint8Array(linesize * height).fill(7);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      frame.set([10 * y + x, 100 + 10 * y + x, 200 + x + y], y * linesize + x * 3);
    }
  }
  return frame;
}

/** The same frame as gbrp planes (G, B, R), each row `linesize` bytes. */
function gbrpFrame(width: number, height: number, linesize: number): Uint8Array[] {
  const planes = [0, 1, 2].map(() => new Uint8Array(linesize * height).fill(7));
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      planes[0]![y * linesize + x] = 100 + 10 * y + x;
      planes[1]![y * linesize + x] = 10 * y + x;
      planes[2]![y * linesize + x] = 200 + x + y;
    }
  }
  return planes;
}

describe('packLetterbox (opencv)', () => {
  it('prepareLetterbox makes the resize tables ahead of the first frame, which then packs as without it', () => {
    const prepared = letterboxGeometry(8, 5, 6);
    const fresh = letterboxGeometry(8, 5, 6);
    expect(resizePlanReady(prepared)).toBe(false);
    prepareLetterbox(prepared);
    expect(resizePlanReady(prepared)).toBe(true);
    expect(resizePlanReady(fresh)).toBe(false);
    const frame = bgrFrame(8, 5, 24);
    expect(packLetterbox([frame], [24], prepared, undefined, 'bgr24').data).toEqual(
      packLetterbox([frame], [24], fresh, undefined, 'bgr24').data,
    );
    expect(resizePlanReady(fresh)).toBe(true);
    // stream-colour: FFmpeg's graph resizes, no tables.
    const streamColour = letterboxGeometry(8, 5, 6, 'stream-colour');
    prepareLetterbox(streamColour);
    expect(resizePlanReady(streamColour)).toBe(false);
  });

  it('a frame of the scaled size is copied into the centre, the rest is padding, planes R, G, B', () => {
    const geometry = letterboxGeometry(4, 2, 4); // scale 1: rows 1 and 2 of 4
    const image = packLetterbox([bgrFrame(4, 2, 16)], [16], geometry, undefined, 'bgr24');
    const P = 114;
    // prettier-ignore
    expect(Array.from(image.data)).toEqual([
      P, P, P, P,  200, 201, 202, 203,  201, 202, 203, 204,  P, P, P, P, // R
      P, P, P, P,  100, 101, 102, 103,  110, 111, 112, 113,  P, P, P, P, // G
      P, P, P, P,    0,   1,   2,   3,   10,  11,  12,  13,  P, P, P, P, // B
    ]);
    expect(image).toMatchObject({ size: 4, padY: 1, preprocess: 'opencv' });
  });

  it('halves as OpenCV does (rounded 2 × 2 means), from packed BGR or gbrp planes alike', () => {
    const geometry = letterboxGeometry(8, 4, 4); // 4 × 2 in rows 1 and 2
    const packed = packLetterbox([bgrFrame(8, 4, 32)], [32], geometry, undefined, 'bgr24');
    const planar = packGbrpPlanes(gbrpFrame(8, 4, 16), [16, 16, 16], geometry);
    expect(planar.data).toEqual(packed.data);
    const P = 114;
    // B at (0, 0): (0 + 1 + 10 + 11 + 2) >> 2 = 6; R at (0, 0): (200 + 201 + 201 + 202 + 2) >> 2 = 201.
    // prettier-ignore
    expect(Array.from(packed.data)).toEqual([
      P, P, P, P,  201, 203, 205, 207,  203, 205, 207, 209,  P, P, P, P, // R
      P, P, P, P,  106, 108, 110, 112,  126, 128, 130, 132,  P, P, P, P, // G
      P, P, P, P,    6,   8,  10,  12,   26,  28,  30,  32,  P, P, P, P, // B
    ]);
  });

  it('pads the sides too, and overwrites every byte of a reused target', () => {
    const geometry = letterboxGeometry(2, 4, 4, 'opencv'); // 2 × 4 at columns 1 and 2
    const target = new Uint8Array(3 * 16).fill(255);
    const image = packLetterbox([bgrFrame(2, 4, 6)], [6], geometry, target, 'bgr24', 0);
    expect(image.data).toBe(target);
    // prettier-ignore
    expect(Array.from(target.subarray(0, 16))).toEqual([
      0, 200, 201, 0,
      0, 201, 202, 0,
      0, 202, 203, 0,
      0, 203, 204, 0,
    ]);
    expect(target.includes(255)).toBe(false);
  });

  it('refuses a plane too short for the frame and a target of the wrong size', () => {
    const geometry = letterboxGeometry(8, 4, 4);
    expect(() => packLetterbox([new Uint8Array(95)], [24], geometry, undefined, 'bgr24')).toThrow(
      new RangeError(
        'a converted 8×4 frame needs 96 bytes in a plane with rows of at least 24; got 95 bytes, rows of 24',
      ),
    );
    expect(() => packLetterbox([new Uint8Array(96)], [20], geometry, undefined, 'bgr24')).toThrow(
      /rows of at least 24; got 96 bytes, rows of 20/,
    );
    expect(() => packLetterbox([bgrFrame(8, 4, 24)], [24], geometry, new Uint8Array(47), 'bgr24')).toThrow(
      new RangeError('a letterbox of 4×4 takes 48 bytes, the target has 47'),
    );
  });
});

describe('packGbrpPlanes (stream-colour)', () => {
  it('reorders the finished letterbox from G, B, R planes with padded rows to tight R, G, B', () => {
    const geometry = letterboxGeometry(2, 2, 2, 'stream-colour');
    const planes = [
      Uint8Array.of(1, 2, 0, 0, 3, 4, 0, 0),
      Uint8Array.of(5, 6, 0, 0, 7, 8, 0, 0),
      Uint8Array.of(9, 10, 0, 0, 11, 12, 0, 0),
    ];
    const image = packGbrpPlanes(planes, [4, 4, 4], geometry);
    expect(Array.from(image.data)).toEqual([9, 10, 11, 12, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(() => packLetterbox(planes, [4, 4, 4], geometry, undefined, 'bgr24')).toThrow(
      new RangeError('a stream-colour letterbox comes as gbrp, got bgr24'),
    );
  });
});
