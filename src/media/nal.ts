/**
 * Whether a compressed H.264 or HEVC picture is a reference for others, read from its NAL unit headers. A
 * picture no other picture references can be left undecoded when nobody will look at it: nothing else
 * depends on it.
 *
 * Packets arrive either length-prefixed (MP4/Matroska: avcC/hvcC extradata, whose first byte is 1) or with
 * Annex B start codes (MPEG-TS).
 */

import { spsDimensions, type SpsDimensions } from './sps.js';

export type NalFormat = { kind: 'length-prefixed'; lengthSize: number } | { kind: 'annex-b' };

/** The packet format of a stream, from its codec's extradata. */
export function nalFormat(codec: string, extradata: Uint8Array | null | undefined): NalFormat | undefined {
  if (codec !== 'h264' && codec !== 'hevc') return undefined;
  if (extradata && extradata.byteLength > 0 && extradata[0] === 1) {
    // avcC: lengthSizeMinusOne in the low 2 bits of byte 4; hvcC: the same in byte 21.
    const at = codec === 'h264' ? 4 : 21;
    if (extradata.byteLength <= at) return undefined;
    return { kind: 'length-prefixed', lengthSize: (extradata[at]! & 0x03) + 1 };
  }
  return { kind: 'annex-b' };
}

/** The first header byte of each NAL unit in the packet. */
function* nalHeaders(data: Uint8Array, format: NalFormat): Generator<number> {
  if (format.kind === 'length-prefixed') {
    for (const unit of nalUnits(data, format)) yield unit[0]!;
    return;
  }
  for (let at = 0; at + 3 < data.byteLength; at += 1) {
    if (data[at] === 0 && data[at + 1] === 0 && data[at + 2] === 1) {
      yield data[at + 3]!;
      at += 3;
    }
  }
}

/**
 * Each NAL unit of the packet, header included, as a view into `data`. Annex B units end at the next
 * start code (trailing zero bytes, which belong to the next start code or are padding, are left in:
 * RBSP parsing stops before them). Stops at a length prefix that runs past the packet.
 */
function* nalUnits(data: Uint8Array, format: NalFormat): Generator<Uint8Array> {
  if (format.kind === 'length-prefixed') {
    const size = format.lengthSize;
    for (let at = 0; at + size < data.byteLength;) {
      let length = 0;
      for (let i = 0; i < size; i += 1) length = length * 256 + data[at + i]!;
      if (length === 0 || at + size + length > data.byteLength) return;
      yield data.subarray(at + size, at + size + length);
      at += size + length;
    }
    return;
  }
  let start = -1;
  for (let at = 0; at + 2 < data.byteLength; at += 1) {
    if (data[at] === 0 && data[at + 1] === 0 && data[at + 2] === 1) {
      if (start >= 0) yield data.subarray(start, at);
      start = at + 3;
      at += 2;
    }
  }
  if (start >= 0 && start < data.byteLength) yield data.subarray(start);
}

/**
 * The picture size of the first sequence parameter set in a packet, for a stream whose parameter sets
 * travel in-band (MPEG-TS, some Matroska and `avc3`/`hev1` MP4): checked before the packet reaches a
 * decoder, since a later SPS may announce a picture larger than the first. Undefined when the packet has
 * no SPS, or none that can be read.
 */
export function packetSpsDimensions(
  codec: string,
  data: Uint8Array,
  format: NalFormat,
): SpsDimensions | undefined {
  if (codec !== 'h264' && codec !== 'hevc') return undefined;
  for (const unit of nalUnits(data, format)) {
    if (unit.byteLength === 0) continue;
    const type = codec === 'h264' ? unit[0]! & 0x1f : (unit[0]! >> 1) & 0x3f;
    if (type !== (codec === 'h264' ? 7 : 33)) continue;
    const dimensions = spsDimensions(codec, unit);
    if (dimensions) return dimensions;
  }
  return undefined;
}

/**
 * True when every picture slice in the packet is marked as not used for reference: H.264 nal_ref_idc 0,
 * HEVC sub-layer non-reference types (TRAIL_N, TSA_N, STSA_N, RADL_N, RASL_N, RSV_VCL_N10/12/14). False
 * when unsure (no slice found, an unknown codec).
 */
export function isNonReferencePicture(codec: string, data: Uint8Array, format: NalFormat): boolean {
  if (codec !== 'h264' && codec !== 'hevc') return false;
  let slices = 0;
  for (const header of nalHeaders(data, format)) {
    if (codec === 'h264') {
      const type = header & 0x1f;
      if (type < 1 || type > 5) continue;
      slices += 1;
      if (((header >> 5) & 0x03) !== 0) return false;
    } else {
      const type = (header >> 1) & 0x3f;
      if (type > 31) continue;
      slices += 1;
      if (type > 14 || type % 2 !== 0) return false;
    }
  }
  return slices > 0;
}

/**
 * True when a decoder that has seen nothing before this packet decodes it and every packet after it: an
 * IDR picture (H.264 type 5; HEVC IDR_W_RADL, IDR_N_LP: no picture after it refers to one before), with
 * its parameter sets in the packet itself when they travel in-band (Annex B), as they do before each IDR
 * that FFmpeg or x264 writes. A CRA picture does not count: its RASL pictures refer to earlier ones.
 */
export function isDecoderEntryPoint(codec: string, data: Uint8Array, format: NalFormat): boolean {
  if (codec !== 'h264' && codec !== 'hevc') return false;
  const seen = new Set<number>();
  for (const header of nalHeaders(data, format)) {
    seen.add(codec === 'h264' ? header & 0x1f : (header >> 1) & 0x3f);
  }
  const idr = codec === 'h264' ? seen.has(5) : seen.has(19) || seen.has(20);
  if (!idr) return false;
  if (format.kind === 'length-prefixed') return true;
  return codec === 'h264' ? seen.has(7) && seen.has(8) : seen.has(32) && seen.has(33) && seen.has(34);
}
