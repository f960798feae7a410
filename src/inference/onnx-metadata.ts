/**
 * Reads `metadata_props` (ModelProto field 14: repeated { key = 1, value = 2 }) from an ONNX file. ONNX
 * Runtime's Node binding does not expose them, and Ultralytics keeps the class names, the task and the
 * keypoint shape there. Only the protobuf wire format is walked: the graph (field 7) is skipped by its
 * length, so this is cheap on large models.
 */

export class OnnxFormatError extends Error {}

class Reader {
  at = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly end = bytes.byteLength,
  ) {}

  varint(): number {
    let value = 0;
    let factor = 1;
    for (let i = 0; i < 10; i += 1) {
      if (this.at >= this.end) throw new OnnxFormatError(`varint runs past the end at byte ${this.at}`);
      const byte = this.bytes[this.at++]!;
      value += (byte & 0x7f) * factor;
      if ((byte & 0x80) === 0) return value;
      factor *= 128;
    }
    throw new OnnxFormatError(`varint longer than 10 bytes at byte ${this.at}`);
  }

  /** Skips one field's value of the given wire type; returns [start, end) for length-delimited ones. */
  value(wireType: number): [number, number] | undefined {
    switch (wireType) {
      case 0:
        this.varint();
        return undefined;
      case 1:
        this.at += 8;
        break;
      case 5:
        this.at += 4;
        break;
      case 2: {
        const length = this.varint();
        const start = this.at;
        this.at += length;
        if (this.at > this.end)
          throw new OnnxFormatError(`field of ${length} bytes at byte ${start} runs past the end`);
        return [start, this.at];
      }
      default:
        throw new OnnxFormatError(`unknown wire type ${wireType} at byte ${this.at}`);
    }
    if (this.at > this.end) throw new OnnxFormatError('fixed-size field runs past the end');
    return undefined;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** `metadata_props` as a record; throws OnnxFormatError when the bytes are not a protobuf message. */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const reader = new Reader(bytes);
  const metadata: Record<string, string> = {};
  let sawGraph = false;
  while (reader.at < reader.end) {
    const tag = reader.varint();
    const field = Math.floor(tag / 8);
    const span = reader.value(tag & 7);
    if (field === 7 && span) sawGraph = true;
    if (field !== 14 || !span) continue;
    const entry = new Reader(bytes, span[1]);
    entry.at = span[0];
    let key = '';
    let value = '';
    while (entry.at < entry.end) {
      const entryTag = entry.varint();
      const part = entry.value(entryTag & 7);
      if (!part) continue;
      const text = utf8.decode(bytes.subarray(part[0], part[1]));
      if (entryTag >>> 3 === 1) key = text;
      else if (entryTag >>> 3 === 2) value = text;
    }
    metadata[key] = value;
  }
  if (!sawGraph) throw new OnnxFormatError('no graph (ModelProto field 7) found');
  return metadata;
}
