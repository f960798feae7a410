/**
 * What a mutator is, and the generic mutators that know nothing of the container: bit flips, byte
 * ranges duplicated, dropped, zeroed or overwritten, random cuts and wholly random files.
 */

import type { Rng } from './rng.js';

export interface Mutation {
  bytes: Uint8Array;
  /** What was changed and where, for the report (e.g. `moov/trak/…/stco count 3 -> 0xffffffff`). */
  detail: string;
}

/** A pure function of (input, random source); undefined when the input has nothing for it to aim at. */
export type Mutator = (input: Uint8Array, rng: Rng) => Mutation | undefined;

export const copyOf = (bytes: Uint8Array): Uint8Array => Uint8Array.from(bytes);

/** Somewhere in the file, but more often in its first 4 KiB, where the headers and the index are. */
function position(rng: Rng, length: number): number {
  return rng.chance(0.5) ? rng.int(Math.min(length, 4096)) : rng.int(length);
}

const bitFlips: Mutator = (input, rng) => {
  if (input.length === 0) return undefined;
  const bytes = copyOf(input);
  const count = rng.pick([1, 1, 2, 4, 8, 32]);
  const at: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const offset = position(rng, bytes.length);
    bytes[offset]! ^= 1 << rng.int(8);
    at.push(offset);
  }
  return { bytes, detail: `${count} bit(s) flipped at ${at.slice(0, 8).join(',')}${count > 8 ? ',…' : ''}` };
};

function rangeOf(rng: Rng, length: number): [number, number] {
  const size = Math.min(length, rng.pick([1, 4, 16, 188, 1024, rng.between(1, 8192)]));
  const start = Math.min(position(rng, length), length - size);
  return [start, start + size];
}

const duplicateRange: Mutator = (input, rng) => {
  if (input.length < 2) return undefined;
  const [start, end] = rangeOf(rng, input.length);
  const bytes = new Uint8Array(input.length + end - start);
  bytes.set(input.subarray(0, end));
  bytes.set(input.subarray(start), end);
  return { bytes, detail: `bytes ${start}..${end} duplicated` };
};

const dropRange: Mutator = (input, rng) => {
  if (input.length < 2) return undefined;
  const [start, end] = rangeOf(rng, input.length - 1);
  const bytes = new Uint8Array(input.length - (end - start));
  bytes.set(input.subarray(0, start));
  bytes.set(input.subarray(end), start);
  return { bytes, detail: `bytes ${start}..${end} dropped` };
};

const overwriteRange: Mutator = (input, rng) => {
  if (input.length < 2) return undefined;
  const [start, end] = rangeOf(rng, input.length);
  const bytes = copyOf(input);
  const fill = rng.pick(['random', 'zero', 'ones'] as const);
  if (fill === 'random') bytes.set(rng.bytes(end - start), start);
  else bytes.fill(fill === 'zero' ? 0 : 0xff, start, end);
  return { bytes, detail: `bytes ${start}..${end} overwritten (${fill})` };
};

const truncate: Mutator = (input, rng) => {
  if (input.length < 2) return undefined;
  const at = rng.chance(0.5)
    ? rng.between(1, Math.min(input.length - 1, 4096))
    : rng.between(1, input.length - 1);
  return { bytes: input.slice(0, at), detail: `cut at ${at} of ${input.length}` };
};

/** Random bytes (the clip's first bytes kept or not, so the sniffer sees a known container or not). */
const randomFile: Mutator = (input, rng) => {
  const length = rng.pick([1, 8, 188, 4096, 65_536]);
  const keep = rng.chance(0.5) ? Math.min(input.length, rng.pick([4, 8, 32, 64])) : 0;
  const bytes = rng.bytes(length + keep);
  bytes.set(input.subarray(0, keep));
  return { bytes, detail: `${length} random bytes after the clip's first ${keep}` };
};

export const GENERIC_MUTATORS: Record<string, { weight: number; mutate: Mutator }> = {
  'bit-flip': { weight: 3, mutate: bitFlips },
  'dup-range': { weight: 2, mutate: duplicateRange },
  'drop-range': { weight: 2, mutate: dropRange },
  'overwrite-range': { weight: 2, mutate: overwriteRange },
  truncate: { weight: 1, mutate: truncate },
  'random-bytes': { weight: 1, mutate: randomFile },
};
