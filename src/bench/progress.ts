/** A one-line progress bar; drawn only when the stream is a terminal, so logs and pipes stay clean. */
export interface ProgressBar {
  /** Redraws with `done` of the total finished and what runs now. */
  update(done: number, label: string): void;
  /** Clears the line. */
  end(): void;
}

/**
 * A progress bar on `stream` (stderr) for `total` steps: `[#######.............]  7/15  stream #2`. A
 * stream that is not a TTY gets nothing at all.
 */
export function progressBar(stream: NodeJS.WritableStream, total: number, width = 24): ProgressBar {
  const tty = stream as NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  if (!tty.isTTY || total <= 0) return { update: () => {}, end: () => {} };
  let drawn = false;
  return {
    update(done, label) {
      const filled = Math.round((Math.min(done, total) / total) * width);
      const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}  ${label}`;
      const max = (tty.columns ?? 80) - 1;
      stream.write(`\r${line.slice(0, max).padEnd(max)}`);
      drawn = true;
    },
    end() {
      if (drawn) stream.write(`\r${' '.repeat((tty.columns ?? 80) - 1)}\r`);
      drawn = false;
    },
  };
}
