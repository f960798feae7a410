import { scanTopLevelBoxes, type Mp4Box } from './mp4-boxes.js';

export type ContainerLayout = 'faststart' | 'moov-end' | 'fragmented' | 'mpegts' | 'matroska' | 'other';

/** Boxes an MP4 / ISO-BMFF file can start with. */
export const MP4_FIRST_BOXES: ReadonlySet<string> = new Set([
  'ftyp',
  'styp',
  'moov',
  'mdat',
  'free',
  'skip',
  'wide',
  'pdin',
  'uuid',
  'moof',
]);

/** A moov with an mvex box announces fragments even before the first moof has arrived. */
function hasMvex(prefix: Uint8Array, moov: Mp4Box): boolean {
  const body = prefix.subarray(
    moov.offset + moov.headerSize,
    Math.min(prefix.byteLength, moov.offset + moov.size),
  );
  return scanTopLevelBoxes(body).some((box) => box.type === 'mvex');
}

/**
 * The container layout from the first bytes of a file: for MP4, which of moov, mdat and moof comes first
 * (and, for moov-end, the mdat box whose end is where the moov starts); otherwise the container's magic.
 * Undefined while an MP4 prefix shows no moov, mdat or moof yet (only ftyp or free space): more bytes decide.
 */
export function sniffLayout(prefix: Uint8Array): { layout: ContainerLayout; mdat?: Mp4Box } | undefined {
  const boxes = scanTopLevelBoxes(prefix);
  if (boxes.length === 0 || !MP4_FIRST_BOXES.has(boxes[0]!.type)) {
    if (prefix[0] === 0x47 && (prefix.byteLength < 189 || prefix[188] === 0x47)) return { layout: 'mpegts' };
    if (prefix[0] === 0x1a && prefix[1] === 0x45 && prefix[2] === 0xdf && prefix[3] === 0xa3)
      return { layout: 'matroska' };
    return { layout: 'other' };
  }
  const first = boxes.find((box) => box.type === 'moov' || box.type === 'mdat' || box.type === 'moof');
  if (!first) return undefined;
  if (first.type === 'mdat') return { layout: 'moov-end', mdat: first };
  const fragmented =
    first.type === 'moof' || boxes.some((box) => box.type === 'moof') || hasMvex(prefix, first);
  return { layout: fragmented ? 'fragmented' : 'faststart' };
}
