/**
 * The first video sample of a fragmented MP4, read from its first `moof` with the track's defaults from
 * the moov (mp4-index.ts): where its bytes lie and the timestamp FFmpeg will give it.
 */

import type { SampleLocation, VideoTrackIndex } from './mp4-index.js';
import { IndexError, REORDER_WINDOW, child, children, need, version, type Box } from './mp4-index-read.js';

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
