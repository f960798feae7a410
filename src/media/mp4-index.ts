/**
 * The first video sample of an MP4 read straight from its index (the `moov` box, and for a fragmented file
 * the first `moof`): where its bytes lie, the decoder's configuration (avcC / hvcC) and the timestamp
 * FFmpeg's demuxer will give it. With that, frame 0 can be decoded the moment its bytes have arrived,
 * without waiting for FFmpeg to open the file (which reads and decodes that same sample once more).
 *
 * Only the plain, common case is read; anything else is reported as a reason and left to FFmpeg: H.264
 * (`avc1`) or HEVC (`hvc1`) with parameter sets in the sample entry, a first sample that is a sync sample
 * and the first picture shown, and at most one edit that starts inside the media at normal rate.
 */

/** How many samples after the first are checked for an earlier presentation time. */
const REORDER_WINDOW = 16;

export interface VideoTrackIndex {
  readonly trackId: number;
  readonly codec: 'h264' | 'hevc';
  /** The avcC / hvcC body: what FFmpeg passes to the decoder as extradata. */
  readonly extradata: Uint8Array;
  readonly width: number;
  readonly height: number;
  /** mdhd timescale: FFmpeg's stream time base is 1/timescale. */
  readonly timescale: number;
  /** Frames per second as FFmpeg's MP4 demuxer reports avg_frame_rate (samples × timescale / duration). */
  readonly fps: number | undefined;
  /** The decoder's output format when the profile fixes it (8-bit 4:2:0), for building the filter early. */
  readonly pixelFormat: string | undefined;
  /** The single edit's media time, subtracted from every timestamp; 0 without an edit list. */
  readonly editMediaTime: number;
  /** Whether the samples are described in fragments (`mvex`) rather than in the sample table. */
  readonly fragmented: boolean;
  /** The first sample, when the sample table lists it. */
  readonly first: SampleLocation | undefined;
  /** trex defaults for the track's fragments. */
  readonly fragmentDefaults: { duration: number; size: number; flags: number } | undefined;
}

export interface SampleLocation {
  /** File offset of the sample's first byte. */
  readonly offset: number;
  readonly size: number;
  /** Presentation time in timescale units, as FFmpeg stamps the packet. */
  readonly pts: number;
  readonly dts: number;
  /** How long it lasts, in timescale units (for a fragment's frame rate). */
  readonly duration: number;
}

interface Box {
  readonly type: string;
  readonly body: number;
  readonly end: number;
}

class IndexError extends Error {}

/**
 * A co64 chunk offset as a number: one past 2^53 (no file's, and not exact as a number) makes the moov
 * malformed rather than a position that later arithmetic would round.
 */
function wideOffset(view: DataView, at: number): number {
  const offset = view.getBigUint64(at);
  if (offset > BigInt(Number.MAX_SAFE_INTEGER))
    throw new IndexError(`a chunk offset of ${offset} (past 2^53)`);
  return Number(offset);
}

/**
 * The boxes in [from, to). A size-0 box ("to the end of the file") is only a top-level box's right: the
 * root walk (`from` 0) accepts it, a walk inside a box does not.
 */
function* children(view: DataView, from: number, to: number): Generator<Box> {
  for (let at = from; at + 8 <= to;) {
    let size = view.getUint32(at);
    const type = String.fromCharCode(
      view.getUint8(at + 4),
      view.getUint8(at + 5),
      view.getUint8(at + 6),
      view.getUint8(at + 7),
    );
    let header = 8;
    if (size === 1) {
      if (at + 16 > to) throw new IndexError(`64-bit header of ${type} cut off`);
      size = Number(view.getBigUint64(at + 8));
      header = 16;
    } else if (size === 0) {
      if (from !== 0) throw new IndexError(`box ${type} has size 0 inside its parent`);
      size = to - at;
    }
    if (size < header || at + size > to) throw new IndexError(`box ${type} runs past its parent`);
    yield { type, body: at + header, end: at + size };
    at += size;
  }
}

function child(view: DataView, parent: Box, type: string): Box | undefined {
  for (const box of children(view, parent.body, parent.end)) if (box.type === type) return box;
  return undefined;
}

function path(view: DataView, parent: Box, ...types: string[]): Box | undefined {
  let box: Box | undefined = parent;
  for (const type of types) {
    box = box && child(view, box, type);
    if (!box) return undefined;
  }
  return box;
}

