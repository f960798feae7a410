/**
 * The decode operator's public types ({@link DecodeOptions}, {@link DecodedFrame}, {@link VideoStreamInfo})
 * and the check of its options, which fails at construction with every problem listed.
 */
import { ConfigError, codes } from '../../core/errors.js';
import type { EventSink } from '../../core/events.js';
import type { ContainerLayout } from '../../media/layout.js';
import { PREPROCESS_MODES, type LetterboxedImage, type Preprocess } from '../../media/letterbox.js';
import type { PrefetchGate, PrefetchSlot } from '../prefetch.js';
import type { StreamHeader } from './stream-header.js';

/**
 * What is known about the video stream being decoded; one object shared by every frame of a subscription.
 * Frame 0 of an MP4 can go out before FFmpeg has opened the file, with what the MP4 index says; the same
 * object then takes FFmpeg's values when it opens (the same ones, but for a frame rate FFmpeg measures).
 */
export interface VideoStreamInfo {
  readonly layout: ContainerLayout;
  /** FFmpeg's demuxer name, e.g. `mov,mp4,m4a,3gp,3g2,mj2`. */
  readonly container: string;
  readonly codec: string;
  /** The decoder actually used: `h264`, or `h264_cuvid` with NVDEC. */
  readonly decoder: string;
  readonly width: number;
  readonly height: number;
  /** Frames per second when the container says; undefined when it does not (e.g. MPEG-TS without probing). */
  readonly fps: number | undefined;
  readonly timeBase: readonly [number, number];
  /**
   * Frames shown, when the MP4 index says (its sample count, no more than the edit list's duration
   * holds at `fps`); undefined for fragmented MP4, MPEG-TS, Matroska, or before the index is read.
   */
  readonly frameCount?: number | undefined;
}

/** One decoded frame, in display order. */
export interface DecodedFrame {
  /** Index in display order as a player shows the video, after the edit list: 0 is the first frame shown. */
  readonly frameNumber: number;
  /** Presentation time in seconds, as ffprobe reports it for this frame. */
  readonly pts: number;
  readonly width: number;
  readonly height: number;
  readonly keyFrame: boolean;
  /** `performance.now()` when the decoder produced it. */
  readonly decodedAt: number;
  /** The pixels converted for the model; present only for frames `keepFrame` accepted. */
  readonly image: LetterboxedImage | undefined;
  readonly stream: VideoStreamInfo;
  /** The prefetch slot this frame holds until inference is done with it (when a gate bounds prefetch). */
  readonly slot?: PrefetchSlot;
}

export interface DecodeOptions {
  /** Side of the square model input (IMG_SIZE); default 640. */
  imgSize?: number;
  /**
   * Which frames get converted to model input, decided from the frame number before any conversion (the
   * stride's decision). Frames it refuses are still emitted, without `image`; they cost only their decode.
   */
  keepFrame?: (frameNumber: number) => boolean;
  /**
   * Decoder threading. `slice` emits each frame as soon as it is decoded; `frame` threading decodes faster
   * on long runs but holds back threadCount − 1 frames first. `auto` (default): slice threads for the first
   * frames, then frame threads from the next point a fresh decoder can start from (an IDR picture, a VP9
   * or AV1 key frame); streams without such a point stay on slice threads.
   */
  threads?: 'slice' | 'frame' | 'auto';
  /**
   * Decoder threads; 0 (default) lets FFmpeg choose as its own CLI does: one per core plus one (3 on this
   * project's 2-core reference machine, where that decodes the 720p bench clip as fast as 2 threads: medians
   * 0.930 and 0.933 × `ffmpeg -f null` over 10 interleaved rounds; unlike a fixed count it grows with the
   * machine).
   */
  threadCount?: number;
  /** Bytes FFmpeg may read to find the stream parameters; default 32 (the minimum: the container says). */
  probeSize?: number;
  /** Bytes to hold before opening the demuxer (STREAM_MIN_START_BYTES); default 0. */
  minStartBytes?: number;
  /**
   * With `minStartBytes`: the longest wait for them, in ms from the first byte (STREAM_BUFFER_TIMEOUT_S). The
   * demuxer opens once minStartBytes are held, this much time has passed, or the input ended, whichever
   * comes first. Default: no limit (only the bytes or the end of the input open it).
   */
  minStartWaitMs?: number;
  /** Try NVDEC (USE_NVDEC); falls back to software decoding, with one `nvdec-unavailable` event. */
  nvdec?: boolean | { outWidth?: number; outHeight?: number };
  /** Letterbox padding grey; default 114 as Ultralytics. */
  padValue?: number;
  /**
   * How a picture becomes the model's input: 'opencv' (default) converts colour with BT.601 at full size and
   * resizes as cv2.resize INTER_LINEAR, the input Ultralytics feeds its models; 'stream-colour' converts
   * with the stream's own colour matrix and FFmpeg's bilinear scaler (see README, preprocessing).
   */
  preprocess?: Preprocess;
  /**
   * Leave undecoded the pictures `keepFrame` refuses that no other picture references (H.264 nal_ref_idc 0,
   * HEVC sub-layer non-reference): nothing the stride keeps is lost, and those frames are not emitted at all.
   * Needs a constant frame rate (frame numbers come from packet timestamps) and a pure `keepFrame`.
   */
  skipNonReference?: boolean;
  /**
   * An MP4 whose edit list trims the start past a sync sample (frame 0 is not the file's first picture):
   * when the server honours Range and skipping saves more bytes than one more request costs (the main
   * response's TTFB × its rate), the bytes from the sync sample before frame 0 are fetched with a Range
   * request and the main response is closed. Default true; false reads every byte from offset 0.
   */
  editSkip?: boolean;
  /**
   * The run's byte limit (RunLimits.maxBytes, the sources' byte budget), when it has one: the edit-start
   * skip never jumps to a sync sample past it (the zeros FFmpeg gets for the gap stand for bytes no
   * download within the limit could reach).
   */
  maxBytes?: number;
  /**
   * Bounds how far decoding runs ahead of inference (PREFETCH_FRAMES): a slot is taken before a kept frame
   * is converted; while none is free, decoding waits (and the download pauses, see maxQueuedBytes).
   */
  gate?: PrefetchGate;
  /**
   * Bytes fed to FFmpeg but not yet demuxed above which the source is paused (resumed at half); default
   * 8 MiB. With a waiting decoder this is what stops the download, so memory stays flat.
   */
  maxQueuedBytes?: number;
  /** Names the input in error messages when no byte (and so no URL) ever arrived. */
  sourceUrl?: string;
  /**
   * Called with the video's size (and duration, when known) as soon as a header says it, before any
   * picture is decoded: the MP4 sample description, the SPS and the index's duration when the moov is
   * in (before FFmpeg sees it), or the demuxer's stream parameters right after FFmpeg's open (MPEG-TS,
   * Matroska). An exception it throws (a run's FF_ERR_LIMIT_RESOLUTION) ends decoding with that error.
   */
  checkStream?: (header: StreamHeader) => void;
  onEvent?: EventSink;
}

