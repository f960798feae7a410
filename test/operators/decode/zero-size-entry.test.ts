import { readFileSync } from 'node:fs';
import { lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { readVideoTrack } from '../../../src/media/mp4-index.js';
import { scanTopLevelBoxes } from '../../../src/media/mp4-boxes.js';
import { decode } from '../../../src/operators/decode.js';
import { fileSource } from '../../../src/sources/file.js';
import { testFixtures } from '../../support/fixtures.js';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The faststart clip with its avc1 sample entry's width (or height) set to 0; the SPS keeps the real size. */
async function zeroSized(field: 'width' | 'height'): Promise<{ bytes: Uint8Array; frames: number }> {
  const clip = (await testFixtures()).clips['faststart']!;
  const bytes = new Uint8Array(readFileSync(clip.file));
  // The sample entry, not the ftyp's compatible brand of the same name.
  const avc1 = Buffer.from(bytes).indexOf('avc1', Buffer.from(bytes).indexOf('stsd'));
  expect(avc1).toBeGreaterThan(0);
  // The box body starts after its type; VisualSampleEntry's width at 24, height at 26.
  bytes.set([0, 0], avc1 + 4 + (field === 'width' ? 24 : 26));
  return { bytes, frames: clip.frames };
}

describe('decode: a sample entry of no size (a hostile moov)', () => {
  it.each(['width', 'height'] as const)(
    '%s 0: the index declines it, FFmpeg decodes every frame at the SPS size; no throw escapes',
    async (field) => {
      const { bytes, frames } = await zeroSized(field);
      const moov = scanTopLevelBoxes(bytes).find((box) => box.type === 'moov')!;
      expect(readVideoTrack(bytes.subarray(moov.offset, moov.offset + moov.size))).toMatch(
        /^a sample entry of \d+×\d+$/,
      );
      const dir = mkdtempSync(join(tmpdir(), 'ff-zero-'));
      const file = join(dir, 'zero.mp4');
      writeFileSync(file, bytes);
      const out = await lastValueFrom(fileSource(file).pipe(decode({ imgSize: 64 }), toArray()));
      expect(out.map((frame) => frame.frameNumber)).toEqual(Array.from({ length: frames }, (_, i) => i));
      expect(out[0]).toMatchObject({ width: 640, height: 360 });
    },
  );
});