/** A full box's version byte; its entries start 4 bytes into the body. */
const version = (view: DataView, box: Box) => (need(view, box, 4), view.getUint8(box.body));

function need(view: DataView, box: Box, bytes: number): void {
  if (box.body + bytes > box.end) throw new IndexError(`${box.type} is shorter than its entries`);
}

function readEdit(view: DataView, trak: Box): number | string {
  const elst = path(view, trak, 'edts', 'elst');
  if (!elst) return 0;
  const wide = version(view, elst) === 1;
  need(view, elst, 8);
  const count = view.getUint32(elst.body + 4);
  if (count === 0) return 0;
  if (count > 1) return `${count} edits`;
  need(view, elst, 8 + (wide ? 20 : 12));
  const entry = elst.body + 8;
  const mediaTime = wide ? Number(view.getBigInt64(entry + 8)) : view.getInt32(entry + 4);
  const rate = view.getInt32(entry + (wide ? 16 : 8));
  if (mediaTime < 0) return 'an empty edit';
  if (rate !== 0x10000) return `an edit at rate ${rate / 0x10000}`;
  return mediaTime;
}

function readSampleEntry(
  view: DataView,
  stbl: Box,
): Pick<VideoTrackIndex, 'codec' | 'extradata' | 'width' | 'height' | 'pixelFormat'> | string {
  const stsd = child(view, stbl, 'stsd');
  if (!stsd) return 'no stsd';
  need(view, stsd, 8);
  if (view.getUint32(stsd.body + 4) !== 1) return 'more than one sample description';
  const entry = children(view, stsd.body + 8, stsd.end).next().value as Box | undefined;
  if (!entry) return 'an empty stsd';
  const codec = entry.type === 'avc1' ? 'h264' : entry.type === 'hvc1' ? 'hevc' : undefined;
  if (!codec) return `sample entry ${JSON.stringify(entry.type)}`;
  // VisualSampleEntry: 78 bytes of fixed fields, width and height at 24 and 26, then boxes.
  const fields = 78;
  if (entry.body + fields > entry.end) return 'a cut-off sample entry';
  const width = view.getUint16(entry.body + 24);
  const height = view.getUint16(entry.body + 26);
  const config = child(
    view,
    { type: entry.type, body: entry.body + fields, end: entry.end },
    codec === 'h264' ? 'avcC' : 'hvcC',
  );
  if (!config || config.end - config.body < 23 - (codec === 'h264' ? 16 : 0))
    return 'no decoder configuration';
  const extradata = new Uint8Array(view.buffer, view.byteOffset + config.body, config.end - config.body);
  if (extradata[0] !== 1) return 'a decoder configuration of an unknown version';
  // H.264 Baseline, Main, Extended and High are 8-bit 4:2:0 only; HEVC Main likewise.
  const profile = codec === 'h264' ? extradata[1]! : extradata[1]! & 0x1f;
  const fixed420 = codec === 'h264' ? [66, 77, 88, 100].includes(profile) : profile === 1;
  return {
    codec,
    extradata: extradata.slice(),
    width,
    height,
    pixelFormat: fixed420 ? 'yuv420p' : undefined,
  };
}

/** stts, ctts and stss for the first samples; the whole of stts for the frame rate. */
function readFirstSample(
  view: DataView,
  stbl: Box,
  editMediaTime: number,
): SampleLocation | string | undefined {
  const stsz = child(view, stbl, 'stsz');
  if (!stsz) return child(view, stbl, 'stz2') ? 'compact sample sizes (stz2)' : 'no stsz';
  need(view, stsz, 12);
  const uniformSize = view.getUint32(stsz.body + 4);
  const samples = view.getUint32(stsz.body + 8);
  if (samples === 0) return undefined;
  if (uniformSize === 0) need(view, stsz, 16);
  const size = uniformSize || view.getUint32(stsz.body + 12);
  const stco = child(view, stbl, 'stco') ?? child(view, stbl, 'co64');
  if (!stco) return 'no chunk offsets';
  need(view, stco, stco.type === 'co64' ? 16 : 12);
  if (view.getUint32(stco.body + 4) === 0) return 'no chunks';
  const offset = stco.type === 'co64' ? wideOffset(view, stco.body + 8) : view.getUint32(stco.body + 8);
  const stss = child(view, stbl, 'stss');
  if (stss) {
    need(view, stss, 8);
    const count = view.getUint32(stss.body + 4);
    if (count === 0 || (need(view, stss, 12), view.getUint32(stss.body + 8)) !== 1) {
      return 'the first sample is not a sync sample';
    }
  }
  const window = Math.min(samples, REORDER_WINDOW);
  const dts = decodeTimes(view, child(view, stbl, 'stts'), window);
  if (typeof dts === 'string') return dts;
  const offsets = compositionOffsets(view, child(view, stbl, 'ctts'), window);
  if (typeof offsets === 'string') return offsets;
  const pts = dts.map((time, index) => time + offsets[index]!);
  if (pts.some((time) => time < pts[0]!)) return 'a later sample is shown before the first';
  if (pts[0]! < editMediaTime) return 'the edit list starts after the first sample';
  const duration = window > 1 ? dts[1]! - dts[0]! : 0;
  return { offset, size, pts: pts[0]! - editMediaTime, dts: dts[0]! - editMediaTime, duration };
}

