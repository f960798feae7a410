/**
 * The interpolating path of resizeLinear on a packed picture, which runs in WebAssembly
 * (src/media/resize-linear-simd.ts), against the JavaScript code (`simd: false`) on the same bytes: every
 * value of every plane, nothing written outside the picture. test/media/preprocess-opencv.test.ts compares
 * the same path with cv2.resize itself.
 */
import { describe, expect, it } from 'vitest';
import { linearSimdAvailable, resizeLinearPackedSimd } from '../../src/media/resize-linear-simd.js';
import {
  planResize,
  resizeLinear,
  type ChannelView,
  type PlaneTarget,
} from '../../src/media/resize-linear.js';

/** Bytes that look like noise, the same on every run. */
function noise(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 1) bytes[i] = (Math.imul(i + seed, 2654435761) >>> 13) & 255;
  return bytes;
}

interface Case {
  width: number;
  height: number;
  toWidth: number;
  toHeight: number;
  /** Bytes from one source row to the next (≥ 3 · width). */
  rowStride: number;
  /** Where each of red, green, blue lies in a pixel's three bytes. */
  order: readonly [number, number, number];
}

/** The case resized into planes with a border (rows wider than the picture, an offset): all the bytes. */
function resized(
  { width, height, toWidth, toHeight, rowStride, order }: Case,
  simd: boolean,
  plan = planResize(width, height, toWidth, toHeight),
): Uint8Array {
  const source = noise(rowStride * height + 5, width + height);
  const targetStride = toWidth + 5;
  const planeBytes = targetStride * (toHeight + 2);
  const data = new Uint8Array(3 * planeBytes).fill(114);
  const view = (rgb: number): ChannelView => ({
    data: source,
    offset: 4 + order[rgb]!,
    pixelStride: 3,
    rowStride,
  });
  const plane = (rgb: number): PlaneTarget => ({
    data,
    offset: rgb * planeBytes + targetStride + 2,
    rowStride: targetStride,
  });
  resizeLinear(plan, [view(0), view(1), view(2)], [plane(0), plane(1), plane(2)], { simd });
  return data;
}

/** Whether the kernel takes the case's source (as resizeLinear hands it over) and runs. */
function ranInWasm({ width, height, toWidth, toHeight, rowStride, order }: Case): boolean {
  const source = new Uint8Array(rowStride * height + 5);
  const planes = new Uint8Array(3 * toWidth * toHeight);
  const plane = (rgb: number): PlaneTarget => ({
    data: planes,
    offset: rgb * toWidth * toHeight,
    rowStride: toWidth,
  });
  return resizeLinearPackedSimd(
    planResize(width, height, toWidth, toHeight),
    source,
    [4 + order[0], 4 + order[1], 4 + order[2]],
    rowStride,
    [plane(0), plane(1), plane(2)],
  );
}

const differing = (a: Uint8Array, b: Uint8Array): number => {
  let count = 0;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) count += 1;
  return count;
};

