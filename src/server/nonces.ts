/*
 * The nonces of accepted signed requests, remembered for as long as their time could still pass the
 * window check: a replay inside the window is refused, and one after it fails the window check anyway.
 *
 * Memory is bounded by `capacity`. Only nonces of requests whose signature verified are remembered, so a
 * stranger cannot fill it; an allowed validator that sends more than `capacity` within the window pushes
 * out the oldest, and the oldest time pushed out becomes a floor: a nonce at or below it is refused as
 * possibly replayed. A replay is never accepted, whatever the load; at worst an honest old nonce is.
 */

export type NonceVerdict =
  | { readonly ok: true; readonly timeMs: number }
  | {
      readonly ok: false;
      readonly reason: 'malformed' | 'too-old' | 'too-new' | 'replayed';
      readonly detail: string;
    };

export interface NonceMemory {
  /** Whether `nonce` may be used now (format, window, not seen); remembers nothing. */
  check(nonce: string): NonceVerdict;
  /** Records an accepted nonce; false when it was recorded meanwhile (two requests raced with it). */
  remember(nonce: string, timeMs: number): boolean;
  /** Nonces held now. */
  size(): number;
}

export interface NonceMemoryOptions {
  /** How far the nonce's time may be from now, either way; fiber's miners use 120 s. */
  windowMs: number;
  /** Most nonces held at once; default 65536 (a few MB). */
  capacity?: number;
  /** Milliseconds since the epoch; default Date.now. */
  now?: () => number;
}

/**
 * `{time_ns}_{suffix}`: the validator's wall clock in nanoseconds and a random suffix (fiber: 10 letters and
 * digits). The suffix only has to make the nonce unique; its length is bounded so the memory is.
 */
const NONCE = /^(\d{1,20})_([A-Za-z0-9]{1,32})$/;

export function createNonceMemory(options: NonceMemoryOptions): NonceMemory {
  const capacity = options.capacity ?? 65_536;
  const now = options.now ?? Date.now;
  const windowMs = options.windowMs;
  /** nonce → its time in ms. */
  const seen = new Map<string, number>();
  let floorMs = -Infinity;

  const purge = (at: number) => {
    for (const [nonce, timeMs] of seen) if (timeMs < at - windowMs) seen.delete(nonce);
  };

  return {
    check(nonce) {
      const match = NONCE.exec(nonce);
      if (!match) {
        return { ok: false, reason: 'malformed', detail: 'expected {time_ns}_{letters and digits}' };
      }
      const timeMs = Number(BigInt(match[1]!) / 1_000_000n);
      const at = now();
      if (timeMs < at - windowMs) {
        return {
          ok: false,
          reason: 'too-old',
          detail: `${Math.round((at - timeMs) / 1000)} s old; at most ${windowMs / 1000} s`,
        };
      }
      if (timeMs > at + windowMs) {
        return {
          ok: false,
          reason: 'too-new',
          detail: `${Math.round((timeMs - at) / 1000)} s ahead of this server's clock; at most ${windowMs / 1000} s`,
        };
      }
      if (seen.has(nonce) || timeMs <= floorMs) {
        return { ok: false, reason: 'replayed', detail: 'already used' };
      }
      return { ok: true, timeMs };
    },
    remember(nonce, timeMs) {
      if (seen.has(nonce) || timeMs <= floorMs) return false;
      if (seen.size >= capacity) purge(now());
      while (seen.size >= capacity) {
        // Still full of live nonces: drop the oldest and refuse anything at or below its time from now on.
        let oldest: [string, number] | undefined;
        for (const entry of seen) if (!oldest || entry[1] < oldest[1]) oldest = entry;
        seen.delete(oldest![0]);
        floorMs = Math.max(floorMs, oldest![1]);
      }
      seen.set(nonce, timeMs);
      return true;
    },
    size: () => seen.size,
  };
}
