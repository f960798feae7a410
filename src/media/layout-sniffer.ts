/**
 * Container layout detection fed chunk by chunk, in time and memory linear in the bytes seen.
 *
 * {@link sniffLayout} reads a prefix held in one array; called again on every chunk with everything
 * received so far, it made `ftyp` followed by a huge `free` box quadratic (issue 14). The sniffer here
 * walks the top-level box headers as bytes arrive and jumps over box bodies without looking at them: the
 * only bytes it copies are the first 189 (a container's magic, an MPEG-TS sync byte) and box headers
 * (8 or 16 bytes each). For a moov that comes first it walks the moov's child headers the same way, to see
 * whether an `mvex` announces fragments.
 *
 * It decides what {@link sniffLayout} decides on the whole file, and waits for the bytes that settle it
 * where a prefix would mislead: a moov-first file is decided once the whole moov has been seen, with or
 * without an `mvex` (sniffLayout on a prefix that ends inside the moov says `faststart` for a fragmented
 * file) — which also lets the caller check the moov before FFmpeg sees it — and a file starting with 0x47
 * is MPEG-TS only if byte 188 is 0x47 too (or the file is shorter).
 */

import { DecodeError, codes } from '../core/errors.js';
import { sniffLayout, MP4_FIRST_BOXES, type ContainerLayout } from './layout.js';
import { scanTopLevelBoxes, type Mp4Box } from './mp4-boxes.js';
import { createBoxWalker, type BoxWalker } from './box-walker.js';
import { mp4StructureError } from './mp4-check.js';

/** The largest moov the decode stage will hold before its first frame: far above any real file's. */
export const MAX_MOOV_BYTES = 64 * 1024 * 1024;

/** What the first bytes say: the layout, and for moov-end the mdat box whose end is where the moov starts. */
export interface LayoutDecision {
  readonly layout: ContainerLayout;
  /** moov-end only. `complete` says whether the bytes seen when deciding held the whole mdat. */
  readonly mdat?: Mp4Box;
  /**
   * faststart, and fragmented when a moov comes before any moof: the moov box. A decision from `push`
   * comes once the whole moov has been seen (`complete: true`), so that it can be checked
   * ({@link checkMoov}) before FFmpeg sees any of it; from `end`, it may be cut off (`complete: false`).
   */
  readonly moov?: Mp4Box;
}

export interface LayoutSnifferOptions {
  /** The file's size when known: a top-level box that runs past it is an error. */
  readonly fileSize?: number;
  /** A moov announcing more bytes than this is an error (default {@link MAX_MOOV_BYTES}). */
  readonly maxMoovBytes?: number;
}

export interface LayoutSniffer {
  /**
   * Takes the next chunk of the file (the chunk is read, never kept). Returns the decision once the bytes
   * seen settle it, and the same decision on every later call; undefined while they do not.
   * Throws a {@link DecodeError}: `FF_ERR_MP4_STRUCTURE` for a top-level or moov-child box header that
   * cannot be true (size below its header, past its parent or the file, a moov above the cap, a type
   * that is not four printable characters, size 0 inside the moov); `FF_ERR_MOOV_MISSING` for a box
   * running to the end of the file before any moov, mdat or moof.
   */
  push(chunk: Uint8Array): LayoutDecision | undefined;
  /**
   * The input ended: the decision from what was seen, as {@link sniffLayout} gives it on the whole input;
   * undefined when that is undefined too (an MP4 with no moov, mdat or moof, e.g. only ftyp).
   */
  end(): LayoutDecision | undefined;
  /** Bytes pushed so far. */
  readonly bytesSeen: number;
  /** Bytes copied into the sniffer's own buffers so far (at most 189 + 16 per box header). */
  readonly bytesCopied: number;
}

/** MPEG-TS packets are 188 bytes, each starting with the sync byte 0x47. */
const TS_PACKET = 188;

interface MoovSeen {
  /** Its header as the walk saw it. */
  readonly box: Mp4Box;
  /** Infinity for a moov of size 0 (to the end) in a file of unknown size. */
  readonly end: number;
  /** Its children's headers, up to an mvex. */
  readonly children: BoxWalker;
  fragmented: boolean;
}

/**
 * A sniffer for one input. Feed it chunks with `push` until it returns a decision (or the input ends:
 * `end`); keep the chunks yourself, they are not kept here.
 *
 * ```ts
 * const sniffer = createLayoutSniffer({ fileSize: resource.size });
 * for await (const chunk of chunks) {
 *   held.push(chunk);
 *   const decision = sniffer.push(chunk); // may throw a DecodeError
 *   if (decision) return start(decision, Buffer.concat(held));
 * }
 * const decision = sniffer.end();
 * ```
 */