function decodeTimes(view: DataView, stts: Box | undefined, window: number): number[] | string {
  if (!stts) return 'no stts';
  need(view, stts, 8);
  const entries = view.getUint32(stts.body + 4);
  need(view, stts, 8 + entries * 8);
  const times: number[] = [];
  let time = 0;
  for (let i = 0; i < entries && times.length < window; i += 1) {
    const count = view.getUint32(stts.body + 8 + i * 8);
    const delta = view.getUint32(stts.body + 12 + i * 8);
    for (let n = 0; n < count && times.length < window; n += 1) {
      times.push(time);
      time += delta;
    }
  }
  return times.length === window ? times : 'stts lists fewer samples than stsz';
}

function compositionOffsets(view: DataView, ctts: Box | undefined, window: number): number[] | string {
  if (!ctts) return new Array<number>(window).fill(0);
  need(view, ctts, 8);
  const signed = version(view, ctts) === 1;
  const entries = view.getUint32(ctts.body + 4);
  need(view, ctts, 8 + entries * 8);
  const offsets: number[] = [];
  // All entries, not just the window's: a negative offset anywhere shifts every timestamp in FFmpeg.
  // Bounded by the box's bytes (need above).
  for (let i = 0; i < entries; i += 1) {
    const count = view.getUint32(ctts.body + 8 + i * 8);
    const value = signed ? view.getInt32(ctts.body + 12 + i * 8) : view.getUint32(ctts.body + 12 + i * 8);
    // FFmpeg shifts every decode time by the most negative offset: not followed here.
    if (value < 0) return 'negative composition offsets';
    for (let n = 0; n < count && offsets.length < window; n += 1) offsets.push(value);
  }
  while (offsets.length < window) offsets.push(0);
  return offsets;
}

function frameRate(view: DataView, stts: Box | undefined, timescale: number): number | undefined {
  if (!stts) return undefined;
  need(view, stts, 8);
  const entries = view.getUint32(stts.body + 4);
  // Every entry is read once, and only as many as the box holds.
  need(view, stts, 8 + entries * 8);
  let samples = 0;
  let duration = 0;
  for (let i = 0; i < entries; i += 1) {
    const count = view.getUint32(stts.body + 8 + i * 8);
    samples += count;
    duration += count * view.getUint32(stts.body + 12 + i * 8);
  }
  return samples > 0 && duration > 0 ? (samples * timescale) / duration : undefined;
}

function readTrex(view: DataView, moov: Box, trackId: number): VideoTrackIndex['fragmentDefaults'] {
  const mvex = child(view, moov, 'mvex');
  if (!mvex) return undefined;
  for (const box of children(view, mvex.body, mvex.end)) {
    if (box.type !== 'trex') continue;
    need(view, box, 24);
    if (view.getUint32(box.body + 4) !== trackId) continue;
    return {
      duration: view.getUint32(box.body + 12),
      size: view.getUint32(box.body + 16),
      flags: view.getUint32(box.body + 20),
    };
  }
  return undefined;
}

/**
 * The moov box at the start of `view` and its first video `trak` (handler 'vide'), as FFmpeg orders
 * streams; a string says why there is none. Throws where a box is too short (the callers' catch).
 */
