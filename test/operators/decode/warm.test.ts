import { describe, expect, it } from 'vitest';
import { WARM_CLIP_BASE64 } from '../../../src/operators/decode/warm-clip.js';
import { scanTopLevelBoxes } from '../../../src/media/mp4-boxes.js';
import { readVideoTrack } from '../../../src/media/mp4-index.js';
import { warmDecode } from '../../../src/operators/decode.js';
import { sharedPixelBuffers } from '../../../src/operators/prefetch.js';
import { waitFor } from '../../support/wait-for.js';

describe('warmDecode', () => {
  it('the bundled clip: a 160×90 H.264 faststart MP4 whose frame 0 comes from the index', () => {
    const clip = new Uint8Array(Buffer.from(WARM_CLIP_BASE64, 'base64'));
    expect(clip.byteLength).toBe(4725);
    const boxes = scanTopLevelBoxes(clip);
    expect(boxes.map((box) => box.type)).toEqual(['ftyp', 'moov', 'free', 'mdat']);
    const moov = boxes[1]!;
    expect(readVideoTrack(clip.subarray(moov.offset, moov.offset + moov.size))).toMatchObject({
      codec: 'h264',
      width: 160,
      height: 90,
      fps: 25,
      pixelFormat: 'yuv420p',
    });
  });

  it('decodes two frames of it over loopback HTTP, and again: no server or socket is left open', async () => {
    const handles = () =>
      (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
    const before = handles();
    expect(await warmDecode({ imgSize: 320 })).toMatchObject({ frames: 2 });
    expect(await warmDecode({ imgSize: 320 })).toMatchObject({ frames: 2 });
    // Closed sockets leave the handle list a few ticks later (later on a loaded machine): waited for.
    await waitFor(`${before} handles`, () => handles() === before).catch(() => undefined);
    expect(handles()).toBe(before);
  });

  it("tops the shared pool up to two idle letterbox buffers of the model's size, not further", async () => {
    const bytes = 3 * 256 * 256;
    // Those of this size out of the pool first: counted from none.
    while (sharedPixelBuffers.takeIdle(bytes)) {
      // taken
    }
    const others = sharedPixelBuffers.idleBytes;
    await warmDecode({ imgSize: 256 });
    expect(sharedPixelBuffers.idleBytes - others).toBe(2 * bytes);
    // Three idle already: the warm clip's frames take two and give them back, none is added.
    sharedPixelBuffers.give(new Uint8Array(new SharedArrayBuffer(bytes)));
    await warmDecode({ imgSize: 256 });
    expect(sharedPixelBuffers.idleBytes - others).toBe(3 * bytes);
  });
});
