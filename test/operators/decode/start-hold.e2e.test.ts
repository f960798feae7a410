import { describe, expect, it } from 'vitest';
import { decode } from '../../../src/operators/decode.js';
import { fileSource } from '../../../src/sources/file.js';
import {
  decodeAll,
  expectFramesMatchFfprobe,
  fileName,
  fixtures,
  overHttp,
  useDecodeServer,
} from './e2e-harness.js';

// The decode operator end to end: the first bytes held before the demuxer opens (layout-sniff.ts).
useDecodeServer();

describe('decode: holding the first bytes (minStartBytes, minStartWaitMs)', () => {
  it('minStartBytes larger than the file: the demuxer still opens at the end of the input', async () => {
    const clip = fixtures.clips['faststart']!;
    const { frames, named } = await decodeAll(fileSource(clip.file), {
      minStartBytes: 10 * clip.bytes,
      minStartWaitMs: 60_000,
    });
    expect(frames).toHaveLength(clip.frames);
    expect(named('start-hold-over')).toHaveLength(1);
    expect(named('start-hold-over')[0]!.data).toMatchObject({ reason: 'input-end', bytesHeld: clip.bytes });
    expect(named('open')[0]!.data!.bytesFed).toBe(clip.bytes);
  });

  it('a slow source: minStartWaitMs after the first byte, the demuxer opens with fewer bytes held', async () => {
    const clip = fixtures.clips['faststart']!;
    const { frames, named } = await decodeAll(
      overHttp(`/${fileName('faststart')}`, {}, { rateBytesPerSec: 50_000 }),
      { minStartBytes: clip.bytes, minStartWaitMs: 100 },
    );
    expectFramesMatchFfprobe(frames, clip.file);
    const hold = named('start-hold-over');
    expect(hold).toHaveLength(1);
    expect(hold[0]!.data).toMatchObject({ reason: 'timeout' });
    expect(hold[0]!.data!.bytesHeld).toBeLessThan(clip.bytes);
    expect(named('open')[0]!.data!.bytesFed).toBeLessThan(clip.bytes);
  });

  it('enough bytes before the time is up: the bytes open it', async () => {
    const { named } = await decodeAll(
      overHttp(`/${fileName('faststart')}`, {}, { rateBytesPerSec: 200_000 }),
      { minStartBytes: 16_384, minStartWaitMs: 60_000 },
    );
    expect(named('start-hold-over')[0]!.data).toMatchObject({ reason: 'bytes' });
    expect(named('start-hold-over')[0]!.data!.bytesHeld).toBeGreaterThanOrEqual(16_384);
    expect(named('open')[0]!.data!.bytesFed).toBeGreaterThanOrEqual(16_384);
  });

  it('minStartWaitMs is validated like the other options', () => {
    expect(() => decode({ minStartWaitMs: -1 })).toThrowError(
      'decode.minStartWaitMs: expected a number of milliseconds >= 0, got -1',
    );
    expect(() => decode({ minStartWaitMs: Number.NaN })).toThrowError(
      'decode.minStartWaitMs: expected a number of milliseconds >= 0, got null',
    );
  });
});
