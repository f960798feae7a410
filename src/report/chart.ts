import { axisTicks, coord, escapeXml, formatMs, shorten } from './markup.js';
import { palette } from './palette.js';
import { comparedMetrics, type ComparedMetric, type GroupStats } from './stats.js';

export const chartWidth = 1200;
export const chartHeight = 380;
const plotLeft = 80;
const plotRight = chartWidth - 40;
const plotTop = 56;
const plotBottom = 300;

/** What each compared metric is called and drawn in; first frame and first result keep their timeline colours. */
export const metricStyle: Readonly<Record<ComparedMetric, { label: string; fill: string }>> = {
  firstFrameMs: { label: 'first frame', fill: palette.frame },
  firstResultMs: { label: 'first result', fill: palette.inferRun },
  totalMs: { label: 'total', fill: palette.total },
};

/**
 * Grouped bars: per group, the median of first frame, first result and total, with min–max whiskers.
 * A metric no run of the group reached is marked `n/a` instead of a bar.
 */
export function renderComparisonSvg(stats: readonly GroupStats[]): string {
  const maxMs = Math.max(
    0,
    ...stats.flatMap((group) => comparedMetrics.map((metric) => group.metrics[metric]?.max ?? 0)),
  );
  const { ticks, top: topMs } = axisTicks(maxMs, 6);
  const y = (ms: number) => plotBottom - (Math.min(Math.max(ms, 0), topMs) / topMs) * (plotBottom - plotTop);
  const clusterWidth = (plotRight - plotLeft) / Math.max(1, stats.length);
  const barWidth = Math.min(48, (clusterWidth * 0.8) / comparedMetrics.length);

  const yAxis = ticks
    .map((ms) => {
      const at = coord(y(ms));
      return (
        `<line x1="${plotLeft}" x2="${plotRight}" y1="${at}" y2="${at}" stroke="${palette.grid}"/>` +
        `<text x="${plotLeft - 6}" y="${coord(y(ms) + 4)}" font-size="10" text-anchor="end" fill="${palette.axis}">${ms}</text>`
      );
    })
    .join('');

  const clusters = stats
    .map((group, groupIndex) => {
      const center = plotLeft + clusterWidth * (groupIndex + 0.5);
      const bars = comparedMetrics
        .map((metric, metricIndex) => {
          const spread = group.metrics[metric];
          const x0 = center + (metricIndex - comparedMetrics.length / 2) * barWidth;
          const middle = x0 + barWidth / 2;
          const { label, fill } = metricStyle[metric];
          if (spread === null) {
            return `<text class="no-value" x="${coord(middle)}" y="${plotBottom - 4}" font-size="10" text-anchor="middle" fill="${palette.axis}">n/a</text>`;
          }
          const summary = `${group.group}, ${label}: median ${formatMs(spread.median)}, min ${formatMs(spread.min)}, max ${formatMs(spread.max)} (n=${spread.n})`;
          const cap = (ms: number) =>
            `<line x1="${coord(middle - barWidth / 4)}" x2="${coord(middle + barWidth / 4)}" y1="${coord(y(ms))}" y2="${coord(y(ms))}" stroke="${palette.end}" stroke-width="1.5"/>`;
          return (
            `<g class="median-bar" data-group="${groupIndex}" data-metric="${metric}"><title>${escapeXml(summary)}</title>` +
            `<rect x="${coord(x0 + 2)}" y="${coord(y(spread.median))}" width="${coord(barWidth - 4)}" height="${coord(Math.max(plotBottom - y(spread.median), 1))}" fill="${fill}"/>` +
            `<g class="whisker"><line x1="${coord(middle)}" x2="${coord(middle)}" y1="${coord(y(spread.max))}" y2="${coord(y(spread.min))}" stroke="${palette.end}" stroke-width="1.5"/>${cap(spread.min)}${cap(spread.max)}</g>` +
            `<text x="${coord(middle)}" y="${coord(y(spread.max) - 5)}" font-size="10" text-anchor="middle">${Math.round(spread.median)}</text></g>`
          );
        })
        .join('');
      return (
        `<g class="group" data-group="${groupIndex}">${bars}` +
        `<text x="${coord(center)}" y="${plotBottom + 18}" font-size="12" font-weight="bold" text-anchor="middle">${escapeXml(shorten(group.group, Math.max(8, Math.floor(clusterWidth / 7.5))))}</text>` +
        `<text x="${coord(center)}" y="${plotBottom + 33}" font-size="10" text-anchor="middle" fill="${palette.axis}">${group.runs} run${group.runs === 1 ? '' : 's'}</text></g>`
      );
    })
    .join('');

  const legend = comparedMetrics
    .map((metric, index) => {
      const { label, fill } = metricStyle[metric];
      return `<g transform="translate(${plotRight - 420 + index * 140},30)"><rect width="14" height="10" fill="${fill}"/><text x="19" y="9" font-size="11">median ${label}</text></g>`;
    })
    .join('');

  return (
    `<svg class="comparison" xmlns="http://www.w3.org/2000/svg" width="${chartWidth}" height="${chartHeight}" viewBox="0 0 ${chartWidth} ${chartHeight}" shape-rendering="crispEdges" role="img" aria-label="Comparison of the groups">` +
    `<text x="8" y="20" font-size="14" font-weight="bold">Per group: median (bar) and min–max (whisker), in ms since the run's start</text>` +
    `${legend}${yAxis}` +
    `<line x1="${plotLeft}" x2="${plotRight}" y1="${plotBottom}" y2="${plotBottom}" stroke="${palette.axis}"/>` +
    `<line x1="${plotLeft}" x2="${plotLeft}" y1="${plotTop}" y2="${plotBottom}" stroke="${palette.axis}"/>` +
    `<text transform="translate(22,${(plotTop + plotBottom) / 2}) rotate(-90)" font-size="12" text-anchor="middle">milliseconds</text>` +
    `${clusters}` +
    (stats.length === 0
      ? `<text x="${(plotLeft + plotRight) / 2}" y="${(plotTop + plotBottom) / 2}" font-size="12" text-anchor="middle">no runs</text>`
      : '') +
    `</svg>`
  );
}
