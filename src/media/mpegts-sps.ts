/**
 * The picture size of an MPEG-TS video stream from its first sequence parameter set, read from the
 * transport packets as they arrive, before FFmpeg opens the stream (its open decodes H.264 frames to
 * guess the decode delay, at whatever size the SPS says).
 *
 * The walk follows the PAT to the first program's PMT, takes the first H.264 (stream type 0x1B) or HEVC
 * (0x24) elementary stream, and reads its PES payload until an SPS parses. Only that payload is copied,
 * up to a cap; everything else is read in place.
 */

import { spsDimensions, type SpsDimensions } from './sps.js';

const PACKET = 188;
const SYNC = 0x47;
/** Parameter sets come first in a PES that starts a GOP; this much payload without one means none. */
const MAX_PAYLOAD_BYTES = 256 * 1024;
/** An SPS is tens of bytes; one still unreadable this far on is not cut off but broken. */
const PENDING_SPS_BYTES = 4096;

export interface MpegtsVideoSps extends SpsDimensions {
  readonly codec: 'h264' | 'hevc';
  /** The elementary stream's PID. */
  readonly pid: number;
}

/** What the reader has found so far. */
export type MpegtsSpsResult =
  | { readonly kind: 'found'; readonly sps: MpegtsVideoSps }
  /** Not to be found in this stream: no H.264/HEVC stream in the PMT, a lost sync byte, or the cap passed. */
  | { readonly kind: 'none'; readonly reason: string };

export interface MpegtsSpsReader {
  /** The next chunk of the stream (from its first byte on). Undefined while more bytes may tell. */
  push(chunk: Uint8Array): MpegtsSpsResult | undefined;
  /** Bytes copied so far: partial packets across chunk edges and the video payload read. */
  readonly bytesCopied: number;
}

/**
 * ```ts
 * const reader = createMpegtsSpsReader();
 * const result = reader.push(chunk); // once 'found': check result.sps.width/height against the limits
 * ```
 */
