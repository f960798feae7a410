/**
 * What an MP4's index says of its first video track before anything is decoded: picture size and
 * duration, so that limits can refuse a file from its header (issue 14: a 16000×16000 SPS burnt the whole
 * budget and 455 MB before the decoded frames were checked).
 */

import { decoderConfigSps, spsDimensions, type SpsDimensions } from './sps.js';

export interface Mp4StreamHeader {
  readonly trackId: number;
  /** The sample entry's type: `avc1`, `hvc1`, `hev1`, `mp4v`, … */
  readonly sampleEntry: string;
  /** `h264` or `hevc` when the entry is one of theirs. */
  readonly codec: 'h264' | 'hevc' | undefined;
  /**
   * The picture the decoder will output: the SPS's (after cropping) when the decoder configuration has
   * a readable one, since that is what the decoder goes by, else the sample entry's.
   */
  readonly width: number;
  readonly height: number;
  /** The largest picture any source announces (coded SPS size, sample entry, tkhd): for memory limits. */
  readonly maxWidth: number;
  readonly maxHeight: number;
  /** Each source on its own. */
  readonly sources: {
    readonly sampleEntry: { readonly width: number; readonly height: number };
    /** tkhd's presentation size (16.16 fixed point, rounded down). */
    readonly trackHeader: { readonly width: number; readonly height: number } | undefined;
    /** The first SPS in avcC / hvcC; undefined when there is none or it cannot be read. */
    readonly sps: SpsDimensions | undefined;
  };
  /**
   * Seconds: the edit list's total when there is one (movie timescale), else mdhd's duration, else mvhd's,
   * else mehd's for a fragmented file; undefined when none says (0 means unknown, as in a fragmented
   * file's empty moov).
   */
  readonly durationS: number | undefined;
  /** stsz's sample count; undefined for a fragmented file's empty sample table. */
  readonly frameCount: number | undefined;
}

interface Box {
  readonly type: string;
  readonly body: number;
  readonly end: number;
}

class HeaderEnd extends Error {}

/**
 * The first video track's header facts from a `moov` box (the whole box, header included). Undefined
 * when there is no video track or the boxes it needs cannot be read. Never throws. Run
 * {@link checkMoov} first: this reads what the boxes say, it does not judge them.
 *
 * ```ts
 * const header = mp4StreamHeader(moovBytes);
 * if (header && header.maxWidth * header.maxHeight > limits.maxPixels) fail(…);
 * ```
 */
export function mp4StreamHeader(moov: Uint8Array): Mp4StreamHeader | undefined {
  const view = new DataView(moov.buffer, moov.byteOffset, moov.byteLength);
  try {
    const root = boxes(view, 0, moov.byteLength)[0];
    if (!root || root.type !== 'moov') return undefined;
    const mvhd = child(view, root, 'mvhd');
    const movieTimescale = mvhd ? timing(view, mvhd).timescale : 0;
    for (const trak of boxes(view, root.body, root.end)) {
      if (trak.type !== 'trak') continue;
      const hdlr = descend(view, trak, 'mdia', 'hdlr');
      if (!hdlr || hdlr.end - hdlr.body < 12 || view.getUint32(hdlr.body + 8) !== 0x76696465) continue; // 'vide'
      return videoTrack(view, root, trak, mvhd, movieTimescale);
    }
    return undefined;
  } catch (error) {
    if (error instanceof HeaderEnd || error instanceof RangeError) return undefined;
    throw error;
  }
}

function videoTrack(
  view: DataView,
  moov: Box,
  trak: Box,
  mvhd: Box | undefined,
  movieTimescale: number,
): Mp4StreamHeader | undefined {
  const stsd = descend(view, trak, 'mdia', 'minf', 'stbl', 'stsd');
  if (!stsd || stsd.end - stsd.body < 8) return undefined;
  const entry = boxes(view, stsd.body + 8, stsd.end)[0];
  // VisualSampleEntry: width and height at 24 and 26 of 78 bytes of fields, then boxes.
  if (!entry || entry.end - entry.body < 78) return undefined;
  const sampleEntry = {
    width: view.getUint16(entry.body + 24),
    height: view.getUint16(entry.body + 26),
  };
  const codec =
    entry.type === 'avc1' || entry.type === 'avc3'
      ? 'h264'
      : entry.type === 'hvc1' || entry.type === 'hev1'
        ? 'hevc'
        : undefined;
  let sps: SpsDimensions | undefined;
  if (codec) {
    const config = boxes(view, entry.body + 78, entry.end).find(
      (box) => box.type === (codec === 'h264' ? 'avcC' : 'hvcC'),
    );
    if (config) {
      const bytes = new Uint8Array(view.buffer, view.byteOffset + config.body, config.end - config.body);
      const [first] = decoderConfigSps(codec, bytes);
      if (first) sps = spsDimensions(codec, first);
    }
  }
  const tkhd = child(view, trak, 'tkhd');
  let trackHeader: Mp4StreamHeader['sources']['trackHeader'];
  let trackId = 0;
  if (tkhd) {
    const wide = view.getUint8(tkhd.body) === 1;
    need(tkhd, wide ? 96 : 84);
    trackId = view.getUint32(tkhd.body + (wide ? 20 : 12));
    const at = tkhd.body + (wide ? 88 : 76);
    trackHeader = { width: view.getUint32(at) >>> 16, height: view.getUint32(at + 4) >>> 16 };
  }
  const width = sps?.width ?? sampleEntry.width;
  const height = sps?.height ?? sampleEntry.height;
  const stsz = descend(view, trak, 'mdia', 'minf', 'stbl', 'stsz');
  const frameCount =
    stsz && stsz.end - stsz.body >= 12 ? view.getUint32(stsz.body + 8) || undefined : undefined;
  return {
    trackId,
    sampleEntry: entry.type,
    codec,
    width,
    height,
    maxWidth: Math.max(width, sps?.codedWidth ?? 0, sampleEntry.width, trackHeader?.width ?? 0),
    maxHeight: Math.max(height, sps?.codedHeight ?? 0, sampleEntry.height, trackHeader?.height ?? 0),
    sources: { sampleEntry, trackHeader, sps },
    durationS: duration(view, moov, trak, mvhd, movieTimescale),
    frameCount,
  };
}

