// Text and number formatting shared by the report's SVG and HTML. Every number goes through one of these
// so that the same report always renders byte-for-byte the same page.

const entities: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text safe in element content and in quoted attributes, HTML and SVG alike. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => entities[char]!);
}

/** At most `max` characters, the cut marked with an ellipsis; escape after shortening, never before. */
export function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** A coordinate with at most one decimal: enough for a screen, short in the file, and stable. */
export function coord(value: number): string {
  return String(Math.round(value * 10) / 10);
}

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/** Decimal units (kB = 1000 B), as link rates are quoted. */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return '–';
  if (bytes < 1e3) return `${Math.round(bytes)} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`;
}

/** Axis ticks from 0: a 1-2-5 step giving about `target` intervals, and the top tick (at least `max`). */
export function axisTicks(max: number, target = 8): { step: number; top: number; ticks: number[] } {
  const span = Number.isFinite(max) && max > 0 ? max : 1;
  const raw = span / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const normalized = raw / magnitude;
  const step = (normalized <= 1 ? 1 : normalized <= 2 ? 2 : normalized <= 5 ? 5 : 10) * magnitude;
  const count = Math.ceil(span / step - 1e-9);
  const ticks = Array.from({ length: count + 1 }, (_, index) => Number((index * step).toPrecision(12)));
  return { step, top: ticks[ticks.length - 1]!, ticks };
}
