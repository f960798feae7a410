/**
 * The rules for a sample description box (`stsd`, mp4-check-moov.ts): as many sample entries as it
 * announces, each long enough for its kind's fields, and the avcC / hvcC parameter sets inside their box.
 */

import { BoxReader, Fault, MAX_SAMPLE_DESCRIPTIONS, printable, type Node } from './mp4-check-reader.js';

/** Sample entries laid out as a VisualSampleEntry: 78 bytes of fields, then boxes (avcC, pasp, …). */
const VISUAL_ENTRIES = new Set([
  'avc1',
  'avc2',
  'avc3',
  'avc4',
  'hvc1',
  'hev1',
  'dvh1',
  'dvhe',
  'dva1',
  'dvav',
  'mp4v',
  's263',
  'vp08',
  'vp09',
  'av01',
  'encv',
  'mjp2',
  'jpeg',
]);
const VISUAL_ENTRY_FIELDS = 78;
/** AudioSampleEntry (version 0): 28 bytes of fields. */
const AUDIO_ENTRIES = new Set(['mp4a', 'enca', 'ac-3', 'ec-3', 'Opus', 'fLaC', 'alac', 'samr', 'sawb']);
const AUDIO_ENTRY_FIELDS = 28;
/** Any SampleEntry: 6 reserved bytes and a data reference index. */
const SAMPLE_ENTRY_FIELDS = 8;

/** An stsd: its entry count, each entry announced against its kind's fields, and their avcC / hvcC. */
export function checkStsd(r: BoxReader, box: Node): void {
  r.need(box, 8, 'the entry count');
  const count = r.u32(box.body + 4);
  if (count === 0) throw new Fault(box, 'entry_count', 0, '≥ 1', 'entry count');
  r.table(box, box.body + 4, 8, MAX_SAMPLE_DESCRIPTIONS);
  // Only the entries the count announces: FFmpeg reads that many and ignores the rest of the box.
  const entries = r.children(box, box.body + 8, count);
  if (entries.length < count) {
    throw new Fault(
      box,
      'entry_count',
      count,
      `≤ the ${entries.length} sample entries the box holds`,
      'entry count',
    );
  }
  for (const entry of entries) {
    const fields = VISUAL_ENTRIES.has(entry.type)
      ? VISUAL_ENTRY_FIELDS
      : AUDIO_ENTRIES.has(entry.type)
        ? AUDIO_ENTRY_FIELDS
        : SAMPLE_ENTRY_FIELDS;
    if (r.bodyLength(entry) < fields) {
      throw new Fault(
        entry,
        'size',
        entry.end - entry.start,
        `≥ ${entry.body - entry.start + fields} for a ${printable(entry.type)} sample entry`,
        'sample entry size',
      );
    }
    if (!VISUAL_ENTRIES.has(entry.type)) continue;
    for (const config of r.children(entry, entry.body + fields)) {
      if (config.type === 'avcC') avcC(r, config, entry.type === 'avc1' || entry.type === 'avc2');
      else if (config.type === 'hvcC') hvcC(r, config, entry.type === 'hvc1');
    }
  }
}

/**
 * avcC: version 1, 5 bytes, then counted, length-prefixed SPS (NAL type 7) and PPS (8) units, all
 * inside the box. `avc1`/`avc2` keep their parameter sets here only (ISO/IEC 14496-15 5.4.2.1), so at
 * least one of each must be there; `avc3`/`avc4` may carry them in-band instead.
 */
function avcC(r: BoxReader, box: Node, setsRequired: boolean): void {
  r.need(box, 7, 'the decoder configuration');
  const version = r.bytes[box.body]!;
  if (version !== 1) throw new Fault(box, 'configurationVersion', version, '1', 'configuration version');
  let at = box.body + 5;
  for (const [mask, type, name] of [
    [0x1f, 7, 'numOfSequenceParameterSets'],
    [0xff, 8, 'numOfPictureParameterSets'],
  ] as const) {
    if (at >= box.end)
      throw new Fault(box, 'size', box.end - box.start, 'room for the parameter set counts', 'box size');
    const sets = r.bytes[at]! & mask;
    if (sets === 0 && setsRequired) throw new Fault(box, name, 0, '≥ 1 in an avc1 sample entry', name);
    at += 1;
    for (let i = 0; i < sets; i += 1) {
      const unit = at + 2;
      at = parameterSet(r, box, at);
      const header = unit < at ? r.bytes[unit]! : 0;
      if ((header & 0x1f) !== type || header & 0x80) {
        throw new Fault(
          box,
          'nal_unit_type',
          header & 0x1f,
          `${type} for each unit counted in ${name}`,
          'NAL unit type',
        );
      }
    }
  }
}

/**
 * hvcC: 23 bytes, then arrays of counted, length-prefixed VPS/SPS/PPS/SEI units, all inside the box;
 * an `hvc1` entry keeps its parameter sets here only, so an SPS (NAL type 33) must be among them.
 */
function hvcC(r: BoxReader, box: Node, spsRequired: boolean): void {
  r.need(box, 23, 'the decoder configuration');
  const arrays = r.bytes[box.body + 22]!;
  let at = box.body + 23;
  let spsUnits = 0;
  for (let a = 0; a < arrays; a += 1) {
    if (box.end - at < 3)
      throw new Fault(box, 'num_of_arrays', arrays, 'arrays inside the box', 'array count');
    const type = r.bytes[at]! & 0x3f;
    const units = r.view.getUint16(at + 1);
    if (type === 33) spsUnits += units;
    at += 3;
    for (let i = 0; i < units; i += 1) at = parameterSet(r, box, at);
  }
  if (spsRequired && spsUnits === 0)
    throw new Fault(box, 'sps', 0, '≥ 1 SPS in an hvc1 sample entry', 'SPS units');
}

function parameterSet(r: BoxReader, box: Node, at: number): number {
  if (box.end - at < 2)
    throw new Fault(box, 'parameter_set_count', box.end - at, 'a 2-byte length for each unit', 'bytes left');
  const length = r.view.getUint16(at);
  if (length > box.end - at - 2) {
    throw new Fault(
      box,
      'parameter_set_length',
      length,
      `≤ ${box.end - at - 2} bytes left in ${box.path}`,
      'parameter set length',
    );
  }
  return at + 2 + length;
}