function duration(
  view: DataView,
  moov: Box,
  trak: Box,
  mvhd: Box | undefined,
  movieTimescale: number,
): number | undefined {
  const elst = descend(view, trak, 'edts', 'elst');
  if (elst && movieTimescale > 0) {
    need(elst, 8);
    const wide = view.getUint8(elst.body) === 1;
    const count = view.getUint32(elst.body + 4);
    const entryBytes = wide ? 20 : 12;
    // The count is bounded by the box's bytes (checkMoov), and read no further than they go.
    const entries = Math.min(count, Math.floor((elst.end - elst.body - 8) / entryBytes));
    let total = 0;
    for (let i = 0; i < entries; i += 1) {
      const at = elst.body + 8 + i * entryBytes;
      total += wide ? Number(view.getBigUint64(at)) : view.getUint32(at);
    }
    if (total > 0) return total / movieTimescale;
  }
  const mdhd = descend(view, trak, 'mdia', 'mdhd');
  if (mdhd) {
    const media = timing(view, mdhd);
    if (media.timescale > 0 && media.duration > 0) return media.duration / media.timescale;
  }
  if (mvhd && movieTimescale > 0) {
    const movie = timing(view, mvhd);
    if (movie.duration > 0) return movie.duration / movieTimescale;
    const mehd = descend(view, moov, 'mvex', 'mehd');
    if (mehd) {
      const wide = view.getUint8(mehd.body) === 1;
      need(mehd, wide ? 12 : 8);
      const fragments = wide ? Number(view.getBigUint64(mehd.body + 4)) : view.getUint32(mehd.body + 4);
      if (fragments > 0) return fragments / movieTimescale;
    }
  }
  return undefined;
}

/** mvhd / mdhd: version 1 has 64-bit times. An all-ones duration means unknown. */
function timing(view: DataView, box: Box): { timescale: number; duration: number } {
  const wide = view.getUint8(box.body) === 1;
  need(box, wide ? 32 : 20);
  const timescale = view.getUint32(box.body + (wide ? 20 : 12));
  const duration = wide ? view.getBigUint64(box.body + 24) : BigInt(view.getUint32(box.body + 16));
  const unknown = duration === (wide ? 0xffffffffffffffffn : 0xffffffffn);
  return { timescale, duration: unknown ? 0 : Number(duration) };
}

function need(box: Box, bytes: number): void {
  if (box.end - box.body < bytes) throw new HeaderEnd();
}

/** The boxes in [from, to); stops at the first header that does not fit. */
function boxes(view: DataView, from: number, to: number): Box[] {
  const list: Box[] = [];
  for (let at = from; to - at >= 8;) {
    let size = view.getUint32(at);
    let header = 8;
    if (size === 1) {
      if (to - at < 16) break;
      size = Number(view.getBigUint64(at + 8));
      header = 16;
    } else if (size === 0) {
      size = to - at;
    }
    if (size < header || size > to - at) break;
    const type = String.fromCharCode(
      view.getUint8(at + 4),
      view.getUint8(at + 5),
      view.getUint8(at + 6),
      view.getUint8(at + 7),
    );
    list.push({ type, body: at + header, end: at + size });
    at += size;
  }
  return list;
}

function child(view: DataView, parent: Box, type: string): Box | undefined {
  return boxes(view, parent.body, parent.end).find((box) => box.type === type);
}

function descend(view: DataView, parent: Box, ...types: string[]): Box | undefined {
  let box: Box | undefined = parent;
  for (const type of types) {
    box = box && child(view, box, type);
  }
  return box;
}
