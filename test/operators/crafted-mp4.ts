/**
 * Test helpers: hostile variants of a faststart H.264 fixture (`ftyp moov … mdat`, one video track, stco),
 * made by patching bytes: an SPS announcing another picture size, a zeroed SPS, chunk offsets past the
 * end, a moov size that cannot be true.
 */

/** The box of `type` whose type code is first found at or after `from` (one track: each type once). */
function box(file: Buffer, type: string, from = 0): { start: number; size: number } {
  const at = file.indexOf(type, from, 'latin1');
  if (at < 4) throw new Error(`no ${type} box`);
  return { start: at - 4, size: file.readUInt32BE(at - 4) };
}

class BitReader {
  private bit = 0;
  constructor(private readonly bytes: Uint8Array) {}
  get position(): number {
    return this.bit;
  }
  u(count: number): number {
    let value = 0;
    for (let i = 0; i < count; i += 1) {
      const byte = this.bytes[this.bit >> 3]!;
      value = (value << 1) | ((byte >> (7 - (this.bit & 7))) & 1);
      this.bit += 1;
    }
    return value;
  }
  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) zeros += 1;
    return (1 << zeros) - 1 + this.u(zeros);
  }
}

class BitWriter {
  private readonly bits: number[] = [];
  u(value: number, count: number): void {
    for (let i = count - 1; i >= 0; i -= 1) this.bits.push((value >> i) & 1);
  }
  ue(value: number): void {
    const code = value + 1;
    const length = 32 - Math.clz32(code);
    this.u(0, length - 1);
    this.u(code, length);
  }
  copy(from: Uint8Array, start: number, end: number): void {
    for (let bit = start; bit < end; bit += 1) this.bits.push((from[bit >> 3]! >> (7 - (bit & 7))) & 1);
  }
  /** The RBSP: the stop bit, zeros to the byte boundary. */
  bytes(): Uint8Array {
    this.bits.push(1);
    while (this.bits.length % 8 !== 0) this.bits.push(0);
    const out = new Uint8Array(this.bits.length / 8);
    this.bits.forEach((bit, index) => (out[index >> 3]! |= bit << (7 - (index & 7))));
    return out;
  }
}

function unescape(ebsp: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const byte of ebsp) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    out.push(byte);
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}

function escape(rbsp: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const byte of rbsp) {
    if (zeros >= 2 && byte <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(byte);
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}

/**
 * An H.264 SPS NAL (header byte included) with its picture size set to `width`×`height` macroblock-aligned
 * (cropping kept as it was). High profiles without scaling matrices and POC type 0 or 2 only.
 */
export function resizeSps(
  nal: Uint8Array,
  width: number,
  height: number,
  options: { dropVui?: boolean } = {},
): Uint8Array {
  const rbsp = unescape(nal.subarray(1));
  const read = new BitReader(rbsp);
  const profile = read.u(8);
  read.u(16); // constraint flags, level
  read.ue(); // seq_parameter_set_id
  if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profile)) {
    if (read.ue() === 3) read.u(1);
    read.ue();
    read.ue();
    read.u(1);
    if (read.u(1)) throw new Error('an SPS with scaling matrices');
  }
  read.ue(); // log2_max_frame_num_minus4
  const pocType = read.ue();
  if (pocType === 0) read.ue();
  else if (pocType === 1) throw new Error('an SPS with POC type 1');
  read.ue(); // max_num_ref_frames
  read.u(1); // gaps_in_frame_num_value_allowed_flag
  const sizeAt = read.position;
  read.ue();
  read.ue();
  const restAt = read.position;
  // The last 1 bit is the RBSP stop bit.
  let stop = rbsp.byteLength * 8 - 1;
  while (((rbsp[stop >> 3]! >> (7 - (stop & 7))) & 1) === 0) stop -= 1;
  if (options.dropVui) {
    // Up to vui_parameters_present_flag, which becomes 0: the SPS gets shorter.
    if (read.u(1) === 0) read.u(1); // frame_mbs_only_flag, mb_adaptive_frame_field_flag
    read.u(1); // direct_8x8_inference_flag
    if (read.u(1)) for (let i = 0; i < 4; i += 1) read.ue(); // frame cropping
    stop = read.position;
  }
  const write = new BitWriter();
  write.copy(rbsp, 0, sizeAt);
  write.ue(Math.ceil(width / 16) - 1);
  write.ue(Math.ceil(height / 16) - 1); // frame_mbs_only: map units are macroblocks
  write.copy(rbsp, restAt, stop);
  if (options.dropVui) write.u(0, 1);
  return Uint8Array.from([nal[0]!, ...escape(write.bytes())]);
}

/**
 * The clip with its avcC's first SPS replaced by `sps`: every box around it (avcC up to moov) grows by the
 * difference, and so do the chunk offsets (the moov precedes mdat).
 */
export function withSps(clip: Buffer, sps: Uint8Array): Buffer {
  const moov = box(clip, 'moov');
  const avcC = box(clip, 'avcC', moov.start);
  const lengthAt = avcC.start + 8 + 6;
  const oldLength = clip.readUInt16BE(lengthAt);
  const delta = sps.byteLength - oldLength;
  const out = Buffer.concat([
    clip.subarray(0, lengthAt),
    Buffer.from([sps.byteLength >> 8, sps.byteLength & 0xff]),
    sps,
    clip.subarray(lengthAt + 2 + oldLength),
  ]);
  for (const type of ['moov', 'trak', 'mdia', 'minf', 'stbl', 'stsd', 'avc1', 'avcC']) {
    const found = box(out, type, type === 'moov' ? 0 : moov.start);
    out.writeUInt32BE(found.size + delta, found.start);
  }
  const stco = box(out, 'stco', moov.start);
  const count = out.readUInt32BE(stco.start + 12);
  for (let i = 0; i < count; i += 1) {
    const at = stco.start + 16 + i * 4;
    out.writeUInt32BE(out.readUInt32BE(at) + delta, at);
  }
  return out;
}

/** The first SPS of the clip's avcC. */
export function spsOf(clip: Buffer): Uint8Array {
  const avcC = box(clip, 'avcC', box(clip, 'moov').start);
  const length = clip.readUInt16BE(avcC.start + 14);
  return clip.subarray(avcC.start + 16, avcC.start + 16 + length);
}

/** The clip with every byte of its SPS after the NAL header set to 0. */
export function withZeroedSps(clip: Buffer): Buffer {
  const out = Buffer.from(clip);
  const avcC = box(out, 'avcC', box(out, 'moov').start);
  const length = out.readUInt16BE(avcC.start + 14);
  out.fill(0, avcC.start + 17, avcC.start + 16 + length);
  return out;
}

/** The clip with every stco chunk offset moved past the end of the file. */
export function withChunkOffsetsPastEnd(clip: Buffer): Buffer {
  const out = Buffer.from(clip);
  const stco = box(out, 'stco', box(out, 'moov').start);
  const count = out.readUInt32BE(stco.start + 12);
  for (let i = 0; i < count; i += 1) out.writeUInt32BE(out.byteLength + 1000 + i, stco.start + 16 + i * 4);
  return out;
}

/** The clip with its moov's 32-bit size set to `size`. */
export function withMoovSize(clip: Buffer, size: number): Buffer {
  const out = Buffer.from(clip);
  out.writeUInt32BE(size, box(out, 'moov').start);
  return out;
}
