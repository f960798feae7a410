/**
 * `firstframe diagnose` end to end, spawned as a user runs it, on the simulator (loopback only).
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiagnoseDocument } from '../../src/bench/diagnose.js';
import { SEGMENT_NAMES } from '../../src/bench/breakdown.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { startNetSim, type NetSim } from '../../src/sim/netsim.js';
import { ensureBuilt, lines, runCli } from '../support/cli.js';
import { testFixtures } from '../support/fixtures.js';

let fixtures: FixtureSet;
let sim: NetSim;
// Short runs: a result every 25th frame, and a budget well past the first one.
const env = { FRAME_STRIDE: '25', TIME_BUDGET_S: '3' };

beforeAll(async () => {
  fixtures = await testFixtures();
  await ensureBuilt();
  // Slow enough that the moov fetch (a Range request) answers before the main response reaches the end.
  sim = await startNetSim({ root: fixtures.dir, rateBytesPerSec: 250_000, ttfbMs: 30 });
}, 180_000);

afterAll(async () => {
  await sim?.close();
});

const isNumberOrNull = (value: unknown) =>
  value === null || (typeof value === 'number' && Number.isFinite(value));

describe('firstframe diagnose', () => {
  it('--json: every stage of the breakdown, typed; the moov at the end found and fetched with Range', async () => {
    const url = sim.urlFor('/moov-end.mp4');
    const result = await runCli(['diagnose', url, '--json'], { env, timeoutMs: 60_000 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(lines(result.stdout)).toHaveLength(1);
    const { breakdown: b, verdict: v, coverage } = JSON.parse(result.stdout) as DiagnoseDocument;
    expect(coverage).toEqual({
      framesInClip: 100,
      framesAnswered: b.framesInferred,
      framesInferred: b.framesInferred,
      framesFilled: 0,
      coverage: b.framesInferred / 100,
      objectsBySource: { inferred: expect.any(Number), interpolated: 0, extrapolated: 0 },
      lastFrameFrom: null,
    });

    expect(Object.keys(b).sort()).toEqual(
      [
        'target',
        'pipeline',
        'network',
        'layout',
        'decoder',
        'model',
        'batch',
        'inference',
        'firstResultAtMs',
        'totalMs',
        'endedBy',
        'bytesDownloaded',
        'framesDecoded',
        'framesInferred',
        'error',
        'segments',
      ].sort(),
    );
    for (const group of [b.network, b.decoder, b.batch, b.inference] as Array<Record<string, unknown>>) {
      for (const [key, value] of Object.entries(group)) {
        if (
          ![
            'remoteAddress',
            'alpnProtocol',
            'codec',
            'firstReason',
            'firstFrameFromIndex',
            'frame0',
          ].includes(key)
        ) {
          expect(isNumberOrNull(value), key).toBe(true);
        }
      }
    }
    // Plain HTTP to an IP literal: no DNS, no TLS; a TCP connect and the simulator's TTFB.
    expect(b.network).toMatchObject({ dnsMs: null, tlsMs: null, remoteAddress: '127.0.0.1', status: 200 });
    expect(b.network.connectMs).toBeGreaterThan(0);
    expect(b.network.firstByteAtMs).toBeGreaterThanOrEqual(30);
    expect(b.layout).toMatchObject({
      layout: 'moov-end',
      fragmented: false,
      moovAtEnd: true,
      totalBytes: fixtures.clips['moov-end']!.bytes,
      rangeHonoured: true,
      mdatOffset: expect.any(Number),
    });
    expect(b.layout.moovOffset).toBeGreaterThan(b.layout.mdatOffset!);
    expect(b.layout.moovBytes).toBeGreaterThan(0);
    expect(b.decoder.bytesBeforeStart).toBeGreaterThan(0);
    expect(b.decoder.bytesFedAtOpen).toBeGreaterThan(0);
    expect(b.decoder.sourceBytesAtOpen).toBeGreaterThan(0);
    expect(b.decoder).toMatchObject({ codec: 'h264', width: 640, height: 360 });
    expect(typeof b.decoder.firstFrameFromIndex).toBe('boolean');
    expect(b.model.setupMs).toBeGreaterThan(0);
    expect(b.model.path).toMatch(/\.onnx$/);
    expect(b.batch).toMatchObject({ firstSize: 1, firstReason: 'first-frame' });
    expect(b.inference.firstRunFrames).toBe(1);
    expect(b.inference.firstRunMs).toBeGreaterThan(0);
    expect(b.error).toBeNull();
    expect(b.endedBy).toBe('end');

    // The milestones come in order and the parts add up to the time to first result.
    const order = [
      b.network.firstByteAtMs!,
      b.decoder.startAtMs!,
      b.decoder.firstFrameAtMs!,
      b.inference.firstRunStartAtMs!,
      b.firstResultAtMs!,
    ];
    expect([...order].sort((x, y) => x - y)).toEqual(order);
    expect(b.segments.map((segment) => segment.name)).toEqual(SEGMENT_NAMES);
    const sum = b.segments.reduce((total, segment) => total + segment.ms, 0);
    expect(Math.abs(sum - b.firstResultAtMs!)).toBeLessThan(1);

    expect(SEGMENT_NAMES).toContain(v.dominant);
    expect(v.firstResultMs).toBe(b.firstResultAtMs);
    // Whatever dominated, a moov at the end is always worth saying.
    expect(v.advice.flatMap((advice) => advice.settings)).toContain('-movflags +faststart');
  }, 60_000);

  it('human output: the stage table, the parts of the time to first result, and the verdict', async () => {
    const url = sim.urlFor('/faststart.mp4');
    const result = await runCli(['diagnose', url], { env, timeoutMs: 60_000 });
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`diagnosing ${url}`);
    const out = result.stdout;
    expect(out).toMatch(/^stage +at \(ms\) +took \(ms\) +detail$/m);
    // The stride the run used, as `run` prints it: its operator, segments, per-frame time and margin.
    expect(out).toMatch(
      /^pipeline: default: .*; stride (\d+) \(every-nth: \1 from frame 0; \d+ ms per frame from the (set-up|batches); margin [\d.]+ s, (fits|does not fit)\);/m,
    );
    for (const stage of [
      'model load \\+ warm-up',
      'DNS',
      'connect \\(TCP\\)',
      'TLS',
      'time to first byte',
      'container layout',
      'bytes before decoding',
      'decoder start',
      'demuxer open',
      'first frame',
      'first inference',
      'first result',
    ]) {
      expect(out).toMatch(new RegExp(`^${stage}  `, 'm'));
    }
    // A stream sends no Range of its own for a faststart file: the probe after the run tells.
    expect(out).toMatch(
      /^container layout .*faststart, moov at \d+ \(\d+ bytes\), not fragmented, \d+ bytes, Range honoured \(probe after the run\)$/m,
    );
    // The default profile (no fill stage): the inferred frames against the clip's 100.
    expect(out).toMatch(
      /^coverage: (\d+) of 100 frames answered \([\d.]+% of the clip\): \1 inferred, 0 filled; objects \d+ inferred, 0 interpolated, 0 extrapolated$/m,
    );
    expect(out).toContain('time to first result, by part:');
    expect(out).toMatch(/^verdict: first result after \d+ ms; the largest part is /m);
    expect(out).toMatch(/^ {4}→ /m);
  }, 60_000);

  it('an unreachable URL: the diagnosis of the failure, exit 1', async () => {
    const result = await runCli(['diagnose', sim.urlFor('/missing.mp4'), '--json'], {
      env,
      timeoutMs: 60_000,
    });
    expect(result.code).toBe(1);
    const { breakdown, verdict } = JSON.parse(result.stdout) as DiagnoseDocument;
    expect(breakdown.error?.code).toBe('FF_ERR_HTTP_STATUS');
    expect(breakdown.firstResultAtMs).toBeNull();
    expect(verdict.headline).toBe('no result: the run failed (FF_ERR_HTTP_STATUS)');
  }, 60_000);

  it('no URL or FILE: exit 2', async () => {
    const result = await runCli(['diagnose']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('expected one URL or FILE, got none');
  });

  it('bad usage: every problem at once, exit 2', async () => {
    const result = await runCli(['diagnose', 'a.mp4', 'b.mp4', '--profile', 'nope']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('expected one URL or FILE, got 2');
    expect(result.stderr).toContain('unknown profile "nope"');
  });
});
