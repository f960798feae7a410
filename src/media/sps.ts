/**
 * Picture size from an H.264 or HEVC sequence parameter set, read before any decoder is made.
 *
 * The SPS is what the decoder sizes its picture buffers by: a 16000×16000 SPS behind a 640×360 sample
 * description made FFmpeg allocate and decode for the whole budget (issue 14). MP4 carries the SPS in the
 * sample description (avcC / hvcC, see {@link decoderConfigSps}); MPEG-TS and Matroska in-band, as NAL
 * units of type 7 (H.264) or 33 (HEVC) in the first packets.
 *
 * Only the fields before the picture size are parsed (H.264 7.3.2.1.1, HEVC 7.3.2.2); a malformed or
 * cut-off SPS gives undefined, never an exception.
 */

export interface SpsDimensions {
  /** The picture the decoder outputs: the coded size less the cropping (conformance window). */
  readonly width: number;
  readonly height: number;
  /** The picture the decoder allocates: whole macroblocks (H.264) or the luma sample counts (HEVC). */
  readonly codedWidth: number;
  readonly codedHeight: number;
}

/** H.264 profiles whose SPS carries chroma format, bit depths and scaling matrices. */
const H264_HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);
/** An SPS is tens of bytes; scaling lists at most about a kilobyte. Nothing past this is read. */
const MAX_SPS_BYTES = 4096;

class SpsEnd extends Error {}

/** RBSP bits of a NAL unit (emulation prevention bytes removed), read MSB first. */
class BitReader {
  private readonly bytes: Uint8Array;
  private bit = 0;

  constructor(nal: Uint8Array, headerBytes: number) {
    const source = nal.subarray(headerBytes, Math.min(nal.byteLength, MAX_SPS_BYTES));
    const rbsp = new Uint8Array(source.byteLength);
    let length = 0;
    let zeros = 0;
    for (const byte of source) {
      if (zeros >= 2 && byte === 3) {
        zeros = 0;
        continue;
      }
      rbsp[length++] = byte;
      zeros = byte === 0 ? zeros + 1 : 0;
    }
    this.bytes = rbsp.subarray(0, length);
  }

  u(bits: number): number {
    let value = 0;
    for (let i = 0; i < bits; i += 1) {
      const byte = this.bytes[this.bit >> 3];
      if (byte === undefined) throw new SpsEnd();
      value = value * 2 + ((byte >> (7 - (this.bit & 7))) & 1);
      this.bit += 1;
    }
    return value;
  }

  skip(bits: number): void {
    if ((this.bit + bits) >> 3 > this.bytes.byteLength) throw new SpsEnd();
    this.bit += bits;
  }

  /** Exp-Golomb ue(v); more than 31 leading zeros cannot be a field of an SPS. */
  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) {
      zeros += 1;
      if (zeros > 31) throw new SpsEnd();
    }
    return 2 ** zeros - 1 + this.u(zeros);
  }

  se(): number {
    const code = this.ue();
    return code % 2 === 1 ? (code + 1) / 2 : -(code / 2);
  }
}

/**
 * The picture size an SPS NAL unit (header included, as in avcC/hvcC or after an Annex B start code)
 * announces; undefined when `nal` is not an SPS of that codec or is malformed.
 *
 * ```ts
 * spsDimensions('h264', sps); // { width: 640, height: 360, codedWidth: 640, codedHeight: 368 }
 * ```
 */
export function spsDimensions(codec: string, nal: Uint8Array): SpsDimensions | undefined {
  try {
    if (codec === 'h264') return h264Sps(nal);
    if (codec === 'hevc') return hevcSps(nal);
    return undefined;
  } catch (error) {
    if (error instanceof SpsEnd) return undefined;
    throw error;
  }
}

function h264Sps(nal: Uint8Array): SpsDimensions | undefined {
  if (nal.byteLength < 4 || (nal[0]! & 0x1f) !== 7 || nal[0]! & 0x80) return undefined;
  const bits = new BitReader(nal, 1);
  const profile = bits.u(8);
  bits.skip(16); // constraint flags, level
  if (bits.ue() > 31) return undefined; // seq_parameter_set_id
  let chromaFormat = 1;
  let separateColourPlanes = false;
  if (H264_HIGH_PROFILES.has(profile)) {
    chromaFormat = bits.ue();
    if (chromaFormat > 3) return undefined;
    if (chromaFormat === 3) separateColourPlanes = bits.u(1) === 1;
    bits.ue(); // bit_depth_luma_minus8
    bits.ue(); // bit_depth_chroma_minus8
    bits.skip(1); // qpprime_y_zero_transform_bypass_flag
    if (bits.u(1) === 1) {
      for (let list = 0; list < (chromaFormat === 3 ? 12 : 8); list += 1) {
        if (bits.u(1) === 1) skipScalingList(bits, list < 6 ? 16 : 64);
      }
    }
  }
  bits.ue(); // log2_max_frame_num_minus4
  const pocType = bits.ue();
  if (pocType === 0) {
    bits.ue(); // log2_max_pic_order_cnt_lsb_minus4
  } else if (pocType === 1) {
    bits.skip(1);
    bits.se();
    bits.se();
    const cycle = bits.ue();
    if (cycle > 255) return undefined;
    for (let i = 0; i < cycle; i += 1) bits.se();
  } else if (pocType !== 2) {
    return undefined;
  }
  bits.ue(); // max_num_ref_frames
  bits.skip(1); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = bits.ue() + 1;
  const heightMapUnits = bits.ue() + 1;
  const frameMbsOnly = bits.u(1);
  if (!frameMbsOnly) bits.skip(1); // mb_adaptive_frame_field_flag
  bits.skip(1); // direct_8x8_inference_flag
  const codedWidth = widthMbs * 16;
  const codedHeight = (2 - frameMbsOnly) * heightMapUnits * 16;
  if (bits.u(1) === 0) return { width: codedWidth, height: codedHeight, codedWidth, codedHeight };
  const chromaArrayType = separateColourPlanes ? 0 : chromaFormat;
  const unitX = chromaArrayType === 0 || chromaArrayType === 3 ? 1 : 2;
  const unitY = (chromaArrayType === 1 ? 2 : 1) * (2 - frameMbsOnly);
  return cropped(bits, codedWidth, codedHeight, unitX, unitY);
}

