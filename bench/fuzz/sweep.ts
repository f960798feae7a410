/**
 * The truncation sweep: each MP4 clip cut at every box boundary (where a box starts, where its header
 * ends, where it ends) and each Matroska / WebM clip at every element boundary of its header part (all
 * but clusters' children), instead of a random one. Case ids are `cut-LAYOUT-OFFSET`.
 */

import { CLIPS, type ClipBytes, type FuzzCase, type FuzzClip } from './cases.js';
import { walkEbml } from './mutate-mkv.js';
import { walkMp4 } from './mp4-walk.js';

export const SWEEP_KIND = 'boundary-cut';

/** Every boundary of a clip, in file order, without 0 and the file's end. */
export function boundaries(clips: ClipBytes, layout: FuzzClip): number[] {
  const bytes = clips[layout];
  const family = CLIPS[layout].family;
  let offsets: number[];
  if (family === 'mp4') {
    offsets = walkMp4(bytes).flatMap((box) => [box.offset, box.bodyOffset, box.offset + box.size]);
  } else if (family === 'mkv') {
    offsets = walkEbml(bytes)
      .filter((element) => element.depth <= 2 && element.id !== 0xa3 && element.id !== 0xa0)
      .flatMap((element) => [element.offset, element.sizeOffset, element.dataOffset, element.end]);
  } else {
    // MPEG-TS: the first 64 packet boundaries (PAT, PMT, the first frame's PES), then every 32nd.
    const packets = Math.floor(bytes.length / 188);
    offsets = Array.from({ length: packets }, (_, i) => i * 188).filter((at, i) => i < 64 || i % 32 === 0);
  }
  return [...new Set(offsets)].filter((at) => at > 0 && at < bytes.length).sort((a, b) => a - b);
}

/** The ids of the whole sweep, clip by clip. */
export function sweepIds(clips: ClipBytes): string[] {
  return (Object.keys(CLIPS) as FuzzClip[]).flatMap((layout) =>
    boundaries(clips, layout).map((at) => `cut-${layout}-${at}`),
  );
}

export function makeCutCase(clips: ClipBytes, layout: FuzzClip, at: number): FuzzCase {
  const bytes = clips[layout];
  if (!(at > 0 && at < bytes.length)) {
    throw new Error(`fuzz: cut-${layout}-${at}: the cut must lie inside the clip (1..${bytes.length - 1})`);
  }
  return {
    id: `cut-${layout}-${at}`,
    clip: layout,
    kind: SWEEP_KIND,
    detail: `cut at ${at} of ${bytes.length}`,
    ext: CLIPS[layout].ext,
    bytes: bytes.slice(0, at),
  };
}
