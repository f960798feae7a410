import type { FirstframeError } from '../core/errors.js';

/** What was being read when a {@link ByteBudget} ran out, for the error's message and context. */
export interface ByteCharge {
  /** The resource read. */
  readonly url?: string;
  /** The Range header of the request, when it had one (`bytes=123-`). */
  readonly range?: string;
}

/** The facts a budget's error is made from. */
export interface ByteBudgetExceeded extends ByteCharge {
  readonly limit: number;
  /** Bytes counted with the charge that passed the limit. */
  readonly used: number;
}

/**
 * The bytes one run may read, over every transfer it makes: the main response, Range requests (an MP4's
 * moov at the end), windows, retries. Sources charge each chunk the moment it arrives, before anything
 * holds it, so that no buffer of the run grows past the limit.
 */
export interface ByteBudget {
  /** undefined: no limit (bytes are still counted). */
  readonly limit: number | undefined;
  /** Bytes counted so far. */
  readonly used: number;
  /**
   * Counts `bytes` more. Throws the budget's error when that passes the limit: the caller stops reading
   * (aborts its request) and fails with it. Once exceeded, every later charge throws the same error.
   */
  take(bytes: number, charge?: ByteCharge): void;
  /**
   * Raises the count to `total` if it is below: for a reader that counts a stream's bytes after a source
   * that may or may not charge the budget itself (never counts those bytes twice). Throws as `take`.
   */
  atLeast(total: number, charge?: ByteCharge): void;
}

/**
 * A budget of `limit` bytes (undefined: none); `exceeded` makes the error a charge past it throws (the run's
 * typed FF_ERR_LIMIT_BYTES).
 *
 * @example
 * const budget = byteBudget(5 * MEBIBYTE, ({ limit, used }) => new SourceError('FF_ERR_LIMIT_BYTES', `${used} > ${limit}`));
 * httpSource(url, { budget });
 */
export function byteBudget(
  limit: number | undefined,
  exceeded: (facts: ByteBudgetExceeded) => FirstframeError,
): ByteBudget {
  let used = 0;
  let error: FirstframeError | undefined;
  const check = (charge: ByteCharge | undefined) => {
    if (error) throw error;
    if (limit !== undefined && used > limit) {
      error = exceeded({ ...charge, limit, used });
      throw error;
    }
  };
  return {
    limit,
    get used() {
      return used;
    },
    take(bytes, charge) {
      used += bytes;
      check(charge);
    },
    atLeast(total, charge) {
      if (total > used) used = total;
      check(charge);
    },
  };
}
