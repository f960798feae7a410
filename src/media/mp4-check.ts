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
 */

import { DecodeError, codes } from '../core/errors.js';

/** More samples than a 60 fps video has in three days: no count in a real file comes near it. */
export const MAX_MP4_SAMPLES = 1 << 24;
/** FFmpeg's own bound on sample descriptions in one stsd. */
export const MAX_SAMPLE_DESCRIPTIONS = 1024;
/** FFmpeg refuses a box tree nested deeper than this (MOV_MAX_DEPTH-like); so do we. */
const MAX_DEPTH = 10;

export interface Mp4CheckOptions {
  /** File offset of the box's first byte: offsets in errors are file offsets. Default 0. */
  readonly offset?: number;
  /** The whole file's size when known (Content-Length, Content-Range's total, stat). */
  readonly fileSize?: number;
}

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

/** Boxes whose body is a list of boxes, walked and checked child by child. */
const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'edts', 'dinf', 'mvex', 'moof', 'traf']);

/** Sample entries laid out as a VisualSampleEntry: 78 bytes of fields, then boxes (avcC, pasp, …). */
const VISUAL_ENTRIES = new Set([
  'avc1',
  'avc2',
  'avc3',
  'avc4',
  'hvc1',
  'hev1',
  'dvh1',
  'dvhe',
  'dva1',
  'dvav',
  'mp4v',
  's263',
  'vp08',
  'vp09',
  'av01',
  'encv',
  'mjp2',
  'jpeg',
]);
const VISUAL_ENTRY_FIELDS = 78;
/** AudioSampleEntry (version 0): 28 bytes of fields. */
const AUDIO_ENTRIES = new Set(['mp4a', 'enca', 'ac-3', 'ec-3', 'Opus', 'fLaC', 'alac', 'samr', 'sawb']);
const AUDIO_ENTRY_FIELDS = 28;
/** Any SampleEntry: 6 reserved bytes and a data reference index. */
const SAMPLE_ENTRY_FIELDS = 8;

interface Node {
  readonly type: string;
  readonly path: string;
  /** Positions in the checked bytes. */
  readonly start: number;
  readonly body: number;
  readonly end: number;
}

class Fault {
  constructor(
    readonly node: Pick<Node, 'path' | 'start'>,
    readonly field: string,
    readonly value: number | string,
    readonly bound: string,
    readonly what: string,
  ) {}
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
  return new Mp4Checker(moov, options).run('moov');
}

/**
 * Checks a fragment's `moof` box (the whole box) the same way: box sizes, trun sample counts against the
 * trun's bytes, and, with a known file size, each run's data against the file's end.
 */
