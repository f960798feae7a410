/** Column alignment: text left, numbers right. */
export type Align = 'left' | 'right';

/**
 * A plain-text table with columns padded to their widest cell and two spaces between them; `align` per
 * column (default: the first left, the others right). Trailing spaces are trimmed.
 *
 * @example
 * formatTable(['stage', 'ms'], [['connect', '1.2'], ['first frame', '210']]);
 * // stage           ms
 * // connect        1.2
 * // first frame    210
 */
export function formatTable(
  head: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly Align[] = head.map((_, index) => (index === 0 ? 'left' : 'right')),
): string {
  const widths = head.map((title, column) =>
    Math.max([...title].length, ...rows.map((row) => [...(row[column] ?? '')].length)),
  );
  const line = (cells: readonly string[]) =>
    head
      .map((_, column) => {
        const cell = cells[column] ?? '';
        const pad = ' '.repeat(widths[column]! - [...cell].length);
        return align[column] === 'right' ? pad + cell : cell + pad;
      })
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/** Milliseconds for a table cell: one decimal under 10 ms, whole above; `–` for nothing. */
export function cellMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  return ms < 10 ? ms.toFixed(1) : String(Math.round(ms));
}
