import type { Beamcoder } from '../../media/beamcoder.js';
import type { ContainerLayout } from '../../media/layout.js';
import { scanTopLevelBoxes, type Mp4Box } from '../../media/mp4-boxes.js';
import { checkMoof } from '../../media/mp4-check.js';
import { mp4StreamHeader } from '../../media/mp4-header.js';
import {
  firstFragmentSample,
  readVideoTrack,
  type SampleLocation,
  type VideoTrackIndex,
} from '../../media/mp4-index.js';
import type { SessionContext } from './context.js';
import type { Decoders } from './decoders.js';
import { MP4_DEMUXER } from './demuxer.js';
import { concatBytes } from './held-bytes.js';
import type { Mutable, VideoStreamInfo } from './options.js';

/** Past this many bytes without frame 0's sample located and in, the MP4 index path gives way to FFmpeg. */
export const INDEX_MAX_BYTES = 32 * 1024 * 1024;
/** FFmpeg's AV_INPUT_BUFFER_PADDING_SIZE: decoders may read this far past a packet's end. */
const PACKET_PADDING = 64;

/** What frame 0 from the index needs of the session. */
export interface IndexHost extends SessionContext {
  readonly bc: typeof Beamcoder;
  readonly layout: ContainerLayout;
  readonly inputEnded: boolean;
  /** The offset of the moov already checked (structure and limits) when the layout was decided. */
  readonly moovCheckedAt: number | undefined;
  /** Frame 0's stream description comes from the index until FFmpeg opens. */
  stream: Mutable<VideoStreamInfo> | undefined;
  /** Checks a whole moov (structure, then what it states against the limits); false: the session failed. */
  moovAccepted(moov: Uint8Array, offset: number): boolean;
  /**
   * The stream's size and pixel format are known: the conversion can be built ahead of frame 0, and warmed
   * with a blank frame unless `warm` is false.
   */
  prepareConversion(width: number, height: number, format: string, warm?: boolean): void;
  /** Emits frame 0, decoded from the index with the timestamp FFmpeg will give it. */
  emitIndexedFrame(frame: Beamcoder.Frame, timestamp: number): Promise<void>;
}

/**
 * Decodes frame 0 of an MP4 from its index, the moment its bytes are in: the moov (and for a fragmented
 * file the first moof) says where the first video sample lies, with the decoder's configuration and the
 * timestamp FFmpeg will give it (src/media/mp4-index.ts). FFmpeg's own open needs that same sample and
 * decodes it once while probing, which put its open after frame 0's bytes (measured on the 720p bench
 * clip: open 17 ms after them, frame 0 decoded another 16 ms later). Until this is settled (frame 0 out,
 * or given up with an `index-skipped` event) the main stream's bytes are kept from offset 0 and FFmpeg's
 * demuxer waits; the main decoder's own copy of frame 0 is dropped later, as with the first-frame shortcut.
 */
export class FirstFrameFromIndex {
  /** Settles once frame 0 is out, or given up: FFmpeg's demuxer opens only then. */
  readonly settled: Promise<void>;
  /** The main stream's bytes from offset 0, kept until frame 0's sample is in. */
  private chunks: { offset: number; bytes: Uint8Array }[] = [];
  /** End of the bytes held from offset 0 without a gap. */
  private end = 0;
  /** Where to look for the next top-level box header (faststart, fragmented). */
  private scanFrom = 0;
  /** The box or sample being waited for, once its header or location is known. */
  private moov: Mp4Box | undefined;
  private moof: Mp4Box | undefined;
  private track: VideoTrackIndex | undefined;
  private sample: SampleLocation | undefined;
  /** Made once the track is known, while frame 0's bytes are still on their way. */
  private decoder: Beamcoder.Decoder | undefined;
  /** Made before the track is known, for the codec most streams have (see makeDecoderAhead). */
  private ahead: { codec: string; decoder: Beamcoder.Decoder } | undefined;
  /** Frame 0's sample is in and being decoded: no more bytes are held. */
  decoding = false;
  private over = false;
  private settle!: () => void;

  constructor(
    private readonly host: IndexHost,
    private readonly decoders: Decoders,
  ) {
    this.settled = new Promise<void>((resolve) => (this.settle = resolve));
  }

  /** moov-end: the moov came (from the Range request or the response's tail), whole and checked. */
  moovArrived(moov: Mp4Box, bytes: Uint8Array): void {
    if (this.over) return;
    this.moov = moov;
    this.indexTrack(bytes);
  }

