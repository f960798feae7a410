import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/core/errors.js';
import { createBoxWalker } from '../../src/media/box-walker.js';
import { createLayoutSniffer } from '../../src/media/layout-sniffer.js';
import { checkMoof, checkMoov } from '../../src/media/mp4-check.js';
import { testFixtures } from '../support/fixtures.js';

/**
 * The structure checks in the order the decode stage runs them, on a whole file fed in 64 KB chunks:
 * the layout sniffer (top-level and moov-child headers), then the moov (first, or after the mdat for
 * moov-end), then each moof. The first refusal, or undefined when the file passes.
 */
function refusal(bytes: Uint8Array): DecodeError | undefined {
  const fileSize = bytes.byteLength;
  try {
    const sniffer = createLayoutSniffer({ fileSize });
    let decision;
    for (let at = 0; at < fileSize && !decision; at += 65536)
      decision = sniffer.push(bytes.subarray(at, at + 65536));
    decision ??= sniffer.end();
    let moov = decision?.moov;
    const after = decision?.mdat ?? moov;
    if (!after) return undefined;
    const walker = createBoxWalker({ start: after.offset + after.size, fileSize });
    const boxes = walker.push(bytes.subarray(after.offset + after.size), after.offset + after.size);
    moov ??= boxes.find((box) => box.type === 'moov');
    const problem =
      moov &&
      checkMoov(bytes.subarray(moov.offset, moov.offset + moov.size), { offset: moov.offset, fileSize });
    if (problem) return problem;
    for (const moof of boxes.filter((box) => box.type === 'moof')) {
      const bad = checkMoof(bytes.subarray(moof.offset, moof.offset + moof.size), {
        offset: moof.offset,
        fileSize,
      });
      if (bad) return bad;
    }
    return undefined;
  } catch (error) {
    if (error instanceof DecodeError) return error;
    throw error;
  }
}

const CASES = join(import.meta.dirname, '../hostile/cases');

describe("the fuzz harness's MP4 crashers (test/hostile/cases) are refused before FFmpeg sees them", () => {
  it.each([
    ['fuzz-dup-range-1-1421.mp4', '????', 'type'],
    ['fuzz-mp4-box-size-1-906.mp4', 'moov.mvhd', 'size'],
    ['fuzz-mp4-dup-moov-range-1-1128.mp4', 'moov.????', 'type'],
    ['fuzz-mp4-entry-count-1-1012.mp4', 'moov.trak[0].mdia.minf.stbl.stsd', 'entry_count'],
    ['fuzz-mp4-entry-count-1-1153.mp4', 'moov.trak[0].mdia.minf.stbl.stco', 'entry_count'],
    ['fuzz-mp4-entry-count-1-1217.mp4', 'moov.trak[0].mdia.minf.stbl.stsc', 'entry_count'],
    ['fuzz-mp4-entry-count-1-1432.mp4', 'moov.trak[0].mdia.minf.stbl.stsz', 'sample_count'],
    ['fuzz-mp4-entry-count-1-408.mp4', 'moov.trak[0].mdia.minf.stbl.stsc', 'entry_count'],
    ['fuzz-mp4-entry-count-1-90.mp4', 'moov.trak[0].mdia.minf.stbl.stsz', 'sample_count'],
    ['fuzz-mp4-smash-moov-1-1098.mp4', 'moov.trak[0].mdia.minf.stbl.stco', 'chunk_offset'],
    ['fuzz-mp4-smash-moov-1-1168.mp4', 'moov.trak[0].mdia.minf.stbl.rtsz', 'size'],
  ])('%s: %s %s', (name, box, field) => {
    const error = refusal(readFileSync(join(CASES, name)));
    expect(error?.code).toBe('FF_ERR_MP4_STRUCTURE');
    expect(error?.context).toMatchObject({ box, field });
  });
});

describe('the same checks on the fixture clips', () => {
  it.each(['moov-end', 'faststart', 'fragmented', 'audio', 'editlist', 'mpegts', 'matroska', 'webm'])(
    '%s passes',
    async (name) => {
      const fixtures = await testFixtures();
      expect(refusal(readFileSync(fixtures.clips[name]!.file))).toBeUndefined();
    },
  );
});
