import type { StageEvent } from '../core/events.js';
import { axisTicks, coord, escapeXml, formatBytes, formatMs, shorten } from './markup.js';
import { palette } from './palette.js';
import { numberField } from './summary.js';
import type { ReportRun } from './types.js';

export const timelineWidth = 1200;
const plotLeft = 150;
const plotRight = timelineWidth - 40;
const laneHeight = 14;
const laneGap = 4;
const runHeader = 22;
const runGap = 12;
const lanes = ['request', 'bytes', 'decode', 'infer', 'budget'] as const;
type Lane = (typeof lanes)[number];
const runHeight = runHeader + lanes.length * (laneHeight + laneGap);
const top = 96;

interface Scale {
  readonly x: (ms: number) => number;
  readonly topMs: number;
}

const rowTop = (index: number) => top + index * (runHeight + runGap);
const laneY = (lane: Lane) => runHeader + lanes.indexOf(lane) * (laneHeight + laneGap);

const rect = (x0: number, x1: number, y: number, height: number, fill: string, extra = '') =>
  `<rect${extra} x="${coord(x0)}" y="${coord(y)}" width="${coord(Math.max(x1 - x0, 1.5))}" height="${coord(height)}" fill="${fill}"/>`;

const vline = (x: number, y0: number, y1: number, stroke: string, extra = '') =>
  `<line${extra} x1="${coord(x)}" x2="${coord(x)}" y1="${coord(y0)}" y2="${coord(y1)}" stroke="${stroke}"/>`;

const title = (text: string) => `<title>${escapeXml(text)}</title>`;

/** The latest moment a run mentions: its total, its summary's times, its events. */
function runSpanMs(run: ReportRun): number {
  const { summary } = run;
  const times = [summary.totalMs, summary.firstByteMs, summary.firstFrameMs, summary.firstResultMs];
  for (const event of run.events) times.push(event.at - run.startedAt);
  return Math.max(0, ...times.filter((ms): ms is number => ms !== null && Number.isFinite(ms)));
}

function requestLane(
  events: readonly StageEvent[],
  since: (e: StageEvent) => number,
  scale: Scale,
  endMs: number,
) {
  const y = laneY('request');
  const requests: { start: number; headers?: number; end?: number; firstByte?: number; detail: string[] }[] =
    [];
  for (const event of events) {
    if (event.stage !== 'source') continue;
    const open = requests[requests.length - 1];
    if (event.name === 'request') requests.push({ start: since(event), detail: [] });
    else if (!open) continue;
    else if (event.name === 'headers' && open.headers === undefined) open.headers = since(event);
    else if (event.name === 'first-byte' && open.firstByte === undefined) open.firstByte = since(event);
    else if (event.name === 'end') for (const request of requests) request.end ??= since(event);
    else if (['dns', 'connect', 'tls'].includes(event.name)) {
      const ms = numberField(event, 'ms');
      if (ms !== undefined) open.detail.push(`${event.name} ${formatMs(ms)}`);
    }
  }
  return requests
    .map((request, index) => {
      const next = requests[index + 1]?.start;
      const waitEnd = request.headers ?? request.end ?? next ?? endMs;
      const transferEnd = Math.min(request.end ?? next ?? endMs, next ?? Infinity);
      const parts = [
        `request ${index + 1}: headers after ${formatMs(waitEnd - request.start)}`,
        ...(request.detail.length > 0 ? [`(${request.detail.join(', ')})`] : []),
      ];
      return [
        request.headers !== undefined && transferEnd > request.headers
          ? rect(
              scale.x(request.headers),
              scale.x(transferEnd),
              y + laneHeight / 2 - 2,
              4,
              palette.transfer,
              ' class="transfer"',
            )
          : '',
        `<g class="request-bar">${rect(scale.x(request.start), scale.x(waitEnd), y, laneHeight, palette.request)}${title(parts.join(' '))}</g>`,
        request.firstByte !== undefined
          ? vline(scale.x(request.firstByte), y - 2, y + laneHeight + 2, palette.end, ' class="first-byte"')
          : '',
      ].join('');
    })
    .join('');
}

