import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FirstframeError } from '../core/errors.js';

/** Where Debian's `chromium` package (installed by scripts/setup.sh) puts the browser. */
export const chromiumPath = '/usr/bin/chromium';

/** Headless chromium failed, timed out, or wrote nothing. */
// TODO: move into `codes` in src/core/errors.ts (not this module's file to edit).
export const browserErrorCode = 'FF_ERR_REPORT_BROWSER';

export interface HeadlessOptions {
  /** The browser binary; `chromiumPath` by default. */
  readonly binary?: string;
  /** Kill the browser (its whole process group) after this long; 30 s by default. */
  readonly timeoutMs?: number;
}

// Offline and quiet: no update checks, no sync, no QUIC probes, and a fresh profile every time.
const baseFlags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--hide-scrollbars',
  '--force-device-scale-factor=1',
];

/** The processes of a process group that are still alive (zombies excluded), from /proc. */
export function liveProcessesInGroup(group: number): number[] {
  if (!existsSync('/proc')) return [];
  const live: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid pgrp …; comm may hold spaces and parentheses, so split after the last ')'.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === group && state !== 'Z' && state !== 'X') live.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return live;
}

function killGroup(group: number): void {
  try {
    process.kill(-group, 'SIGKILL');
  } catch {
    // ESRCH: already gone.
  }
}

/**
 * Runs headless chromium once on `url` with `flags` in its own process group and a throw-away profile;
 * when it exits, or when it times out, kills whatever is left of the group and removes the profile.
 *
 * @returns its stdout and the id of its process group (for a caller that wants to check none is left).
 */
export async function runHeadless(
  url: string,
  flags: readonly string[],
  options: HeadlessOptions = {},
): Promise<{ stdout: string; processGroup: number }> {
  const binary = options.binary ?? chromiumPath;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const profile = await mkdtemp(join(tmpdir(), 'firstframe-chromium-'));
  try {
    const child = spawn(binary, [...baseFlags, `--user-data-dir=${profile}`, ...flags, url], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4000);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) killGroup(child.pid);
    }, timeoutMs);
    const exit = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
      child.once('error', (error) => resolve({ code: null, error }));
      child.once('close', (code) => resolve({ code }));
    });
    clearTimeout(timer);
    const group = child.pid;
    if (group !== undefined) {
      killGroup(group);
      for (let waited = 0; liveProcessesInGroup(group).length > 0 && waited < 5000; waited += 50)
        await sleep(50);
    }
    if (exit.error || group === undefined) {
      throw new FirstframeError(browserErrorCode, `${binary}: could not start: ${exit.error?.message}`, {
        binary,
        url,
      });
    }
    if (timedOut || exit.code !== 0) {
      const why = timedOut ? `did not finish within ${timeoutMs} ms` : `exited with ${exit.code}`;
      throw new FirstframeError(browserErrorCode, `${binary} on ${url} ${why}: ${stderr.slice(-1000)}`, {
        binary,
        url,
        timeoutMs,
      });
    }
    return { stdout: Buffer.concat(stdout).toString('utf8'), processGroup: group };
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}

/**
 * A PNG of `url` in a `width`×`height` window at scale 1.
 *
 * @example
 * await screenshot(pathToFileURL('report/index.html').href, 'report.png', { width: 1400, height: 1600 });
 */
export async function screenshot(
  url: string,
  file: string,
  size: { readonly width: number; readonly height: number },
  options: HeadlessOptions = {},
): Promise<{ processGroup: number }> {
  const { processGroup } = await runHeadless(
    url,
    [`--screenshot=${file}`, `--window-size=${size.width},${size.height}`],
    options,
  );
  if (!existsSync(file)) {
    throw new FirstframeError(browserErrorCode, `${url}: chromium exited without writing ${file}`, {
      url,
      file,
    });
  }
  return { processGroup };
}

/** The DOM of `url` once loaded, serialized as chromium's `--dump-dom` prints it. */
export async function dumpDom(url: string, options: HeadlessOptions = {}): Promise<string> {
  return (await runHeadless(url, ['--dump-dom'], options)).stdout;
}