/**
 * The picture size after the SPS's crop window (left, right, top, bottom offsets read from `bits`, in units
 * of unitX × unitY pixels). FFmpeg ignores a crop that leaves no picture, and decodes the coded size.
 */
function cropped(
  bits: BitReader,
  codedWidth: number,
  codedHeight: number,
  unitX: number,
  unitY: number,
): SpsDimensions {
  const [left, right, top, bottom] = [bits.ue(), bits.ue(), bits.ue(), bits.ue()];
  const width = codedWidth - unitX * (left + right);
  const height = codedHeight - unitY * (top + bottom);
  return width > 0 && height > 0
    ? { width, height, codedWidth, codedHeight }
    : { width: codedWidth, height: codedHeight, codedWidth, codedHeight };
}

function skipScalingList(bits: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j += 1) {
    if (next !== 0) {
      next = (last + bits.se() + 256) % 256;
    }
    last = next === 0 ? last : next;
  }
}

function hevcSps(nal: Uint8Array): SpsDimensions | undefined {
  if (nal.byteLength < 4 || ((nal[0]! >> 1) & 0x3f) !== 33 || nal[0]! & 0x80) return undefined;
  const bits = new BitReader(nal, 2);
  bits.skip(4); // sps_video_parameter_set_id
  const subLayers = bits.u(3); // sps_max_sub_layers_minus1
  bits.skip(1); // sps_temporal_id_nesting_flag
  // profile_tier_level(1, sps_max_sub_layers_minus1)
  bits.skip(88 + 8);
  const profilePresent: boolean[] = [];
  const levelPresent: boolean[] = [];
  for (let i = 0; i < subLayers; i += 1) {
    profilePresent.push(bits.u(1) === 1);
    levelPresent.push(bits.u(1) === 1);
  }
  if (subLayers > 0) bits.skip(2 * (8 - subLayers));
  for (let i = 0; i < subLayers; i += 1) {
    if (profilePresent[i]) bits.skip(88);
    if (levelPresent[i]) bits.skip(8);
  }
  if (bits.ue() > 15) return undefined; // sps_seq_parameter_set_id
  const chromaFormat = bits.ue();
  if (chromaFormat > 3) return undefined;
  const separateColourPlanes = chromaFormat === 3 && bits.u(1) === 1;
  const codedWidth = bits.ue();
  const codedHeight = bits.ue();
  if (codedWidth === 0 || codedHeight === 0) return undefined;
  if (bits.u(1) === 0) return { width: codedWidth, height: codedHeight, codedWidth, codedHeight };
  const chromaArrayType = separateColourPlanes ? 0 : chromaFormat;
  const unitX = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
  const unitY = chromaArrayType === 1 ? 2 : 1;
  return cropped(bits, codedWidth, codedHeight, unitX, unitY);
}

/**
 * The SPS NAL units in an MP4 decoder configuration: avcC (ISO/IEC 14496-15 5.3.3.1) or hvcC (8.3.3.1),
 * the box body FFmpeg takes as extradata. Empty when there are none or the configuration is cut off.
 */
export function decoderConfigSps(codec: string, config: Uint8Array): Uint8Array[] {
  const units: Uint8Array[] = [];
  const take = (at: number): number | undefined => {
    if (at + 2 > config.byteLength) return undefined;
    const length = (config[at]! << 8) | config[at + 1]!;
    if (at + 2 + length > config.byteLength) return undefined;
    units.push(config.subarray(at + 2, at + 2 + length));
    return at + 2 + length;
  };
  if (codec === 'h264') {
    if (config.byteLength < 6 || config[0] !== 1) return [];
    let at: number | undefined = 6;
    for (let i = 0; i < (config[5]! & 0x1f) && at !== undefined; i += 1) at = take(at);
    return units.filter((unit) => unit.byteLength > 0 && (unit[0]! & 0x1f) === 7);
  }
  if (codec === 'hevc') {
    if (config.byteLength < 23 || config[0] !== 1) return [];
    let at: number | undefined = 23;
    for (let array = 0; array < config[22]! && at !== undefined; array += 1) {
      if (at + 3 > config.byteLength) break;
      const count = (config[at + 1]! << 8) | config[at + 2]!;
      at += 3;
      for (let i = 0; i < count && at !== undefined; i += 1) at = take(at);
    }
    return units.filter((unit) => unit.byteLength > 0 && ((unit[0]! >> 1) & 0x3f) === 33);
  }
  return [];
}
