/**
 * The rules for a `moov`'s boxes (mp4-check.ts): containers walked to a bounded depth, each leaf box's
 * fixed fields and tables against its bytes (sample descriptions in mp4-check-sample-entry.ts), the sample
 * table's mandatory boxes, and with the file's size known, each chunk's samples inside the file.
 */

import { checkStsd } from './mp4-check-sample-entry.js';
import { BoxReader, Fault, MAX_MP4_SAMPLES, MAX_SAMPLE_DESCRIPTIONS, type Node } from './mp4-check-reader.js';

/** FFmpeg refuses a box tree nested deeper than this (MOV_MAX_DEPTH-like); so do we. */
const MAX_DEPTH = 10;

/** Boxes whose body is a list of boxes, walked and checked child by child. */
const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl', 'edts', 'dinf', 'mvex', 'moof', 'traf']);

/**
 * A container's children, each checked (containers nested at most {@link MAX_DEPTH} deep); a sample
 * table's mandatory boxes and, with the file's size known, its chunks' extents once its children are.
 */
export function checkContainer(r: BoxReader, parent: Node, depth: number): void {
  if (depth > MAX_DEPTH) throw new Fault(parent, 'depth', depth, `≤ ${MAX_DEPTH}`, 'nesting depth');
  const boxes = r.children(parent);
  for (const box of boxes) {
    if (CONTAINERS.has(box.type)) checkContainer(r, box, depth + 1);
    else checkLeaf(r, box);
  }
  if (parent.type === 'stbl') {
    requiredTables(parent, boxes);
    if (r.options.fileSize !== undefined) chunkExtents(r, boxes);
  }
}

/**
 * The sample table's boxes ISO/IEC 14496-12 8.1 makes mandatory, empty as they are in a fragmented
 * file: without one FFmpeg opens a track with no samples, and nothing is decoded.
 */
function requiredTables(stbl: Node, boxes: Node[]): void {
  const has = (...types: string[]) => boxes.some((box) => types.includes(box.type));
  for (const types of [['stsd'], ['stts'], ['stsc'], ['stsz', 'stz2'], ['stco', 'co64']]) {
    if (!has(...types)) {
      throw new Fault(
        stbl,
        'children',
        `no ${types.join(' or ')}`,
        'stsd, stts, stsc, stsz or stz2, stco or co64',
        'a sample table with',
      );
    }
  }
}

/**
 * A box that is no container: its fixed fields and tables against its bytes (sbgp and sgpd are checked
 * in a traf too).
 */
