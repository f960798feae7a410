/**
 * No silent success and no log amplification at the challenge route: hosts that answer nothing, or nothing
 * usable, by the deadline get a typed 4xx/5xx (never a 200 with no frames); overlong request fields are
 * refused before any fetch; the log of a challenge stays small whatever strings it carries.
 */

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOG_STRING_MAX_CHARS, createRootLogger } from '../../src/core/logger.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { preparePipeline, type PreparedPipeline } from '../../src/pipelines/runner.js';
import type { ErrorBody } from '../../src/server/response.js';
import { startServer, type ChallengeServer } from '../../src/server/server.js';
import { startNetSim, type NetSim } from '../../src/sim/netsim.js';
import { testFixtures } from '../support/fixtures.js';
import {
  challengeBody,
  postChallenge,
  silentHost,
  tricklingHost,
  waitFor,
  type HostileHost,
} from './helpers.js';

const BUDGET_S = 1.5;
/** The part of the budget the server keeps for the answer: the run's deadline is this much earlier. */
const RESERVE_MS = 100;

/**
 * The clip with the bytes of its SPS (in avcC) zeroed: with `keepNalHeader` the unit still says it is an SPS
 * (FFmpeg opens the file and decodes no picture); without, the index check sees a unit that is no SPS.
 */
function zeroSps(clip: Buffer, keepNalHeader: boolean): Buffer {
  const copy = Buffer.from(clip);
  const avcC = copy.indexOf('avcC') + 4;
  const spsLength = copy.readUInt16BE(avcC + 6);
  copy.fill(0, avcC + 8 + (keepNalHeader ? 1 : 0), avcC + 8 + spsLength);
  return copy;
}

/** The clip with its first chunk offset (stco) far past the end of the file. */
function stcoPastEnd(clip: Buffer): Buffer {
  const copy = Buffer.from(clip);
  copy.writeUInt32BE(0x7fffffff, copy.indexOf('stco') + 12);
  return copy;
}

let sim: NetSim;
/** The default profile, every 25th frame, a 1.5 s budget. */
let quick: PreparedPipeline;
/** The same, but a batch waits for 16 frames: nothing is inferred before the video ends. */
let patient: PreparedPipeline;
const servers: ChallengeServer[] = [];
const hosts: HostileHost[] = [];
/** The log lines of each server, by its URL. */
const logs = new Map<string, string[]>();

async function serve(pipeline: PreparedPipeline): Promise<ChallengeServer> {
  const lines: string[] = [];
  const logger = createRootLogger({
    level: 'debug',
    destination: { write: (line: string) => lines.push(line) },
  });
  const server = await startServer({
    pipeline,
    allowPrivate: true,
    keepWarm: false,
    processMetrics: false,
    logger,
  });
  servers.push(server);
  logs.set(server.url, lines);
  return server;
}

/** The lines `server` logs while `work` runs. */
async function logged<T>(
  server: ChallengeServer,
  work: () => Promise<T>,
): Promise<{ result: T; lines: string[] }> {
  const all = logs.get(server.url)!;
  const from = all.length;
  const result = await work();
  return { result, lines: all.slice(from) };
}

async function host(make: () => Promise<HostileHost>): Promise<HostileHost> {
  const made = await make();
  hosts.push(made);
  return made;
}

beforeAll(async () => {
  const fixtures = await testFixtures();
  const clip = readFileSync(fixtures.clips['faststart']!.file);
  sim = await startNetSim({
    root: fixtures.dir,
    files: {
      '/zero-sps.mp4': zeroSps(clip, true),
      '/zero-sps-unit.mp4': zeroSps(clip, false),
      '/stco-past-end.mp4': stcoPastEnd(clip),
    },
    rateBytesPerSec: 2_000_000,
    ttfbMs: 10,
  });
  const overrides = { stride: { every: 25 }, sink: { budgetS: BUDGET_S } };
  quick = await preparePipeline(loadPipeline({ profile: 'default', overrides }));
  patient = await preparePipeline(
    loadPipeline({
      profile: 'default',
      overrides: {
        ...overrides,
        batch: { size: 16, rampUp: false, earlyFlushFirstFrame: false, maxWaitMs: 600_000 },
      },
    }),
  );
}, 120_000);

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close({ graceMs: 0 })));
  await Promise.all(hosts.map((made) => made.close()));
  await quick?.release();
  await patient?.release();
  await sim?.close();
});

