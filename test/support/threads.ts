import { readFileSync } from 'node:fs';

/** The OS threads this process has now (Linux: /proc/self/status), FFmpeg's decoder and filter threads among them. */
export function processThreadCount(): number {
  return Number(/^Threads:\s+(\d+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
}
