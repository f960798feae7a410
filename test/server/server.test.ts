/**
 * The challenge server, in process, driven over loopback HTTP: the real node:http server, the real soccer
 * pipeline (bundled generated models, FFmpeg decode), and the network simulator serving the bundled test
 * clips as the video host.
 */

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootLogger } from '../../src/core/logger.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { preparePipeline, type PreparedPipeline } from '../../src/pipelines/runner.js';
import { PITCH_KEYPOINTS, type ChallengeResponse } from '../../src/server/challenge.js';
import type { ErrorBody } from '../../src/server/response.js';
import { startServer, type ChallengeServer, type ServerOptions } from '../../src/server/server.js';
import { startNetSim, type NetSim, type NetSimRequestRecord } from '../../src/sim/netsim.js';
import { testFixtures } from '../support/fixtures.js';
import {
  challengeBody,
  getJson,
  metricValue,
  parseResponses,
  postChallenge,
  rawExchange,
  waitFor,
} from './helpers.js';

let fixtures: FixtureSet;
let sim: NetSim;
/** Soccer: detections, tracking, pitch keypoints; every 25th frame; a 4 s budget so stalls end soon. */
let soccer: PreparedPipeline;
/** The default profile: no tracking, no keypoints. */
let plain: PreparedPipeline;
let simConnectionsAtStart: number;
const servers: ChallengeServer[] = [];

const WIDTH = 640;
const HEIGHT = 360;
const BUDGET_S = 4;

/** A server on the shared soccer pipeline, allowed to reach the loopback simulator unless told otherwise. */
async function serve(options: Partial<ServerOptions> = {}): Promise<ChallengeServer> {
  const server = await startServer({
    pipeline: soccer,
    allowPrivate: true,
    keepWarm: false,
    processMetrics: false,
    ...options,
  });
  servers.push(server);
  return server;
}

beforeAll(async () => {
  fixtures = await testFixtures();
  sim = await startNetSim({
    root: fixtures.dir,
    files: { '/notes.txt': new TextEncoder().encode('not a video, just some words\n'.repeat(400)) },
    rateBytesPerSec: 2_000_000,
    ttfbMs: 10,
  });
  simConnectionsAtStart = sim.openConnections();
  // The inferred frames only (fill: false): the fill stage is tested on its own server below.
  const overrides = { stride: { every: 25 }, sink: { budgetS: BUDGET_S }, fill: false as const };
  soccer = await preparePipeline(loadPipeline({ profile: 'soccer', overrides }));
  plain = await preparePipeline(loadPipeline({ profile: 'default', overrides }));
}, 120_000);

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close({ graceMs: 0 })));
  await soccer?.release();
  await plain?.release();
  await sim?.close();
});

