import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { SourceError } from '../../src/core/errors.js';
import { fileSource } from '../../src/sources/file.js';
import type { ByteChunk } from '../../src/sources/types.js';

const dir = mkdtempSync(join(tmpdir(), 'ff-file-'));
const body = randomBytes(300_000);
const path = join(dir, 'clip.mp4');
writeFileSync(path, body);

const bytesOf = (chunks: ByteChunk[]) => Buffer.concat(chunks.map((c) => c.bytes));

function openFileHandles(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'FSReqCallback' || name === 'FileHandle')
    .length;
}

describe('fileSource', () => {
  it('emits the whole file in chunks with absolute offsets and the file size', async () => {
    const chunks = await lastValueFrom(fileSource(path, { chunkBytes: 65_536 }).pipe(toArray()));
    expect(chunks.map((c) => c.bytes.byteLength)).toEqual([65_536, 65_536, 65_536, 65_536, 37_856]);
    expect(chunks.map((c) => c.offset)).toEqual([0, 65_536, 131_072, 196_608, 262_144]);
    expect(bytesOf(chunks).equals(body)).toBe(true);
    expect(chunks[0]!.resource).toMatchObject({ totalBytes: 300_000, url: `file://${path}` });
  });

  it('limitBytes reads only the start, like a partial download', async () => {
    const chunks = await lastValueFrom(fileSource(path, { limitBytes: 100_000 }).pipe(toArray()));
    expect(bytesOf(chunks).equals(body.subarray(0, 100_000))).toBe(true);
  });

  it('fetchRange reads a suffix and an explicit range', async () => {
    const first = await firstValueFrom(fileSource(path));
    const tail = await lastValueFrom(first.resource.fetchRange!({ suffix: 1000 }).pipe(toArray()));
    expect(tail[0]!.offset).toBe(299_000);
    expect(bytesOf(tail).equals(body.subarray(299_000))).toBe(true);
    const middle = await lastValueFrom(
      first.resource.fetchRange!({ start: 1000, end: 1999 }).pipe(toArray()),
    );
    expect(bytesOf(middle).equals(body.subarray(1000, 2000))).toBe(true);
  });

  it('unsubscribing closes the file', async () => {
    await lastValueFrom(fileSource(path, { chunkBytes: 1024 }).pipe(take(2), toArray()));
    await expect.poll(openFileHandles).toBe(0);
  });

  it('a missing file and a directory give typed errors naming the path', async () => {
    const missing = await lastValueFrom(fileSource(join(dir, 'nope.mp4'))).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(SourceError);
    expect(missing).toMatchObject({
      code: 'FF_ERR_FILE_NOT_FOUND',
      message: `no such file: ${join(dir, 'nope.mp4')}`,
    });
    const directory = await lastValueFrom(fileSource(dir)).catch((e: unknown) => e);
    expect(directory).toMatchObject({
      code: 'FF_ERR_FILE_READ',
      message: `cannot read ${dir}: is a directory`,
    });
  });

  it('bad options throw at construction', () => {
    expect(() => fileSource(path, { chunkBytes: 0 })).toThrowError(
      /chunkBytes: expected a positive integer, got 0/,
    );
  });
});
