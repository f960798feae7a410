import { describe, expect, it } from 'vitest';
import type { FirstframeError } from '../../../src/core/errors.js';
import { decode, type DecodedFrame } from '../../../src/operators/decode.js';
import { fileSource } from '../../../src/sources/file.js';
import { decodeAll, fileName, fixtures, overHttp, useDecodeServer } from './e2e-harness.js';

// The decode operator end to end: an input that ends early or fails (session.ts, session-end.ts).
useDecodeServer();

describe('decode: partial input', () => {
  it('a source that ends early gives every complete frame, completes, and reports truncated with the offset', async () => {
    const { frames, named } = await decodeAll(
      fileSource(fixtures.clips['faststart']!.file, { limitBytes: 40_000 }),
    );
    expect(frames.length).toBeGreaterThan(20);
    expect(frames.length).toBeLessThan(100);
    expect(frames.map((f) => f.frameNumber)).toEqual(frames.map((_, i) => i));
    expect(named('end')[0]!.data).toMatchObject({
      reason: 'complete',
      truncated: true,
      offsetReached: 40_000,
    });
  });

  it('a partial Range download of a moov-at-end file still decodes its first frames', async () => {
    const { frames, named } = await decodeAll(
      overHttp(`/${fileName('moov-end')}`, { strategy: 'partial', partialBytes: 40_000 }),
    );
    expect(frames.length).toBeGreaterThan(20);
    expect(frames.length).toBeLessThan(100);
    expect(named('end')[0]!.data).toMatchObject({ truncated: true, offsetReached: 40_000 });
  });

  it('a connection reset mid-stream: the frames that arrived, then the source error', async () => {
    const frames: DecodedFrame[] = [];
    const error = await new Promise<unknown>((resolve, reject) =>
      overHttp(`/${fileName('faststart')}`, {}, { resetAfterBytes: 40_000 })
        .pipe(decode({ keepFrame: () => false }))
        .subscribe({
          next: (f) => frames.push(f),
          error: resolve,
          complete: () => reject(new Error('completed')),
        }),
    );
    expect((error as FirstframeError).code).toMatch(/^FF_ERR_(CONNECTION|BODY_SHORT)$/);
    expect(frames.length).toBeGreaterThan(20);
    expect(frames.map((f) => f.frameNumber)).toEqual(frames.map((_, i) => i));
  });
});
