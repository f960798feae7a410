import type { DecodeError } from '../../core/errors.js';
import { createBoxWalker, type BoxWalker } from '../../media/box-walker.js';
import type { Mp4Box } from '../../media/mp4-boxes.js';
import { checkMoof, mp4StructureError } from '../../media/mp4-check.js';
import { sliceHeld } from './held-bytes.js';

/**
 * Stands between a fragmented MP4's bytes and FFmpeg: every `moof` is held until it is whole and has passed
 * {@link checkMoof} (sample counts within the trun, data within the file), so FFmpeg's demuxer, which
 * parses a moof as its bytes come, never reads one that lies. Everything else passes at once; the bytes of
 * a box header not yet whole wait for it (it may be a moof's). Walks headers only: linear in the bytes.
 *
 * ```text
 * bytes in:   [ftyp][moov][moo|f…|…][mdat………][moof…]
 * to FFmpeg:  [ftyp][moov]          [moof…][mdat………]     each moof once whole and checked
 * ```
 */
export class MoofGate {
  private readonly walker: BoxWalker;
  /** Bytes not yet released, from `releasedTo` on, as they came. */
  private held: Uint8Array[] = [];
  private releasedTo = 0;
  private end = 0;
  /** moofs whose header is in, in file order, not yet checked. */
  private moofs: Mp4Box[] = [];

  /**
   * @param fileSize the file's size when known (boxes and sample data past it are errors)
   * @param maxMoofBytes the largest moof held for its check; a larger one is a structure error
   */
  constructor(
    private readonly fileSize: number | undefined,
    private readonly maxMoofBytes: number,
  ) {
    this.walker = createBoxWalker(fileSize !== undefined ? { fileSize } : {});
  }

  /** Bytes held back now (a moof being awaited, or a header not yet whole). */
  get heldBytes(): number {
    return this.end - this.releasedTo;
  }

  /**
   * Takes the next bytes of the file (contiguous from offset 0) and returns those FFmpeg may have now, in
   * order. Throws the {@link DecodeError} (`FF_ERR_MP4_STRUCTURE`) of a box header or moof that cannot be
   * true.
   */
  push(bytes: Uint8Array): Uint8Array[] {
    if (bytes.byteLength === 0) return [];
    this.held.push(bytes);
    this.end += bytes.byteLength;
    for (const box of this.walker.push(bytes)) {
      if (box.type !== 'moof') continue;
      if (box.size > this.maxMoofBytes) throw this.tooLarge(box);
      this.moofs.push(box);
    }
    for (let moof = this.moofs[0]; moof && moof.offset + moof.size <= this.end; moof = this.moofs[0]) {
      const problem = checkMoof(this.slice(moof.offset, moof.offset + moof.size), {
        offset: moof.offset,
        ...(this.fileSize !== undefined ? { fileSize: this.fileSize } : {}),
      });
      if (problem) throw problem;
      this.moofs.shift();
    }
    const headerPending = this.walker.done ? this.end : Math.min(this.end, this.walker.next);
    return this.release(Math.min(this.moofs[0]?.offset ?? Infinity, headerPending));
  }

  private tooLarge(box: Mp4Box): DecodeError {
    return mp4StructureError(
      { box: 'moof', offset: box.offset, field: 'size', value: box.size, bound: `≤ ${this.maxMoofBytes}` },
      'moof size',
    );
  }

  /** The held bytes before `to`, let go. */
  private release(to: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    while (this.releasedTo < to && this.held.length > 0) {
      const chunk = this.held[0]!;
      const take = Math.min(chunk.byteLength, to - this.releasedTo);
      out.push(chunk.subarray(0, take));
      this.releasedTo += take;
      if (take === chunk.byteLength) this.held.shift();
      else this.held[0] = chunk.subarray(take);
    }
    return out;
  }

  /** Held bytes [from, to) in one array: a view when one chunk holds them. */
  private slice(from: number, to: number): Uint8Array {
    return sliceHeld(this.held, this.releasedTo, from, to);
  }
}
