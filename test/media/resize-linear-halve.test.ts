/**
 * The halving path of resizeLinear (OpenCV's INTER_AREA shortcut for an exact factor of 2) from packed BGR,
 * where the WebAssembly SIMD kernel does whole groups of 16 columns and the scalar loop the rest: every
 * value against the 2 × 2 rounded mean computed here, for widths with and without a tail, padded rows and
 * offsets in the target. (test/media/preprocess-opencv.test.ts compares the whole letterbox with OpenCV.)
 */
import { describe, expect, it } from 'vitest';
import { halveBgrSimd, halveSimdAvailable } from '../../src/media/resize-halve-simd.js';
import { planResize, resizeLinear, type PlaneTarget } from '../../src/media/resize-linear.js';

/** Bytes that look like noise, the same on every run. */
function noise(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 1) bytes[i] = (Math.imul(i + seed, 2654435761) >>> 13) & 255;
  return bytes;
}

/** The halving written plainly: plane c (0 R, 1 G, 2 B) of the destination, row by row. */
function expectedPlane(source: Uint8Array, rowStride: number, width: number, height: number, rgb: number) {
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const at = 2 * y * rowStride + 6 * x + (2 - rgb);
      out[y * width + x] =
        (source[at]! + source[at + 3]! + source[at + rowStride]! + source[at + rowStride + 3]! + 2) >> 2;
    }
  }
  return out;
}

describe('resizeLinear halving packed BGR', () => {
  it('runs the SIMD kernel here (Node has WebAssembly SIMD)', () => {
    expect(halveSimdAvailable()).toBe(true);
  });

  it.each([
    { width: 1280, height: 720, rowStride: 3840 },
    { width: 1280, height: 720, rowStride: 3904 },
    { width: 100, height: 62, rowStride: 300 },
    { width: 66, height: 34, rowStride: 210 },
    { width: 30, height: 2, rowStride: 90 },
  ])(
    '$width×$height, rows of $rowStride bytes: every value the 2 × 2 rounded mean',
    ({ width, height, rowStride }) => {
      const source = noise(rowStride * height, width);
      const plan = planResize(width, height, width / 2, height / 2);
      expect(plan.method).toBe('area-2x');
      const outWidth = width / 2;
      const outHeight = height / 2;
      // A target with rows wider than the picture and a border before it, as a letterbox's.
      const targetStride = outWidth + 7;
      const planeBytes = targetStride * (outHeight + 2);
      const data = new Uint8Array(3 * planeBytes).fill(114);
      const plane = (rgb: number): PlaneTarget => ({
        data,
        offset: rgb * planeBytes + targetStride + 3,
        rowStride: targetStride,
      });
      const view = (rgb: number) => ({ data: source, offset: 2 - rgb, pixelStride: 3, rowStride });
      resizeLinear(plan, [view(0), view(1), view(2)], [plane(0), plane(1), plane(2)]);
      // Counted rather than compared with toEqual: a 720p picture's planes are 230 400 values each.
      let wrong = 0;
      for (let rgb = 0; rgb < 3; rgb += 1) {
        const expected = expectedPlane(source, rowStride, outWidth, outHeight, rgb);
        for (let y = 0; y < outHeight; y += 1) {
          const at = plane(rgb).offset + y * targetStride;
          for (let x = 0; x < outWidth; x += 1) if (data[at + x] !== expected[y * outWidth + x]) wrong += 1;
        }
      }
      expect(wrong).toBe(0);
      // Nothing written outside the picture: the border bytes are still 114.
      let outside = 0;
      for (let rgb = 0; rgb < 3; rgb += 1) {
        for (let i = 0; i < planeBytes; i += 1) {
          const y = Math.floor((i - targetStride - 3) / targetStride);
          const x = (i - targetStride - 3) % targetStride;
          const inside = i >= targetStride + 3 && y < outHeight && x >= 0 && x < outWidth;
          if (!inside && data[rgb * planeBytes + i] !== 114) outside += 1;
        }
      }
      expect(outside).toBe(0);
    },
  );

  it('leaves a picture narrower than one group of 16 to the caller', () => {
    const source = noise(30 * 4, 1);
    const planes = [0, 1, 2].map(() => ({ data: new Uint8Array(10), offset: 0, rowStride: 5 })) as [
      PlaneTarget,
      PlaneTarget,
      PlaneTarget,
    ];
    expect(halveBgrSimd(source, 0, 30, 5, 2, planes)).toBe(0);
    expect(planes.every((plane) => plane.data.every((value) => value === 0))).toBe(true);
  });

  it('gives planar (gbrp) input the same numbers through the scalar loop', () => {
    const width = 64;
    const height = 8;
    const packed = noise(width * 3 * height, 9);
    const planar = [0, 1, 2].map((rgb) =>
      Uint8Array.from({ length: width * height }, (_, i) => packed[3 * i + 2 - rgb]!),
    );
    const plan = planResize(width, height, width / 2, height / 2);
    const out = (data: Uint8Array) =>
      [0, 1, 2].map((rgb) => ({ data, offset: (rgb * width * height) / 4, rowStride: width / 2 })) as [
        PlaneTarget,
        PlaneTarget,
        PlaneTarget,
      ];
    const fromPacked = new Uint8Array((3 * width * height) / 4);
    const fromPlanar = new Uint8Array((3 * width * height) / 4);
    const packedView = (rgb: number) => ({
      data: packed,
      offset: 2 - rgb,
      pixelStride: 3,
      rowStride: width * 3,
    });
    const planarView = (rgb: number) => ({ data: planar[rgb]!, offset: 0, pixelStride: 1, rowStride: width });
    resizeLinear(plan, [packedView(0), packedView(1), packedView(2)], out(fromPacked));
    resizeLinear(plan, [planarView(0), planarView(1), planarView(2)], out(fromPlanar));
    expect(fromPlanar).toEqual(fromPacked);
  });
});