function bytesLane(
  events: readonly StageEvent[],
  since: (e: StageEvent) => number,
  scale: Scale,
  endMs: number,
  maxBytes: number,
) {
  const y = laneY('bytes');
  const bottom = y + laneHeight;
  let total = 0;
  let path = '';
  const paused: string[] = [];
  let pausedAt: number | undefined;
  for (const event of events) {
    if (event.stage !== 'source') continue;
    if (event.name === 'chunk') {
      const x = scale.x(since(event));
      total += numberField(event, 'bytes') ?? 0;
      path += path === '' ? `M${coord(x)},${coord(bottom)}` : `H${coord(x)}`;
      path += `V${coord(bottom - (laneHeight * total) / maxBytes)}`;
    } else if (event.name === 'paused') pausedAt ??= since(event);
    else if (event.name === 'resumed' && pausedAt !== undefined) {
      paused.push(rect(scale.x(pausedAt), scale.x(since(event)), y, 3, palette.paused, ' class="paused"'));
      pausedAt = undefined;
    }
  }
  if (pausedAt !== undefined)
    paused.push(rect(scale.x(pausedAt), scale.x(endMs), y, 3, palette.paused, ' class="paused"'));
  if (path === '') return paused.join('');
  path += `H${coord(Math.max(scale.x(endMs), scale.x(0)))}V${coord(bottom)}Z`;
  return (
    `<path class="bytes-band" d="${path}" fill="${palette.bytes}" stroke="${palette.bytesEdge}" stroke-width="1">` +
    `${title(`${formatBytes(total)} received`)}</path>${paused.join('')}`
  );
}

function decodeLane(events: readonly StageEvent[], since: (e: StageEvent) => number, scale: Scale) {
  const y = laneY('decode');
  const ticks: string[] = [];
  let firstFrame = '';
  for (const event of events) {
    if (event.stage !== 'decode') continue;
    if (event.name === 'frame') {
      const x = scale.x(since(event));
      ticks.push(
        `<rect class="frame-tick" x="${coord(x - 1)}" y="${y}" width="2" height="${laneHeight}" fill="${palette.frame}"/>`,
      );
    } else if (event.name === 'first-frame' && firstFrame === '') {
      firstFrame = diamond(
        scale.x(since(event)),
        y + laneHeight / 2,
        palette.firstFrame,
        'first-frame',
        `first frame at ${formatMs(since(event))}`,
      );
    }
  }
  return ticks.join('') + firstFrame;
}

function diamond(x: number, cy: number, fill: string, className: string, label: string) {
  const r = laneHeight / 2 + 1;
  return `<path class="${className}" d="M${coord(x)},${coord(cy - r)}L${coord(x + r)},${coord(cy)}L${coord(x)},${coord(cy + r)}L${coord(x - r)},${coord(cy)}Z" fill="${fill}" stroke="#ffffff" stroke-width="1">${title(label)}</path>`;
}

function inferLane(
  events: readonly StageEvent[],
  since: (e: StageEvent) => number,
  scale: Scale,
  endMs: number,
) {
  const y = laneY('infer');
  const starts = new Map<unknown, StageEvent>();
  const ends = new Map<unknown, StageEvent>();
  const order: unknown[] = [];
  for (const event of events) {
    if (event.stage !== 'infer') continue;
    const run = event.data?.['run'];
    if (event.name === 'run-start' && !starts.has(run)) {
      starts.set(run, event);
      if (!ends.has(run)) order.push(run);
    } else if (event.name === 'run-end' && !ends.has(run)) {
      ends.set(run, event);
      if (!starts.has(run)) order.push(run);
    }
  }
  return order
    .map((run) => {
      const start = starts.get(run);
      const end = ends.get(run);
      const endMs0 = end ? since(end) : endMs;
      const startMs = start ? since(start) : endMs0 - (numberField(end!, 'ms') ?? 0);
      const frames = numberField((start ?? end)!, 'frames');
      const label = `model run ${String(run)}: ${frames ?? '?'} frame(s), ${end ? formatMs(endMs0 - startMs) : 'unfinished'}`;
      const dash = end ? '' : ' stroke="#222222" stroke-dasharray="3 2"';
      return `<g class="infer-bar">${rect(scale.x(startMs), scale.x(endMs0), y, laneHeight, palette.inferRun, dash)}${title(label)}</g>`;
    })
    .join('');
}

