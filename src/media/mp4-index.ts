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

import {
  IndexError,
  REORDER_WINDOW,
  child,
  children,
  firstVideoTrak,
  need,
  path,
  readEdit,
  version,
  wideOffset,
  type Box,
} from './mp4-index-read.js';

export { firstFragmentSample } from './mp4-fragment-index.js';
export { editStart, type EditStart, type SampleInFile } from './mp4-edit-start.js';

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
  // Nothing decodes into a picture of no size: FFmpeg's demuxer (which reads the SPS) takes over.
  if (width === 0 || height === 0) return `a sample entry of ${width}×${height}`;
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