function firstVideoTrak(view: DataView, byteLength: number): { root: Box; trak: Box } | string {
  const root = children(view, 0, byteLength).next().value as Box | undefined;
  if (!root || root.type !== 'moov') return 'not a moov box';
  for (const trak of children(view, root.body, root.end)) {
    if (trak.type !== 'trak') continue;
    const hdlr = path(view, trak, 'mdia', 'hdlr');
    if (hdlr && (need(view, hdlr, 12), view.getUint32(hdlr.body + 8)) === 0x76696465) return { root, trak }; // 'vide'
  }
  return 'no video track';
}

/**
 * The first video track of a `moov` box (the whole box, header included), as FFmpeg orders streams; a
 * string says why it is not read here.
 */
export function readVideoTrack(moov: Uint8Array): VideoTrackIndex | string {
  const view = new DataView(moov.buffer, moov.byteOffset, moov.byteLength);
  try {
    const found = firstVideoTrak(view, moov.byteLength);
    if (typeof found === 'string') return found;
    const { root, trak } = found;
    const tkhd = child(view, trak, 'tkhd');
    const mdhd = path(view, trak, 'mdia', 'mdhd');
    const stbl = path(view, trak, 'mdia', 'minf', 'stbl');
    if (!tkhd || !mdhd || !stbl) return 'a video track without tkhd, mdhd or stbl';
    need(view, tkhd, 24);
    const trackId = view.getUint32(tkhd.body + (version(view, tkhd) === 1 ? 20 : 12));
    need(view, mdhd, 24);
    const timescale = view.getUint32(mdhd.body + (version(view, mdhd) === 1 ? 20 : 12));
    if (timescale === 0) return 'a zero timescale';
    const entry = readSampleEntry(view, stbl);
    if (typeof entry === 'string') return entry;
    const edit = readEdit(view, trak);
    if (typeof edit === 'string') return edit;
    const first = readFirstSample(view, stbl, edit);
    if (typeof first === 'string') return first;
    const fragmentDefaults = readTrex(view, root, trackId);
    const fragmented = fragmentDefaults !== undefined;
    if (!first && !fragmented) return 'a video track without samples';
    return {
      trackId,
      ...entry,
      timescale,
      fps: first ? frameRate(view, child(view, stbl, 'stts'), timescale) : undefined,
      editMediaTime: edit,
      fragmented,
      first,
      fragmentDefaults,
    };
  } catch (error) {
    if (error instanceof IndexError || error instanceof RangeError)
      return `a malformed moov: ${error.message}`;
    throw error;
  }
}

const TFHD_BASE_DATA_OFFSET = 0x1;
const TFHD_SAMPLE_DESCRIPTION = 0x2;
const TFHD_DURATION = 0x8;
const TFHD_SIZE = 0x10;
const TFHD_FLAGS = 0x20;
const TRUN_DATA_OFFSET = 0x1;
const TRUN_FIRST_FLAGS = 0x4;
const TRUN_DURATION = 0x100;
const TRUN_SIZE = 0x200;
const TRUN_FLAGS = 0x400;
const TRUN_CTS = 0x800;
/** sample_is_non_sync_sample in the sample flags. */
const NON_SYNC = 0x10000;

/**
 * The track's first sample in a fragment: `moof` is the whole box, `moofOffset` its file offset. FFmpeg
 * stamps fragment samples with tfdt + the composition offset; how it applies an edit list to fragments is
 * not followed here, so a fragmented track with an edit is left to FFmpeg.
 */
