/**
 * Spawning the real `firstframe` executable in tests: dist/ is built first when it is stale, the miners'
 * variables are cleared from the environment, and a process that does not exit by itself is killed and
 * reported as hung.
 */

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { stat, readdir } from 'node:fs/promises';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { ENV_NAMES } from '../../src/core/config.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const bin = join(repoRoot, 'bin', 'firstframe');
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
export async function ensureBuilt(): Promise<void> {
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
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ENV_NAMES) delete env[name];
  return { ...env, ...extra };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
  /** True when it had not exited after `timeoutMs` and was killed. */
  hung: boolean;
}

export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [bin, ...args], {
    cwd: repoRoot,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs the CLI to its exit; a process still running after `timeoutMs` is killed and reported as hung. */
export function runCli(
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

export const lines = (text: string): string[] => text.split('\n').filter((line) => line.trim() !== '');

/** A port nothing listens on: the kernel hands one out, and it is closed again at once. */
export function closedPort(): Promise<number> {
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
export function download(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    }).on('error', reject);
  });
}
