/**
 * Fuzz cases: case `index` under `seed` is one fixture clip with one mutation, chosen and applied with
 * the random source of (seed, index) alone, so the id `seed-index` is enough to make it again.
 */

import { readFile } from 'node:fs/promises';
import type { ClipLayout, FixtureSet } from '../../src/fixtures/make.js';

/** The clips fuzzed: every layout, and the faststart clip whose edit list trims its start. */
export type FuzzClip = ClipLayout | 'editlist';
import { MKV_MUTATORS } from './mutate-mkv.js';
import { MP4_MUTATORS } from './mutate-mp4.js';
import { TS_MUTATORS } from './mutate-ts.js';
import { GENERIC_MUTATORS, type Mutator } from './mutation.js';
import { createRng } from './rng.js';
import { makeCutCase } from './sweep.js';

export type Family = 'mp4' | 'ts' | 'mkv';

/** The clips mutated, how often each is drawn, and which structural mutators apply to it. */
export const CLIPS: Record<FuzzClip, { weight: number; family: Family; ext: string }> = {
  faststart: { weight: 3, family: 'mp4', ext: 'mp4' },
  'moov-end': { weight: 3, family: 'mp4', ext: 'mp4' },
  fragmented: { weight: 3, family: 'mp4', ext: 'mp4' },
  // Not .ts: the repo's TypeScript tooling would take a kept MPEG-TS case for a source file.
  mpegts: { weight: 2, family: 'ts', ext: 'm2ts' },
  matroska: { weight: 1.5, family: 'mkv', ext: 'mkv' },
  webm: { weight: 1.5, family: 'mkv', ext: 'webm' },
  // Starts at a sync sample FFmpeg marks DISCARD: the trimmed-start lead and the trimmed-picture skip.
  editlist: { weight: 1.5, family: 'mp4', ext: 'mp4' },
};

const STRUCTURAL: Record<Family, Record<string, { weight: number; mutate: Mutator }>> = {
  mp4: MP4_MUTATORS,
  ts: TS_MUTATORS,
  mkv: MKV_MUTATORS,
};

/** Share of cases that get a generic (container-blind) mutation. */
const GENERIC_SHARE = 0.3;

export interface FuzzCase {
  /** `seed-index`, or `cut-LAYOUT-OFFSET` for the truncation sweep. */
  id: string;
  clip: FuzzClip;
  kind: string;
  detail: string;
  /** File extension of the clip (mp4, m2ts, mkv, webm). */
  ext: string;
  bytes: Uint8Array;
}

/** The unmutated clips, by layout. */
export type ClipBytes = Record<FuzzClip, Uint8Array>;

export async function readClips(fixtures: FixtureSet): Promise<ClipBytes> {
  const entries = await Promise.all(
    (Object.keys(CLIPS) as FuzzClip[]).map(async (layout) => {
      const clip = fixtures.clips[layout];
      if (!clip) throw new Error(`fuzz: the fixture set in ${fixtures.dir} has no ${layout} clip`);
      return [layout, new Uint8Array(await readFile(clip.file))] as const;
    }),
  );
  return Object.fromEntries(entries) as ClipBytes;
}

export function parseCaseId(id: string): { seed: number; index: number } {
  const match = /^(\d+)-(\d+)$/.exec(id);
  if (!match) {
    throw new Error(
      `fuzz: a case id is SEED-INDEX or cut-LAYOUT-OFFSET (e.g. 7-123), got ${JSON.stringify(id)}`,
    );
  }
  return { seed: Number(match[1]), index: Number(match[2]) };
}

/** Any case by its id: `SEED-INDEX` (a seeded mutation) or `cut-LAYOUT-OFFSET` (the truncation sweep). */
export function caseById(clips: ClipBytes, id: string): FuzzCase {
  const cut = /^cut-([a-z-]+)-(\d+)$/.exec(id);
  if (cut && cut[1]! in CLIPS) return makeCutCase(clips, cut[1] as FuzzClip, Number(cut[2]));
  const { seed, index } = parseCaseId(id);
  return makeCase(clips, seed, index);
}

/**
 * Makes case `index` of `seed`.
 *
 * ```ts
 * const a = makeCase(clips, 7, 123);
 * const b = makeCase(clips, ...Object.values(parseCaseId(a.id)));  // the same bytes
 * ```
 */
export function makeCase(clips: ClipBytes, seed: number, index: number): FuzzCase {
  const rng = createRng(seed, index);
  const clip = rng.weighted(
    Object.fromEntries(Object.entries(CLIPS).map(([layout, info]) => [layout, info.weight])) as Record<
      FuzzClip,
      number
    >,
  );
  const { family, ext } = CLIPS[clip];
  const input = clips[clip];
  // A mutator with nothing to aim at in this clip gives way to another draw from the same stream.
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const table = rng.chance(GENERIC_SHARE) ? GENERIC_MUTATORS : STRUCTURAL[family];
    const kind = rng.weighted(
      Object.fromEntries(Object.entries(table).map(([name, entry]) => [name, entry.weight])),
    );
    const mutation = table[kind]!.mutate(input, rng);
    // So does one that happened to write back what was there (a field already at the value drawn).
    const changed = mutation && mutation.bytes.length > 0 && Buffer.compare(mutation.bytes, input) !== 0;
    if (mutation && changed) {
      return {
        id: `${seed}-${index}`,
        clip,
        kind,
        detail: mutation.detail,
        ext,
        bytes: mutation.bytes,
      };
    }
  }
  throw new Error(`fuzz: no mutator applied to ${clip} for case ${seed}-${index}`);
}

/** Every mutation kind, by family (generic ones apply to all). */
export function mutationKinds(): Record<Family | 'generic', string[]> {
  return {
    mp4: Object.keys(MP4_MUTATORS),
    ts: Object.keys(TS_MUTATORS),
    mkv: Object.keys(MKV_MUTATORS),
    generic: Object.keys(GENERIC_MUTATORS),
  };
}