describe('POST /soccer/challenge: nothing by the deadline is an error, never a 200', () => {
  let server: ChallengeServer;
  beforeAll(async () => {
    server = await serve(quick);
  });

  it('a host that never sends headers: 504 FF_ERR_NO_HEADERS_BY_DEADLINE at the deadline, its socket closed', async () => {
    const silent = await host(silentHost);
    const url = silent.urlFor('/clip.mp4');
    const answer = await postChallenge<ErrorBody>(server.url, challengeBody(url, 'c-silent'));
    expect(answer.status).toBe(504);
    expect(answer.body.challenge_id).toBe('c-silent');
    expect(answer.body.error.code).toBe('FF_ERR_NO_HEADERS_BY_DEADLINE');
    expect(answer.body.error.message).toMatch(
      new RegExp(
        `^${url.replace(/[.?]/g, '\\$&')}: no response headers by the deadline, \\d+ ms after the run started$`,
      ),
    );
    expect(answer.ms).toBeGreaterThanOrEqual(BUDGET_S * 1000 - RESERVE_MS);
    // One request, never retried. (undici 7 may open and close one empty connection after an aborted
    // transfer: nodejs/undici#5845, README's open problems; no request is sent on it.)
    expect(silent.requests()).toBe(1);
    expect(silent.accepted()).toBeLessThanOrEqual(2);
    await waitFor('the connections to the silent host to close', () => silent.open() === 0, 2000);
  });

  it('a host that trickles bytes that are not a video: 504 FF_ERR_NO_FRAME_BY_DEADLINE naming the bytes, its socket closed', async () => {
    const trickle = await host(() => tricklingHost());
    const url = trickle.urlFor('/clip.mp4');
    const answer = await postChallenge<ErrorBody>(server.url, challengeBody(url));
    expect(answer.status).toBe(504);
    expect(answer.body.error.code).toBe('FF_ERR_NO_FRAME_BY_DEADLINE');
    const match =
      /^(.*): no frame decoded by the deadline: (\d+) bytes received in (\d+) ms, headers after (\d+) ms$/.exec(
        answer.body.error.message,
      );
    expect(match?.[1]).toBe(url);
    expect(Number(match?.[2])).toBeGreaterThan(0);
    // Answered at the deadline, not before: the client's clock runs from before the budget's start. The
    // message's time runs from the run's start, which comes after the budget's (by 3 ms and more on a loaded
    // machine: 1397 ms was seen against 1400), so it is bounded by the answer's, not by the budget.
    expect(answer.ms).toBeGreaterThanOrEqual(BUDGET_S * 1000 - RESERVE_MS);
    expect(Number(match?.[3])).toBeGreaterThan(0);
    expect(Number(match?.[3])).toBeLessThanOrEqual(answer.ms);
    await waitFor('the connection to the trickling host to close', () => trickle.open() === 0, 2000);
  });

  it('a valid video whose first inference cannot finish within the budget: 503 FF_ERR_NO_RESULT_BY_DEADLINE', async () => {
    const waiting = await serve(patient);
    // Frame 0 arrives and is decoded; the batch waits for 15 more that never come (the host stalls).
    const url = sim.urlFor('/faststart.mp4', { stallAfterBytes: 40_000 });
    const answer = await postChallenge<ErrorBody>(waiting.url, challengeBody(url));
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBeNull();
    expect(answer.body.error.code).toBe('FF_ERR_NO_RESULT_BY_DEADLINE');
    expect(answer.body.error.message).toMatch(
      /: \d+ frames decoded and none inferred by the deadline \(\d+ ms, 40000 bytes received\): the budget is shorter than the first inference$/,
    );
  });
});

describe('POST /soccer/challenge: a video with no decodable frame is a 422, never a 200', () => {
  let server: ChallengeServer;
  beforeAll(async () => {
    server = await serve(quick);
  });

  it('a zeroed SPS: the whole file arrives and no picture decodes: 422 FF_ERR_NO_FRAMES', async () => {
    const answer = await postChallenge<ErrorBody>(server.url, challengeBody(sim.urlFor('/zero-sps.mp4')));
    expect(answer.status).toBe(422);
    expect(answer.body.error.code).toBe('FF_ERR_NO_FRAMES');
    expect(answer.body.error.message).toContain(sim.urlFor('/zero-sps.mp4'));
  });

  it('an SPS unit zeroed with its NAL header: refused from the index before FFmpeg, 422 FF_ERR_MP4_STRUCTURE', async () => {
    const url = sim.urlFor('/zero-sps-unit.mp4');
    const answer = await postChallenge<ErrorBody>(server.url, challengeBody(url));
    expect(answer.status).toBe(422);
    expect(answer.body.error.code).toBe('FF_ERR_MP4_STRUCTURE');
    expect(answer.body.error.message).toContain(url);
    expect(answer.body.error.message).toContain('avcC');
  });

  it('a chunk offset past the end of the file: 422 (the index check, or no frame at the end)', async () => {
    const answer = await postChallenge<ErrorBody>(
      server.url,
      challengeBody(sim.urlFor('/stco-past-end.mp4')),
    );
    expect(answer.status).toBe(422);
    expect(answer.body.error.code).toMatch(/^FF_ERR_(MP4_STRUCTURE|NO_FRAMES)$/);
  });
});

