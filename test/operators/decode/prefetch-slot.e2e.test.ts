import { describe, expect, it } from 'vitest';
import { decode } from '../../../src/operators/decode.js';
import { PixelBufferPool, prefetchGate } from '../../../src/operators/prefetch.js';
import { fileSource } from '../../../src/sources/file.js';
import { decodeAll, fixtures, useFixtures } from './e2e-harness.js';

// The decode operator end to end: pixels written into the prefetch slot's buffer (frames-out.ts, convert.ts).
useFixtures();

describe('decode: pixels in the buffer of the prefetch slot', () => {
  it('each kept frame is letterboxed into the buffer of its slot, reused once the slot is given back', async () => {
    const keepFrame = (n: number) => n % 10 === 0;
    const fresh = await decodeAll(fileSource(fixtures.clips['faststart']!.file), { imgSize: 320, keepFrame });
    const pixelBuffers = new PixelBufferPool();
    const gate = prefetchGate(2, 'block', { pixelBuffers });
    const copies = new Map<number, Uint8Array>();
    const buffers = new Set<ArrayBufferLike>();
    await new Promise<void>((resolve, reject) =>
      fileSource(fixtures.clips['faststart']!.file)
        .pipe(decode({ imgSize: 320, keepFrame, gate }))
        .subscribe({
          next: (frame) => {
            if (!frame.image || !frame.slot) return;
            copies.set(frame.frameNumber, Uint8Array.from(frame.image.data));
            buffers.add(frame.image.data.buffer);
            gate.release([frame.slot]);
          },
          error: reject,
          complete: resolve,
        }),
    );
    expect([...copies.keys()]).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
    // One slot at a time was held: one buffer, shared memory, served every frame.
    expect(buffers.size).toBe(1);
    expect([...buffers][0]).toBeInstanceOf(SharedArrayBuffer);
    expect(pixelBuffers.idleBytes).toBe(3 * 320 * 320);
    // The same pixels as a fresh buffer per frame.
    for (const frame of fresh.frames.filter((f) => f.image)) {
      expect(Buffer.from(copies.get(frame.frameNumber)!).equals(Buffer.from(frame.image!.data))).toBe(true);
    }
    // Without a gate, each frame has a buffer of its own.
    const own = new Set(fresh.frames.filter((f) => f.image).map((f) => f.image!.data.buffer));
    expect(own.size).toBe(10);
  });
});