export function createMpegtsSpsReader(): MpegtsSpsReader {
  const partial = new Uint8Array(PACKET);
  let partialLength = 0;
  let copied = 0;
  let result: MpegtsSpsResult | undefined;
  let pmtPid: number | undefined;
  let video: { pid: number; codec: 'h264' | 'hevc' } | undefined;
  let payload = new Uint8Array(0);
  let payloadLength = 0;
  let inPes = false;
  /** Payload bytes before this have been scanned for start codes. */
  let scanned = 0;
  /** Where an SPS that did not parse yet starts in the payload. */
  let pendingSps: number | undefined;

  const append = (bytes: Uint8Array): void => {
    if (payloadLength + bytes.byteLength > payload.byteLength) {
      const grown = new Uint8Array(
        Math.min(MAX_PAYLOAD_BYTES, Math.max(4096, (payloadLength + bytes.byteLength) * 2)),
      );
      grown.set(payload.subarray(0, payloadLength));
      copied += payloadLength;
      payload = grown;
    }
    const take = Math.min(bytes.byteLength, payload.byteLength - payloadLength);
    payload.set(bytes.subarray(0, take), payloadLength);
    payloadLength += take;
    copied += take;
  };

  /** The payload of a PSI section (PAT, PMT) starting in this packet: after the pointer field. */
  const section = (body: Uint8Array): Uint8Array | undefined => {
    if (body.byteLength < 1) return undefined;
    const start = 1 + body[0]!;
    if (start + 3 > body.byteLength) return undefined;
    const length = ((body[start + 1]! & 0x0f) << 8) | body[start + 2]!;
    return body.subarray(start, Math.min(body.byteLength, start + 3 + length));
  };

  const onPat = (table: Uint8Array): void => {
    // table_id 0, then 5 bytes after the length; 4-byte entries until the CRC.
    if (table[0] !== 0x00) return;
    for (let at = 8; at + 4 <= table.byteLength - 4; at += 4) {
      const program = (table[at]! << 8) | table[at + 1]!;
      if (program === 0) continue; // the network PID
      pmtPid = ((table[at + 2]! & 0x1f) << 8) | table[at + 3]!;
      return;
    }
  };

  const onPmt = (table: Uint8Array): MpegtsSpsResult | undefined => {
    if (table[0] !== 0x02 || table.byteLength < 12) return undefined;
    const infoLength = ((table[10]! & 0x0f) << 8) | table[11]!;
    for (let at = 12 + infoLength; at + 5 <= table.byteLength - 4;) {
      const type = table[at]!;
      const pid = ((table[at + 1]! & 0x1f) << 8) | table[at + 2]!;
      const esInfo = ((table[at + 3]! & 0x0f) << 8) | table[at + 4]!;
      if (type === 0x1b || type === 0x24) {
        video = { pid, codec: type === 0x1b ? 'h264' : 'hevc' };
        return undefined;
      }
      at += 5 + esInfo;
    }
    return { kind: 'none', reason: 'no H.264 or HEVC stream in the PMT' };
  };

  const onVideo = (body: Uint8Array, unitStart: boolean): MpegtsSpsResult | undefined => {
    let data = body;
    if (unitStart) {
      // PES header: start code, stream id, length, two flag bytes, header data length.
      if (data.byteLength < 9 || data[0] !== 0 || data[1] !== 0 || data[2] !== 1) return undefined;
      data = data.subarray(Math.min(data.byteLength, 9 + data[8]!));
      inPes = true;
    }
    if (!inPes) return undefined;
    append(data);
    return scan();
  };

  /**
   * Looks for SPS units in the payload appended since the last look (each byte scanned once); an SPS
   * that does not parse yet may be cut off, and is tried again as bytes come, for up to 4 KB.
   */
  const scan = (): MpegtsSpsResult | undefined => {
    const { codec, pid } = video!;
    const spsType = codec === 'h264' ? 7 : 33;
    const tryAt = (at: number): MpegtsSpsResult | undefined => {
      const sps = spsDimensions(codec, payload.subarray(at, payloadLength));
      return sps ? { kind: 'found', sps: { ...sps, codec, pid } } : undefined;
    };
    if (pendingSps !== undefined) {
      const found = tryAt(pendingSps);
      if (found) return found;
      if (payloadLength - pendingSps > PENDING_SPS_BYTES) pendingSps = undefined;
    }
    for (let at = Math.max(0, scanned - 3); at + 3 < payloadLength; at += 1) {
      if (payload[at] !== 0 || payload[at + 1] !== 0 || payload[at + 2] !== 1) continue;
      const header = payload[at + 3]!;
      const type = codec === 'h264' ? header & 0x1f : (header >> 1) & 0x3f;
      if (type !== spsType) continue;
      const found = tryAt(at + 3);
      if (found) return found;
      pendingSps = at + 3;
    }
    scanned = payloadLength;
    if (payloadLength >= MAX_PAYLOAD_BYTES)
      return { kind: 'none', reason: `no SPS in the first ${MAX_PAYLOAD_BYTES} bytes of video` };
    return undefined;
  };

  const onPacket = (packet: Uint8Array): MpegtsSpsResult | undefined => {
    if (packet[0] !== SYNC) return { kind: 'none', reason: 'a transport packet without its sync byte' };
    const unitStart = (packet[1]! & 0x40) !== 0;
    const pid = ((packet[1]! & 0x1f) << 8) | packet[2]!;
    const control = (packet[3]! >> 4) & 0x03;
    if ((control & 0x01) === 0) return undefined; // no payload
    let start = 4;
    if (control & 0x02) start += 1 + packet[4]!;
    if (start >= PACKET) return undefined;
    const body = packet.subarray(start);
    if (pid === 0 && unitStart) {
      const table = section(body);
      if (table) onPat(table);
    } else if (pid === pmtPid && unitStart && !video) {
      const table = section(body);
      if (table) return onPmt(table);
    } else if (video && pid === video.pid) {
      return onVideo(body, unitStart);
    }
    return undefined;
  };

  return {
    push(chunk) {
      if (result) return result;
      let at = 0;
      if (partialLength > 0) {
        const take = Math.min(PACKET - partialLength, chunk.byteLength);
        partial.set(chunk.subarray(0, take), partialLength);
        partialLength += take;
        copied += take;
        at = take;
        if (partialLength < PACKET) return undefined;
        partialLength = 0;
        result = onPacket(partial);
      }
      for (; !result && at + PACKET <= chunk.byteLength; at += PACKET)
        result = onPacket(chunk.subarray(at, at + PACKET));
      if (!result && at < chunk.byteLength) {
        partial.set(chunk.subarray(at), 0);
        partialLength = chunk.byteLength - at;
        copied += partialLength;
      }
      return result;
    },
    get bytesCopied() {
      return copied;
    },
  };
}
