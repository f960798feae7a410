/**
 * `firstframe bench` end to end, spawned as a user runs it, on the small test clip served by its own
 * simulator (loopback only): the JSON document, peers skipped when absent, usage errors, an unreachable
 * URL, SIGINT, no child process left behind, and the HTML report in headless chromium.
 */

import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchDocument } from '../../src/bench/bench.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { buildSoccerDetector } from '../../src/models/generate.js';
import { serializeModel } from '../../src/models/onnx-writer.js';
import { chromiumPath, liveProcessesInGroup, screenshot } from '../../src/report/chromium.js';
import { palette } from '../../src/report/palette.js';
import type { BenchReport } from '../../src/report/types.js';
import { closedPort, ensureBuilt, lines, runCli, spawnCli } from '../support/cli.js';
import { testFixtures } from '../support/fixtures.js';

let fixtures: FixtureSet;
let scratch: string;
// Short runs: a result every 25th frame, at most 2 s each.
const env = { FRAME_STRIDE: '25' };

beforeAll(async () => {
  fixtures = await testFixtures();
  await ensureBuilt();
  scratch = mkdtempSync(join(tmpdir(), 'ff-bench-cli-'));
}, 180_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** A copy of the test clip under a name no other process has: peers' command lines carry it. */
function uniqueClip(): { file: string; marker: string } {
  const marker = `ffbench-${randomUUID().slice(0, 8)}`;
  const file = join(scratch, `${marker}.mp4`);
  copyFileSync(fixtures.clips['faststart']!.file, file);
  return { file, marker };
}

/**
 * Processes (not zombies) whose command line mentions `marker` (a string in it, or a pattern it matches),
 * the bench itself (`except`) left out: the children it started for that clip.
 */
function processesMentioning(marker: string | RegExp, except?: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid || Number(entry) === except) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
      const mentions = typeof marker === 'string' ? cmdline.includes(marker) : marker.test(cmdline);
      if (mentions && state !== 'Z') found.push(Number(entry));
    } catch {
      // Gone while we looked.
    }
  }
  return found;
}

