import type { ContainerLayout } from '../../media/layout.js';
import { createMatroskaHeaderReader, type MatroskaVideoHeader } from '../../media/matroska-header.js';
import { createMpegtsSpsReader, type MpegtsVideoSps } from '../../media/mpegts-sps.js';
import { spsHeaders } from './headers.js';
import type { StreamHeader } from './stream-header.js';

/** What the head of an MPEG-TS or Matroska stream says, once it has said it. */
export type StreamHeadResult =
  | { readonly kind: 'found'; readonly headers: StreamHeader[] }
  | { readonly kind: 'none'; readonly reason: string };

/**
 * Reads the picture size (and for Matroska the duration) from the first bytes of an MPEG-TS or Matroska
 * stream as they arrive, so that limits are checked before FFmpeg's open, which decodes a frame at
 * whatever size the SPS says. MP4 has its moov for that (moovStreamHeaders).
 */
export interface StreamHead {
  /** The next chunk from the first byte on; undefined while more bytes may tell. */
  push(chunk: Uint8Array): StreamHeadResult | undefined;
}

function mpegtsHeaders(sps: MpegtsVideoSps): StreamHeader[] {
  return spsHeaders(sps, `the ${sps.codec === 'h264' ? 'H.264' : 'HEVC'} SPS in the MPEG-TS stream`);
}

function matroskaHeaders(header: MatroskaVideoHeader): StreamHeader[] {
  const durationS = header.durationS !== undefined && header.durationS > 0 ? header.durationS : undefined;
  return [
    {
      width: header.pixelWidth,
      height: header.pixelHeight,
      ...(durationS !== undefined ? { durationS } : {}),
      from: `the Matroska track header${durationS !== undefined ? ' and Info' : ''}`,
    },
    ...(header.sps ? spsHeaders(header.sps, `the SPS in the Matroska CodecPrivate`) : []),
  ];
}

/** A reader for `layout`, or undefined for a layout whose header is read elsewhere (MP4) or not at all. */
export function streamHeadFor(layout: ContainerLayout): StreamHead | undefined {
  if (layout === 'mpegts') {
    const reader = createMpegtsSpsReader();
    return {
      push: (chunk) => {
        const result = reader.push(chunk);
        if (!result) return undefined;
        return result.kind === 'found' ? { kind: 'found', headers: mpegtsHeaders(result.sps) } : result;
      },
    };
  }
  if (layout === 'matroska') {
    const reader = createMatroskaHeaderReader();
    return {
      push: (chunk) => {
        const result = reader.push(chunk);
        if (!result) return undefined;
        return result.kind === 'found' ? { kind: 'found', headers: matroskaHeaders(result.header) } : result;
      },
    };
  }
  return undefined;
}

/**
 * MPEG-TS and Matroska: the picture size (and Matroska's duration) read from the stream's first bytes
 * and checked before FFmpeg's open, which decodes a frame at whatever size the SPS says. The open waits
 * for it ({@link settled}); the first kilobytes tell (the first PES, the Tracks element).
 */
export class StreamHeadCheck {
  /** Settles once the head has told (or cannot), the input ended, or the session is over. */
  readonly settled: Promise<void>;
  private settle!: () => void;
  private over = false;

  private constructor(
    private readonly reader: StreamHead,
    private readonly accepted: (headers: readonly StreamHeader[]) => boolean,
    private readonly emit: (name: string, data?: Record<string, unknown>) => void,
  ) {
    this.settled = new Promise<void>((resolve) => (this.settle = resolve));
  }

  /**
   * A check for `layout` that has read `prefix`, or undefined when there is nothing to check (no
   * checkStream, an MP4, another container). `accepted`: the header checks (false: the session failed).
   */
  static start(
    layout: ContainerLayout,
    prefix: Uint8Array,
    accepted: ((headers: readonly StreamHeader[]) => boolean) | undefined,
    emit: (name: string, data?: Record<string, unknown>) => void,
    inputEnded: boolean,
  ): StreamHeadCheck | undefined {
    const reader = accepted ? streamHeadFor(layout) : undefined;
    if (!reader || !accepted) return undefined;
    const check = new StreamHeadCheck(reader, accepted, emit);
    check.push(prefix);
    if (inputEnded) check.done();
    return check;
  }

  /** The stream's next bytes, while the head has not told. */
  push(bytes: Uint8Array): void {
    if (this.over) return;
    const result = this.reader.push(bytes);
    if (!result) return;
    if (result.kind === 'none') this.emit('head-skipped', { reason: result.reason });
    else if (!this.accepted(result.headers)) return;
    this.done();
  }

  /** Nothing more will be read (the head told, the input ended, the session is over). */
  done(): void {
    this.over = true;
    this.settle();
  }
}
