import { describe, expect, it } from 'vitest';
import { checkMoov } from '../../src/media/mp4-check.js';
import { moovOf, setU32, structureError, useFixtures } from './mp4-check-cases.js';

// checkMoov as a whole; its walk, the moov's rules, sample entries and fragments each in mp4-check-*.test.ts.
useFixtures();

describe('checkMoov', () => {
  it.each(['faststart', 'moov-end', 'fragmented', 'audio', 'editlist'])(
    'passes the %s fixture unchanged',
    (name) => {
      const { moov, offset, fileSize } = moovOf(name);
      expect(checkMoov(moov, { offset, fileSize })).toBeUndefined();
      expect(checkMoov(moov)).toBeUndefined();
    },
  );

  it('random bytes and smashed 32-bit fields: a typed error or a pass, never a throw', () => {
    const { moov: pristine, offset, fileSize } = moovOf('faststart');
    let seed = 14;
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed;
    };
    let failures = 0;
    for (let round = 0; round < 400; round += 1) {
      const moov = new Uint8Array(pristine);
      const at = 8 + (random() % (moov.byteLength - 12));
      const choice = random() % 4;
      const value = [0xffffffff, 0, random(), 7][choice]!;
      setU32(moov, at - (at % 4), value);
      if (round % 5 === 0)
        for (let i = 0; i < 64; i += 1) moov[8 + (random() % (moov.byteLength - 8))] = random() >>> 24;
      const result = checkMoov(moov, { offset, fileSize });
      if (result) {
        expect(result.code).toBe('FF_ERR_MP4_STRUCTURE');
        failures += 1;
      }
    }
    // Most smashes land in a size, a count or an offset; some land in harmless fields (matrix, names).
    expect(failures).toBeGreaterThan(100);
    const noise = new Uint8Array(4096).map(() => random() >>> 24);
    noise.set([0, 0, 16, 0], 0);
    noise.set(Buffer.from('moov'), 4);
    expect(structureError(checkMoov(noise))).toMatchObject({ box: expect.stringMatching(/^moov\./) });
  });
});