describe('POST /soccer/challenge: the answer', () => {
  let server: ChallengeServer;
  beforeAll(async () => {
    server = await serve();
  });

  it('carries every kept frame with tracked objects in source pixels, 32 keypoints and processing_time', async () => {
    const body = challengeBody(sim.urlFor('/faststart.mp4'), 'challenge-1');
    const answer = await postChallenge<ChallengeResponse>(server.url, body);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const result = answer.body;
    expect(Object.keys(result).sort()).toEqual(['challenge_id', 'frames', 'processing_time']);
    expect(result.challenge_id).toBe('challenge-1');
    // The original frame indices of the kept frames (every 25th of 100), in order.
    expect(result.frames.map((frame) => frame.frame_number)).toEqual([0, 25, 50, 75]);
    const truth = JSON.parse(readFileSync(fixtures.clips['faststart']!.truth, 'utf8')) as {
      objects: Array<{ frameNumber: number; items: unknown[] }>;
    };
    for (const frame of result.frames) {
      expect(Object.keys(frame).sort()).toEqual(['frame_number', 'keypoints', 'objects']);
      const expectedCount = truth.objects.find((o) => o.frameNumber === frame.frame_number)!.items.length;
      expect(frame.objects.length).toBe(expectedCount);
      const ids = frame.objects.map((object) => object.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const object of frame.objects) {
        expect(Object.keys(object).sort()).toEqual(['bbox', 'class_id', 'id', 'source']);
        expect(object.source).toBe('inferred');
        expect(Number.isInteger(object.id)).toBe(true);
        expect([0, 1, 2, 3]).toContain(object.class_id);
        const [x1, y1, x2, y2] = object.bbox;
        expect(0 <= x1 && x1 < x2 && x2 <= WIDTH, `bbox ${object.bbox}`).toBe(true);
        expect(0 <= y1 && y1 < y2 && y2 <= HEIGHT, `bbox ${object.bbox}`).toBe(true);
      }
      expect(frame.keypoints).toHaveLength(PITCH_KEYPOINTS);
      for (const [x, y] of frame.keypoints) {
        expect(0 <= x && x <= WIDTH && 0 <= y && y <= HEIGHT, `keypoint ${x},${y}`).toBe(true);
      }
      expect(frame.keypoints.filter(([x, y]) => x !== 0 || y !== 0).length).toBeGreaterThan(0);
    }
    // Field by field, the pipeline's own document for the same clip: id is the tracker's trackId.
    const document = await soccer.run(fixtures.clips['faststart']!.file);
    expect(result.frames).toEqual(
      document.frames.map((frame) => ({
        frame_number: frame.frameNumber,
        objects: frame.objects.map((object) => ({
          id: object.trackId,
          bbox: object.bbox,
          class_id: object.classId,
          source: 'inferred',
        })),
        keypoints: frame.keypoints,
      })),
    );
    // processing_time is the server's view of the wall time the client saw.
    expect(result.processing_time).toBeGreaterThan(0);
    expect(result.processing_time * 1000).toBeLessThanOrEqual(answer.ms);
    expect(result.processing_time).toBeLessThan(10);
    expect(answer.headers.get('server-timing')).toMatch(/overhead;dur=[\d.]+/);
  });

  it('without tracking or keypoints: ids number the objects of each frame, keypoints are 32 × [0, 0]', async () => {
    const untracked = await serve({ pipeline: plain });
    const answer = await postChallenge<ChallengeResponse>(
      untracked.url,
      challengeBody(sim.urlFor('/moov-end.mp4')),
    );
    expect(answer.status).toBe(200);
    expect(answer.body.frames.length).toBe(4);
    for (const frame of answer.body.frames) {
      expect(frame.objects.map((object) => object.id)).toEqual(frame.objects.map((_, index) => index));
      expect(frame.keypoints).toEqual(new Array(PITCH_KEYPOINTS).fill([0, 0]));
    }
  });

  it('a run the budget ends is a 200 with the frames done by then, before the budget plus a margin', async () => {
    const answer = await postChallenge<ChallengeResponse>(
      server.url,
      challengeBody(sim.urlFor('/faststart.mp4', { stallAfterBytes: 40_000 })),
    );
    expect(answer.status).toBe(200);
    expect(answer.body.error).toBeUndefined();
    expect(answer.body.frames[0]?.frame_number).toBe(0);
    // The run stops 100 ms before the budget's end (the part kept for the answer).
    expect(answer.body.processing_time).toBeGreaterThanOrEqual(BUDGET_S - 0.1);
    expect(answer.body.processing_time).toBeLessThan(BUDGET_S + 3);
  });

  it('a fault after some frames: 200 with the frames and an error', async () => {
    const url = sim.urlFor('/faststart.mp4', { resetAfterBytes: 45_000, rateBytesPerSec: 40_000 });
    const answer = await postChallenge<ChallengeResponse>(server.url, challengeBody(url));
    expect(answer.status).toBe(200);
    expect(answer.body.frames.map((frame) => frame.frame_number)).toContain(0);
    expect(answer.body.error?.code).toMatch(/^FF_ERR_/);
  });
});

