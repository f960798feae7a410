/** The README's TypeScript example, through the package's entry point. */

import { filter, lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PositiveInt,
  defaultRegistry,
  defineOperator,
  loadPipeline,
  preparePipeline,
  type PreparedPipeline,
} from '../../src/index.js';
import { testFixtures } from '../support/fixtures.js';
import type { FixtureSet } from '../../src/fixtures/make.js';

let fixtures: FixtureSet;
let prepared: PreparedPipeline;

beforeAll(async () => {
  fixtures = await testFixtures();
  const registry = defaultRegistry().register(
    defineOperator({
      kind: 'track',
      name: 'crowded-only',
      summary: 'keeps the frames with at least minObjects objects',
      options: { minObjects: PositiveInt },
      create: (options) => () => filter((result) => result.objects.length >= (options.minObjects ?? 1)),
    }),
  );
  prepared = await preparePipeline(
    loadPipeline({
      document: {
        extends: 'default',
        stride: { every: 25 },
        track: { operator: 'crowded-only', minObjects: 18 },
      },
      registry,
    }),
  );
}, 120_000);

afterAll(async () => {
  await prepared?.release();
});

describe('the TypeScript API', () => {
  it('a user operator swapped in by name changes what the run answers', async () => {
    // Every frame of the clip has 17 objects: a filter asking for 18 keeps none, while the run still ends.
    const result = await prepared.run(fixtures.clips['faststart']!.file);
    expect(result.timings.endedBy).toBe('end');
    expect(result.frames).toEqual([]);
    expect(result.timings.framesDecoded).toBeGreaterThan(0);
  }, 60_000);

  it('run$ gives the events as an Observable; an aborted signal answers as cancelled', async () => {
    const controller = new AbortController();
    controller.abort();
    const events = await lastValueFrom(
      prepared.run$(fixtures.clips['faststart']!.file, { signal: controller.signal }).pipe(toArray()),
    );
    const last = events[events.length - 1]!;
    expect(last.type).toBe('result');
    if (last.type === 'result') expect(last.result.timings.endedBy).toBe('cancelled');
  }, 60_000);
});
