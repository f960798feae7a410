/**
 * Structure checks of an MP4 index (`moov`, or a fragment's `moof`) before FFmpeg sees the bytes.
 *
 * FFmpeg's MP4 demuxer trusts the sizes and entry counts it reads: an entry count of 0xFFFFFFFF in a
 * sample table, a sample entry of size 0 or a box running past its parent made the patched beamcoder
 * crash after a failed open (issue 14). Every number here that sizes something is checked against the
 * bytes that hold it — a box against its parent, an entry count against its box's body, a chunk offset
 * plus its samples against the file's size when that is known — and against an absolute cap.
 *
 * The walk reads each header once and each table once; the work is linear in the box's bytes, whatever
 * its counts claim, and nothing is allocated in proportion to a count.
 *
 * Parts: mp4-check-reader.ts (the walk and its bounds), mp4-check-moov.ts (a moov's boxes),
 * mp4-check-sample-entry.ts (sample descriptions and parameter sets), mp4-check-moof.ts (fragments).
 */

import { DecodeError, codes } from '../core/errors.js';
import { checkMoofBoxes } from './mp4-check-moof.js';
import { checkContainer } from './mp4-check-moov.js';
import { BoxReader, Fault, type Mp4CheckOptions } from './mp4-check-reader.js';

export { MAX_MP4_SAMPLES, MAX_SAMPLE_DESCRIPTIONS, type Mp4CheckOptions } from './mp4-check-reader.js';

/** What an MP4 structure error's `context` holds. */
export interface Mp4StructureContext {
  /** Where the box sits: `moov.trak[0].mdia.minf.stbl.stco` (trak and traf numbered from 0). */
  readonly box: string;
  /** File offset of the box's first header byte. */
  readonly offset: number;
  /** The field that cannot be true: `size`, `entry_count`, `sample_count`, `chunk_offset`, … */
  readonly field: string;
  readonly value: number | string;
  /** The bound it breaks, in words (`≤ 12 bytes of body`, `≥ 86`, `≤ file size 82185`). */
  readonly bound: string;
}

/**
 * Checks a `moov` box (the whole box, header included). Returns undefined when every size, count and
 * offset fits, or a {@link DecodeError} with code `FF_ERR_MP4_STRUCTURE` whose context
 * ({@link Mp4StructureContext}) says which box, at what file offset, which field, its value and the bound
 * it breaks. Never throws.
 *
 * ```ts
 * const problem = checkMoov(moovBytes, { offset: moov.offset, fileSize });
 * if (problem) return fail(problem);
 * ```
 *
 * @param moov the moov box's bytes; bytes after the box's own size are ignored
 * @param options its file offset and the file's size when known (chunk offsets are then checked)
 */
export function checkMoov(moov: Uint8Array, options: Mp4CheckOptions = {}): DecodeError | undefined {
  return check(moov, options, 'moov');
}

/**
 * Checks a fragment's `moof` box (the whole box) the same way: box sizes, trun sample counts against the
 * trun's bytes, and, with a known file size, each run's data against the file's end.
 */
export function checkMoof(moof: Uint8Array, options: Mp4CheckOptions = {}): DecodeError | undefined {
  return check(moof, options, 'moof');
}

/**
 * The `FF_ERR_MP4_STRUCTURE` error for one field: `MP4 moov.trak[0].…stco at byte 1663: entry count
 * 4294967295 breaks its bound (≤ 16777216)`. `what` names the field in words.
 */
export function mp4StructureError(context: Mp4StructureContext, what: string): DecodeError {
  return new DecodeError(
    codes.decode.mp4Structure,
    `MP4 ${context.box} at byte ${context.offset}: ${what} ${context.value} breaks its bound (${context.bound})`,
    { ...context },
  );
}

/** Checks `bytes` as a `rootType` box, whole: undefined when it fits, else FF_ERR_MP4_STRUCTURE. */
function check(
  bytes: Uint8Array,
  options: Mp4CheckOptions,
  rootType: 'moov' | 'moof',
): DecodeError | undefined {
  const r = new BoxReader(bytes, options);
  try {
    const root = r.root(rootType);
    if (rootType === 'moov') checkContainer(r, root, 1);
    else checkMoofBoxes(r, root);
    return undefined;
  } catch (error) {
    if (error instanceof Fault) return toError(error, r.base);
    // Every read below is bounds-checked first; a RangeError would be a gap in those checks, and is
    // still hostile input rather than a crash.
    if (error instanceof RangeError) {
      return toError(
        new Fault({ path: rootType, start: 0 }, 'read', error.message, 'inside the box', 'a read'),
        r.base,
      );
    }
    throw error;
  }
}

function toError(fault: Fault, base: number): DecodeError {
  return mp4StructureError(
    {
      box: fault.node.path,
      offset: base + fault.node.start,
      field: fault.field,
      value: fault.value,
      bound: fault.bound,
    },
    fault.what,
  );
}
