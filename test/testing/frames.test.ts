import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { frames } from '../../src/testing/index.js';

describe('frames (the frame factory)', () => {
  it('numbers, pts, key frames and sizes as the decode stage gives them', () => {
    const clip = frames(6, { width: 1920, height: 1080, fps: 50, keyEvery: 4, imgSize: 320, first: 2 });
    expect(
      clip.map(({ frameNumber, pts, keyFrame, decodedAt, width, height }) => ({
        frameNumber,
        pts,
        keyFrame,
        decodedAt,
        width,
        height,
      })),
    ).toEqual([
      { frameNumber: 2, pts: 0.04, keyFrame: false, decodedAt: 40, width: 1920, height: 1080 },
      { frameNumber: 3, pts: 0.06, keyFrame: false, decodedAt: 60, width: 1920, height: 1080 },
      { frameNumber: 4, pts: 0.08, keyFrame: true, decodedAt: 80, width: 1920, height: 1080 },
      { frameNumber: 5, pts: 0.1, keyFrame: false, decodedAt: 100, width: 1920, height: 1080 },
      { frameNumber: 6, pts: 0.12, keyFrame: false, decodedAt: 120, width: 1920, height: 1080 },
      { frameNumber: 7, pts: 0.14, keyFrame: false, decodedAt: 140, width: 1920, height: 1080 },
    ]);
    expect(clip[0]!.stream).toEqual({
      layout: 'faststart',
      container: 'mov,mp4,m4a,3gp,3g2,mj2',
      codec: 'h264',
      decoder: 'h264',
      width: 1920,
      height: 1080,
      fps: 50,
      timeBase: [1, 25600],
      frameCount: 8,
    });
  });

  it('pixels letterboxed for the model size: one shared blank buffer, a view of its own per frame', () => {
    const [a, b] = frames(2, { width: 1280, height: 720, imgSize: 640 });
    const { data, ...geometry } = a!.image!;
    expect(geometry).toEqual({
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
    expect(data.length).toBe(3 * 640 * 640);
    expect(data[0]).toBe(114);
    // Compared by identity: vitest's matchers would walk 1.2 MB of pixels.
    expect(b!.image!.data === data).toBe(false);
    expect(b!.image!.data.buffer === data.buffer).toBe(true);
  });

  it('defaults: 1280×720 at 25 fps, a key frame every 50, 640 px, the clip length in the stream', () => {
    const clip = frames(51);
    expect(clip.filter((frame) => frame.keyFrame).map((frame) => frame.frameNumber)).toEqual([0, 50]);
    expect(clip[50]).toMatchObject({ frameNumber: 50, pts: 2, width: 1280, height: 720 });
    expect(clip[50]!.image!.size).toBe(640);
    expect(clip[0]!.stream.frameCount).toBe(51);
  });

  it('frameCount null: a stream that does not say its length', () => {
    expect(frames(3, { frameCount: null })[0]!.stream.frameCount).toBeUndefined();
    expect(frames(3, { frameCount: 750 })[0]!.stream.frameCount).toBe(750);
  });

  it('no frames for a count of 0', () => {
    expect(frames(0)).toEqual([]);
  });

  it('bad options: a ConfigError listing every problem', () => {
    let error: unknown;
    try {
      frames(-1, { width: 0, fps: Number.NaN, keyEvery: 1.5, first: -2 });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'frames: expected a count >= 0, got -1',
      'frames.width: expected a positive integer, got 0',
      'frames.keyEvery: expected a positive integer, got 1.5',
      'frames.fps: expected a positive number, got null',
      'frames.first: expected an integer >= 0, got -2',
    ]);
  });
});
