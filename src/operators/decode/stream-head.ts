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