export function checkMoof(moof: Uint8Array, options: Mp4CheckOptions = {}): DecodeError | undefined {
  return new Mp4Checker(moof, options).run('moof');
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

class Mp4Checker {
  private readonly view: DataView;
  private readonly base: number;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly options: Mp4CheckOptions,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.base = options.offset ?? 0;
  }

  run(rootType: 'moov' | 'moof'): DecodeError | undefined {
    try {
      const root = this.root(rootType);
      if (rootType === 'moov') this.container(root, 1);
      else this.moof(root);
      return undefined;
    } catch (error) {
      if (error instanceof Fault) return this.toError(error);
      // Every read below is bounds-checked first; a RangeError would be a gap in those checks, and is
      // still hostile input rather than a crash.
      if (error instanceof RangeError) {
        return this.toError(
          new Fault({ path: rootType, start: 0 }, 'read', error.message, 'inside the box', 'a read'),
        );
      }
      throw error;
    }
  }

  private toError(fault: Fault): DecodeError {
    return mp4StructureError(
      {
        box: fault.node.path,
        offset: this.base + fault.node.start,
        field: fault.field,
        value: fault.value,
        bound: fault.bound,
      },
      fault.what,
    );
  }

  private root(type: 'moov' | 'moof'): Node {
    const node = { path: type, start: 0 };
    if (this.bytes.byteLength < 8)
      throw new Fault(node, 'size', this.bytes.byteLength, '≥ 8 bytes of header', 'a box of');
    const found = this.fourCC(4);
    if (found !== type) throw new Fault(node, 'type', JSON.stringify(found), `"${type}"`, 'the box type');
    const size32 = this.view.getUint32(0);
    let header = 8;
    let size: number;
    if (size32 === 1) {
      if (this.bytes.byteLength < 16)
        throw new Fault(node, 'size', this.bytes.byteLength, '≥ 16 bytes of header', 'a 64-bit box of');
      size = this.largeSize(0, node);
      header = 16;
    } else if (size32 === 0) {
      // "To the end of the file": what the caller handed over is the box.
      size = this.options.fileSize === undefined ? this.bytes.byteLength : this.options.fileSize - this.base;
    } else {
      size = size32;
    }
    if (size < header) throw new Fault(node, 'size', size, `≥ its ${header}-byte header`, 'box size');
    const fileSize = this.options.fileSize;
    if (fileSize !== undefined && this.base + size > fileSize) {
      throw new Fault(
        node,
        'size',
        size,
        `≤ ${fileSize - this.base} bytes to the file's end at ${fileSize}`,
        'box size',
      );
    }
    if (size > this.bytes.byteLength) {
      throw new Fault(node, 'size', size, `≤ the ${this.bytes.byteLength} bytes given`, 'box size');
    }
    return { type, path: type, start: 0, body: header, end: size };
  }

  private largeSize(at: number, node: Pick<Node, 'path' | 'start'>): number {
    const large = this.view.getBigUint64(at + 8);
    if (large > BigInt(Number.MAX_SAFE_INTEGER))
      throw new Fault(node, 'size', large.toString(), `≤ 2^53`, 'a 64-bit box size');
    return Number(large);
  }

  private fourCC(at: number): string {
    return String.fromCharCode(
      this.bytes[at]!,
      this.bytes[at + 1]!,
      this.bytes[at + 2]!,
      this.bytes[at + 3]!,
    );
  }

  /** The children of a box whose body from `from` on is a list of boxes. */
  private children(parent: Node, from = parent.body, most = Infinity): Node[] {
    const nodes: Node[] = [];
    const seen = new Map<string, number>();
    // Fewer than 8 bytes left can be no box: QuickTime ends some lists with a 32-bit zero.
    for (let at = from; parent.end - at >= 8 && nodes.length < most;) {
      const type = this.fourCC(at + 4);
      const index = seen.get(type) ?? 0;
      seen.set(type, index + 1);
      const path = `${parent.path}.${type === 'trak' || type === 'traf' ? `${type}[${index}]` : printable(type)}`;
      const node = { path, start: at };
      const size32 = this.view.getUint32(at);
      let header = 8;
      let size: number;
      if (size32 === 1) {
        if (parent.end - at < 16)
          throw new Fault(
            node,
            'size',
            parent.end - at,
            '≥ 16 bytes for a 64-bit header',
            'bytes left in the parent',
          );
        size = this.largeSize(at, node);
        header = 16;
      } else if (size32 === 0) {
        throw new Fault(node, 'size', 0, 'only a top-level box may run to the end of the file', 'box size');
      } else {
        size = size32;
      }
      if (size < header) throw new Fault(node, 'size', size, `≥ its ${header}-byte header`, 'box size');
      if (size > parent.end - at) {
        throw new Fault(node, 'size', size, `≤ ${parent.end - at} bytes left in ${parent.path}`, 'box size');
      }
      nodes.push({ type, path, start: at, body: at + header, end: at + size });
      at += size;
    }
    return nodes;
  }

  private container(parent: Node, depth: number): void {
    if (depth > MAX_DEPTH) throw new Fault(parent, 'depth', depth, `≤ ${MAX_DEPTH}`, 'nesting depth');
    const boxes = this.children(parent);
    for (const box of boxes) {
      if (CONTAINERS.has(box.type)) this.container(box, depth + 1);
      else this.leaf(box);
    }
    if (parent.type === 'stbl') {
      this.requiredTables(parent, boxes);
      if (this.options.fileSize !== undefined) this.chunkExtents(boxes);
    }
  }

  /**
   * The sample table's boxes ISO/IEC 14496-12 8.1 makes mandatory, empty as they are in a fragmented
   * file: without one FFmpeg opens a track with no samples, and nothing is decoded.
   */
  private requiredTables(stbl: Node, boxes: Node[]): void {
    const has = (...types: string[]) => boxes.some((box) => types.includes(box.type));
    for (const types of [['stsd'], ['stts'], ['stsc'], ['stsz', 'stz2'], ['stco', 'co64']]) {
      if (!has(...types)) {
        throw new Fault(
          stbl,
          'children',
          `no ${types.join(' or ')}`,
          'stsd, stts, stsc, stsz or stz2, stco or co64',
          'a sample table with',
        );
      }
    }
  }

  private bodyLength(box: Node): number {
    return box.end - box.body;
  }

  /** A full box's fixed part must be there before anything in it is read. */
  private need(box: Node, bytes: number, what: string): void {
    const has = this.bodyLength(box);
    if (has < bytes)
      throw new Fault(box, 'size', box.end - box.start, `≥ ${bytes} bytes of body for ${what}`, 'box size');
  }

  private version(box: Node): number {
    return this.bytes[box.body]!;
  }

  private u32(at: number): number {
    return this.view.getUint32(at);
  }

  /**
   * An entry count at `countAt` against the bytes after it: `count × entryBytes ≤ what is left`, and the
   * absolute cap.
   */
  private table(box: Node, countAt: number, entryBytes: number, cap: number, field = 'entry_count'): number {
    const count = this.u32(countAt);
    if (count > cap) throw new Fault(box, field, count, `≤ ${cap}`, field.replace('_', ' '));
    const left = box.end - (countAt + 4);
    if (count * entryBytes > left) {
      throw new Fault(
        box,
        field,
        count,
        `${count} × ${entryBytes} bytes ≤ the ${left} bytes the box holds`,
        field.replace('_', ' '),
      );
    }
    return count;
  }

  private leaf(box: Node): void {
    const v = () => this.version(box);
    switch (box.type) {
      case 'mvhd':
        this.need(box, 4, 'version');
        this.need(box, v() === 1 ? 32 : 20, 'timescale and duration');
        return;
      case 'mdhd':
        this.need(box, 4, 'version');
        this.need(box, v() === 1 ? 32 : 20, 'timescale and duration');
        return;
      case 'tkhd':
        this.need(box, 4, 'version');
        this.need(box, v() === 1 ? 96 : 84, 'its fields');
        return;
      case 'hdlr':
        this.need(box, 12, 'the handler type');
        return;
      case 'mehd':
        this.need(box, 4, 'version');
        this.need(box, v() === 1 ? 12 : 8, 'the fragment duration');
        return;
      case 'trex':
        this.need(box, 24, 'its defaults');
        return;
      case 'elst':
        this.need(box, 8, 'the entry count');
        this.table(box, box.body + 4, v() === 1 ? 20 : 12, MAX_MP4_SAMPLES);
        return;
      case 'dref':
        this.need(box, 8, 'the entry count');
        this.table(box, box.body + 4, 8, MAX_SAMPLE_DESCRIPTIONS);
        this.children(box, box.body + 8);
        return;
      case 'stsd':
        this.stsd(box);
        return;
      case 'stts':
      case 'ctts':
        this.need(box, 8, 'the entry count');
        this.table(box, box.body + 4, 8, MAX_MP4_SAMPLES);
        return;
      case 'stss':
      case 'stps':
        this.need(box, 8, 'the entry count');
        this.table(box, box.body + 4, 4, MAX_MP4_SAMPLES);
        return;
      case 'stsc':
        this.need(box, 8, 'the entry count');
        this.table(box, box.body + 4, 12, MAX_MP4_SAMPLES);
        return;
      case 'stco':
        this.need(box, 8, 'the entry count');
        this.table(box, box.body + 4, 4, MAX_MP4_SAMPLES);
        return;
      case 'co64':
        this.need(box, 8, 'the entry count');
        this.table(box, box.body + 4, 8, MAX_MP4_SAMPLES);
        return;
      case 'stsz': {
        this.need(box, 12, 'the sample size and count');
        const uniform = this.u32(box.body + 4);
        const count = this.table(box, box.body + 8, uniform === 0 ? 4 : 0, MAX_MP4_SAMPLES, 'sample_count');
        const fileSize = this.options.fileSize;
        if (uniform !== 0 && fileSize !== undefined && count * uniform > fileSize) {
          throw new Fault(
            box,
            'sample_count',
            count,
            `${count} × ${uniform} bytes ≤ file size ${fileSize}`,
            'sample count',
          );
        }
        return;
      }
      case 'stz2': {
        this.need(box, 12, 'the field size and count');
        const fieldBits = this.bytes[box.body + 7]!;
        if (fieldBits !== 4 && fieldBits !== 8 && fieldBits !== 16)
          throw new Fault(box, 'field_size', fieldBits, '4, 8 or 16', 'field size');
        const count = this.u32(box.body + 8);
        if (count > MAX_MP4_SAMPLES)
          throw new Fault(box, 'sample_count', count, `≤ ${MAX_MP4_SAMPLES}`, 'sample count');
        const left = this.bodyLength(box) - 12;
        if (Math.ceil((count * fieldBits) / 8) > left)
          throw new Fault(
            box,
            'sample_count',
            count,
            `${count} × ${fieldBits} bits ≤ the ${left} bytes the box holds`,
            'sample count',
          );
        return;
      }
      case 'sbgp': {
        this.need(box, 4, 'version');
        const countAt = box.body + (v() === 1 ? 12 : 8);
        this.need(box, countAt + 4 - box.body, 'the entry count');
        this.table(box, countAt, 8, MAX_MP4_SAMPLES);
        return;
      }
      case 'sgpd': {
        this.need(box, 4, 'version');
        const version = v();
        const countAt = box.body + 8 + (version >= 1 ? 4 : 0) + (version >= 2 ? 4 : 0);
        this.need(box, countAt + 4 - box.body, 'the entry count');
        const defaultLength = version >= 1 ? this.u32(box.body + 8) : 0;
        // Version 1 with no default length prefixes each entry with its 4-byte length.
        const entryBytes = version >= 1 ? defaultLength || 4 : 1;
        this.table(box, countAt, entryBytes, MAX_MP4_SAMPLES);
        return;
      }
      default:
        // Other boxes (udta, meta, free, …) are checked for their size only, which children() did.
        return;
    }
  }

  private stsd(box: Node): void {
    this.need(box, 8, 'the entry count');
    const count = this.u32(box.body + 4);
    if (count === 0) throw new Fault(box, 'entry_count', 0, '≥ 1', 'entry count');
    this.table(box, box.body + 4, 8, MAX_SAMPLE_DESCRIPTIONS);
    // Only the entries the count announces: FFmpeg reads that many and ignores the rest of the box.
    const entries = this.children(box, box.body + 8, count);
    if (entries.length < count) {
      throw new Fault(
        box,
        'entry_count',
        count,
        `≤ the ${entries.length} sample entries the box holds`,
        'entry count',
      );
    }
    for (const entry of entries) {
      const fields = VISUAL_ENTRIES.has(entry.type)
        ? VISUAL_ENTRY_FIELDS
        : AUDIO_ENTRIES.has(entry.type)
          ? AUDIO_ENTRY_FIELDS
          : SAMPLE_ENTRY_FIELDS;
      if (this.bodyLength(entry) < fields) {
        throw new Fault(
          entry,
          'size',
          entry.end - entry.start,
          `≥ ${entry.body - entry.start + fields} for a ${printable(entry.type)} sample entry`,
          'sample entry size',
        );
      }
      if (!VISUAL_ENTRIES.has(entry.type)) continue;
      for (const config of this.children(entry, entry.body + fields)) {
        if (config.type === 'avcC') this.avcC(config, entry.type === 'avc1' || entry.type === 'avc2');
        else if (config.type === 'hvcC') this.hvcC(config, entry.type === 'hvc1');
      }
    }
  }

  /**
   * avcC: version 1, 5 bytes, then counted, length-prefixed SPS (NAL type 7) and PPS (8) units, all
   * inside the box. `avc1`/`avc2` keep their parameter sets here only (ISO/IEC 14496-15 5.4.2.1), so at
   * least one of each must be there; `avc3`/`avc4` may carry them in-band instead.
   */
  private avcC(box: Node, setsRequired: boolean): void {
    this.need(box, 7, 'the decoder configuration');
    const version = this.bytes[box.body]!;
    if (version !== 1) throw new Fault(box, 'configurationVersion', version, '1', 'configuration version');
    let at = box.body + 5;
    for (const [mask, type, name] of [
      [0x1f, 7, 'numOfSequenceParameterSets'],
      [0xff, 8, 'numOfPictureParameterSets'],
    ] as const) {
      if (at >= box.end)
        throw new Fault(box, 'size', box.end - box.start, 'room for the parameter set counts', 'box size');
      const sets = this.bytes[at]! & mask;
      if (sets === 0 && setsRequired) throw new Fault(box, name, 0, '≥ 1 in an avc1 sample entry', name);
      at += 1;
      for (let i = 0; i < sets; i += 1) {
        const unit = at + 2;
        at = this.parameterSet(box, at);
        const header = unit < at ? this.bytes[unit]! : 0;
        if ((header & 0x1f) !== type || header & 0x80) {
          throw new Fault(
            box,
            'nal_unit_type',
            header & 0x1f,
            `${type} for each unit counted in ${name}`,
            'NAL unit type',
          );
        }
      }
    }
  }

  /**
   * hvcC: 23 bytes, then arrays of counted, length-prefixed VPS/SPS/PPS/SEI units, all inside the box;
   * an `hvc1` entry keeps its parameter sets here only, so an SPS (NAL type 33) must be among them.
   */
  private hvcC(box: Node, spsRequired: boolean): void {
    this.need(box, 23, 'the decoder configuration');
    const arrays = this.bytes[box.body + 22]!;
    let at = box.body + 23;
    let spsUnits = 0;
    for (let a = 0; a < arrays; a += 1) {
      if (box.end - at < 3)
        throw new Fault(box, 'num_of_arrays', arrays, 'arrays inside the box', 'array count');
      const type = this.bytes[at]! & 0x3f;
      const units = this.view.getUint16(at + 1);
      if (type === 33) spsUnits += units;
      at += 3;
      for (let i = 0; i < units; i += 1) at = this.parameterSet(box, at);
    }
    if (spsRequired && spsUnits === 0)
      throw new Fault(box, 'sps', 0, '≥ 1 SPS in an hvc1 sample entry', 'SPS units');
  }

  private parameterSet(box: Node, at: number): number {
    if (box.end - at < 2)
      throw new Fault(
        box,
        'parameter_set_count',
        box.end - at,
        'a 2-byte length for each unit',
        'bytes left',
      );
    const length = this.view.getUint16(at);
    if (length > box.end - at - 2) {
      throw new Fault(
        box,
        'parameter_set_length',
        length,
        `≤ ${box.end - at - 2} bytes left in ${box.path}`,
        'parameter set length',
      );
    }
    return at + 2 + length;
  }

  /**
   * With the file's size known: each chunk's first byte, plus the sizes of the samples stsc puts in it,
   * stays inside the file. Linear in the stco and stsz entries (each visited once).
   */
  private chunkExtents(boxes: Node[]): void {
    const fileSize = this.options.fileSize!;
    const chunks = boxes.find((box) => box.type === 'stco' || box.type === 'co64');
    if (!chunks) return;
    const wide = chunks.type === 'co64';
    const chunkCount = this.u32(chunks.body + 4);
    const stsc = boxes.find((box) => box.type === 'stsc');
    const stscCount = stsc ? this.u32(stsc.body + 4) : 0;
    const stsz = boxes.find((box) => box.type === 'stsz');
    const uniform = stsz ? this.u32(stsz.body + 4) : 0;
    const sampleCount = stsz ? this.u32(stsz.body + 8) : 0;
    let sample = 0;
    let run = 0;
    for (let chunk = 0; chunk < chunkCount; chunk += 1) {
      const at = chunks.body + 8 + chunk * (wide ? 8 : 4);
      const offset = wide ? Number(this.view.getBigUint64(at)) : this.u32(at);
      // stsc runs are numbered from 1 and apply until the next run's first chunk.
      while (stsc && run + 1 < stscCount && this.u32(stsc.body + 8 + (run + 1) * 12) <= chunk + 1) run += 1;
      const perChunk = stsc && stscCount > 0 ? this.u32(stsc.body + 8 + run * 12 + 4) : 0;
      const samples = Math.min(perChunk, sampleCount - sample);
      let bytes = 0;
      if (uniform !== 0) {
        bytes = samples * uniform;
      } else if (stsz) {
        for (let i = 0; i < samples; i += 1) bytes += this.u32(stsz.body + 12 + (sample + i) * 4);
      }
      sample += samples;
      if (offset + bytes > fileSize) {
        throw new Fault(
          chunks,
          'chunk_offset',
          offset,
          `chunk ${chunk} at ${offset} + ${bytes} bytes of samples ≤ file size ${fileSize}`,
          'chunk offset',
        );
      }
    }
  }

  private moof(root: Node): void {
    const boxes = this.children(root);
    // Without base-data-offset or default-base-is-moof, a traf's data follows the previous one's.
    let nextBase = this.base;
    for (const box of boxes) {
      if (box.type !== 'traf') continue;
      nextBase = this.traf(box, nextBase);
    }
  }

  private traf(traf: Node, implicitBase: number): number {
    const boxes = this.children(traf);
    const tfhd = boxes.find((box) => box.type === 'tfhd');
    if (!tfhd) throw new Fault(traf, 'tfhd', 'none', 'one tfhd', 'track fragment header');
    this.need(tfhd, 8, 'flags and track id');
    const flags = this.u32(tfhd.body) & 0xffffff;
    const optional = [0x1, 0x2, 0x8, 0x10, 0x20].reduce(
      (n, bit) => n + (flags & bit ? (bit === 0x1 ? 8 : 4) : 0),
      0,
    );
    this.need(tfhd, 8 + optional, 'the fields its flags announce');
    let base = flags & 0x20000 ? this.base : implicitBase;
    let cursor = tfhd.body + 8;
    if (flags & 0x1) {
      base = Number(this.view.getBigUint64(cursor));
      cursor += 8;
    }
    if (flags & 0x2) cursor += 4;
    if (flags & 0x8) cursor += 4;
    const defaultSize = flags & 0x10 ? this.u32(cursor) : undefined;
    let end = base;
    for (const box of boxes) {
      switch (box.type) {
        case 'tfdt':
          this.need(box, 4, 'version');
          this.need(box, this.version(box) === 1 ? 12 : 8, 'the decode time');
          break;
        case 'trun':
          end = this.trun(box, base, defaultSize, end);
          break;
        case 'sbgp':
        case 'sgpd':
          this.leaf(box);
          break;
        case 'saiz': {
          this.need(box, 4, 'flags');
          const countAt = box.body + 4 + (this.u32(box.body) & 1 ? 8 : 0) + 1;
          this.need(box, countAt + 4 - box.body, 'the sample count');
          this.table(box, countAt, this.bytes[countAt - 1] === 0 ? 1 : 0, MAX_MP4_SAMPLES, 'sample_count');
          break;
        }
        case 'saio': {
          this.need(box, 4, 'flags');
          const countAt = box.body + 4 + (this.u32(box.body) & 1 ? 8 : 0);
          this.need(box, countAt + 4 - box.body, 'the entry count');
          this.table(box, countAt, this.version(box) === 1 ? 8 : 4, MAX_MP4_SAMPLES);
          break;
        }
      }
    }
    return end;
  }

  /** A trun's sample count against its bytes, and its data against the file's end. Returns its data's end. */
  private trun(box: Node, base: number, defaultSize: number | undefined, previousEnd: number): number {
    this.need(box, 8, 'flags and sample count');
    const flags = this.u32(box.body) & 0xffffff;
    const fixed = (flags & 0x1 ? 4 : 0) + (flags & 0x4 ? 4 : 0);
    this.need(box, 8 + fixed, 'the fields its flags announce');
    const perSample = [0x100, 0x200, 0x400, 0x800].filter((bit) => flags & bit).length * 4;
    const count = this.u32(box.body + 4);
    if (count > MAX_MP4_SAMPLES)
      throw new Fault(box, 'sample_count', count, `≤ ${MAX_MP4_SAMPLES}`, 'sample count');
    const left = this.bodyLength(box) - 8 - fixed;
    if (count * perSample > left) {
      throw new Fault(
        box,
        'sample_count',
        count,
        `${count} × ${perSample} bytes ≤ the ${left} bytes the box holds`,
        'sample count',
      );
    }
    const start = flags & 0x1 ? base + this.view.getInt32(box.body + 8) : previousEnd;
    const fileSize = this.options.fileSize;
    let bytes = 0;
    if (flags & 0x200) {
      const sizeAt = [0x100].filter((bit) => flags & bit).length * 4;
      for (let i = 0; i < count; i += 1) bytes += this.u32(box.body + 8 + fixed + i * perSample + sizeAt);
    } else if (defaultSize !== undefined) {
      bytes = count * defaultSize;
    }
    if (start < 0)
      throw new Fault(
        box,
        'data_offset',
        start - base,
        `≥ ${-base} (the data starts at byte ${start})`,
        'data offset',
      );
    if (fileSize !== undefined && start + bytes > fileSize) {
      throw new Fault(
        box,
        'data_offset',
        start,
        `${start} + ${bytes} bytes of samples ≤ file size ${fileSize}`,
        'sample data at',
      );
    }
    return start + bytes;
  }
}

/** A four-character code as text, with bytes that are not printable ASCII escaped. */
function printable(type: string): string {
  return /^[\x20-\x7e]{4}$/.test(type) ? type : JSON.stringify(type);
}
