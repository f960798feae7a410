/**
 * A small seeded random source: every fuzz case draws from its own, made from (seed, case index), so that a
 * case can be made again from its id alone, in any order and in any process.
 */

export interface Rng {
  /** A uniform 32-bit unsigned integer. */
  uint32(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** An integer in [min, max]. */
  between(min: number, max: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** One key of a table of weights, with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K;
  /** n random bytes. */
  bytes(n: number): Uint8Array;
}

/** splitmix32's finaliser: spreads (seed, index) over the whole state space. */
function mix(value: number): number {
  let z = value >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/**
 * The random source of case `index` under `seed` (both non-negative integers below 2^32).
 *
 * ```ts
 * createRng(7, 123).int(10) === createRng(7, 123).int(10); // always
 * ```
 */
export function createRng(seed: number, index: number): Rng {
  // mulberry32 over a state mixed from both numbers: neighbouring indices give unrelated streams.
  let state = mix(mix(seed ^ 0x9e3779b9) ^ mix(index + 0x7f4a7c15));
  const uint32 = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const int = (n: number): number => {
    if (!(n >= 1)) throw new RangeError(`rng.int: expected n >= 1, got ${n}`);
    return Math.floor((uint32() / 0x1_0000_0000) * n);
  };
  return {
    uint32,
    int,
    between: (min, max) => min + int(max - min + 1),
    chance: (p) => uint32() / 0x1_0000_0000 < p,
    pick: (items) => {
      if (items.length === 0) throw new RangeError('rng.pick: empty list');
      return items[int(items.length)]!;
    },
    weighted: (weights) => {
      const entries = Object.entries(weights) as Array<[keyof typeof weights, number]>;
      const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
      let draw = (uint32() / 0x1_0000_0000) * total;
      for (const [key, weight] of entries) {
        draw -= weight;
        if (draw < 0) return key;
      }
      return entries[entries.length - 1]![0];
    },
    bytes: (n) => {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i += 1) out[i] = uint32() & 0xff;
      return out;
    },
  };
}
