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
  readonly offset: number;
  /** Infinity for a moov of size 0 (to the end) in a file of unknown size. */
  readonly end: number;
  readonly headerSize: number;
  /** An mvex child was seen. */
  fragmented: boolean;
}

type Phase =
  | { kind: 'start' }
  /** Walking box headers; `inMoov` while between the moov's header and its end. */
  | { kind: 'boxes'; inMoov?: MoovSeen }
  | { kind: 'decided'; decision: LayoutDecision };

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
  let copied = 0;
  let phase: Phase = { kind: 'start' };
  /** The next header to read starts here; bytes before it are skipped. */
  let headerAt = 0;
  const header = new Uint8Array(16);
  let headerFill = 0;

  const moovDecision = (moov: MoovSeen, complete: boolean): LayoutDecision => ({
    layout: moov.fragmented ? 'fragmented' : 'faststart',
    moov:
      moov.end === Infinity
        ? {
            type: 'moov',
            offset: moov.offset,
            size: seen - moov.offset,
            headerSize: moov.headerSize,
            complete: false,
            toEndOfFile: true,
          }
        : {
            type: 'moov',
            offset: moov.offset,
            size: moov.end - moov.offset,
            headerSize: moov.headerSize,
            complete,
          },
  });

  const decide = (decision: LayoutDecision): LayoutDecision => {
    phase = { kind: 'decided', decision };
    return decision;
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

  const structure = (
    box: string,
    offset: number,
    field: string,
    value: number | string,
    bound: string,
    what: string,
  ) => mp4StructureError({ box, offset, field, value, bound }, what);

  /** One whole box header at `headerAt`; says where the next one starts, or decides. */
  const onHeader = (
    size32: number,
    type: string | undefined,
    headerSize: number,
    largeSize: bigint | undefined,
  ) => {
    if (phase.kind !== 'boxes') return;
    const at = headerAt;
    const moov = phase.inMoov;
    const path = moov ? `moov.${type ?? '????'}` : (type ?? '????');
    if (type === undefined) {
      throw structure(
        path,
        at,
        'type',
        JSON.stringify(String.fromCharCode(...header.subarray(4, 8))),
        'four printable ASCII characters',
        'box type',
      );
    }
    let size: number;
    if (largeSize !== undefined) {
      if (largeSize > BigInt(Number.MAX_SAFE_INTEGER))
        throw structure(path, at, 'size', largeSize.toString(), '≤ 2^53', 'a 64-bit box size');
      size = Number(largeSize);
    } else {
      size = size32;
    }
    if (size32 === 0) {
      if (moov)
        throw structure(
          path,
          at,
          'size',
          0,
          'only a top-level box may run to the end of the file',
          'box size',
        );
      size = Infinity;
    } else if (size < headerSize) {
      throw structure(path, at, 'size', size, `≥ its ${headerSize}-byte header`, 'box size');
    }
    if (moov) {
      if (at + size > moov.end)
        throw structure(path, at, 'size', size, `≤ ${moov.end - at} bytes left in moov`, 'box size');
      if (type === 'mvex') {
        moov.fragmented = true;
        // Of a moov running to the end of a file of unknown size no end will come: decide now.
        if (moov.end === Infinity) return decide(moovDecision(moov, false));
        headerAt = moov.end;
        return undefined;
      }
      headerAt = at + size;
      return undefined;
    }
    const fileSize = options.fileSize;
    if (fileSize !== undefined && size !== Infinity && at + size > fileSize) {
      throw structure(
        path,
        at,
        'size',
        size,
        `≤ ${fileSize - at} bytes to the file's end at ${fileSize}`,
        'box size',
      );
    }
    if (type === 'mdat') {
      const mdat: Mp4Box =
        size === Infinity
          ? { type, offset: at, size: seen - at, headerSize, complete: false, toEndOfFile: true }
          : { type, offset: at, size, headerSize, complete: at + size <= seen };
      return decide({ layout: 'moov-end', mdat });
    }
    if (type === 'moof') return decide({ layout: 'fragmented' });
    if (type === 'moov') {
      const end = size === Infinity ? (fileSize ?? Infinity) : at + size;
      // A moov running to the end of a file of unknown size is measured as its bytes arrive (walk).
      if (end !== Infinity && end - at > maxMoovBytes) {
        throw structure(
          'moov',
          at,
          'size',
          size === Infinity ? 'to the end of the file' : size,
          `≤ ${maxMoovBytes} bytes`,
          'moov size',
        );
      }
      phase = { kind: 'boxes', inMoov: { offset: at, end, headerSize, fragmented: false } };
      headerAt = at + headerSize;
      return undefined;
    }
    if (size === Infinity) {
      throw new DecodeError(
        codes.decode.moovMissing,
        `${type} at byte ${at} runs to the end of the file and no moov, mdat or moof came before it`,
        { box: type, offset: at },
      );
    }
    headerAt = at + size;
    return undefined;
  };

  /** Walks the box headers in `chunk`, which starts at file offset `chunkStart`. */
  const walk = (chunk: Uint8Array, chunkStart: number): LayoutDecision | undefined => {
    const chunkEnd = chunkStart + chunk.byteLength;
    for (;;) {
      if (phase.kind === 'decided') return phase.decision;
      if (phase.kind !== 'boxes') return undefined;
      const moov = phase.inMoov;
      // The moov is all in (fewer than 8 bytes after its last child are no box).
      if (moov && (headerAt >= moov.end || moov.end - headerAt < 8)) {
        if (chunkEnd < moov.end) return undefined;
        return decide(moovDecision(moov, true));
      }
      if (moov && moov.end === Infinity && chunkEnd - moov.offset > maxMoovBytes) {
        throw structure(
          'moov',
          moov.offset,
          'size',
          'to the end of the file',
          `≤ ${maxMoovBytes} bytes`,
          'moov size',
        );
      }
      const from = headerAt + headerFill;
      if (from >= chunkEnd) return undefined;
      if (from < chunkStart) return undefined; // cannot happen: headers are read as they pass
      const need = headerFill < 8 ? 8 : 16;
      const take = Math.min(need - headerFill, chunkEnd - from);
      header.set(chunk.subarray(from - chunkStart, from - chunkStart + take), headerFill);
      copied += take;
      headerFill += take;
      if (headerFill < need) return undefined;
      const view = new DataView(header.buffer);
      const size32 = view.getUint32(0);
      if (size32 === 1 && headerFill === 8) continue;
      headerFill = 0;
      onHeader(
        size32,
        fourCC(header, 4),
        size32 === 1 ? 16 : 8,
        size32 === 1 ? view.getBigUint64(8) : undefined,
      );
    }
  };

  return {
    push(chunk) {
      if (phase.kind === 'decided') return phase.decision;
      const chunkStart = seen;
      seen += chunk.byteLength;
      if (phase.kind === 'start') {
        const take = Math.min(head.byteLength - headLength, chunk.byteLength);
        head.set(chunk.subarray(0, take), headLength);
        headLength += take;
        copied += take;
        const started = start(false);
        if (started === undefined) return undefined;
        if (started !== 'mp4') return decide(started);
        phase = { kind: 'boxes' };
        // Walk from the file's start: the bytes so far are in the head (at most 189 of them) or this chunk.
        const before = chunkStart;
        if (before > 0) walk(head.subarray(0, before), 0);
      }
      return walk(chunk, chunkStart);
    },
    end() {
      if (phase.kind === 'decided') return phase.decision;
      if (phase.kind === 'start') {
        const started = start(true);
        if (started === undefined) return undefined;
        if (started !== 'mp4') return decide(started);
        return undefined;
      }
      const moov = phase.inMoov;
      // A moov cut off by the end of the input: what it showed decides, as sniffLayout on that prefix.
      return moov ? decide(moovDecision(moov, false)) : undefined;
    },
    get bytesSeen() {
      return seen;
    },
    get bytesCopied() {
      return copied;
    },
  };
}

/** Four printable ASCII characters, or undefined. */
function fourCC(bytes: Uint8Array, at: number): string | undefined {
  let type = '';
  for (let i = at; i < at + 4; i += 1) {
    const code = bytes[i]!;
    if (code < 0x20 || code > 0x7e) return undefined;
    type += String.fromCharCode(code);
  }
  return type;
}