function budgetLane(
  events: readonly StageEvent[],
  since: (e: StageEvent) => number,
  scale: Scale,
  endMs: number,
) {
  const y = laneY('budget');
  const find = (name: string) => events.find((event) => event.stage === 'sink' && event.name === name);
  const start = find('budget-start');
  const deadline = find('deadline');
  const end = find('end');
  const parts: string[] = [];
  if (start) {
    const budgetMs = numberField(start, 'budgetMs');
    const stop = deadline ? since(deadline) : end ? since(end) : endMs;
    parts.push(
      `<g class="budget-band">${rect(scale.x(since(start)), scale.x(stop), y, laneHeight, palette.budget)}${title(
        `budget${budgetMs !== undefined ? ` of ${formatMs(budgetMs)}` : ''} from ${formatMs(since(start))}`,
      )}</g>`,
    );
  }
  if (deadline) {
    parts.push(
      `<g class="deadline">${vline(scale.x(since(deadline)), 0, runHeight - 2, palette.deadline, ' stroke-width="2" stroke-dasharray="4 3"')}${title(`deadline at ${formatMs(since(deadline))}`)}</g>`,
    );
  }
  if (end) {
    const endedBy = end.data?.['endedBy'];
    parts.push(endMarker(scale.x(since(end)), endLabel(typeof endedBy === 'string' ? endedBy : 'unknown')));
  }
  return parts.join('');
}

const endReasons: Readonly<Record<string, string>> = { budget: 'budget spent', end: 'input done' };
const endLabel = (endedBy: string) => `end: ${endReasons[endedBy] ?? endedBy}`;

function endMarker(x: number, label: string) {
  const y = laneY('budget');
  const right = x > plotRight - 90;
  return (
    `<g class="end-marker">${vline(x, runHeader - 2, runHeight - 2, palette.end, ' stroke-width="2"')}` +
    `<text x="${coord(right ? x - 4 : x + 4)}" y="${y + laneHeight - 3}" font-size="10" text-anchor="${right ? 'end' : 'start'}" fill="${palette.end}">${escapeXml(label)}</text></g>`
  );
}

/** A peer with no events: its summary's moments, drawn where the stages would have put them. */
function summaryOnly(run: ReportRun, scale: Scale) {
  const { summary } = run;
  const parts = [
    `<text x="${plotLeft + 4}" y="${laneY('request') + laneHeight - 3}" font-size="10" fill="${palette.axis}">no stage events: summary only</text>`,
    rect(
      scale.x(0),
      scale.x(summary.totalMs),
      laneY('bytes') + laneHeight / 2 - 2,
      4,
      palette.summaryOnly,
      ' class="summary-span"',
    ),
  ];
  if (summary.firstFrameMs !== null) {
    parts.push(
      diamond(
        scale.x(summary.firstFrameMs),
        laneY('decode') + laneHeight / 2,
        palette.firstFrame,
        'first-frame',
        `first frame at ${formatMs(summary.firstFrameMs)}`,
      ),
    );
  }
  if (summary.firstResultMs !== null) {
    parts.push(
      diamond(
        scale.x(summary.firstResultMs),
        laneY('infer') + laneHeight / 2,
        palette.inferRun,
        'first-result',
        `first result at ${formatMs(summary.firstResultMs)}`,
      ),
    );
  }
  parts.push(endMarker(scale.x(summary.totalMs), endLabel(summary.endedBy)));
  return parts.join('');
}

function runRow(run: ReportRun, index: number, scale: Scale, maxBytes: number) {
  const since = (event: StageEvent) => event.at - run.startedAt;
  const endMs = run.summary.totalMs;
  const { summary } = run;
  const facts = [
    run.group,
    formatBytes(summary.bytesDownloaded),
    `first frame ${formatMs(summary.firstFrameMs)}`,
    `first result ${formatMs(summary.firstResultMs)}`,
    `total ${formatMs(summary.totalMs)}`,
    `ended by ${summary.endedBy}`,
  ];
  const laneLabels = lanes
    .map(
      (lane) =>
        `<text x="${plotLeft - 8}" y="${laneY(lane) + laneHeight - 3}" font-size="11" text-anchor="end" fill="${palette.axis}">${lane}</text>`,
    )
    .join('');
  const content =
    run.events.length === 0
      ? summaryOnly(run, scale)
      : [
          requestLane(run.events, since, scale, endMs),
          bytesLane(run.events, since, scale, endMs, maxBytes),
          decodeLane(run.events, since, scale),
          inferLane(run.events, since, scale, endMs),
          budgetLane(run.events, since, scale, endMs),
        ].join('');
  return (
    `<g class="run-row" data-run="${index}" transform="translate(0,${rowTop(index)})">` +
    `<text x="8" y="15" font-size="12"><tspan font-weight="bold">${escapeXml(shorten(run.label, 60))}</tspan>` +
    `<tspan fill="${palette.axis}" dx="10">${escapeXml(shorten(facts.join(' · '), 150))}</tspan></text>` +
    `${laneLabels}${content}</g>`
  );
}

