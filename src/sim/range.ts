/**
 * What a `Range` request header asks of a representation of `size` bytes (RFC 9110 §14.1.2, §14.2).
 *
 * - `whole`: no header, or one the server may ignore (another unit, bad syntax, first > last, or several
 *   ranges: multipart/byteranges is not simulated, and RFC 9110 lets a server answer 200 instead);
 * - `part`: one satisfiable range, `start`..`end` inclusive, already clamped to the representation;
 * - `unsatisfiable`: a well-formed range that selects nothing (416).
 */
export type RangeRequest =
  { kind: 'whole' } | { kind: 'part'; start: number; end: number } | { kind: 'unsatisfiable' };

const byteRangeSpec = /^bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i;

/**
 * Reads a `Range` header against a representation of `size` bytes.
 *
 * @example parseRange('bytes=100-199', 1000) // { kind: 'part', start: 100, end: 199 }
 * @example parseRange('bytes=-50', 1000)     // { kind: 'part', start: 950, end: 999 }
 * @example parseRange('bytes=5000-', 1000)   // { kind: 'unsatisfiable' }
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'whole' };
  const match = byteRangeSpec.exec(header.trim());
  if (match === null) return { kind: 'whole' };
  const [, firstText = '', lastText = ''] = match;
  if (firstText === '' && lastText === '') return { kind: 'whole' };
  if (firstText === '') {
    // Suffix range: the last N bytes. N = 0 selects nothing, and nothing can be selected from an empty file.
    const suffixLength = Number(lastText);
    if (suffixLength === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'part', start: Math.max(0, size - suffixLength), end: size - 1 };
  }
  const first = Number(firstText);
  const last = lastText === '' ? Number.POSITIVE_INFINITY : Number(lastText);
  if (last < first) return { kind: 'whole' };
  if (first >= size) return { kind: 'unsatisfiable' };
  return { kind: 'part', start: first, end: Math.min(last, size - 1) };
}
