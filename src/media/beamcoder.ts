import { createRequire } from 'node:module';
import type * as Beamcoder from 'beamcoder';

export type { Beamcoder };

let loaded: typeof Beamcoder | undefined;

/**
 * beamcoder, loaded once, quietly. Its index.js prints a licence splash and the FFmpeg version with
 * console.log when it is first required; stdout may be carrying a JSON result, so those lines go to
 * stderr instead. FFmpeg's own log is turned down to errors: decode problems reach users as typed errors
 * and events, not as library chatter.
 */
export function beamcoder(): typeof Beamcoder {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const log = console.log;
  console.log = (...args: unknown[]) => {
    process.stderr.write(`${args.map(String).join(' ')}\n`);
  };
  try {
    loaded = require('beamcoder') as typeof Beamcoder;
  } finally {
    console.log = log;
  }
  loaded.logging(process.env.FF_FFMPEG_LOG_LEVEL ?? 'fatal');
  return loaded;
}
