import { beforeAll, describe, expect, it } from 'vitest';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { makeEditStartClips } from '../../src/fixtures/edit-start.js';
import { editStart } from '../../src/media/mp4-edit-start.js';
import { testFixtures } from '../support/fixtures.js';
import { seededRandom, smashed, topLevel } from './mp4-samples.js';

let fixtures: FixtureSet;
beforeAll(async () => {
  fixtures = await testFixtures();
});

// More of editStart, on the edit-start clips, in test/operators/decode/edit-skip.test.ts.
describe('editStart on hostile bytes', () => {
  const random = seededRandom(1414);

  it('editStart: a string or a plan for every smashed moov of the edit-start clips, never a throw', async () => {
    const clips = await makeEditStartClips(fixtures);
    for (const layout of ['faststart', 'moov-end'] as const) {
      const pristine = topLevel(clips[layout].file, 'moov').bytes;
      for (let round = 0; round < 300; round += 1) {
        const moov = smashed(pristine, round, random);
        const plan = editStart(moov);
        expect(typeof plan === 'string' || typeof plan === 'object').toBe(true);
      }
    }
  });

  it('editStart: 2^32 samples of duration 0 before the edit are not walked to the end', async () => {
    const clips = await makeEditStartClips(fixtures);
    const moov = new Uint8Array(topLevel(clips.faststart.file, 'moov').bytes);
    const view = new DataView(moov.buffer);
    const bytes = Buffer.from(moov);
    // stsz: one uniform size for 2^32 − 1 samples; stts: all of them in one entry of duration 0,
    const stsz = bytes.indexOf('stsz');
    view.setUint32(stsz + 8, 1);
    view.setUint32(stsz + 12, 0xffffffff);
    const stts = bytes.indexOf('stts');
    view.setUint32(stts + 8, 1);
    view.setUint32(stts + 12, 0xffffffff);
    view.setUint32(stts + 16, 0);
    // stsc: every sample in the first chunk.
    const stsc = bytes.indexOf('stsc');
    view.setUint32(stsc + 8, 1);
    view.setUint32(stsc + 16, 0xffffffff);
    expect(editStart(moov)).toBe('no sample shown within the first 1048576');
  });
});
