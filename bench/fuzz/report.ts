/** The fuzz run's summary: counts per class and per mutation kind, typed error codes, failing cases. */

import { CASE_CLASSES, FAILING_CLASSES, type CaseClass } from './classify.js';
import type { CaseRecord, FuzzRunResult } from './run.js';

const SHORT: Record<CaseClass, string> = {
  'ok-frames': 'frames',
  'ok-typed-error': 'typed',
  crash: 'crash',
  hang: 'hang',
  'silent-success': 'silent',
  'untyped-error': 'untyped',
  late: 'late',
};

export function countByClass(records: readonly CaseRecord[]): Record<CaseClass, number> {
  const counts = Object.fromEntries(CASE_CLASSES.map((name) => [name, 0])) as Record<CaseClass, number>;
  for (const item of records) counts[item.class] += 1;
  return counts;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]!.length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
      .join('  ');
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

/** How to run one case again, by hand. */
export function reproduction(
  item: CaseRecord,
  settings: { budgetS: number; stride: number; imgSize: number },
): string {
  return `npx tsx bench/fuzz.ts --case ${item.id} --transport ${item.transport} --budget ${settings.budgetS} --stride ${settings.stride} --img-size ${settings.imgSize}`;
}

export function formatReport(
  result: FuzzRunResult,
  settings: { seed: number; budgetS: number; stride: number; imgSize: number; workers: number },
): string {
  const { records } = result;
  const counts = countByClass(records);
  const out: string[] = [];
  out.push(
    `fuzz: ${records.length} cases, seed ${settings.seed}, budget ${settings.budgetS} s, stride ${settings.stride}, ` +
      `img size ${settings.imgSize}, ` +
      `${settings.workers} workers (${result.workersStarted} started), ${(result.durationMs / 1000).toFixed(1)} s`,
  );
  out.push('');
  out.push(
    table(
      ['class', 'cases', 'share'],
      CASE_CLASSES.map((name) => [
        name,
        String(counts[name]),
        records.length ? `${((100 * counts[name]) / records.length).toFixed(1)} %` : '-',
      ]),
    ),
  );
  out.push('');
  const kinds = [...new Set(records.map((item) => `${item.kind}`))].sort();
  out.push(
    table(
      ['kind', 'cases', ...CASE_CLASSES.map((name) => SHORT[name])],
      kinds.map((kind) => {
        const of = records.filter((item) => item.kind === kind);
        const byClass = countByClass(of);
        return [
          kind,
          String(of.length),
          ...CASE_CLASSES.map((name) => (byClass[name] ? String(byClass[name]) : '.')),
        ];
      }),
    ),
  );
  out.push('');
  const clips = [...new Set(records.map((item) => item.clip))].sort();
  out.push(
    table(
      ['clip', 'cases', ...CASE_CLASSES.map((name) => SHORT[name])],
      clips.map((clip) => {
        const of = records.filter((item) => item.clip === clip);
        const byClass = countByClass(of);
        return [
          clip,
          String(of.length),
          ...CASE_CLASSES.map((name) => (byClass[name] ? String(byClass[name]) : '.')),
        ];
      }),
    ),
  );
  out.push('');
  const codes = new Map<string, number>();
  for (const item of records)
    if (item.errorCode) codes.set(item.errorCode, (codes.get(item.errorCode) ?? 0) + 1);
  out.push(
    table(
      ['error code', 'cases'],
      [...codes].sort((a, b) => b[1] - a[1]).map(([code, n]) => [code, String(n)]),
    ),
  );
  const elapsed = records
    .flatMap((item) => (item.elapsedMs !== undefined ? [item.elapsedMs] : []))
    .sort((a, b) => a - b);
  if (elapsed.length > 0) {
    const at = (q: number) => elapsed[Math.min(elapsed.length - 1, Math.floor(q * elapsed.length))]!;
    const rss = Math.max(...records.map((item) => item.rssMb ?? 0));
    out.push('');
    out.push(
      `answer time: median ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${at(1)} ms; worker RSS max ${rss} MB`,
    );
  }
  const failing = records.filter((item) => FAILING_CLASSES.has(item.class) || item.class === 'late');
  if (failing.length > 0) {
    out.push('');
    out.push(`findings (${failing.length}):`);
    for (const item of failing) {
      out.push(
        `  ${item.class.padEnd(14)} ${item.id.padEnd(8)} ${item.clip}/${item.kind}: ${item.detail} — ${item.why}`,
      );
      if (item.previous?.length) out.push(`      after, in the same worker: ${item.previous.join(' ')}`);
      out.push(`      ${reproduction(item, settings)}`);
    }
  }
  return out.join('\n');
}
