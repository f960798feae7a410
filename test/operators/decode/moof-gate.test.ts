import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FixtureSet } from '../../../src/fixtures/make.js';
import { scanTopLevelBoxes } from '../../../src/media/mp4-boxes.js';
import { MoofGate } from '../../../src/operators/decode/moof-gate.js';
import { testFixtures } from '../../support/fixtures.js';
import { joined } from './chunks.js';

let file: Uint8Array;
beforeAll(async () => {
  const fixtures: FixtureSet = await testFixtures();
  file = new Uint8Array(readFileSync(fixtures.clips['fragmented']!.file));
});

describe('MoofGate', () => {
  it('every byte comes out in order; a moof only once whole', () => {
    const gate = new MoofGate(file.byteLength, 1 << 20);
    const moof = scanTopLevelBoxes(file).find((box) => box.type === 'moof')!;
    const out: Uint8Array[] = [];
    // Up to the middle of the first moof: only what comes before it is released.
    out.push(...gate.push(file.subarray(0, moof.offset + 20)));
    expect(joined(out).byteLength).toBe(moof.offset);
    expect(gate.heldBytes).toBe(20);
    for (let at = moof.offset + 20; at < file.byteLength; at += 1000) {
      out.push(...gate.push(file.subarray(at, Math.min(file.byteLength, at + 1000))));
    }
    expect(Buffer.compare(joined(out), file)).toBe(0);
  });

  it('a moof whose trun claims more samples than it holds is refused, naming it', () => {
    const bad = file.slice();
    const second = scanTopLevelBoxes(bad).filter((box) => box.type === 'moof')[1]!;
    const trun = Buffer.from(bad.buffer).indexOf('trun', second.offset);
    new DataView(bad.buffer).setUint32(trun + 8, 0xffffffff);
    const gate = new MoofGate(bad.byteLength, 1 << 20);
    expect(() => gate.push(bad)).toThrow(expect.objectContaining({ code: 'FF_ERR_MP4_STRUCTURE' }));
  });

  it('a moof larger than the gate holds is refused from its header', () => {
    const moof = scanTopLevelBoxes(file).find((box) => box.type === 'moof')!;
    const gate = new MoofGate(file.byteLength, moof.size - 1);
    expect(() => gate.push(file)).toThrow(expect.objectContaining({ code: 'FF_ERR_MP4_STRUCTURE' }));
  });
});
