import { execFileSync } from 'node:child_process';

/**
 * ffprobe's JSON of the first video stream of `file`: the `entries` asked for (`-show_entries`), after
 * `extra` options (e.g. `-read_intervals`).
 */
export function probeVideo<T>(file: string, entries: string, extra: readonly string[] = []): T {
  const out = execFileSync(
    'ffprobe',
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', entries, ...extra, '-of', 'json', file],
    { encoding: 'utf8' },
  );
  return JSON.parse(out) as T;
}

/** What ffprobe says of a file's video frames, in display order: each frame's best-effort time in seconds. */
export function probeFrameTimes(file: string): number[] {
  const parsed = probeVideo<{ frames: Array<{ best_effort_timestamp_time: string }> }>(
    file,
    'frame=best_effort_timestamp_time',
  );
  return parsed.frames.map((frame) => Number(frame.best_effort_timestamp_time));
}
