import { createRequire } from 'node:module';
import type * as Beamcoder from 'beamcoder';

export type { Beamcoder };

let loaded: typeof Beamcoder | undefined;

/**
 * beamcoder, loaded once, quietly. Its index.js prints a licence splash and the FFmpeg version with
 * console.log when it is first required; stdout may be carrying a JSON result and stderr a one-line error
 * that tools parse, so the splash is dropped (FF_BEAMCODER_BANNER=1 sends it to stderr; README states the
 * licence). FFmpeg's own log is turned down to fatal errors: decode problems reach users as typed errors and
 * events, not as library chatter (FF_FFMPEG_LOG_LEVEL changes it).
 */
export function beamcoder(): typeof Beamcoder {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const log = console.log;
  const showBanner = process.env.FF_BEAMCODER_BANNER === '1';
  console.log = (...args: unknown[]) => {
    if (showBanner) process.stderr.write(`${args.map(String).join(' ')}\n`);
  };
  try {
    loaded = require('beamcoder') as typeof Beamcoder;
  } finally {
    console.log = log;
  }
  loaded.logging(process.env.FF_FFMPEG_LOG_LEVEL ?? 'fatal');
  return loaded;
}