describe('POST /soccer/challenge: failed runs and bad requests answer JSON errors', () => {
  let server: ChallengeServer;
  beforeAll(async () => {
    server = await serve({ bodyTimeoutMs: 300, limits: { maxWidth: 320 } });
  });

  const expectError = (answer: { status: number; body: unknown }, status: number, code: string) => {
    expect(answer.status).toBe(status);
    expect((answer.body as ErrorBody).error.code).toBe(code);
    expect((answer.body as ErrorBody).error.message).toEqual(expect.any(String));
  };

  it('the video host answers 404: 502 FF_ERR_HTTP_STATUS with the challenge id', async () => {
    const answer = await postChallenge(server.url, challengeBody(sim.urlFor('/missing.mp4'), 'c-404'));
    expectError(answer, 502, 'FF_ERR_HTTP_STATUS');
    expect(answer.body.challenge_id).toBe('c-404');
  });

  it('a URL that is not a video: 422 with a decode error code', async () => {
    const answer = await postChallenge<ErrorBody>(server.url, challengeBody(sim.urlFor('/notes.txt')));
    expect(answer.status).toBe(422);
    expect(answer.body.error.code).toMatch(/^FF_ERR_(NOT_A_VIDEO|NO_VIDEO_STREAM|DEMUX|NO_DATA)$/);
  });

  it('a video over the resolution limit: 422 FF_ERR_LIMIT_RESOLUTION', async () => {
    const answer = await postChallenge(server.url, challengeBody(sim.urlFor('/faststart.mp4')));
    expectError(answer, 422, 'FF_ERR_LIMIT_RESOLUTION');
  });

  it('malformed JSON: 400 FF_ERR_REQUEST_JSON, and the server goes on serving', async () => {
    const answer = await postChallenge(server.url, '{"challenge_id": "x",');
    expectError(answer, 400, 'FF_ERR_REQUEST_JSON');
    expect(answer.body.challenge_id).toBeNull();
    expect((await getJson(`${server.url}/healthz`)).body).toEqual({ status: 'ok' });
  });

  it('missing and wrong fields: 400 FF_ERR_REQUEST_INVALID listing every problem', async () => {
    const answer = await postChallenge<ErrorBody>(server.url, {
      challenge_id: 7,
      type: 'gsr',
      created_at: 3,
    });
    expectError(answer, 400, 'FF_ERR_REQUEST_INVALID');
    expect(answer.body.error.problems).toEqual([
      'challenge_id: expected a non-empty string, got 7',
      'video_url: expected a non-empty string, got nothing',
      'created_at: expected a string, got 3',
    ]);
    expect(answer.body.challenge_id).toBeNull();
    const notAnObject = await postChallenge<ErrorBody>(server.url, '[1, 2]');
    expect(notAnObject.body.error.problems).toEqual(['body: expected a JSON object, got an array']);
  });

  it('a URL that does not parse: 400 FF_ERR_INVALID_URL; another scheme: 403 FF_ERR_URL_REFUSED', async () => {
    expectError(await postChallenge(server.url, challengeBody('not a url')), 400, 'FF_ERR_INVALID_URL');
    expectError(
      await postChallenge(server.url, challengeBody('file:///etc/passwd')),
      403,
      'FF_ERR_URL_REFUSED',
    );
  });

  it('the body is JSON whatever the Content-Type says; a body over 64 KiB: 413, declared or chunked', async () => {
    const plainText = await postChallenge(
      server.url,
      JSON.stringify(challengeBody(sim.urlFor('/missing.mp4'))),
      {
        headers: { 'content-type': 'text/plain' },
      },
    );
    expectError(plainText, 502, 'FF_ERR_HTTP_STATUS');
    const big = JSON.stringify({ ...challengeBody('http://x/'), padding: 'x'.repeat(70_000) });
    expectError(await postChallenge(server.url, big), 413, 'FF_ERR_BODY_TOO_LARGE');
    const chunked = await fetch(`${server.url}/soccer/challenge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new Blob([big]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(((await chunked.json()) as ErrorBody).error.code).toBe('FF_ERR_BODY_TOO_LARGE');
  });

  it('a Content-Length larger than the body: 408 FF_ERR_BODY_TIMEOUT, then the connection is closed', async () => {
    const body = JSON.stringify(challengeBody('http://x/'));
    const { text, closedByServer } = await rawExchange(
      server.port,
      `POST /soccer/challenge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length + 50}\r\n\r\n${body}`,
    );
    expect(closedByServer).toBe(true);
    const [response, ...more] = parseResponses(text);
    expect(more).toEqual([]);
    expect(response?.status).toBe(408);
    expect((response?.body as ErrorBody).error.code).toBe('FF_ERR_BODY_TIMEOUT');
  });

  it('a Content-Length smaller than the body: the cut body is not JSON (400), the rest is not HTTP, and the connection closes', async () => {
    const body = JSON.stringify(challengeBody('http://x/'));
    const { text, closedByServer } = await rawExchange(
      server.port,
      `POST /soccer/challenge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n${body}`,
    );
    expect(closedByServer).toBe(true);
    const responses = parseResponses(text);
    expect(responses.map((response) => response.status)).toEqual([400]);
    expect((responses[0]?.body as ErrorBody).error.code).toBe('FF_ERR_REQUEST_JSON');
    expect(responses[0]?.headers['connection']).toBe('close');
  });

  it('a malformed Content-Length: 400 FF_ERR_BAD_REQUEST in JSON, and the server goes on serving', async () => {
    const { text, closedByServer } = await rawExchange(
      server.port,
      'POST /soccer/challenge HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n{}',
    );
    expect(closedByServer).toBe(true);
    const [response] = parseResponses(text);
    expect(response?.status).toBe(400);
    expect((response?.body as ErrorBody).error.code).toBe('FF_ERR_BAD_REQUEST');
    expect((await getJson(`${server.url}/availability`)).body).toEqual({ available: true });
  });

  it('unknown routes: 404; a wrong method: 405 with Allow', async () => {
    const missing = await getJson<ErrorBody>(`${server.url}/nope`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('FF_ERR_NOT_FOUND');
    const wrongMethod = await getJson<ErrorBody>(`${server.url}/soccer/challenge`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect(wrongMethod.body.error.code).toBe('FF_ERR_METHOD_NOT_ALLOWED');
  });
});

describe('the URL guard', () => {
  it('without allowPrivate, a loopback video URL is refused (403) and the host never sees a request', async () => {
    const guarded = await serve({ allowPrivate: false });
    const before = sim.requests.length;
    const literal = await postChallenge<ErrorBody>(guarded.url, challengeBody(sim.urlFor('/faststart.mp4')));
    expect(literal.status).toBe(403);
    expect(literal.body.error.code).toBe('FF_ERR_URL_REFUSED');
    expect(literal.body.error.message).toContain('loopback');
    // A name resolving to loopback is refused at resolution, before any connection.
    const named = await postChallenge<ErrorBody>(
      guarded.url,
      challengeBody(`http://localhost:${sim.port}/faststart.mp4`),
    );
    expect(named.status).toBe(403);
    expect(named.body.error.code).toBe('FF_ERR_URL_REFUSED');
    expect(sim.requests.length).toBe(before);
  });

  it('with an allowlist, only the listed host is fetched; others are refused with 403', async () => {
    const guarded = await serve({
      allowPrivate: false,
      allowHosts: ['video.test'],
      // A fake DNS: *.test names stand in for public hosts on the loopback simulator.
      guardHooks: {
        lookup: async () => [{ address: '127.0.0.1', family: 4 }],
        isAllowedAddress: (_address, host) => host.endsWith('.test'),
      },
    });
    const before = sim.requests.length;
    const listed = await postChallenge<ChallengeResponse>(
      guarded.url,
      challengeBody(`http://video.test:${sim.port}/faststart.mp4`),
    );
    expect(listed.status).toBe(200);
    expect(listed.body.frames.length).toBe(4);
    const other = await postChallenge<ErrorBody>(
      guarded.url,
      challengeBody(`http://other.test:${sim.port}/faststart.mp4`),
    );
    expect(other.status).toBe(403);
    expect(other.body.error.message).toContain('not one of the allowed hosts');
    expect(sim.requests.slice(before).map((request) => request.path)).toEqual(['/faststart.mp4']);
  });
});

