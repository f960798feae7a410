/** A Server-Timing header, `name;dur=1.5, …`, as { name: 1.5, … } (entries without a duration left out). */
export function serverTiming(header: string | null): Record<string, number> {
  const timings: Record<string, number> = {};
  for (const entry of (header ?? '').split(',')) {
    const match = /^\s*([\w-]+);dur=([\d.]+)\s*$/.exec(entry);
    if (match) timings[match[1]!] = Number(match[2]);
  }
  return timings;
}
