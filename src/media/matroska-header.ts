/**
 * What a Matroska / WebM file's header says of its first video track — picture size (Video element and,
 * for H.264/HEVC, the SPS in CodecPrivate) and duration (Info) — read from its first bytes as they arrive,
 * before FFmpeg opens the file (its open decodes frames at whatever size the SPS says).
 *
 * Only the head of the file is kept, up to the first Cluster and at most {@link MAX_MATROSKA_HEAD_BYTES};
 * each element header is read once, as its bytes arrive, and only Info and Tracks are read inside.
 */

import { decoderConfigSps, spsDimensions, type SpsDimensions } from './sps.js';

/** Info and Tracks come before the first Cluster, within a few kilobytes in any real file. */
export const MAX_MATROSKA_HEAD_BYTES = 1024 * 1024;

export interface MatroskaVideoHeader {
  /** CodecID: `V_MPEG4/ISO/AVC`, `V_MPEGH/ISO/HEVC`, `V_VP9`, … */
  readonly codecId: string;
  /** The Video element's PixelWidth × PixelHeight. */
  readonly pixelWidth: number;
  readonly pixelHeight: number;
  /** The SPS in CodecPrivate (avcC / hvcC) for H.264 and HEVC, when readable. */
  readonly sps: SpsDimensions | undefined;
  /** Info's Duration × TimestampScale, in seconds, when stated. */
  readonly durationS: number | undefined;
}

export type MatroskaHeaderResult =
  | { readonly kind: 'found'; readonly header: MatroskaVideoHeader }
  | { readonly kind: 'none'; readonly reason: string };

export interface MatroskaHeaderReader {
  /** The next chunk from the file's first byte on. Undefined while more bytes may tell. */
  push(chunk: Uint8Array): MatroskaHeaderResult | undefined;
  /** Bytes copied so far (the head kept). */
  readonly bytesCopied: number;
}

const ID = {
  ebml: 0x1a45dfa3,
  segment: 0x18538067,
  info: 0x1549a966,
  timestampScale: 0x2ad7b1,
  duration: 0x4489,
  tracks: 0x1654ae6b,
  trackEntry: 0xae,
  trackType: 0x83,
  codecId: 0x86,
  codecPrivate: 0x63a2,
  video: 0xe0,
  pixelWidth: 0xb0,
  pixelHeight: 0xba,
  cluster: 0x1f43b675,
} as const;

class NotMatroska extends Error {}

interface Element {
  readonly id: number;
  readonly body: number;
  /** Infinity for an unknown size (a Segment or Cluster being written live). */
  readonly end: number;
}

/**
 * ```ts
 * const reader = createMatroskaHeaderReader();
 * const result = reader.push(chunk); // once 'found': check sizes and duration against the limits
 * ```
 */
export function createMatroskaHeaderReader(): MatroskaHeaderReader {
  let head = new Uint8Array(4096);
  let length = 0;
  let copied = 0;
  let result: MatroskaHeaderResult | undefined;

  /** Where the next child of the Segment starts, once the EBML header and the Segment's are read. */
  let cursor: number | undefined;
  let segmentEnd = Infinity;
  let timestampScale = 1_000_000;
  let duration: number | undefined;

  const needMore = (): MatroskaHeaderResult | undefined =>
    length >= MAX_MATROSKA_HEAD_BYTES
      ? { kind: 'none', reason: `no Tracks in the first ${MAX_MATROSKA_HEAD_BYTES} bytes` }
      : undefined;

  /** Reads on from where the last push stopped: each element header is read once (Info, Tracks: whole). */
  const parse = (): MatroskaHeaderResult | undefined => {
    const bytes = head.subarray(0, length);
    try {
      if (cursor === undefined) {
        if (length < 4) return needMore();
        if (bytes[0] !== 0x1a || bytes[1] !== 0x45 || bytes[2] !== 0xdf || bytes[3] !== 0xa3) {
          throw new NotMatroska('no EBML header');
        }
        const first = element(bytes, 0);
        if (!first) return needMore();
        if (first.id !== ID.ebml) throw new NotMatroska('no EBML header');
        if (first.end === Infinity) throw new NotMatroska('an EBML header of unknown size');
        const segment = element(bytes, first.end);
        if (!segment) return needMore();
        if (segment.id !== ID.segment) throw new NotMatroska('no Segment after the EBML header');
        cursor = segment.body;
        segmentEnd = segment.end;
      }
      while (cursor < segmentEnd) {
        const child = element(bytes, cursor);
        if (!child) return needMore();
        if (child.id === ID.cluster) return { kind: 'none', reason: 'a Cluster before any video track' };
        if (child.end === Infinity) throw new NotMatroska('an element of unknown size in the Segment');
        // Only Info and Tracks are read whole; anything else is skipped once its size is known.
        if ((child.id === ID.info || child.id === ID.tracks) && child.end > bytes.byteLength)
          return needMore();
        if (child.id === ID.info) {
          for (const field of children(bytes, child)) {
            if (field.id === ID.timestampScale) timestampScale = uint(bytes, field);
            if (field.id === ID.duration) duration = float(bytes, field);
          }
        } else if (child.id === ID.tracks) {
          const video = videoTrack(bytes, child);
          if (!video) return { kind: 'none', reason: 'no video track in Tracks' };
          const durationS =
            duration !== undefined && duration > 0 ? (duration * timestampScale) / 1e9 : undefined;
          return { kind: 'found', header: { ...video, durationS } };
        }
        cursor = child.end;
      }
      return { kind: 'none', reason: 'the Segment ended without Tracks' };
    } catch (error) {
      if (error instanceof NotMatroska) return { kind: 'none', reason: error.message };
      throw error;
    }
  };

  return {
    push(chunk) {
      if (result) return result;
      const take = Math.min(chunk.byteLength, MAX_MATROSKA_HEAD_BYTES - length);
      if (length + take > head.byteLength) {
        const grown = new Uint8Array(
          Math.min(MAX_MATROSKA_HEAD_BYTES, Math.max(head.byteLength * 2, length + take)),
        );
        grown.set(head.subarray(0, length));
        copied += length;
        head = grown;
      }
      head.set(chunk.subarray(0, take), length);
      length += take;
      copied += take;
      result = parse();
      return result;
    },
    get bytesCopied() {
      return copied;
    },
  };
}