describe('auth', () => {
  it('with a secret, every route but /healthz wants "Authorization: Bearer <secret>" (401 otherwise)', async () => {
    const locked = await serve({ secret: 's3cret-token' });
    const none = await postChallenge<ErrorBody>(
      locked.url,
      challengeBody(sim.urlFor('/missing.mp4'), 'c-auth'),
    );
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(none.body).toEqual({
      error: { code: 'FF_ERR_UNAUTHORIZED', message: expect.any(String) },
      challenge_id: null,
    });
    const wrong = await postChallenge(locked.url, challengeBody(sim.urlFor('/missing.mp4')), {
      headers: { authorization: 'Bearer s3cret-tokeN' },
    });
    expect(wrong.status).toBe(401);
    const right = await postChallenge(locked.url, challengeBody(sim.urlFor('/missing.mp4')), {
      headers: { authorization: 'Bearer s3cret-token' },
    });
    expect(right.status).toBe(502);
    expect((await getJson(`${locked.url}/availability`)).status).toBe(401);
    const bearer = { authorization: 'Bearer s3cret-token' };
    expect((await getJson(`${locked.url}/availability`, bearer)).status).toBe(200);
    expect((await fetch(`${locked.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${locked.url}/metrics`, { headers: bearer })).status).toBe(200);
    expect((await getJson(`${locked.url}/healthz`)).status).toBe(200);
  });
});

