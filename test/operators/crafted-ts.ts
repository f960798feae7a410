/**
 * Test helper: an MPEG-TS of a fixture clip whose second SPS (before the second IDR picture) announces
 * another picture size, while the first is the clip's own: FFmpeg's open reads the first, so only a check
 * of the packets themselves sees the second.
 */

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resizeSps } from './crafted-mp4.js';

/** Start-code positions (of the byte after `00 00 01`) of H.264 SPS NAL units in an Annex B stream. */
function spsStarts(stream: Buffer): number[] {
  const starts: number[] = [];
  for (
    let at = stream.indexOf(Buffer.from([0, 0, 1]));
    at >= 0;
    at = stream.indexOf(Buffer.from([0, 0, 1]), at + 3)
  ) {
    if ((stream[at + 3]! & 0x1f) === 7) starts.push(at + 3);
  }
  return starts;
}

/** Writes the TS into `dir` and returns its path. */
export function tsWithLaterSps(mp4: string, dir: string, width: number, height: number): string {
  const elementary = join(dir, 'later-sps.h264');
  const ts = join(dir, 'later-sps.ts');
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-i',
    mp4,
    '-c',
    'copy',
    '-bsf:v',
    'h264_mp4toannexb',
    '-f',
    'h264',
    elementary,
  ]);
  const stream = readFileSync(elementary);
  const second = spsStarts(stream)[1];
  if (second === undefined) throw new Error(`${mp4}: no second SPS`);
  const end = stream.indexOf(Buffer.from([0, 0]), second + 1);
  const sps = stream.subarray(second, end);
  writeFileSync(
    elementary,
    Buffer.concat([stream.subarray(0, second), resizeSps(sps, width, height), stream.subarray(end)]),
  );
  // A raw stream has no timestamps: frame numbers become both (display order is not kept, which the
  // test does not need).
  execFileSync('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-fflags',
    '+genpts',
    '-framerate',
    '25',
    '-f',
    'h264',
    '-i',
    elementary,
    '-c',
    'copy',
    '-bsf:v',
    'setts=dts=N:pts=N',
    '-f',
    'mpegts',
    ts,
  ]);
  return ts;
}
