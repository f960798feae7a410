/**
 * Element-level mutations of a Matroska / WebM file (EBML): element sizes (unknown, zero, huge, off by
 * one), IDs, elements dropped or duplicated, track fields (codec, private data, picture size), block
 * headers, and cuts at element boundaries.
 */

import { copyOf, type Mutator } from './mutation.js';

export interface EbmlElement {
  id: number;
  /** Bytes of the ID (1–4). */
  idLength: number;
  offset: number;
  /** Offset and length of the size field. */
  sizeOffset: number;
  sizeLength: number;
  /** Body size; undefined for the "unknown" size (all ones). */
  size: number | undefined;
  dataOffset: number;
  /** Where the element ends (for an unknown size, its parent's end). */
  end: number;
  depth: number;
}

/** Master elements (made of elements) the walk descends into. */
const MASTERS = new Set([
  0x1a45dfa3, // EBML
  0x18538067, // Segment
  0x114d9b74, // SeekHead
  0x4dbb, // Seek
  0x1549a966, // Info
  0x1654ae6b, // Tracks
  0xae, // TrackEntry
  0xe0, // Video
  0x1f43b675, // Cluster
  0xa0, // BlockGroup
  0x1c53bb6b, // Cues
  0xbb, // CuePoint
  0xb7, // CueTrackPositions
  0x1254c367, // Tags
  0x7373, // Tag
]);

const NAMES: Record<number, string> = {
  0x1a45dfa3: 'EBML',
  0x4282: 'DocType',
  0x18538067: 'Segment',
  0x114d9b74: 'SeekHead',
  0x1549a966: 'Info',
  0x2ad7b1: 'TimestampScale',
  0x1654ae6b: 'Tracks',
  0xae: 'TrackEntry',
  0xd7: 'TrackNumber',
  0x83: 'TrackType',
  0x86: 'CodecID',
  0x63a2: 'CodecPrivate',
  0xe0: 'Video',
  0xb0: 'PixelWidth',
  0xba: 'PixelHeight',
  0x1f43b675: 'Cluster',
  0xe7: 'Timestamp',
  0xa3: 'SimpleBlock',
  0xa0: 'BlockGroup',
  0xa1: 'Block',
  0x1c53bb6b: 'Cues',
};

export const ebmlName = (id: number): string => NAMES[id] ?? `0x${id.toString(16)}`;

function vintLength(first: number): number {
  for (let length = 1; length <= 8; length += 1) if (first & (0x100 >> length)) return length;
  return 0;
}

/** Every element of an EBML file, parents before children; stops at anything that does not parse. */
export function walkEbml(bytes: Uint8Array): EbmlElement[] {
  const elements: EbmlElement[] = [];
  const walk = (start: number, end: number, depth: number): void => {
    let at = start;
    while (at < end) {
      const idLength = vintLength(bytes[at] ?? 0);
      if (idLength === 0 || idLength > 4 || at + idLength >= end) return;
      let id = 0;
      for (let i = 0; i < idLength; i += 1) id = id * 256 + bytes[at + i]!;
      const sizeOffset = at + idLength;
      const sizeLength = vintLength(bytes[sizeOffset] ?? 0);
      if (sizeLength === 0 || sizeOffset + sizeLength > end) return;
      let size = (bytes[sizeOffset]! & (0xff >> sizeLength)) as number;
      let allOnes = size === 0xff >> sizeLength;
      for (let i = 1; i < sizeLength; i += 1) {
        size = size * 256 + bytes[sizeOffset + i]!;
        allOnes &&= bytes[sizeOffset + i] === 0xff;
      }
      const dataOffset = sizeOffset + sizeLength;
      const elementEnd = allOnes ? end : dataOffset + size;
      if (elementEnd > end) return;
      elements.push({
        id,
        idLength,
        offset: at,
        sizeOffset,
        sizeLength,
        size: allOnes ? undefined : size,
        dataOffset,
        end: elementEnd,
        depth,
      });
      if (MASTERS.has(id)) walk(dataOffset, elementEnd, depth + 1);
      at = elementEnd;
    }
  };
  walk(0, bytes.length, 0);
  return elements;
}

