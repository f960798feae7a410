/**
 * `POST /predict` (turbovision) on a real server over loopback: a video URL through the normal pipeline,
 * JPEG frames (made from a fixture clip with ffmpeg) given as base64 and as URLs, and every refusal of bad
 * input with its status and code, the server still serving after them.
 */

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { loadPipeline } from '../../src/pipelines/load.js';
import { preparePipeline, type PreparedPipeline } from '../../src/pipelines/runner.js';
import { authCodes } from '../../src/server/fiber-auth.js';
import { fiberKey, signedHeaders } from '../../src/server/fiber-sign.js';
import { predictCodes, type PredictResponse } from '../../src/server/predict.js';
import { jpegSize } from '../../src/server/predict-frames.js';
import { startServer, type ChallengeServer, type ServerOptions } from '../../src/server/server.js';
import { startNetSim, type NetSim } from '../../src/sim/netsim.js';
import { testFixtures } from '../support/fixtures.js';
import { getJson } from './helpers.js';

let fixtures: FixtureSet;
let sim: NetSim;
let soccer: PreparedPipeline;
let server: ChallengeServer;
const servers: ChallengeServer[] = [];
/** Frames 0, 10 and 20 of faststart.mp4 as JPEG files. */
let jpegs: Buffer[];
let truth: { objects: Array<{ frameNumber: number; items: unknown[] }> };

const WIDTH = 640;
const HEIGHT = 360;

async function serve(options: Partial<ServerOptions> = {}): Promise<ChallengeServer> {
  const started = await startServer({
    pipeline: soccer,
    allowPrivate: true,
    keepWarm: false,
    processMetrics: false,
    ...options,
  });
  servers.push(started);
  return started;
}

beforeAll(async () => {
  fixtures = await testFixtures();
  const clip = fixtures.clips['faststart']!;
  truth = JSON.parse(readFileSync(clip.truth, 'utf8')) as typeof truth;
  const dir = mkdtempSync(join(tmpdir(), 'ff-predict-test-'));
  await promisify(execFile)('ffmpeg', [
    '-loglevel',
    'error',
    '-i',
    clip.file,
    '-vf',
    String.raw`select=eq(n\,0)+eq(n\,10)+eq(n\,20)`,
    '-fps_mode',
    'passthrough',
    '-q:v',
    '3',
    join(dir, 'frame-%d.jpg'),
  ]);
  jpegs = readdirSync(dir)
    .sort()
    .map((name) => readFileSync(join(dir, name)));
  sim = await startNetSim({
    root: fixtures.dir,
    files: { '/frame-10.jpg': jpegs[1]!, '/words.jpg': new TextEncoder().encode('not a picture') },
    rateBytesPerSec: 4_000_000,
    ttfbMs: 5,
  });
  soccer = await preparePipeline(
    loadPipeline({ profile: 'soccer', overrides: { stride: { every: 25 }, sink: { budgetS: 30 } } }),
  );
  server = await serve({ prepareFramesPipeline: true });
}, 180_000);

afterAll(async () => {
  await Promise.all(servers.map((started) => started.close({ graceMs: 0 })));
  await soccer?.release();
  await sim?.close();
});

