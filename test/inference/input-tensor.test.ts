import { describe, expect, it } from 'vitest';
import {
  InputPool,
  fillInput,
  halfBits,
  planeOf,
  SharedImagePool,
  simdAvailable,
  type InputFrame,
} from '../../src/inference/input-tensor.js';
import { float32ToFloat16 } from '../../src/inference/model.js';

/** Frames whose bytes run through every value 0..255, shifted per frame. */
function frames(count: number, imgSize: number): InputFrame[] {
  return Array.from({ length: count }, (_, f) => ({
    frameNumber: f,
    image: { data: Uint8Array.from({ length: planeOf(imgSize) }, (_, i) => (i * 7 + f * 31) & 255) },
  }));
}

/** The conversion as it was first written: byte × (1 / 255), stored as float32. */
function reference(input: readonly InputFrame[], imgSize: number, count = input.length): Float32Array {
  const plane = planeOf(imgSize);
  const out = new Float32Array(count * plane);
  input.forEach((frame, f) =>
    frame.image!.data.forEach((byte, i) => (out[f * plane + i] = byte * (1 / 255))),
  );
  return out;
}

describe('fillInput', () => {
  it('runs on the WebAssembly SIMD kernel here', () => {
    expect(simdAvailable()).toBe(true);
  });

  // 8: whole 16-byte steps; 7: 144 bytes by SIMD and a 3-byte tail; 96: several 16 KiB chunks.
  it.each([8, 7, 96])('gives exactly the float32 values of the scalar loop (S = %i)', (imgSize) => {
    const input = frames(3, imgSize);
    const target = new Float32Array(3 * planeOf(imgSize));
    fillInput(input, target, imgSize);
    expect(target).toEqual(reference(input, imgSize));
  });

  it('every byte value converts to the same float32 as byte × (1 / 255)', () => {
    const input = [{ frameNumber: 0, image: { data: Uint8Array.from({ length: 768 }, (_, i) => i & 255) } }];
    const target = new Float32Array(768);
    fillInput(input, target, 16);
    for (let i = 0; i < 768; i += 1) expect(target[i]).toBe(Math.fround((i & 255) * (1 / 255)));
  });

  it('writes half-precision bits for a float16 model: the same as converting the float32 input', () => {
    const input = frames(2, 8);
    const target = new Uint16Array(2 * planeOf(8));
    fillInput(input, target, 8);
    expect(target).toEqual(float32ToFloat16(reference(input, 8)));
  });

  it('zeroes the padding rows of a reused (stale) buffer', () => {
    const target = new Float32Array(3 * planeOf(8)).fill(0.5);
    fillInput(frames(1, 8), target, 8);
    expect(target.subarray(planeOf(8)).every((v) => v === 0)).toBe(true);
    expect(target.subarray(0, planeOf(8))).toEqual(reference(frames(1, 8), 8));
  });

  it('refuses frames without pixels, pixels of another size, and a buffer too small', () => {
    const target = new Float32Array(2 * planeOf(8));
    expect(() => fillInput([{ frameNumber: 4 }], target, 8)).toThrow(
      expect.objectContaining({
        code: 'FF_ERR_MODEL_INPUT',
        message: 'frame 4: no pixels, the model takes 3×8×8',
      }),
    );
    expect(() => fillInput(frames(1, 7), target, 8)).toThrow(
      'frame 0: 147 bytes of pixels, the model takes 3×8×8',
    );
    expect(() => fillInput(frames(3, 8), target, 8)).toThrow(
      'an input of 384 values cannot hold 3 images of 3×8×8',
    );
  });
});

