import type { ContainerLayout } from '../../media/layout.js';
import type { Mp4Box } from '../../media/mp4-boxes.js';
import type { SessionContext } from './context.js';
import { INDEX_MAX_BYTES, type FirstFrameFromIndex } from './first-frame-index.js';
import type { HeaderChecks } from './header-checks.js';
import { MoofGate } from './moof-gate.js';
import type { DecodeOptions } from './options.js';
import { StreamHeadCheck } from './stream-head.js';

/** What the direct arrangement needs of the session. */
export interface DirectHost extends SessionContext {
  readonly options: Pick<DecodeOptions, 'checkStream'>;
  readonly layout: ContainerLayout;
  readonly inputEnded: boolean;
  readonly headers: HeaderChecks;
  /** Frame 0 from the index, once started. */
  readonly indexed: FirstFrameFromIndex | undefined;
  moovAccepted(moov: Uint8Array, offset: number): boolean;
  /** Frame 0 from the MP4 index starts holding the main stream's bytes. */
  startIndexed(prefix: Uint8Array): void;
  /** Bytes for FFmpeg, in order. */
  feed(bytes: Uint8Array): void;
  finishGovernor(): void;
}

/**
 * Byte arrangement for every layout FFmpeg can read as it comes (faststart and fragmented MP4, MPEG-TS,
 * Matroska, anything else): the bytes go to FFmpeg in order, after a moov seen whole by the sniffer is
 * checked, through the moof gate for a fragmented file (each moof whole and checked first), and past the
 * head check for MPEG-TS and Matroska (FFmpeg's open waits for it).
 */
export class DirectArrangement {
  /** The offset of the moov already checked (structure and limits) when the layout was decided. */
  moovCheckedAt: number | undefined;
  /** Fragmented MP4: holds each moof from FFmpeg until it is whole and checked. */
  private moofGate: MoofGate | undefined;
  /** MPEG-TS, Matroska: the head read for checkStream; FFmpeg's demuxer opens once it has told. */
  private head: StreamHeadCheck | undefined;

  constructor(private readonly host: DirectHost) {}

  /** Settles once the MPEG-TS or Matroska head has told; undefined when there is none to read. */
  get headSettled(): Promise<void> | undefined {
    return this.head?.settled;
  }

  /** `moov`: the moov box the sniffer saw whole in `prefix` (faststart, fragmented), checked here first. */
  start(prefix: Uint8Array, moov?: Mp4Box): void {
    this.host.emit('layout', { layout: this.host.layout });
    if (moov?.complete) {
      if (!this.host.moovAccepted(prefix.subarray(moov.offset, moov.offset + moov.size), moov.offset)) return;
      this.moovCheckedAt = moov.offset;
    }
    if (this.host.layout === 'fragmented') {
      const total = this.host.resource?.totalBytes;
      this.moofGate = new MoofGate(total, INDEX_MAX_BYTES);
    }
    if (this.host.layout === 'faststart' || this.host.layout === 'fragmented') this.host.startIndexed(prefix);
    this.head = StreamHeadCheck.start(
      this.host.layout,
      prefix,
      this.host.options.checkStream ? (headers) => this.host.headers.accepted(headers) : undefined,
      this.host.emit,
      this.host.inputEnded,
    );
    // Decided only at the end of the input (a moov cut off): frame 0 will never be in.
    if (this.host.inputEnded && this.host.indexed && !this.host.indexed.decoding) {
      this.host.indexed.skip('the input ended before frame 0 was in');
    }
    this.feedChecked(prefix);
    if (this.host.inputEnded) this.host.finishGovernor();
  }

  /** The next bytes of the main response. */
  push(bytes: Uint8Array): void {
    this.head?.push(bytes);
    this.feedChecked(bytes);
  }

  /** The input ended, or the session is over: the head check waits no more. */
  stopHead(): void {
    this.head?.done();
  }

  /** Feeds FFmpeg, through the moof gate for a fragmented file (each moof whole and checked first). */
  private feedChecked(bytes: Uint8Array): void {
    const gate = this.moofGate;
    if (!gate) {
      this.host.feed(bytes);
      return;
    }
    let parts: Uint8Array[];
    try {
      parts = gate.push(bytes);
    } catch (error) {
      this.host.fail(this.host.located(error));
      return;
    }
    for (const part of parts) this.host.feed(part);
  }
}
