import type { EmitEvent } from './context.js';

/**
 * Numbers decoded frames in display order, as a player shows them (0: the first frame shown). With a
 * constant frame rate (`frameDuration`, set when FFmpeg opens) the number comes from the frame's timestamp,
 * so a frame the decoder never produced (corrupt data it concealed) leaves a gap that is counted as lost,
 * and a frame that comes after a later one is refused; without it, frames are numbered as they come.
 * Pictures left undecoded on purpose (non-reference skipping) are told with {@link skipped} and are not lost.
 *
 * ```text
 * timestamps:  0  512  1536  1024  2048      (frameDuration 512)
 * numbers:     0  1    3     —     4          frame 2 lost; 1024 after 1536: out of order, not emitted
 * ```
 */
export class FrameNumbering {
  /** Timestamp ticks per frame when the frame rate is constant; numbers then follow timestamps. */
  frameDuration: number | undefined;
  /** Frames the decoder never produced (corrupt data it concealed by dropping), seen as timestamp gaps. */
  framesLost = 0;
  /** Frames the decoder gave after a later one (corrupt data): not emitted. */
  framesOutOfOrder = 0;
  private nextFrameNumber = 0;
  private firstTimestamp: number | undefined;
  /** Non-reference pictures left undecoded, by frame number until numbering passes them. */
  private readonly skippedNumbers = new Set<number>();

  constructor(private readonly emit: EmitEvent) {}

  /** Frame `frameNumber` will never come: it was left undecoded on purpose. */
  skipped(frameNumber: number): void {
    this.skippedNumbers.add(frameNumber);
  }

  /**
   * The frame's number in display order, or undefined for a frame that comes after a later one was
   * already emitted (its number is taken).
   */
  numberOf(timestamp: number | null): number | undefined {
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
}
