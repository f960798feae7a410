/**
 * The rules for a fragment's `moof` (mp4-check.ts): each traf's header fields against its bytes, each
 * trun's sample count against its bytes and, with the file's size known, its sample data inside the file.
 */

import { checkLeaf } from './mp4-check-moov.js';
import { BoxReader, Fault, MAX_MP4_SAMPLES, type Node } from './mp4-check-reader.js';

/** A moof's trafs in order; one without an explicit base has its data after the previous one's. */
export function checkMoofBoxes(r: BoxReader, root: Node): void {
  const boxes = r.children(root);
  // Without base-data-offset or default-base-is-moof, a traf's data follows the previous one's.
  let nextBase = r.base;
  for (const box of boxes) {
    if (box.type !== 'traf') continue;
    nextBase = checkTraf(r, box, nextBase);
  }
}

function checkTraf(r: BoxReader, traf: Node, implicitBase: number): number {
  const boxes = r.children(traf);
  const tfhd = boxes.find((box) => box.type === 'tfhd');
  if (!tfhd) throw new Fault(traf, 'tfhd', 'none', 'one tfhd', 'track fragment header');
  r.need(tfhd, 8, 'flags and track id');
  const flags = r.u32(tfhd.body) & 0xffffff;
  const optional = [0x1, 0x2, 0x8, 0x10, 0x20].reduce(
    (n, bit) => n + (flags & bit ? (bit === 0x1 ? 8 : 4) : 0),
    0,
  );
  r.need(tfhd, 8 + optional, 'the fields its flags announce');
  let base = flags & 0x20000 ? r.base : implicitBase;
  let cursor = tfhd.body + 8;
  if (flags & 0x1) {
    base = Number(r.view.getBigUint64(cursor));
    cursor += 8;
  }
  if (flags & 0x2) cursor += 4;
  if (flags & 0x8) cursor += 4;
  const defaultSize = flags & 0x10 ? r.u32(cursor) : undefined;
  let end = base;
  for (const box of boxes) {
    switch (box.type) {
      case 'tfdt':
        r.need(box, 4, 'version');
        r.need(box, r.version(box) === 1 ? 12 : 8, 'the decode time');
        break;
      case 'trun':
        end = checkTrun(r, box, base, defaultSize, end);
        break;
      case 'sbgp':
      case 'sgpd':
        checkLeaf(r, box);
        break;
      case 'saiz': {
        r.need(box, 4, 'flags');
        const countAt = box.body + 4 + (r.u32(box.body) & 1 ? 8 : 0) + 1;
        r.need(box, countAt + 4 - box.body, 'the sample count');
        r.table(box, countAt, r.bytes[countAt - 1] === 0 ? 1 : 0, MAX_MP4_SAMPLES, 'sample_count');
        break;
      }
      case 'saio': {
        r.need(box, 4, 'flags');
        const countAt = box.body + 4 + (r.u32(box.body) & 1 ? 8 : 0);
        r.need(box, countAt + 4 - box.body, 'the entry count');
        r.table(box, countAt, r.version(box) === 1 ? 8 : 4, MAX_MP4_SAMPLES);
        break;
      }
    }
  }
  return end;
}

/** A trun's sample count against its bytes, and its data against the file's end. Returns its data's end. */
function checkTrun(
  r: BoxReader,
  box: Node,
  base: number,
  defaultSize: number | undefined,
  previousEnd: number,
): number {
  r.need(box, 8, 'flags and sample count');
  const flags = r.u32(box.body) & 0xffffff;
  const fixed = (flags & 0x1 ? 4 : 0) + (flags & 0x4 ? 4 : 0);
  r.need(box, 8 + fixed, 'the fields its flags announce');
  const perSample = [0x100, 0x200, 0x400, 0x800].filter((bit) => flags & bit).length * 4;
  const count = r.u32(box.body + 4);
  if (count > MAX_MP4_SAMPLES)
    throw new Fault(box, 'sample_count', count, `≤ ${MAX_MP4_SAMPLES}`, 'sample count');
  const left = r.bodyLength(box) - 8 - fixed;
  if (count * perSample > left) {
    throw new Fault(
      box,
      'sample_count',
      count,
      `${count} × ${perSample} bytes ≤ the ${left} bytes the box holds`,
      'sample count',
    );
  }
  const start = flags & 0x1 ? base + r.view.getInt32(box.body + 8) : previousEnd;
  const fileSize = r.options.fileSize;
  let bytes = 0;
  if (flags & 0x200) {
    const sizeAt = [0x100].filter((bit) => flags & bit).length * 4;
    for (let i = 0; i < count; i += 1) bytes += r.u32(box.body + 8 + fixed + i * perSample + sizeAt);
  } else if (defaultSize !== undefined) {
    bytes = count * defaultSize;
  }
  if (start < 0)
    throw new Fault(
      box,
      'data_offset',
      start - base,
      `≥ ${-base} (the data starts at byte ${start})`,
      'data offset',
    );
  if (fileSize !== undefined && start + bytes > fileSize) {
    throw new Fault(
      box,
      'data_offset',
      start,
      `${start} + ${bytes} bytes of samples ≤ file size ${fileSize}`,
      'sample data at',
    );
  }
  return start + bytes;
}
