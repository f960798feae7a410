/**
 * Test helper: the fixture MPEG-TS with one of its SPS rewritten in place to announce another picture size:
 * the first (read from the stream's head before FFmpeg's open), or the second, before the second IDR
 * picture (FFmpeg's open reads only the first, so only a check of the packets themselves sees it).
 *
 * The new SPS drops its VUI so that it is shorter than the old one, and the bytes it leaves are zeros
 * (Annex B's trailing_zero_8bits): every PES and TS packet keeps its length. An SPS may run across a
 * transport packet boundary, so its bytes are addressed through the packets' payloads.
 */

import { readFileSync } from 'node:fs';
import { resizeSps } from './crafted-mp4.js';

const PACKET = 188;

/** File positions of the `count` payload bytes from `from` on, skipping packet headers and adaptation fields. */
function payloadPositions(ts: Buffer, from: number, count: number): number[] {
  const positions: number[] = [];
  for (let at = from; positions.length < count && at < ts.byteLength;) {
    if (at % PACKET === 0) {
      const adaptation = (ts[at + 3]! & 0x20) !== 0;
      at += 4 + (adaptation ? ts[at + 4]! + 1 : 0);
      continue;
    }
    positions.push(at);
    at += 1;
  }
  return positions;
}

export function tsWithSps(ts: string, width: number, height: number, which: number): Buffer {
  const out = Buffer.from(readFileSync(ts));
  const starts: number[] = [];
  const start = Buffer.from([0, 0, 1]);
  for (let at = out.indexOf(start); at >= 0; at = out.indexOf(start, at + 3)) {
    if ((out[at + 3]! & 0x9f) === 7) starts.push(at + 3);
  }
  const first = starts[which];
  if (first === undefined) throw new Error(`${ts}: no SPS number ${which}`);
  const positions = payloadPositions(out, first, 64);
  const logical = Buffer.from(positions.map((at) => out[at]!));
  let end = logical.indexOf(start, 1);
  if (logical[end - 1] === 0) end -= 1;
  const sps = resizeSps(logical.subarray(0, end), width, height, { dropVui: true });
  if (sps.byteLength > end) throw new Error(`${ts}: the new SPS is longer than the old one`);
  positions.slice(0, end).forEach((at, index) => (out[at] = sps[index] ?? 0));
  return out;
}
