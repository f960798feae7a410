import { packetPayload, type Beamcoder } from '../../media/beamcoder.js';
import { isNonReferencePicture, nalFormat, type NalFormat } from '../../media/nal.js';
import type { FrameNumbering } from './frame-numbers.js';

/** What deciding to skip needs: the stride's predicate and what FFmpeg's open said of the stream. */
export interface SkipConditions {
  readonly keepFrame: ((frameNumber: number) => boolean) | undefined;
  readonly codec: string;
  readonly extradata: Uint8Array | null | undefined;
  /** Timestamp ticks per frame, when the frame rate is constant. */
  readonly frameDuration: number | undefined;
  readonly startTimestamp: number | null | undefined;
}

/**
 * `skipNonReference`: leaves undecoded the pictures the stride does not keep and no other picture
 * references (H.264 nal_ref_idc 0, HEVC sub-layer non-reference), reading the frame number from the
 * packet's timestamp before the decoder sees it. Each one skipped is told to the numbering, so its number
 * is not counted as lost.
 */
export class NonReferenceSkipper {
  /** Non-reference pictures left undecoded so far. */
  skipped = 0;

  private constructor(
    private readonly codec: string,
    private readonly format: NalFormat,
    private readonly startTimestamp: number,
    private readonly frameDuration: number,
    private readonly keepFrame: (frameNumber: number) => boolean,
    private readonly numbering: FrameNumbering,
  ) {}

  /** A skipper for this stream, or why there can be none (the `skip-disabled` event's reason). */
  static for(conditions: SkipConditions, numbering: FrameNumbering): NonReferenceSkipper | string {
    const { keepFrame, codec, frameDuration, startTimestamp } = conditions;
    const format = nalFormat(codec, conditions.extradata);
    if (!keepFrame) return 'no keepFrame: every frame is wanted';
    if (!format) return `codec ${codec} has no reference marks firstframe reads (H.264 and HEVC only)`;
    if (!frameDuration)
      return 'the frame rate is not constant, so packet timestamps cannot give frame numbers';
    if (typeof startTimestamp !== 'number') return 'the stream has no start time';
    return new NonReferenceSkipper(codec, format, startTimestamp, frameDuration, keepFrame, numbering);
  }

  /** Whether this packet is a picture nobody wants and nobody references. */
  skippable(packet: Beamcoder.Packet): boolean {
    if (packet.pts === null || packet.pts === undefined || packet.flags?.DISCARD) return false;
    const frameNumber = Math.round((packet.pts - this.startTimestamp) / this.frameDuration);
    if (frameNumber < 0 || this.keepFrame(frameNumber)) return false;
    if (!isNonReferencePicture(this.codec, packetPayload(packet), this.format)) return false;
    this.numbering.skipped(frameNumber);
    this.skipped += 1;
    return true;
  }
}
