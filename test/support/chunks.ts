import { expect } from 'vitest';
import { lastValueFrom, type Observable } from 'rxjs';
import { SourceError } from '../../src/core/errors.js';
import type { ByteChunk } from '../../src/sources/types.js';

/** The bytes of a run of chunks, joined. */
export function concatBytes(chunks: readonly ByteChunk[]): Buffer {
  return Buffer.concat(chunks.map((chunk) => chunk.bytes));
}

/** Asserts that each chunk starts where the previous one ended, from `firstOffset`. */
export function expectContiguous(chunks: readonly ByteChunk[], firstOffset: number): void {
  let offset = firstOffset;
  for (const chunk of chunks) {
    expect(chunk.offset).toBe(offset);
    offset += chunk.bytes.byteLength;
  }
}

/** The SourceError a source ends with; fails the test if it completes instead. */
export async function sourceErrorOf(observable: Observable<unknown>): Promise<SourceError> {
  try {
    await lastValueFrom(observable);
  } catch (error) {
    expect(error).toBeInstanceOf(SourceError);
    return error as SourceError;
  }
  throw new Error('expected the source to error');
}
