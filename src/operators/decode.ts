import { Observable, type OperatorFunction, type Subscriber, type Subscription } from 'rxjs';
import { DecodeError, codes, isFirstframeError } from '../core/errors.js';
import { safeSink, type EventSink } from '../core/events.js';
import { beamcoder, type Beamcoder } from '../media/beamcoder.js';
import type { ContainerLayout } from '../media/layout.js';
import type { LayoutDecision } from '../media/layout-sniffer.js';
import type { Mp4Box } from '../media/mp4-boxes.js';
import type { SessionContext } from './decode/context.js';
import { PictureConverter } from './decode/convert.js';
import { Decoders } from './decode/decoders.js';
import { DirectArrangement } from './decode/direct.js';
import { nextTask } from '../core/next-task.js';
import { Decoding } from './decode/decoding.js';
import { EditStartSkip, type MainTiming } from './decode/edit-skip.js';
import { editStart } from '../media/mp4-index.js';
import { Demuxing, MP4_DEMUXER, inputFormat } from './decode/demuxer.js';
import { demuxFailure, endSummary, located, noFramesError, type SessionCounts } from './decode/endings.js';
import { Feeder } from './decode/feeder.js';
import { FirstFrameShortcut } from './decode/first-frame.js';
import { FrameOut } from './decode/frames-out.js';
import { FirstFrameFromIndex } from './decode/first-frame-index.js';
import { FrameNumbering } from './decode/frame-numbers.js';
import { HeaderChecks } from './decode/header-checks.js';
import { LayoutSniff } from './decode/layout-sniff.js';
import { MoovAtEnd } from './decode/moov-end.js';
import { warmDecodeWith, type WarmDecodeResult } from './decode/warm.js';
import {
  validate,
  type DecodedFrame,
  type DecodeOptions,
  type Mutable,
  type VideoStreamInfo,
} from './decode/options.js';
import type { ByteChunk, ResourceInfo } from '../sources/types.js';

export type { ContainerLayout } from '../media/layout.js';
export type { StreamHeader } from './decode/stream-header.js';
export type { DecodedFrame, DecodeOptions, VideoStreamInfo } from './decode/options.js';
export type { WarmDecodeResult } from './decode/warm.js';

/**
 * One subscription to {@link decode}: composes the parts in the order bytes meet them, and owns what they
 * share (the layout, how far the input reached, the stream's description) and the endings. `release()`
 * frees all of it, on completion, error and unsubscribe alike.
 *
 * ```text
 * chunk ─▶ LayoutSniff ─┬▶ DirectArrangement ─┬▶ Feeder ─▶ Demuxing ─▶ Decoding ──┐
 *                       └▶ MoovAtEnd ─────────┘                                  │ frames
 *          FirstFrameFromIndex (frame 0, before FFmpeg opens) ───────────────────┤
 *                                                                                ▼
 *                                         subscriber ◀─ FrameOut ◀─ PictureConverter
 * ```
 */
class DecodeSession implements SessionContext {
  readonly bc = beamcoder();
  readonly feeder: Feeder;
  readonly decoders: Decoders;
  readonly decoding: Decoding;
  readonly demuxing: Demuxing;
  readonly numbering: FrameNumbering;
  readonly headers: HeaderChecks;
  private readonly sniff: LayoutSniff;
  private readonly converter: PictureConverter;
  private readonly frames: FrameOut;
  private readonly shortcut = new FirstFrameShortcut();
  private readonly emitEvent: EventSink | undefined;

  active = true;
  private mode: 'sniffing' | 'direct' | 'moov-end' = 'sniffing';
  private upstream: Subscription | undefined;
  /** The main response's timing: what one more request would cost (the edit-start skip). */
  private readonly mainTiming: MainTiming = {
    startedAt: performance.now(),
    firstChunkAt: undefined,
    firstChunkEnd: 0,
  };
  /** An edit list trims the start past a sync sample: the bytes before it may be skipped. */
  private editSkip: EditStartSkip | undefined;
  resource: ResourceInfo | undefined;
  /** The run's byte limit: the edit-start skip never jumps past it. */
  get byteLimit(): number | undefined {
    return this.options.maxBytes;
  }
  layout: ContainerLayout = 'other';
  firstBytesSeen: Uint8Array | undefined;
  offsetReached = 0;
  inputEnded = false;
  /** Where the main response was closed because nothing after it is needed (moov-end: the moov). */
  private inputCutAt: number | undefined;
  sourceError: unknown;

