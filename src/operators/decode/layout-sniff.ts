import { createLayoutSniffer, type LayoutDecision, type LayoutSniffer } from '../../media/layout-sniffer.js';
import type { ByteChunk } from '../../sources/types.js';
import type { SessionContext } from './context.js';
import { concatBytes } from './held-bytes.js';
import type { DecodeOptions } from './options.js';

/** What sniffing needs of the session. */
export interface SniffHost extends SessionContext {
  readonly options: Pick<DecodeOptions, 'minStartBytes' | 'minStartWaitMs'>;
  readonly inputEnded: boolean;
  /** Still sniffing: the layout is not decided. */
  readonly sniffing: boolean;
  /**
   * The layout is decided (`decision` undefined: only ftyp or free space in the whole input); `prefix`:
   * every byte seen so far, joined once.
   */
  decided(prefix: Uint8Array, decision: LayoutDecision | undefined): void;
}

/**
 * The first bytes, before anything reaches FFmpeg: held (minStartBytes, for at most minStartWaitMs) and
 * walked by the layout sniffer until the layout is decided from the MP4 box order (faststart, moov at
 * the end, fragmented) or another container's magic (MPEG-TS, Matroska). The chunks are kept as they came
 * and joined once, when the layout is decided: linear in the bytes seen.
 */
export class LayoutSniff {
  /** The first bytes, kept as they came until the layout is decided, then joined once. */
  private sniffed: Uint8Array[] = [];
  private sniffedBytes = 0;
  private sniffer: LayoutSniffer | undefined;
  private layoutDecision: LayoutDecision | undefined;
  /** minStartBytes: since when the first bytes are held back, and whether minStartWaitMs has ended it. */
  private hold: { since: number; timer?: NodeJS.Timeout; timedOut: boolean; reported: boolean } | undefined;

  constructor(private readonly host: SniffHost) {}

  /** Bytes seen so far. */
  get bytesSeen(): number {
    return this.sniffedBytes;
  }

  /** The next chunk of the input, while the layout is not decided. */
  push(chunk: ByteChunk): void {
    this.sniffed.push(chunk.bytes);
    this.sniffedBytes += chunk.bytes.byteLength;
    this.sniffer ??= createLayoutSniffer(
      chunk.resource.totalBytes !== undefined ? { fileSize: chunk.resource.totalBytes } : {},
    );
    try {
      this.layoutDecision ??= this.sniffer.push(chunk.bytes);
    } catch (error) {
      this.host.fail(this.host.located(error));
      return;
    }
    this.hold ??= this.startHolding();
    this.sniff();
  }

  /** Every byte seen, joined, and let go (the input ended without a decision). */
  rest(): Uint8Array {
    const rest = concatBytes(this.sniffed);
    this.sniffed = [];
    return rest;
  }

  /** Release: the held chunks go, and the hold's timer. */
  release(): void {
    this.sniffed = [];
    clearTimeout(this.hold?.timer);
  }

  /** From the first byte on, minStartBytes are held back from FFmpeg for at most minStartWaitMs. */
  private startHolding(): NonNullable<LayoutSniff['hold']> {
    const hold: NonNullable<LayoutSniff['hold']> = {
      since: performance.now(),
      timedOut: false,
      reported: false,
    };
    const wait = this.host.options.minStartWaitMs;
    if (!this.host.options.minStartBytes || wait === undefined) return hold;
    if (wait === 0) {
      hold.timedOut = true;
      return hold;
    }
    hold.timer = setTimeout(() => {
      hold.timedOut = true;
      if (this.host.active && this.host.sniffing) this.sniff();
    }, wait);
    hold.timer.unref();
    return hold;
  }

  /** Decides the layout from the first bytes, once enough are held: MP4 box order, or another container's magic. */
  sniff(): void {
    const minStartBytes = this.host.options.minStartBytes ?? 0;
    const hold = this.hold;
    const enough = this.sniffedBytes >= minStartBytes || this.host.inputEnded || hold?.timedOut === true;
    if (!enough || (this.sniffedBytes < 8 && !this.host.inputEnded)) return;
    if (minStartBytes > 0 && hold && !hold.reported) {
      hold.reported = true;
      clearTimeout(hold.timer);
      this.host.emit('start-hold-over', {
        reason: this.sniffedBytes >= minStartBytes ? 'bytes' : this.host.inputEnded ? 'input-end' : 'timeout',
        bytesHeld: this.sniffedBytes,
        heldMs: performance.now() - hold.since,
      });
    }
    // The sniffer walks box headers as chunks come (linear in the bytes); the chunks are joined once, here.
    let sniffed: LayoutDecision | undefined;
    try {
      sniffed = this.layoutDecision ?? (this.host.inputEnded ? this.sniffer?.end() : undefined);
    } catch (error) {
      this.host.fail(this.host.located(error));
      return;
    }
    if (!sniffed && !this.host.inputEnded) return;
    const prefix = concatBytes(this.sniffed);
    this.host.emit('sniffed', {
      bytesSeen: this.sniffedBytes,
      // What the sniffer copied (headers), and the one join of the held chunks.
      bytesCopied: (this.sniffer?.bytesCopied ?? 0) + (this.sniffed.length > 1 ? prefix.byteLength : 0),
    });
    this.sniffed = [];
    this.host.decided(prefix, sniffed);
  }
}
