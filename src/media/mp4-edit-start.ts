/**
 * Where an edit list's trimmed start begins in an MP4's sample tables (issue 17 item 3): the first sample
 * shown and the sync sample a decoder starts from, for the edit-start skip (src/operators/decode/edit-skip.ts).
 */

import {
  IndexError,
  child,
  firstVideoTrak,
  need,
  path,
  readEdit,
  version,
  wideOffset,
  type Box,
} from './mp4-index-read.js';

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
