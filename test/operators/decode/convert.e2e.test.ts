import { describe, expect, it } from 'vitest';
import { profileScene } from '../../../src/fixtures/make.js';
import { sceneObjects } from '../../../src/fixtures/scene.js';
import { fileSource } from '../../../src/sources/file.js';
import { decodeAll, fixtures, useFixtures } from './e2e-harness.js';

// The decode operator end to end: the letterbox for the model (convert.ts).
useFixtures();

describe('decode: conversion for the model', () => {
  it('letterboxes kept frames to IMG_SIZE in planar RGB, with the geometry to map boxes back', async () => {
    const kept: number[] = [];
    const { frames } = await decodeAll(fileSource(fixtures.clips['faststart']!.file), {
      imgSize: 320,
      keepFrame: (n) => {
        kept.push(n);
        return n % 25 === 0;
      },
    });
    expect(kept).toEqual(frames.map((f) => f.frameNumber));
    expect(frames.filter((f) => f.image).map((f) => f.frameNumber)).toEqual([0, 25, 50, 75]);
    const image = frames[25]!.image!;
    // 640×360 into 320: scale 0.5, 320×180, 70 rows of padding above and below.
    expect(image).toMatchObject({
      size: 320,
      scale: 0.5,
      scaledWidth: 320,
      scaledHeight: 180,
      padX: 0,
      padY: 70,
    });
    expect(image.data).toHaveLength(3 * 320 * 320);
    const at = (channel: number, x: number, y: number) => image.data[channel * 320 * 320 + y * 320 + x]!;
    expect([at(0, 160, 10), at(1, 160, 10), at(2, 160, 10)]).toEqual([114, 114, 114]);
    expect([at(0, 160, 310), at(1, 160, 310), at(2, 160, 310)]).toEqual([114, 114, 114]);
    // Every object's centre, mapped through the letterbox, has that object's colour (R, G, B order).
    const objects = sceneObjects(profileScene('test'), 25).filter((o) => o.classId !== 0);
    expect(objects.length).toBeGreaterThan(5);
    for (const object of objects) {
      const [x1, y1, x2, y2] = object.bbox;
      const x = Math.round(((x1 + x2) / 2) * image.scale + image.padX);
      const y = Math.round(((y1 + y2) / 2) * image.scale + image.padY);
      const rgb = [at(0, x, y), at(1, x, y), at(2, x, y)];
      rgb.forEach((value, channel) => expect(Math.abs(value - object.color[channel]!)).toBeLessThan(40));
    }
  });
});