export function firstFragmentSample(
  track: VideoTrackIndex,
  moof: Uint8Array,
  moofOffset: number,
): SampleLocation | string {
  if (track.editMediaTime !== 0) return 'a fragmented track with an edit list';
  const view = new DataView(moof.buffer, moof.byteOffset, moof.byteLength);
  try {
    const root = children(view, 0, moof.byteLength).next().value as Box | undefined;
    if (!root || root.type !== 'moof') return 'not a moof box';
    for (const traf of children(view, root.body, root.end)) {
      if (traf.type !== 'traf') continue;
      const tfhd = child(view, traf, 'tfhd');
      if (!tfhd) return 'a traf without tfhd';
      need(view, tfhd, 8);
      const tfhdFlags = view.getUint32(tfhd.body) & 0xffffff;
      if (view.getUint32(tfhd.body + 4) !== track.trackId) continue;
      let at = tfhd.body + 8;
      let base = moofOffset;
      if (tfhdFlags & TFHD_BASE_DATA_OFFSET) {
        need(view, tfhd, at - tfhd.body + 8);
        base = Number(view.getBigUint64(at));
        at += 8;
      }
      if (tfhdFlags & TFHD_SAMPLE_DESCRIPTION) at += 4;
      const defaults = { ...(track.fragmentDefaults ?? { duration: 0, size: 0, flags: 0 }) };
      const field = () => (need(view, tfhd, at - tfhd.body + 4), (at += 4), view.getUint32(at - 4));
      if (tfhdFlags & TFHD_DURATION) defaults.duration = field();
      if (tfhdFlags & TFHD_SIZE) defaults.size = field();
      if (tfhdFlags & TFHD_FLAGS) defaults.flags = field();
      const tfdt = child(view, traf, 'tfdt');
      if (!tfdt) return 'a traf without tfdt';
      need(view, tfdt, version(view, tfdt) === 1 ? 12 : 8);
      const decodeTime =
        version(view, tfdt) === 1 ? Number(view.getBigUint64(tfdt.body + 4)) : view.getUint32(tfdt.body + 4);
      const trun = child(view, traf, 'trun');
      if (!trun) return 'a traf without trun';
      need(view, trun, 8);
      const flags = view.getUint32(trun.body) & 0xffffff;
      const signed = version(view, trun) === 1;
      const count = view.getUint32(trun.body + 4);
      if (count === 0) return 'an empty trun';
      let cursor = trun.body + 8;
      const read = () => (need(view, trun, cursor - trun.body + 4), (cursor += 4), cursor - 4);
      const dataOffset = flags & TRUN_DATA_OFFSET ? view.getInt32(read()) : 0;
      const firstFlags = flags & TRUN_FIRST_FLAGS ? view.getUint32(read()) : undefined;
      const window = Math.min(count, REORDER_WINDOW);
      let size = defaults.size;
      let sampleFlags = defaults.flags;
      const pts: number[] = [];
      let dts = decodeTime;
      let firstDuration = 0;
      for (let i = 0; i < window; i += 1) {
        const duration = flags & TRUN_DURATION ? view.getUint32(read()) : defaults.duration;
        const sampleSize = flags & TRUN_SIZE ? view.getUint32(read()) : defaults.size;
        const thisFlags = flags & TRUN_FLAGS ? view.getUint32(read()) : defaults.flags;
        const cts = flags & TRUN_CTS ? (signed ? view.getInt32(read()) : view.getUint32(read())) : 0;
        if (i === 0) {
          size = sampleSize;
          sampleFlags = firstFlags ?? thisFlags;
          firstDuration = duration;
        }
        pts.push(dts + cts);
        dts += duration;
      }
      if (sampleFlags & NON_SYNC) return 'the first sample is not a sync sample';
      if (size === 0) return 'an empty first sample';
      if (pts.some((time) => time < pts[0]!)) return 'a later sample is shown before the first';
      return { offset: base + dataOffset, size, pts: pts[0]!, dts: decodeTime, duration: firstDuration };
    }
    return 'no fragment of the video track';
  } catch (error) {
    if (error instanceof IndexError || error instanceof RangeError)
      return `a malformed moof: ${error.message}`;
    throw error;
  }
}

/**
 * Where a trimmed start begins in the file: the first video track's single edit hides samples before its
 * media time, and the first sample shown is not the file's first. `firstShown` is the sample with the
 * smallest presentation time at or after the edit's media time (FFmpeg's and OpenCV's frame 0); `sync` is
 * the last sync sample at or before it in decode order, from which a decoder can start: no sample from
 * there to `firstShown` (decode order) is shown before `sync` (a closed GOP), so nothing earlier is ever
 * referenced.
 *
 * ```text
 * decode order:  I0 P3 B1 B2 … | I60 P63 B61 B62 …      media_time: frame 62
 *                 not needed    sync       firstShown = B62
 * ```
 */
export interface EditStart {
  readonly timescale: number;
  /** The edit's media time, in timescale units. */
  readonly mediaTime: number;
  /** Samples in the track (stsz). */
  readonly samples: number;
  readonly sync: SampleInFile;
  readonly firstShown: SampleInFile;
  /** End of the furthest sample from `sync` to `firstShown` in decode order: the bytes frame 0 needs. */
  readonly neededEnd: number;
}

export interface SampleInFile {
  /** Index in decode order (0: the first sample). */
  readonly index: number;
  readonly offset: number;
  readonly size: number;
  /** Presentation time in timescale units, before the edit (FFmpeg's is this minus the media time). */
  readonly pts: number;
}