describe('resizeLinear interpolating packed BGR in WebAssembly', () => {
  it('runs the WebAssembly kernels here (Node has WebAssembly SIMD)', () => {
    expect(linearSimdAvailable()).toBe(true);
  });

  const bgr = [2, 1, 0] as const;
  it.each<Case>([
    { width: 848, height: 478, toWidth: 640, toHeight: 361, rowStride: 848 * 3, order: bgr },
    { width: 848, height: 478, toWidth: 640, toHeight: 361, rowStride: 848 * 3 + 64, order: bgr },
    { width: 1920, height: 1080, toWidth: 640, toHeight: 360, rowStride: 1920 * 3, order: bgr },
    { width: 320, height: 240, toWidth: 640, toHeight: 480, rowStride: 960, order: bgr }, // upscaling
    { width: 999, height: 555, toWidth: 640, toHeight: 356, rowStride: 3000, order: [0, 1, 2] }, // RGB
    { width: 7, height: 5, toWidth: 13, toHeight: 11, rowStride: 21, order: [1, 2, 0] },
    { width: 3, height: 2, toWidth: 40, toHeight: 30, rowStride: 9, order: bgr }, // only past-the-edge columns
    { width: 848, height: 478, toWidth: 1, toHeight: 1, rowStride: 848 * 3, order: bgr },
    // Planes of 1280 × 720: more than the kernel's first memory holds, so it grows.
    { width: 1920, height: 1080, toWidth: 1280, toHeight: 720, rowStride: 1920 * 3, order: bgr },
  ])(
    '$width×$height → $toWidth×$toHeight, rows of $rowStride bytes, channels at $order: the same bytes',
    (c) => {
      expect(planResize(c.width, c.height, c.toWidth, c.toHeight).method).toBe('linear');
      // resizeLinear falls back to JavaScript without a word: the kernel itself says it ran on this layout.
      expect(ranInWasm(c)).toBe(true);
      const wasm = resized(c, true);
      const js = resized(c, false);
      expect(differing(wasm, js)).toBe(0);
      // The JavaScript code itself wrote the picture (not 114 everywhere): the comparison can fail.
      expect(js.filter((value) => value !== 114).length).toBeGreaterThan((c.toWidth * c.toHeight * 3) / 2);
    },
  );

  it('every small size up and down (widths 1–24, heights 1–4, to 1–20 × 1–5), padded rows: the same bytes', () => {
    let cases = 0;
    let wrong = 0;
    for (let width = 1; width <= 24; width += 1) {
      for (let height = 1; height <= 4; height += 1) {
        for (const [toWidth, toHeight] of [
          [1, 1],
          [3, 2],
          [7, 5],
          [20, 3],
          [Math.max(1, width - 1), height + 1],
        ] as const) {
          const c: Case = {
            width,
            height,
            toWidth,
            toHeight,
            rowStride: 3 * width + (width % 4),
            order: bgr,
          };
          if (planResize(width, height, toWidth, toHeight).method !== 'linear') continue;
          expect(ranInWasm(c)).toBe(true);
          if (differing(resized(c, true), resized(c, false)) > 0) wrong += 1;
          cases += 1;
        }
      }
    }
    expect(cases).toBeGreaterThan(400);
    expect(wrong).toBe(0);
  });

  it('a source shorter than the picture: a RangeError naming the sizes, nothing written', () => {
    const plan = planResize(20, 4, 10, 3);
    const planes = new Uint8Array(3 * 30).fill(7);
    const plane = (rgb: number): PlaneTarget => ({ data: planes, offset: rgb * 30, rowStride: 10 });
    expect(() =>
      resizeLinearPackedSimd(plan, new Uint8Array(60 * 3 + 30), [2, 1, 0], 60, [
        plane(0),
        plane(1),
        plane(2),
      ]),
    ).toThrow(/^resize: a 20×4 picture with rows of 60 bytes from offset 0 needs 240 bytes, got 210$/);
    expect(planes.every((value) => value === 7)).toBe(true);
  });

  it("one plan after another, and back (the plans reused, as a stream's are): each with its own tables", () => {
    const a: Case = { width: 848, height: 478, toWidth: 640, toHeight: 361, rowStride: 2544, order: bgr };
    const b: Case = { width: 100, height: 100, toWidth: 33, toHeight: 33, rowStride: 300, order: bgr };
    const planA = planResize(a.width, a.height, a.toWidth, a.toHeight);
    const planB = planResize(b.width, b.height, b.toWidth, b.toHeight);
    const expectedA = resized(a, false, planA);
    expect(differing(resized(a, true, planA), expectedA)).toBe(0);
    expect(differing(resized(a, true, planA), expectedA)).toBe(0);
    expect(differing(resized(b, true, planB), resized(b, false, planB))).toBe(0);
    expect(differing(resized(a, true, planA), expectedA)).toBe(0);
  });
});
