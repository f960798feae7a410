import { readFileSync } from 'node:fs';
import { beforeAll, expect } from 'vitest';
import { DecodeError } from '../../src/core/errors.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { testFixtures } from '../support/fixtures.js';
import { topLevel } from './mp4-tree.js';

/*
 * What the MP4 structure check's tests (test/media/mp4-check*.test.ts) share: the fixtures' bytes, a
 * copy of a moov to smash, and the FF_ERR_MP4_STRUCTURE context a check returns.
 */

let fixtures: FixtureSet;

/** Loads the test clips before the file's tests. */
export function useFixtures(): void {
  beforeAll(async () => {
    fixtures = await testFixtures();
  });
}

export const file = (name: string) => readFileSync(fixtures.clips[name]!.file);

/** A copy of a fixture's moov (and its file offset), to smash. */
export function moovOf(name: string): { moov: Uint8Array; offset: number; fileSize: number } {
  const bytes = file(name);
  const box = topLevel(bytes, 'moov');
  return {
    moov: new Uint8Array(bytes.subarray(box.offset, box.offset + box.size)),
    offset: box.offset,
    fileSize: bytes.length,
  };
}

export function setU32(bytes: Uint8Array, at: number, value: number): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(at, value);
}

export function structureError(result: DecodeError | undefined): Record<string, unknown> {
  expect(result).toBeInstanceOf(DecodeError);
  expect(result!.code).toBe('FF_ERR_MP4_STRUCTURE');
  return result!.context;
}

export const STBL = 'moov.trak[0].mdia.minf.stbl';
