import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { defaultFixtureDir, FIXTURES_VERSION, makeFixtures } from '../fixtures/make.js';
import { isUrl } from '../pipelines/operators.js';
import { startNetSim } from '../sim/netsim.js';

/** What a benchmark runs on: a URL, and the simulator behind it when there is one. */
export interface BenchTarget {
  readonly url: string;
  /** The local file the simulator serves, when it does. */
  readonly file?: string;
  /** Set when the link is the simulator's (a local file or the bundled clip). */
  readonly link?: { readonly rateBytesPerSec: number; readonly ttfbMs: number };
  /** Stops the simulator; nothing for a URL given as is. */
  close(): Promise<void>;
}

/** Whether the bench fixture set is already made (making it encodes 30 s of 720p: not done on the way). */
function benchClipReady(dir: string): boolean {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
      version?: number;
      profiles?: Record<string, { clips?: Record<string, { file: string; bytes: number }> }>;
    };
    const clip = manifest.profiles?.['bench']?.clips?.['bench-faststart'];
    return manifest.version === FIXTURES_VERSION && clip !== undefined && existsSync(join(dir, clip.file));
  } catch {
    return false;
  }
}

/**
 * The file the bench runs on when given none: the bench clip (30 s of 720p at about 4 Mbit/s, like the
 * field's videos) when `firstframe fixtures --profile bench` has made it, else the small test clip (made
 * on the way if needed: a few seconds).
 */
export async function bundledClip(log: (line: string) => void = () => {}): Promise<string> {
  const dir = defaultFixtureDir();
  if (benchClipReady(dir)) {
    const set = await makeFixtures(dir, { profile: 'bench' });
    const clip = set.clips['bench-faststart'];
    if (clip) return clip.file;
  }
  log('the bench clip is not made (firstframe fixtures --profile bench): using the 4 s test clip');
  const set = await makeFixtures(dir, { profile: 'test' });
  return set.clips['faststart']!.file;
}

/**
 * A URL is used as it is. A local file (or, with none, the bundled clip) is served by the network
 * simulator at `rateBytesPerSec` with `ttfbMs` before each response, so that its link is shaped.
 */
export async function openTarget(
  target: string | undefined,
  link: { rateBytesPerSec: number; ttfbMs: number },
  log: (line: string) => void = () => {},
): Promise<BenchTarget> {
  if (target !== undefined && isUrl(target)) return { url: target, close: async () => {} };
  const file = resolve(target ?? (await bundledClip(log)));
  const sim = await startNetSim({
    root: dirname(file),
    rateBytesPerSec: link.rateBytesPerSec,
    ttfbMs: link.ttfbMs,
  });
  return {
    url: sim.urlFor(`/${encodeURIComponent(basename(file))}`),
    file,
    link,
    close: () => sim.close(),
  };
}
