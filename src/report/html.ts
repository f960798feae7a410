import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderComparisonSvg } from './chart.js';
import { escapeXml, formatBytes, formatMs } from './markup.js';
import { comparedMetrics, groupStats, type GroupStats } from './stats.js';
import { renderTimelineSvg } from './timeline.js';
import type { BenchReport } from './types.js';

// Nothing may be fetched: the page must open the same from a CI artifact, a mail attachment or offline.
const contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const css = `
body { margin: 0; background: #ffffff; color: #222222;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Liberation Sans", sans-serif; }
main { padding: 16px 24px 40px; max-width: 1200px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #555555; margin: 0; font-size: 13px; }
.notes { color: #555555; margin: 6px 0 0; padding-left: 18px; font-size: 13px; }
svg { display: block; max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 13px; margin-bottom: 16px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e3e3e3; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
thead th { border-bottom: 2px solid #555555; }
`;

const cell = (text: string) => `<td>${escapeXml(text)}</td>`;
const count = (value: number | null) => (value === null ? '–' : String(value));

function runsTable(report: BenchReport): string {
  const head = [
    'run',
    'group',
    'first byte',
    'first frame',
    'first result',
    'total',
    'bytes',
    'frames decoded',
    'frames inferred',
    'ended by',
  ];
  const rows = report.runs.map(({ label, group, summary }) =>
    [
      label,
      group,
      formatMs(summary.firstByteMs),
      formatMs(summary.firstFrameMs),
      formatMs(summary.firstResultMs),
      formatMs(summary.totalMs),
      formatBytes(summary.bytesDownloaded),
      count(summary.framesDecoded),
      count(summary.framesInferred),
      summary.endedBy,
    ]
      .map(cell)
      .join(''),
  );
  return table('runs', head, rows);
}

function groupsTable(stats: readonly GroupStats[]): string {
  const head = ['group', 'runs', 'first frame', 'first result', 'total'];
  const rows = stats.map((group) =>
    [
      cell(group.group),
      cell(String(group.runs)),
      ...comparedMetrics.map((metric) => {
        const spread = group.metrics[metric];
        return cell(
          spread === null
            ? '–'
            : `${formatMs(spread.median)} (${formatMs(spread.min)} – ${formatMs(spread.max)}, n=${spread.n})`,
        );
      }),
    ].join(''),
  );
  return table('groups', head, rows);
}

function table(className: string, head: readonly string[], rows: readonly string[]): string {
  return (
    `<table class="${className}"><thead><tr>${head.map((name) => `<th>${escapeXml(name)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((row) => `<tr>${row}</tr>`).join('')}</tbody></table>`
  );
}

function linkLine(report: BenchReport): string {
  const { link } = report;
  const parts = [`created ${report.createdAt}`, `URL ${link.url}`];
  if (link.rateBytesPerSec !== undefined) parts.push(`link ${formatBytes(link.rateBytesPerSec)}/s`);
  if (link.ttfbMs !== undefined) parts.push(`TTFB ${formatMs(link.ttfbMs)}`);
  parts.push(`${report.runs.length} run${report.runs.length === 1 ? '' : 's'}`);
  return escapeXml(parts.join(' · '));
}

function notesList(report: BenchReport): string[] {
  const notes = report.notes ?? [];
  if (notes.length === 0) return [];
  return [`<ul class="notes">${notes.map((line) => `<li>${escapeXml(line)}</li>`).join('')}</ul>`];
}

/**
 * The benchmark report as one self-contained HTML page: a waterfall per run on a shared ms axis, a chart
 * comparing the groups (median, min–max of first frame, first result, total), and the tables behind both.
 *
 * Inline CSS and SVG only: no script, no font, nothing fetched (the page's CSP forbids it). Every label is
 * escaped, since labels and URLs come from the command line. The same report always renders the same
 * bytes: nothing reads the clock, and groups keep the order in which they first appear.
 *
 * @example
 * const html = renderReportHtml(exampleReport());
 *
 * @param report the runs to draw; `createdAt` is shown as given.
 * @returns the page, starting with `<!doctype html>`.
 */
export function renderReportHtml(report: BenchReport): string {
  const stats = groupStats(report.runs);
  const timeline = renderTimelineSvg(report.runs);
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeXml(report.title)}</title>`,
    `<style>${css}</style>`,
    '</head>',
    '<body>',
    '<main>',
    `<h1>${escapeXml(report.title)}</h1>`,
    `<p class="meta">${linkLine(report)}</p>`,
    ...notesList(report),
    `<section id="timeline"><h2>Timeline</h2>${timeline.svg}</section>`,
    `<section id="comparison"><h2>Comparison</h2>${renderComparisonSvg(stats)}</section>`,
    `<section id="summary"><h2>Runs</h2>${runsTable(report)}<h2>Groups</h2>${groupsTable(stats)}</section>`,
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

// Event data is `unknown`: a bigint (beamcoder timestamps) would make JSON.stringify throw.
const jsonSafe = (_key: string, value: unknown) => (typeof value === 'bigint' ? value.toString() : value);

/**
 * Writes `index.html` (the page of `renderReportHtml`) and `report.json` (the report itself, to redraw or
 * compare later) into `dir`, creating it.
 *
 * @returns the paths written.
 */
export async function writeReport(dir: string, report: BenchReport): Promise<{ html: string; json: string }> {
  await mkdir(dir, { recursive: true });
  const html = join(dir, 'index.html');
  const json = join(dir, 'report.json');
  await writeFile(html, renderReportHtml(report));
  await writeFile(json, `${JSON.stringify(report, jsonSafe, 2)}\n`);
  return { html, json };
}
