/**
 * The walk every MP4 structure check (mp4-check.ts) makes: boxes read from the checked bytes one header at
 * a time, each against its parent's bytes, and entry counts against the bytes that hold them and an
 * absolute cap; a number that cannot be true is thrown as a {@link Fault} (which box, which field, its
 * value, the bound it breaks).
 */

/** More samples than a 60 fps video has in three days: no count in a real file comes near it. */
export const MAX_MP4_SAMPLES = 1 << 24;
/** FFmpeg's own bound on sample descriptions in one stsd. */
export const MAX_SAMPLE_DESCRIPTIONS = 1024;

export interface Mp4CheckOptions {
  /** File offset of the box's first byte: offsets in errors are file offsets. Default 0. */
  readonly offset?: number;
  /** The whole file's size when known (Content-Length, Content-Range's total, stat). */
  readonly fileSize?: number;
}

export interface Node {
  readonly type: string;
  readonly path: string;
  /** Positions in the checked bytes. */
  readonly start: number;
  readonly body: number;
  readonly end: number;
}

export class Fault {
  constructor(
    readonly node: Pick<Node, 'path' | 'start'>,
    readonly field: string,
    readonly value: number | string,
    readonly bound: string,
    readonly what: string,
  ) {}
}

/** The checked bytes (a `moov` or `moof`, header included) and their place in the file. */
export class BoxReader {
  readonly view: DataView;
  readonly base: number;

  constructor(
    readonly bytes: Uint8Array,
    readonly options: Mp4CheckOptions,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.base = options.offset ?? 0;
  }

  /** The root box's header: its type and size against the bytes given and the file's size. */
  root(type: 'moov' | 'moof'): Node {
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
  children(parent: Node, from = parent.body, most = Infinity): Node[] {
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

  bodyLength(box: Node): number {
    return box.end - box.body;
  }

  /** A full box's fixed part must be there before anything in it is read. */
  need(box: Node, bytes: number, what: string): void {
    const has = this.bodyLength(box);
    if (has < bytes)
      throw new Fault(box, 'size', box.end - box.start, `≥ ${bytes} bytes of body for ${what}`, 'box size');
  }

  version(box: Node): number {
    return this.bytes[box.body]!;
  }

  u32(at: number): number {
    return this.view.getUint32(at);
  }

  /**
   * An entry count at `countAt` against the bytes after it: `count × entryBytes ≤ what is left`, and the
   * absolute cap.
   */
  table(box: Node, countAt: number, entryBytes: number, cap: number, field = 'entry_count'): number {
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
}

/** A four-character code as text, with bytes that are not printable ASCII escaped. */
export function printable(type: string): string {
  return /^[\x20-\x7e]{4}$/.test(type) ? type : JSON.stringify(type);
}
