/**
 * The real `firstframe` executable, spawned as a user would run it: exit codes, what goes to stdout and
 * what to stderr, environment validation, and that every command exits by itself.
 */

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { stat, readdir } from 'node:fs/promises';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ENV_NAMES } from '../../src/core/config.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { startNetSim, type NetSim } from '../../src/sim/netsim.js';
import { testFixtures } from '../support/fixtures.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(repoRoot, 'bin', 'firstframe');
const builtMain = join(repoRoot, 'dist', 'cli', 'main.js');

/** Newest modification time of any file under `dir`. */
async function newestMtimeMs(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
  }
  return newest;
}

/**
 * Builds dist/ when it is missing or older than a source file, so that the CLI under test is this tree's.
 *
 * tsc emits JavaScript even when it reports type errors. Those are the typecheck's to report (`npm run
 * typecheck`), and one in a module the CLI does not load should not hide how the CLI behaves: when the
 * build fails but has rewritten dist/cli/main.js, the errors are printed and the tests go on.
 */
async function ensureBuilt(): Promise<void> {
  const builtAt = () =>
    stat(builtMain).then(
      (info) => info.mtimeMs,
      () => undefined,
    );
  const before = await builtAt();
  if (before !== undefined && before >= (await newestMtimeMs(join(repoRoot, 'src')))) return;
  const startedAt = Date.now();
  try {
    await promisify(execFile)('npm', ['run', 'build'], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    const after = await builtAt();
    // mtimes have a coarser resolution than Date.now() on some file systems: allow a second.
    if (after === undefined || after < startedAt - 1000) {
      throw new Error(`npm run build failed, so the CLI cannot be tested:\n${stdout}${stderr}`, {
        cause: error,
      });
    }
    console.warn(`npm run build reported errors; testing the JavaScript it emitted anyway:\n${stdout}`);
  }
}

/** The test process's environment without the miners' variables, which would change what the CLI does. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ENV_NAMES) delete env[name];
  return { ...env, ...extra };
}

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
  /** True when it had not exited after `timeoutMs` and was killed. */
  hung: boolean;
}

function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [bin, ...args], {
    cwd: repoRoot,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs the CLI to its exit; a process still running after `timeoutMs` is killed and reported as hung. */
function runCli(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  const startedAt = performance.now();
  const child = spawnCli(args, options.env);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  return new Promise((resolve, reject) => {
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 20_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - startedAt, hung });
    });
  });
}

const lines = (text: string): string[] => text.split('\n').filter((line) => line.trim() !== '');

/** A port nothing listens on: the kernel hands one out, and it is closed again at once. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** GET without keep-alive, so that no socket of the test process outlives the request. */
function download(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    }).on('error', reject);
  });
}

let fixtures: FixtureSet;

beforeAll(async () => {
  fixtures = await testFixtures();
  await ensureBuilt();
}, 180_000);

