import { DecodeError, codes, isFirstframeError } from '../../core/errors.js';
import type { ContainerLayout } from '../../media/layout.js';
import type { VideoStreamInfo } from './options.js';

/** What a session has seen and done, gathered from its parts when it ends. */
export interface SessionCounts {
  readonly where: string;
  readonly url: string | undefined;
  readonly layout: ContainerLayout;
  readonly stream: VideoStreamInfo | undefined;
  readonly framesDecoded: number;
  readonly framesConverted: number;
  readonly corruptPackets: number;
  readonly lastDecodeError: string | undefined;
  readonly framesLost: number;
  readonly framesOutOfOrder: number;
  readonly framesSkipped: number;
  /** Pictures the edit list hides that nothing references, left undecoded. */
  readonly trimmedSkipped: number;
  /** Packets before the edit-start skip's sync sample, dropped. */
  readonly packetsBeforeSync: number;
  readonly videoPackets: number;
  readonly bytesFed: number;
  readonly offsetReached: number;
  /** Where the main response was closed because nothing after it is needed (moov-end: the moov). */
  readonly inputCutAt: number | undefined;
  readonly totalBytes: number | undefined;
  readonly sourceError: unknown;
}

/**
 * The `end` event's data: why the session ended, what it decoded, and whether the input was cut short
 * (before the moov where the response was closed there, before the file's size, or by a source error).
 */
export function endSummary(reason: string, counts: SessionCounts): Record<string, unknown> {
  const total = counts.totalBytes;
  return {
    reason,
    layout: counts.layout,
    framesDecoded: counts.framesDecoded,
    framesConverted: counts.framesConverted,
    corruptPackets: counts.corruptPackets,
    framesLost: counts.framesLost,
    framesOutOfOrder: counts.framesOutOfOrder,
    framesSkipped: counts.framesSkipped,
    trimmedSkipped: counts.trimmedSkipped,
    packetsBeforeSync: counts.packetsBeforeSync,
    bytesFed: counts.bytesFed,
    offsetReached: counts.offsetReached,
    truncated:
      counts.inputCutAt !== undefined
        ? counts.offsetReached < counts.inputCutAt
        : total !== undefined
          ? counts.offsetReached < total
          : counts.sourceError !== undefined,
  };
}

/** The input was not empty and has ended, and no picture came of it: say what was seen instead. */
export function noFramesError(counts: SessionCounts): DecodeError {
  const stream = counts.stream;
  const opened = stream
    ? `FFmpeg opened it as ${stream.container} (${stream.codec} ${stream.width}×${stream.height})`
    : 'FFmpeg did not open it';
  const packets =
    counts.videoPackets === 0
      ? 'the demuxer returned no video packet'
      : `the demuxer returned ${counts.videoPackets} video packets`;
  const refused =
    counts.corruptPackets > 0
      ? `, the decoder refused ${counts.corruptPackets} as corrupt (last: ${counts.lastDecodeError})`
      : counts.videoPackets > 0
        ? ' and the decoder gave no picture for them'
        : '';
  return new DecodeError(
    codes.decode.noFrames,
    `${counts.where}: no picture could be decoded from the ${counts.offsetReached} bytes received (layout ${counts.layout}): ${opened}; ${packets}${refused}`,
    {
      url: counts.url,
      bytes: counts.offsetReached,
      layout: counts.layout,
      videoPackets: counts.videoPackets,
      corruptPackets: counts.corruptPackets,
      ...(counts.lastDecodeError ? { decoderError: counts.lastDecodeError } : {}),
    },
  );
}

/** A demuxing or decoding failure as the session's error: a typed error as it is, else FF_ERR_DEMUX. */
export function demuxFailure(error: unknown, counts: SessionCounts): unknown {
  return isFirstframeError(error)
    ? error
    : new DecodeError(
        codes.decode.demux,
        `${counts.where}: demuxing failed after ${counts.framesDecoded} frames: ${(error as Error).message ?? error}`,
        {
          url: counts.url,
          frames: counts.framesDecoded,
          bytes: counts.bytesFed,
        },
      );
}

/** An error from a part that does not know the URL (src/media), with it in front of the message. */
export function located(error: unknown, where: string, url: string | undefined): unknown {
  if (!(error instanceof DecodeError)) return error;
  return new DecodeError(
    error.code,
    `${where}: ${error.message}`,
    { url, ...error.context },
    { cause: error },
  );
}
