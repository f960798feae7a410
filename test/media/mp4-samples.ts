import { readFileSync } from 'node:fs';
import { scanTopLevelBoxes } from '../../src/media/mp4-boxes.js';
import { probeVideo } from '../support/ffprobe.js';

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
  const [packet] = probeVideo<{ packets: Array<{ pos: string; size: string; pts: number }> }>(
    file,
    'packet=pos,size,pts',
    ['-read_intervals', '%+#1'],
  ).packets;
  return { offset: Number(packet!.pos), size: Number(packet!.size), pts: packet!.pts };
}

/** A seeded linear congruential generator: the same numbers run after run. */
export function seededRandom(seed: number): () => number {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state;
  };
}

/** A copy of `pristine` with 1–4 (by `round`) of its 32-bit words past the box header set to 0, 7, 2^32 − 1 or noise. */
export function smashed(pristine: Uint8Array, round: number, random: () => number): Uint8Array {
  const bytes = new Uint8Array(pristine);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < 1 + (round % 4); i += 1) {
    const at = 8 + (random() % (bytes.byteLength - 12));
    view.setUint32(at - (at % 4), [0xffffffff, 0, 7, random()][random() % 4]!);
  }
  return bytes;
}
