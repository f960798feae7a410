import type { Spread } from '../report/stats.js';
import type { BenchDocument } from './bench.js';
import { cellMs, formatTable } from './table.js';

/** `median (min–max)`, with `n=` when fewer runs than asked had a value; `–` for none. */
export function spreadCell(
  spread: Spread | null,
  runs: number,
  format: (value: number) => string = cellMs,
): string {
  if (spread === null) return '–';
  const range = spread.min === spread.max ? '' : ` (${format(spread.min)}–${format(spread.max)})`;
  return `${format(spread.median)}${range}${spread.n < runs ? ` n=${spread.n}` : ''}`;
}

const count = (value: number) => (Number.isInteger(value) ? String(value) : value.toFixed(1));

/**
 * `firstframe bench`'s human output: the link and the machine, then one row per strategy, pipeline and
 * peer with the median (min–max) of each metric, then the notes.
 */
export function formatBench(document: BenchDocument): string {
  const { target, machine } = document;
  const runs = document.runsPerGroup;
  const link = target.simulated
    ? `simulated link, ${target.rateBytesPerSec} B/s, ${target.ttfbMs} ms to first byte (file ${target.file})`
    : 'the URL as given (no simulator)';
  const lines = [
    `firstframe bench: ${runs} run${runs === 1 ? '' : 's'} each on ${target.url}`,
    `${link}; budget ${document.budgetS === null ? "each profile's own" : `${document.budgetS} s`}`,
    `machine: ${machine.cpus} cores, load average ${machine.loadStart.join(' ')} at the start, ${machine.loadEnd.join(' ')} at the end`,
    '',
  ];
  const rows = [
    ...document.groups.map((group) => [
      group.name,
      spreadCell(group.stats.downloadMs, runs),
      spreadCell(group.stats.firstFrameMs, runs),
      spreadCell(group.stats.firstResultMs, runs),
      spreadCell(group.stats.totalMs, runs),
      spreadCell(group.stats.framesInferred, runs, count),
      cellMs(group.setupMs),
    ]),
    ...document.peers
      .filter((peer) => peer.available)
      .map((peer) => [peer.name, '–', spreadCell(peer.stats.firstFrameMs, runs), '–', '–', '–', '–']),
  ];
  lines.push(
    formatTable(
      ['strategy', 'download', 'first frame', 'first result', 'total', 'frames inferred', 'setup'],
      rows,
    ),
    '',
    'ms since the start of each run: median (min–max) over the runs that got there (n= when fewer than all).',
    'download: the last byte of the response the run waited on (– when the budget ended the run first);',
    'setup: model load and warm-up, once per strategy, before the clock. Peers: time to their first frame.',
  );
  for (const peer of document.peers.filter((p) => p.available))
    lines.push(`  ${peer.name}: ${peer.measures} (${peer.version})`);
  const failed = document.groups.flatMap((group) =>
    group.runs
      .filter((run) => run.error)
      .map((run) => `${group.name} #${run.run}: ${run.error!.code}: ${run.error!.message}`),
  );
  if (document.notes.length > 0 || failed.length > 0) {
    lines.push('', 'notes:', ...[...document.notes, ...failed].map((line) => `  ${line}`));
  }
  if (document.interrupted) lines.push('', 'interrupted: the table has the runs finished before it.');
  return `${lines.join('\n')}\n`;
}