/**
 * The edit-start plan of the moov's first video track, or why there is none: no edit trimming the
 * start, an edit FFmpeg may read otherwise (several, empty, another rate), or tables this walk does not
 * follow. Reads the sample tables only as far as the first shown sample (bounded by the boxes' sizes).
 */
export function editStart(moov: Uint8Array): EditStart | string {
  const view = new DataView(moov.buffer, moov.byteOffset, moov.byteLength);
  try {
    const found = firstVideoTrak(view, moov.byteLength);
    if (typeof found === 'string') return found;
    const { root, trak } = found;
    const mdhd = path(view, trak, 'mdia', 'mdhd');
    const stbl = path(view, trak, 'mdia', 'minf', 'stbl');
    if (!mdhd || !stbl) return 'a video track without mdhd or stbl';
    need(view, mdhd, 24);
    const timescale = view.getUint32(mdhd.body + (version(view, mdhd) === 1 ? 20 : 12));
    const mediaTime = readEdit(view, trak);
    if (typeof mediaTime === 'string') return mediaTime;
    if (mediaTime === 0) return 'no edit trims the start';
    if (child(view, trak, 'mvex') || child(view, root, 'mvex')) return 'a fragmented track';
    return walkToFirstShown(view, stbl, timescale, mediaTime);
  } catch (error) {
    if (error instanceof IndexError || error instanceof RangeError)
      return `a malformed moov: ${error.message}`;
    throw error;
  }
}

/** A table's entries as [count, value] runs, read one at a time (bounded by the box: `need` first). */
function* runs(view: DataView, box: Box, signed: boolean): Generator<[number, number]> {
  need(view, box, 8);
  const entries = view.getUint32(box.body + 4);
  need(view, box, 8 + entries * 8);
  for (let i = 0; i < entries; i += 1) {
    const at = box.body + 8 + i * 8;
    yield [view.getUint32(at), signed ? view.getInt32(at + 4) : view.getUint32(at + 4)];
  }
}

/** Sample times, in decode order, from stts (and ctts). */
function sampleTimes(view: DataView, stbl: Box): Generator<{ dts: number; pts: number }> | string {
  const stts = child(view, stbl, 'stts');
  if (!stts) return 'no stts';
  const ctts = child(view, stbl, 'ctts');
  const deltas = runs(view, stts, false);
  const offsets = ctts ? runs(view, ctts, version(view, ctts) === 1) : undefined;
  return (function* () {
    let dts = 0;
    let offset: [number, number] = [Number.POSITIVE_INFINITY, 0];
    for (const [count, delta] of deltas) {
      for (let n = 0; n < count; n += 1) {
        if (offsets && offset[0] === Number.POSITIVE_INFINITY) offset = [0, 0];
        while (offsets && offset[0] === 0) {
          const next = offsets.next();
          offset = next.done ? [Number.POSITIVE_INFINITY, 0] : [...next.value];
        }
        if (offset[1] < 0) throw new IndexError('negative composition offsets');
        yield { dts, pts: dts + offset[1] };
        if (offsets) offset[0] -= 1;
        dts += delta;
      }
    }
  })();
}

/** Samples {@link editStart} walks at most looking for the first one shown (about 9 h at 30 fps). */
const EDIT_WALK_MAX_SAMPLES = 1 << 20;

