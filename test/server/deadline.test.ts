/**
 * A challenge's budget counts from the request's arrival, queue wait included: the challenge server on
 * loopback with the real soccer pipeline, the network simulator as the video host. The figures checked
 * are the ones the server reports (Server-Timing: request, queue, and the budget left when the run
 * started; the run's own deadline and its budget sink's budget), never wall-clock durations.
 */

import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StageEvent } from '../../src/core/events.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { preparePipeline, type PreparedPipeline, type RunOptions } from '../../src/pipelines/runner.js';
import type { ChallengeResponse } from '../../src/server/challenge.js';
import type { ErrorBody } from '../../src/server/response.js';
import { startServer, type ChallengeServer } from '../../src/server/server.js';
import { startNetSim, type NetSim } from '../../src/sim/netsim.js';
import { serverTiming } from '../../bench/server-timing.js';
import { testFixtures } from '../support/fixtures.js';
import { challengeBody, postChallenge, waitFor } from './helpers.js';

const BUDGET_S = 3;
const BUDGET_MS = BUDGET_S * 1000;

/**
 * POSTs `body` to `path` over a raw socket: the head now, the body after more than the whole budget (the
 * clock starts with the head). Resolves with the whole response text once the server closes.
 */
function postBodyLate(path: string, body: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.write(
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`,
    );
    setTimeout(() => socket.write(body), BUDGET_MS + 200);
  });
}

let fixtures: FixtureSet;
let sim: NetSim;
let prepared: PreparedPipeline;
/**
 * Each run the server started: the deadline it was given, when the server called it (a clock reading
 * before the sink's own), and its budget sink's budget-start event.
 */
const runs: Array<{ options: RunOptions; calledAt: number; budgetStart?: StageEvent }> = [];
let server: ChallengeServer;

beforeAll(async () => {
  fixtures = await testFixtures();
  sim = await startNetSim({ root: fixtures.dir, rateBytesPerSec: 2_000_000, ttfbMs: 10 });
  // Every 25th frame, so that a run is short; the budget is what is tested.
  prepared = await preparePipeline(
    loadPipeline({ profile: 'soccer', overrides: { stride: { every: 25 }, sink: { budgetS: BUDGET_S } } }),
  );
  const watched: PreparedPipeline = {
    ...prepared,
    run: (target, options = {}) => {
      const record: (typeof runs)[number] = { options, calledAt: performance.now() };
      runs.push(record);
      return prepared.run(target, {
        ...options,
        onEvent: (event) => {
          options.onEvent?.(event);
          if (event.stage === 'sink' && event.name === 'budget-start') record.budgetStart = event;
        },
      });
    },
  };
  server = await startServer({
    pipeline: watched,
    allowPrivate: true,
    keepWarm: false,
    processMetrics: false,
    concurrency: 1,
    queue: 1,
  });
}, 120_000);

afterAll(async () => {
  await server?.close({ graceMs: 0 });
  await prepared?.release();
  await sim?.close();
});

describe('the budget counts from the request’s arrival', () => {
  it('a queued challenge runs with its budget less its wait, as Server-Timing and its sink say', async () => {
    runs.length = 0;
    const stalled = () => challengeBody(sim.urlFor('/faststart.mp4', { stallAfterBytes: 40_000 }));
    const before = sim.requests.length;
    const first = new AbortController();
    const firstAnswer = postChallenge(server.url, stalled(), { signal: first.signal }).catch(
      (error: Error) => error,
    );
    await waitFor('the first video request', () => sim.requests.length === before + 1);
    const secondAnswer = postChallenge<ChallengeResponse | ErrorBody>(server.url, stalled());
    await waitFor('the second challenge queued', () => server.queued() === 1);
    // The first client goes away: its run is cancelled, and the queued one starts.
    first.abort();
    expect(await firstAnswer).toBeInstanceOf(Error);
    const second = await secondAnswer;
    // What it answers depends on how far it got in the time left (frames, or FF_ERR_NO_*_BY_DEADLINE on a
    // busy machine); its budget is what is checked.
    expect([200, 503, 504], JSON.stringify(second.body).slice(0, 300)).toContain(second.status);
    if (second.status === 503) {
      expect((second.body as ErrorBody).error.code).toMatch(/^FF_ERR_NO_(HEADERS|FRAME|RESULT)_BY_DEADLINE$/);
    }

    const timing = serverTiming(second.headers.get('server-timing'));
    expect(timing['queue']).toBeGreaterThan(0);
    // What was left when the run started: the budget less the request's handling, the queue wait and the
    // part kept for the answer (100 ms), to the rounding of the four figures (0.001 ms each).
    expect(timing['reserve']).toBe(100);
    expect(
      Math.abs(timing['budget']! + timing['request']! + timing['queue']! + timing['reserve']! - BUDGET_MS),
    ).toBeLessThan(0.005);
    expect(timing['budget']).toBeLessThan(BUDGET_MS - timing['queue']!);

    // The run was given the absolute deadline, and its budget sink counted what was left of it when it read
    // the clock: after the server called the run and before it stamped its budget-start event (the two
    // bounds, not a tolerance: a loaded machine may stop the process for 100 ms between any two readings).
    expect(runs).toHaveLength(2);
    const queued = runs[1]!;
    const deadlineAt = queued.options.deadlineAt!;
    expect(deadlineAt).toEqual(expect.any(Number));
    const sinkBudget = Number(queued.budgetStart?.data?.['budgetMs']);
    expect(sinkBudget).toBeLessThanOrEqual(timing['budget']!);
    expect(sinkBudget).toBeGreaterThan(0);
    const read = { calledAt: queued.calledAt, sinkBudget, budgetStartAt: queued.budgetStart!.at, deadlineAt };
    expect(sinkBudget, JSON.stringify(read)).toBeLessThanOrEqual(deadlineAt - queued.calledAt);
    expect(sinkBudget, JSON.stringify(read)).toBeGreaterThanOrEqual(deadlineAt - queued.budgetStart!.at);
  });

  it('a challenge whose body took longer than the budget is answered at once: no frames, FF_ERR_BUDGET_SPENT, 503, no video request', async () => {
    runs.length = 0;
    const before = sim.requests.length;
    const body = JSON.stringify(challengeBody(sim.urlFor('/faststart.mp4'), 'late-body'));
    const text = await postBodyLate('/soccer/challenge', body);
    const [head, payload] = text.split('\r\n\r\n');
    expect(head!.split('\r\n')[0]).toBe('HTTP/1.1 503 Service Unavailable');
    const answer = JSON.parse(payload!) as ErrorBody & { challenge_id: string };
    expect(answer.challenge_id).toBe('late-body');
    expect(answer.error.code).toBe('FF_ERR_BUDGET_SPENT');
    expect(answer.error.message).toMatch(
      /: the deadline passed \d+ ms before the run could start \(its budget counts from the request's arrival\)$/,
    );
    expect(runs).toHaveLength(1);
    expect(sim.requests.length).toBe(before);
  }, 20_000);

  it('/predict counts the same budget from its arrival: a url whose body came too late is 503 FF_ERR_BUDGET_SPENT, not fetched', async () => {
    const before = sim.requests.length;
    const body = JSON.stringify({ url: sim.urlFor('/faststart.mp4') });
    const text = await postBodyLate('/predict', body);
    const [head, payload] = text.split('\r\n\r\n');
    expect(head!.split('\r\n')[0]).toBe('HTTP/1.1 503 Service Unavailable');
    expect(payload).toContain('FF_ERR_BUDGET_SPENT');
    expect(sim.requests.length).toBe(before);
  }, 20_000);
});

describe('a run given a deadline (the runner, as the server calls it)', () => {
  it('fit-budget with less time left than one frame answers at once: no frames, FF_ERR_BUDGET_TOO_SHORT, no byte read', async () => {
    const planned = await preparePipeline(loadPipeline({ profile: 'soccer' }));
    try {
      const perFrameMs = Number(planned.model['perFrameMs']);
      expect(perFrameMs).toBeGreaterThan(1);
      const before = sim.requests.length;
      const result = await planned.run(sim.urlFor('/faststart.mp4'), { deadlineAt: performance.now() + 1 });
      expect(result.frames).toEqual([]);
      expect(result.error?.code).toBe('FF_ERR_BUDGET_TOO_SHORT');
      expect(result.error?.message).toMatch(
        / ms of the budget left and the model takes \d+ ms per frame: nothing could be inferred$/,
      );
      expect(result.timings).toMatchObject({ endedBy: 'error', bytesDownloaded: 0, framesDecoded: 0 });
      expect(sim.requests.length).toBe(before);
      // Past the deadline already: FF_ERR_BUDGET_SPENT, ended by the budget.
      const late = await planned.run(sim.urlFor('/faststart.mp4'), { deadlineAt: performance.now() - 1 });
      expect(late.frames).toEqual([]);
      expect(late.error?.code).toBe('FF_ERR_BUDGET_SPENT');
      expect(late.timings).toMatchObject({ endedBy: 'budget', bytesDownloaded: 0 });
      expect(sim.requests.length).toBe(before);
    } finally {
      await planned.release();
    }
  }, 60_000);
});
