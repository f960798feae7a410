/**
 * Every box of an MP4 file, nested ones included, with where its fields are: what the MP4 mutators aim at.
 *
 * Unlike src/media/mp4-boxes.ts (top level only, a prefix of a download), this walks a whole, valid file
 * and descends into the boxes that hold boxes, including the two that have fields before their children
 * (`stsd`'s entry count, a visual sample entry's 78 bytes).
 */

export interface WalkedBox {
  type: string;
  /** Types from the top, e.g. `moov/trak/mdia/minf/stbl/stco`. */
  path: string;
  offset: number;
  size: number;
  headerSize: number;
  /** Offset of the first byte after the header. */
  bodyOffset: number;
  depth: number;
}

/** Boxes made of boxes and nothing else. */
const CONTAINERS = new Set([
  'moov',
  'trak',
  'mdia',
  'minf',
  'stbl',
  'dinf',
  'edts',
  'mvex',
  'moof',
  'traf',
  'mfra',
  'udta',
  'sinf',
  'schi',
]);

/** Offset of the children inside the body, for boxes with fields before them. */
const CHILDREN_AT: Record<string, number> = {
  stsd: 8,
  avc1: 78,
  avc3: 78,
  hvc1: 78,
  hev1: 78,
  mp4v: 78,
  mp4a: 28,
};

/**
 * The entry count of a full box that is a table of entries: its offset inside the body. `stsz` also has
 * its sample size before the count (offset 4), `trun` its flags before the count.
 */
export const COUNT_AT: Record<string, number> = {
  stco: 4,
  co64: 4,
  stsc: 4,
  stsd: 4,
  stts: 4,
  ctts: 4,
  stss: 4,
  stsz: 8,
  stz2: 8,
  elst: 4,
  dref: 4,
  trun: 4,
  sbgp: 8,
  sgpd: 8,
};

/**
 * Lists every box of `bytes` in file order (parents before their children). Stops descending at a box
 * whose size cannot be right; never throws.
 *
 * ```ts
 * walkMp4(bytes).find((box) => box.path.endsWith('/stco'))?.bodyOffset;
 * ```
 */
export function walkMp4(bytes: Uint8Array): WalkedBox[] {
  const boxes: WalkedBox[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const walk = (start: number, end: number, parentPath: string, depth: number): void => {
    let position = start;
    while (position + 8 <= end) {
      let size = view.getUint32(position);
      const type = String.fromCharCode(...bytes.subarray(position + 4, position + 8));
      if (!/^[\x20-\x7e]{4}$/.test(type)) return;
      let headerSize = 8;
      if (size === 1) {
        if (position + 16 > end) return;
        const large = view.getBigUint64(position + 8);
        if (large > BigInt(end - position)) return;
        size = Number(large);
        headerSize = 16;
      } else if (size === 0) {
        size = end - position;
      }
      if (size < headerSize || position + size > end) return;
      const path = parentPath ? `${parentPath}/${type}` : type;
      const bodyOffset = position + headerSize;
      boxes.push({ type, path, offset: position, size, headerSize, bodyOffset, depth });
      const childrenAt = CONTAINERS.has(type) ? 0 : CHILDREN_AT[type];
      if (childrenAt !== undefined) walk(bodyOffset + childrenAt, position + size, path, depth + 1);
      position += size;
    }
  };
  walk(0, bytes.length, '', 0);
  return boxes;
}

/** A 32-bit big-endian field of `bytes`, when it lies inside. */
export function readUint32(bytes: Uint8Array, offset: number): number | undefined {
  if (offset < 0 || offset + 4 > bytes.length) return undefined;
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(offset);
}

export function writeUint32(bytes: Uint8Array, offset: number, value: number): void {
  if (offset < 0 || offset + 4 > bytes.length) return;
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(offset, value >>> 0);
}

export function writeUint16(bytes: Uint8Array, offset: number, value: number): void {
  if (offset < 0 || offset + 2 > bytes.length) return;
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint16(offset, value & 0xffff);
}