function walkToFirstShown(
  view: DataView,
  stbl: Box,
  timescale: number,
  mediaTime: number,
): EditStart | string {
  const stsz = child(view, stbl, 'stsz');
  if (!stsz) return child(view, stbl, 'stz2') ? 'compact sample sizes (stz2)' : 'no stsz';
  need(view, stsz, 12);
  const uniformSize = view.getUint32(stsz.body + 4);
  const samples = view.getUint32(stsz.body + 8);
  if (uniformSize === 0) need(view, stsz, 12 + samples * 4);
  const sizeOf = (index: number) => uniformSize || view.getUint32(stsz.body + 12 + index * 4);
  const stco = child(view, stbl, 'stco') ?? child(view, stbl, 'co64');
  const stsc = child(view, stbl, 'stsc');
  if (!stco || !stsc) return 'no chunk offsets or no sample-to-chunk table';
  const wide = stco.type === 'co64';
  need(view, stco, 8);
  const chunks = view.getUint32(stco.body + 4);
  need(view, stco, 8 + chunks * (wide ? 8 : 4));
  const chunkOffset = (chunk: number) =>
    wide ? wideOffset(view, stco.body + 8 + chunk * 8) : view.getUint32(stco.body + 8 + chunk * 4);
  need(view, stsc, 8);
  const stscEntries = view.getUint32(stsc.body + 4);
  need(view, stsc, 8 + stscEntries * 12);
  const stss = child(view, stbl, 'stss');
  let syncCount = 0;
  if (stss) {
    need(view, stss, 8);
    syncCount = view.getUint32(stss.body + 4);
    need(view, stss, 8 + syncCount * 4);
  }
  let nextSync = 0;
  const isSync = (index: number): boolean => {
    if (!stss) return true;
    // stss lists 1-based sample numbers in increasing order; walked once, alongside the samples.
    while (nextSync < syncCount && view.getUint32(stss.body + 8 + nextSync * 4) < index + 1) nextSync += 1;
    return nextSync < syncCount && view.getUint32(stss.body + 8 + nextSync * 4) === index + 1;
  };
  const times = sampleTimes(view, stbl);
  if (typeof times === 'string') return times;
  // The common case, settled at the first sample: it is shown first (the edit only covers the B-frame
  // delay). Then no decoder starts anywhere else; the tables need no walk.
  const firstPts = sampleTimes(view, stbl) as Generator<{ dts: number; pts: number }>;
  const first = firstPts.next();
  if (!first.done && first.value.pts === mediaTime && isSync(0)) {
    nextSync = 0;
    const size = sizeOf(0);
    const sample = { index: 0, offset: chunkOffset(0), size, pts: mediaTime };
    return {
      timescale,
      mediaTime,
      samples,
      sync: sample,
      firstShown: sample,
      neededEnd: sample.offset + size,
    };
  }
  nextSync = 0;

  let sync: SampleInFile | undefined;
  let syncCandidate: SampleInFile | undefined;
  let firstShown: SampleInFile | undefined;
  let minPtsSinceSync = Number.POSITIVE_INFINITY;
  let neededEnd = 0;
  let endSinceSync = 0;
  let index = 0;
  for (let entry = 0; entry < stscEntries && index < samples; entry += 1) {
    const at = stsc.body + 8 + entry * 12;
    const firstChunk = view.getUint32(at) - 1;
    const perChunk = view.getUint32(at + 4);
    const lastChunk = entry + 1 < stscEntries ? view.getUint32(at + 12) - 1 : chunks;
    if (firstChunk < 0 || lastChunk > chunks || lastChunk < firstChunk) return 'a malformed stsc';
    for (let chunk = firstChunk; chunk < lastChunk && index < samples; chunk += 1) {
      let offset = chunkOffset(chunk);
      for (let n = 0; n < perChunk && index < samples; n += 1, index += 1) {
        // A hostile table (2^32 samples of duration 0 before the edit) must not hold the main thread.
        if (index >= EDIT_WALK_MAX_SAMPLES)
          return `no sample shown within the first ${EDIT_WALK_MAX_SAMPLES}`;
        const time = times.next();
        if (time.done) return 'stts lists fewer samples than stsz';
        const { dts, pts } = time.value;
        // No later sample can be shown earlier than the one found: its pts is at least its dts.
        if (firstShown && dts >= firstShown.pts) return plan(firstShown, sync!, neededEnd);
        const size = sizeOf(index);
        const sample = { index, offset, size, pts };
        if (isSync(index)) {
          syncCandidate = sample;
          minPtsSinceSync = Number.POSITIVE_INFINITY;
          endSinceSync = 0;
        }
        minPtsSinceSync = Math.min(minPtsSinceSync, pts);
        endSinceSync = Math.max(endSinceSync, offset + size);
        if (pts >= mediaTime && (!firstShown || pts < firstShown.pts)) {
          if (!syncCandidate) return 'no sync sample before the first sample shown';
          if (minPtsSinceSync < syncCandidate.pts)
            return 'a picture after the sync sample is shown before it (an open GOP)';
          firstShown = sample;
          sync = syncCandidate;
          neededEnd = endSinceSync;
        }
        offset += size;
      }
    }
  }
  if (!firstShown) return 'no sample at or after the edit';
  return plan(firstShown, sync!, neededEnd);

  function plan(shown: SampleInFile, from: SampleInFile, end: number): EditStart {
    return { timescale, mediaTime, samples, sync: from, firstShown: shown, neededEnd: end };
  }
}