export function checkLeaf(r: BoxReader, box: Node): void {
  const v = () => r.version(box);
  switch (box.type) {
    case 'mvhd':
      r.need(box, 4, 'version');
      r.need(box, v() === 1 ? 32 : 20, 'timescale and duration');
      return;
    case 'mdhd':
      r.need(box, 4, 'version');
      r.need(box, v() === 1 ? 32 : 20, 'timescale and duration');
      return;
    case 'tkhd':
      r.need(box, 4, 'version');
      r.need(box, v() === 1 ? 96 : 84, 'its fields');
      return;
    case 'hdlr':
      r.need(box, 12, 'the handler type');
      return;
    case 'mehd':
      r.need(box, 4, 'version');
      r.need(box, v() === 1 ? 12 : 8, 'the fragment duration');
      return;
    case 'trex':
      r.need(box, 24, 'its defaults');
      return;
    case 'elst':
      r.need(box, 8, 'the entry count');
      r.table(box, box.body + 4, v() === 1 ? 20 : 12, MAX_MP4_SAMPLES);
      return;
    case 'dref':
      r.need(box, 8, 'the entry count');
      r.table(box, box.body + 4, 8, MAX_SAMPLE_DESCRIPTIONS);
      r.children(box, box.body + 8);
      return;
    case 'stsd':
      checkStsd(r, box);
      return;
    case 'stts':
    case 'ctts':
      r.need(box, 8, 'the entry count');
      r.table(box, box.body + 4, 8, MAX_MP4_SAMPLES);
      return;
    case 'stss':
    case 'stps':
      r.need(box, 8, 'the entry count');
      r.table(box, box.body + 4, 4, MAX_MP4_SAMPLES);
      return;
    case 'stsc':
      r.need(box, 8, 'the entry count');
      r.table(box, box.body + 4, 12, MAX_MP4_SAMPLES);
      return;
    case 'stco':
      r.need(box, 8, 'the entry count');
      r.table(box, box.body + 4, 4, MAX_MP4_SAMPLES);
      return;
    case 'co64':
      r.need(box, 8, 'the entry count');
      r.table(box, box.body + 4, 8, MAX_MP4_SAMPLES);
      return;
    case 'stsz': {
      r.need(box, 12, 'the sample size and count');
      const uniform = r.u32(box.body + 4);
      const count = r.table(box, box.body + 8, uniform === 0 ? 4 : 0, MAX_MP4_SAMPLES, 'sample_count');
      const fileSize = r.options.fileSize;
      if (uniform !== 0 && fileSize !== undefined && count * uniform > fileSize) {
        throw new Fault(
          box,
          'sample_count',
          count,
          `${count} × ${uniform} bytes ≤ file size ${fileSize}`,
          'sample count',
        );
      }
      return;
    }
    case 'stz2': {
      r.need(box, 12, 'the field size and count');
      const fieldBits = r.bytes[box.body + 7]!;
      if (fieldBits !== 4 && fieldBits !== 8 && fieldBits !== 16)
        throw new Fault(box, 'field_size', fieldBits, '4, 8 or 16', 'field size');
      const count = r.u32(box.body + 8);
      if (count > MAX_MP4_SAMPLES)
        throw new Fault(box, 'sample_count', count, `≤ ${MAX_MP4_SAMPLES}`, 'sample count');
      const left = r.bodyLength(box) - 12;
      if (Math.ceil((count * fieldBits) / 8) > left)
        throw new Fault(
          box,
          'sample_count',
          count,
          `${count} × ${fieldBits} bits ≤ the ${left} bytes the box holds`,
          'sample count',
        );
      return;
    }
    case 'sbgp': {
      r.need(box, 4, 'version');
      const countAt = box.body + (v() === 1 ? 12 : 8);
      r.need(box, countAt + 4 - box.body, 'the entry count');
      r.table(box, countAt, 8, MAX_MP4_SAMPLES);
      return;
    }
    case 'sgpd': {
      r.need(box, 4, 'version');
      const version = v();
      const countAt = box.body + 8 + (version >= 1 ? 4 : 0) + (version >= 2 ? 4 : 0);
      r.need(box, countAt + 4 - box.body, 'the entry count');
      const defaultLength = version >= 1 ? r.u32(box.body + 8) : 0;
      // Version 1 with no default length prefixes each entry with its 4-byte length.
      const entryBytes = version >= 1 ? defaultLength || 4 : 1;
      r.table(box, countAt, entryBytes, MAX_MP4_SAMPLES);
      return;
    }
    default:
      // Other boxes (udta, meta, free, …) are checked for their size only, which children() did.
      return;
  }
}

/**
 * With the file's size known: each chunk's first byte, plus the sizes of the samples stsc puts in it,
 * stays inside the file. Linear in the stco and stsz entries (each visited once).
 */
function chunkExtents(r: BoxReader, boxes: Node[]): void {
  const fileSize = r.options.fileSize!;
  const chunks = boxes.find((box) => box.type === 'stco' || box.type === 'co64');
  if (!chunks) return;
  const wide = chunks.type === 'co64';
  const chunkCount = r.u32(chunks.body + 4);
  const stsc = boxes.find((box) => box.type === 'stsc');
  const stscCount = stsc ? r.u32(stsc.body + 4) : 0;
  const stsz = boxes.find((box) => box.type === 'stsz');
  const uniform = stsz ? r.u32(stsz.body + 4) : 0;
  const sampleCount = stsz ? r.u32(stsz.body + 8) : 0;
  let sample = 0;
  let run = 0;
  for (let chunk = 0; chunk < chunkCount; chunk += 1) {
    const at = chunks.body + 8 + chunk * (wide ? 8 : 4);
    const offset = wide ? Number(r.view.getBigUint64(at)) : r.u32(at);
    // stsc runs are numbered from 1 and apply until the next run's first chunk.
    while (stsc && run + 1 < stscCount && r.u32(stsc.body + 8 + (run + 1) * 12) <= chunk + 1) run += 1;
    const perChunk = stsc && stscCount > 0 ? r.u32(stsc.body + 8 + run * 12 + 4) : 0;
    const samples = Math.min(perChunk, sampleCount - sample);
    let bytes = 0;
    if (uniform !== 0) {
      bytes = samples * uniform;
    } else if (stsz) {
      for (let i = 0; i < samples; i += 1) bytes += r.u32(stsz.body + 12 + (sample + i) * 4);
    }
    sample += samples;
    if (offset + bytes > fileSize) {
      throw new Fault(
        chunks,
        'chunk_offset',
        offset,
        `chunk ${chunk} at ${offset} + ${bytes} bytes of samples ≤ file size ${fileSize}`,
        'chunk offset',
      );
    }
  }
}
