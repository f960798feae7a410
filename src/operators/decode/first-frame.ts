/**
 * The first frame emitted ahead of the main decoder, and the main decoder's copy of it, dropped. Frame 0
 * goes out either from the MP4 index (decoded before FFmpeg opens) or decoded alone by a throwaway decoder
 * (no reorder delay); either way the main decoder decodes that picture again, and its copy, recognised by
 * the timestamp, is not emitted a second time.
 */
export class FirstFrameShortcut {
  /** 'pending' until the first video packet; then the timestamp of the frame the shortcut emitted. */
  private state: 'pending' | 'done' | number = 'pending';

  /** The first video packet: true (once) when the throwaway decoder may still take it. */
  claim(): boolean {
    if (this.state !== 'pending') return false;
    this.state = 'done';
    return true;
  }

  /** Frame 0 went out ahead of the main decoder with this timestamp (`'done'`: none it could say). */
  emitted(timestamp: number | 'done'): void {
    this.state = timestamp;
  }

  /** Whether frame 0 went out ahead of the main decoder. */
  get decodedAhead(): boolean {
    return typeof this.state === 'number';
  }

  /**
   * Whether a frame of the main decoder is its copy of the one already emitted (`framesDecoded`: frames
   * emitted so far); true once, then the shortcut is over.
   */
  isCopy(timestamp: number | null, framesDecoded: number): boolean {
    if (typeof this.state !== 'number' || timestamp !== this.state || framesDecoded === 0) return false;
    this.state = 'done';
    return true;
  }
}