describe('firstframe: commands and usage', () => {
  it('help lists the commands and exits 0', async () => {
    const result = await runCli(['help']);
    expect(result.code).toBe(0);
    for (const command of ['run', 'cdn', 'fixtures', 'help']) {
      expect(result.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
    expect(result.stderr).toBe('');
  });

  it('an unknown command exits 2 and names it on stderr', async () => {
    const result = await runCli(['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('unknown command "frobnicate"');
  });

  it('bad environment values exit 2, naming every bad variable and what it expects', async () => {
    const result = await runCli(['run'], { env: { BATCH_SIZE: '0', PARTIAL_DOWNLOAD_MB: 'abc' } });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const [headline, ...problems] = lines(result.stderr);
    expect(headline).toBe('firstframe: FF_ERR_CONFIG_ENV: invalid configuration');
    // One line per variable, in the codec's order rather than the environment's.
    expect(problems.sort()).toEqual([
      '  BATCH_SIZE: expected a positive integer, got "0"',
      '  PARTIAL_DOWNLOAD_MB: expected a positive number, got "abc"',
    ]);
  });

  it('run --strategy with an unknown strategy exits 2 and says which ones exist', async () => {
    const result = await runCli(['run', '--strategy', 'nope']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('--strategy: expected stream, partial, full or ranges, got "nope"');
  });

  it('fixtures --json exits 0 and prints the fixture set as JSON', async () => {
    const result = await runCli(['fixtures', '--json']);
    expect(result.code).toBe(0);
    const set = JSON.parse(result.stdout) as FixtureSet;
    expect(set.dir).toBe(fixtures.dir);
    expect(set.clips['faststart']).toMatchObject({
      layout: 'faststart',
      bytes: fixtures.clips['faststart']!.bytes,
      file: fixtures.clips['faststart']!.file,
    });
  });
});

describe('firstframe run', () => {
  let sim: NetSim;

  beforeAll(async () => {
    sim = await startNetSim({ files: { '/clip.mp4': new Uint8Array(50_000) } });
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('with no source serves the bundled clip over the simulator and prints one JSON document', async () => {
    const result = await runCli(['run', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(lines(result.stdout)).toHaveLength(1);
    const document = JSON.parse(result.stdout) as {
      source: { layout: string | null; bytesTotal: number | null };
      timings: { bytesDownloaded: number; firstByteMs: number | null; endedBy: string };
    };
    const clipBytes = fixtures.clips['faststart']!.bytes;
    expect(document.source).toMatchObject({ layout: 'faststart', bytesTotal: clipBytes });
    expect(document.timings.bytesDownloaded).toBe(clipBytes);
    // The simulator holds the response head for its 100 ms TTFB: nothing can arrive earlier.
    expect(document.timings.firstByteMs).toBeGreaterThanOrEqual(100);
    expect(document.timings.endedBy).toBe('end');
  });

  it('a URL answering 404 exits 1 with one stderr line carrying FF_ERR_HTTP_STATUS', async () => {
    const url = sim.urlFor('/clip.mp4', { status: 404 });
    const result = await runCli(['run', url, '--json']);
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toEqual([`firstframe: FF_ERR_HTTP_STATUS: GET ${url}: HTTP 404`]);
    const document = JSON.parse(result.stdout) as {
      timings: { endedBy: string; bytesDownloaded: number };
      error: { code: string };
    };
    expect(document.timings).toMatchObject({ endedBy: 'error', bytesDownloaded: 0 });
    expect(document.error.code).toBe('FF_ERR_HTTP_STATUS');
  });

  it('a refused connection exits 1 with FF_ERR_CONNECT_REFUSED, and the process ends by itself', async () => {
    const port = await closedPort();
    const result = await runCli(['run', `http://127.0.0.1:${port}/x`], { timeoutMs: 10_000 });
    expect(result.hung).toBe(false);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('FF_ERR_CONNECT_REFUSED');
    expect(result.stderr).toContain(`127.0.0.1:${port}`);
    expect(result.ms).toBeLessThan(5000);
  });
});

describe('firstframe cdn', () => {
  it('prints its URL as JSON, serves the directory, and exits 0 on SIGTERM', async () => {
    const child = spawnCli(['cdn', fixtures.dir, '--port', '0']);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('close', (code, signal) => resolve({ code, signal })),
    );
    try {
      const stdoutLines = createInterface({ input: child.stdout! });
      const firstLine = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ready line from cdn; stderr: ${stderr}`)),
          10_000,
        );
        stdoutLines.once('line', (line) => {
          clearTimeout(timer);
          resolve(line);
        });
        child.once('close', () => reject(new Error(`cdn exited before its ready line; stderr: ${stderr}`)));
      });
      const ready = JSON.parse(firstLine) as { url: string; root: string };
      expect(ready.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(ready.root).toBe(fixtures.dir);

      const clip = fixtures.clips['faststart']!;
      const response = await download(`${ready.url}/faststart.mp4`);
      expect(response.status).toBe(200);
      expect(response.body.byteLength).toBe(clip.bytes);

      child.kill('SIGTERM');
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(stderr).toContain(`netsim: GET /faststart.mp4 HTTP/1.1 200 ${clip.bytes}/${clip.bytes} B`);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