function legend() {
  const items: [string, string][] = [
    ['request → headers', `<rect width="14" height="10" fill="${palette.request}"/>`],
    ['body transfer', `<rect y="3" width="14" height="4" fill="${palette.transfer}"/>`],
    [
      'bytes received (cumulative)',
      `<rect width="14" height="10" fill="${palette.bytes}" stroke="${palette.bytesEdge}"/>`,
    ],
    ['source paused', `<rect width="14" height="4" fill="${palette.paused}"/>`],
    ['decoded frame', `<rect x="6" width="2" height="10" fill="${palette.frame}"/>`],
    ['first frame', `<path d="M7,-1L13,5L7,11L1,5Z" fill="${palette.firstFrame}"/>`],
    ['model run', `<rect width="14" height="10" fill="${palette.inferRun}"/>`],
    ['time budget', `<rect width="14" height="10" fill="${palette.budget}"/>`],
    [
      'deadline',
      `<line x1="7" x2="7" y1="-1" y2="11" stroke="${palette.deadline}" stroke-width="2" stroke-dasharray="4 3"/>`,
    ],
    ['end', `<line x1="7" x2="7" y1="-1" y2="11" stroke="${palette.end}" stroke-width="2"/>`],
  ];
  let x = 8;
  return items
    .map(([label, swatch]) => {
      const item = `<g transform="translate(${x},40)">${swatch}<text x="19" y="9" font-size="11">${escapeXml(label)}</text></g>`;
      x += 30 + Math.ceil(label.length * 6.2);
      return item;
    })
    .join('');
}

function axis(scale: Scale, ticks: readonly number[], y: number, bottom: number, labelsBelow: boolean) {
  return ticks
    .map((ms) => {
      const x = coord(scale.x(ms));
      return (
        `<line x1="${x}" x2="${x}" y1="${labelsBelow ? bottom : y}" y2="${labelsBelow ? bottom + 4 : y - 4}" stroke="${palette.axis}"/>` +
        `<text x="${x}" y="${labelsBelow ? bottom + 16 : y - 7}" font-size="10" text-anchor="middle" fill="${palette.axis}">${ms}</text>`
      );
    })
    .join('');
}

/**
 * The waterfall of every run on one ms axis: a row per run with a lane per stage (request, bytes, decode,
 * infer, budget). Returns the SVG element and its height.
 */
export function renderTimelineSvg(runs: readonly ReportRun[]): { svg: string; height: number } {
  const spanMs = Math.max(0, ...runs.map(runSpanMs));
  const { ticks, top: topMs } = axisTicks(spanMs, 12);
  const scale: Scale = {
    topMs,
    x: (ms) => plotLeft + (Math.min(Math.max(ms, 0), topMs) / topMs) * (plotRight - plotLeft),
  };
  const maxBytes = Math.max(
    1,
    ...runs.map((run) =>
      run.events.reduce(
        (sum, event) =>
          sum + (event.stage === 'source' && event.name === 'chunk' ? (numberField(event, 'bytes') ?? 0) : 0),
        0,
      ),
    ),
  );
  const bottom = top + runs.length * (runHeight + runGap) - runGap;
  const height = bottom + 48;
  const grid = ticks.map((ms) => vline(scale.x(ms), top - 4, bottom, palette.grid)).join('');
  // Shading first, grid lines over it, the runs over both: the grid never hides a bar.
  const shading = runs
    .map((_, index) =>
      index % 2 === 0 ? rect(0, timelineWidth, rowTop(index), runHeight, palette.rowShade) : '',
    )
    .join('');
  const rows = runs.map((run, index) => runRow(run, index, scale, maxBytes)).join('');
  return {
    height,
    svg:
      `<svg class="timeline" xmlns="http://www.w3.org/2000/svg" width="${timelineWidth}" height="${height}" viewBox="0 0 ${timelineWidth} ${height}" shape-rendering="crispEdges" role="img" aria-label="Timeline of every run">` +
      `<text x="8" y="20" font-size="14" font-weight="bold">Waterfall per run: ms since the run's start (bytes band: height = bytes so far, scaled to the largest run, ${escapeXml(formatBytes(maxBytes))})</text>` +
      `${legend()}${axis(scale, ticks, top - 4, bottom, false)}${shading}<g class="grid">${grid}</g><g class="rows">${rows}</g>` +
      `${axis(scale, ticks, top - 4, bottom, true)}` +
      `<text x="${coord((plotLeft + plotRight) / 2)}" y="${bottom + 36}" font-size="12" text-anchor="middle">milliseconds since the run's start</text>` +
      `</svg>`,
  };
}