describe('InputPool', () => {
  it('hands back a kept buffer (the smallest that fits) before allocating', () => {
    const pool = new InputPool('float32', 10);
    const small = new ArrayBuffer(4 * 10);
    const large = new ArrayBuffer(4 * 30);
    pool.give(large);
    pool.give(small);
    expect(pool.take(1).buffer).toBe(small);
    const two = pool.take(2);
    expect(two.buffer).toBe(large);
    expect(two).toHaveLength(20);
    expect(two).toBeInstanceOf(Float32Array);
    expect(pool.take(1).buffer).not.toBe(large); // nothing left: a new one
  });

  it('keeps at most `keep` idle buffers, the largest; ignores detached and repeated ones', () => {
    const pool = new InputPool('float16', 4, 2);
    const buffers = [8, 16, 24].map((bytes) => new ArrayBuffer(bytes));
    for (const buffer of buffers) pool.give(buffer);
    pool.give(buffers[2]);
    const detached = new ArrayBuffer(8);
    structuredClone(detached, { transfer: [detached] });
    pool.give(detached);
    expect(pool.idle).toBe(2);
    const taken = pool.take(2);
    expect(taken).toBeInstanceOf(Uint16Array);
    expect(taken.buffer).toBe(buffers[1]);
  });
});

describe('halfBits', () => {
  it('rounds to nearest even and keeps the special values', () => {
    expect(halfBits(1)).toBe(0x3c00);
    expect(halfBits(-2)).toBe(0xc000);
    expect(halfBits(65504)).toBe(0x7bff);
    expect(halfBits(65520)).toBe(0x7c00); // rounds up past the largest half: infinity
    expect(halfBits(Number.POSITIVE_INFINITY)).toBe(0x7c00);
    expect(halfBits(Number.NaN) & 0x7e00).toBe(0x7e00);
    expect(halfBits(2 ** -24)).toBe(0x0001); // the smallest subnormal
    expect(halfBits(2 ** -26)).toBe(0);
  });
});

describe('SharedImagePool', () => {
  const images = (count: number) => frames(count, 4).map((frame) => frame.image!.data);

  it('copies images from ordinary memory into one SharedArrayBuffer, values unchanged', () => {
    const pool = new SharedImagePool();
    const shared = pool.share(images(3));
    expect(shared.images).toEqual(images(3));
    expect(shared.images.every((view) => view.buffer instanceof SharedArrayBuffer)).toBe(true);
    expect(new Set(shared.images.map((view) => view.buffer)).size).toBe(1);
    expect(shared.images.map((view) => view.byteOffset)).toEqual([0, 48, 96]);
    // Room for 4 images: the next power of two, so that a batch of 4 can reuse it.
    expect(shared.images[0]!.buffer.byteLength).toBe(4 * 48);
  });

  it('reuses a released buffer (its memory already touched), the smallest that fits', () => {
    const pool = new SharedImagePool(2);
    const small = pool.share(images(1));
    const large = pool.share(images(5));
    const smallBuffer = small.images[0]!.buffer;
    const largeBuffer = large.images[0]!.buffer;
    expect(largeBuffer.byteLength).toBe(8 * 48);
    small.release();
    large.release();
    large.release(); // twice: given back once
    expect(pool.idle).toBe(2);
    expect(pool.share(images(1)).images[0]!.buffer).toBe(smallBuffer);
    const again = pool.share(images(2));
    expect(again.images[0]!.buffer).toBe(largeBuffer);
    expect(again.images).toEqual(images(2));
    expect(pool.idle).toBe(0);
    // While both are out, a third share gets fresh memory.
    expect(pool.share(images(1)).images[0]!.buffer).not.toBe(smallBuffer);
  });

  it('keeps at most `keep` idle buffers, the largest', () => {
    const pool = new SharedImagePool(1);
    const a = pool.share(images(1));
    const b = pool.share(images(4));
    a.release();
    b.release();
    expect(pool.idle).toBe(1);
    expect(pool.share(images(1)).images[0]!.buffer).toBe(b.images[0]!.buffer);
  });

  it('hands views already in shared memory back as they are, with nothing to release', () => {
    const pool = new SharedImagePool();
    const memory = new SharedArrayBuffer(96);
    const views = [new Uint8Array(memory, 48, 48), new Uint8Array(memory, 0, 48)];
    const shared = pool.share(views);
    expect(shared.images).toHaveLength(2);
    expect(shared.images[0]).toBe(views[0]);
    expect(shared.images[1]).toBe(views[1]);
    shared.release();
    expect(pool.idle).toBe(0);
  });
});