describe('POST /soccer/challenge: request fields capped, logs bounded', () => {
  let server: ChallengeServer;
  beforeAll(async () => {
    server = await serve(quick);
  });

  it('a 60 KB challenge_id: 400 FF_ERR_FIELD_TOO_LONG before any fetch, not echoed, and a small log', async () => {
    const before = sim.requests.length;
    const id = 'i'.repeat(60 * 1024);
    const { result: answer, lines: logLines } = await logged(server, () =>
      postChallenge<ErrorBody>(server.url, challengeBody(sim.urlFor('/faststart.mp4'), id)),
    );
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({
      error: {
        code: 'FF_ERR_FIELD_TOO_LONG',
        message: 'fields too long: challenge_id: 61440 characters; at most 256 are accepted',
        problems: ['challenge_id: 61440 characters; at most 256 are accepted'],
      },
      challenge_id: null,
    });
    expect(sim.requests.length).toBe(before);
    const records = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.map((record) => [record.event, record.code])).toEqual([
      ['rejected', 'FF_ERR_FIELD_TOO_LONG'],
    ]);
    expect(logLines.join('').length).toBeLessThan(1024);
  });

  it('256 characters are accepted and echoed; 257 are not; an overlong URL is refused with the id echoed', async () => {
    const before = sim.requests.length;
    const longest = 'a'.repeat(256);
    const accepted = await postChallenge<ErrorBody>(
      server.url,
      challengeBody(sim.urlFor('/missing.mp4'), longest),
    );
    expect([accepted.status, accepted.body.challenge_id]).toEqual([502, longest]);
    const refused = await postChallenge<ErrorBody>(
      server.url,
      challengeBody(sim.urlFor('/missing.mp4'), `${longest}b`),
    );
    expect(refused.status).toBe(400);
    expect(refused.body.error.problems).toEqual(['challenge_id: 257 characters; at most 256 are accepted']);
    const url = sim.urlFor(`/${'u'.repeat(9000)}.mp4`);
    const longUrl = await postChallenge<ErrorBody>(server.url, {
      ...challengeBody(url, 'c-url'),
      type: 't'.repeat(300),
    });
    expect(longUrl.status).toBe(400);
    expect(longUrl.body.challenge_id).toBe('c-url');
    expect(longUrl.body.error.problems).toEqual([
      'type: 300 characters; at most 256 are accepted',
      `video_url: ${url.length} characters; at most 8192 are accepted`,
    ]);
    expect(sim.requests.length).toBe(before + 1);
  });

  it('a wrong field is quoted in a problem line of at most a few hundred characters', async () => {
    const answer = await postChallenge<ErrorBody>(server.url, {
      ...challengeBody('http://x/'),
      created_at: Array.from({ length: 5000 }, (_, index) => index),
    });
    expect(answer.status).toBe(400);
    const [problem] = answer.body.error.problems!;
    expect(problem).toMatch(/^created_at: expected a string, got \[0,1,2,.*…\[\+\d+ chars\]$/);
    expect(problem!.length).toBeLessThan(330);
  });

  it('an 8 KB video URL is cut in every log line that carries it', async () => {
    const url = sim.urlFor(`/${'p'.repeat(8000)}.mp4`);
    const { result: answer, lines: logLines } = await logged(server, () =>
      postChallenge<ErrorBody>(server.url, challengeBody(url, 'c-8k')),
    );
    expect(answer.status).toBe(502);
    // The answer itself goes to the client that sent the URL: it carries the message whole.
    // The answer goes to the client that sent the URL: it carries the message whole (the simulator cannot
    // open a file of that name: HTTP 500).
    expect(answer.body.error.message).toBe(`GET ${url}: HTTP 500`);
    const records = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.length).toBeGreaterThan(3);
    for (const line of logLines) expect(line.length).toBeLessThan(4 * (LOG_STRING_MAX_CHARS + 20) + 600);
    const strings = records.flatMap((record) =>
      Object.values(record).filter((v): v is string => typeof v === 'string'),
    );
    const cut = strings.filter((value) => value.includes('pppp'));
    expect(cut.length).toBeGreaterThan(0);
    for (const value of cut) expect(value).toMatch(/^.{1024}…\[\+\d+ chars\]$/s);
    expect(records.find((record) => record.event === 'challenge')?.video).toMatch(
      /^http:\/\/127\.0\.0\.1:\d+\/pppp.*…\[\+\d+ chars\]$/,
    );
    expect(records.every((record) => record.challenge_id === 'c-8k')).toBe(true);
  });
});