describe('concurrency', () => {
  it('busy: availability false, one challenge queued, the next 503 with Retry-After; a client leaving frees its slot', async () => {
    const busy = await serve({ concurrency: 1, queue: 1 });
    const stalled = () => challengeBody(sim.urlFor('/faststart.mp4', { stallAfterBytes: 40_000 }));
    const before = sim.requests.length;
    const first = new AbortController();
    const firstAnswer = postChallenge(busy.url, stalled(), { signal: first.signal }).catch(
      (error: Error) => error,
    );
    await waitFor('the first video request', () => sim.requests.length === before + 1);
    expect((await getJson(`${busy.url}/availability`)).body).toEqual({ available: false });

    const second = new AbortController();
    const secondAnswer = postChallenge(busy.url, stalled(), { signal: second.signal }).catch(
      (error: Error) => error,
    );
    await waitFor('the second challenge queued', () => busy.queued() === 1);
    const third = await postChallenge<ErrorBody>(busy.url, stalled());
    expect(third.status).toBe(503);
    expect(third.headers.get('retry-after')).toBe(String(BUDGET_S));
    expect(third.body.error.code).toBe('FF_ERR_BUSY');
    const metrics = await (await fetch(`${busy.url}/metrics`)).text();
    expect(metricValue(metrics, 'firstframe_challenges_in_flight')).toBe(1);
    expect(metricValue(metrics, 'firstframe_challenges_queued')).toBe(1);

    // The first client goes away: its download is cancelled and the queued challenge starts.
    first.abort();
    expect(await firstAnswer).toBeInstanceOf(Error);
    const firstRecord = await sim.waitForRequestEnd(sim.requests[before]!.id, 2000);
    expect(['client-closed', 'stalled-closed']).toContain(firstRecord.outcome);
    await waitFor('the queued challenge to start', () => sim.requests.length === before + 2);
    second.abort();
    expect(await secondAnswer).toBeInstanceOf(Error);
    await sim.waitForRequestEnd(sim.requests[before + 1]!.id, 2000);
    await waitFor('the slot to be free', () => busy.inFlight() === 0);
    expect((await getJson(`${busy.url}/availability`)).body).toEqual({ available: true });
    const after = await (await fetch(`${busy.url}/metrics`)).text();
    expect(metricValue(after, 'firstframe_challenges_total{outcome="cancelled"}')).toBe(2);
    expect(metricValue(after, 'firstframe_challenges_total{outcome="rejected"}')).toBe(1);
  });
});