  /** The main stream's bytes at `offset`, held from offset 0 on until frame 0's sample is in. */
  hold(offset: number, bytes: Uint8Array): void {
    if (this.over || this.decoding || bytes.byteLength === 0) return;
    if (offset !== this.end) {
      this.skip(`bytes at offset ${offset} came while those from ${this.end} were awaited`);
      return;
    }
    this.chunks.push({ offset, bytes });
    this.end += bytes.byteLength;
    if (this.end > INDEX_MAX_BYTES) {
      this.skip(`frame 0 was not in within the first ${INDEX_MAX_BYTES} bytes`);
      return;
    }
    this.advance();
  }

  /** The held bytes [start, end) in one array (a view when one chunk holds them all). */
  private heldBytes(start: number, end: number): Uint8Array {
    const parts: Uint8Array[] = [];
    for (const chunk of this.chunks) {
      const from = Math.max(start, chunk.offset);
      const to = Math.min(end, chunk.offset + chunk.bytes.byteLength);
      if (from < to) parts.push(chunk.bytes.subarray(from - chunk.offset, to - chunk.offset));
    }
    return parts.length === 0 ? new Uint8Array(0) : concatBytes(parts);
  }

  /** The next top-level box of `type` once its header is held, skipping the boxes before it. */
  private topLevelBox(type: string): Mp4Box | undefined {
    for (;;) {
      const header = this.heldBytes(this.scanFrom, Math.min(this.end, this.scanFrom + 16));
      const [box] = scanTopLevelBoxes(header, this.scanFrom);
      if (!box) {
        if (header.byteLength === 16) this.skip(`no box at offset ${this.scanFrom}`);
        return undefined;
      }
      if (box.type === type) return box;
      if (box.type === 'mdat' || box.toEndOfFile) {
        this.skip(`${box.type} at offset ${box.offset} before the ${type}`);
        return undefined;
      }
      this.scanFrom = box.offset + box.size;
    }
  }

  private advance(): void {
    if (this.over || this.decoding || !this.host.active) return;
    if (!this.track) {
      // moov-end: the moov comes from the Range request or the response's tail (moovArrived).
      if (this.host.layout === 'moov-end') return;
      const moov = this.moov ?? this.topLevelBox('moov');
      if (!moov) return;
      this.moov = moov;
      if (this.end < moov.offset + moov.size) return;
      const moovBytes = this.heldBytes(moov.offset, moov.offset + moov.size);
      if (this.host.moovCheckedAt !== moov.offset && !this.host.moovAccepted(moovBytes, moov.offset)) return;
      this.indexTrack(moovBytes);
      return;
    }
    const track = this.track;
    if (!this.sample) {
      if (track.first) {
        this.sample = track.first;
      } else {
        const moof = this.moof ?? this.topLevelBox('moof');
        if (!moof) return;
        this.moof = moof;
        if (this.end < moof.offset + moof.size) return;
        const moofBytes = this.heldBytes(moof.offset, moof.offset + moof.size);
        const total = this.host.resource?.totalBytes;
        const problem = checkMoof(moofBytes, {
          offset: moof.offset,
          ...(total !== undefined ? { fileSize: total } : {}),
        });
        if (problem) {
          this.host.fail(this.host.located(problem));
          return;
        }
        const sample = firstFragmentSample(track, moofBytes, moof.offset);
        if (typeof sample === 'string') {
          this.skip(sample);
          return;
        }
        this.sample = sample;
        if (this.host.stream && this.host.stream.fps === undefined && sample.duration > 0) {
          this.host.stream.fps = track.timescale / sample.duration;
        }
      }
      const { offset, size, pts } = this.sample;
      this.host.emit('index', { offset, size, pts, fragmented: track.fragmented });
    }
    const sample = this.sample;
    if (this.end < sample.offset + sample.size) {
      if (this.host.inputEnded) this.skip('the input ended before frame 0 was in');
      return;
    }
    this.decodeFromIndex(track, sample, this.heldBytes(sample.offset, sample.offset + sample.size));
  }

  /** Reads the moov's first video track; frame 0's stream description comes from it until FFmpeg opens. */
  private indexTrack(moov: Uint8Array): void {
    if (this.over) return;
    const track = readVideoTrack(moov);
    if (typeof track === 'string') {
      this.skip(track);
      return;
    }
    this.track = track;
    if (this.moov) this.scanFrom = Math.max(this.scanFrom, this.moov.offset + this.moov.size);
    this.host.stream = {
      layout: this.host.layout,
      container: MP4_DEMUXER,
      codec: track.codec,
      decoder: track.codec,
      width: track.width,
      height: track.height,
      fps: track.fps,
      timeBase: [1, track.timescale],
      frameCount: indexFrameCount(moov, track.fps),
    };
    // Made while frame 0's bytes are still on their way (making one took 3–11 ms of the main thread on the
    // 2-core machine), and frame 0 decoded at once if they are in (moov at the end).
    this.decoder = this.makeDecoder(track);
    this.advance();
    // The conversion's graph is built after that; a failure surfaces at the first convert. It is warmed
    // with a blank frame only while frame 0's bytes are still on their way: beside frame 0's decode (moov at
    // the end, bytes in) the warm-up slowed the decode by more than it saved (cold 720p, medians of 4:
    // frame 0 out 244.6 ms warmed, 241.6 not).
    if (track.pixelFormat && this.host.active) {
      this.host.prepareConversion(track.width, track.height, track.pixelFormat, !this.decoding);
    }
  }