async function predict(
  body: unknown,
  options: { to?: ChallengeServer; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: PredictResponse }> {
  const response = await fetch(`${(options.to ?? server).url}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: JSON.parse(await response.text()) as PredictResponse };
}

function expectWellFormed(result: PredictResponse, nKeypoints: number) {
  for (const frame of result.predictions!.frames) {
    expect(Object.keys(frame).sort()).toEqual(['boxes', 'frame_id', 'keypoints']);
    expect(frame.keypoints).toHaveLength(nKeypoints);
    for (const [x, y] of frame.keypoints) {
      expect(Number.isInteger(x) && Number.isInteger(y), `keypoint ${x},${y}`).toBe(true);
    }
    for (const box of frame.boxes) {
      expect(Object.keys(box).sort()).toEqual(['cls_id', 'conf', 'x1', 'x2', 'y1', 'y2']);
      const { x1, y1, x2, y2 } = box;
      expect([x1, y1, x2, y2].every(Number.isInteger), `box ${JSON.stringify(box)}`).toBe(true);
      expect(0 <= x1 && x1 < x2 && x2 <= WIDTH && 0 <= y1 && y1 < y2 && y2 <= HEIGHT).toBe(true);
      expect([0, 1, 2, 3]).toContain(box.cls_id);
      expect(box.conf > 0 && box.conf <= 1).toBe(true);
    }
  }
}

const objectsAt = (frameNumber: number) =>
  truth.objects.find((entry) => entry.frameNumber === frameNumber)!.items.length;

describe('POST /predict', () => {
  it('with a video url: the pipeline runs on the video, frames by their number, boxes as integers', async () => {
    const answer = await predict({ url: sim.urlFor('/faststart.mp4'), meta: { n_keypoints: 32, fps: 25 } });
    expect(answer.status).toBe(200);
    expect(answer.body.success).toBe(true);
    expect(answer.body.error).toBeNull();
    expect(answer.body.model).toBe('soccer');
    // The soccer profile's fill stage: every frame of the clip answered, every 25th inferred. (At so long a
    // stride the tracker loses most objects between inferred frames: those are carried a few frames only.)
    const every = Array.from({ length: 100 }, (_, i) => i);
    expect(answer.body.predictions!.frames.map((frame) => frame.frame_id)).toEqual(every);
    expectWellFormed(answer.body, 32);
    for (const frame of answer.body.predictions!.frames) {
      const expected = objectsAt(frame.frame_id);
      if (frame.frame_id % 25 === 0) expect(frame.boxes.length, `frame ${frame.frame_id}`).toBe(expected);
      else expect(frame.boxes.length, `frame ${frame.frame_id}`).toBeLessThanOrEqual(expected);
      expect(frame.boxes.filter((box) => box.cls_id === 0).length).toBeLessThanOrEqual(1);
    }
  });

  it('with base64 JPEG frames: every frame answered under its own id, in the order given', async () => {
    const frames = [
      { frame_id: 100, data: jpegs[0]!.toString('base64') },
      { frame_id: 7, data: jpegs[1]!.toString('base64') },
      { frame_id: 42, data: `data:image/jpeg;base64,${jpegs[2]!.toString('base64')}` },
    ];
    const answer = await predict({ frames, meta: { n_keypoints: 32, batch_size: 2 } });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ success: true, error: null });
    expect(answer.body.predictions!.frames.map((frame) => frame.frame_id)).toEqual([100, 7, 42]);
    expectWellFormed(answer.body, 32);
    expect(answer.body.predictions!.frames.map((frame) => frame.boxes.length)).toEqual([
      objectsAt(0),
      objectsAt(10),
      objectsAt(20),
    ]);
  });

  it('with a frame url (through the URL guard) and n_keypoints from meta', async () => {
    const answer = await predict({
      frames: [
        { frame_id: 3, url: sim.urlFor('/frame-10.jpg') },
        { frame_id: 4, data: jpegs[0]!.toString('base64') },
      ],
      meta: { n_keypoints: 5 },
    });
    expect(answer.status).toBe(200);
    expect(answer.body.predictions!.frames.map((frame) => frame.frame_id)).toEqual([3, 4]);
    expectWellFormed(answer.body, 5);
    expect(answer.body.predictions!.frames[0]!.boxes.length).toBe(objectsAt(10));
  });

  it('refuses bad input with a clear 4xx and its code, and keeps serving', async () => {
    const jpeg = jpegs[0]!.toString('base64');
    const cases: Array<[string, unknown, number, string]> = [
      ['not JSON', '{"frames": [', 400, 'FF_ERR_REQUEST_JSON'],
      ['neither url nor frames', { meta: {} }, 400, predictCodes.invalid],
      [
        'both url and frames',
        { url: sim.urlFor('/faststart.mp4'), frames: [{ frame_id: 0, data: jpeg }] },
        400,
        predictCodes.invalid,
      ],
      [
        'a repeated frame id',
        {
          frames: [
            { frame_id: 1, data: jpeg },
            { frame_id: 1, data: jpeg },
          ],
        },
        400,
        predictCodes.invalid,
      ],
      ['a negative frame id', { frames: [{ frame_id: -1, data: jpeg }] }, 400, predictCodes.invalid],
      [
        '10,000 frames',
        { frames: Array.from({ length: 10_000 }, (_, i) => ({ frame_id: i, data: 'AAAA' })) },
        413,
        predictCodes.tooManyFrames,
      ],
      [
        'a 9 MB frame',
        { frames: [{ frame_id: 0, data: 'A'.repeat(12 * 1024 * 1024) }] },
        413,
        predictCodes.frameTooLarge,
      ],
      [
        'base64 that is not base64',
        { frames: [{ frame_id: 0, data: 'not base64!' }] },
        400,
        predictCodes.frameBase64,
      ],
      [
        'base64 that is not a JPEG',
        { frames: [{ frame_id: 0, data: Buffer.from('GIF89a…').toString('base64') }] },
        422,
        predictCodes.frameNotJpeg,
      ],
      [
        'a JPEG header and nothing',
        {
          frames: [
            { frame_id: 0, data: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0, 0]).toString('base64') },
          ],
        },
        422,
        predictCodes.frameNotJpeg,
      ],
      [
        'a frame url serving words',
        { frames: [{ frame_id: 0, url: sim.urlFor('/words.jpg') }] },
        422,
        predictCodes.frameNotJpeg,
      ],
      [
        'a frame url that 404s',
        { frames: [{ frame_id: 0, url: sim.urlFor('/missing.jpg') }] },
        502,
        predictCodes.frameFetch,
      ],
      [
        'a frame url of another scheme',
        { frames: [{ frame_id: 0, url: 'file:///etc/passwd' }] },
        403,
        'FF_ERR_URL_REFUSED',
      ],
    ];
    for (const [name, body, status, code] of cases) {
      const answer = await predict(body);
      expect({ name, status: answer.status, code: answer.body.code }).toEqual({ name, status, code });
      expect(answer.body.success, name).toBe(false);
      expect(answer.body.predictions, name).toBeNull();
      expect(typeof answer.body.error, name).toBe('string');
    }
    const after = await predict({ frames: [{ frame_id: 9, data: jpeg }] });
    expect(after.status).toBe(200);
    expect(after.body.predictions!.frames.map((frame) => frame.frame_id)).toEqual([9]);
  });

  it('refuses a 50 MB frame (413), and a frame url or video url the guard refuses (403), fetching nothing', async () => {
    const big = await predict({ frames: [{ frame_id: 0, data: 'A'.repeat(50 * 1024 * 1024) }] });
    expect(big.status).toBe(413);
    expect(big.body.code).toBe(predictCodes.frameTooLarge);

    const guarded = await serve({ allowPrivate: false });
    const before = sim.requests.length;
    const refused = await predict(
      { frames: [{ frame_id: 0, url: sim.urlFor('/frame-10.jpg') }] },
      { to: guarded },
    );
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('FF_ERR_URL_REFUSED');
    const video = await predict({ url: sim.urlFor('/faststart.mp4') }, { to: guarded });
    expect(video.status).toBe(403);
    expect(sim.requests.length).toBe(before);
  });

  it('bounds the bytes of predict bodies held at once: past it 503 with Retry-After, before reading', async () => {
    const small = await serve({ predictLimits: { maxBytesInFlight: 1000 } });
    const answer = await predict(
      { frames: [{ frame_id: 0, data: jpegs[0]!.toString('base64') }] },
      { to: small },
    );
    expect(answer.status).toBe(503);
    expect(answer.body.code).toBe('FF_ERR_BUSY');
    expect((await predict({ url: sim.urlFor('/faststart.mp4') }, { to: small })).status).toBe(200);
  });

  it('with signatures on, /predict takes signed requests only', async () => {
    const miner = fiberKey();
    const validator = fiberKey();
    const signed = await serve({
      signatures: { minerHotkey: miner.hotkey, validatorHotkeys: [validator.hotkey] },
    });
    const text = JSON.stringify({ url: sim.urlFor('/faststart.mp4'), meta: { n_keypoints: 32 } });
    const unsigned = await predict(text, { to: signed });
    expect(unsigned.status).toBe(422);
    expect(unsigned.body.code).toBe(authCodes.headersMissing);
    const answer = await predict(text, { to: signed, headers: signedHeaders(validator, miner.hotkey, text) });
    expect(answer.status).toBe(200);
    expect(answer.body.predictions!.frames).toHaveLength(100);
  });

  it('GET /health answers ok without credentials', async () => {
    expect((await getJson(`${server.url}/health`)).body).toEqual({ status: 'ok' });
  });
});

describe('jpegSize', () => {
  it("reads a JPEG's size with FFmpeg, and nothing from other bytes", async () => {
    expect(await jpegSize(jpegs[0]!)).toEqual({ width: WIDTH, height: HEIGHT });
    expect(await jpegSize(new Uint8Array([0xff, 0xd8, 0xff]))).toBeUndefined();
    expect(await jpegSize(new TextEncoder().encode('hello, not a jpeg'))).toBeUndefined();
    expect(await jpegSize(jpegs[0]!.subarray(0, 200))).toBeUndefined();
  });
});
