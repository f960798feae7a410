import { Observable, type OperatorFunction } from 'rxjs';
import { beamcoder } from '../media/beamcoder.js';
import { MP4_DEMUXER, inputFormat } from './decode/demuxer.js';
import { validate, type DecodedFrame, type DecodeOptions } from './decode/options.js';
import { DecodeSession } from './decode/session.js';
import { warmDecodeWith, type WarmDecodeResult } from './decode/warm.js';
import type { ByteChunk } from '../sources/types.js';

export type { ContainerLayout } from '../media/layout.js';
export type { StreamHeader } from './decode/stream-header.js';
export type { DecodedFrame, DecodeOptions, VideoStreamInfo } from './decode/options.js';
export type { WarmDecodeResult } from './decode/warm.js';

/**
 * Demuxes and decodes a byte stream while it downloads, emitting each frame the moment it exists.
 *
 * FFmpeg (through beamcoder) reads from a governor this operator feeds chunk by chunk; the demuxer opens as
 * soon as the container's header is readable. MP4 files whose moov comes after mdat are rearranged on the
 * fly: the moov is fetched with a Range request while mdat keeps streaming. For an MP4, frame 0 comes
 * straight from the index (the first sample decoded as soon as its bytes are in, before FFmpeg opens the
 * file). The decoder runs ahead of the frames being handled (at most a few calls), on slice threads at
 * first and frame threads from the next IDR picture (`threads: 'auto'`). Frames the `keepFrame` predicate
 * accepts are letterboxed to `imgSize` in planar RGB by FFmpeg's scaler. Each subscription is a
 * {@link DecodeSession} (decode/session.ts) composing the parts under src/operators/decode/.
 *
 * ```text
 * bytes:   -c-c-c-c-c-c-c-|
 * frames:  ---f--f-f-f--f-(f|)     frame 0 once its bytes are in, then a frame per picture; flushed at the end
 * unsub:   ---f--f-!               governor finished, demuxer closed, source unsubscribed
 * ```
 *
 * @example
 * httpSource(url).pipe(decode({ imgSize: 640, keepFrame: (n) => n % 5 === 0 }))
 *   .subscribe((frame) => console.log(frame.frameNumber, frame.pts));
 *
 * @returns an operator from {@link ByteChunk}s to {@link DecodedFrame}s; errors are DecodeErrors (or the
 * source's error, after every frame the bytes that did arrive allow).
 */
export function decode(options: DecodeOptions = {}): OperatorFunction<ByteChunk, DecodedFrame> {
  validate(options);
  // Loading FFmpeg takes tens of milliseconds, listing its demuxers as much again: pay both when the
  // pipeline is built, not on the clock of a run.
  inputFormat(beamcoder(), MP4_DEMUXER);
  return (source) =>
    new Observable<DecodedFrame>((subscriber) => {
      const session = new DecodeSession(options, subscriber);
      session.start(source);
      return () => session.dispose();
    });
}

/**
 * A fresh process's first decode, done now on a tiny bundled clip over loopback HTTP (see
 * src/operators/decode/warm.ts): call it while preparing a pipeline, so that a run's first frame does not
 * pay for undici's first connection, FFmpeg's first decoder and demuxer, the first filter graph and V8's
 * first compilation of the path. `options`: the run's imgSize and preprocess.
 */
export function warmDecode(
  options: Pick<DecodeOptions, 'imgSize' | 'preprocess' | 'padValue'> = {},
): Promise<WarmDecodeResult> {
  return warmDecodeWith(decode, options);
}
