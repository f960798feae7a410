import { nextTask } from '../../core/next-task.js';
import type { Beamcoder } from '../../media/beamcoder.js';
import type { NalFormat } from '../../media/nal.js';
import { nvdecSupport } from '../../media/nvdec.js';
import type { SessionContext } from './context.js';
import type { Decoders } from './decoders.js';
import type { FirstFrameShortcut } from './first-frame.js';
import type { DecodeOptions, Mutable, VideoStreamInfo } from './options.js';
import { autoThreads, initialThreads, isEntryPoint, threadCount } from './threads.js';
import { TrimmedStartLead } from './trimmed-lead.js';

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

/** What decoding needs of the session. */
export interface DecodingHost extends SessionContext {
  readonly options: DecodeOptions;
  /** The stream's description; NVDEC's fallback replaces it with the software decoder's name. */
  stream: Mutable<VideoStreamInfo> | undefined;
  /** Handles one decoded frame (numbered, converted, emitted); then its pixels go back to the pool. */
  onFrame(frame: Beamcoder.Frame): Promise<void>;
  /** Ends the session with a demuxing or decoding error. */
  failDemuxing(error: unknown): void;
}

/**
 * The decoder and its threads, from the demuxer's packets to decoded frames handed to the session in
 * order: the decoder chosen (NVDEC when asked and available, with software fallback when it gives no
 * frame; else software), slice threads first and frame threads from the next entry point (`threads:
 * 'auto'`), packets batched while the decoder is behind, at most DECODES_AHEAD calls whose frames wait,
 * corrupt packets counted and skipped, and frame 0 decoded alone by a throwaway decoder (no reorder delay).
 *
 * ```text
 * packets:   -p-p-p-p--p-p-|
 * decoder:   -[p]-[p][pp]--[p][p]-flush     one call at a time; packets that came meanwhile go together
 * frames:    --f--f--f-f----f--f-f-f|       handled in packet order, one per task
 * ```
 */
export class Decoding {
  /** The decoder packets go to now. */
  decoder: Beamcoder.Decoder | undefined;
  /** Decoder calls that failed (corrupt data), and the last one's message (for FF_ERR_NO_FRAMES). */
  corruptPackets = 0;
  lastDecodeError: string | undefined;
  /** The stream's NAL format (H.264, HEVC): where frame threads may start; read by the packet SPS check. */
  nal: NalFormat | undefined;
  private demuxer: Beamcoder.Demuxer | undefined;
  private videoIndex = -1;
  private startTimestamp: number | undefined;
  private softwareFallback: (() => Beamcoder.Decoder) | undefined;
  private nvdecPackets: Beamcoder.Packet[] | undefined;
  /** The frames of each decoder call are handled (converted, emitted) in order, after the previous ones. */
  private handledTail: Promise<void> = Promise.resolve();
  private handling: Promise<void>[] = [];
  private packetsSubmitted = 0;
  /** Packets for the decoder call that is queued but not started: later packets join it. */
  private waitingBatch: Beamcoder.Packet[] | undefined;
  /** `threads: 'auto'`: frame threads from the next entry point, once the stream has started. */
  private frameThreadsFrom: 'never' | 'next-entry' | 'switched' = 'never';
  /** An edit list trims the start: frame 0 from a throwaway decoder taking the packets up to it. */
  private lead: TrimmedStartLead | undefined;

  constructor(
    private readonly host: DecodingHost,
    private readonly decoders: Decoders,
    private readonly shortcut: FirstFrameShortcut,
  ) {}

  /**
   * FFmpeg opened the stream: the decoder for `codec` (NVDEC or software). Throws when there is none (an
   * unsupported codec).
   */
  open(demuxer: Beamcoder.Demuxer, videoIndex: number, codec: string): Beamcoder.Decoder {
    this.demuxer = demuxer;
    this.videoIndex = videoIndex;
    this.decoder = this.createDecoder(demuxer, codec);
    return this.decoder;
  }

  /** What the stream says once open: its NAL format, and the start time frame 0 is known by. */
  start(nal: NalFormat | undefined, startTimestamp: number | undefined): void {
    this.nal = nal;
    if (autoThreads(this.host.options) && !this.nvdecPackets) this.frameThreadsFrom = 'next-entry';
    this.startTimestamp = startTimestamp;
  }

  /** The demuxer has no more packets: every frame still in the decoder comes out. */
  async flush(): Promise<void> {
    await this.drain(0);
    if (!this.host.active) return;
    const decoder = this.decoder;
    if (decoder)
      await this.handleDecoded(
        [],
        this.decoders.queue(() => decoder.flush()),
        undefined,
      );
  }

  /** Release: the decoders themselves are closed by {@link Decoders.closeAll}. */
  release(): void {
    this.demuxer = undefined;
    this.decoder = undefined;
  }

  private softwareDecoder(demuxer: Beamcoder.Demuxer, threads: 'slice' | 'frame'): Beamcoder.Decoder {
    return this.decoders.own({
      demuxer,
      stream_index: this.videoIndex,
      thread_count: this.host.options.threadCount ?? 0,
      thread_type: { FRAME: threads === 'frame', SLICE: threads === 'slice' },
    });
  }

