import type { Observable, Subscriber, Subscription } from 'rxjs';
import { DecodeError, codes } from '../../core/errors.js';
import { safeSink, type EventSink } from '../../core/events.js';
import { beamcoder, type Beamcoder } from '../../media/beamcoder.js';
import type { ContainerLayout } from '../../media/layout.js';
import type { LayoutDecision } from '../../media/layout-sniffer.js';
import type { Mp4Box } from '../../media/mp4-boxes.js';
import type { ByteChunk, ResourceInfo } from '../../sources/types.js';
import type { SessionContext } from './context.js';
import { PictureConverter } from './convert.js';
import { Decoders } from './decoders.js';
import { Decoding } from './decoding.js';
import { Demuxing } from './demuxer.js';
import { DirectArrangement } from './direct.js';
import { EditSkipPlanner } from './edit-skip-plan.js';
import { located } from './endings.js';
import { Feeder } from './feeder.js';
import { FirstFrameShortcut } from './first-frame.js';
import { FirstFrameFromIndex } from './first-frame-index.js';
import { FrameNumbering } from './frame-numbers.js';
import { FrameOut } from './frames-out.js';
import { HeaderChecks } from './header-checks.js';
import { LayoutSniff } from './layout-sniff.js';
import { MoovAtEnd } from './moov-end.js';
import type { DecodedFrame, DecodeOptions, Mutable, VideoStreamInfo } from './options.js';
import { SessionEnd, type EndingSession } from './session-end.js';

/**
 * One subscription to `decode` (src/operators/decode.ts): composes the parts in the order bytes meet them,
 * and owns what they share (the layout, how far the input reached, the stream's description). How it ends,
 * once, and what that frees is {@link SessionEnd}'s, on completion, error and unsubscribe alike.
 *
 * ```text
 * chunk ─▶ LayoutSniff ─┬▶ DirectArrangement ─┬▶ Feeder ─▶ Demuxing ─▶ Decoding ──┐
 *                       └▶ MoovAtEnd ─────────┘                                  │ frames
 *          FirstFrameFromIndex (frame 0, before FFmpeg opens) ───────────────────┤
 *                                                                                ▼
 *                                         subscriber ◀─ FrameOut ◀─ PictureConverter
 * ```
 */
export class DecodeSession implements SessionContext, EndingSession {
  readonly bc = beamcoder();
  readonly feeder: Feeder;
  readonly decoders: Decoders;
  readonly decoding: Decoding;
  readonly demuxing: Demuxing;
  readonly numbering: FrameNumbering;
  readonly headers: HeaderChecks;
  readonly sniff: LayoutSniff;
  readonly converter: PictureConverter;
  readonly frames: FrameOut;
  /** The main response's timing and, where an edit list trims the start, the skip to its sync sample. */
  readonly editSkip: EditSkipPlanner;
  private readonly shortcut = new FirstFrameShortcut();
  private readonly emitEvent: EventSink | undefined;
  private readonly ending: SessionEnd;

  private mode: 'sniffing' | 'direct' | 'moov-end' = 'sniffing';
  upstream: Subscription | undefined;
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
  inputCutAt: number | undefined;
  sourceError: unknown;

  /** Faststart, fragmented, MPEG-TS, Matroska, other: the bytes go to FFmpeg as they come. */
  direct: DirectArrangement | undefined;
  /** moov after mdat: the Range fetch of the moov and the rearranged bytes. */
  moovEnd: MoovAtEnd | undefined;
  /** Frame 0 from the MP4 index; FFmpeg's demuxer opens once it is settled. */
  indexed: FirstFrameFromIndex | undefined;
  private demuxerOpening = false;

  /** Shared by every frame: the index's description first, then FFmpeg's. */
  stream: Mutable<VideoStreamInfo> | undefined;

  constructor(
    readonly options: DecodeOptions,
    subscriber: Subscriber<DecodedFrame>,
  ) {
    this.emitEvent = safeSink(options.onEvent);
    this.ending = new SessionEnd(this, subscriber);
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
    this.editSkip = new EditSkipPlanner(this, options.editSkip !== false);
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

  /** False once the session ended (completed, failed or unsubscribed): every part stops. */
  get active(): boolean {
    return this.ending.active;
  }

  start(source: Observable<ByteChunk>): void {
    this.editSkip.mainStarted();
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
    if (!this.active || this.editSkip.switched) return;
    this.takeChunk(chunk);
    this.editSkip.mainChunk(chunk);
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
    this.editSkip.moovAccepted(moov, this.layout, this.moovEnd?.moovOffset);
    return true;
  };

  /** moov-end: the moov and the held mdat went to FFmpeg; the skip may start now. */
  readonly moovReady = () => this.editSkip.moovReady();

  get decodeFrom(): number | undefined {
    return this.editSkip.decodeFrom;
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
    this.editSkip.mainEnded();
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

  readonly prepareConversion = (width: number, height: number, format: string, warm?: boolean) =>
    this.converter.prepare(width, height, format, warm);
  /** Frame 0 from the MP4 index: out ahead of FFmpeg, whose decoder's copy is dropped later. */
  readonly emitIndexedFrame = (frame: Beamcoder.Frame, timestamp: number) =>
    this.frames.emitIndexed(frame, timestamp);
  readonly onFrame = (frame: Beamcoder.Frame) => this.frames.onFrame(frame);

  // ---- endings (SessionEnd) ------------------------------------------------------------------------

  failDemuxing(error: unknown): void {
    this.ending.failDemuxing(error);
  }

  finish(): void {
    this.ending.finish();
  }

  fail(error: unknown): void {
    this.ending.fail(error);
  }

  dispose(): void {
    this.ending.dispose();
  }

  located(error: unknown): unknown {
    return located(error, this.where(), this.resource?.url);
  }

  where(): string {
    return this.resource?.url ?? this.options.sourceUrl ?? 'decode';
  }
}
