import { accessSync, constants, existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChild } from './children.js';

/** The tools `firstframe bench` compares against, on the same link and file. */
export const PEER_NAMES = ['opencv', 'ffmpeg'] as const;
export type PeerName = (typeof PEER_NAMES)[number];

/** One peer run: its time to first decoded frame, or why it had none. */
export interface PeerRun {
  readonly firstFrameMs: number | null;
  readonly ok: boolean;
  readonly error?: string;
}

/** A peer found on this machine, ready to measure. */
export interface Peer {
  readonly name: PeerName;
  /** What is timed, for tables and the report. */
  readonly measures: string;
  readonly version: string;
  readonly command: string;
  measure(url: string, signal?: AbortSignal): Promise<PeerRun>;
}

/** A peer that is not there: the comparison is skipped with this note, the bench goes on. */
export interface MissingPeer {
  readonly name: PeerName;
  readonly note: string;
}

/** Every executable called `name` on `path` (PATH's syntax), in PATH order, each real file once. */
export function findOnPath(name: string, path: string | undefined): string[] {
  const found: string[] = [];
  const seen = new Set<string>();
  for (const dir of (path ?? '').split(':')) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      const real = realpathSync(candidate);
      if (seen.has(real)) continue;
      seen.add(real);
      found.push(candidate);
    } catch {
      // Not here.
    }
  }
  return found;
}

/** `bench/opencv_first_frame.py` of this package, from `src/bench` or `dist/src/bench` alike. */
export function openCvScript(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; dirname(dir) !== dir; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) {
      const script = join(dir, 'bench', 'opencv_first_frame.py');
      return existsSync(script) ? script : undefined;
    }
  }
  return undefined;
}

const firstLine = (text: string) => text.trim().split('\n')[0] ?? '';

/**
 * OpenCV's `cv2.VideoCapture(url)` until its first frame, with bench/opencv_first_frame.py: the first
 * `python3` on PATH that can import cv2 (a pyenv or venv python often cannot while the system one can).
 */
async function findOpenCv(path: string | undefined, env: NodeJS.ProcessEnv): Promise<Peer | MissingPeer> {
  const script = openCvScript();
  if (!script) {
    return {
      name: 'opencv',
      note: 'bench/opencv_first_frame.py is not in this installation (a source checkout has it)',
    };
  }
  const pythons = findOnPath('python3', path);
  if (pythons.length === 0) return { name: 'opencv', note: 'skipped: no python3 on PATH' };
  for (const python of pythons) {
    const probe = await runChild(python, ['-c', 'import cv2; print(cv2.__version__)'], {
      timeoutMs: 30_000,
      env,
    });
    if (probe.code !== 0) continue;
    const version = firstLine(probe.stdout);
    return {
      name: 'opencv',
      measures: 'cv2.VideoCapture(url) to the first cap.read() with a frame',
      version: `OpenCV ${version}`,
      command: `${python} ${script} URL 1`,
      async measure(url, signal) {
        const result = await runChild(python, [script, url, '1'], {
          timeoutMs: 120_000,
          env,
          ...(signal ? { signal } : {}),
        });
        if (result.code !== 0) {
          return {
            firstFrameMs: null,
            ok: false,
            error: firstLine(result.stderr) || `exit ${result.code ?? result.signal}`,
          };
        }
        try {
          const parsed = JSON.parse(result.stdout) as {
            runs?: Array<{ ms: number; ok: boolean; error?: string }>;
          };
          const run = parsed.runs?.[0];
          if (!run) return { firstFrameMs: null, ok: false, error: 'no run reported' };
          return run.ok
            ? { firstFrameMs: Math.round(run.ms * 10) / 10, ok: true }
            : { firstFrameMs: null, ok: false, error: run.error ?? 'no frame' };
        } catch {
          return { firstFrameMs: null, ok: false, error: `unreadable output: ${firstLine(result.stdout)}` };
        }
      },
    };
  }
  return {
    name: 'opencv',
    note: `skipped: cv2 is not importable by ${pythons.join(', ')} (Debian: apt-get install python3-opencv)`,
  };
}

/**
 * The ffmpeg CLI decoding the first video frame (`-frames:v 1 -f null -`), timed from spawn to exit: what
 * a script that shells out to ffmpeg waits, its process start (tens of ms) included.
 */
async function findFfmpeg(path: string | undefined, env: NodeJS.ProcessEnv): Promise<Peer | MissingPeer> {
  const ffmpeg = findOnPath('ffmpeg', path)[0];
  if (!ffmpeg) return { name: 'ffmpeg', note: 'skipped: no ffmpeg on PATH' };
  const probe = await runChild(ffmpeg, ['-hide_banner', '-version'], { timeoutMs: 30_000, env });
  if (probe.code !== 0) return { name: 'ffmpeg', note: `skipped: ${ffmpeg} -version failed` };
  const args = (url: string) => [
    '-hide_banner',
    '-nostdin',
    '-v',
    'error',
    '-i',
    url,
    '-map',
    '0:v:0',
    '-frames:v',
    '1',
    '-f',
    'null',
    '-',
  ];
  return {
    name: 'ffmpeg',
    measures: 'ffmpeg -i URL -frames:v 1 -f null -, spawn to exit',
    version: firstLine(probe.stdout).replace(/ Copyright.*$/, ''),
    command: `${ffmpeg} ${args('URL').join(' ')}`,
    async measure(url, signal) {
      const result = await runChild(ffmpeg, args(url), {
        timeoutMs: 120_000,
        env,
        ...(signal ? { signal } : {}),
      });
      return result.code === 0
        ? { firstFrameMs: Math.round(result.ms * 10) / 10, ok: true }
        : {
            firstFrameMs: null,
            ok: false,
            error: firstLine(result.stderr) || `exit ${result.code ?? result.signal}`,
          };
    },
  };
}

/**
 * The peers asked for that this machine has; the others with a note. Looks them up on `env.PATH`, so that a
 * caller (or a test) can hide them.
 */
export async function findPeers(
  names: readonly PeerName[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ peers: Peer[]; missing: MissingPeer[] }> {
  const peers: Peer[] = [];
  const missing: MissingPeer[] = [];
  for (const name of names) {
    const found = name === 'opencv' ? await findOpenCv(env.PATH, env) : await findFfmpeg(env.PATH, env);
    if ('measure' in found) peers.push(found);
    else missing.push(found);
  }
  return { peers, missing };
}