  /** Faststart, fragmented, MPEG-TS, Matroska, other: the bytes go to FFmpeg as they come. */
  private direct: DirectArrangement | undefined;
  /** moov after mdat: the Range fetch of the moov and the rearranged bytes. */
  private moovEnd: MoovAtEnd | undefined;
  /** Frame 0 from the MP4 index; FFmpeg's demuxer opens once it is settled. */
  indexed: FirstFrameFromIndex | undefined;
  private demuxerOpening = false;

  /** Shared by every frame: the index's description first, then FFmpeg's. */
  stream: Mutable<VideoStreamInfo> | undefined;

  constructor(
    readonly options: DecodeOptions,
    private readonly subscriber: Subscriber<DecodedFrame>,
  ) {
    this.emitEvent = safeSink(options.onEvent);
    // A deep queue: writes never block a libuv thread in practice; memory is bounded upstream.
    const governor = this.bc.governor({ highWaterMark: 1024 });
    this.feeder = new Feeder(this, governor, options.maxQueuedBytes ?? 8 * 1024 * 1024);
    this.decoders = new Decoders(
      (decoderOptions) =>
        this.bc.decoder(decoderOptions as unknown as { demuxer: Beamcoder.Demuxer; stream_index: number }),
      () => this.active,
    );
    this.numbering = new FrameNumbering(this.emit);
    this.headers = new HeaderChecks(this, options.checkStream);
    this.decoding = new Decoding(this, this.decoders, this.shortcut);
    this.demuxing = new Demuxing(this);
    this.sniff = new LayoutSniff(this);
    this.converter = new PictureConverter(
      this,
      this.bc,
      {
        imgSize: options.imgSize ?? 640,
        padValue: options.padValue,
        preprocess: options.preprocess,
        gate: options.gate,
      },
      () => this.stream?.timeBase,
    );
    this.frames = new FrameOut(this, this.numbering, this.shortcut, this.converter, (frame) =>
      subscriber.next(frame),
    );
  }

  readonly emit = (name: string, data: Record<string, unknown> = {}): void => {
    this.emitEvent?.({ stage: 'decode', name, at: performance.now(), data });
  };

  start(source: Observable<ByteChunk>): void {
    this.mainTiming.startedAt = performance.now();
    this.upstream = source.subscribe({
      next: (chunk) => this.onChunk(chunk),
      error: (error: unknown) => {
        this.sourceError = error;
        this.mainEnded();
      },
      complete: () => this.mainEnded(),
    });
    // A source that delivered synchronously may already be done with (endAtMoov).
    if (this.inputCutAt !== undefined) this.upstream.unsubscribe();
  }

  // ---- bytes in: arranged per layout, then fed -------------------------------------------------------

  private onChunk(chunk: ByteChunk): void {
    if (!this.active || this.editSkip?.switched) return;
    this.takeChunk(chunk);
    if (this.mainTiming.firstChunkAt === undefined) {
      this.mainTiming.firstChunkAt = chunk.receivedAt;
      this.mainTiming.firstChunkEnd = chunk.offset + chunk.bytes.byteLength;
    }
    this.editSkip?.consider(chunk.receivedAt);
  }

  /** A chunk of the input (the main response, or the edit-start skip's Range response once switched). */
  private takeChunk(chunk: ByteChunk): void {
    this.resource ??= chunk.resource;
    if (chunk.offset === 0) this.firstBytesSeen ??= chunk.bytes.subarray(0, 64);
    const end = chunk.offset + chunk.bytes.byteLength;
    if (end > this.offsetReached) this.offsetReached = end;
    switch (this.mode) {
      case 'sniffing':
        this.sniff.push(chunk);
        return;
      case 'direct':
        this.direct!.push(chunk.bytes);
        break;
      case 'moov-end':
        this.moovEnd!.route(chunk.bytes, chunk.offset);
        break;
    }
    this.indexed?.hold(chunk.offset, chunk.bytes);
    this.moovEnd?.endAtMoov();
  }

  get sniffing(): boolean {
    return this.mode === 'sniffing';
  }

  /** The sniffer decided: the bytes go straight to FFmpeg, or are rearranged around a moov at the end. */
  decided(prefix: Uint8Array, decision: LayoutDecision | undefined): void {
    if (!decision) {
      // Only ftyp (or free space) in the whole input.
      this.goDirect(prefix);
      return;
    }
    this.layout = decision.layout;
    if (decision.mdat) {
      this.mode = 'moov-end';
      this.moovEnd = new MoovAtEnd(this);
      this.moovEnd.start(prefix, decision.mdat);
    } else {
      this.goDirect(prefix, decision.moov);
    }
  }

