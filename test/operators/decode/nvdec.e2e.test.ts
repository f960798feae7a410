import { describe, expect, it } from 'vitest';
import { fileSource } from '../../../src/sources/file.js';
import { decodeAll, fixtures, useFixtures } from './e2e-harness.js';

// The decode operator end to end: NVDEC asked for where it cannot run (decoding.ts's fallback).
useFixtures();

describe('decode: NVDEC', () => {
  it('USE_NVDEC without an NVIDIA driver: one clear event, then software decoding of every frame', async () => {
    const { frames, named } = await decodeAll(fileSource(fixtures.clips['faststart']!.file), {
      nvdec: { outWidth: 320, outHeight: 180 },
    });
    expect(named('nvdec-unavailable')).toHaveLength(1);
    expect(String(named('nvdec-unavailable')[0]!.data!.reason)).toMatch(/libcuda|libnvcuvid|no h264_cuvid/);
    expect(frames).toHaveLength(100);
    expect(frames[0]!.stream.decoder).toBe('h264');
  });
});
