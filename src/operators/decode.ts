import { availableParallelism } from 'node:os';
import { Observable, type OperatorFunction, type Subscription } from 'rxjs';
import { ConfigError, DecodeError, codes, isFirstframeError } from '../core/errors.js';
import { safeSink, type EventSink } from '../core/events.js';
import {
  beamcoder,
  closeDecoder,
  closeDecoderOffThread,
  packetPayload,
  type Beamcoder,
} from '../media/beamcoder.js';
import { MoovPatchError, shiftChunkOffsets } from '../media/faststart.js';
import {
  LETTERBOX_PAD_VALUE,
  letterboxFilterSpec,
  letterboxGeometry,
  packGbrpPlanes,
  type LetterboxGeometry,
  type LetterboxedImage,
} from '../media/letterbox.js';
import type { ContainerLayout } from '../media/layout.js';
import { createLayoutSniffer, type LayoutDecision, type LayoutSniffer } from '../media/layout-sniffer.js';
import { scanTopLevelBoxes, type Mp4Box } from '../media/mp4-boxes.js';
import { checkMoof, checkMoov } from '../media/mp4-check.js';
import { MoofGate } from './decode/moof-gate.js';
import { MoovTail, type MoovTailState } from './decode/moov-tail.js';
import { demuxerStreamHeader, moovStreamHeaders, spsHeaders } from './decode/headers.js';
import { mp4StreamHeader } from '../media/mp4-header.js';
import { streamHeadFor, type StreamHead } from './decode/stream-head.js';
import type { StreamHeader } from './decode/stream-header.js';
import {
  firstFragmentSample,
  readVideoTrack,
  type SampleLocation,
  type VideoTrackIndex,
} from '../media/mp4-index.js';
import {
  isDecoderEntryPoint,
  isNonReferencePicture,
  nalFormat,
  packetSpsDimensions,
  type NalFormat,
} from '../media/nal.js';
import { nvdecSupport } from '../media/nvdec.js';
import type { PrefetchGate, PrefetchSlot } from './prefetch.js';
import type { ByteChunk, ResourceInfo } from '../sources/types.js';

export type { ContainerLayout } from '../media/layout.js';
export type { StreamHeader } from './decode/stream-header.js';

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
   * Leave undecoded the pictures `keepFrame` refuses that no other picture references (H.264 nal_ref_idc 0,
   * HEVC sub-layer non-reference): nothing the stride keeps is lost, and those frames are not emitted at all.
   * Needs a constant frame rate (frame numbers come from packet timestamps) and a pure `keepFrame`.
   */
  skipNonReference?: boolean;
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

/** Resolves in a later task of the event loop (after pending I/O and timers): where long work is cut. */
const nextTask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** How long FFmpeg may wait for bytes while the source is paused before the source is resumed. */
const STARVATION_MS = 20;
/** Packets an NVDEC decoder may take before its first frame; past this it is taken for broken. */
const NVDEC_FIRST_FRAME_PACKETS = 16;
/**
 * Packets whose frames may wait to be handled while the decoder goes on. Two keep the decoder busy through
 * a main-thread pause (a mark-compact, a conversion); each waiting 720p frame holds 1.4 MB of the
 * decoder's pool.
 */
const DECODES_AHEAD = 2;
/**
 * Most packets one decoder call takes. While the decoder is behind, the packets that arrived meanwhile go
 * in one call: the decoder thread then works through them without waiting for the main thread between
 * packets (it waited for about a quarter of the run, one packet per call, measured on the 720p bench clip).
 */
const DECODE_BATCH_PACKETS = 4;
const NO_FRAMES = { type: 'frames', frames: [], total_time: 0 } as unknown as Beamcoder.DecodedFrames;
/** Past this many bytes without frame 0's sample located and in, the MP4 index path gives way to FFmpeg. */
const INDEX_MAX_BYTES = 32 * 1024 * 1024;
/** FFmpeg's AV_INPUT_BUFFER_PADDING_SIZE: decoders may read this far past a packet's end. */
const PACKET_PADDING = 64;
const MP4_DEMUXER = 'mov,mp4,m4a,3gp,3g2,mj2';
/**
 * FFmpeg's demuxer descriptions by name, read once per process: `demuxers()` builds an object for every one
 * of FFmpeg's 351 demuxers (measured: 40–170 ms of main-thread time per call on the 2-core machine).
 */
let inputFormats: Record<string, Beamcoder.InputFormat> | undefined;
function inputFormat(bc: typeof Beamcoder, name: string | undefined): Beamcoder.InputFormat | undefined {
  if (name === undefined) return undefined;
  inputFormats ??= bc.demuxers();
  return inputFormats[name];
}
/** FFmpeg's demuxer for each layout the first bytes identify. */
const DEMUXER_BY_LAYOUT: Partial<Record<ContainerLayout, string>> = {
  faststart: MP4_DEMUXER,
  'moov-end': MP4_DEMUXER,
  fragmented: MP4_DEMUXER,
  mpegts: 'mpegts',
  matroska: 'matroska,webm',
};

function validate(options: DecodeOptions): void {
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
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems, { stage: 'decode' });
}

/** An FFmpeg rational as [num, den], or undefined when unset (0/0, 0/1). */
function rational(value: readonly number[] | undefined | null): readonly [number, number] | undefined {
  const num = value?.[0];
  const den = value?.[1];
  return num !== undefined && den !== undefined && num > 0 && den > 0 ? [num, den] : undefined;
}

function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  return Buffer.concat(chunks);
}

