/**
 * Structure-aware mutations of an MP4 file: box sizes, entry counts, offsets, sample descriptions,
 * truncations at box boundaries and smashed fields, each aimed through {@link walkMp4}. Every mutator is
 * a pure function of the input and the case's random source; it returns undefined when the file has
 * nothing for it to aim at (a `ctts` in a clip without B-frames, a `trun` in a non-fragmented one).
 */

import type { Rng } from './rng.js';
import { COUNT_AT, readUint32, walkMp4, writeUint16, writeUint32, type WalkedBox } from './mp4-walk.js';
import { copyOf, type Mutation, type Mutator } from './mutation.js';

/** 32-bit values that break arithmetic: zero, one, sign and overflow edges. */
const EDGE_32 = [0, 1, 2, 7, 8, 0xff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

const hex = (value: number): string => `0x${(value >>> 0).toString(16)}`;

/** A box size, an entry count or an offset: an edge value, or one near the true value. */
function edgeNear(rng: Rng, actual: number, extra: readonly number[] = []): number {
  const near = [actual - 1, actual + 1, actual * 2, actual + 8, actual - 8, actual * 1000];
  return rng.chance(0.55) ? rng.pick([...EDGE_32, ...extra]) : rng.pick(near) >>> 0;
}

const find = (boxes: WalkedBox[], type: string) => boxes.filter((box) => box.type === type);

/** Box sizes: of any box (the moov subtree more often), to 0, 7, 0xFFFFFFFF, off by ±1, … */
const boxSize: Mutator = (input, rng) => {
  const boxes = walkMp4(input).filter((box) => box.headerSize === 8);
  if (boxes.length === 0) return undefined;
  const inMoov = boxes.filter((box) => box.path.startsWith('moov'));
  const box = rng.chance(0.7) && inMoov.length > 0 ? rng.pick(inMoov) : rng.pick(boxes);
  const bytes = copyOf(input);
  const value = edgeNear(rng, box.size, [9, 12, 16]);
  writeUint32(bytes, box.offset, value);
  return { bytes, detail: `${box.path}@${box.offset} size ${box.size} -> ${hex(value)}` };
};

/** Entry counts of the sample tables (and trun, elst, dref, stsd). */
const entryCount: Mutator = (input, rng) => {
  const tables = walkMp4(input).filter((box) => COUNT_AT[box.type] !== undefined);
  if (tables.length === 0) return undefined;
  const box = rng.pick(tables);
  const at = box.bodyOffset + COUNT_AT[box.type]!;
  const actual = readUint32(input, at);
  if (actual === undefined) return undefined;
  const bytes = copyOf(input);
  const value = edgeNear(rng, actual);
  writeUint32(bytes, at, value);
  return { bytes, detail: `${box.path} count ${actual} -> ${hex(value)}` };
};

/** Chunk offsets: one, the first or all of them, past the end of the file, to 0, or shifted. */
const chunkOffset: Mutator = (input, rng) => {
  const tables = [...find(walkMp4(input), 'stco'), ...find(walkMp4(input), 'co64')];
  if (tables.length === 0) return undefined;
  const box = rng.pick(tables);
  const count = readUint32(input, box.bodyOffset + 4) ?? 0;
  const wide = box.type === 'co64';
  const entryBytes = wide ? 8 : 4;
  const entries = Math.min(count, Math.floor((box.size - box.headerSize - 8) / entryBytes));
  if (entries <= 0) return undefined;
  const bytes = copyOf(input);
  const how = rng.pick(['one', 'first', 'all', 'shift'] as const);
  const past = rng.pick([input.length, input.length + 1, input.length + 4096, 0xffffffff, 0, 8]);
  const shift = rng.pick([1, -1, 8, -8, 4096, input.length]);
  const targets =
    how === 'all' || how === 'shift'
      ? [...Array(entries).keys()]
      : how === 'first'
        ? [0]
        : [rng.int(entries)];
  for (const entry of targets) {
    const at = box.bodyOffset + 8 + entry * entryBytes + (wide ? 4 : 0);
    const value = how === 'shift' ? (readUint32(input, at) ?? 0) + shift : past;
    writeUint32(bytes, at, value);
  }
  const what = how === 'shift' ? `shifted by ${shift}` : `-> ${hex(past)}`;
  return { bytes, detail: `${box.path} ${how} of ${entries} offsets ${what}` };
};

/** The video sample entry (avc1) and its decoder configuration (avcC: SPS, PPS, NAL length size). */
const sampleEntry: Mutator = (input, rng) => {
  const boxes = walkMp4(input);
  const entry = boxes.find((box) => box.type === 'avc1' || box.type === 'avc3');
  const avcC = boxes.find((box) => box.type === 'avcC');
  if (!entry || !avcC) return undefined;
  const bytes = copyOf(input);
  const body = avcC.bodyOffset;
  const spsLength = ((input[body + 6] ?? 0) << 8) | (input[body + 7] ?? 0);
  const what = rng.pick([
    'avc1-size',
    'avc1-dimensions',
    'avcC-size',
    'sps-count',
    'sps-length',
    'sps-zeroed',
    'sps-random',
    'nal-length-size',
    'pps-zeroed',
    'version',
  ] as const);
  let detail: string;
  switch (what) {
    case 'avc1-size':
    case 'avcC-size': {
      const box = what === 'avc1-size' ? entry : avcC;
      const value = rng.pick([0, 1, 7, 8, box.size - 1, box.size + 1, 0xffffffff]) >>> 0;
      writeUint32(bytes, box.offset, value);
      detail = `${box.path} size ${box.size} -> ${hex(value)}`;
      break;
    }
    case 'avc1-dimensions': {
      const width = rng.pick([0, 1, 16000, 0xffff]);
      const height = rng.pick([0, 1, 16000, 0xffff]);
      writeUint16(bytes, entry.bodyOffset + 24, width);
      writeUint16(bytes, entry.bodyOffset + 26, height);
      detail = `${entry.path} ${width}x${height}`;
      break;
    }
    case 'sps-count': {
      const count = rng.pick([0, 2, 31]);
      bytes[body + 5] = 0xe0 | count;
      detail = `avcC numSPS -> ${count}`;
      break;
    }
    case 'sps-length': {
      const value = rng.pick([0, 1, spsLength - 1, spsLength + 1, 0xffff]) & 0xffff;
      writeUint16(bytes, body + 6, value);
      detail = `avcC SPS length ${spsLength} -> ${value}`;
      break;
    }
    case 'sps-zeroed':
    case 'sps-random': {
      const fill = what === 'sps-random' ? rng.bytes(spsLength) : new Uint8Array(spsLength);
      // Keep the NAL header byte so that it is still an SPS, only a broken one.
      bytes.set(fill.subarray(1), body + 9);
      detail = `avcC SPS (${spsLength} bytes) ${what === 'sps-random' ? 'random' : 'zeroed'}`;
      break;
    }
    case 'nal-length-size': {
      const value = rng.pick([0, 1, 2]);
      bytes[body + 4] = 0xfc | value;
      detail = `avcC lengthSizeMinusOne -> ${value}`;
      break;
    }
    case 'pps-zeroed': {
      const ppsAt = body + 8 + spsLength;
      const ppsLength = ((input[ppsAt + 1] ?? 0) << 8) | (input[ppsAt + 2] ?? 0);
      bytes.fill(0, ppsAt + 4, Math.min(ppsAt + 3 + ppsLength, avcC.offset + avcC.size));
      detail = `avcC PPS (${ppsLength} bytes) zeroed`;
      break;
    }
    case 'version': {
      const value = rng.pick([0, 2, 0xff]);
      bytes[body] = value;
      detail = `avcC configurationVersion -> ${value}`;
      break;
    }
  }
  return { bytes, detail };
};

/** Header fields that size or time the video: timescales, durations, track size, handler type. */
const headerField: Mutator = (input, rng) => {
  const boxes = walkMp4(input);
  const fields: Array<{ box: WalkedBox; name: string; at: number }> = [];
  for (const box of boxes) {
    const v1 = input[box.bodyOffset] === 1;
    if (box.type === 'mvhd' || box.type === 'mdhd') {
      fields.push({ box, name: 'timescale', at: box.bodyOffset + (v1 ? 20 : 12) });
      fields.push({ box, name: 'duration', at: box.bodyOffset + (v1 ? 28 : 16) });
    } else if (box.type === 'tkhd') {
      fields.push({ box, name: 'width', at: box.bodyOffset + (v1 ? 88 : 76) });
      fields.push({ box, name: 'height', at: box.bodyOffset + (v1 ? 92 : 80) });
    } else if (box.type === 'hdlr') {
      fields.push({ box, name: 'handler', at: box.bodyOffset + 8 });
    } else if (box.type === 'stsz') {
      fields.push({ box, name: 'sample-size', at: box.bodyOffset + 4 });
    } else if (box.type === 'tfhd' || box.type === 'trex' || box.type === 'tfdt' || box.type === 'mfhd') {
      fields.push({ box, name: 'field', at: box.bodyOffset + 4 + 4 * rng.int(3) });
    } else if (box.type === 'trun') {
      fields.push({ box, name: 'data-offset', at: box.bodyOffset + 8 });
    }
  }
  const field = fields.filter((f) => f.at + 4 <= f.box.offset + f.box.size);
  if (field.length === 0) return undefined;
  const { box, name, at } = rng.pick(field);
  const bytes = copyOf(input);
  const value =
    name === 'handler' ? rng.pick([0x736f756e, 0x68696e74, 0]) : edgeNear(rng, readUint32(input, at) ?? 0);
  writeUint32(bytes, at, value);
  return { bytes, detail: `${box.path} ${name}@${at} -> ${hex(value)}` };
};

/** The file cut at a box boundary: where a box starts, where its header ends, where it ends, or ±1. */
const truncateAtBox: Mutator = (input, rng) => {
  const boxes = walkMp4(input);
  if (boxes.length === 0) return undefined;
  const box = rng.pick(boxes);
  const where = rng.pick(['start', 'header', 'end'] as const);
  const base = where === 'start' ? box.offset : where === 'header' ? box.bodyOffset : box.offset + box.size;
  const at = Math.max(1, Math.min(input.length - 1, base + rng.pick([0, 0, 0, -1, 1])));
  return { bytes: input.slice(0, at), detail: `cut at ${at} (${where} of ${box.path}@${box.offset})` };
};

/** 32-bit fields inside moov, 4-aligned from its start, replaced with edge or random values. */
const smashMoov: Mutator = (input, rng) => {
  const moov = walkMp4(input).find((box) => box.type === 'moov');
  if (!moov) return undefined;
  const bytes = copyOf(input);
  const count = rng.between(1, 8);
  const at: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const offset = moov.bodyOffset + 4 * rng.int(Math.floor((moov.size - moov.headerSize) / 4));
    const value = rng.chance(0.5) ? rng.pick(EDGE_32) : rng.uint32();
    writeUint32(bytes, offset, value);
    at.push(`${offset}=${hex(value)}`);
  }
  return { bytes, detail: `moov fields ${at.join(' ')}` };
};