  /** `moov`: the moov box the sniffer saw whole in `prefix` (faststart, fragmented). */
  private goDirect(prefix: Uint8Array, moov?: Mp4Box): void {
    this.mode = 'direct';
    this.direct = new DirectArrangement(this);
    this.direct.start(prefix, moov);
  }

  /** Frame 0 from the MP4 index starts holding the main stream's bytes (not with NVDEC). */
  startIndexed(prefix: Uint8Array): void {
    if (this.options.nvdec || this.indexed) return;
    this.indexed = new FirstFrameFromIndex(this, this.decoders);
    this.indexed.hold(0, prefix);
  }

  /** The offset of the moov already checked (structure and limits) when the layout was decided. */
  get moovCheckedAt(): number | undefined {
    return this.direct?.moovCheckedAt;
  }

  readonly moovAccepted = (moov: Uint8Array, offset: number): boolean => {
    if (!this.headers.moovAccepted(moov, offset)) return false;
    this.planEditSkip(moov);
    return true;
  };

  /** The moov is in and accepted: an edit list that trims the start past a sync sample may be skipped. */
  private planEditSkip(moov: Uint8Array): void {
    if (this.editSkip || this.options.editSkip === false) return;
    if (this.layout !== 'faststart' && this.layout !== 'moov-end') return;
    const plan = editStart(moov);
    if (typeof plan === 'string' || plan.sync.index === 0) return;
    const moovEnd = this.layout === 'moov-end';
    this.editSkip = new EditStartSkip(
      this,
      this.mainTiming,
      plan,
      moovEnd ? moov.byteLength : 0,
      moovEnd ? this.moovEnd!.moovOffset - 1 : undefined,
    );
    this.emit('edit-start', {
      mediaTime: plan.mediaTime,
      syncSample: plan.sync.index,
      syncOffset: plan.sync.offset,
      firstShownSample: plan.firstShown.index,
      firstShownOffset: plan.firstShown.offset,
      neededEnd: plan.neededEnd,
    });
  }

  /** moov-end: the moov and the held mdat went to FFmpeg; the skip may start now. */
  readonly moovReady = () => this.editSkip?.consider();

  get decodeFrom(): number | undefined {
    return this.editSkip?.switched ? this.editSkip.decodeFrom : undefined;
  }

  /** The edit-start skip's Range response is in: the main response is closed, zeros stand for the gap. */
  switchInput(fillerBytes: number): void {
    this.upstream?.unsubscribe();
    this.feeder.feedZeros(fillerBytes);
    // The bytes in between are accounted as reached: FFmpeg has them (as zeros).
    this.offsetReached += Math.max(0, fillerBytes);
    if (this.layout === 'moov-end') this.inputCutAt = this.moovEnd!.moovOffset;
  }

  readonly onInputChunk = (chunk: ByteChunk) => {
    if (this.active) this.takeChunk(chunk);
  };

  /** The main response ended: a skip still waiting for its Range response is dropped first. */
  private mainEnded(): void {
    this.editSkip?.mainEnded();
    this.endInput();
  }

  readonly onInputEnd = (error?: unknown) => {
    if (error !== undefined) this.sourceError = error;
    this.endInput();
  };

  feed(bytes: Uint8Array): void {
    if (!this.feeder.feed(bytes)) return;
    if (!this.demuxerOpening) {
      this.demuxerOpening = true;
      // Open once the first bytes are queued (FFmpeg's open blocks a libuv thread until they are there),
      // and once frame 0 from the MP4 index is out or given up: FFmpeg's open decodes that sample too, and
      // would take the core frame 0 is being decoded on.
      void Promise.all([this.feeder.writes, this.indexed?.settled, this.direct?.headSettled]).then(() =>
        this.demuxing.open(),
      );
    }
  }

  /** moov-end: the main response is closed at `offset`, where the moov (already in hand) begins. */
  cutInput(offset: number): void {
    this.inputCutAt = offset;
    this.upstream?.unsubscribe();
    this.mainEnded();
  }

