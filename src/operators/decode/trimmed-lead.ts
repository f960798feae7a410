import type { Beamcoder } from '../../media/beamcoder.js';
import type { Decoders } from './decoders.js';

/**
 * Most packets the lead decoder takes looking for the first picture shown (the reference pictures between
 * the sync sample and frame 0: 17 on the bench's edit-start clip): past this, or at the next keyframe, it
 * stops, and frame 0 comes from the main decoder as it would without it. A longer stretch is decoded twice
 * for nothing much: measured, a 150-packet one made frame 0 later, not sooner (two decoders on 2 cores).
 */
export const LEAD_MAX_PACKETS = 48;

/**
 * Frame 0 of a stream whose edit list trims its start, without the main decoder's delays (issue 17 item 3).
 *
 * FFmpeg starts such a stream at the sync sample before the first picture shown and marks the packets
 * before that picture DISCARD: decoded (the shown pictures reference them), never output. The main decoder
 * then holds frame 0 (a B-picture, mostly) until it has seen the packets that follow it in decode order
 * (its reorder delay: two packets for x264's B-pyramid), and with frame threads one more packet per thread.
 * The lead is a single-threaded throwaway decoder that takes the same packets beside it, from the sync
 * sample to the first picture shown, and is drained as soon as it has that one: frame 0 is out right
 * after its own bytes. The main decoder decodes the same pictures; its copy of frame 0 is dropped by the
 * first-frame shortcut (first-frame.ts) when it comes.
 *
 * Pictures that nothing shown references never reach it (the demuxer leaves trimmed non-reference
 * pictures undecoded), and its calls run beside the main decoder's, one packet each.
 *
 * ```text
 * packets:  I(D) P(D) B(D) … P  B0  P  B  …         D: DISCARD (before the edit's start); B0: frame 0
 * main:     [I]  [P]  [B]  … [P][B0] [P] [B] → B0    out after the packets that follow it
 * lead:     [I]  [P]  [B]  … [P][B0]+flush → B0      out at once; the lead is closed
 * ```
 */
export class TrimmedStartLead {
  /** The lead's calls, one after the other. */
  private chain: Promise<unknown> = Promise.resolve();
  private packets = 0;
  private over = false;

  private constructor(
    private readonly decoders: Decoders,
    private readonly decoder: Beamcoder.Decoder,
    /** The timestamp of the first picture shown (the stream's start time). */
    private readonly startTimestamp: number,
  ) {}

  /**
   * A lead when `first` (the stream's first video packet) starts a trimmed stretch: a keyframe marked
   * DISCARD, with a start time to recognise frame 0 by; else undefined.
   */
  static forFirstPacket(
    first: Beamcoder.Packet,
    startTimestamp: number | undefined,
    decoders: Decoders,
    makeDecoder: () => Beamcoder.Decoder,
  ): TrimmedStartLead | undefined {
    if (!first.flags?.KEY || !first.flags?.DISCARD || startTimestamp === undefined) return undefined;
    return new TrimmedStartLead(decoders, makeDecoder(), startTimestamp);
  }

  /** Whether the lead still takes packets. */
  get taking(): boolean {
    return !this.over;
  }

  /**
   * Hands the lead the next packet (in decode order). When it is frame 0's, the lead is drained and the
   * result is frame 0 (undefined if the lead could not give it); otherwise undefined at once.
   */
  take(packet: Beamcoder.Packet): Promise<Beamcoder.Frame | undefined> | undefined {
    if (this.over) return undefined;
    if (this.packets > 0 && packet.flags?.KEY) {
      // The next GOP: frame 0's packet never came (a stride that skipped it undecoded, or a broken stream).
      this.stop();
      return undefined;
    }
    this.packets += 1;
    const decoder = this.decoder;
    const decoders = this.decoders;
    // Beside the main decoder, which goes on at its own pace (one packet reaches both: FFmpeg takes a
    // reference); release waits for these calls before it closes anything, and none starts once the session
    // is over.
    const decoding = decoders.besideMain(
      this.chain.then(() =>
        decoders.running ? decoder.decode(packet) : Promise.reject(new Error('released')),
      ),
    );
    const shown = packet.pts === this.startTimestamp && !packet.flags?.DISCARD;
    if (!shown) {
      this.chain = decoding.then(
        (decoded) => dropPixels(decoded.frames),
        () => this.stop(),
      );
      if (this.packets >= LEAD_MAX_PACKETS) this.stop();
      return undefined;
    }
    this.over = true;
    const frame0 = decoders.besideMain(
      decoding
        .then(async (decoded) => {
          const frames = [...decoded.frames, ...(await decoder.flush()).frames];
          const found = frames.find(
            (frame) => (frame.best_effort_timestamp ?? frame.pts) === this.startTimestamp,
          );
          dropPixels(frames.filter((frame) => frame !== found));
          return found;
        })
        .catch(() => undefined),
    );
    void frame0.finally(() => decoders.close(decoder));
    return frame0;
  }

  /** No more packets: the lead is closed once its calls are done; frame 0 comes from the main decoder. */
  stop(): void {
    if (this.over) return;
    this.over = true;
    const decoder = this.decoder;
    void this.chain.finally(() => this.decoders.close(decoder));
  }
}

/** The pixels of frames nobody shows go back to the decoder's pool now, not at collection. */
function dropPixels(frames: readonly Beamcoder.Frame[]): void {
  for (const frame of frames) (frame as unknown as { data: null }).data = null;
}