const hasOpenCv = (() => {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import cv2'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('firstframe bench', () => {
  let report: string;
  let document: BenchDocument;

  it('--json, 2 runs of two strategies: the document, median/min/max per metric, peers', async () => {
    const clip = uniqueClip();
    report = join(scratch, 'report');
    const result = await runCli(
      [
        'bench',
        clip.file,
        '--strategies',
        'stream,partial-2',
        '--runs',
        '2',
        '--budget',
        '2',
        '--json',
        '--out',
        report,
      ],
      { env, timeoutMs: 120_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(lines(result.stdout)).toHaveLength(1);
    const parsed = JSON.parse(result.stdout) as {
      benches: BenchDocument[];
      reports: Array<{ html: string; json: string }>;
    };
    expect(parsed.benches).toHaveLength(1);
    expect(parsed.reports).toEqual([{ html: join(report, 'index.html'), json: join(report, 'report.json') }]);
    document = parsed.benches[0]!;

    expect(document.target).toMatchObject({
      file: clip.file,
      simulated: true,
      rateBytesPerSec: 1_660_000,
      ttfbMs: 100,
    });
    expect(document.target.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/${clip.marker}\\.mp4$`));
    expect(document).toMatchObject({ runsPerGroup: 2, budgetS: 2, interrupted: false });
    expect(document.machine.loadStart).toHaveLength(3);
    expect(document.groups.map((group) => [group.name, group.kind, group.pipeline.source])).toEqual([
      ['stream', 'strategy', 'http-stream'],
      ['partial-2', 'strategy', 'http-partial'],
    ]);
    for (const group of document.groups) {
      expect(group.runs.map((run) => run.run)).toEqual([1, 2]);
      expect(group.setupMs).toBeGreaterThan(0);
      for (const run of group.runs) {
        expect(run.error).toBeUndefined();
        expect(run.bytesDownloaded).toBe(fixtures.clips['faststart']!.bytes);
        expect(run.downloadMs).toBeGreaterThanOrEqual(100);
        expect(run.firstFrameMs).toBeGreaterThan(100);
      }
      // The stats are the runs' median, min and max.
      for (const metric of ['downloadMs', 'firstFrameMs', 'totalMs', 'framesInferred'] as const) {
        const values = group.runs.map((run) => run[metric] as number);
        expect(group.stats[metric]).toEqual({
          n: 2,
          median: (values[0]! + values[1]!) / 2,
          min: Math.min(...values),
          max: Math.max(...values),
        });
      }
    }
    expect(document.peers.map((peer) => peer.name)).toEqual(['opencv', 'ffmpeg']);
    const ffmpeg = document.peers.find((peer) => peer.name === 'ffmpeg')!;
    expect(ffmpeg).toMatchObject({ available: true });
    expect(ffmpeg.runs).toHaveLength(2);
    expect(ffmpeg.runs.every((run) => run.ok && run.firstFrameMs! > 100)).toBe(true);
    const opencv = document.peers.find((peer) => peer.name === 'opencv')!;
    if (hasOpenCv) expect(opencv.stats.firstFrameMs?.n).toBe(2);
    else expect(opencv).toMatchObject({ available: false, note: expect.stringContaining('cv2') });

    // The report has every run with its events, and the peers' runs.
    const saved = JSON.parse(readFileSync(join(report, 'report.json'), 'utf8')) as BenchReport;
    expect(saved.runs.map((run) => run.label).slice(0, 4)).toEqual([
      'stream #1',
      'stream #2',
      'partial-2 #1',
      'partial-2 #2',
    ]);
    expect(saved.runs[0]!.events.length).toBeGreaterThan(10);
    // Nothing it started is still running.
    expect(processesMentioning(clip.marker)).toEqual([]);
  }, 120_000);

  it('the human table: one row per strategy and peer, median (min–max)', async () => {
    expect(document).toBeDefined();
    const result = await runCli(
      [
        'bench',
        fixtures.clips['faststart']!.file,
        '--strategies',
        'stream',
        '--runs',
        '1',
        '--budget',
        '2',
        '--peers',
        'none',
      ],
      {
        env,
        timeoutMs: 60_000,
      },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /^strategy +download +first frame +first result +total +frames inferred +setup$/m,
    );
    expect(result.stdout).toMatch(/^stream( +\S+){6}$/m);
    expect(result.stdout).toMatch(/^machine: \d+ cores, load average /m);
  }, 60_000);

  it('peers missing from PATH are skipped with a note, exit 0', async () => {
    const result = await runCli(
      [
        'bench',
        fixtures.clips['faststart']!.file,
        '--strategies',
        'stream',
        '--runs',
        '1',
        '--budget',
        '1',
        '--json',
      ],
      { env: { ...env, PATH: join(scratch, 'empty-path') }, timeoutMs: 60_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    const { benches } = JSON.parse(result.stdout) as { benches: BenchDocument[] };
    expect(benches[0]!.peers).toEqual([
      {
        name: 'opencv',
        available: false,
        note: 'skipped: no python3 on PATH',
        runs: [],
        stats: { firstFrameMs: null },
      },
      {
        name: 'ffmpeg',
        available: false,
        note: 'skipped: no ffmpeg on PATH',
        runs: [],
        stats: { firstFrameMs: null },
      },
    ]);
    expect(benches[0]!.notes).toEqual([
      'opencv: skipped: no python3 on PATH',
      'ffmpeg: skipped: no ffmpeg on PATH',
    ]);
    expect(benches[0]!.groups[0]!.runs).toHaveLength(1);
  }, 60_000);

  it('--model: every strategy and document runs the given model', async () => {
    const model = join(scratch, 'my-detector.onnx');
    writeFileSync(model, serializeModel(buildSoccerDetector({ imgSize: 640 })));
    const document = join(scratch, 'doc.yaml');
    writeFileSync(document, 'name: doc\nextends: default\n');
    const result = await runCli(
      [
        'bench',
        fixtures.clips['faststart']!.file,
        '--strategies',
        'stream',
        '--pipeline',
        document,
        '--model',
        model,
        '--runs',
        '1',
        '--budget',
        '1',
        '--peers',
        'none',
        '--json',
      ],
      { env, timeoutMs: 60_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    const { benches } = JSON.parse(result.stdout) as { benches: BenchDocument[] };
    expect(benches[0]!.groups.map((group) => [group.name, group.pipeline.model])).toEqual([
      ['stream', model],
      ['doc', model],
    ]);
    // The path is the one the model stage loaded: each group was prepared with that file.
    expect(benches[0]!.groups.map((group) => group.runs.length)).toEqual([1, 1]);
  }, 60_000);

  it('invalid options: every problem at once, exit 2, nothing run', async () => {
    const result = await runCli([
      'bench',
      join(scratch, 'nope.mp4'),
      '--strategies',
      'stream,warp',
      '--runs',
      '0',
      '--rate',
      'fast',
      '--ttfb=-5',
      '--budget',
      '0',
      '--peers',
      'vlc',
      '--pipeline',
      join(scratch, 'missing.yaml'),
    ]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const problems = result.stderr.split('\n').filter((line) => line.startsWith('  '));
    expect(problems).toEqual([
      `  no such file: ${join(scratch, 'nope.mp4')}`,
      '  --strategies: unknown strategy "warp"; known: full, partial-2, partial-4, partial-6, stream, download, all',
      '  --runs: expected an integer > 0, got "0"',
      '  --rate: expected a number > 0, got "fast"',
      '  --ttfb: expected a number > -1, got "-5"',
      '  --budget: expected a number > 0, got "0"',
      '  --peers: unknown peer "vlc"; known: opencv, ffmpeg, or none',
      expect.stringMatching(/^ {2}.*missing\.yaml: cannot read the pipeline document/),
    ]);
  });

  it('an unknown option: exit 2, named with the other problems', async () => {
    const result = await runCli(['bench', '--frobnicate', '--runs', '-1']);
    expect(result.code).toBe(2);
    expect(lines(result.stderr)).toEqual([
      'firstframe: FF_ERR_USAGE: invalid configuration',
      '  --frobnicate: unknown option',
      '  --runs: expected an integer > 0, got "-1"',
    ]);
  });

  it('an unreachable URL: a clear message, exit 1, at the first run', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/clip.mp4`;
    const result = await runCli(['bench', url, '--runs', '3', '--peers', 'none'], { env, timeoutMs: 60_000 });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `firstframe: FF_ERR_CONNECT_REFUSED: GET ${url}: connection refused (bench stopped at its first run)\n`,
    );
  }, 60_000);

  it('SIGINT while a peer runs: what was measured is printed, exit 130, no child left', async () => {
    const clip = uniqueClip();
    // 10 kB/s: a peer needs seconds for its first frame's bytes, so it is still running when the signal comes.
    const child = spawnCli(
      [
        'bench',
        clip.file,
        '--strategies',
        'stream',
        '--runs',
        '2',
        '--budget',
        '1',
        '--rate',
        '10000',
        '--ttfb',
        '0',
        '--json',
      ],
      env,
    );
    let stdout = '';
    child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    let running = true;
    const exited = new Promise<number | null>((resolve) =>
      child.once('close', (code) => {
        running = false;
        resolve(code);
      }),
    );
    // A peer is a process given the simulator's URL of the clip. Not any process that mentions the clip: a
    // child the bench has forked but not yet exec'd (its peer probes, `python3 -c 'import cv2'`, before the
    // first run) still has the bench's own command line, file path included, for as long as a loaded
    // machine leaves it there.
    const peerUrl = new RegExp(`\\bhttp://127\\.0\\.0\\.1:\\d+/${clip.marker}\\.mp4\\b`);
    let peers: number[] = [];
    for (let waited = 0; waited < 90_000 && running && peers.length === 0; waited += 50) {
      await sleep(50);
      peers = processesMentioning(peerUrl, child.pid);
    }
    expect(peers.length, `${stderr}${stdout}`).toBeGreaterThan(0);
    child.kill('SIGINT');
    expect(await exited, stderr).toBe(130);
    expect(processesMentioning(clip.marker)).toEqual([]);
    const { benches } = JSON.parse(stdout) as { benches: BenchDocument[] };
    expect(benches[0]!.interrupted).toBe(true);
    // The strategy's first run came before the peers of round 1.
    expect(benches[0]!.groups[0]!.runs, stdout).toHaveLength(1);
  }, 120_000);

  it.skipIf(!existsSync(chromiumPath))(
    'the HTML report of a real run, in headless chromium: timeline and chart',
    async () => {
      expect(report).toBeDefined();
      const width = 1200;
      const height = 2200;
      const png = join(scratch, 'report.png');
      const { processGroup } = await screenshot(pathToFileURL(join(report, 'index.html')).href, png, {
        width,
        height,
      });
      expect(liveProcessesInGroup(processGroup)).toEqual([]);
      const rgb = execFileSync(
        'ffmpeg',
        ['-v', 'error', '-i', png, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
        {
          maxBuffer: width * height * 3 + 1024,
        },
      );
      expect(rgb.length).toBe(width * height * 3);
      /** Pixels of colour `hex` per row. */
      const perRow = (hex: string) => {
        const target = [1, 3, 5].map((offset) => parseInt(hex.slice(offset, offset + 2), 16));
        const rows = new Array<number>(height).fill(0);
        for (let i = 0; i < rgb.length; i += 3) {
          if (target.every((value, channel) => Math.abs(rgb[i + channel]! - value) <= 3))
            rows[Math.floor(i / 3 / width)]! += 1;
        }
        return rows;
      };
      const span = (rows: number[]) => {
        const ys = rows.flatMap((n, y) => (n > 0 ? [y] : []));
        return { first: ys[0] ?? -1, last: ys[ys.length - 1] ?? -1, total: rows.reduce((a, b) => a + b, 0) };
      };
      // The request colour is drawn only in the timeline, the `total` colour only in the chart, below it.
      const request = span(perRow(palette.request));
      const total = span(perRow(palette.total));
      expect(request.first).toBeGreaterThan(0);
      expect(request.total).toBeGreaterThan(4 * 500);
      expect(total.first).toBeGreaterThan(request.last);
      expect(total.total).toBeGreaterThan(5000);
      // Decoded-frame ticks and model runs in the timeline rows of the four pipeline runs.
      const inTimeline = (hex: string) =>
        perRow(hex)
          .slice(request.first, request.last + 1)
          .reduce((a, b) => a + b, 0);
      expect(inTimeline(palette.frame)).toBeGreaterThan(4 * 50);
      expect(inTimeline(palette.inferRun)).toBeGreaterThan(4 * 500);
    },
    60_000,
  );
});
