import type { Beamcoder } from '../../media/beamcoder.js';
import type { SessionContext } from './context.js';
import { forget, wakeAtExit } from './exit-wake.js';

/** How long FFmpeg may wait for bytes while the source is paused before the source is resumed. */
const STARVATION_MS = 20;
/** Largest zero buffer {@link Feeder.feedZeros} writes at once. */
const ZERO_PIECE = 1024 * 1024;

/** The part of beamcoder's governor the feeder uses: FFmpeg's demuxer reads what is written to it. */
export type Governor = Pick<ReturnType<(typeof Beamcoder)['governor']>, 'write' | 'finish'>;

/**
 * Feeds FFmpeg: writes the arranged bytes to the governor its demuxer reads from, in order, each a copy in
 * memory of our own; pauses the source while too many fed bytes wait for the demuxer (and resumes it); and
 * finishes the governor when the input is over. Owns the fed memory, which {@link freeFedMemory} lets go
 * once nothing of FFmpeg's reads it any more.
 *
 * ```text
 * feed:      -c-c-c-c-c-c-|
 * governor:  -w-w-w-w-w-w---finish      each write after the one before it; finish after the last write
 * source:    ------pause--resume        fed − demuxed > maxQueuedBytes, then ≤ half (or FFmpeg starved)
 * ```
 */
export class Feeder {
  /** The last write queued: the demuxer opens once the first is done, the governor finishes after all. */
  writes: Promise<unknown> = Promise.resolve();
  bytesFed = 0;
  /** Zero bytes fed in place of skipped ones ({@link feedZeros}): FFmpeg's positions count them. */
  zerosFed = 0;
  /** FFmpeg is inside open or read, possibly waiting for bytes (set by the demuxer's part). */
  demuxerWaiting = false;
  /** End of the furthest packet the demuxer returned, in the bytes FFmpeg was fed. */
  private bytesConsumed = 0;
  private sourcePaused = false;
  private starvationTimer: NodeJS.Timeout | undefined;
  private fedMemory: WeakRef<ArrayBuffer>[] = [];
  private governorFinished = false;

  /** `maxQueuedBytes`: fed but not demuxed above which the source is paused. */
  constructor(
    private readonly ctx: SessionContext,
    readonly governor: Governor,
    private readonly maxQueuedBytes: number,
  ) {
    wakeAtExit(governor);
  }