/** A short description of what bytes that FFmpeg refused look like, for the error message. */
function describeBytes(prefix: Uint8Array): string {
  const head = Buffer.from(prefix.subarray(0, 64)).toString('latin1');
  if (/^\s*<(!doctype|html|\?xml|head|body)/i.test(head)) return 'it looks like an HTML or XML page';
  if (/^\s*[{[]/.test(head)) return 'it looks like JSON';
  const printable = [...prefix.subarray(0, 32)].every(
    (byte) => byte === 9 || byte === 10 || byte === 13 || (byte >= 32 && byte < 127),
  );
  if (printable && prefix.byteLength > 0) return 'it looks like text';
  return 'its first bytes match no known container';
}

type Mode = 'sniffing' | 'direct' | 'moov-pending' | 'moov-ready';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The main stream's bytes from offset 0, kept until frame 0's sample is in; what the index said so far. */
interface IndexedFirstFrame {
  chunks: { offset: number; bytes: Uint8Array }[];
  /** End of the bytes held from offset 0 without a gap. */
  end: number;
  /** Where to look for the next top-level box header (faststart, fragmented). */
  scanFrom: number;
  /** The box or sample being waited for, once its header or location is known. */
  moov?: Mp4Box;
  moof?: Mp4Box;
  track?: VideoTrackIndex;
  sample?: SampleLocation;
  decoding: boolean;
  settle: () => void;
}

/**
 * Everything one subscription to {@link decode} owns: the governor that feeds FFmpeg, the demuxer,
 * decoder and filterer, and the state of the byte stream. `release()` frees all of it, on completion,
 * error and unsubscribe alike.
 */
class DecodeSession {
  private readonly bc = beamcoder();
  private readonly governor: ReturnType<(typeof Beamcoder)['governor']>;
  private readonly emitEvent: EventSink | undefined;
  private readonly imgSize: number;

  private active = true;
  private mode: Mode = 'sniffing';
  private upstream: Subscription | undefined;
  private tail: Subscription | undefined;
  private resource: ResourceInfo | undefined;
  private layout: ContainerLayout = 'other';

  private firstBytesSeen: Uint8Array | undefined;
  /** minStartBytes: since when the first bytes are held back, and whether minStartWaitMs has ended it. */
  private hold: { since: number; timer?: NodeJS.Timeout; timedOut: boolean; reported: boolean } | undefined;
  /** The first bytes, kept as they came until the layout is decided, then joined once. */
  private sniffed: Uint8Array[] = [];
  private sniffedBytes = 0;
  private sniffer: LayoutSniffer | undefined;
  private layoutDecision: LayoutDecision | undefined;
  /** The offset of the moov already checked (structure and limits) when the layout was decided. */
  private moovCheckedAt: number | undefined;
  /** Fragmented MP4: holds each moof from FFmpeg until it is whole and checked. */
  private moofGate: MoofGate | undefined;
  private pending: Uint8Array[] = [];
  private mdatStart = 0;
  private moovStart = 0;
  /** Main-stream bytes from the moov's offset on: the moov itself when the Range fetch cannot help. */
  private tailFromMain: MoovTail | undefined;
  private tailFetching = false;

  private writes: Promise<unknown> = Promise.resolve();
  /** End of the furthest packet the demuxer returned, in the bytes FFmpeg was fed. */
  private bytesConsumed = 0;
  private sourcePaused = false;
  /** FFmpeg is inside open or read, possibly waiting for bytes. */
  private demuxerWaiting = false;
  private starvationTimer: NodeJS.Timeout | undefined;
  private fedMemory: WeakRef<ArrayBuffer>[] = [];
  private bytesFed = 0;
  private offsetReached = 0;
  private inputEnded = false;
  /** Where the main response was closed because nothing after it is needed (moov-end: the moov). */
  private inputCutAt: number | undefined;
  private governorFinished = false;
  private sourceError: unknown;

  /** Frame 0 from the MP4 index while it is being prepared; FFmpeg's demuxer opens once it is settled. */
  private indexed: IndexedFirstFrame | undefined;
  private indexSettled: Promise<void> = Promise.resolve();
  /** MPEG-TS, Matroska: the head read for checkStream; FFmpeg's demuxer opens once it has told. */
  private head: { reader: StreamHead; settle: () => void } | undefined;
  private headSettled: Promise<void> = Promise.resolve();
  private firstFromIndex = false;

  private demuxerOpening = false;
  /** Settles once the demuxer's open has been called, or will never be. */
  private openCalled: Promise<void>;
  private markOpenCalled: () => void = () => undefined;
  private demuxer: Beamcoder.Demuxer | undefined;
  private decoder: Beamcoder.Decoder | undefined;
  /** Every decoder made and not yet closed: the main one, and those retired or used once beside it. */
  private readonly decoders = new Set<Beamcoder.Decoder>();
  /** Decoders fed packets made from JavaScript memory, closed on the main thread (see closeOwned). */
  private readonly closeOnMainThread = new WeakSet<Beamcoder.Decoder>();
  private softwareFallback: (() => Beamcoder.Decoder) | undefined;
  private nvdecPackets: Beamcoder.Packet[] | undefined;
  private videoIndex = -1;
  private stream: Mutable<VideoStreamInfo> | undefined;
  /** The demuxer's open or read in progress, the last decoder call queued, the filter call in progress. */
  private reading: Promise<unknown> = Promise.resolve();
  private decodeTail: Promise<unknown> = Promise.resolve();
  private filtering: Promise<unknown> = Promise.resolve();
  /** The frames of each decoder call are handled (converted, emitted) in order, after the previous ones. */
  private handledTail: Promise<void> = Promise.resolve();
  private handling: Promise<void>[] = [];
  private packetsSubmitted = 0;
  /** Packets for the decoder call that is queued but not started: later packets join it. */
  private waitingBatch: Beamcoder.Packet[] | undefined;
  /** `threads: 'auto'`: frame threads from the next entry point, once the stream has started. */
  private frameThreadsFrom: 'never' | 'next-entry' | 'switched' = 'never';
  private nal: NalFormat | undefined;

  private filterer: Promise<Beamcoder.Filterer> | undefined;
  private filterKey = '';
  private geometry: LetterboxGeometry | undefined;

  private framesDecoded = 0;
  private framesConverted = 0;
  /** Video packets the demuxer returned, and the last decoder error (for FF_ERR_NO_FRAMES). */
  private videoPackets = 0;
  private lastDecodeError: string | undefined;
  private corruptPackets = 0;
  /** Frames the decoder never produced (corrupt data it concealed by dropping), seen as timestamp gaps. */
  private framesLost = 0;
  /** Frames the decoder gave after a later one (corrupt data): not emitted. */
  private framesOutOfOrder = 0;
  /** Non-reference pictures left undecoded (skipNonReference), by frame number until numbering passes them. */
  private framesSkipped = 0;
  private skippedNumbers = new Set<number>();
  private skipper: { format: NalFormat; startTimestamp: number; frameDuration: number } | undefined;
  /** First-frame shortcut: 'pending' until the first video packet; then the pts of the frame it emitted. */
  private shortcut: 'pending' | 'done' | number = 'pending';
  private startTimestamp: number | undefined;
  private nextFrameNumber = 0;
  private firstTimestamp: number | undefined;
  private frameDuration: number | undefined;

  constructor(
    private readonly options: DecodeOptions,
    private readonly subscriber: import('rxjs').Subscriber<DecodedFrame>,
  ) {
    // A deep queue: writes never block a libuv thread in practice; memory is bounded upstream.
    this.governor = this.bc.governor({ highWaterMark: 1024 });
    this.openCalled = new Promise<void>((resolve) => (this.markOpenCalled = resolve));
    this.emitEvent = safeSink(options.onEvent);
    this.imgSize = options.imgSize ?? 640;
  }

  private emit(name: string, data: Record<string, unknown> = {}): void {
    this.emitEvent?.({ stage: 'decode', name, at: performance.now(), data });
  }

  start(source: Observable<ByteChunk>): void {
    this.upstream = source.subscribe({
      next: (chunk) => this.onChunk(chunk),
      error: (error: unknown) => {
        this.sourceError = error;
        this.endInput();
      },
      complete: () => this.endInput(),
    });
    // A source that delivered synchronously may already be done with (endAtMoov).
    if (this.inputCutAt !== undefined) this.upstream.unsubscribe();
  }

  // ---- bytes in -------------------------------------------------------------------------------------

  private onChunk(chunk: ByteChunk): void {
    if (!this.active) return;
    this.resource ??= chunk.resource;
    if (chunk.offset === 0) this.firstBytesSeen ??= chunk.bytes.subarray(0, 64);
    const end = chunk.offset + chunk.bytes.byteLength;
    if (end > this.offsetReached) this.offsetReached = end;
    switch (this.mode) {
      case 'sniffing':
        this.sniffed.push(chunk.bytes);
        this.sniffedBytes += chunk.bytes.byteLength;
        this.sniffer ??= createLayoutSniffer(
          chunk.resource.totalBytes !== undefined ? { fileSize: chunk.resource.totalBytes } : {},
        );
        try {
          this.layoutDecision ??= this.sniffer.push(chunk.bytes);
        } catch (error) {
          this.fail(this.located(error));
          return;
        }
        this.hold ??= this.startHolding();
        this.sniff();
        return;
      case 'direct':
        if (this.head) this.readHead(chunk.bytes);
        this.feedChecked(chunk.bytes);
        break;
      case 'moov-pending':
      case 'moov-ready':
        this.routeMdat(chunk.bytes, chunk.offset);
        break;
    }
    if (this.indexed) this.holdForIndex(chunk.offset, chunk.bytes);
    this.endAtMoov();
  }

  /**
   * moov-end, once the moov is in hand: what the main response has left after mdat is that same moov,
   * which nothing needs, so the response is closed there instead of read (and charged to the run's byte
   * budget) a second time.
   */
  private endAtMoov(): void {
    if (this.mode !== 'moov-ready' || this.inputEnded || this.offsetReached < this.moovStart) return;
    // Already at the end of the file: the response ends by itself, keeping its connection.
    const total = this.resource?.totalBytes;
    if (total !== undefined && this.offsetReached >= total) return;
    this.inputCutAt = this.moovStart;
    this.emit('input-cut', { offset: this.moovStart, offsetReached: this.offsetReached });
    this.upstream?.unsubscribe();
    this.endInput();
  }

  /** From the first byte on, minStartBytes are held back from FFmpeg for at most minStartWaitMs. */
  private startHolding(): NonNullable<DecodeSession['hold']> {
    const hold: NonNullable<DecodeSession['hold']> = {
      since: performance.now(),
      timedOut: false,
      reported: false,
    };
    const wait = this.options.minStartWaitMs;
    if (!this.options.minStartBytes || wait === undefined) return hold;
    if (wait === 0) {
      hold.timedOut = true;
      return hold;
    }
    hold.timer = setTimeout(() => {
      hold.timedOut = true;
      if (this.active && this.mode === 'sniffing') this.sniff();
    }, wait);
    hold.timer.unref();
    return hold;
  }

  /** Decides the layout from the first bytes: MP4 box order, or another container's magic. */
  private sniff(): void {
    const minStartBytes = this.options.minStartBytes ?? 0;
    const hold = this.hold;
    const enough = this.sniffedBytes >= minStartBytes || this.inputEnded || hold?.timedOut === true;
    if (!enough || (this.sniffedBytes < 8 && !this.inputEnded)) return;
    if (minStartBytes > 0 && hold && !hold.reported) {
      hold.reported = true;
      clearTimeout(hold.timer);
      this.emit('start-hold-over', {
        reason: this.sniffedBytes >= minStartBytes ? 'bytes' : this.inputEnded ? 'input-end' : 'timeout',
        bytesHeld: this.sniffedBytes,
        heldMs: performance.now() - hold.since,
      });
    }
    // The sniffer walks box headers as chunks come (linear in the bytes); the chunks are joined once, here.
    let sniffed: LayoutDecision | undefined;
    try {
      sniffed = this.layoutDecision ?? (this.inputEnded ? this.sniffer?.end() : undefined);
    } catch (error) {
      this.fail(this.located(error));
      return;
    }
    if (!sniffed && !this.inputEnded) return;
    const prefix = concatBytes(this.sniffed);
    this.emit('sniffed', {
      bytesSeen: this.sniffedBytes,
      // What the sniffer copied (headers), and the one join of the held chunks.
      bytesCopied: (this.sniffer?.bytesCopied ?? 0) + (this.sniffed.length > 1 ? prefix.byteLength : 0),
    });
    this.sniffed = [];
    if (!sniffed) {
      // Only ftyp (or free space) in the whole input.
      this.goDirect(prefix);
      return;
    }
    this.layout = sniffed.layout;
    if (sniffed.mdat) this.startMoovFetch(prefix, sniffed.mdat);
    else this.goDirect(prefix, sniffed.moov);
  }

  /** `moov`: the moov box the sniffer saw whole in `prefix` (faststart, fragmented), checked here first. */
  private goDirect(prefix: Uint8Array, moov?: Mp4Box): void {
    this.mode = 'direct';
    this.emit('layout', { layout: this.layout });
    this.sniffed = [];
    if (moov?.complete) {
      if (!this.moovAccepted(prefix.subarray(moov.offset, moov.offset + moov.size), moov.offset)) return;
      this.moovCheckedAt = moov.offset;
    }
    if (this.layout === 'fragmented') {
      const total = this.resource?.totalBytes;
      this.moofGate = new MoofGate(total, INDEX_MAX_BYTES);
    }
    if (this.layout === 'faststart' || this.layout === 'fragmented') this.startIndexed(prefix);
    this.startHead(prefix);
    // Decided only at the end of the input (a moov cut off): frame 0 will never be in.
    if (this.inputEnded && this.indexed && !this.indexed.decoding) {
      this.indexSkipped('the input ended before frame 0 was in');
    }
    this.feedChecked(prefix);
    if (this.inputEnded) this.finishGovernor();
  }

  /**
   * MPEG-TS and Matroska: the picture size (and Matroska's duration) read from the stream's first bytes
   * and checked before FFmpeg's open, which decodes a frame at whatever size the SPS says. The open waits
   * for it; the first kilobytes tell (the first PES, the Tracks element).
   */
  private startHead(prefix: Uint8Array): void {
    const reader = this.options.checkStream ? streamHeadFor(this.layout) : undefined;
    if (!reader) return;
    let settle!: () => void;
    this.headSettled = new Promise<void>((resolve) => (settle = resolve));
    this.head = { reader, settle };
    this.readHead(prefix);
    if (this.inputEnded) this.headDone();
  }

  private readHead(bytes: Uint8Array): void {
    const result = this.head?.reader.push(bytes);
    if (!result) return;
    if (result.kind === 'none') this.emit('head-skipped', { reason: result.reason });
    else if (!this.headersAccepted(result.headers)) return;
    this.headDone();
  }

  private headDone(): void {
    const head = this.head;
    this.head = undefined;
    head?.settle();
  }

  /** Feeds FFmpeg, through the moof gate for a fragmented file (each moof whole and checked first). */
  private feedChecked(bytes: Uint8Array): void {
    const gate = this.moofGate;
    if (!gate) {
      this.feed(bytes);
      return;
    }
    let parts: Uint8Array[];
    try {
      parts = gate.push(bytes);
    } catch (error) {
      this.fail(this.located(error));
      return;
    }
    for (const part of parts) this.feed(part);
  }

  /**
   * moov after mdat: FFmpeg would have to seek back, which a stream cannot. Fetch the moov with a Range
   * request while this response keeps streaming mdat, and feed FFmpeg the faststart equivalent:
   * [boxes before mdat][moov, offsets shifted by its size][mdat…].
   */
  private startMoovFetch(prefix: Uint8Array, mdat: Mp4Box): void {
    this.mode = 'moov-pending';
    this.emit('layout', { layout: this.layout, mdatOffset: mdat.offset, mdatSize: mdat.size });
    if (mdat.toEndOfFile) {
      this.fail(
        new DecodeError(
          codes.decode.moovMissing,
          `${this.where()}: mdat at byte ${mdat.offset} runs to the end of the file and no moov came before it`,
          {
            url: this.resource?.url,
            offset: mdat.offset,
          },
        ),
      );
      return;
    }
    this.mdatStart = mdat.offset;
    this.moovStart = mdat.offset + mdat.size;
    this.tailFromMain = new MoovTail(this.moovStart, INDEX_MAX_BYTES);
    this.sniffed = [];
    this.startIndexed(prefix);
    this.feed(prefix.subarray(0, mdat.offset));
    this.routeMdat(prefix.subarray(mdat.offset), mdat.offset);
    const fetchRange = this.resource?.fetchRange;
    const startedAt = performance.now();
    this.emit('moov-fetch', { offset: this.moovStart });
    if (!fetchRange) return;
    this.tailFetching = true;
    // The Range response is read only up to the moov's declared end (or refused from its header): a
    // server answering with endless bytes costs the moov's size and one chunk; the run's byte budget,
    // charged by the source, bounds it too.
    const fromRange = new MoovTail(this.moovStart, INDEX_MAX_BYTES);
    this.tail = fetchRange({ start: this.moovStart }).subscribe({
      next: (chunk) => {
        if (!this.tailFetching) {
          // Bytes past the moov (or past a refusal): nothing more is read.
          this.tail?.unsubscribe();
          return;
        }
        const state = fromRange.push(chunk.bytes);
        if (state.kind === 'more') return;
        // An honest server's response ends right here: it keeps its connection. One that sends more is
        // cut off at its next chunk (above), and one that goes quiet at the end of the session.
        this.tailFetching = false;
        this.onTail(state, startedAt, 'the Range response');
      },
      error: (error: unknown) => {
        this.tailFetching = false;
        if (isFirstframeError(error) && error.code === codes.source.rangeIgnored) {
          // The server cannot serve ranges: wait for the moov at the end of this very response.
          this.emit('moov-fetch-fallback', { reason: error.code });
          this.moovFromMain(startedAt);
          return;
        }
        this.fail(error);
      },
      complete: () => {
        if (!this.tailFetching) return;
        this.tailFetching = false;
        this.onTail(fromRange.end(), startedAt, 'the Range response');
      },
    });
  }

  /** The moov from the main response's own tail, once it is whole or the response has ended. */
  private moovFromMain(startedAt: number): void {
    const tail = this.tailFromMain;
    if (!tail || this.tailFetching || this.mode !== 'moov-pending') return;
    const state = this.inputEnded ? tail.end() : tail.push(new Uint8Array(0));
    if (state.kind !== 'more') this.onTail(state, startedAt, 'the response');
  }

  /** Routes main-stream bytes at `offset` while in a moov-end layout: mdat to FFmpeg, the rest aside. */
  private routeMdat(bytes: Uint8Array, offset: number): void {
    const end = offset + bytes.byteLength;
    const mdatPart = bytes.subarray(0, Math.max(0, Math.min(end, this.moovStart) - offset));
    if (mdatPart.byteLength > 0) {
      if (this.mode === 'moov-ready') this.feed(mdatPart);
      else this.pending.push(mdatPart);
    }
    if (end > this.moovStart && this.tailFromMain) {
      const state = this.tailFromMain.push(bytes.subarray(Math.max(0, this.moovStart - offset)));
      // The moov came whole with this response before the Range fetch decided: no need to wait for it.
      if (state.kind === 'moov' && this.mode === 'moov-pending') {
        this.tailFetching = false;
        this.tail?.unsubscribe();
        this.onTail(state, performance.now(), 'the response');
      }
    }
  }

  private onTail(tail: MoovTailState, startedAt: number, from: string): void {
    if (!this.active || this.mode !== 'moov-pending' || tail.kind === 'more') return;
    if (tail.kind === 'refused') {
      this.fail(
        new DecodeError(
          tail.invalid ? codes.decode.moovInvalid : codes.decode.moovMissing,
          `${this.where()}: ${from}: ${tail.reason}`,
          {
            url: this.resource?.url,
            offset: this.moovStart,
          },
        ),
      );
      return;
    }
    const moov = tail.box;
    const moovBytes = tail.bytes;
    if (!this.moovAccepted(moovBytes, moov.offset)) return;
    let patched;
    try {
      patched = shiftChunkOffsets(moovBytes, moov.size);
    } catch (error) {
      const reason = error instanceof MoovPatchError ? error.message : String(error);
      this.fail(
        new DecodeError(
          codes.decode.moovInvalid,
          `${this.where()}: the moov box at byte ${moov.offset} is malformed: ${reason}`,
          {
            url: this.resource?.url,
            offset: moov.offset,
          },
        ),
      );
      return;
    }
    this.emit('moov', {
      offset: moov.offset,
      bytes: moov.size,
      ms: performance.now() - startedAt,
      chunkOffsetTables: patched.tables,
      chunkOffsets: patched.entries,
    });
    this.mode = 'moov-ready';
    if (this.indexed) {
      this.indexed.moov = moov;
      this.indexTrack(moovBytes);
    }
    this.feed(patched.moov);
    for (const bytes of this.pending) this.feed(bytes);
    this.pending = [];
    if (this.inputEnded) this.finishGovernor();
    else this.endAtMoov();
  }

  // ---- headers checked before anything is decoded -------------------------------------------------------

  /** Hands what headers say to checkStream; false (and the session failed) when a limit refuses it. */
  private headersAccepted(headers: readonly StreamHeader[]): boolean {
    const check = this.options.checkStream;
    if (!check || !this.active) return this.active;
    try {
      for (const header of headers) check(header);
      return true;
    } catch (error) {
      this.emit('header-refused', { headers, code: isFirstframeError(error) ? error.code : undefined });
      this.fail(error);
      return false;
    }
  }

  /**
   * An SPS travelling in a packet (MPEG-TS, Matroska, avc3/hev1) may announce a larger picture than the
   * stream began with: checked before the decoder sees it. Length-prefixed packets cost a walk of their
   * NAL lengths; Annex B packets a scan of their bytes, so only those marked key (where encoders put the
   * SPS) are scanned.
   */
  private packetSpsAccepted(packet: Beamcoder.Packet): boolean {
    const format = this.nal;
    const stream = this.stream;
    if (!format || !stream || !this.options.checkStream) return true;
    if (format.kind === 'annex-b' && !packet.flags?.KEY) return true;
    const sps = packetSpsDimensions(stream.codec, packetPayload(packet), format);
    return !sps || this.headersAccepted(spsHeaders(sps, `the SPS in video packet ${this.videoPackets}`));
  }

  /**
   * A whole moov, before FFmpeg or any decoder sees it: its structure (every size, count and offset
   * bounded by what holds it and by the file), then the size and duration it states.
   */
  private moovAccepted(moov: Uint8Array, offset: number): boolean {
    const total = this.resource?.totalBytes;
    const problem = checkMoov(moov, { offset, ...(total !== undefined ? { fileSize: total } : {}) });
    if (problem) {
      this.fail(this.located(problem));
      return false;
    }
    return this.headersAccepted(moovStreamHeaders(moov));
  }

  // ---- frame 0 from the MP4 index ----------------------------------------------------------------------

  /**
   * Decodes frame 0 of an MP4 from its index, the moment its bytes are in: the moov (and for a fragmented
   * file the first moof) says where the first video sample lies, with the decoder's configuration and the
   * timestamp FFmpeg will give it (src/media/mp4-index.ts). FFmpeg's own open needs that same sample and
   * decodes it once while probing, which put its open after frame 0's bytes (measured on the 720p bench
   * clip: open 17 ms after them, frame 0 decoded another 16 ms later). Until this is settled (frame 0 out,
   * or given up with an `index-skipped` event) the main stream's bytes are kept from offset 0 and FFmpeg's
   * demuxer waits; the main decoder's own copy of frame 0 is dropped later, as with the first-frame shortcut.
   */
  private startIndexed(prefix: Uint8Array): void {
    if (this.options.nvdec || this.indexed) return;
    let settle!: () => void;
    this.indexSettled = new Promise<void>((resolve) => (settle = resolve));
    this.indexed = { chunks: [], end: 0, scanFrom: 0, decoding: false, settle };
    this.holdForIndex(0, prefix);
  }

  private holdForIndex(offset: number, bytes: Uint8Array): void {
    const indexed = this.indexed;
    if (!indexed || indexed.decoding || bytes.byteLength === 0) return;
    if (offset !== indexed.end) {
      this.indexSkipped(`bytes at offset ${offset} came while those from ${indexed.end} were awaited`);
      return;
    }
    indexed.chunks.push({ offset, bytes });
    indexed.end += bytes.byteLength;
    if (indexed.end > INDEX_MAX_BYTES) {
      this.indexSkipped(`frame 0 was not in within the first ${INDEX_MAX_BYTES} bytes`);
      return;
    }
    this.advanceIndex();
  }

  /** The held bytes [start, end) in one array (a view when one chunk holds them all). */
  private heldBytes(start: number, end: number): Uint8Array {
    const parts: Uint8Array[] = [];
    for (const chunk of this.indexed?.chunks ?? []) {
      const from = Math.max(start, chunk.offset);
      const to = Math.min(end, chunk.offset + chunk.bytes.byteLength);
      if (from < to) parts.push(chunk.bytes.subarray(from - chunk.offset, to - chunk.offset));
    }
    return parts.length === 0 ? new Uint8Array(0) : concatBytes(parts);
  }

  /** The next top-level box of `type` once its header is held, skipping the boxes before it. */
  private topLevelBox(indexed: IndexedFirstFrame, type: string): Mp4Box | undefined {
    for (;;) {
      const header = this.heldBytes(indexed.scanFrom, Math.min(indexed.end, indexed.scanFrom + 16));
      const [box] = scanTopLevelBoxes(header, indexed.scanFrom);
      if (!box) {
        if (header.byteLength === 16) this.indexSkipped(`no box at offset ${indexed.scanFrom}`);
        return undefined;
      }
      if (box.type === type) return box;
      if (box.type === 'mdat' || box.toEndOfFile) {
        this.indexSkipped(`${box.type} at offset ${box.offset} before the ${type}`);
        return undefined;
      }
      indexed.scanFrom = box.offset + box.size;
    }
  }

  private advanceIndex(): void {
    const indexed = this.indexed;
    if (!indexed || indexed.decoding || !this.active) return;
    if (!indexed.track) {
      // moov-end: the moov comes from the Range request (onTail).
      if (this.layout === 'moov-end') return;
      const moov = indexed.moov ?? this.topLevelBox(indexed, 'moov');
      if (!moov) return;
      indexed.moov = moov;
      if (indexed.end < moov.offset + moov.size) return;
      const moovBytes = this.heldBytes(moov.offset, moov.offset + moov.size);
      if (this.moovCheckedAt !== moov.offset && !this.moovAccepted(moovBytes, moov.offset)) return;
      this.indexTrack(moovBytes);
      return;
    }
    const track = indexed.track;
    if (!indexed.sample) {
      if (track.first) {
        indexed.sample = track.first;
      } else {
        const moof = indexed.moof ?? this.topLevelBox(indexed, 'moof');
        if (!moof) return;
        indexed.moof = moof;
        if (indexed.end < moof.offset + moof.size) return;
        const moofBytes = this.heldBytes(moof.offset, moof.offset + moof.size);
        const total = this.resource?.totalBytes;
        const problem = checkMoof(moofBytes, {
          offset: moof.offset,
          ...(total !== undefined ? { fileSize: total } : {}),
        });
        if (problem) {
          this.fail(this.located(problem));
          return;
        }
        const sample = firstFragmentSample(track, moofBytes, moof.offset);
        if (typeof sample === 'string') {
          this.indexSkipped(sample);
          return;
        }
        indexed.sample = sample;
        if (this.stream && this.stream.fps === undefined && sample.duration > 0) {
          this.stream.fps = track.timescale / sample.duration;
        }
      }
      const { offset, size, pts } = indexed.sample;
      this.emit('index', { offset, size, pts, fragmented: track.fragmented });
    }
    const sample = indexed.sample;
    if (indexed.end < sample.offset + sample.size) {
      if (this.inputEnded) this.indexSkipped('the input ended before frame 0 was in');
      return;
    }
    this.decodeFromIndex(track, sample, this.heldBytes(sample.offset, sample.offset + sample.size));
  }

  /** Reads the moov's first video track; frame 0's stream description comes from it until FFmpeg opens. */
  private indexTrack(moov: Uint8Array): void {
    const indexed = this.indexed;
    if (!indexed) return;
    const track = readVideoTrack(moov);
    if (typeof track === 'string') {
      this.indexSkipped(track);
      return;
    }
    indexed.track = track;
    if (indexed.moov) indexed.scanFrom = Math.max(indexed.scanFrom, indexed.moov.offset + indexed.moov.size);
    this.stream = {
      layout: this.layout,
      container: MP4_DEMUXER,
      codec: track.codec,
      decoder: track.codec,
      width: track.width,
      height: track.height,
      fps: track.fps,
      timeBase: [1, track.timescale],
      frameCount: indexFrameCount(moov, track.fps),
    };
    // Built while frame 0's bytes are still on their way; a failure surfaces at the first convert.
    if (track.pixelFormat)
      this.filtererFor(track.width, track.height, track.pixelFormat).catch(() => undefined);
    this.advanceIndex();
  }

  private decodeFromIndex(track: VideoTrackIndex, sample: SampleLocation, bytes: Uint8Array): void {
    const indexed = this.indexed!;
    indexed.decoding = true;
    indexed.chunks = [];
    // Properties one by one after creation, as for NVDEC (see createDecoder).
    const decoder = this.ownDecoder({ name: track.codec });
    const settings = decoder as unknown as Record<string, unknown>;
    settings.extradata = Buffer.from(track.extradata);
    settings.width = track.width;
    settings.height = track.height;
    const data = Buffer.alloc(sample.size + PACKET_PADDING);
    data.set(bytes);
    // The size given explicitly: beamcoder's data setter leaves it at 0, and a packet with data but no size
    // makes its decode spin (see readLoop).
    const packet = this.bc.packet({
      data,
      size: sample.size,
      pts: sample.pts,
      dts: sample.dts,
      flags: { KEY: true },
    });
    this.closeOnMainThread.add(decoder);
    const decoding = decoder
      .decode(packet)
      .then(async (decoded) => [...decoded.frames, ...(await decoder.flush()).frames][0])
      .finally(() => {
        // beamcoder frees a Buffer it was given from whichever thread drops the last reference to it,
        // and only the main thread may: drop it here, now that the flushed decoder holds none.
        (packet as unknown as { data: null }).data = null;
        this.closeOwned(decoder);
      });
    this.decodeTail = decoding.catch(() => undefined);
    decoding.then(
      (frame) => this.emitFromIndex(frame, sample),
      (error: unknown) => this.indexSkipped(`decoding it failed: ${(error as Error).message ?? error}`),
    );
  }

  private async emitFromIndex(frame: Beamcoder.Frame | undefined, sample: SampleLocation): Promise<void> {
    if (!this.active || !this.indexed) return;
    const timestamp = frame ? (frame.best_effort_timestamp ?? frame.pts) : undefined;
    if (!frame || timestamp !== sample.pts) {
      this.indexSkipped(
        frame ? `its frame came with timestamp ${timestamp}` : 'the decoder gave no frame for it',
      );
      return;
    }
    this.shortcut = timestamp;
    this.firstFromIndex = true;
    try {
      await this.onFrame(frame);
    } catch (error) {
      this.failDemuxing(error);
    }
    this.indexDone();
  }

  private indexSkipped(reason: string): void {
    if (!this.indexed) return;
    this.emit('index-skipped', { reason });
    this.indexDone();
  }

  private indexDone(): void {
    const indexed = this.indexed;
    this.indexed = undefined;
    indexed?.settle();
  }

  private feed(bytes: Uint8Array): void {
    if (!this.active || bytes.byteLength === 0) return;
    this.bytesFed += bytes.byteLength;
    // beamcoder's governor pins every Buffer written to it with a reference that only a later demuxer
    // read releases: chunks still queued when decoding stops, or fed to an open that failed, would stay
    // pinned for the life of the process (measured: +82 KB per cancelled run of an 82 KB clip). So FFmpeg
    // gets copies in memory of our own, which release() empties once FFmpeg can no longer touch them.
    // The copy is made when the write before it is done, in the task that write's completion runs in:
    // many chunks fed at once (the mdat held back while the moov was fetched) are copied one per task.
    this.applyBackpressure();
    this.writes = this.writes
      .then(() => {
        if (!this.active) return undefined;
        const copy = new Uint8Array(bytes.byteLength);
        copy.set(bytes);
        this.fedMemory.push(new WeakRef(copy.buffer));
        return this.governor.write(Buffer.from(copy.buffer));
      })
      .catch(() => undefined);
    if (!this.demuxerOpening) {
      this.demuxerOpening = true;
      // Open once the first bytes are queued (FFmpeg's open blocks a libuv thread until they are there),
      // and once frame 0 from the MP4 index is out or given up: FFmpeg's open decodes that sample too, and
      // would take the core frame 0 is being decoded on.
      void Promise.all([this.writes, this.indexSettled, this.headSettled]).then(() => this.openDemuxer());
    }
  }

  /**
   * Pauses the source while too many fed bytes wait for the demuxer, and resumes it at half. "Fed minus
   * demuxed" cannot see that FFmpeg is in the middle of a packet larger than what it was given, so while
   * paused a watchdog resumes the source as soon as FFmpeg has waited for bytes for a while: the bound then
   * only ever holds back a decoder that is busy, or blocked by the prefetch gate.
   */
  private applyBackpressure(): void {
    const limit = this.options.maxQueuedBytes ?? 8 * 1024 * 1024;
    const queued = this.bytesFed - this.bytesConsumed;
    if (!this.sourcePaused && queued > limit && this.resource?.pause) {
      this.sourcePaused = true;
      this.resource.pause();
      this.emit('source-paused', { queuedBytes: queued, bytesFed: this.bytesFed });
      this.watchStarvation();
    } else if (this.sourcePaused && queued <= limit / 2) {
      this.resumeSource('caught up', queued);
    }
  }

  private resumeSource(reason: string, queued = this.bytesFed - this.bytesConsumed): void {
    if (!this.sourcePaused) return;
    this.sourcePaused = false;
    clearTimeout(this.starvationTimer);
    // Reported first: resuming may deliver bytes (and pause again) before resume() returns.
    this.emit('source-resumed', { reason, queuedBytes: queued, bytesFed: this.bytesFed });
    this.resource?.resume?.();
  }

  private watchStarvation(): void {
    clearTimeout(this.starvationTimer);
    this.starvationTimer = setTimeout(() => {
      if (!this.active || !this.sourcePaused) return;
      if (this.demuxerWaiting) this.resumeSource('demuxer waiting for bytes');
      else this.watchStarvation();
    }, STARVATION_MS);
    this.starvationTimer.unref();
  }

  private endInput(): void {
    if (!this.active || this.inputEnded) return;
    this.inputEnded = true;
    if (this.indexed && !this.indexed.decoding && this.layout !== 'moov-end') {
      this.indexSkipped('the input ended before frame 0 was in');
    }
    this.headDone();
    this.emit('input-end', {
      bytes: this.offsetReached,
      error: this.sourceError ? String((this.sourceError as Error).message ?? this.sourceError) : undefined,
    });
    switch (this.mode) {
      case 'sniffing': {
        if (this.sniffedBytes === 0) {
          this.fail(
            this.sourceError ??
              new DecodeError(
                codes.decode.noData,
                `${this.where()}: the source ended before any byte arrived`,
                { url: this.resource?.url },
              ),
          );
          return;
        }
        this.sniff();
        if (this.mode === 'sniffing' && this.active) this.goDirect(concatBytes(this.sniffed));
        return;
      }
      case 'moov-pending':
        // The fetch is still running: its answer decides (a moov this response brought was taken already).
        this.moovFromMain(performance.now());
        return;
      default:
        this.finishGovernor();
    }
  }

  private finishGovernor(): void {
    if (this.governorFinished) return;
    this.governorFinished = true;
    // After the queued writes: FFmpeg then reads to the end of what it got and sees EOF. And after the
    // demuxer's open has been called: beamcoder 0.7.1 crashes (a NULL format context read in
    // demuxerComplete) when an open that starts on an already finished governor fails, e.g. on a cut-off
    // moov (measured: every time, 300 of 300 attempts; never with the open called first).
    void Promise.all([this.writes, this.openCalled]).then(() => this.governor.finish());
  }

  // ---- FFmpeg ---------------------------------------------------------------------------------------

  private openDemuxer(): void {
    this.markOpenCalled();
    if (!this.active) return;
    const startedAt = performance.now();
    // Naming the input format we already recognised skips FFmpeg's format probe, which for MPEG-TS
    // reads far past the first frame (measured: 36 KB instead of the whole 110 KB test clip).
    const iformat = inputFormat(this.bc, DEMUXER_BY_LAYOUT[this.layout]);
    this.demuxerWaiting = true;
    const opening = this.bc.demuxer({
      governor: this.governor,
      ...(iformat ? { iformat } : {}),
      // analyzeduration 0 would mean FFmpeg's default (5 s, 7 s for MPEG-TS): 1 µs is the real minimum.
      options: { probesize: this.options.probeSize ?? 32, analyzeduration: 1, fpsprobesize: 0 },
    } as unknown as Beamcoder.DemuxerCreateOptions);
    this.reading = opening.catch(() => undefined);
    void this.reading.then(() => (this.demuxerWaiting = false));
    opening.then(
      (demuxer) => {
        if (!this.active) {
          setImmediate(() => demuxer.forceClose());
          return;
        }
        // beamcoder's demuxer keeps only a raw pointer to the governor's native queue, and the governor's
        // finalizer deletes that queue: were the governor collected while the demuxer lives (this session
        // dropped without release, a demuxer kept by a caller), FFmpeg's next read would use freed memory.
        // A JS reference from the demuxer makes the governor live exactly as long as its reader.
        Object.defineProperty(demuxer, 'firstframeGovernor', { value: this.governor });
        this.demuxer = demuxer;
        this.onOpen(demuxer, startedAt);
      },
      (error: unknown) => {
        if (!this.active) return;
        const prefix = this.firstBytesSeen ?? new Uint8Array(0);
        this.fail(
          this.sourceError ??
            new DecodeError(
              codes.decode.notAVideo,
              `${this.where()}: FFmpeg could not open the bytes as a video after ${this.bytesFed} bytes (${describeBytes(prefix)}): ${(error as Error).message ?? error}`,
              { url: this.resource?.url, bytes: this.bytesFed },
              { cause: error },
            ),
        );
      },
    );
  }

  private onOpen(demuxer: Beamcoder.Demuxer, startedAt: number): void {
    const streams = demuxer.streams;
    this.videoIndex = streams.findIndex((stream) => stream.codecpar.codec_type === 'video');
    if (this.videoIndex < 0) {
      this.fail(
        new DecodeError(
          codes.decode.noVideoStream,
          `${this.where()}: no video stream (found ${streams.map((s) => `${s.codecpar.codec_type}:${s.codecpar.name}`).join(', ') || 'no streams'})`,
          { url: this.resource?.url },
        ),
      );
      return;
    }
    // Audio and data streams are skipped by the demuxer itself: their packets are never even returned.
    streams.forEach((stream, index) => {
      if (index !== this.videoIndex) stream.discard = 'all';
    });
    const video = streams[this.videoIndex]!;
    const container = (demuxer as unknown as { iformat?: { name?: string } }).iformat?.name ?? 'unknown';
    if (!this.headersAccepted([demuxerStreamHeader(demuxer, video, container)])) return;
    const codec = video.codecpar.name;
    const tag = (video.codecpar as unknown as { codec_tag?: unknown }).codec_tag;
    try {
      this.decoder = this.createDecoder(demuxer, codec);
    } catch (error) {
      this.fail(
        new DecodeError(
          codes.decode.unsupportedCodec,
          `${this.where()}: no decoder for codec ${codec}${typeof tag === 'string' && tag.trim() ? ` (tag ${JSON.stringify(tag)})` : ''}: ${(error as Error).message}`,
          {
            url: this.resource?.url,
            codec,
            tag,
          },
        ),
      );
      return;
    }
    const average = rational(video.avg_frame_rate);
    const real = rational(video.r_frame_rate);
    const rate = average ?? real;
    const fps = rate ? rate[0] / rate[1] : undefined;
    const timeBase = rational(video.time_base) ?? ([1, 1] as const);
    // Constant frame rate (average = real, or only the real rate known, as MPEG-TS without probing says):
    // frame numbers can be checked against timestamps.
    if (fps !== undefined && real && (!average || average[0] * real[1] === real[0] * average[1])) {
      this.frameDuration = timeBase[1] / (timeBase[0] * fps);
    }
    const info: VideoStreamInfo = {
      layout: this.layout,
      container,
      codec,
      decoder: this.decoder.name,
      width: video.codecpar.width,
      height: video.codecpar.height,
      fps,
      timeBase,
    };
    // Frame 0 from the MP4 index went out with what the index said: the shared description becomes FFmpeg's.
    this.stream = this.stream ? Object.assign(this.stream, info) : { ...info };
    this.emit('open', { ms: performance.now() - startedAt, bytesFed: this.bytesFed, ...this.stream });
    this.nal = nalFormat(codec, video.codecpar.extradata);
    if (this.autoThreads() && !this.nvdecPackets) this.frameThreadsFrom = 'next-entry';
    if (this.options.skipNonReference) this.enableSkipping(video, codec);
    const format = video.codecpar.format;
    if (typeof format === 'string' && !this.options.nvdec) {
      // Built now, while FFmpeg waits for the first frame's bytes; a failure surfaces at the first convert.
      this.filtererFor(video.codecpar.width, video.codecpar.height, format).catch(() => undefined);
    }
    this.startTimestamp = typeof video.start_time === 'number' ? video.start_time : undefined;
    void this.readLoop();
  }

  private enableSkipping(video: Beamcoder.Stream, codec: string): void {
    const format = nalFormat(codec, video.codecpar.extradata);
    const startTimestamp = video.start_time;
    const why = !this.options.keepFrame
      ? 'no keepFrame: every frame is wanted'
      : !format
        ? `codec ${codec} has no reference marks firstframe reads (H.264 and HEVC only)`
        : !this.frameDuration
          ? 'the frame rate is not constant, so packet timestamps cannot give frame numbers'
          : typeof startTimestamp !== 'number'
            ? 'the stream has no start time'
            : undefined;
    if (why || !format || !this.frameDuration || typeof startTimestamp !== 'number') {
      this.emit('skip-disabled', { reason: why });
      return;
    }
    this.skipper = { format, startTimestamp, frameDuration: this.frameDuration };
  }

  /** Whether this packet is a picture nobody wants and nobody references. */
  private skippable(packet: Beamcoder.Packet): boolean {
    const skipper = this.skipper;
    if (!skipper || packet.pts === null || packet.pts === undefined || packet.flags?.DISCARD) return false;
    const frameNumber = Math.round((packet.pts - skipper.startTimestamp) / skipper.frameDuration);
    if (frameNumber < 0 || this.options.keepFrame!(frameNumber)) return false;
    if (!isNonReferencePicture(this.stream!.codec, packetPayload(packet), skipper.format)) return false;
    this.skippedNumbers.add(frameNumber);
    this.framesSkipped += 1;
    return true;
  }

  /** `threads: 'auto'` with more than one thread to give frames to. */
  private autoThreads(): boolean {
    return (this.options.threads ?? 'auto') === 'auto' && this.threadCount() > 1;
  }

  /** The decoder threads FFmpeg runs: threadCount, or for 0 what FFmpeg 5.1 chooses (cores + 1, at most 16). */
  private threadCount(): number {
    const cores = availableParallelism();
    return this.options.threadCount || (cores > 1 ? Math.min(cores + 1, 16) : 1);
  }

  /** The decoder threading the stream starts with; `auto` starts with slice threads. */
  private initialThreads(): 'slice' | 'frame' {
    return this.options.threads === 'frame' ? 'frame' : 'slice';
  }

  // ---- decoders' lifetimes -----------------------------------------------------------------------------
  //
  // A decoder holds its threads and frame pool (tens of MB at 1080p) until closed, and V8 cannot see that
  // memory, so waiting for the collector let many pile up. Each one is closed as soon as nothing of its own
  // is queued any more, and release() closes the rest.

  private ownDecoder(options: Record<string, unknown>): Beamcoder.Decoder {
    const decoder = this.bc.decoder(
      options as unknown as { demuxer: Beamcoder.Demuxer; stream_index: number },
    );
    this.decoders.add(decoder);
    return decoder;
  }

  /**
   * Closes a decoder off the main thread: joining its threads took 17–406 ms on the loaded 2-core
   * machine, which must not land in any task of the event loop. A decoder given packets made from
   * JavaScript memory (closeOnMainThread) is closed on the main thread, in a task of its own: FFmpeg frees
   * such a packet's buffer from whichever thread drops the last reference, and only the main thread may.
   */
  private closeOwned(decoder: Beamcoder.Decoder): void {
    if (!this.decoders.delete(decoder)) return;
    if (this.closeOnMainThread.has(decoder)) setImmediate(() => closeDecoder(decoder));
    else void closeDecoderOffThread(decoder);
  }

  /** Closes a decoder that takes no more calls once the ones queued so far are done. */
  private retire(decoder: Beamcoder.Decoder): void {
    void this.decodeTail.then(() => this.closeOwned(decoder));
  }

  private softwareDecoder(demuxer: Beamcoder.Demuxer, threads: 'slice' | 'frame'): Beamcoder.Decoder {
    return this.ownDecoder({
      demuxer,
      stream_index: this.videoIndex,
      thread_count: this.options.threadCount ?? 0,
      thread_type: { FRAME: threads === 'frame', SLICE: threads === 'slice' },
    });
  }

  private createDecoder(demuxer: Beamcoder.Demuxer, codec: string): Beamcoder.Decoder {
    const software = () => this.softwareDecoder(demuxer, this.initialThreads());
    const nvdec = this.options.nvdec;
    if (!nvdec) return software();
    const support = nvdecSupport(codec);
    if (!support.available || !support.decoder) {
      this.emit('nvdec-unavailable', { reason: support.reason });
      return software();
    }
    // Properties are set one by one after creation: passing them to decoder() makes beamcoder free the
    // context twice when one of them is refused.
    const decoder = this.ownDecoder({ name: support.decoder });
    const params = demuxer.streams[this.videoIndex]!.codecpar;
    const hardware = decoder as unknown as Record<string, unknown>;
    hardware.width = params.width;
    hardware.height = params.height;
    hardware.extradata = params.extradata;
    if (typeof nvdec === 'object' && nvdec.outWidth && nvdec.outHeight) {
      hardware.priv_data = { resize: `${nvdec.outWidth}x${nvdec.outHeight}` };
    }
    this.softwareFallback = software;
    this.nvdecPackets = [];
    return decoder;
  }

  private async readLoop(): Promise<void> {
    const demuxer = this.demuxer!;
    try {
      for (;;) {
        if (!this.active) return;
        let packet: Beamcoder.Packet | null;
        try {
          const reading = demuxer.read();
          this.reading = reading.catch(() => undefined);
          this.demuxerWaiting = true;
          try {
            packet = await reading;
          } finally {
            this.demuxerWaiting = false;
          }
        } catch (error) {
          // Past the end of what arrived (a partial download), FFmpeg reports a cut sample as an error.
          if (this.inputEnded) break;
          throw error;
        }
        if (!this.active) return;
        if (!packet) break;
        if (packet.pos >= 0) {
          this.bytesConsumed = Math.max(this.bytesConsumed, packet.pos + packet.size);
          if (this.sourcePaused) this.applyBackpressure();
        }
        if (packet.stream_index !== this.videoIndex) continue;
        this.videoPackets += 1;
        // An empty packet must never reach beamcoder's decode: FFmpeg refuses data without a size
        // (EINVAL), and beamcoder 0.7.1 answers EINVAL by reopening the codec and sending the same packet
        // again, forever, on a libuv thread (decode.cc, decodeExecute). It holds no picture anyway; the
        // timestamp gap it leaves is reported as a lost frame.
        if (packet.size <= 0) continue;
        if (!this.packetSpsAccepted(packet)) return;
        if (this.skippable(packet)) continue;
        await this.submit(packet);
      }
      await this.drain(0);
      if (!this.active) return;
      const decoder = this.decoder;
      if (decoder)
        await this.handleDecoded(
          [],
          this.queueDecode(() => decoder.flush()),
          undefined,
        );
      if (this.active) this.finish();
    } catch (error) {
      this.failDemuxing(error);
    }
  }

  private failDemuxing(error: unknown): void {
    if (!this.active) return;
    this.fail(
      isFirstframeError(error)
        ? error
        : new DecodeError(
            codes.decode.demux,
            `${this.where()}: demuxing failed after ${this.framesDecoded} frames: ${(error as Error).message ?? error}`,
            {
              url: this.resource?.url,
              frames: this.framesDecoded,
              bytes: this.bytesFed,
            },
          ),
    );
  }

  /**
   * Runs a decoder call once the previous one is done (calls on one codec context must not overlap), and
   * not at all once the session is released.
   */
  private queueDecode(call: () => Promise<Beamcoder.DecodedFrames>): Promise<Beamcoder.DecodedFrames> {
    const decoding = this.decodeTail.then(() => (this.active ? call() : NO_FRAMES));
    this.decodeTail = decoding.catch(() => undefined);
    return decoding;
  }

  /**
   * Hands a packet to the decoder without waiting for its frames: the next packet's decode starts as soon
   * as the decoder is free, while this one's frames are still being converted and emitted on the main
   * thread (beamcoder builds a JS object per frame, and the garbage collection that follows is main-thread
   * time the decoder would otherwise sit out). Frames are still handled one at a time, in packet order;
   * this returns once no more than DECODES_AHEAD packets have frames waiting.
   */
  private async submit(packet: Beamcoder.Packet): Promise<void> {
    if (this.frameThreadsFrom === 'next-entry' && this.packetsSubmitted > 0 && this.isEntryPoint(packet)) {
      this.switchToFrameThreads();
    }
    this.packetsSubmitted += 1;
    const alone = this.firstFrameAlone(packet);
    const waiting = this.waitingBatch;
    if (waiting && !alone && !this.nvdecPackets && waiting.length < DECODE_BATCH_PACKETS) {
      // The decoder is still busy with an earlier call: this packet goes with the next one.
      waiting.push(packet);
    } else {
      const batch = [packet];
      this.waitingBatch = batch;
      const decoder = this.decoder!;
      const decoding = this.queueDecode(() => {
        if (this.waitingBatch === batch) this.waitingBatch = undefined;
        return decoder.decode(batch.length === 1 ? batch[0]! : batch);
      });
      // The throwaway decoder runs beside the main one; the next decode waits for both, which keeps the
      // first frame's decode off a core the next packet would take.
      if (alone) this.decodeTail = Promise.all([this.decodeTail, alone]);
      this.handleInOrder(() => this.handleDecoded(batch, decoding, alone));
    }
    // Whether NVDEC gives frames decides which decoder takes the next packet: nothing is queued meanwhile.
    await this.drain(this.nvdecPackets ? 0 : DECODES_AHEAD);
  }

  private handleInOrder(handle: () => Promise<void>): void {
    const handled = this.handledTail.then(handle);
    this.handledTail = handled;
    this.handling.push(handled);
  }

  /** Waits until no more than `limit` decodes have frames not yet handled. */
  private async drain(limit: number): Promise<void> {
    while (this.handling.length > limit) await this.handling.shift();
  }

  /**
   * `threads: 'auto'`: slice threads emit the first frames without delay; from the next point where a
   * fresh decoder can start (an IDR picture), frame threads decode faster. The slice decoder is flushed
   * first, so every frame before that point comes out, in order, before the new decoder's.
   */
  private switchToFrameThreads(): void {
    this.frameThreadsFrom = 'switched';
    this.waitingBatch = undefined;
    const previous = this.decoder!;
    const flushing = this.queueDecode(() => previous.flush());
    this.retire(previous);
    this.handleInOrder(() => this.handleDecoded([], flushing, undefined));
    this.decoder = this.softwareDecoder(this.demuxer!, 'frame');
    this.emit('decoder-threads', {
      threads: 'frame',
      threadCount: this.threadCount(),
      fromPacket: this.packetsSubmitted,
    });
  }

  /** Whether a decoder that has seen nothing before this packet decodes it and everything after it. */
  private isEntryPoint(packet: Beamcoder.Packet): boolean {
    if (!packet.flags?.KEY) return false;
    const codec = this.stream!.codec;
    if (codec === 'h264' || codec === 'hevc') {
      return this.nal !== undefined && isDecoderEntryPoint(codec, packetPayload(packet), this.nal);
    }
    // Their key frames reset every reference.
    return codec === 'vp8' || codec === 'vp9' || codec === 'av1';
  }

  /**
   * Frame 0 without the decoder's reorder delay. An H.264 decoder holds its first picture until it has
   * seen enough following packets to know the display order (two, for x264's B-frames: measured about
   * 100 ms at 1.66 MB/s on the 720p bench clip). When the first packet is a keyframe at the stream's start
   * time, it is the first picture shown: a throwaway single-threaded decoder decodes it alone and is
   * drained at once, and the main decoder's own copy of that frame is dropped when it comes.
   */
  private firstFrameAlone(packet: Beamcoder.Packet): Promise<Beamcoder.Frame | undefined> | undefined {
    if (this.shortcut !== 'pending') return undefined;
    this.shortcut = 'done';
    if (!packet.flags?.KEY || packet.pts === null || packet.pts !== this.startTimestamp || this.nvdecPackets)
      return undefined;
    const demuxer = this.demuxer;
    if (!demuxer) return undefined;
    const alone = this.ownDecoder({ demuxer, stream_index: this.videoIndex, thread_count: 1 });
    return alone
      .decode(packet)
      .then(async (decoded) => [...decoded.frames, ...(await alone.flush()).frames][0])
      .catch(() => undefined)
      .finally(() => this.closeOwned(alone));
  }

  /**
   * Emits the frames of one decoder call (the decode of `packets`, or a flush when there are none), after
   * the first frame's shortcut when it ran. Never rejects: a failure ends the session.
   */
  private async handleDecoded(
    packets: readonly Beamcoder.Packet[],
    decoding: Promise<Beamcoder.DecodedFrames>,
    alone: Promise<Beamcoder.Frame | undefined> | undefined,
  ): Promise<void> {
    try {
      const first = alone ? await alone : undefined;
      if (first && this.active) {
        this.shortcut = first.best_effort_timestamp ?? first.pts ?? 'done';
        await this.onFrame(first);
      }
      let frames: Beamcoder.Frame[];
      try {
        frames = (await decoding).frames;
      } catch (error) {
        // A corrupt packet: skip it, count it, report it, go on.
        this.corruptPackets += 1;
        this.lastDecodeError = (error as Error).message ?? String(error);
        this.emit('corrupt-packet', {
          pts: packets[0]?.pts,
          size: packets[0]?.size,
          // In a batch FFmpeg stops at the corrupt packet: those after it are lost with it (and show as
          // lost frames). Batches form only while the decoder is behind the download.
          packets: packets.length,
          count: this.corruptPackets,
          message: (error as Error).message,
        });
        return;
      }
      const packet = packets.length === 1 ? packets[0] : undefined;
      if (this.nvdecPackets && packet) {
        if (frames.length > 0) {
          this.nvdecPackets = undefined;
        } else {
          this.nvdecPackets.push(packet);
          if (this.nvdecPackets.length >= NVDEC_FIRST_FRAME_PACKETS) {
            await this.fallBackToSoftware();
            return;
          }
        }
      }
      for (const [index, frame] of frames.entries()) {
        // One frame per task: a call that gave several (a batch, a flush) would otherwise convert and
        // hand downstream all of them in one go. The first goes on at once.
        if (index > 0 || first) await nextTask();
        if (!this.active) return;
        await this.onFrame(frame);
      }
    } catch (error) {
      this.failDemuxing(error);
    }
  }

  /** NVDEC gave no frame for the first packets: decode them again in software and carry on there. */
  private async fallBackToSoftware(): Promise<void> {
    const replay = this.nvdecPackets ?? [];
    this.nvdecPackets = undefined;
    this.emit('nvdec-unavailable', {
      reason: `no frame from ${this.decoder?.name} after ${replay.length} packets`,
    });
    const decoder = this.softwareFallback!();
    this.retire(this.decoder!);
    this.decoder = decoder;
    this.stream = { ...this.stream!, decoder: decoder.name };
    if (this.autoThreads()) this.frameThreadsFrom = 'next-entry';
    // Called while handling frames in order: these are decoded and handled here, not queued behind it.
    for (const packet of replay) {
      await this.handleDecoded(
        [packet],
        this.queueDecode(() => decoder.decode(packet)),
        undefined,
      );
    }
  }

  /**
   * The frame's number in display order, or undefined for a frame that comes after a later one was
   * already emitted (its number is taken).
   */
  private frameNumberOf(timestamp: number | null): number | undefined {
    let frameNumber = this.nextFrameNumber;
    if (timestamp !== null && timestamp !== undefined) {
      this.firstTimestamp ??= timestamp;
      if (this.frameDuration) {
        // A frame the decoder dropped (corrupt data) leaves a gap in the timestamps: keep numbering true.
        const byTime = Math.round((timestamp - this.firstTimestamp) / this.frameDuration);
        if (byTime < frameNumber) {
          // After corrupt data, H.264 frame threads can give a picture early, then the ones before it
          // (measured: timestamps 45, 65, 64, 65, 66… on a damaged clip). Display order is kept: a
          // frame whose number has passed is not emitted, only counted.
          this.framesOutOfOrder += 1;
          this.emit('frame-out-of-order', {
            frameNumber: byTime,
            after: frameNumber - 1,
            total: this.framesOutOfOrder,
          });
          return undefined;
        }
        if (byTime > frameNumber) {
          // Counted from the skipped numbers, never by walking the gap: a timestamp jump of 2^48 ticks (a
          // hostile tfdt) would otherwise loop on the main thread for good.
          let skipped = 0;
          for (const number of this.skippedNumbers) {
            if (number < frameNumber || number >= byTime) continue;
            this.skippedNumbers.delete(number);
            skipped += 1;
          }
          const lost = byTime - frameNumber - skipped;
          if (lost > 0) {
            this.framesLost += lost;
            this.emit('frames-lost', {
              from: frameNumber,
              to: byTime - 1,
              count: lost,
              total: this.framesLost,
            });
          }
          frameNumber = byTime;
        }
      }
    }
    this.nextFrameNumber = frameNumber + 1;
    return frameNumber;
  }

  private async onFrame(frame: Beamcoder.Frame): Promise<void> {
    try {
      await this.emitFrame(frame);
    } finally {
      // The pixels go back to the decoder's pool now, not when the collector finalizes the JS object
      // (beamcoder frees them only then): the pool reuses warm buffers instead of allocating fresh ones
      // (measured: a quarter fewer page faults over the 720p bench clip). Nothing reads them any more:
      // the filter graph holds its own reference to a frame it converts.
      (frame as unknown as { data: null }).data = null;
    }
  }

  private async emitFrame(frame: Beamcoder.Frame): Promise<void> {
    const timestamp = frame.best_effort_timestamp ?? frame.pts;
    if (typeof this.shortcut === 'number' && timestamp === this.shortcut && this.framesDecoded > 0) {
      // The main decoder's copy of the frame the first-frame shortcut already emitted.
      this.shortcut = 'done';
      return;
    }
    const frameNumber = this.frameNumberOf(timestamp);
    if (frameNumber === undefined) return;
    const decodedAt = performance.now();
    this.framesDecoded += 1;
    const keep = this.options.keepFrame ? this.options.keepFrame(frameNumber) : true;
    let slot: PrefetchSlot | undefined;
    if (keep && this.options.gate) {
      const taken = this.options.gate.acquire();
      try {
        slot = taken instanceof Promise ? await taken : taken;
      } catch {
        return; // the gate was closed: the pipeline is ending
      }
      if (!this.active) {
        if (slot) this.options.gate.release([slot]);
        return;
      }
      if (!slot) this.emit('frame-dropped', { frameNumber, dropped: this.options.gate.dropped });
    }
    const image = keep && (slot || !this.options.gate) ? await this.convert(frame, slot) : undefined;
    if (!this.active) {
      if (slot) this.options.gate!.release([slot]);
      return;
    }
    if (image) this.framesConverted += 1;
    const stream = this.stream!;
    const decoded: DecodedFrame = {
      frameNumber,
      pts: timestamp === null ? Number.NaN : (timestamp * stream.timeBase[0]) / stream.timeBase[1],
      width: frame.width,
      height: frame.height,
      keyFrame: Boolean(frame.key_frame),
      decodedAt,
      image,
      stream,
      ...(slot ? { slot } : {}),
    };
    if (this.framesDecoded === 1) {
      this.emit('first-frame', {
        frameNumber,
        bytesFed: this.bytesFed,
        offsetReached: this.offsetReached,
        decodedAlone: typeof this.shortcut === 'number',
        fromIndex: this.firstFromIndex,
      });
    }
    this.emit('frame', { frameNumber, converted: image !== undefined, frames: this.framesDecoded });
    this.subscriber.next(decoded);
  }

  /**
   * The letterbox filter graph for frames of this size and pixel format, built once. onOpen asks for it
   * with the stream's parameters, so that building it (a few ms) is off the first frame's path.
   */
  private filtererFor(width: number, height: number, format: string): Promise<Beamcoder.Filterer> {
    const key = `${width}x${height}:${format}`;
    if (this.filterer && key === this.filterKey) return this.filterer;
    this.filterKey = key;
    const geometry = letterboxGeometry(width, height, this.imgSize);
    const timeBase = this.stream?.timeBase ?? [1, 1];
    this.filterer = this.bc
      .filterer({
        filterType: 'video',
        inputParams: [
          { width, height, pixelFormat: format, timeBase: [timeBase[0], timeBase[1]], pixelAspect: [1, 1] },
        ],
        outputParams: [{ pixelFormat: 'gbrp' }],
        filterSpec: letterboxFilterSpec(geometry, this.options.padValue ?? LETTERBOX_PAD_VALUE),
        // One thread (patches/beamcoder: `threads`): FFmpeg's default starts a pool of one per core that
        // lives as long as the graph, which only the collector frees, and its start delays the first frame.
        // Measured on a 720p frame to 640: 1.5 ms for the first frame on one thread against 3.5 ms with
        // the pool, then 1.1–1.4 ms against 0.6–1.2 ms.
        threads: 1,
      } as unknown as Parameters<(typeof Beamcoder)['filterer']>[0])
      .then((filterer) => {
        this.geometry = geometry;
        return filterer;
      });
    return this.filterer;
  }

  /**
   * The frame letterboxed for the model, into its prefetch slot's buffer when it holds one (reused from
   * frame to frame: see PrefetchGate.pixels), else into a new one.
   */
  private async convert(
    frame: Beamcoder.Frame,
    slot: PrefetchSlot | undefined,
  ): Promise<LetterboxedImage | undefined> {
    try {
      const filterer = await this.filtererFor(frame.width, frame.height, frame.format as string);
      const filtering = filterer.filter([frame]);
      this.filtering = filtering.catch(() => undefined);
      const [result] = await filtering;
      const converted = result?.frames[0];
      if (!converted) throw new Error('the filter graph returned no frame');
      if (!this.active) return undefined;
      const geometry = this.geometry!;
      const target =
        slot && this.options.gate
          ? this.options.gate.pixels(slot, 3 * geometry.size * geometry.size)
          : undefined;
      const image = packGbrpPlanes(converted.data, converted.linesize, geometry, target);
      // The converted pixels go back to the filter graph's pool now rather than at collection, as the
      // decoder's do in onFrame: the next frame is scaled into warm memory.
      (converted as unknown as { data: null }).data = null;
      return image;
    } catch (error) {
      if (!this.active) return undefined;
      this.fail(
        new DecodeError(
          codes.decode.convert,
          `${this.where()}: converting frame ${this.nextFrameNumber - 1} for the model failed: ${(error as Error).message}`,
          {
            url: this.resource?.url,
            frameNumber: this.nextFrameNumber - 1,
          },
        ),
      );
      return undefined;
    }
  }

  // ---- endings --------------------------------------------------------------------------------------

  private summary(reason: string): Record<string, unknown> {
    const total = this.resource?.totalBytes;
    return {
      reason,
      layout: this.layout,
      framesDecoded: this.framesDecoded,
      framesConverted: this.framesConverted,
      corruptPackets: this.corruptPackets,
      framesLost: this.framesLost,
      framesOutOfOrder: this.framesOutOfOrder,
      framesSkipped: this.framesSkipped,
      bytesFed: this.bytesFed,
      offsetReached: this.offsetReached,
      truncated:
        this.inputCutAt !== undefined
          ? this.offsetReached < this.inputCutAt
          : total !== undefined
            ? this.offsetReached < total
            : this.sourceError !== undefined,
    };
  }

  private finish(): void {
    if (!this.active) return;
    if (this.sourceError !== undefined) {
      // Every frame the bytes allowed has been emitted; now the source's own error.
      this.fail(this.sourceError);
      return;
    }
    if (this.framesDecoded === 0 && this.offsetReached > 0) {
      this.fail(this.noFramesError());
      return;
    }
    this.emit('end', this.summary('complete'));
    this.release();
    this.subscriber.complete();
  }

  /** The input was not empty and has ended, and no picture came of it: say what was seen instead. */
  private noFramesError(): DecodeError {
    const stream = this.stream;
    const opened = stream
      ? `FFmpeg opened it as ${stream.container} (${stream.codec} ${stream.width}×${stream.height})`
      : 'FFmpeg did not open it';
    const packets =
      this.videoPackets === 0
        ? 'the demuxer returned no video packet'
        : `the demuxer returned ${this.videoPackets} video packets`;
    const refused =
      this.corruptPackets > 0
        ? `, the decoder refused ${this.corruptPackets} as corrupt (last: ${this.lastDecodeError})`
        : this.videoPackets > 0
          ? ' and the decoder gave no picture for them'
          : '';
    return new DecodeError(
      codes.decode.noFrames,
      `${this.where()}: no picture could be decoded from the ${this.offsetReached} bytes received (layout ${this.layout}): ${opened}; ${packets}${refused}`,
      {
        url: this.resource?.url,
        bytes: this.offsetReached,
        layout: this.layout,
        videoPackets: this.videoPackets,
        corruptPackets: this.corruptPackets,
        ...(this.lastDecodeError ? { decoderError: this.lastDecodeError } : {}),
      },
    );
  }

  fail(error: unknown): void {
    if (!this.active) return;
    this.emit('end', { ...this.summary('error'), code: isFirstframeError(error) ? error.code : undefined });
    this.release();
    this.subscriber.error(error);
  }

  dispose(): void {
    if (!this.active) return;
    this.emit('end', this.summary('unsubscribed'));
    this.release();
  }

  private release(): void {
    this.active = false;
    this.upstream?.unsubscribe();
    this.tail?.unsubscribe();
    this.pending = [];
    this.sniffed = [];
    this.tailFromMain = undefined;
    clearTimeout(this.starvationTimer);
    clearTimeout(this.hold?.timer);
    this.indexed?.settle();
    this.indexed = undefined;
    this.headDone();
    // Finishing the governor wakes a read blocked on bytes that will never come; the demuxer is closed
    // only once nothing of FFmpeg's is running on it any more.
    this.governor.finish();
    const demuxerClose = () => {
      const demuxer = this.demuxer;
      this.demuxer = undefined;
      this.decoder = undefined;
      // Each decoder, then the demuxer, closed in a task of its own (closeOwned), in that order.
      for (const decoder of [...this.decoders]) this.closeOwned(decoder);
      this.filterer = undefined;
      setImmediate(() => {
        demuxer?.forceClose();
        // Nothing of FFmpeg's reads the fed bytes any more: move their memory out of the pinned Buffers
        // (transferring detaches the original) and let it go.
        for (const ref of this.fedMemory) {
          const memory = ref.deref();
          if (memory && memory.byteLength > 0) structuredClone(memory, { transfer: [memory] });
        }
        this.fedMemory = [];
      });
    };
    // Never in the task that released the session (the deadline's: its answer goes out first).
    void Promise.all([this.writes, nextTask()])
      .then(() => Promise.all([this.reading, this.decodeTail, this.filtering]))
      .then(demuxerClose, demuxerClose);
  }

  /** An error from a part that does not know the URL (src/media), with it in front of the message. */
  private located(error: unknown): unknown {
    if (!(error instanceof DecodeError)) return error;
    return new DecodeError(
      error.code,
      `${this.where()}: ${error.message}`,
      { url: this.resource?.url, ...error.context },
      { cause: error },
    );
  }

  private where(): string {
    return this.resource?.url ?? this.options.sourceUrl ?? 'decode';
  }
}

/**
 * Demuxes and decodes a byte stream while it downloads, emitting each frame the moment it exists.
 *
 * FFmpeg (through beamcoder) reads from a governor this operator feeds chunk by chunk; the demuxer opens as
 * soon as the container's header is readable. MP4 files whose moov comes after mdat are rearranged on the
 * fly: the moov is fetched with a Range request while mdat keeps streaming. For an MP4, frame 0 comes
 * straight from the index (the first sample decoded as soon as its bytes are in, before FFmpeg opens the
 * file). The decoder runs ahead of the frames being handled (at most a few calls), on slice threads at
 * first and frame threads from the next IDR picture (`threads: 'auto'`). Frames the `keepFrame` predicate
 * accepts are letterboxed to `imgSize` in planar RGB by FFmpeg's scaler.
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

/** Frames shown by the moov's first video track: stsz's count, no more than the edit list's duration holds. */
function indexFrameCount(moov: Uint8Array, fps: number | undefined): number | undefined {
  const header = mp4StreamHeader(moov);
  const count = header?.frameCount;
  if (count === undefined || !(count > 0)) return undefined;
  const seconds = header!.durationS;
  if (fps === undefined || !(fps > 0) || seconds === undefined || !(seconds > 0)) return count;
  return Math.max(1, Math.min(count, Math.round(seconds * fps)));
}
