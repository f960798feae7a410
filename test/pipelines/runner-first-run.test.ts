/**
 * What preparePipeline does for a run's first result (issue 15): the prime on the bundled clip at prepare,
 * and decoding held back while the first model run is in flight, through real HTTP, FFmpeg and ONNX Runtime.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StageEvent } from '../../src/core/events.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { preparePipeline, type PreparedPipeline } from '../../src/pipelines/runner.js';
import { startNetSim, type NetSim } from '../../src/sim/netsim.js';
import { closeSharedDispatcher } from '../../src/sources/dispatcher.js';
import { testFixtures } from '../support/fixtures.js';

let fixtures: FixtureSet;
let sim: NetSim;
/** The defaults (prime, hold), the hold's cap out of reach so that it always ends with the run. */
let held: PreparedPipeline;
/** Neither prime nor hold: the pipeline as it was. */
let plain: PreparedPipeline;
const heldSetup: StageEvent[] = [];
const plainSetup: StageEvent[] = [];

const document = () =>
  loadPipeline({ profile: 'default', overrides: { stride: { every: 5 }, sink: { budgetS: 60 } } });

beforeAll(async () => {
  fixtures = await testFixtures();
  sim = await startNetSim({
    files: { '/faststart.mp4': readFileSync(fixtures.clips['faststart']!.file) },
    rateBytesPerSec: 2_000_000,
    ttfbMs: 10,
  });
  held = await preparePipeline(document(), {
    holdDecodeMs: 60_000,
    onEvent: (event) => heldSetup.push(event),
  });
  plain = await preparePipeline(document(), {
    prime: false,
    holdDecodeMs: 0,
    onEvent: (event) => plainSetup.push(event),
  });
}, 120_000);

afterAll(async () => {
  await held?.release();
  await plain?.release();
  await closeSharedDispatcher();
  await sim?.close();
});

const named = (events: readonly StageEvent[], name: string) => events.filter((event) => event.name === name);

describe('the prime at prepare', () => {
  it('runs the pipeline once on the bundled clip: its frame 0 inferred, the run ended by the clip', () => {
    const primes = named(heldSetup, 'prime');
    expect(primes.map((event) => event.stage)).toEqual(['pipeline']);
    expect(primes[0]!.data).toEqual({ ms: expect.any(Number), framesInferred: 1, endedBy: 'end' });
    // After the model's and the decoder's warm-ups, and counted in the set-up time.
    const names = heldSetup.map((event) => event.name);
    expect(names.indexOf('prime')).toBeGreaterThan(names.indexOf('model-loaded'));
    expect(names.indexOf('prime')).toBeGreaterThan(names.indexOf('warm-up'));
    expect(held.setupMs).toBeGreaterThan(primes[0]!.data!['ms'] as number);
  });

  it('prime: false skips it', () => {
    expect(named(plainSetup, 'prime')).toEqual([]);
  });
});

describe('decoding held back during the first model run', () => {
  it('loses no frame: the same frames, numbers and objects as without the hold', async () => {
    const url = sim.urlFor('/faststart.mp4');
    const events: StageEvent[] = [];
    const withHold = await held.run(url, { onEvent: (event) => events.push(event) });
    const plainEvents: StageEvent[] = [];
    const without = await plain.run(url, { onEvent: (event) => plainEvents.push(event) });

    expect(withHold.error).toBeUndefined();
    expect(withHold.timings.endedBy).toBe('end');
    expect(withHold.frames.map((frame) => frame.frameNumber)).toEqual(
      Array.from({ length: 20 }, (_, i) => i * 5),
    );
    expect(withHold.frames).toEqual(without.frames);
    expect(withHold.timings.framesDecoded).toBe(without.timings.framesDecoded);
    expect(withHold.timings.bytesDownloaded).toBe(fixtures.clips['faststart']!.bytes);

    // One hold, from the first run's start to its end, ended by the run.
    const holds = named(events, 'decode-held');
    expect(holds).toHaveLength(1);
    expect(holds[0]!.stage).toBe('pipeline');
    expect(holds[0]!.data).toMatchObject({ reason: 'run-ended' });
    const firstRunEnd = events.find((event) => event.stage === 'infer' && event.name === 'run-end')!;
    expect(holds[0]!.at).toBeLessThanOrEqual(firstRunEnd.at);
    expect(named(plainEvents, 'decode-held')).toEqual([]);
  }, 60_000);

  it('a second run of the same pipeline holds again (each run has its own gate)', async () => {
    const events: StageEvent[] = [];
    const result = await held.run(sim.urlFor('/faststart.mp4'), { onEvent: (event) => events.push(event) });
    expect(result.frames).toHaveLength(20);
    expect(named(events, 'decode-held').map((event) => event.data?.['reason'])).toEqual(['run-ended']);
  }, 60_000);

  it('refuses a hold that is not a number of ms >= 0, before loading anything', async () => {
    await expect(preparePipeline(document(), { holdDecodeMs: -5, prime: false })).rejects.toThrow(
      'holdDecodeMs: expected a number of ms >= 0, got -5',
    );
  }, 60_000);
});
