import { execFileSync } from 'node:child_process';

/** What ffprobe says of a file's video frames, in display order: each frame's best-effort time in seconds. */
export function probeFrameTimes(file: string): number[] {
  const out = execFileSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'frame=best_effort_timestamp_time',
      '-of',
      'json',
      file,
    ],
    { encoding: 'utf8' },
  );
  const parsed = JSON.parse(out) as { frames: Array<{ best_effort_timestamp_time: string }> };
  return parsed.frames.map((frame) => Number(frame.best_effort_timestamp_time));
}
