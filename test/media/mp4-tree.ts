/** Test helpers: find a box in an MP4 by its path, as the structure errors name it. */

import { scanTopLevelBoxes, type Mp4Box } from '../../src/media/mp4-boxes.js';

export interface FoundBox {
  /** Positions in the bytes searched. */
  start: number;
  body: number;
  end: number;
}

const CONTAINERS = new Set([
  'moov',
  'trak',
  'mdia',
  'minf',
  'stbl',
  'edts',
  'dinf',
  'mvex',
  'moof',
  'traf',
  'udta',
]);

/** The first top-level box of a type in a whole file. */
export function topLevel(bytes: Uint8Array, type: string): Mp4Box {
  const box = scanTopLevelBoxes(bytes).find((b) => b.type === type);
  if (!box) throw new Error(`no top-level ${type}`);
  return box;
}

/**
 * The box at `path` (`moov.trak[1].mdia.minf.stbl.stsd.avc1`) in bytes that start with the root box.
 * Reads the pristine tree: sizes are trusted, as this is for finding what to smash.
 */
export function boxAt(bytes: Uint8Array, path: string): FoundBox {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = (at: number): FoundBox & { type: string } => {
    const size32 = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const large = size32 === 1;
    const size = large ? Number(view.getBigUint64(at + 8)) : size32;
    return { type, start: at, body: at + (large ? 16 : 8), end: at + size };
  };
  const steps = path.split('.');
  let box = header(0);
  if (box.type !== steps[0]) throw new Error(`root is ${box.type}, not ${steps[0]}`);
  for (const step of steps.slice(1)) {
    const [, type, index] = /^(.{4})(?:\[(\d+)\])?$/.exec(step)!;
    let from = box.body;
    if (box.type === 'stsd') from += 8;
    else if (!CONTAINERS.has(box.type)) from += 78; // a visual sample entry's fields
    let seen = 0;
    let found: (FoundBox & { type: string }) | undefined;
    for (let at = from; at + 8 <= box.end;) {
      const child = header(at);
      if (child.type === type && seen++ === Number(index ?? 0)) {
        found = child;
        break;
      }
      at = child.end;
    }
    if (!found) throw new Error(`no ${step} in ${box.type}`);
    box = found;
  }
  return { start: box.start, body: box.body, end: box.end };
}

/**
 * A copy of `bytes` (starting with the root box) with the body of the box at `path` replaced, and the
 * 32-bit sizes of that box and of every box above it grown or shrunk to match.
 */
export function replaceBody(bytes: Uint8Array, path: string, body: Uint8Array): Uint8Array {
  const target = boxAt(bytes, path);
  const delta = body.byteLength - (target.end - target.body);
  const out = new Uint8Array(bytes.byteLength + delta);
  out.set(bytes.subarray(0, target.body));
  out.set(body, target.body);
  out.set(bytes.subarray(target.end), target.body + body.byteLength);
  const view = new DataView(out.buffer);
  const steps = path.split('.');
  for (let depth = 1; depth <= steps.length; depth += 1) {
    const box = boxAt(bytes, steps.slice(0, depth).join('.'));
    view.setUint32(box.start, view.getUint32(box.start) + delta);
  }
  return out;
}
