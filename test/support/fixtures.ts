/**
 * The test fixture set, made once per test process and shared by every test in it.
 *
 * Workers of the same run may call this at once; `makeFixtures` serialises them with a lock file, and
 * only the first one encodes.
 */

import { defaultFixtureDir, makeFixtures, type FixtureSet } from '../../src/fixtures/make.js';

let pending: Promise<FixtureSet> | undefined;

export function testFixtures(): Promise<FixtureSet> {
  pending ??= makeFixtures(defaultFixtureDir(), { profile: 'test' }).catch((err: unknown) => {
    // Let a later call try again instead of replaying the same failure.
    pending = undefined;
    throw err;
  });
  return pending;
}
