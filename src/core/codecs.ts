import * as t from 'io-ts';

/*
 * Small io-ts codecs for documents and options (pipeline documents, the simulator's options). Each one's
 * name is what an error message says it expected (`batch.size: expected a positive integer, got 0`), so the
 * names are written for people.
 */

export function refinedNumber(
  expected: string,
  accept: (n: number) => boolean,
): t.Type<number, number, unknown> {
  const is = (u: unknown): u is number => typeof u === 'number' && accept(u);
  return new t.Type<number, number, unknown>(
    expected,
    is,
    (u, context) => (is(u) ? t.success(u) : t.failure(u, context)),
    t.identity,
  );
}

export const PositiveInt = refinedNumber('a positive integer', (n) => Number.isInteger(n) && n > 0);
export const NonNegativeInt = refinedNumber('an integer >= 0', (n) => Number.isInteger(n) && n >= 0);
export const PositiveNumber = refinedNumber('a positive number', (n) => Number.isFinite(n) && n > 0);
export const NonNegativeNumber = refinedNumber('a number >= 0', (n) => Number.isFinite(n) && n >= 0);
export const UnitInterval = refinedNumber('a number between 0 and 1', (n) => n >= 0 && n <= 1);
export const ImageSize = refinedNumber(
  'a positive multiple of 32',
  (n) => Number.isInteger(n) && n > 0 && n % 32 === 0,
);

export const Bool = new t.Type<boolean, boolean, unknown>(
  'true or false',
  (u): u is boolean => typeof u === 'boolean',
  (u, context) => (typeof u === 'boolean' ? t.success(u) : t.failure(u, context)),
  t.identity,
);

export const NonEmptyString = new t.Type<string, string, unknown>(
  'a non-empty string',
  (u): u is string => typeof u === 'string' && u.trim() !== '',
  (u, context) => (typeof u === 'string' && u.trim() !== '' ? t.success(u) : t.failure(u, context)),
  t.identity,
);

/** One of a fixed set of words; the message lists them. */
export function oneOf<W extends string>(words: readonly W[]): t.Type<W, W, unknown> {
  const set = new Set<string>(words);
  const is = (u: unknown): u is W => typeof u === 'string' && set.has(u);
  return new t.Type<W, W, unknown>(
    `one of ${words.join(', ')}`,
    is,
    (u, context) => (is(u) ? t.success(u) : t.failure(u, context)),
    t.identity,
  );
}

/** `rampUp`: true (first batch of 4), false, or the first batch's size. */
export const RampUp = new t.Type<boolean | number, boolean | number, unknown>(
  'true, false or the first batch size (a positive integer)',
  (u): u is boolean | number => typeof u === 'boolean' || (Number.isInteger(u) && (u as number) > 0),
  (u, context) =>
    typeof u === 'boolean' || (Number.isInteger(u) && (u as number) > 0)
      ? t.success(u as boolean | number)
      : t.failure(u, context),
  t.identity,
);
