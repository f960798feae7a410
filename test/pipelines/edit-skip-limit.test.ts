/**
 * A run's byte limit reaches decode's edit-start skip: the skip never jumps to a sync sample at or past
 * RunLimits.maxBytes (a hostile index could otherwise make it feed up to 1 GiB of filler), and the run
 * still ends with the limit's own typed error when the main response passes it.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StageEvent } from '../../src/core/events.js';
import { makeEditStartClips, type EditStartClips } from '../../src/fixtures/edit-start.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { preparePipeline, type PreparedPipeline } from '../../src/pipelines/runner.js';
import { startNetSim, type NetSim } from '../../src/sim/netsim.js';
import { testFixtures } from '../support/fixtures.js';

/** Where the test clip's sync sample before its first shown frame lies (edit-skip.test.ts probes it). */
const SYNC_AT = 42_211;

let clips: EditStartClips;
let sim: NetSim;
let prepared: PreparedPipeline;

beforeAll(async () => {
  clips = await makeEditStartClips(await testFixtures());
  sim = await startNetSim({
    files: { '/faststart.mp4': readFileSync(clips.faststart.file) },
    rateBytesPerSec: 50_000,
    ttfbMs: 10,
  });
  prepared = await preparePipeline(
    loadPipeline({ document: { extends: 'default', stride: { every: 5 }, sink: { budgetS: 30 } } }),
    { warmDecode: false },
  );
}, 120_000);
afterAll(async () => {
  await prepared?.release();
  await sim?.close();
});

async function skipEvents(maxBytes: number | undefined) {
  const events: StageEvent[] = [];
  const document = await prepared.run(sim.urlFor('/faststart.mp4'), {
    onEvent: (event) => events.push(event),
    ...(maxBytes !== undefined ? { limits: { maxBytes } } : {}),
  });
  const named = (name: string) => events.filter((e) => e.stage === 'decode' && e.name === name);
  return { document, declined: named('edit-skip-declined'), switched: named('edit-skip-switched') };
}

describe("the run's byte limit bounds the edit-start skip", () => {
  it('a sync sample at the limit: the skip is declined, naming the limit', async () => {
    const { declined, switched } = await skipEvents(SYNC_AT);
    expect(declined.map((event) => event.data)).toEqual([
      { reason: `the sync sample at byte ${SYNC_AT} lies past the run's byte limit of ${SYNC_AT}` },
    ]);
    expect(switched).toEqual([]);
  }, 60_000);

  it('a limit above the sync sample: the skip is taken', async () => {
    const { declined, switched, document } = await skipEvents(SYNC_AT + 20_000);
    expect(declined).toEqual([]);
    expect(switched).toHaveLength(1);
    expect(document.frames[0]?.frameNumber).toBe(0);
  }, 60_000);
});
