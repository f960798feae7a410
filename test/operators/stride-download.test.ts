/**
 * A run whose decoder switches to a Range request (an edit list that trims the start): its byte counts,
 * for the document's timings and for fit-budget's download estimate, take in every request's bytes.
 */

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StageEvent } from '../../src/core/events.js';
import { makeEditStartClips, type EditStartClips } from '../../src/fixtures/edit-start.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { preparePipeline, type PipelineEvent, type PreparedPipeline } from '../../src/pipelines/runner.js';
import { startNetSim, type NetSim } from '../../src/sim/netsim.js';
import { testFixtures } from '../support/fixtures.js';

let clips: EditStartClips;
let sim: NetSim;
let pipeline: PreparedPipeline;

beforeAll(async () => {
  clips = await makeEditStartClips(await testFixtures());
  sim = await startNetSim({ files: { '/faststart.mp4': readFileSync(clips.faststart.file) } });
  pipeline = await preparePipeline(
    loadPipeline({
      profile: 'default',
      overrides: { stride: { operator: 'fit-budget', min: 1, max: 10 }, sink: { budgetS: 60 } },
    }),
  );
}, 120_000);

afterAll(async () => {
  await pipeline?.release();
  await sim?.close();
});

describe('a run with an edit-skip switch (main response closed, Range response from the sync sample)', () => {
  it('timings.bytesDownloaded counts the Range response too: every byte the run read', async () => {
    const first = sim.requests.length;
    const url = sim.urlFor('/faststart.mp4', { rateBytesPerSec: 50_000, ttfbMs: 10 });
    const events: StageEvent[] = [];
    let result: Extract<PipelineEvent, { type: 'result' }>['result'] | undefined;
    await new Promise<void>((resolve, reject) =>
      pipeline.run$(url).subscribe({
        next: (event) => {
          if (event.type === 'stage') events.push(event.event);
          if (event.type === 'result') result = event.result;
        },
        error: reject,
        complete: resolve,
      }),
    );
    const requests = await Promise.all(
      sim.requests.slice(first).map((request) => sim.waitForRequestEnd(request.id)),
    );
    const switched = events.find((event) => event.name === 'edit-skip-switched')!.data!;
    const range = requests.find((request) => request.rangeHeader === 'bytes=42211-')!;
    expect(range).toMatchObject({ status: 206, bodyBytesSent: 82185 - 42211, outcome: 'complete' });
    expect(result!.error).toBeUndefined();
    const downloaded = result!.timings.bytesDownloaded;
    // The main response up to where the decoder switched, and the whole Range response; at most what the
    // simulator sent.
    expect(downloaded).toBeGreaterThanOrEqual(Number(switched['at']) + range.bodyBytesSent);
    expect(downloaded).toBeLessThanOrEqual(requests.reduce((sum, request) => sum + request.bodyBytesSent, 0));
  }, 60_000);
});
