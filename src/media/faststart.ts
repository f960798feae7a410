/**
 * Moving an MP4's `moov` box in front of its `mdat`, as qt-faststart does, without touching the media: only
 * the chunk offset tables (`stco`, 32-bit, and `co64`, 64-bit) inside each track's sample table change, by
 * the number of bytes the move shifts the media data.
 */

/** Boxes whose body is a list of boxes on the path from `moov` to the chunk offset tables. */
const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'edts', 'mvex', 'udta', 'dinf']);

export class MoovPatchError extends Error {}

interface BoxHeader {
  type: string;
  start: number;
  headerSize: number;
  end: number;
}

function readHeader(view: DataView, at: number, limit: number): BoxHeader {
  if (at + 8 > limit)
    throw new MoovPatchError(`box header at byte ${at} runs past its parent (ends at ${limit})`);
  let size = view.getUint32(at);
  const type = String.fromCharCode(
    view.getUint8(at + 4),
    view.getUint8(at + 5),
    view.getUint8(at + 6),
    view.getUint8(at + 7),
  );
  let headerSize = 8;
  if (size === 1) {
    if (at + 16 > limit) throw new MoovPatchError(`64-bit box header of ${type} at byte ${at} is cut off`);
    size = Number(view.getBigUint64(at + 8));
    headerSize = 16;
  } else if (size === 0) {
    size = limit - at;
  }
  if (size < headerSize || at + size > limit) {
    throw new MoovPatchError(
      `box ${type} at byte ${at} claims ${size} bytes, beyond its parent (ends at ${limit})`,
    );
  }
  return { type, start: at, headerSize, end: at + size };
}

/** Counts of what was patched, for the decode stage's events. */
export interface MoovPatch {
  readonly moov: Uint8Array;
  readonly tables: number;
  readonly entries: number;
}

/**
 * Returns a copy of `moov` (the whole box, header included) with every chunk offset increased by `delta`.
 * Throws a {@link MoovPatchError} when the box tree is malformed or a 32-bit offset would overflow.
 */
export function shiftChunkOffsets(moov: Uint8Array, delta: number): MoovPatch {
  const copy = new Uint8Array(moov);
  const view = new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
  let tables = 0;
  let entries = 0;
  const walk = (from: number, to: number) => {
    for (let at = from; at < to;) {
      const box = readHeader(view, at, to);
      const body = box.start + box.headerSize;
      if (CONTAINERS.has(box.type)) {
        walk(body, box.end);
      } else if (box.type === 'stco' || box.type === 'co64') {
        const wide = box.type === 'co64';
        const count = view.getUint32(body + 4);
        const width = wide ? 8 : 4;
        if (body + 8 + count * width > box.end) {
          throw new MoovPatchError(`${box.type} at byte ${box.start} lists ${count} entries but holds fewer`);
        }
        for (let i = 0; i < count; i += 1) {
          const entry = body + 8 + i * width;
          if (wide) {
            view.setBigUint64(entry, view.getBigUint64(entry) + BigInt(delta));
          } else {
            const shifted = view.getUint32(entry) + delta;
            if (shifted > 0xffffffff) {
              throw new MoovPatchError(`chunk offset ${shifted} no longer fits stco at byte ${box.start}`);
            }
            view.setUint32(entry, shifted);
          }
        }
        tables += 1;
        entries += count;
      }
      at = box.end;
    }
  };
  const root = readHeader(view, 0, copy.byteLength);
  if (root.type !== 'moov')
    throw new MoovPatchError(`expected a moov box, found ${JSON.stringify(root.type)}`);
  walk(root.start + root.headerSize, root.end);
  return { moov: copy, tables, entries };
}