describe('the soccer profile with its fill stage', () => {
  it('answers every frame of the clip, each object saying how it was made; /metrics counts frames and sources', async () => {
    const dense = await preparePipeline(
      loadPipeline({ profile: 'soccer', overrides: { stride: { every: 5 }, sink: { budgetS: 30 } } }),
    );
    try {
      const server = await serve({ pipeline: dense });
      const answer = await postChallenge<ChallengeResponse>(
        server.url,
        challengeBody(sim.urlFor('/faststart.mp4'), 'c-dense'),
      );
      expect(answer.status).toBe(200);
      const frames = answer.body.frames;
      expect(frames.map((frame) => frame.frame_number)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      const counts: Record<string, number> = {};
      for (const frame of frames) {
        expect(frame.keypoints).toHaveLength(PITCH_KEYPOINTS);
        expect(frame.objects.filter((object) => object.class_id === 0).length).toBeLessThanOrEqual(1);
        for (const object of frame.objects) counts[object.source] = (counts[object.source] ?? 0) + 1;
        const sources = new Set(frame.objects.map((object) => object.source));
        expect([...sources], `frame ${frame.frame_number}`).toEqual(
          frame.frame_number % 5 === 0
            ? ['inferred']
            : frame.frame_number < 95
              ? ['interpolated']
              : ['extrapolated'],
        );
      }
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metricValue(metrics, 'firstframe_run_frames_sum{kind="answered"}')).toBe(100);
      expect(metricValue(metrics, 'firstframe_run_frames_sum{kind="inferred"}')).toBe(20);
      expect(metricValue(metrics, 'firstframe_run_frames_sum{kind="in_clip"}')).toBe(100);
      for (const source of ['inferred', 'interpolated', 'extrapolated']) {
        expect(metricValue(metrics, `firstframe_objects_answered_total{source="${source}"}`), source).toBe(
          counts[source],
        );
      }
    } finally {
      await dense.release();
    }
  }, 120_000);
});

