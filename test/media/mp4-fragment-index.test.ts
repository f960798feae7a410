import { beforeAll, describe, expect, it } from 'vitest';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { firstFragmentSample } from '../../src/media/mp4-fragment-index.js';
import { readVideoTrack, type VideoTrackIndex } from '../../src/media/mp4-index.js';
import { testFixtures } from '../support/fixtures.js';
import { firstPacket, topLevel } from './mp4-samples.js';

let fixtures: FixtureSet;
beforeAll(async () => {
  fixtures = await testFixtures();
});

describe('firstFragmentSample', () => {
  it('fragmented: the track, then its first sample from the first moof', () => {
    const file = fixtures.clips['fragmented']!.file;
    const track = readVideoTrack(topLevel(file, 'moov').bytes) as VideoTrackIndex;
    expect(track).toMatchObject({ codec: 'h264', fragmented: true, first: undefined, editMediaTime: 0 });
    const moof = topLevel(file, 'moof');
    expect(firstFragmentSample(track, moof.bytes, moof.offset)).toMatchObject({
      ...firstPacket(file),
      duration: 512,
    });
  });
});
