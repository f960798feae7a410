/**
 * Signed challenges end to end: a real server with signatures on, requests signed with throwaway keys
 * the way fiber signs them, the simulator as the video host. Every refusal is answered before anything is
 * fetched (the simulator sees no request), the server keeps serving, and the signed challenge is answered.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { preparePipeline, type PreparedPipeline } from '../../src/pipelines/runner.js';
import type { ChallengeResponse } from '../../src/server/challenge.js';
import { authCodes } from '../../src/server/fiber-auth.js';
import { fiberKey, fiberNonce, signedHeaders } from '../../src/server/fiber-sign.js';
import type { ErrorBody } from '../../src/server/response.js';
import { startServer, type ChallengeServer } from '../../src/server/server.js';
import { startNetSim, type NetSim } from '../../src/sim/netsim.js';
import { testFixtures } from '../support/fixtures.js';
import { challengeBody, postChallenge, rawExchange, parseResponses } from './helpers.js';

let fixtures: FixtureSet;
let sim: NetSim;
let soccer: PreparedPipeline;
let server: ChallengeServer;

const miner = fiberKey();
const validator = fiberKey();
const stranger = fiberKey();

beforeAll(async () => {
  fixtures = await testFixtures();
  sim = await startNetSim({ root: fixtures.dir, rateBytesPerSec: 4_000_000, ttfbMs: 5 });
  soccer = await preparePipeline(
    loadPipeline({ profile: 'soccer', overrides: { stride: { every: 25 }, sink: { budgetS: 30 } } }),
  );
  server = await startServer({
    pipeline: soccer,
    allowPrivate: true,
    keepWarm: false,
    processMetrics: false,
    signatures: { minerHotkey: miner.hotkey, validatorHotkeys: [validator.hotkey] },
  });
}, 120_000);

afterAll(async () => {
  await server?.close({ graceMs: 0 });
  await soccer?.release();
  await sim?.close();
});

/** A challenge body as the exact text that is signed and sent. */
const bodyText = (id: string) => JSON.stringify(challengeBody(sim.urlFor('/faststart.mp4'), id));

describe('POST /soccer/challenge with signatures on', () => {
  it('answers a challenge signed by an allowed validator', async () => {
    const text = bodyText('signed-1');
    const answer = await postChallenge<ChallengeResponse>(server.url, text, {
      headers: signedHeaders(validator, miner.hotkey, text),
    });
    expect(answer.status).toBe(200);
    expect(answer.body.challenge_id).toBe('signed-1');
    // The soccer profile answers every frame of the 100-frame clip; the model ran on every 25th.
    expect(answer.body.frames.map((frame) => frame.frame_number)).toEqual([...Array(100).keys()]);
    const inferred = answer.body.frames.filter((frame) => frame.objects.some((o) => o.source === 'inferred'));
    expect(inferred.map((frame) => frame.frame_number)).toEqual([0, 25, 50, 75]);
  });

  it('refuses each bad request with its status and code, fetching nothing, and still serves after', async () => {
    const text = bodyText('refused');
    const good = signedHeaders(validator, miner.hotkey, text);
    const replayedText = bodyText('replayed');
    const replayed = signedHeaders(validator, miner.hotkey, replayedText);
    expect((await postChallenge(server.url, replayedText, { headers: replayed })).status).toBe(200);

    const before = sim.requests.length;
    const cases: Array<[string, Record<string, string>, string, number, string]> = [
      ['unsigned', {}, text, 422, authCodes.headersMissing],
      [
        'tampered signature',
        { ...good, signature: `${good.signature.slice(0, -2)}00` },
        text,
        401,
        authCodes.signatureInvalid,
      ],
      ['body changed after signing', good, bodyText('changed'), 401, authCodes.signatureInvalid],
      ['replayed nonce', replayed, replayedText, 401, authCodes.nonceReplayed],
      [
        'nonce from the future',
        signedHeaders(validator, miner.hotkey, text, { nonce: fiberNonce(Date.now() + 300_000) }),
        text,
        401,
        authCodes.nonceInvalid,
      ],
      [
        'not our miner hotkey',
        signedHeaders(validator, stranger.hotkey, text),
        text,
        401,
        authCodes.wrongMiner,
      ],
      [
        'SS58 with a wrong checksum',
        {
          ...good,
          'validator-hotkey': `${validator.hotkey.slice(0, -1)}${validator.hotkey.endsWith('a') ? 'b' : 'a'}`,
        },
        text,
        401,
        authCodes.hotkeyInvalid,
      ],
      ['non-hex signature', { ...good, signature: 'not hex' }, text, 401, authCodes.signatureInvalid],
      [
        'validator not allowed',
        signedHeaders(stranger, miner.hotkey, text),
        text,
        403,
        authCodes.validatorNotAllowed,
      ],
    ];
    for (const [name, headers, sent, status, code] of cases) {
      const answer = await postChallenge<ErrorBody>(server.url, sent, { headers });
      expect({ name, status: answer.status, code: answer.body.error.code }).toEqual({ name, status, code });
      expect(answer.body.challenge_id, name).toBeNull();
    }
    expect(sim.requests.length).toBe(before);

    const after = await postChallenge<ChallengeResponse>(server.url, text, { headers: good });
    expect(after.status).toBe(200);
    expect(sim.requests.length).toBe(before + 1);
  });

  it('refuses before reading the body: a refused sender announcing 50 MB gets its answer and a closed connection', async () => {
    const headers = signedHeaders(stranger, miner.hotkey, 'x');
    const head =
      'POST /soccer/challenge HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n' +
      Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('') +
      `content-length: ${50 * 1024 * 1024}\r\n\r\n{"challenge_id":`;
    const { text, closedByServer } = await rawExchange(server.port, head, 5000);
    expect(closedByServer).toBe(true);
    const [response] = parseResponses(text);
    expect(response?.status).toBe(403);
    expect(response?.headers['connection']).toBe('close');
    expect((response?.body as ErrorBody).error.code).toBe(authCodes.validatorNotAllowed);
  });

  it('refuses oversized header values with a clear error, not a crash', async () => {
    const text = bodyText('big');
    const good = signedHeaders(validator, miner.hotkey, text);
    const long = await postChallenge<ErrorBody>(server.url, text, {
      headers: { ...good, 'validator-hotkey': '5'.repeat(4000) },
    });
    expect(long.status).toBe(401);
    expect(long.body.error.code).toBe(authCodes.hotkeyInvalid);
    expect(long.body.error.message.length).toBeLessThan(300);
    const huge = await postChallenge<ErrorBody>(server.url, text, {
      headers: { ...good, nonce: `${'1'.repeat(40000)}_x` },
    });
    expect(huge.status).toBe(431);
  });
});