/** Throws one ConfigError listing every invalid option (`decode.imgSize: expected …`), at construction. */
export function validate(options: DecodeOptions): void {
  const problems: string[] = [];
  const positiveInt = (name: string, value: number | undefined) => {
    if (value !== undefined && (!Number.isInteger(value) || value <= 0)) {
      problems.push(`decode.${name}: expected a positive integer, got ${JSON.stringify(value)}`);
    }
  };
  positiveInt('imgSize', options.imgSize);
  if (
    options.threadCount !== undefined &&
    (!Number.isInteger(options.threadCount) || options.threadCount < 0)
  ) {
    problems.push(
      `decode.threadCount: expected an integer >= 0 (0: FFmpeg's choice), got ${JSON.stringify(options.threadCount)}`,
    );
  }
  if (options.probeSize !== undefined && (!Number.isInteger(options.probeSize) || options.probeSize < 32)) {
    problems.push(`decode.probeSize: expected an integer >= 32, got ${JSON.stringify(options.probeSize)}`);
  }
  if (
    options.minStartBytes !== undefined &&
    (!Number.isInteger(options.minStartBytes) || options.minStartBytes < 0)
  ) {
    problems.push(
      `decode.minStartBytes: expected an integer >= 0, got ${JSON.stringify(options.minStartBytes)}`,
    );
  }
  if (
    options.minStartWaitMs !== undefined &&
    (typeof options.minStartWaitMs !== 'number' ||
      !Number.isFinite(options.minStartWaitMs) ||
      options.minStartWaitMs < 0)
  ) {
    problems.push(
      `decode.minStartWaitMs: expected a number of milliseconds >= 0, got ${JSON.stringify(options.minStartWaitMs)}`,
    );
  }
  if (options.threads !== undefined && !['slice', 'frame', 'auto'].includes(options.threads)) {
    problems.push(`decode.threads: expected slice, frame or auto, got ${JSON.stringify(options.threads)}`);
  }
  if (
    options.padValue !== undefined &&
    (!Number.isInteger(options.padValue) || options.padValue < 0 || options.padValue > 255)
  ) {
    problems.push(`decode.padValue: expected an integer 0..255, got ${JSON.stringify(options.padValue)}`);
  }
  positiveInt('maxBytes', options.maxBytes);
  if (options.editSkip !== undefined && typeof options.editSkip !== 'boolean') {
    problems.push(`decode.editSkip: expected true or false, got ${JSON.stringify(options.editSkip)}`);
  }
  if (options.preprocess !== undefined && !PREPROCESS_MODES.includes(options.preprocess)) {
    problems.push(
      `decode.preprocess: expected ${PREPROCESS_MODES.map((mode) => `'${mode}'`).join(' or ')}, got ${JSON.stringify(options.preprocess)}`,
    );
  }
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems, { stage: 'decode' });
}

/** A stream description that the parts fill in as the index, then FFmpeg, say more. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };
