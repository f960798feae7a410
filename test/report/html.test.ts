import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import type { StageEvent } from '../../src/core/events.js';
import { chromiumPath, dumpDom, liveProcessesInGroup, screenshot } from '../../src/report/chromium.js';
import { exampleReport } from '../../src/report/example.js';
import { renderReportHtml, writeReport } from '../../src/report/html.js';
import { axisTicks } from '../../src/report/markup.js';
import { palette } from '../../src/report/palette.js';
import { groupStats, spreadOf } from '../../src/report/stats.js';
import { summarizeRun } from '../../src/report/summary.js';
import type { BenchReport, ReportRun, RunSummary } from '../../src/report/types.js';

const count = (text: string, needle: string) => text.split(needle).length - 1;

/** The markup of each timeline row, in order. */
function timelineRows(html: string): string[] {
  const timeline = html.slice(html.indexOf('<svg class="timeline"'), html.indexOf('<svg class="comparison"'));
  return timeline.split('<g class="run-row"').slice(1);
}

const summary = (overrides: Partial<RunSummary> = {}): RunSummary => ({
  firstByteMs: null,
  firstFrameMs: null,
  firstResultMs: null,
  totalMs: 100,
  bytesDownloaded: null,
  framesDecoded: null,
  framesInferred: null,
  endedBy: 'end',
  ...overrides,
});

const peer = (group: string, label: string, overrides: Partial<RunSummary> = {}): ReportRun => ({
  label,
  group,
  startedAt: 0,
  events: [],
  summary: summary(overrides),
});

const report = (runs: ReportRun[], overrides: Partial<BenchReport> = {}): BenchReport => ({
  title: 'test',
  createdAt: '2025-01-01T00:00:00.000Z',
  link: { url: 'http://127.0.0.1/clip.mp4' },
  runs,
  ...overrides,
});

describe('renderReportHtml', () => {
  const example = exampleReport();
  const html = renderReportHtml(example);

  it('draws one waterfall row per run with a tick per decoded frame and a bar per model run', () => {
    const rows = timelineRows(html);
    expect(rows).toHaveLength(example.runs.length);
    example.runs.forEach((run, index) => {
      const frames = run.events.filter((event) => event.stage === 'decode' && event.name === 'frame').length;
      const modelRuns = run.events.filter(
        (event) => event.stage === 'infer' && event.name === 'run-start',
      ).length;
      expect(frames).toBeGreaterThan(0);
      expect(rows[index]).toContain(`data-run="${index}"`);
      expect(count(rows[index]!, 'class="frame-tick"')).toBe(frames);
      expect(count(rows[index]!, 'class="frame-tick"')).toBe(run.summary.framesDecoded);
      expect(count(rows[index]!, '<g class="infer-bar">')).toBe(modelRuns);
      expect(count(rows[index]!, 'class="first-frame"')).toBe(1);
      expect(count(rows[index]!, '<g class="request-bar">')).toBe(1);
      expect(count(rows[index]!, 'class="bytes-band"')).toBe(1);
      expect(count(rows[index]!, '<g class="end-marker">')).toBe(1);
    });
    // Full download runs out of budget: its rows show the deadline and an unfinished model run.
    expect(count(rows[3]!, '<g class="deadline">')).toBe(1);
    expect(count(rows[0]!, '<g class="deadline">')).toBe(0);
  });

  it('draws a bar with a whisker per group and metric', () => {
    const chart = html.slice(html.indexOf('<svg class="comparison"'));
    expect(count(chart, '<g class="median-bar"')).toBe(2 * 3);
    expect(count(chart, '<g class="whisker">')).toBe(2 * 3);
    expect(chart).toContain('data-group="1" data-metric="totalMs"');
  });

  it('escapes every label, group and URL', () => {
    const hostile = '<script>alert("x")</script> & \'q\'';
    const page = renderReportHtml(
      report([peer(`g<b>`, hostile, { firstFrameMs: 10 })], {
        title: `<img src=x onerror=alert(1)>`,
        link: { url: 'http://h/clip.mp4?a=1&b=<2>"' },
      }),
    );
    expect(page).not.toContain('<script');
    expect(page).not.toContain('<img');
    expect(page).not.toContain('<b>');
    expect(page).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;');
    expect(page).toContain('g&lt;b&gt;');
    expect(page).toContain('http://h/clip.mp4?a=1&amp;b=&lt;2&gt;&quot;');
  });

  it('loads nothing from outside the page', () => {
    expect(html).not.toMatch(/<script|<link|<img|@import|url\(|src=|href=/i);
    expect(html).toContain('Content-Security-Policy" content="default-src \'none\'');
  });

  it('renders the same bytes for the same input', () => {
    expect(renderReportHtml(exampleReport())).toBe(html);
    expect(renderReportHtml(structuredClone(example) as BenchReport)).toBe(html);
  });

  it('draws a peer without events from its summary', () => {
    const page = renderReportHtml(report([peer('ffmpeg', 'ffmpeg #1', { firstFrameMs: 40, totalMs: 90 })]));
    const [row] = timelineRows(page);
    expect(row).toContain('no stage events: summary only');
    expect(count(row!, 'class="first-frame"')).toBe(1);
    expect(count(row!, 'class="frame-tick"')).toBe(0);
    // No first result: no bar, and the chart says so.
    expect(count(page, 'class="no-value"')).toBe(1);
  });

  it('renders a report without runs', () => {
    const page = renderReportHtml(report([]));
    expect(timelineRows(page)).toHaveLength(0);
    expect(page).toContain('no runs');
  });

  it('takes a BenchReport', () => {
    expectTypeOf(renderReportHtml).parameter(0).toEqualTypeOf<BenchReport>();
    expectTypeOf(writeReport).returns.resolves.toEqualTypeOf<{ html: string; json: string }>();
  });
});

describe('spreadOf and groupStats', () => {
  it('takes the middle value of an odd count', () => {
    expect(spreadOf([30, 10, 20])).toEqual({ n: 3, median: 20, min: 10, max: 30 });
  });

  it('takes the mean of the two middle values of an even count', () => {
    expect(spreadOf([40, 10, 30, 20])).toEqual({ n: 4, median: 25, min: 10, max: 40 });
  });

  it('leaves out runs that did not get there, and says null when none did', () => {
    expect(spreadOf([null, 5, null, 7])).toEqual({ n: 2, median: 6, min: 5, max: 7 });
    expect(spreadOf([null, Number.NaN])).toBeNull();
  });

  it('groups in order of first appearance and shows the medians', () => {
    const runs = [
      peer('opencv', 'a', { firstFrameMs: 30, totalMs: 300 }),
      peer('stream', 'b', { firstFrameMs: 10, totalMs: 100 }),
      peer('opencv', 'c', { firstFrameMs: 10, totalMs: 100 }),
      peer('stream', 'd', { firstFrameMs: 20, totalMs: 200 }),
      peer('opencv', 'e', { firstFrameMs: 20, totalMs: 200 }),
      peer('stream', 'f', { firstFrameMs: 40, totalMs: 400 }),
      peer('stream', 'g', { firstFrameMs: 30, totalMs: 300 }),
    ];
    const stats = groupStats(runs);
    expect(stats.map(({ group, runs: n }) => [group, n])).toEqual([
      ['opencv', 3],
      ['stream', 4],
    ]);
    expect(stats[0]!.metrics.firstFrameMs).toEqual({ n: 3, median: 20, min: 10, max: 30 });
    expect(stats[1]!.metrics.firstFrameMs).toEqual({ n: 4, median: 25, min: 10, max: 40 });
    expect(stats[1]!.metrics.totalMs?.median).toBe(250);
    expect(stats[1]!.metrics.firstResultMs).toBeNull();
    const page = renderReportHtml(report(runs));
    expect(page).toContain('stream, first frame: median 25 ms, min 10 ms, max 40 ms (n=4)');
    expect(page).toContain('<td>20 ms (10 ms – 30 ms, n=3)</td>');
  });
});

describe('summarizeRun', () => {
  const at = (
    stage: StageEvent['stage'],
    name: string,
    ms: number,
    data?: Record<string, unknown>,
  ): StageEvent => ({
    stage,
    name,
    at: 1000 + ms,
    ...(data ? { data } : {}),
  });

  it('adds chunk sizes across requests, since `received` restarts with each', () => {
    const events = [
      at('source', 'request', 1),
      at('source', 'first-byte', 50, { offset: 0 }),
      at('source', 'chunk', 50, { bytes: 100, offset: 0, received: 100 }),
      at('source', 'chunk', 60, { bytes: 100, offset: 100, received: 200 }),
      at('source', 'request', 70),
      at('source', 'chunk', 90, { bytes: 50, offset: 9000, received: 50 }),
      at('decode', 'first-frame', 95),
      at('decode', 'frame', 95),
      at('decode', 'frame', 97),
      at('infer', 'run-start', 100, { run: 1, frames: 1 }),
      at('infer', 'run-end', 120, { run: 1, frames: 1, ms: 20 }),
      at('infer', 'run-start', 121, { run: 2, frames: 4 }),
      at('infer', 'run-end', 150, { run: 2, frames: 4, ms: 29 }),
      at('sink', 'end', 160, { endedBy: 'budget' }),
      at('source', 'end', 161),
    ];
    expect(summarizeRun(1000, events)).toEqual({
      firstByteMs: 50,
      firstFrameMs: 95,
      firstResultMs: 120,
      totalMs: 160,
      bytesDownloaded: 250,
      framesDecoded: 2,
      framesInferred: 5,
      endedBy: 'budget',
    });
  });

  it('says null for the stages a run never reached', () => {
    expect(summarizeRun(1000, [at('source', 'request', 1), at('source', 'end', 30)])).toEqual(
      summary({ totalMs: 30, bytesDownloaded: 0, endedBy: 'unknown' }),
    );
  });
});

describe('axisTicks', () => {
  it('steps by 1, 2 or 5 times a power of ten and reaches the maximum', () => {
    expect(axisTicks(1049, 8)).toEqual({ step: 200, top: 1200, ticks: [0, 200, 400, 600, 800, 1000, 1200] });
    expect(axisTicks(0.3, 3).ticks).toEqual([0, 0.1, 0.2, 0.3]);
    expect(axisTicks(0).top).toBe(1);
  });
});

describe('writeReport', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'firstframe-report-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes index.html and report.json, creating the folder', async () => {
    const example = exampleReport();
    const paths = await writeReport(join(dir, 'nested', 'out'), example);
    expect(await readFile(paths.html, 'utf8')).toBe(renderReportHtml(example));
    expect(JSON.parse(await readFile(paths.json, 'utf8'))).toEqual(example);
  });

  it('writes bigints in event data as strings', async () => {
    const run: ReportRun = {
      ...peer('stream', 'a'),
      events: [{ stage: 'decode', name: 'frame', at: 1, data: { pts: 9007199254740993n } }],
    };
    const paths = await writeReport(join(dir, 'bigint'), report([run]));
    const saved = JSON.parse(await readFile(paths.json, 'utf8')) as BenchReport;
    expect(saved.runs[0]!.events[0]!.data).toEqual({ pts: '9007199254740993' });
  });
});

const hasChromium = existsSync(chromiumPath);
if (!hasChromium) {
  console.warn(
    `skipping the report's browser test: ${chromiumPath} is absent (scripts/setup.sh installs it)`,
  );
}

describe.skipIf(!hasChromium)(`the report in headless chromium (${chromiumPath})`, () => {
  const width = 1400;
  const height = 1600;
  let dir: string;
  let url: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'firstframe-report-browser-'));
    url = pathToFileURL((await writeReport(dir, exampleReport())).html).href;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Rows (y) holding at least one pixel of `hex`, and the number of such pixels between y0 and y1. */
  function pixels(rgb: Buffer, hex: string) {
    const target = [1, 3, 5].map((offset) => parseInt(hex.slice(offset, offset + 2), 16));
    const perRow = new Array<number>(height).fill(0);
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        const i = (y * width + x) * 3;
        if (target.every((value, channel) => Math.abs(rgb[i + channel]! - value) <= 3)) perRow[y]! += 1;
      }
    }
    const rows = perRow.flatMap((n, y) => (n > 0 ? [y] : []));
    return {
      first: rows[0] ?? -1,
      last: rows[rows.length - 1] ?? -1,
      between: (y0: number, y1: number) => perRow.slice(y0, y1 + 1).reduce((sum, n) => sum + n, 0),
    };
  }

  it('draws the timeline above the comparison chart, both in their colours', async () => {
    const png = join(dir, 'report.png');
    const { processGroup } = await screenshot(url, png, { width, height });
    expect(liveProcessesInGroup(processGroup)).toEqual([]);
    const rgb = execFileSync(
      'ffmpeg',
      ['-v', 'error', '-i', png, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'],
      {
        maxBuffer: width * height * 3 + 1024,
      },
    );
    expect(rgb.length).toBe(width * height * 3);

    // The request colour is only in the timeline, the `total` colour only in the chart.
    const request = pixels(rgb, palette.request);
    const total = pixels(rgb, palette.total);
    expect(request.first).toBeGreaterThan(0);
    expect(total.first).toBeGreaterThan(request.last);
    const timeline = (hex: string) => pixels(rgb, hex).between(request.first, request.last);
    const chart = (hex: string) => pixels(rgb, hex).between(total.first, total.last);
    // Six rows of bars, frame ticks, bands: far more than the legend's swatches (about 140 pixels each).
    expect(request.between(request.first, request.last)).toBeGreaterThan(6 * 1000);
    expect(timeline(palette.frame)).toBeGreaterThan(6 * 500);
    expect(timeline(palette.inferRun)).toBeGreaterThan(6 * 500);
    expect(timeline(palette.bytes)).toBeGreaterThan(6 * 1000);
    expect(timeline(palette.budget)).toBeGreaterThan(6 * 1000);
    // Grouped bars: each median bar is 44 pixels wide and tens of pixels tall.
    expect(chart(palette.frame)).toBeGreaterThan(5000);
    expect(chart(palette.inferRun)).toBeGreaterThan(5000);
    expect(total.between(total.first, total.last)).toBeGreaterThan(10_000);

    let white = 0;
    for (let i = 0; i < rgb.length; i += 3)
      if (rgb[i] === 255 && rgb[i + 1] === 255 && rgb[i + 2] === 255) white += 1;
    expect(white / (width * height)).toBeLessThan(0.9);
  }, 60_000);

  it('builds the SVG elements in the DOM', async () => {
    const dom = await dumpDom(url);
    expect(count(dom, '<svg class="timeline"')).toBe(1);
    expect(count(dom, '<svg class="comparison"')).toBe(1);
    expect(count(dom, '<g class="run-row"')).toBe(6);
    expect(count(dom, '<g class="median-bar"')).toBe(6);
    expect(count(dom, 'class="frame-tick"')).toBe(
      exampleReport().runs.reduce((sum, run) => sum + (run.summary.framesDecoded ?? 0), 0),
    );
  }, 60_000);
});
