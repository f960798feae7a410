import { describe, expect, it } from 'vitest';
import { concatBytes, sliceHeld } from '../../../src/operators/decode/held-bytes.js';

describe('held bytes', () => {
  const chunks = [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5]), new Uint8Array([6, 7, 8, 9])];

  it('a range inside one chunk is a view of it; across chunks, one copy', () => {
    const inside = sliceHeld(chunks, 100, 106, 108);
    expect([...inside]).toEqual([7, 8]);
    expect(inside.buffer).toBe(chunks[2]!.buffer);
    const across = sliceHeld(chunks, 100, 101, 106);
    expect([...across]).toEqual([2, 3, 4, 5, 6]);
    expect(across.buffer).not.toBe(chunks[0]!.buffer);
  });

  it('concatBytes: one chunk is itself, several are joined', () => {
    expect(concatBytes([chunks[0]!])).toBe(chunks[0]);
    expect([...concatBytes(chunks)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
