/**
 * The box headers of an MP4 stream as its chunks pass, without keeping the chunks: at most 16 header
 * bytes are copied per box, and box bodies are jumped over.
 *
 * For the boxes after the layout is decided (a fragmented file's `moof`s, to check each with
 * {@link checkMoof} before FFmpeg sees it), and, inside a box, for its children. A header that cannot be
 * true is an error here, where {@link scanTopLevelBoxes} would stop without a word.
 */

import type { DecodeError } from '../core/errors.js';
import type { Mp4Box } from './mp4-boxes.js';
import { mp4StructureError } from './mp4-check.js';

export interface BoxWalkerOptions {
  /** File offset of the first header (the first byte pushed is there). Default 0. */
  readonly start?: number;
  /**
   * The end of the parent box when walking a box's children: a child past it is an error, and so is a
   * child of size 0. Default: top level, where a size-0 box runs to the end of the file.
   */
  readonly end?: number;
  /** The parent's path for errors when walking children (`moov`), e.g. `moov.udta`. */
  readonly parent?: string;
  /** The file's size when known: a top-level box that runs past it is an error. */
  readonly fileSize?: number;
  /** The walk ends after a box of one of these types (e.g. the layout sniffer's moov, mdat and moof). */
  readonly until?: ReadonlySet<string>;
}

export interface BoxWalker {
  /**
   * The next chunk, whose first byte is at file offset `offset` (default: where the previous one ended;
   * bytes before the walk's position are skipped, a gap is a caller's bug). Returns the boxes
   * whose headers completed in it, in order; a size-0 top-level box comes with `toEndOfFile` and its
   * size so far, and nothing comes after it. Throws a {@link DecodeError} `FF_ERR_MP4_STRUCTURE` for a
   * header that cannot be true: size below its header, past the parent or the file, a 64-bit size beyond
   * 2^53, size 0 inside a box, a type that is not four printable ASCII characters.
   */
  push(chunk: Uint8Array, offset?: number): Mp4Box[];
  /** File offset of the next header awaited (the end of the last box seen). */
  readonly next: number;
  /** True once the walk can see no more headers: the parent's end, or a box running to the file's end. */
  readonly done: boolean;
  /** Header bytes copied so far (8 or 16 a box): the walk's only copying. */
  readonly bytesCopied: number;
}

/**
 * ```ts
 * const walker = createBoxWalker({ start: moov.offset + moov.size, fileSize });
 * for (const box of walker.push(chunk)) if (box.type === 'moof') awaitWhole(box); // then checkMoof
 * ```
 */
export function createBoxWalker(options: BoxWalkerOptions = {}): BoxWalker {
  const parentEnd = options.end ?? Infinity;
  const inside = options.end !== undefined;
  let position = options.start ?? 0;
  let next = position;
  let done = next >= parentEnd;
  const header = new Uint8Array(16);
  let fill = 0;
  let copied = 0;

  const fault = (
    at: number,
    type: string,
    field: string,
    value: number | string,
    bound: string,
    what: string,
  ): DecodeError => {
    const box = options.parent ? `${options.parent}.${type}` : type;
    return mp4StructureError({ box, offset: at, field, value, bound }, what);
  };

  /** A whole header in `header`: the box, with `next` moved to its end. */
  const parse = (): Mp4Box => {
    const at = next;
    const view = new DataView(header.buffer);
    const size32 = view.getUint32(0);
    const type = fourCC(header);
    if (type === undefined) {
      const raw = JSON.stringify(String.fromCharCode(...header.subarray(4, 8)));
      throw fault(at, '????', 'type', raw, 'four printable ASCII characters', 'box type');
    }
    const headerSize = size32 === 1 ? 16 : 8;
    let size = size32;
    if (size32 === 1) {
      const large = view.getBigUint64(8);
      if (large > BigInt(Number.MAX_SAFE_INTEGER))
        throw fault(at, type, 'size', large.toString(), '≤ 2^53', 'a 64-bit box size');
      size = Number(large);
    }
    if (size32 === 0) {
      if (inside)
        throw fault(at, type, 'size', 0, 'only a top-level box may run to the end of the file', 'box size');
      done = true;
      // Its size so far: it grows with every chunk, to wherever the file ends.
      return { type, offset: at, size: position - at, headerSize, complete: false, toEndOfFile: true };
    }
    if (size < headerSize) throw fault(at, type, 'size', size, `≥ its ${headerSize}-byte header`, 'box size');
    if (at + size > parentEnd) {
      throw fault(at, type, 'size', size, `≤ ${parentEnd - at} bytes left in ${options.parent}`, 'box size');
    }
    const fileSize = options.fileSize;
    if (!inside && fileSize !== undefined && at + size > fileSize) {
      throw fault(
        at,
        type,
        'size',
        size,
        `≤ ${fileSize - at} bytes to the file's end at ${fileSize}`,
        'box size',
      );
    }
    next = at + size;
    // Fewer than 8 bytes left in the parent can be no box (QuickTime ends some lists with a zero).
    if (parentEnd - next < 8 || options.until?.has(type)) done = true;
    return { type, offset: at, size, headerSize, complete: next <= position };
  };

  return {
    push(whole, offset = position) {
      if (offset > position) throw new Error(`box walker: bytes ${position} to ${offset} were not pushed`);
      const chunk = whole.subarray(Math.min(whole.byteLength, position - offset));
      const chunkStart = position;
      position += chunk.byteLength;
      const boxes: Mp4Box[] = [];
      while (!done) {
        const from = next + fill;
        if (from >= position) break;
        const need = fill < 8 ? 8 : 16;
        const take = Math.min(need - fill, position - from);
        header.set(chunk.subarray(from - chunkStart, from - chunkStart + take), fill);
        fill += take;
        copied += take;
        if (fill < need) break;
        if (fill === 8 && header[0] === 0 && header[1] === 0 && header[2] === 0 && header[3] === 1) continue;
        fill = 0;
        boxes.push(parse());
      }
      return boxes;
    },
    get next() {
      return next;
    },
    get done() {
      return done;
    },
    get bytesCopied() {
      return copied;
    },
  };
}

function fourCC(header: Uint8Array): string | undefined {
  let type = '';
  for (let i = 4; i < 8; i += 1) {
    const code = header[i]!;
    if (code < 0x20 || code > 0x7e) return undefined;
    type += String.fromCharCode(code);
  }
  return type;
}