/** A byte range inside moov duplicated in place (or dropped), with no box size adjusted. */
function moovRange(duplicate: boolean): Mutator {
  return (input, rng) => {
    const moov = walkMp4(input).find((box) => box.type === 'moov');
    if (!moov) return undefined;
    const length = rng.between(1, Math.min(256, moov.size - moov.headerSize));
    const start = moov.bodyOffset + rng.int(moov.size - moov.headerSize - length + 1);
    const cut = start + length;
    const bytes = duplicate
      ? concat(input.subarray(0, cut), input.subarray(start, cut), input.subarray(cut))
      : concat(input.subarray(0, start), input.subarray(cut));
    return { bytes, detail: `moov bytes ${start}..${cut} ${duplicate ? 'duplicated' : 'dropped'}` };
  };
}

/** A box renamed: moov to free, avc1 to hvc1, a table to an unknown type. */
const boxType: Mutator = (input, rng) => {
  const boxes = walkMp4(input);
  if (boxes.length === 0) return undefined;
  const box = rng.pick(boxes);
  const type = rng.pick(['free', 'skip', 'mdat', 'moov', 'hvc1', 'xxxx', '\0\0\0\0']);
  const bytes = copyOf(input);
  for (let i = 0; i < 4; i += 1) bytes[box.offset + 4 + i] = type.charCodeAt(i);
  return { bytes, detail: `${box.path}@${box.offset} renamed ${JSON.stringify(type)}` };
};

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The MP4 mutators by kind, with their relative weights. */
export const MP4_MUTATORS: Record<string, { weight: number; mutate: Mutator }> = {
  'mp4-box-size': { weight: 4, mutate: boxSize },
  'mp4-entry-count': { weight: 4, mutate: entryCount },
  'mp4-chunk-offset': { weight: 2, mutate: chunkOffset },
  'mp4-sample-entry': { weight: 3, mutate: sampleEntry },
  'mp4-header-field': { weight: 2, mutate: headerField },
  'mp4-truncate-box': { weight: 3, mutate: truncateAtBox },
  'mp4-smash-moov': { weight: 3, mutate: smashMoov },
  'mp4-dup-moov-range': { weight: 2, mutate: moovRange(true) },
  'mp4-drop-moov-range': { weight: 1, mutate: moovRange(false) },
  'mp4-box-type': { weight: 1, mutate: boxType },
};

export type { Mutation };
