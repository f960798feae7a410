/**
 * `firstframe run` end to end, spawned as a user runs it: the embedded default, every layout, budget cuts
 * under a stalled server, the fault cases and their exit codes, and configuration problems (exit 2).
 */

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FixtureSet } from '../../src/fixtures/make.js';
import type { RunDocument } from '../../src/pipelines/runner.js';
import { startNetSim, type NetSim } from '../../src/sim/netsim.js';
import { closedPort, ensureBuilt, lines, runCli } from '../support/cli.js';
import { testFixtures } from '../support/fixtures.js';
import { silentHost, tricklingHost } from '../server/helpers.js';

interface Truth {
  objects: Array<{ frameNumber: number; items: Array<{ classId: number }> }>;
}

let fixtures: FixtureSet;
let sim: NetSim;
let scratch: string;

beforeAll(async () => {
  fixtures = await testFixtures();
  await ensureBuilt();
  sim = await startNetSim({ root: fixtures.dir, rateBytesPerSec: 1_000_000, ttfbMs: 20 });
  scratch = mkdtempSync(join(tmpdir(), 'ff-run-cli-'));
}, 180_000);

afterAll(async () => {
  await sim?.close();
});

const classesOf = (layout: string, frameNumber: number): number[] => {
  const truth = JSON.parse(readFileSync(fixtures.clips[layout]!.truth, 'utf8')) as Truth;
  return truth.objects
    .find((o) => o.frameNumber === frameNumber)!
    .items.map((item) => item.classId)
    .sort();
};