export function createLayoutSniffer(options: LayoutSnifferOptions = {}): LayoutSniffer {
  const maxMoovBytes = options.maxMoovBytes ?? MAX_MOOV_BYTES;
  const head = new Uint8Array(TS_PACKET + 1);
  let headLength = 0;
  let seen = 0;
  let headCopied = 0;
  let decision: LayoutDecision | undefined;
  /** Set once the first box shows an MP4: its top-level boxes up to the first moov, mdat or moof. */
  let topLevel: BoxWalker | undefined;
  let moov: MoovSeen | undefined;

  const moovDecision = (complete: boolean): LayoutDecision => {
    const seenMoov = moov!;
    return {
      layout: seenMoov.fragmented ? 'fragmented' : 'faststart',
      moov:
        seenMoov.end === Infinity
          ? { ...seenMoov.box, size: seen - seenMoov.box.offset, complete: false }
          : { ...seenMoov.box, complete },
    };
  };

  /** The layout of a file that is not an ISO-BMFF one, from its first bytes; undefined: more bytes needed. */
  const magic = (ended: boolean): LayoutDecision | undefined => {
    if (head[0] === 0x47 && headLength <= TS_PACKET && !ended) return undefined;
    // With byte 188 in, or the input over, sniffLayout on the head says what it says on the whole file.
    return sniffLayout(head.subarray(0, headLength)) ?? { layout: 'other' };
  };

  /** The first box decides whether this is an MP4 at all, exactly as sniffLayout's first box does. */
  const start = (ended: boolean): LayoutDecision | 'mp4' | undefined => {
    if (headLength < 8) return ended ? sniffLayout(head.subarray(0, headLength)) : undefined;
    if (head[0] === 0 && head[1] === 0 && head[2] === 0 && head[3] === 1 && headLength < 16 && !ended) {
      return undefined; // a 64-bit size: its header is 16 bytes
    }
    const [first] = scanTopLevelBoxes(head.subarray(0, Math.min(headLength, 16)));
    return first && MP4_FIRST_BOXES.has(first.type) ? 'mp4' : magic(ended);
  };

  /** A top-level box before any moov, mdat or moof was seen, or the first of them. */
  const onTopLevel = (box: Mp4Box): LayoutDecision | undefined => {
    if (box.type === 'mdat') return { layout: 'moov-end', mdat: box };
    if (box.type === 'moof') return { layout: 'fragmented' };
    if (box.type === 'moov') {
      const end = box.toEndOfFile ? (options.fileSize ?? Infinity) : box.offset + box.size;
      // A moov running to the end of a file of unknown size is measured as its bytes arrive.
      if (end !== Infinity && end - box.offset > maxMoovBytes) {
        const what = box.toEndOfFile ? 'to the end of the file' : box.size;
        throw moovTooLarge(box.offset, what, maxMoovBytes);
      }
      const children = createBoxWalker({
        start: box.offset + box.headerSize,
        end,
        parent: 'moov',
        until: MVEX,
      });
      const size = end === Infinity ? box.size : end - box.offset;
      moov = { box: { ...box, size, complete: false }, end, children, fragmented: false };
      return undefined;
    }
    if (box.toEndOfFile) {
      throw new DecodeError(
        codes.decode.moovMissing,
        `${box.type} at byte ${box.offset} runs to the end of the file and no moov, mdat or moof came before it`,
        { box: box.type, offset: box.offset },
      );
    }
    return undefined;
  };

  /** The MP4 walk over `chunk`, at file offset `offset`. */
  const walk = (chunk: Uint8Array, offset: number): LayoutDecision | undefined => {
    if (!moov) {
      for (const box of topLevel!.push(chunk, offset)) {
        const decided = onTopLevel(box);
        if (decided) return decided;
      }
      if (!moov) return undefined;
    }
    const seenMoov: MoovSeen = moov;
    if (!seenMoov.children.done) {
      if (seenMoov.children.push(chunk, offset).some((box) => box.type === 'mvex'))
        seenMoov.fragmented = true;
    }
    const end = offset + chunk.byteLength;
    if (seenMoov.end === Infinity) {
      // No end will come: an mvex decides, else the cap ends the wait.
      if (seenMoov.fragmented) return moovDecision(false);
      if (end - seenMoov.box.offset > maxMoovBytes) {
        throw moovTooLarge(seenMoov.box.offset, 'to the end of the file', maxMoovBytes);
      }
      return undefined;
    }
    return end >= seenMoov.end ? moovDecision(true) : undefined;
  };

  return {
    push(chunk) {
      if (decision) return decision;
      const offset = seen;
      seen += chunk.byteLength;
      if (!topLevel) {
        const take = Math.min(head.byteLength - headLength, chunk.byteLength);
        head.set(chunk.subarray(0, take), headLength);
        headLength += take;
        headCopied += take;
        const started = start(false);
        if (started === undefined) return undefined;
        if (started !== 'mp4') return (decision = started);
        topLevel = createBoxWalker({ fileSize: options.fileSize, until: FIRST_MEDIA_BOXES });
        // The bytes before this chunk are all in the head (the first box showed within 16 bytes).
        if (offset > 0) decision = walk(head.subarray(0, offset), 0);
        if (decision) return decision;
      }
      return (decision = walk(chunk, offset));
    },
    end() {
      if (decision) return decision;
      if (!topLevel) {
        const started = start(true);
        return started === undefined || started === 'mp4' ? undefined : (decision = started);
      }
      // A moov cut off by the end of the input: what it showed decides, as sniffLayout on that prefix.
      return moov ? (decision = moovDecision(false)) : undefined;
    },
    get bytesSeen() {
      return seen;
    },
    get bytesCopied() {
      return headCopied + (topLevel?.bytesCopied ?? 0) + (moov?.children.bytesCopied ?? 0);
    },
  };
}

const FIRST_MEDIA_BOXES: ReadonlySet<string> = new Set(['moov', 'mdat', 'moof']);
const MVEX: ReadonlySet<string> = new Set(['mvex']);

function moovTooLarge(offset: number, size: number | string, max: number): DecodeError {
  return mp4StructureError(
    { box: 'moov', offset, field: 'size', value: size, bound: `≤ ${max} bytes` },
    'moov size',
  );
}
