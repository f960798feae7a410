import type { Beamcoder } from '../../media/beamcoder.js';
import { mp4StreamHeader } from '../../media/mp4-header.js';
import type { SpsDimensions } from '../../media/sps.js';
import type { StreamHeader } from './stream-header.js';

/**
 * Coded pictures are whole blocks (H.264 macroblocks of 16, HEVC coding blocks up to 64) and the SPS crops
 * them to the picture shown; a real stream never crops more than one block. A coded size further from
 * the shown one is checked on its own: the decoder allocates the coded size.
 */
const MAX_BLOCK = 64;

/**
 * What a whole moov box states about its first video track, one {@link StreamHeader} per source: the
 * sample description's size, the SPS's (what the decoder goes by), and the duration of the index.
 */
export function moovStreamHeaders(moov: Uint8Array): StreamHeader[] {
  const header = mp4StreamHeader(moov);
  if (!header) return [];
  const { sampleEntry, sps } = header.sources;
  const durationS = header.durationS !== undefined && header.durationS > 0 ? header.durationS : undefined;
  const headers: StreamHeader[] = [
    {
      width: sampleEntry.width,
      height: sampleEntry.height,
      ...(durationS !== undefined ? { durationS } : {}),
      from: `the ${header.sampleEntry} sample description${durationS !== undefined ? ' and the index' : ''}`,
    },
  ];
  if (sps) headers.push(...spsHeaders(sps, `the SPS in the ${header.sampleEntry} sample description`));
  return headers;
}

/**
 * What an SPS says: the picture shown, and the coded picture when it is more than a block larger (a crop
 * that hides the size the decoder allocates). `where` names the SPS: `the SPS in video packet 12`.
 */
export function spsHeaders(sps: SpsDimensions, where: string): StreamHeader[] {
  const headers: StreamHeader[] = [{ width: sps.width, height: sps.height, from: where }];
  if (sps.codedWidth - sps.width > MAX_BLOCK || sps.codedHeight - sps.height > MAX_BLOCK) {
    headers.push({
      width: sps.codedWidth,
      height: sps.codedHeight,
      from: `the coded picture of ${where} (cropped to ${sps.width}×${sps.height})`,
    });
  }
  return headers;
}

/**
 * What FFmpeg's demuxer says of the video stream right after its open: the size from the codec
 * parameters (the SPS the parser read, for MPEG-TS), and for Matroska the duration its Segment Info
 * states. MPEG-TS has no duration header: what FFmpeg would report there is an estimate from the bitrate,
 * not a statement of the file, so none is taken.
 */
export function demuxerStreamHeader(
  demuxer: Beamcoder.Demuxer,
  video: Beamcoder.Stream,
  container: string,
): StreamHeader {
  // The container's duration, in AV_TIME_BASE units (µs).
  const durationS =
    container.startsWith('matroska') && typeof demuxer.duration === 'number' && demuxer.duration > 0
      ? demuxer.duration / 1e6
      : undefined;
  return {
    width: video.codecpar.width,
    height: video.codecpar.height,
    ...(durationS !== undefined ? { durationS } : {}),
    from: `the ${container} demuxer's stream parameters`,
  };
}