  private createDecoder(demuxer: Beamcoder.Demuxer, codec: string): Beamcoder.Decoder {
    const software = () => this.softwareDecoder(demuxer, initialThreads(this.host.options));
    const nvdec = this.host.options.nvdec;
    if (!nvdec) return software();
    const support = nvdecSupport(codec);
    if (!support.available || !support.decoder) {
      this.host.emit('nvdec-unavailable', { reason: support.reason });
      return software();
    }
    // Properties are set one by one after creation: passing them to decoder() makes beamcoder free the
    // context twice when one of them is refused.
    const decoder = this.decoders.own({ name: support.decoder });
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

  /**
   * Hands a packet to the decoder without waiting for its frames: the next packet's decode starts as soon
   * as the decoder is free, while this one's frames are still being converted and emitted on the main
   * thread (beamcoder builds a JS object per frame, and the garbage collection that follows is main-thread
   * time the decoder would otherwise sit out). Frames are still handled one at a time, in packet order;
   * this returns once no more than DECODES_AHEAD packets have frames waiting.
   */
  async submit(packet: Beamcoder.Packet): Promise<void> {
    if (
      this.frameThreadsFrom === 'next-entry' &&
      this.packetsSubmitted > 0 &&
      isEntryPoint(this.host.stream!.codec, this.nal, packet)
    ) {
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
      const decoding = this.decoders.queue(() => {
        if (this.waitingBatch === batch) this.waitingBatch = undefined;
        return decoder.decode(batch.length === 1 ? batch[0]! : batch);
      });
      // The throwaway decoder runs beside the main one; the next decode waits for both, which keeps the
      // first frame's decode off a core the next packet would take.
      if (alone) this.decoders.tail = Promise.all([this.decoders.tail, alone]);
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
    const flushing = this.decoders.queue(() => previous.flush());
    this.decoders.retire(previous);
    this.handleInOrder(() => this.handleDecoded([], flushing, undefined));
    this.decoder = this.softwareDecoder(this.demuxer!, 'frame');
    this.host.emit('decoder-threads', {
      threads: 'frame',
      threadCount: threadCount(this.host.options),
      fromPacket: this.packetsSubmitted,
    });
  }

  /**
   * Frame 0 without the decoder's reorder delay. An H.264 decoder holds its first picture until it has
   * seen enough following packets to know the display order (two, for x264's B-frames: measured about
   * 100 ms at 1.66 MB/s on the 720p bench clip). When the first packet is a keyframe at the stream's start
   * time, it is the first picture shown: a throwaway single-threaded decoder decodes it alone and is
   * drained at once, and the main decoder's own copy of that frame is dropped when it comes.
   */
  private firstFrameAlone(packet: Beamcoder.Packet): Promise<Beamcoder.Frame | undefined> | undefined {
    if (this.lead) return this.leadTakes(packet);
    if (!this.shortcut.claim()) return undefined;
    const demuxer = this.demuxer;
    if (!demuxer || this.nvdecPackets) return undefined;
    const single = () => this.decoders.own({ demuxer, stream_index: this.videoIndex, thread_count: 1 });
    this.lead = TrimmedStartLead.forFirstPacket(packet, this.startTimestamp, this.decoders, single);
    if (this.lead) return this.leadTakes(packet);
    if (!packet.flags?.KEY || packet.pts === null || packet.pts !== this.startTimestamp) return undefined;
    const alone = single();
    return alone
      .decode(packet)
      .then(async (decoded) => [...decoded.frames, ...(await alone.flush()).frames][0])
      .catch(() => undefined)
      .finally(() => this.decoders.close(alone));
  }

  /** The lead takes the packet; frame 0's promise when it was frame 0's packet. */
  private leadTakes(packet: Beamcoder.Packet): Promise<Beamcoder.Frame | undefined> | undefined {
    const lead = this.lead!;
    const frame0 = lead.take(packet);
    if (!lead.taking) this.lead = undefined;
    return frame0;
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
      if (first && this.host.active) {
        this.shortcut.emitted(first.best_effort_timestamp ?? first.pts ?? 'done');
        await this.host.onFrame(first);
      }
      let frames: Beamcoder.Frame[];
      try {
        frames = (await decoding).frames;
      } catch (error) {
        // A corrupt packet: skip it, count it, report it, go on.
        this.corruptPackets += 1;
        this.lastDecodeError = (error as Error).message ?? String(error);
        this.host.emit('corrupt-packet', {
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
        if (!this.host.active) return;
        await this.host.onFrame(frame);
      }
    } catch (error) {
      this.host.failDemuxing(error);
    }
  }

  /** NVDEC gave no frame for the first packets: decode them again in software and carry on there. */
  private async fallBackToSoftware(): Promise<void> {
    const replay = this.nvdecPackets ?? [];
    this.nvdecPackets = undefined;
    this.host.emit('nvdec-unavailable', {
      reason: `no frame from ${this.decoder?.name} after ${replay.length} packets`,
    });
    const decoder = this.softwareFallback!();
    this.decoders.retire(this.decoder!);
    this.decoder = decoder;
    this.host.stream = { ...this.host.stream!, decoder: decoder.name };
    if (autoThreads(this.host.options)) this.frameThreadsFrom = 'next-entry';
    // Called while handling frames in order: these are decoded and handled here, not queued behind it.
    for (const packet of replay) {
      await this.handleDecoded(
        [packet],
        this.decoders.queue(() => decoder.decode(packet)),
        undefined,
      );
    }
  }
}
