import { describe, expect, it } from 'vitest';
import { beamcoder, type Beamcoder } from '../../../src/media/beamcoder.js';
import { PictureConverter } from '../../../src/operators/decode/convert.js';
import {
  PixelBufferPool,
  prefetchGate,
  sharedPixelBuffers,
  type PrefetchSlot,
} from '../../../src/operators/prefetch.js';
import { recordingContext } from './fake-context.js';

const bc = beamcoder();

/** A 64×48 yuv420p picture of one colour (limited range: Y 235 is white). */
function plainFrame(y: number, width = 64, height = 48): Beamcoder.Frame {
  const frame = bc.frame({ width, height, format: 'yuv420p' }).alloc();
  const [luma, u, v] = frame.data;
  luma!.fill(y);
  u!.fill(128);
  v!.fill(128);
  return frame;
}

/** The value of every byte in rows [from, to) of a planar image of side `size`, per plane. */
function rowValues(data: Uint8Array, size: number, from: number, to: number): number[][] {
  return [0, 1, 2].map((plane) => [
    ...new Set(data.subarray(plane * size * size + from * size, plane * size * size + to * size)),
  ]);
}

describe('PictureConverter', () => {
  it('letterboxes to the square model input in planar RGB: the picture centred, the bands in the pad grey', async () => {
    const context = recordingContext({});
    const converter = new PictureConverter(context, bc, { imgSize: 32, padValue: 7, gate: undefined }, () => [
      1, 25,
    ]);
    const image = (await converter.convert(plainFrame(235), 0, undefined))!;
    // 64×48 into 32: scale 0.5, 32×24, 4 rows of padding above (Ultralytics' rounding) and 4 below.
    const { size, scale, scaledWidth, scaledHeight, padX, padY } = image;
    expect({ size, scale, scaledWidth, scaledHeight, padX, padY, bytes: image.data.byteLength }).toEqual({
      size: 32,
      scale: 0.5,
      scaledWidth: 32,
      scaledHeight: 24,
      padX: 0,
      padY: 4,
      bytes: 3 * 32 * 32,
    });
    expect(rowValues(image.data, 32, 0, 4)).toEqual([[7], [7], [7]]);
    expect(rowValues(image.data, 32, 28, 32)).toEqual([[7], [7], [7]]);
    expect(rowValues(image.data, 32, 4, 28)).toEqual([[255], [255], [255]]);
    expect(context.failures).toEqual([]);
  });

  it('prepare builds the graph ahead and runs one blank frame through it, unless told not to; frames come out the same', async () => {
    // beamcoder with its filter graphs' filter calls counted.
    const calls: number[] = [];
    const counting = Object.create(bc, {
      filterer: {
        value: async (options: Parameters<typeof bc.filterer>[0]) => {
          const graph = await bc.filterer(options);
          const filter = graph.filter.bind(graph);
          const index = calls.push(0) - 1;
          return Object.create(graph, {
            filter: {
              value: (frames: Beamcoder.Frame[]) => {
                calls[index]! += 1;
                return filter(frames);
              },
            },
          });
        },
      },
    }) as typeof bc;
    const images: Uint8Array[] = [];
    for (const warm of [true, false, undefined]) {
      const converter = new PictureConverter(
        recordingContext({}),
        counting,
        { imgSize: 32, padValue: 7, gate: undefined },
        () => [1, 25],
      );
      if (warm !== undefined) converter.prepare(64, 48, 'yuv420p', warm);
      images.push((await converter.convert(plainFrame(200), 0, undefined))!.data.slice());
    }
    // Warmed: the blank frame, then the real one; not warmed: the real one; no prepare: built at convert, not warmed.
    expect(calls).toEqual([2, 1, 1]);
    expect(images[0]).toEqual(images[1]);
    expect(images[0]).toEqual(images[2]);
  });

  it("into the prefetch slot's buffer when the frame holds a slot", async () => {
    const gate = prefetchGate(1);
    const slot = gate.acquire() as PrefetchSlot;
    const converter = new PictureConverter(
      recordingContext({}),
      bc,
      { imgSize: 32, padValue: 114, gate },
      () => undefined,
    );
    const target = gate.pixels(slot, 3 * 32 * 32)!;
    const image = (await converter.convert(plainFrame(16), 0, slot))!;
    expect(image.data.buffer).toBe(target.buffer);
    expect(image.data.byteOffset).toBe(target.byteOffset);
    expect(rowValues(image.data, 32, 0, 4)).toEqual([[114], [114], [114]]);
    expect(rowValues(image.data, 32, 4, 28)).toEqual([[0], [0], [0]]);
    gate.release([slot]);
  });

  it("without a slot, into an idle buffer of the shared pool (warmDecode's, already touched), which the frame keeps", async () => {
    const converter = new PictureConverter(
      recordingContext({}),
      bc,
      { imgSize: 32, padValue: 114, gate: undefined },
      () => undefined,
    );
    // Those of this size that earlier tests gave back out first, so that the pool holds this one only.
    while (sharedPixelBuffers.takeIdle(3 * 32 * 32)) {
      // taken
    }
    const idle = new Uint8Array(new SharedArrayBuffer(3 * 32 * 32)).fill(9);
    sharedPixelBuffers.give(idle);
    const before = sharedPixelBuffers.idleBytes;
    const first = (await converter.convert(plainFrame(16), 0, undefined))!;
    expect(first.data).toBe(idle);
    expect(sharedPixelBuffers.idleBytes).toBe(before - 3 * 32 * 32);
    expect(rowValues(first.data, 32, 4, 28)).toEqual([[0], [0], [0]]);
    // The pool has no more of that size: the next frame gets a new buffer of its own (not shared memory,
    // which Node frees late), and the first keeps its pixels.
    const second = (await converter.convert(plainFrame(235), 1, undefined))!;
    expect(second.data.buffer).toBeInstanceOf(ArrayBuffer);
    expect(rowValues(first.data, 32, 4, 28)).toEqual([[0], [0], [0]]);
    expect(rowValues(second.data, 32, 4, 28)).toEqual([[255], [255], [255]]);
  });

  it('PixelBufferPool.keepIdle: tops the idle buffers of a size up to the count, no further; takeIdle', () => {
    const pool = new PixelBufferPool();
    pool.keepIdle(4096 * 3, 2);
    expect(pool.idleBytes).toBe(2 * 4096 * 3);
    pool.keepIdle(4096 * 3, 2);
    expect(pool.idleBytes).toBe(2 * 4096 * 3);
    const taken = pool.take(4096 * 3);
    expect(taken.buffer).toBeInstanceOf(SharedArrayBuffer);
    pool.keepIdle(4096 * 3, 2);
    expect(pool.idleBytes).toBe(2 * 4096 * 3);
    expect(pool.take(100).byteLength).toBe(100);
    expect(pool.idleBytes).toBe(2 * 4096 * 3);
    expect(pool.takeIdle(100)).toBeUndefined();
    expect(pool.takeIdle(4096 * 3)?.byteLength).toBe(4096 * 3);
    expect(pool.idleBytes).toBe(4096 * 3);
  });

  it('a frame of another size gets its own graph; a failure ends the session with FF_ERR_CONVERT naming the frame', async () => {
    const context = recordingContext({});
    const converter = new PictureConverter(
      context,
      bc,
      { imgSize: 32, padValue: 114, gate: undefined },
      () => undefined,
    );
    converter.prepare(64, 48, 'yuv420p');
    const wide = (await converter.convert(plainFrame(235, 128, 32), 3, undefined))!;
    expect([wide.scaledWidth, wide.scaledHeight, wide.padY]).toEqual([32, 8, 12]);
    const broken = bc.frame({ width: 64, height: 48, format: 'not-a-pixel-format' });
    expect(await converter.convert(broken, 7, undefined)).toBeUndefined();
    expect(context.failures).toHaveLength(1);
    const failure = context.failures[0] as { code: string; message: string; context: unknown };
    expect(failure.code).toBe('FF_ERR_CONVERT');
    expect(failure.message).toMatch(
      /^http:\/\/127\.0\.0\.1\/clip\.mp4: converting frame 7 for the model failed: /,
    );
    expect(failure.context).toEqual({ url: 'http://127.0.0.1/clip.mp4', frameNumber: 7 });
  });
});