  /**
   * moov at the end: a decoder for `codec` made now, while the moov is on its way, and taken once the
   * track turns out to be of that codec (closed otherwise). Making one costs 1–6 ms of the main thread,
   * which would otherwise come after the moov, on frame 0's path.
   */
  makeDecoderAhead(codec: string): void {
    if (this.over || this.ahead || this.track || !this.host.active) return;
    this.ahead = { codec, decoder: this.decoders.own({ name: codec }) };
  }

  /** A decoder for the track's codec, configured from the index (properties one by one, as for NVDEC). */
  private makeDecoder(track: VideoTrackIndex): Beamcoder.Decoder {
    const ahead = this.ahead;
    this.ahead = undefined;
    if (ahead && ahead.codec !== track.codec) this.decoders.close(ahead.decoder);
    const decoder = ahead?.codec === track.codec ? ahead.decoder : this.decoders.own({ name: track.codec });
    const settings = decoder as unknown as Record<string, unknown>;
    settings.extradata = Buffer.from(track.extradata);
    settings.width = track.width;
    settings.height = track.height;
    return decoder;
  }

  private decodeFromIndex(track: VideoTrackIndex, sample: SampleLocation, bytes: Uint8Array): void {
    this.decoding = true;
    this.chunks = [];
    const decoder = this.decoder ?? this.makeDecoder(track);
    this.decoder = undefined;
    const data = Buffer.alloc(sample.size + PACKET_PADDING);
    data.set(bytes);
    // The size given explicitly: beamcoder's data setter leaves it at 0, and a packet with data but no size
    // makes its decode spin (see readLoop).
    const packet = this.host.bc.packet({
      data,
      size: sample.size,
      pts: sample.pts,
      dts: sample.dts,
      flags: { KEY: true },
    });
    this.decoders.fedFromJavaScript(decoder);
    const decoding = decoder
      .decode(packet)
      .then(async (decoded) => [...decoded.frames, ...(await decoder.flush()).frames][0])
      .finally(() => {
        // beamcoder frees a Buffer it was given from whichever thread drops the last reference to it,
        // and only the main thread may: drop it here, now that the flushed decoder holds none.
        (packet as unknown as { data: null }).data = null;
        this.decoders.close(decoder);
      });
    this.decoders.tail = decoding.catch(() => undefined);
    decoding.then(
      (frame) => this.emitFromIndex(frame, sample),
      (error: unknown) => this.skip(`decoding it failed: ${(error as Error).message ?? error}`),
    );
  }

  private async emitFromIndex(frame: Beamcoder.Frame | undefined, sample: SampleLocation): Promise<void> {
    if (!this.host.active || this.over) return;
    const timestamp = frame ? (frame.best_effort_timestamp ?? frame.pts) : undefined;
    if (!frame || timestamp !== sample.pts) {
      this.skip(frame ? `its frame came with timestamp ${timestamp}` : 'the decoder gave no frame for it');
      return;
    }
    await this.host.emitIndexedFrame(frame, timestamp);
    this.done();
  }

  /** Frame 0 will not come from the index: FFmpeg's demuxer takes over, with an `index-skipped` event. */
  skip(reason: string): void {
    if (this.over) return;
    this.host.emit('index-skipped', { reason });
    this.done();
  }

  /** Release: the demuxer's open waits no more. */
  release(): void {
    this.over = true;
    this.closeUnused();
    this.settle();
  }

  private done(): void {
    this.over = true;
    this.closeUnused();
    this.settle();
  }

  /** A decoder made ahead for a frame 0 that will not be decoded here is closed now. */
  private closeUnused(): void {
    if (this.decoder) this.decoders.close(this.decoder);
    if (this.ahead) this.decoders.close(this.ahead.decoder);
    this.decoder = undefined;
    this.ahead = undefined;
  }
}

/** Frames shown by the moov's first video track: stsz's count, no more than the edit list's duration holds. */
function indexFrameCount(moov: Uint8Array, fps: number | undefined): number | undefined {
  const header = mp4StreamHeader(moov);
  const count = header?.frameCount;
  if (count === undefined || !(count > 0)) return undefined;
  const seconds = header!.durationS;
  if (fps === undefined || !(fps > 0) || seconds === undefined || !(seconds > 0)) return count;
  return Math.max(1, Math.min(count, Math.round(seconds * fps)));
}
