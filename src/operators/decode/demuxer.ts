import { DecodeError, codes } from '../../core/errors.js';
import { packetPayload, type Beamcoder } from '../../media/beamcoder.js';
import type { ContainerLayout } from '../../media/layout.js';
import { isNonReferencePicture, nalFormat } from '../../media/nal.js';
import type { SessionContext } from './context.js';
import type { Decoding } from './decoding.js';
import type { Feeder } from './feeder.js';
import type { FrameNumbering } from './frame-numbers.js';
import type { HeaderChecks } from './header-checks.js';
import { demuxerStreamHeader } from './headers.js';
import { NonReferenceSkipper } from './non-reference.js';
import type { DecodeOptions, Mutable, VideoStreamInfo } from './options.js';

export const MP4_DEMUXER = 'mov,mp4,m4a,3gp,3g2,mj2';
/**
 * FFmpeg's demuxer descriptions by name, read once per process: `demuxers()` builds an object for every one
 * of FFmpeg's 351 demuxers (measured: 40–170 ms of main-thread time per call on the 2-core machine).
 */
let inputFormats: Record<string, Beamcoder.InputFormat> | undefined;
export function inputFormat(
  bc: typeof Beamcoder,
  name: string | undefined,
): Beamcoder.InputFormat | undefined {
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

/** An FFmpeg rational as [num, den], or undefined when unset (0/0, 0/1). */
export function rational(value: readonly number[] | undefined | null): readonly [number, number] | undefined {
  const num = value?.[0];
  const den = value?.[1];
  return num !== undefined && den !== undefined && num > 0 && den > 0 ? [num, den] : undefined;
}

/** A short description of what bytes that FFmpeg refused look like, for the error message. */
export function describeBytes(prefix: Uint8Array): string {
  const head = Buffer.from(prefix.subarray(0, 64)).toString('latin1');
  if (/^\s*<(!doctype|html|\?xml|head|body)/i.test(head)) return 'it looks like an HTML or XML page';
  if (/^\s*[{[]/.test(head)) return 'it looks like JSON';
  const printable = [...prefix.subarray(0, 32)].every(
    (byte) => byte === 9 || byte === 10 || byte === 13 || (byte >= 32 && byte < 127),
  );
  if (printable && prefix.byteLength > 0) return 'it looks like text';
  return 'its first bytes match no known container';
}

/** What demuxing needs of the session: its parts, and what the bytes have shown so far. */
export interface DemuxHost extends SessionContext {
  readonly bc: typeof Beamcoder;
  readonly options: DecodeOptions;
  readonly layout: ContainerLayout;
  /** The input's first 64 bytes, to say what FFmpeg refused. */
  readonly firstBytesSeen: Uint8Array | undefined;
  readonly sourceError: unknown;
  readonly inputEnded: boolean;
  /** The stream's description: FFmpeg's values replace the index's at the open. */
  stream: Mutable<VideoStreamInfo> | undefined;
  readonly feeder: Feeder;
  readonly decoding: Decoding;
  readonly numbering: FrameNumbering;
  readonly headers: HeaderChecks;
  prepareConversion(width: number, height: number, format: string): void;
  /** The edit-start skip: FFmpeg's position of the sync sample before frame 0; packets before it are dropped. */
  readonly decodeFrom: number | undefined;
  /** Every packet is demuxed and every frame handled: the session completes. */
  finish(): void;
  failDemuxing(error: unknown): void;
}

/**
 * FFmpeg's demuxer on the fed bytes: opened once the first bytes are queued (naming the input format the
 * sniffer recognised, probing nothing more), the stream described from what it says (size, rate, time
 * base; the decoder chosen; frame numbering, skipping and conversion set up from it), then read packet by
 * packet: each video packet checked (an empty one never reaches the decoder, an SPS in it against the
 * limits), skipped when nobody wants or references it, and handed to decoding.
 */
export class Demuxing {
  demuxer: Beamcoder.Demuxer | undefined;
  /** The demuxer's open or read in progress: release closes nothing before it is done. */
  reading: Promise<unknown> = Promise.resolve();
  /** Settles once the demuxer's open has been called, or will never be. */
  readonly openCalled: Promise<void>;
  /** Video packets the demuxer returned (for FF_ERR_NO_FRAMES). */
  videoPackets = 0;
  skipper: NonReferenceSkipper | undefined;
  /** Packets before the edit-start skip's sync sample (never fetched: zeros), dropped. */
  packetsBeforeSync = 0;
  /** Trimmed pictures (the edit list hides them) that no picture references, left undecoded. */
  trimmedSkipped = 0;
  private markOpenCalled: () => void = () => undefined;
  private videoIndex = -1;

  constructor(private readonly host: DemuxHost) {
    this.openCalled = new Promise<void>((resolve) => (this.markOpenCalled = resolve));
  }

  /** Release: the demuxer, to be closed (forceClose) once nothing of FFmpeg's runs on it. */
  take(): Beamcoder.Demuxer | undefined {
    const demuxer = this.demuxer;
    this.demuxer = undefined;
    return demuxer;
  }

  /** Opens FFmpeg's demuxer on the governor (once the first bytes are queued and frame 0 is settled). */
  open(): void {
    this.markOpenCalled();
    if (!this.host.active) return;
    const startedAt = performance.now();
    // Naming the input format we already recognised skips FFmpeg's format probe, which for MPEG-TS
    // reads far past the first frame (measured: 36 KB instead of the whole 110 KB test clip).
    const iformat = inputFormat(this.host.bc, DEMUXER_BY_LAYOUT[this.host.layout]);
    this.host.feeder.demuxerWaiting = true;
    const opening = this.host.bc.demuxer({
      governor: this.host.feeder.governor,
      ...(iformat ? { iformat } : {}),
      // analyzeduration 0 would mean FFmpeg's default (5 s, 7 s for MPEG-TS): 1 µs is the real minimum.
      options: { probesize: this.host.options.probeSize ?? 32, analyzeduration: 1, fpsprobesize: 0 },
    } as unknown as Beamcoder.DemuxerCreateOptions);
    this.reading = opening.catch(() => undefined);
    void this.reading.then(() => (this.host.feeder.demuxerWaiting = false));
    opening.then(
      (demuxer) => {
        if (!this.host.active) {
          setImmediate(() => demuxer.forceClose());
          return;
        }
        // beamcoder's demuxer keeps only a raw pointer to the governor's native queue, and the governor's
        // finalizer deletes that queue: were the governor collected while the demuxer lives (this session
        // dropped without release, a demuxer kept by a caller), FFmpeg's next read would use freed memory.
        // A JS reference from the demuxer makes the governor live exactly as long as its reader.
        Object.defineProperty(demuxer, 'firstframeGovernor', { value: this.host.feeder.governor });
        this.demuxer = demuxer;
        this.onOpen(demuxer, startedAt);
      },
      (error: unknown) => {
        if (!this.host.active) return;
        const prefix = this.host.firstBytesSeen ?? new Uint8Array(0);
        this.host.fail(
          this.host.sourceError ??
            new DecodeError(
              codes.decode.notAVideo,
              `${this.host.where()}: FFmpeg could not open the bytes as a video after ${this.host.feeder.bytesFed} bytes (${describeBytes(prefix)}): ${(error as Error).message ?? error}`,
              { url: this.host.resource?.url, bytes: this.host.feeder.bytesFed },
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
      this.host.fail(
        new DecodeError(
          codes.decode.noVideoStream,
          `${this.host.where()}: no video stream (found ${streams.map((s) => `${s.codecpar.codec_type}:${s.codecpar.name}`).join(', ') || 'no streams'})`,
          { url: this.host.resource?.url },
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
    if (!this.host.headers.accepted([demuxerStreamHeader(demuxer, video, container)])) return;
    const codec = video.codecpar.name;
    const tag = (video.codecpar as unknown as { codec_tag?: unknown }).codec_tag;
    try {
      this.host.decoding.open(demuxer, this.videoIndex, codec);
    } catch (error) {
      this.host.fail(
        new DecodeError(
          codes.decode.unsupportedCodec,
          `${this.host.where()}: no decoder for codec ${codec}${typeof tag === 'string' && tag.trim() ? ` (tag ${JSON.stringify(tag)})` : ''}: ${(error as Error).message}`,
          {
            url: this.host.resource?.url,
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
      this.host.numbering.frameDuration = timeBase[1] / (timeBase[0] * fps);
    }
    const info: VideoStreamInfo = {
      layout: this.host.layout,
      container,
      codec,
      decoder: this.host.decoding.decoder!.name,
      width: video.codecpar.width,
      height: video.codecpar.height,
      fps,
      timeBase,
    };
    // Frame 0 from the MP4 index went out with what the index said: the shared description becomes FFmpeg's.
    this.host.stream = this.host.stream ? Object.assign(this.host.stream, info) : { ...info };
    this.host.emit('open', {
      ms: performance.now() - startedAt,
      bytesFed: this.host.feeder.bytesFed,
      ...this.host.stream,
    });
    if (this.host.options.skipNonReference) {
      const skipper = NonReferenceSkipper.for(
        {
          keepFrame: this.host.options.keepFrame,
          codec,
          extradata: video.codecpar.extradata,
          frameDuration: this.host.numbering.frameDuration,
          startTimestamp: video.start_time,
        },
        this.host.numbering,
      );
      if (typeof skipper === 'string') this.host.emit('skip-disabled', { reason: skipper });
      else this.skipper = skipper;
    }
    const format = video.codecpar.format;
    if (typeof format === 'string' && !this.host.options.nvdec) {
      // Built now, while FFmpeg waits for the first frame's bytes; a failure surfaces at the first convert.
      this.host.prepareConversion(video.codecpar.width, video.codecpar.height, format);
    }
    this.host.decoding.start(
      nalFormat(codec, video.codecpar.extradata),
      typeof video.start_time === 'number' ? video.start_time : undefined,
    );
    void this.readLoop();
  }

  /**
   * A picture the edit list hides (FFmpeg marks its packet DISCARD: decoded, never shown) that no other
   * picture references: left undecoded (H.264 nal_ref_idc 0, HEVC sub-layer non-reference).
   */
  private trimmed(packet: Beamcoder.Packet): boolean {
    if (!packet.flags?.DISCARD) return false;
    const nal = this.host.decoding.nal;
    if (!nal || !isNonReferencePicture(this.host.stream!.codec, packetPayload(packet), nal)) return false;
    this.trimmedSkipped += 1;
    return true;
  }

  private async readLoop(): Promise<void> {
    const demuxer = this.demuxer!;
    try {
      for (;;) {
        if (!this.host.active) return;
        let packet: Beamcoder.Packet | null;
        try {
          const reading = demuxer.read();
          this.reading = reading.catch(() => undefined);
          this.host.feeder.demuxerWaiting = true;
          try {
            packet = await reading;
          } finally {
            this.host.feeder.demuxerWaiting = false;
          }
        } catch (error) {
          // Past the end of what arrived (a partial download), FFmpeg reports a cut sample as an error.
          if (this.host.inputEnded) break;
          throw error;
        }
        if (!this.host.active) return;
        if (!packet) break;
        if (packet.pos >= 0) this.host.feeder.consumed(packet.pos + packet.size);
        if (packet.stream_index !== this.videoIndex) continue;
        this.videoPackets += 1;
        // An empty packet must never reach beamcoder's decode: FFmpeg refuses data without a size
        // (EINVAL), and beamcoder 0.7.1 answers EINVAL by reopening the codec and sending the same packet
        // again, forever, on a libuv thread (decode.cc, decodeExecute). It holds no picture anyway; the
        // timestamp gap it leaves is reported as a lost frame.
        if (packet.size <= 0) continue;
        const decodeFrom = this.host.decodeFrom;
        if (decodeFrom !== undefined && packet.pos >= 0 && packet.pos < decodeFrom) {
          // Before the sync sample the edit-start skip fetched from: zeros, and nothing shown needs them.
          this.packetsBeforeSync += 1;
          continue;
        }
        if (
          !this.host.headers.packetSpsAccepted(
            packet,
            this.host.stream,
            this.host.decoding.nal,
            this.videoPackets,
          )
        )
          return;
        if (this.trimmed(packet)) continue;
        if (this.skipper?.skippable(packet)) continue;
        await this.host.decoding.submit(packet);
      }
      await this.host.decoding.flush();
      if (this.host.active) this.host.finish();
    } catch (error) {
      this.host.failDemuxing(error);
    }
  }
}
