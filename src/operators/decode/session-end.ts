import type { Subscriber, Subscription } from 'rxjs';
import { isFirstframeError } from '../../core/errors.js';
import { nextTask } from '../../core/next-task.js';
import type { ContainerLayout } from '../../media/layout.js';
import type { ResourceInfo } from '../../sources/types.js';
import type { EmitEvent } from './context.js';
import type { PictureConverter } from './convert.js';
import type { Decoders } from './decoders.js';
import type { Decoding } from './decoding.js';
import type { Demuxing } from './demuxer.js';
import type { DirectArrangement } from './direct.js';
import type { EditSkipPlanner } from './edit-skip-plan.js';
import { demuxFailure, endSummary, noFramesError, type SessionCounts } from './endings.js';
import type { Feeder } from './feeder.js';
import type { FirstFrameFromIndex } from './first-frame-index.js';
import type { FrameNumbering } from './frame-numbers.js';
import type { FrameOut } from './frames-out.js';
import type { LayoutSniff } from './layout-sniff.js';
import type { MoovAtEnd } from './moov-end.js';
import type { DecodedFrame, VideoStreamInfo } from './options.js';

/** What ending a session reads of it (for the `end` event's counts) and frees: its input and its parts. */
export interface EndingSession {
  readonly emit: EmitEvent;
  where(): string;
  readonly resource: ResourceInfo | undefined;
  readonly layout: ContainerLayout;
  readonly stream: VideoStreamInfo | undefined;
  readonly offsetReached: number;
  readonly inputCutAt: number | undefined;
  readonly sourceError: unknown;
  /** The main response's subscription. */
  readonly upstream: Subscription | undefined;
  readonly sniff: LayoutSniff;
  readonly direct: DirectArrangement | undefined;
  readonly moovEnd: MoovAtEnd | undefined;
  readonly editSkip: EditSkipPlanner;
  readonly indexed: FirstFrameFromIndex | undefined;
  readonly feeder: Feeder;
  readonly demuxing: Demuxing;
  readonly decoding: Decoding;
  readonly decoders: Decoders;
  readonly numbering: FrameNumbering;
  readonly frames: FrameOut;
  readonly converter: PictureConverter;
}

/**
 * How one decode session ends, once: completed, failed or unsubscribed. Each ending sends the `end` event
 * with what the parts counted (endings.ts), then releases every part (the input's at once; FFmpeg's
 * objects once their calls in flight are done, never in the task that ended the session), and only then
 * tells the subscriber. Owns whether the session is still active.
 */
export class SessionEnd {
  /** False once the session ended: every part stops. */
  active = true;

  constructor(
    private readonly session: EndingSession,
    private readonly subscriber: Subscriber<DecodedFrame>,
  ) {}

  /** What the parts have seen and done, for the `end` event and FF_ERR_NO_FRAMES. */
  private counts(): SessionCounts {
    const session = this.session;
    return {
      where: session.where(),
      url: session.resource?.url,
      layout: session.layout,
      stream: session.stream,
      framesDecoded: session.frames.framesDecoded,
      framesConverted: session.frames.framesConverted,
      corruptPackets: session.decoding.corruptPackets,
      lastDecodeError: session.decoding.lastDecodeError,
      framesLost: session.numbering.framesLost,
      framesOutOfOrder: session.numbering.framesOutOfOrder,
      framesSkipped: session.demuxing.skipper?.skipped ?? 0,
      trimmedSkipped: session.demuxing.trimmedSkipped,
      packetsBeforeSync: session.demuxing.packetsBeforeSync,
      videoPackets: session.demuxing.videoPackets,
      bytesFed: session.feeder.bytesFed,
      offsetReached: session.offsetReached,
      inputCutAt: session.inputCutAt,
      totalBytes: session.resource?.totalBytes,
      sourceError: session.sourceError,
    };
  }

  /** Every packet is demuxed and every frame handled. */
  finish(): void {
    if (!this.active) return;
    if (this.session.sourceError !== undefined) {
      // Every frame the bytes allowed has been emitted; now the source's own error.
      this.fail(this.session.sourceError);
      return;
    }
    if (this.session.frames.framesDecoded === 0 && this.session.offsetReached > 0) {
      this.fail(noFramesError(this.counts()));
      return;
    }
    this.session.emit('end', endSummary('complete', this.counts()));
    this.release();
    this.subscriber.complete();
  }

  fail(error: unknown): void {
    if (!this.active) return;
    this.session.emit('end', {
      ...endSummary('error', this.counts()),
      code: isFirstframeError(error) ? error.code : undefined,
    });
    this.release();
    this.subscriber.error(error);
  }

  /** A demuxing or decoding failure: a typed error as it is, else FF_ERR_DEMUX with the counts. */
  failDemuxing(error: unknown): void {
    if (this.active) this.fail(demuxFailure(error, this.counts()));
  }

  /** The subscriber unsubscribed. */
  dispose(): void {
    if (!this.active) return;
    this.session.emit('end', endSummary('unsubscribed', this.counts()));
    this.release();
  }

  private release(): void {
    const session = this.session;
    this.active = false;
    session.upstream?.unsubscribe();
    session.moovEnd?.release();
    session.editSkip.release();
    session.sniff.release();
    session.indexed?.release();
    session.direct?.stopHead();
    session.feeder.release();
    const demuxerClose = () => {
      const demuxer = session.demuxing.take();
      session.decoding.release();
      // Each decoder, then the demuxer, closed in a task of its own (Decoders.close), in that order.
      session.decoders.closeAll();
      session.converter.drop();
      setImmediate(() => {
        demuxer?.forceClose();
        session.feeder.freeFedMemory();
      });
    };
    // Never in the task that released the session (the deadline's: its answer goes out first).
    void Promise.all([session.feeder.writes, nextTask()])
      .then(() =>
        Promise.all([session.demuxing.reading, session.decoders.idle(), session.converter.filtering]),
      )
      .then(demuxerClose, demuxerClose);
  }
}