/** Writes `value` into a size field of `length` bytes, keeping its length marker. */
function writeVint(bytes: Uint8Array, offset: number, length: number, value: number): void {
  let rest = value;
  for (let i = length - 1; i >= 0; i -= 1) {
    bytes[offset + i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  bytes[offset] = (bytes[offset]! & (0xff >> length)) | (0x100 >> length);
}

const label = (element: EbmlElement) => `${ebmlName(element.id)}@${element.offset}`;

const elementSize: Mutator = (input, rng) => {
  const elements = walkEbml(input);
  if (elements.length === 0) return undefined;
  const element = rng.pick(elements);
  const bytes = copyOf(input);
  const max = 2 ** (7 * element.sizeLength) - 1;
  const actual = element.size ?? 0;
  const value = rng.pick([0, 1, actual - 1, actual + 1, actual * 2, max - 1, max, Math.floor(max / 2)]);
  const clamped = Math.max(0, Math.min(max, value));
  writeVint(bytes, element.sizeOffset, element.sizeLength, clamped);
  const shown = clamped === max ? 'unknown' : String(clamped);
  return { bytes, detail: `${label(element)} size ${element.size ?? 'unknown'} -> ${shown}` };
};

const elementId: Mutator = (input, rng) => {
  const elements = walkEbml(input);
  if (elements.length === 0) return undefined;
  const element = rng.pick(elements);
  const bytes = copyOf(input);
  const replacement = rng.bytes(element.idLength);
  // Keep the ID's length marker so the rest of the file still parses the same way.
  replacement[0] = (replacement[0]! & (0xff >> element.idLength)) | (0x100 >> element.idLength);
  bytes.set(replacement, element.offset);
  return { bytes, detail: `${label(element)} ID replaced` };
};

function dropOrDuplicate(duplicate: boolean): Mutator {
  return (input, rng) => {
    const elements = walkEbml(input).filter((e) => e.size !== undefined && e.depth > 0);
    if (elements.length === 0) return undefined;
    const element = rng.pick(elements);
    const head = input.subarray(0, duplicate ? element.end : element.offset);
    const tail = input.subarray(duplicate ? element.offset : element.end);
    const bytes = new Uint8Array(head.length + tail.length);
    bytes.set(head);
    bytes.set(tail, head.length);
    return { bytes, detail: `${label(element)} ${duplicate ? 'duplicated' : 'dropped'}` };
  };
}

/** Track fields: codec ID, codec private data (the decoder configuration), picture size, track number. */
const trackField: Mutator = (input, rng) => {
  const wanted = new Set([0x86, 0x63a2, 0xb0, 0xba, 0xd7, 0x83, 0x4282, 0x2ad7b1]);
  const elements = walkEbml(input).filter((e) => wanted.has(e.id) && e.size !== undefined && e.size > 0);
  if (elements.length === 0) return undefined;
  const element = rng.pick(elements);
  const bytes = copyOf(input);
  const size = element.size!;
  const how = rng.pick(['zero', 'random', 'max'] as const);
  if (how === 'random') bytes.set(rng.bytes(size), element.dataOffset);
  else bytes.fill(how === 'zero' ? 0 : 0xff, element.dataOffset, element.dataOffset + size);
  return { bytes, detail: `${label(element)} (${size} bytes) ${how}` };
};

/** A block header: its track number, its timestamp, its flags (lacing). */
const blockHeader: Mutator = (input, rng) => {
  const blocks = walkEbml(input).filter((e) => (e.id === 0xa3 || e.id === 0xa1) && (e.size ?? 0) >= 4);
  if (blocks.length === 0) return undefined;
  const block = rng.chance(0.5) ? blocks[0]! : rng.pick(blocks);
  const bytes = copyOf(input);
  const field = rng.pick(['track', 'timestamp', 'flags'] as const);
  const at = block.dataOffset;
  if (field === 'track') bytes[at] = rng.pick([0x80, 0x82, 0xff, 0x00]);
  else if (field === 'timestamp') bytes.set(rng.bytes(2), at + 1);
  else bytes[at + 3] = rng.pick([0x02, 0x04, 0x06, 0xff]);
  return { bytes, detail: `${label(block)} ${field}` };
};

const truncateAtElement: Mutator = (input, rng) => {
  const elements = walkEbml(input);
  if (elements.length === 0) return undefined;
  const element = rng.pick(elements);
  const where = rng.pick(['start', 'size', 'data', 'end'] as const);
  const base = {
    start: element.offset,
    size: element.sizeOffset,
    data: element.dataOffset,
    end: element.end,
  }[where];
  const at = Math.max(1, Math.min(input.length - 1, base));
  return { bytes: input.slice(0, at), detail: `cut at ${at} (${where} of ${label(element)})` };
};

export const MKV_MUTATORS: Record<string, { weight: number; mutate: Mutator }> = {
  'mkv-size': { weight: 4, mutate: elementSize },
  'mkv-id': { weight: 2, mutate: elementId },
  'mkv-drop-element': { weight: 1, mutate: dropOrDuplicate(false) },
  'mkv-dup-element': { weight: 1, mutate: dropOrDuplicate(true) },
  'mkv-track-field': { weight: 3, mutate: trackField },
  'mkv-block': { weight: 2, mutate: blockHeader },
  'mkv-truncate-element': { weight: 2, mutate: truncateAtElement },
};
