import { isFirstframeError } from '../../core/errors.js';
import { packetPayload, type Beamcoder } from '../../media/beamcoder.js';
import { checkMoov } from '../../media/mp4-check.js';
import { packetSpsDimensions, type NalFormat } from '../../media/nal.js';
import type { SessionContext } from './context.js';
import { moovStreamHeaders, spsHeaders } from './headers.js';
import type { StreamHeader } from './stream-header.js';
import type { VideoStreamInfo } from './options.js';

/**
 * Headers checked before anything is decoded: what each header says (a whole moov, an SPS travelling in a
 * packet, the demuxer's stream parameters, an MPEG-TS or Matroska head) goes to `checkStream`, whose
 * exception (a run's FF_ERR_LIMIT_RESOLUTION) ends the session before a decoder allocates a frame.
 */
export class HeaderChecks {
  constructor(
    private readonly ctx: SessionContext,
    private readonly checkStream: ((header: StreamHeader) => void) | undefined,
  ) {}

  /** Hands what headers say to checkStream; false (and the session failed) when a limit refuses it. */
  accepted(headers: readonly StreamHeader[]): boolean {
    const check = this.checkStream;
    if (!check || !this.ctx.active) return this.ctx.active;
    try {
      for (const header of headers) check(header);
      return true;
    } catch (error) {
      this.ctx.emit('header-refused', { headers, code: isFirstframeError(error) ? error.code : undefined });
      this.ctx.fail(error);
      return false;
    }
  }

  /**
   * An SPS travelling in a packet (MPEG-TS, Matroska, avc3/hev1) may announce a larger picture than the
   * stream began with: checked before the decoder sees it. Length-prefixed packets cost a walk of their
   * NAL lengths; Annex B packets a scan of their bytes, so only those marked key (where encoders put the
   * SPS) are scanned. `videoPackets`: this packet's number, for the message.
   */
  packetSpsAccepted(
    packet: Beamcoder.Packet,
    stream: VideoStreamInfo | undefined,
    format: NalFormat | undefined,
    videoPackets: number,
  ): boolean {
    if (!format || !stream || !this.checkStream) return true;
    if (format.kind === 'annex-b' && !packet.flags?.KEY) return true;
    const sps = packetSpsDimensions(stream.codec, packetPayload(packet), format);
    return !sps || this.accepted(spsHeaders(sps, `the SPS in video packet ${videoPackets}`));
  }

  /**
   * A whole moov, before FFmpeg or any decoder sees it: its structure (every size, count and offset
   * bounded by what holds it and by the file), then the size and duration it states.
   */
  moovAccepted(moov: Uint8Array, offset: number): boolean {
    const total = this.ctx.resource?.totalBytes;
    const problem = checkMoov(moov, { offset, ...(total !== undefined ? { fileSize: total } : {}) });
    if (problem) {
      this.ctx.fail(this.ctx.located(problem));
      return false;
    }
    return this.accepted(moovStreamHeaders(moov));
  }
}