describe('metrics and logs', () => {
  it('/metrics has the stage histograms, counters and errors by code; every log line of a challenge has its id', async () => {
    const lines: string[] = [];
    const logger = createRootLogger({
      level: 'info',
      destination: { write: (line: string) => lines.push(line) },
    });
    const logged = await serve({ logger, processMetrics: true });
    expect(
      (await postChallenge(logged.url, challengeBody(sim.urlFor('/faststart.mp4'), 'c-logs'))).status,
    ).toBe(200);
    expect((await postChallenge(logged.url, challengeBody(sim.urlFor('/missing.mp4'), 'c-404'))).status).toBe(
      502,
    );

    const response = await fetch(`${logged.url}/metrics`);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    for (const stage of ['headers', 'first_byte', 'first_frame', 'first_result', 'total']) {
      expect(
        metricValue(text, `firstframe_stage_seconds_count{stage="${stage}"}`),
        stage,
      ).toBeGreaterThanOrEqual(1);
    }
    expect(metricValue(text, 'firstframe_inference_run_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'firstframe_video_bytes_total')).toBe(fixtures.clips['faststart']!.bytes);
    expect(metricValue(text, 'firstframe_frames_inferred_total')).toBe(4);
    expect(metricValue(text, 'firstframe_challenges_total{outcome="complete"}')).toBe(1);
    expect(metricValue(text, 'firstframe_challenges_total{outcome="failed"}')).toBe(1);
    expect(metricValue(text, 'firstframe_errors_total{code="FF_ERR_HTTP_STATUS"}')).toBe(1);
    expect(metricValue(text, 'firstframe_server_overhead_seconds_count')).toBe(2);
    expect(metricValue(text, 'firstframe_challenges_in_flight')).toBe(0);
    expect(text).toContain('firstframe_process_cpu_seconds_total');

    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const ofChallenge = entries.filter((entry) => entry.event !== 'listening');
    expect(ofChallenge.length).toBeGreaterThan(5);
    for (const entry of ofChallenge)
      expect(['c-logs', 'c-404'], JSON.stringify(entry)).toContain(entry.challenge_id);
    expect(entries).toContainEqual(
      expect.objectContaining({ challenge_id: 'c-logs', event: 'answer', status: 200, frames: 4 }),
    );
    expect(entries).toContainEqual(
      expect.objectContaining({ challenge_id: 'c-logs', stage: 'decode', event: 'first-frame' }),
    );
  });
});

describe('keeping video hosts warm', () => {
  it('HEADs a recent host between challenges over the kept-alive socket, which the next challenge reuses', async () => {
    // HEADs 400 ms apart: the second challenge's GET, sent right after a HEAD ends, must not meet the next
    // HEAD on the socket (at 100 ms apart a loaded machine once sent it late, and undici opened a second
    // connection for it).
    const warm = await serve({ keepWarm: { intervalMs: 400 } });
    const before = sim.requests.length;
    const accepted = sim.connectionsAccepted();
    expect((await postChallenge(warm.url, challengeBody(sim.urlFor('/fragmented.mp4')))).status).toBe(200);
    await waitFor(
      'two HEADs',
      () => sim.requests.slice(before).filter((r) => r.method === 'HEAD').length >= 2,
    );
    // Right after a HEAD ends, so that the next challenge does not find the socket busy with one.
    await new Promise<void>((resolve) => {
      const onEnd = (record: NetSimRequestRecord) => {
        if (record.method !== 'HEAD') return;
        sim.events.off('request-end', onEnd);
        resolve();
      };
      sim.events.on('request-end', onEnd);
    });
    expect((await postChallenge(warm.url, challengeBody(sim.urlFor('/fragmented.mp4')))).status).toBe(200);
    await warm.close();
    const requests = sim.requests.slice(before);
    expect(requests.filter((r) => r.method === 'GET').length).toBe(2);
    expect(requests.every((r) => r.path === '/fragmented.mp4')).toBe(true);
    // One connection for all of it: the HEADs kept it, and the second GET found it open.
    expect(sim.connectionsAccepted() - accepted).toBe(1);
  });
});

describe('shutdown', () => {
  it('close(): the port closes at once, the in-flight challenge still gets its answer, then the video connections are released', async () => {
    const stopping = await serve({ graceMs: 10_000 });
    const pending = postChallenge<ChallengeResponse>(
      stopping.url,
      challengeBody(sim.urlFor('/faststart.mp4?run=close', { rateBytesPerSec: 80_000 })),
    );
    await waitFor('the video request', () => sim.requests.some((r) => r.query['run'] === 'close'));
    const closed = stopping.close();
    await expect(fetch(`${stopping.url}/healthz`)).rejects.toThrow();
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(answer.body.frames.length).toBeGreaterThanOrEqual(1);
    await closed;
    expect(stopping.inFlight()).toBe(0);
  });

  it('past the grace period the run is cancelled and answered with what it has (FF_ERR_SHUTTING_DOWN)', async () => {
    const stopping = await serve({ graceMs: 10_000 });
    const pending = postChallenge<ChallengeResponse | ErrorBody>(
      stopping.url,
      challengeBody(sim.urlFor('/faststart.mp4?run=grace', { stallAfterBytes: 40_000 })),
    );
    await waitFor('the video request', () => sim.requests.some((r) => r.query['run'] === 'grace'));
    await stopping.close({ graceMs: 300 });
    const answer = await pending;
    expect(answer.body.error?.code).toBe('FF_ERR_SHUTTING_DOWN');
    expect([200, 503]).toContain(answer.status);
    // Cancelled at the grace period, well before the 4 s budget would have ended it.
    expect(answer.ms).toBeLessThan(BUDGET_S * 1000);
    const request = sim.requests.find((r) => r.query['run'] === 'grace')!;
    const record = await sim.waitForRequestEnd(request.id, 2000);
    expect(['client-closed', 'stalled-closed']).toContain(record.outcome);
  });

  it('nothing is held afterwards: every video request has its final outcome and no connection is open', async () => {
    await Promise.all(servers.map((server) => server.close({ graceMs: 0 })));
    await waitFor(
      'the simulator connections to close',
      () => sim.openConnections() === simConnectionsAtStart,
    );
    expect(sim.requests.filter((request) => request.outcome === 'pending')).toEqual([]);
  });
});