  /**
   * Queues `bytes` for FFmpeg; false when nothing was fed (the session is over, the governor finished, or
   * no bytes).
   */
  feed(bytes: Uint8Array): boolean {
    if (!this.ctx.active || this.governorFinished || bytes.byteLength === 0) return false;
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
        if (!this.ctx.active) return undefined;
        const copy = new Uint8Array(bytes.byteLength);
        copy.set(bytes);
        this.fedMemory.push(new WeakRef(copy.buffer));
        return this.governor.write(Buffer.from(copy.buffer));
      })
      .catch(() => undefined);
    return true;
  }

  /**
   * Queues `count` zero bytes for FFmpeg in place of bytes never fetched (the edit-start skip): FFmpeg reads
   * past them (its packets there are dropped). One shared zero buffer, written in pieces of at most 1 MiB,
   * each once the one before it is written (a piece is made only when its turn comes: the count is the
   * caller's to bound, the memory is one piece); {@link zerosFed} counts the pieces written, not
   * {@link bytesFed}. The buffer is freed with the fed copies.
   */
  feedZeros(count: number): void {
    if (!this.ctx.active || this.governorFinished || count <= 0) return;
    const zeros = Buffer.alloc(Math.min(count, ZERO_PIECE));
    // The governor pins it as it pins the copies: detached with them once FFmpeg is done.
    this.fedMemory.push(new WeakRef(zeros.buffer));
    this.writes = this.writes
      .then(async () => {
        for (let left = count; left > 0 && this.ctx.active;) {
          const piece = left >= zeros.byteLength ? zeros : zeros.subarray(0, left);
          left -= piece.byteLength;
          this.zerosFed += piece.byteLength;
          await this.governor.write(piece);
        }
      })
      .catch(() => undefined);
  }

  /** The demuxer returned a packet ending at `end` of the fed bytes. */
  consumed(end: number): void {
    this.bytesConsumed = Math.max(this.bytesConsumed, end);
    if (this.sourcePaused) this.applyBackpressure();
  }

  /**
   * Pauses the source while too many fed bytes wait for the demuxer, and resumes it at half. "Fed minus
   * demuxed" cannot see that FFmpeg is in the middle of a packet larger than what it was given, so while
   * paused a watchdog resumes the source as soon as FFmpeg has waited for bytes for a while: the bound then
   * only ever holds back a decoder that is busy, or blocked by the prefetch gate.
   */
  private applyBackpressure(): void {
    const limit = this.maxQueuedBytes;
    const queued = this.bytesFed + this.zerosFed - this.bytesConsumed;
    if (!this.sourcePaused && queued > limit && this.ctx.resource?.pause) {
      this.sourcePaused = true;
      this.ctx.resource.pause();
      this.ctx.emit('source-paused', { queuedBytes: queued, bytesFed: this.bytesFed });
      this.watchStarvation();
    } else if (this.sourcePaused && queued <= limit / 2) {
      this.resumeSource('caught up', queued);
    }
  }

  private resumeSource(reason: string, queued = this.bytesFed + this.zerosFed - this.bytesConsumed): void {
    if (!this.sourcePaused) return;
    this.sourcePaused = false;
    clearTimeout(this.starvationTimer);
    // Reported first: resuming may deliver bytes (and pause again) before resume() returns.
    this.ctx.emit('source-resumed', { reason, queuedBytes: queued, bytesFed: this.bytesFed });
    this.ctx.resource?.resume?.();
  }

  private watchStarvation(): void {
    clearTimeout(this.starvationTimer);
    this.starvationTimer = setTimeout(() => {
      if (!this.ctx.active || !this.sourcePaused) return;
      if (this.demuxerWaiting) this.resumeSource('demuxer waiting for bytes');
      else this.watchStarvation();
    }, STARVATION_MS);
    this.starvationTimer.unref();
  }

  /**
   * The input is over: FFmpeg reads to the end of what it got, then sees EOF. `openCalled` settles once
   * the demuxer's open has been called (or never will be).
   */
  finish(openCalled: Promise<void>): void {
    if (this.governorFinished) return;
    this.governorFinished = true;
    // After the queued writes: FFmpeg then reads to the end of what it got and sees EOF. And after the
    // demuxer's open has been called: beamcoder 0.7.1 crashes (a NULL format context read in
    // demuxerComplete) when an open that starts on an already finished governor fails, e.g. on a cut-off
    // moov (measured: every time, 300 of 300 attempts; never with the open called first).
    void Promise.all([this.writes, openCalled]).then(() => this.governor.finish());
    // Until then the exit guard keeps it: release() forgets it.
  }

  /** Release: no more resuming, and a read blocked on bytes that will never come wakes. */
  release(): void {
    clearTimeout(this.starvationTimer);
    // Finishing the governor wakes a read blocked on bytes that will never come; the demuxer is closed
    // only once nothing of FFmpeg's is running on it any more.
    this.governor.finish();
    forget(this.governor);
  }

  /** Once the demuxer is closed: the fed bytes' memory goes. */
  freeFedMemory(): void {
    // Nothing of FFmpeg's reads the fed bytes any more: move their memory out of the pinned Buffers
    // (transferring detaches the original) and let it go.
    for (const ref of this.fedMemory) {
      const memory = ref.deref();
      if (memory && memory.byteLength > 0) structuredClone(memory, { transfer: [memory] });
    }
    this.fedMemory = [];
  }
}