function videoTrack(bytes: Uint8Array, tracks: Element): Omit<MatroskaVideoHeader, 'durationS'> | undefined {
  for (const entry of children(bytes, tracks)) {
    if (entry.id !== ID.trackEntry) continue;
    let type = 0;
    let codecId = '';
    let codecPrivate: Uint8Array | undefined;
    let pixelWidth = 0;
    let pixelHeight = 0;
    for (const field of children(bytes, entry)) {
      if (field.id === ID.trackType) type = uint(bytes, field);
      else if (field.id === ID.codecId)
        codecId = Buffer.from(bytes.subarray(field.body, field.end)).toString('latin1');
      else if (field.id === ID.codecPrivate) codecPrivate = bytes.subarray(field.body, field.end);
      else if (field.id === ID.video) {
        for (const size of children(bytes, field)) {
          if (size.id === ID.pixelWidth) pixelWidth = uint(bytes, size);
          if (size.id === ID.pixelHeight) pixelHeight = uint(bytes, size);
        }
      }
    }
    if (type !== 1) continue;
    codecId = codecId.replace(/\0+$/, '');
    const codec =
      codecId === 'V_MPEG4/ISO/AVC' ? 'h264' : codecId === 'V_MPEGH/ISO/HEVC' ? 'hevc' : undefined;
    const [first] = codec && codecPrivate ? decoderConfigSps(codec, codecPrivate) : [];
    return {
      codecId,
      pixelWidth,
      pixelHeight,
      sps: codec && first ? spsDimensions(codec, first) : undefined,
    };
  }
  return undefined;
}

/** The children of a master element that lies wholly in `bytes`. */
function* children(bytes: Uint8Array, parent: Element): Generator<Element> {
  for (let at = parent.body; at < parent.end;) {
    const child = element(bytes, at);
    if (!child || child.end > parent.end)
      throw new NotMatroska(`an element at byte ${at} runs past its parent`);
    yield child;
    at = child.end;
  }
}

/** The element whose ID starts at `at`; undefined while its header is not all in `bytes`. */
function element(bytes: Uint8Array, at: number): Element | undefined {
  const id = vint(bytes, at, 4, true);
  if (!id) return undefined;
  const size = vint(bytes, at + id.length, 8, false);
  if (!size) return undefined;
  const body = at + id.length + size.length;
  return { id: id.value ?? 0, body, end: size.value === undefined ? Infinity : body + size.value };
}

/**
 * An EBML variable-length integer: the ID keeps its length marker, a size loses it (all ones: unknown).
 * Undefined while its bytes are not all in `bytes`.
 */
function vint(
  bytes: Uint8Array,
  at: number,
  maxLength: number,
  keepMarker: boolean,
): { value: number | undefined; length: number } | undefined {
  const first = bytes[at];
  if (first === undefined) return undefined;
  if (first === 0) throw new NotMatroska(`a variable-length integer longer than 8 bytes at byte ${at}`);
  const length = Math.clz32(first) - 23;
  if (length > maxLength)
    throw new NotMatroska(`a ${length}-byte ${keepMarker ? 'ID' : 'size'} at byte ${at}`);
  if (at + length > bytes.byteLength) return undefined;
  let value = keepMarker ? first : first & (0xff >> length);
  let allOnes = value === 0xff >> length;
  for (let i = 1; i < length; i += 1) {
    value = value * 256 + bytes[at + i]!;
    allOnes &&= bytes[at + i] === 0xff;
  }
  return { value: !keepMarker && allOnes ? undefined : value, length };
}

function uint(bytes: Uint8Array, field: Element): number {
  let value = 0;
  for (let at = field.body; at < field.end && at < field.body + 8; at += 1) value = value * 256 + bytes[at]!;
  return value;
}

function float(bytes: Uint8Array, field: Element): number | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset + field.body, field.end - field.body);
  if (view.byteLength === 4) return view.getFloat32(0);
  if (view.byteLength === 8) return view.getFloat64(0);
  return undefined;
}