  private endInput(): void {
    if (!this.active || this.inputEnded) return;
    this.inputEnded = true;
    if (this.indexed && !this.indexed.decoding && this.layout !== 'moov-end') {
      this.indexed.skip('the input ended before frame 0 was in');
    }
    this.direct?.stopHead();
    this.emit('input-end', {
      bytes: this.offsetReached,
      error: this.sourceError ? String((this.sourceError as Error).message ?? this.sourceError) : undefined,
    });
    switch (this.mode) {
      case 'sniffing': {
        if (this.sniff.bytesSeen === 0) {
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
        this.sniff.sniff();
        if (this.mode === 'sniffing' && this.active) this.goDirect(this.sniff.rest());
        return;
      }
      case 'moov-end':
        this.moovEnd!.inputEnded();
        return;
      default:
        this.finishGovernor();
    }
  }

  readonly finishGovernor = () => this.feeder.finish(this.demuxing.openCalled);

  // ---- frames out -----------------------------------------------------------------------------------

  readonly prepareConversion = (width: number, height: number, format: string) =>
    this.converter.prepare(width, height, format);
  /** Frame 0 from the MP4 index: out ahead of FFmpeg, whose decoder's copy is dropped later. */
  readonly emitIndexedFrame = (frame: Beamcoder.Frame, timestamp: number) =>
    this.frames.emitIndexed(frame, timestamp);
  readonly onFrame = (frame: Beamcoder.Frame) => this.frames.onFrame(frame);

  failDemuxing(error: unknown): void {
    if (this.active) this.fail(demuxFailure(error, this.counts()));
  }

  // ---- endings --------------------------------------------------------------------------------------

  /** What the parts have seen and done, for the `end` event and FF_ERR_NO_FRAMES. */
  private counts(): SessionCounts {
    return {
      where: this.where(),
      url: this.resource?.url,
      layout: this.layout,
      stream: this.stream,
      framesDecoded: this.frames.framesDecoded,
      framesConverted: this.frames.framesConverted,
      corruptPackets: this.decoding.corruptPackets,
      lastDecodeError: this.decoding.lastDecodeError,
      framesLost: this.numbering.framesLost,
      framesOutOfOrder: this.numbering.framesOutOfOrder,
      framesSkipped: this.demuxing.skipper?.skipped ?? 0,
      trimmedSkipped: this.demuxing.trimmedSkipped,
      packetsBeforeSync: this.demuxing.packetsBeforeSync,
      videoPackets: this.demuxing.videoPackets,
      bytesFed: this.feeder.bytesFed,
      offsetReached: this.offsetReached,
      inputCutAt: this.inputCutAt,
      totalBytes: this.resource?.totalBytes,
      sourceError: this.sourceError,
    };
  }

  finish(): void {
    if (!this.active) return;
    if (this.sourceError !== undefined) {
      // Every frame the bytes allowed has been emitted; now the source's own error.
      this.fail(this.sourceError);
      return;
    }
    if (this.frames.framesDecoded === 0 && this.offsetReached > 0) {
      this.fail(noFramesError(this.counts()));
      return;
    }
    this.emit('end', endSummary('complete', this.counts()));
    this.release();
    this.subscriber.complete();
  }

  fail(error: unknown): void {
    if (!this.active) return;
    this.emit('end', {
      ...endSummary('error', this.counts()),
      code: isFirstframeError(error) ? error.code : undefined,
    });
    this.release();
    this.subscriber.error(error);
  }

  dispose(): void {
    if (!this.active) return;
    this.emit('end', endSummary('unsubscribed', this.counts()));
    this.release();
  }

  private release(): void {
    this.active = false;
    this.upstream?.unsubscribe();
    this.moovEnd?.release();
    this.editSkip?.release();
    this.sniff.release();
    this.indexed?.release();
    this.direct?.stopHead();
    this.feeder.release();
    const demuxerClose = () => {
      const demuxer = this.demuxing.take();
      this.decoding.release();
      // Each decoder, then the demuxer, closed in a task of its own (Decoders.close), in that order.
      this.decoders.closeAll();
      this.converter.drop();
      setImmediate(() => {
        demuxer?.forceClose();
        this.feeder.freeFedMemory();
      });
    };
    // Never in the task that released the session (the deadline's: its answer goes out first).
    void Promise.all([this.feeder.writes, nextTask()])
      .then(() => Promise.all([this.demuxing.reading, this.decoders.tail, this.converter.filtering]))
      .then(demuxerClose, demuxerClose);
  }

  located(error: unknown): unknown {
    return located(error, this.where(), this.resource?.url);
  }

  where(): string {
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
