/**
 * What the MP4 index readers (mp4-index.ts, mp4-fragment-index.ts, mp4-edit-start.ts) share: a walk over
 * the boxes of a `moov` or `moof` that never reads past a box's bytes (a short or overrunning box throws
 * {@link IndexError}, which each reader turns into a reason), the first video `trak`, and its edit list.
 */

/** How many samples after the first are checked for an earlier presentation time. */
export const REORDER_WINDOW = 16;

export interface Box {
  readonly type: string;
  readonly body: number;
  readonly end: number;
}

export class IndexError extends Error {}

/**
 * A co64 chunk offset as a number: one past 2^53 (no file's, and not exact as a number) makes the moov
 * malformed rather than a position that later arithmetic would round.
 */
export function wideOffset(view: DataView, at: number): number {
  const offset = view.getBigUint64(at);
  if (offset > BigInt(Number.MAX_SAFE_INTEGER))
    throw new IndexError(`a chunk offset of ${offset} (past 2^53)`);
  return Number(offset);
}

/**
 * The boxes in [from, to). A size-0 box ("to the end of the file") is only a top-level box's right: the
 * root walk (`from` 0) accepts it, a walk inside a box does not.
 */
export function* children(view: DataView, from: number, to: number): Generator<Box> {
  for (let at = from; at + 8 <= to;) {
    let size = view.getUint32(at);
    const type = String.fromCharCode(
      view.getUint8(at + 4),
      view.getUint8(at + 5),
      view.getUint8(at + 6),
      view.getUint8(at + 7),
    );
    let header = 8;
    if (size === 1) {
      if (at + 16 > to) throw new IndexError(`64-bit header of ${type} cut off`);
      size = Number(view.getBigUint64(at + 8));
      header = 16;
    } else if (size === 0) {
      if (from !== 0) throw new IndexError(`box ${type} has size 0 inside its parent`);
      size = to - at;
    }
    if (size < header || at + size > to) throw new IndexError(`box ${type} runs past its parent`);
    yield { type, body: at + header, end: at + size };
    at += size;
  }
}

export function child(view: DataView, parent: Box, type: string): Box | undefined {
  for (const box of children(view, parent.body, parent.end)) if (box.type === type) return box;
  return undefined;
}

export function path(view: DataView, parent: Box, ...types: string[]): Box | undefined {
  let box: Box | undefined = parent;
  for (const type of types) {
    box = box && child(view, box, type);
    if (!box) return undefined;
  }
  return box;
}

/** A full box's version byte; its entries start 4 bytes into the body. */
export const version = (view: DataView, box: Box) => (need(view, box, 4), view.getUint8(box.body));

export function need(view: DataView, box: Box, bytes: number): void {
  if (box.body + bytes > box.end) throw new IndexError(`${box.type} is shorter than its entries`);
}

export function readEdit(view: DataView, trak: Box): number | string {
  const elst = path(view, trak, 'edts', 'elst');
  if (!elst) return 0;
  const wide = version(view, elst) === 1;
  need(view, elst, 8);
  const count = view.getUint32(elst.body + 4);
  if (count === 0) return 0;
  if (count > 1) return `${count} edits`;
  need(view, elst, 8 + (wide ? 20 : 12));
  const entry = elst.body + 8;
  const mediaTime = wide ? Number(view.getBigInt64(entry + 8)) : view.getInt32(entry + 4);
  const rate = view.getInt32(entry + (wide ? 16 : 8));
  if (mediaTime < 0) return 'an empty edit';
  if (rate !== 0x10000) return `an edit at rate ${rate / 0x10000}`;
  return mediaTime;
}

/**
 * The moov box at the start of `view` and its first video `trak` (handler 'vide'), as FFmpeg orders
 * streams; a string says why there is none. Throws where a box is too short (the callers' catch).
 */
export function firstVideoTrak(view: DataView, byteLength: number): { root: Box; trak: Box } | string {
  const root = children(view, 0, byteLength).next().value as Box | undefined;
  if (!root || root.type !== 'moov') return 'not a moov box';
  for (const trak of children(view, root.body, root.end)) {
    if (trak.type !== 'trak') continue;
    const hdlr = path(view, trak, 'mdia', 'hdlr');
    if (hdlr && (need(view, hdlr, 12), view.getUint32(hdlr.body + 8)) === 0x76696465) return { root, trak }; // 'vide'
  }
  return 'no video track';
}
