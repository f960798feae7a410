import { scanTopLevelBoxes, type Mp4Box } from '../../media/mp4-boxes.js';
import { sliceHeld } from './held-bytes.js';

/** What the bytes after mdat have shown so far. */
export type MoovTailState =
  | { readonly kind: 'more' }
  | { readonly kind: 'moov'; readonly box: Mp4Box; readonly bytes: Uint8Array }
  /** Reading on cannot bring a usable moov: stop the transfer. */
  | { readonly kind: 'refused'; readonly reason: string; readonly invalid?: true };

/**
 * Collects the bytes after a moov-at-end file's mdat (a Range response, or the main response's own tail)
 * until the moov box in them is whole, holding no more than that box: boxes before it are skipped without
 * being kept, a moov larger than `maxBytes` is refused from its header, and nothing past the moov's
 * declared end is wanted (the caller stops reading at `moov`), so a server answering with endless bytes
 * costs at most the moov's size plus one chunk.
 *
 * Chunks are kept as they came and joined once, when the moov is whole: linear in the bytes received.
 */
export class MoovTail {
  private chunks: Uint8Array[] = [];
  /** File offset of chunks[0]'s first byte, and of the end of the last chunk. */
  private heldFrom: number;
  private heldTo: number;
  /** File offset of the next top-level box header. */
  private boxAt: number;
  private state: MoovTailState = { kind: 'more' };

  /**
   * @param start file offset of the first byte pushed (the end of mdat)
   * @param maxBytes the largest moov accepted, and how far past `start` its header may lie
   */
  constructor(
    readonly start: number,
    private readonly maxBytes: number,
  ) {
    this.heldFrom = start;
    this.heldTo = start;
    this.boxAt = start;
  }

  /** Bytes received so far (whether kept or skipped). */
  get received(): number {
    return this.heldTo - this.start;
  }

  /** Bytes held now. */
  get held(): number {
    return this.heldTo - this.heldFrom;
  }

  /** Adds the next bytes (contiguous with the previous ones) and says what they show. */
  push(bytes: Uint8Array): MoovTailState {
    if (this.state.kind !== 'more' || bytes.byteLength === 0) return this.state;
    this.chunks.push(bytes);
    this.heldTo += bytes.byteLength;
    this.state = this.advance();
    if (this.state.kind !== 'more') this.chunks = [];
    return this.state;
  }

  /** What the bytes show once no more will come. */
  end(): MoovTailState {
    if (this.state.kind !== 'more') return this.state;
    const box = this.header();
    const found = box ? `a ${box.type} box of ${box.size} bytes at byte ${box.offset}` : 'no box header';
    this.state = {
      kind: 'refused',
      reason: `no complete moov box in the ${this.received} bytes after mdat (from byte ${this.start}); ${found} ${box ? 'was cut off' : 'where one was expected'}`,
    };
    this.chunks = [];
    return this.state;
  }

  private advance(): MoovTailState {
    for (;;) {
      if (this.boxAt - this.start > this.maxBytes) {
        return {
          kind: 'refused',
          reason: `no moov box within the ${this.maxBytes} bytes after mdat (from byte ${this.start})`,
        };
      }
      const box = this.header();
      if (!box) return { kind: 'more' };
      if (box.type === 'none') {
        return {
          kind: 'refused',
          reason: `the bytes at byte ${box.offset} after mdat are not an MP4 box header`,
          invalid: true,
        };
      }
      if (box.toEndOfFile) {
        return {
          kind: 'refused',
          reason: `the ${box.type} box at byte ${box.offset} after mdat has size 0 (to the end of the file): no moov can follow it`,
        };
      }
      if (box.type === 'moov') {
        if (box.size > this.maxBytes) {
          return {
            kind: 'refused',
            reason: `the moov box at byte ${box.offset} says it has ${box.size} bytes, more than the ${this.maxBytes} accepted`,
            invalid: true,
          };
        }
        if (this.heldTo < box.offset + box.size) return { kind: 'more' };
        return { kind: 'moov', box, bytes: this.slice(box.offset, box.offset + box.size) };
      }
      // Any other box (free space, udta…): skipped, and its bytes let go as they pass.
      this.boxAt = box.offset + box.size;
      this.dropBefore(Math.min(this.boxAt, this.heldTo));
    }
  }

  /** The box whose header starts at `boxAt`, once its header is held. */
  private header(): Mp4Box | undefined {
    if (this.heldTo < this.boxAt + 8) return undefined;
    const head = this.slice(this.boxAt, Math.min(this.heldTo, this.boxAt + 16));
    const [box] = scanTopLevelBoxes(head, this.boxAt);
    if (!box) {
      // Not a box header (garbage), or a largesize header not yet whole.
      if (head.byteLength < 16) return undefined;
      return { type: 'none', offset: this.boxAt, size: 0, headerSize: 8, complete: false };
    }
    if (!box.complete && box.toEndOfFile) {
      // scanTopLevelBoxes reads size 0 as "to the end of these bytes".
      return { ...box, size: 0 };
    }
    return box;
  }

  private dropBefore(offset: number): void {
    while (this.chunks.length > 0 && this.heldFrom + this.chunks[0]!.byteLength <= offset) {
      this.heldFrom += this.chunks.shift()!.byteLength;
    }
  }

  /** Held bytes [from, to) in one array: a view when one chunk holds them. */
  private slice(from: number, to: number): Uint8Array {
    return sliceHeld(this.chunks, this.heldFrom, from, to);
  }
}
