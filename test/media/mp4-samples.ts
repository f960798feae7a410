import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { scanTopLevelBoxes } from '../../src/media/mp4-boxes.js';

/*
 * What the MP4 index tests (test/media/mp4-*.test.ts, test/operators/decode/first-frame-index.e2e.test.ts)
 * read of a clip: a top-level box's bytes, and where ffprobe finds the first video packet.
 */

export function topLevel(file: string, type: string): { bytes: Uint8Array; offset: number } {
  const bytes = readFileSync(file);
  const box = scanTopLevelBoxes(bytes).find((b) => b.type === type)!;
  return { bytes: bytes.subarray(box.offset, box.offset + box.size), offset: box.offset };
}

/** ffprobe's first video packet: where it lies and its pts in the stream's time base. */
export function firstPacket(file: string): { offset: number; size: number; pts: number } {
  const out = execFileSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'packet=pos,size,pts',
      '-read_intervals',
      '%+#1',
      '-of',
      'json',
      file,
    ],
    { encoding: 'utf8' },
  );
  const [packet] = (JSON.parse(out) as { packets: Array<{ pos: string; size: string; pts: number }> })
    .packets;
  return { offset: Number(packet!.pos), size: Number(packet!.size), pts: packet!.pts };
}