describe('firstframe run: the main job', () => {
  it('the embedded default: the bundled clip over the simulator, one JSON document on stdout', async () => {
    const result = await runCli(['run', '--json', '--stride', '25'], { timeoutMs: 60_000 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(lines(result.stdout)).toHaveLength(1);
    const document = JSON.parse(result.stdout) as RunDocument;
    expect(Object.keys(document).sort()).toEqual(['frames', 'source', 'timings']);
    expect(Object.keys(document.timings).sort()).toEqual(
      [
        'setupMs',
        'headersMs',
        'firstByteMs',
        'firstFrameMs',
        'firstResultMs',
        'totalMs',
        'bytesDownloaded',
        'framesDecoded',
        'framesInferred',
        'framesInClip',
        'framesAnswered',
        'framesFilled',
        'objectsBySource',
        'lastFrameFrom',
        'stride',
        'endedBy',
      ].sort(),
    );
    // The stride the run used and how it was chosen (`--stride 25`: pinned).
    expect(document.timings.stride).toMatchObject({ stride: 25, segments: [{ every: 25, from: 0 }] });
    const clipBytes = fixtures.clips['faststart']!.bytes;
    expect(document.source).toMatchObject({ layout: 'faststart', bytesTotal: clipBytes });
    expect(document.timings).toMatchObject({ bytesDownloaded: clipBytes, framesInferred: 4, endedBy: 'end' });
    // The simulator holds the response head for its 100 ms TTFB: nothing can arrive earlier.
    expect(document.timings.firstByteMs).toBeGreaterThanOrEqual(100);
    expect(document.frames.map((frame) => frame.frameNumber)).toEqual([0, 25, 50, 75]);
    for (const frame of document.frames) {
      expect(frame.objects.map((object) => object.classId).sort()).toEqual(
        classesOf('faststart', frame.frameNumber),
      );
      const ball = frame.objects.find((object) => object.className === 'ball')!;
      expect(ball.bbox.every((value) => Number.isFinite(value))).toBe(true);
      expect(ball.score).toBeGreaterThan(0.5);
    }
  }, 90_000);

  it('the human summary speaks the seeds’ terms and shows the detections', async () => {
    // FIRSTFRAME_CORES as a user's shell has it (the suite sets `shared` for its own processes).
    const result = await runCli(['run', '--stride', '50'], {
      timeoutMs: 60_000,
      env: { FIRSTFRAME_CORES: 'auto' },
    });
    expect(result.code).toBe(0);
    const out = result.stdout;
    for (const label of ['download:', 'first frame:', 'first result:', 'processing:', 'total:']) {
      expect(out).toContain(label);
    }
    expect(out).toMatch(/^ {2}frame 0 \(0\.00 s\): 1 ball, 2 goalkeeper, 12 player, 2 referee$/m);
    // The stride the run used, with how it was chosen.
    expect(out).toMatch(
      /^pipeline: +default: http-stream beamcoder stride 50 \(every-nth: 50 from frame 0; /m,
    );
    // The default profile has no fill stage: the inferred frames are the answer.
    expect(out).toMatch(
      /^coverage: {5}2 of 100 frames answered \(2\.0% of the clip\): 2 inferred, 0 filled; objects 34 inferred, 0 interpolated, 0 extrapolated$/m,
    );
    expect(out).toMatch(/^Completed processing 2 frames in \d+\.\ds \(\d+ decoded\)$/m);
    // bin/firstframe set glibc's allocator before anything else (src/core/allocator.cts).
    expect(out).toMatch(
      /^setup: +\d+ ms \(model load and warm-up, before the run\); allocator tuned \((mallopt|GLIBC_TUNABLES)\)$/m,
    );
    // The bundled detector alone on the last CPU, the rest of the process on the others
    // (src/core/cpu-placement.ts); on one CPU there is nothing to place.
    expect(out).toMatch(
      availableParallelism() >= 2
        ? /^cores: +inference on CPU \d+, the rest on CPU \d+(, \d+)*(; swapped \d+ times? for the quicker CPUs)?$/m
        : /^cores: +shared by every thread \(1 CPU allowed to the process\)$/m,
    );
    expect(result.stderr).toContain('serving the bundled faststart clip at 1660000 B/s');
  }, 90_000);

  for (const layout of ['moov-end', 'fragmented', 'mpegts', 'matroska', 'webm'] as const) {
    it(`the ${layout} clip gives the same frames and objects`, async () => {
      const result = await runCli(['run', '--json', '--stride', '50', '--clip', layout, '--ttfb', '20'], {
        timeoutMs: 60_000,
      });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const document = JSON.parse(result.stdout) as RunDocument;
      expect(document.source.layout).toBe(layout === 'webm' ? 'matroska' : layout);
      expect(document.frames.map((frame) => frame.frameNumber)).toEqual([0, 50]);
      for (const frame of document.frames) {
        expect(frame.objects.map((object) => object.classId).sort()).toEqual(
          classesOf(layout === 'webm' || layout === 'matroska' ? layout : layout, frame.frameNumber),
        );
      }
      expect(document.timings.endedBy).toBe('end');
    }, 90_000);
  }

  it('a local file, with the ultra-fast profile (384 px, every 6th frame, first 2 MiB)', async () => {
    const result = await runCli(
      ['run', fixtures.clips['moov-end']!.file, '--profile', 'ultra-fast', '--json'],
      {
        timeoutMs: 60_000,
      },
    );
    expect(result.code).toBe(0);
    const document = JSON.parse(result.stdout) as RunDocument;
    expect(document.source.layout).toBe('moov-end');
    // Every 6th frame until the 1.5 s budget ends the run, or all 17 of them if the machine is quick.
    const numbers = document.frames.map((frame) => frame.frameNumber);
    expect(numbers.length).toBeGreaterThan(0);
    expect(numbers.every((n) => n % 6 === 0)).toBe(true);
    expect(['end', 'budget']).toContain(document.timings.endedBy);
  }, 90_000);
});

describe('firstframe run: LOG_LEVEL', () => {
  it('LOG_LEVEL sets the log level when --log-level is not given; the flag wins; a bad one is named', async () => {
    const file = fixtures.clips['faststart']!.file;
    const levelsOf = (stderr: string) =>
      new Set(
        lines(stderr)
          .filter((line) => line.startsWith('{'))
          .map((line) => (JSON.parse(line) as { level: number }).level),
      );
    const info = await runCli(['run', file, '--json', '--stride', '50'], {
      env: { LOG_LEVEL: 'info' },
      timeoutMs: 60_000,
    });
    expect(info.code).toBe(0);
    expect(levelsOf(info.stderr).has(30)).toBe(true);
    const flag = await runCli(['run', file, '--json', '--stride', '50', '--log-level', 'error'], {
      env: { LOG_LEVEL: 'info' },
      timeoutMs: 60_000,
    });
    expect(flag.code).toBe(0);
    expect([...levelsOf(flag.stderr)].every((level) => level >= 50)).toBe(true);
    const bad = await runCli(['run', file, '--json'], { env: { LOG_LEVEL: 'loud' }, timeoutMs: 30_000 });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(
      'LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    );
  }, 120_000);
});

describe('firstframe run: deadlines and faults', () => {
  it('a stalled server: the answer comes within 150 ms of the budget, with the frames done', async () => {
    const url = sim.urlFor('/faststart.mp4', { stallAfterBytes: 40_000 });
    const result = await runCli(['run', url, '--json', '--budget', '1.5', '--stride', '25'], {
      timeoutMs: 30_000,
    });
    expect(result.code).toBe(0);
    const document = JSON.parse(result.stdout) as RunDocument;
    expect(document.timings.endedBy).toBe('budget');
    expect(document.timings.totalMs).toBeGreaterThanOrEqual(1500);
    expect(document.timings.totalMs).toBeLessThan(1650);
    expect(document.timings.bytesDownloaded).toBe(40_000);
    expect(document.frames[0]?.frameNumber).toBe(0);
  }, 60_000);

  it('a 500 exits 1 with one stderr line and the error in the document', async () => {
    const url = sim.urlFor('/faststart.mp4', { status: 500 });
    const result = await runCli(['run', url, '--json'], { timeoutMs: 30_000 });
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toEqual([`firstframe: FF_ERR_HTTP_STATUS: GET ${url}: HTTP 500`]);
    const document = JSON.parse(result.stdout) as RunDocument;
    expect(document.error?.code).toBe('FF_ERR_HTTP_STATUS');
    expect(document.timings).toMatchObject({ endedBy: 'error', framesInferred: 0 });
  }, 60_000);

  it('a 404 exits 1 with FF_ERR_HTTP_STATUS', async () => {
    const url = sim.urlFor('/faststart.mp4', { status: 404 });
    const result = await runCli(['run', url, '--json'], { timeoutMs: 30_000 });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ error: { code: 'FF_ERR_HTTP_STATUS' } });
  }, 60_000);

  it('a reset before any frame exits 1; after frames were inferred it is a partial result, exit 0', async () => {
    const early = await runCli(['run', sim.urlFor('/faststart.mp4', { resetAfterBytes: 500 }), '--json'], {
      timeoutMs: 30_000,
    });
    expect(early.code).toBe(1);
    const failed = JSON.parse(early.stdout) as RunDocument;
    expect(failed.frames).toEqual([]);
    expect(failed.error?.code).toMatch(/^FF_ERR_/);

    const late = sim.urlFor('/faststart.mp4', { resetAfterBytes: 60_000, rateBytesPerSec: 20_000 });
    const partial = await runCli(['run', late, '--json', '--stride', '25'], { timeoutMs: 30_000 });
    expect(partial.code).toBe(0);
    const document = JSON.parse(partial.stdout) as RunDocument;
    expect(document.timings.endedBy).toBe('error');
    expect(document.error?.code).toBe(failed.error?.code);
    expect(document.frames.map((frame) => frame.frameNumber)).toContain(0);
    expect(partial.stderr).toMatch(/^firstframe: FF_ERR_\w+: .* \(partial result: \d+ frames\)$/m);
  }, 60_000);

  it('a refused connection exits 1 with FF_ERR_CONNECT_REFUSED, and the process ends by itself', async () => {
    const port = await closedPort();
    const result = await runCli(['run', `http://127.0.0.1:${port}/x`], { timeoutMs: 20_000 });
    expect(result.hung).toBe(false);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('FF_ERR_CONNECT_REFUSED');
    expect(result.stderr).toContain(`127.0.0.1:${port}`);
  }, 60_000);

  it('a host that never sends headers: exit 1 with FF_ERR_NO_HEADERS_BY_DEADLINE, the document still printed', async () => {
    const silent = await silentHost();
    try {
      const url = silent.urlFor('/clip.mp4');
      const result = await runCli(['run', url, '--json', '--budget', '1'], { timeoutMs: 30_000 });
      expect(result.code).toBe(1);
      expect(lines(result.stderr)).toHaveLength(1);
      expect(result.stderr).toMatch(
        /^firstframe: FF_ERR_NO_HEADERS_BY_DEADLINE: http:\/\/127\.0\.0\.1:\d+\/clip\.mp4: no response headers by the deadline, \d+ ms after the run started\n$/,
      );
      const document = JSON.parse(result.stdout) as RunDocument;
      expect(document.frames).toEqual([]);
      expect(document.error?.code).toBe('FF_ERR_NO_HEADERS_BY_DEADLINE');
      expect(document.timings).toMatchObject({ endedBy: 'budget', headersMs: null, bytesDownloaded: 0 });
      // The host was reached (undici may open a second connection after the abort: README, nodejs/undici#5845).
      expect(silent.accepted()).toBeGreaterThanOrEqual(1);
    } finally {
      await silent.close();
    }
  }, 60_000);

  it('headers and a trickle of words: exit 1 with FF_ERR_NO_FRAME_BY_DEADLINE and the bytes received', async () => {
    const trickle = await tricklingHost();
    try {
      const result = await runCli(['run', trickle.urlFor('/clip.mp4'), '--json', '--budget', '1'], {
        timeoutMs: 30_000,
      });
      expect(result.code).toBe(1);
      const document = JSON.parse(result.stdout) as RunDocument;
      expect(document.error?.code).toBe('FF_ERR_NO_FRAME_BY_DEADLINE');
      expect(document.error?.message).toContain(
        `no frame decoded by the deadline: ${document.timings.bytesDownloaded} bytes received in`,
      );
      expect(document.timings.bytesDownloaded).toBeGreaterThan(0);
      expect(document.timings).toMatchObject({ endedBy: 'budget', framesDecoded: 0 });
      expect(result.stderr).toMatch(/^firstframe: FF_ERR_NO_FRAME_BY_DEADLINE: /);
    } finally {
      await trickle.close();
    }
  }, 60_000);

  it('frames decoded but none inferred by the deadline: exit 1 with FF_ERR_NO_RESULT_BY_DEADLINE', async () => {
    // A batch that waits for 16 frames, and a host that stalls after frame 0: no inference can start.
    const file = join(scratch, 'patient.yaml');
    writeFileSync(
      file,
      'extends: default\nstride: { every: 25 }\nbatch: { size: 16, rampUp: false, earlyFlushFirstFrame: false, maxWaitMs: 600000 }\n',
    );
    const url = sim.urlFor('/faststart.mp4', { stallAfterBytes: 40_000 });
    const result = await runCli(['run', url, '--pipeline', file, '--budget', '1'], { timeoutMs: 30_000 });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^total: {8}\d+ ms; ended by budget$/m);
    expect(result.stderr).toMatch(
      /^firstframe: FF_ERR_NO_RESULT_BY_DEADLINE: .*: \d+ frames decoded and none inferred by the deadline \(\d+ ms, 40000 bytes received\): the budget is shorter than the first inference\n$/,
    );
  }, 60_000);

  it('bytes that are not a video exit 1 with a decode error', async () => {
    const result = await runCli(['run', join(fixtures.dir, 'manifest.json'), '--json'], {
      timeoutMs: 30_000,
    });
    expect(result.code).toBe(1);
    expect((JSON.parse(result.stdout) as RunDocument).error?.code).toBe('FF_ERR_NOT_A_VIDEO');
  }, 60_000);
});

describe('firstframe run: configuration (exit 2, every problem at once)', () => {
  it('an unknown profile', async () => {
    const result = await runCli(['run', '--profile', 'warp']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(lines(result.stderr)).toEqual([
      'firstframe: FF_ERR_UNKNOWN_PROFILE: invalid configuration',
      '  unknown profile "warp"; known: default, ultra-fast, full-download, soccer',
    ]);
  });

  it('a class map naming classes the model does not have lists them (FF_ERR_UNKNOWN_CLASS)', async () => {
    const file = join(scratch, 'classes.yaml');
    writeFileSync(
      file,
      'extends: soccer\nclasses:\n  map:\n    person: { id: 2, name: player }\n    ball: { id: 0, name: ball }\n    sports ball: { id: 0, name: ball }\n',
    );
    const result = await runCli(['run', '--pipeline', file], { timeoutMs: 60_000 });
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      'firstframe: FF_ERR_UNKNOWN_CLASS: invalid configuration',
      '  classes.map: "person", "sports ball" are not among the model\'s classes ("ball", "goalkeeper", "player", "referee")',
    ]);
  }, 90_000);

  it('an invalid pipeline document, with bad options and environment values laid over it', async () => {
    const file = join(scratch, 'bad.yaml');
    writeFileSync(file, 'extends: default\ndecode: { operator: gstreamer }\nbatch: { size: 0, sise: 2 }\n');
    const result = await runCli(['run', '--pipeline', file, '--img-size', '300'], {
      env: { RAMP_UP: '0', RAMP_UP_FIRST_BATCH: '2' },
    });
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      'firstframe: FF_ERR_USAGE: invalid configuration',
      '  --img-size: expected a positive multiple of 32, got "300"',
      '  RAMP_UP=0 conflicts with RAMP_UP_FIRST_BATCH=2',
      `  ${file}: decode.operator: unknown decode operator "gstreamer"; known: beamcoder, beamcoder-nvdec`,
      `  ${file}: batch.sise: unknown option of batch operator batch; known: size, maxWaitMs, rampUp, earlyFlushFirstFrame`,
      `  ${file}: batch.size: expected a positive integer, got 0`,
    ]);

    const again = await runCli(['run', '--pipeline', file], {
      env: { RAMP_UP: '0', RAMP_UP_FIRST_BATCH: '2' },
    });
    expect(again.code).toBe(2);
    expect(lines(again.stderr)).toEqual([
      'firstframe: FF_ERR_PIPELINE_INVALID: invalid configuration',
      '  RAMP_UP=0 conflicts with RAMP_UP_FIRST_BATCH=2',
      `  ${file}: decode.operator: unknown decode operator "gstreamer"; known: beamcoder, beamcoder-nvdec`,
      `  ${file}: batch.sise: unknown option of batch operator batch; known: size, maxWaitMs, rampUp, earlyFlushFirstFrame`,
      `  ${file}: batch.size: expected a positive integer, got 0`,
    ]);
  });

  it('a profile and a pipeline document together conflict', async () => {
    const result = await runCli(['run', '--profile', 'default', '--pipeline', join(scratch, 'x.yaml')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('FF_ERR_CONFIG_CONFLICT');
  });

  it('--print-pipeline prints the resolved document, which loads back unchanged', async () => {
    const first = await runCli(['run', '--profile', 'ultra-fast', '--batch', '32', '--print-pipeline'], {
      env: { TIME_BUDGET_S: '2' },
    });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^ {2}size: 32$/m);
    expect(first.stdout).toMatch(/^ {2}budgetS: 2$/m);
    const file = join(scratch, 'printed.yaml');
    writeFileSync(file, first.stdout);
    const second = await runCli(['run', '--pipeline', file, '--print-pipeline']);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(first.stdout);
  });
});
