/**
 * `firstframe serve` as pm2 runs it: the built executable, spawned. Bad settings exit 2 naming every
 * problem; a started server answers, and on SIGTERM it refuses new connections, still answers the
 * challenge in flight, and exits 0.
 */

import { execFile, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV_NAMES } from '../../src/core/config.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import type { ChallengeResponse } from '../../src/server/challenge.js';
import { SERVE_ENV_NAMES } from '../../src/server/settings.js';
import { startNetSim, type NetSim } from '../../src/sim/netsim.js';
import { testFixtures } from '../support/fixtures.js';
import { challengeBody, getJson, postChallenge, waitFor } from './helpers.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(repoRoot, 'bin', 'firstframe');
const builtMain = join(repoRoot, 'dist', 'cli', 'main.js');

async function newestMtimeMs(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
  }
  return newest;
}

/**
 * Builds dist/ when it is older than a source file (as test/cli/cli.test.ts does): tsc emits JavaScript
 * even when it reports type errors elsewhere in the tree, and those are the typecheck's to report.
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
    const after = await builtAt();
    if (after === undefined || after < startedAt - 1000) throw error;
  }
}

/** Each thread of a process with its nice value (Linux: field 19 of /proc/PID/task/TID/stat). */
function threadNiceValues(pid: number): Map<number, number> {
  const nice = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      nice.set(Number(tid), Number(stat.split(') ')[1]!.split(' ')[16]));
    } catch {
      // exited since the listing
    }
  }
  return nice;
}

/** A thread's name (what the process called it, or the name it inherited from its creator). */
function threadName(pid: number, tid: number): string {
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

/** The test's environment without the miners' and the server's variables, plus `extra`. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of [...ENV_NAMES, ...SERVE_ENV_NAMES]) delete env[name];
  return { ...env, ...extra };
}

function spawnServe(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [bin, 'serve', ...args], {
    cwd: repoRoot,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, exited, stderr: () => stderr };
}

/** Resolves true when a TCP connection to the port is refused, false when one opens. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

let fixtures: FixtureSet;
let sim: NetSim;

beforeAll(async () => {
  fixtures = await testFixtures();
  sim = await startNetSim({ root: fixtures.dir, ttfbMs: 10 });
  await ensureBuilt();
}, 180_000);

afterAll(async () => {
  await sim?.close();
});

describe('firstframe serve', () => {
  it('bad settings from flags and environment exit 2, every problem named, before any model is loaded', async () => {
    const serve = spawnServe(
      [
        '--concurrency',
        '0',
        '--allow-host',
        'a/b',
        '--port',
        '0',
        '--no-verify',
        '--compute-nice',
        '20',
        '--plugin',
        '/nowhere/plugin.mjs',
      ],
      {
        FRAME_STRIDE: 'abc',
        FIRSTFRAME_QUEUE: '-1',
        FIRSTFRAME_PORT: '70000',
        FIRSTFRAME_ALLOW_PRIVATE: 'maybe',
      },
    );
    expect(await serve.exited).toEqual({ code: 2, signal: null });
    const [headline, ...problems] = serve
      .stderr()
      .split('\n')
      .filter((line) => line !== '');
    expect(headline).toBe('firstframe: FF_ERR_USAGE: invalid configuration');
    expect(problems.sort()).toEqual([
      '  --allow-host: expected a host name, an IP address or *.suffix, got "a/b"',
      '  --compute-nice: expected an integer from 0 to 19, got "20"',
      '  --concurrency: expected a positive integer, got "0"',
      '  FIRSTFRAME_ALLOW_PRIVATE: expected a boolean (1/0, true/false, yes/no, on/off), got "maybe"',
      '  FIRSTFRAME_PORT: expected a port number from 0 to 65535, got "70000"',
      '  FIRSTFRAME_QUEUE: expected an integer >= 0, got "-1"',
      // The pipeline's problems (its plugins, the miners' variables) in the same list.
      '  FRAME_STRIDE: expected a positive integer, got "abc"',
      '  plugin /nowhere/plugin.mjs: no such file: /nowhere/plugin.mjs',
    ]);
  });

  it('without MINER_HOTKEY or an explicit --no-verify exits 2 saying so; a hotkey that is not SS58 is named', async () => {
    const unsigned = spawnServe(['--port', '0']);
    expect(await unsigned.exited).toEqual({ code: 2, signal: null });
    expect(unsigned.stderr()).toContain(
      "  MINER_HOTKEY (--miner-hotkey) is not set: set it, with VALIDATOR_HOTKEYS or --metagraph, to verify validators' signed challenges, or say --no-verify to serve unsigned ones",
    );
    const badKey = spawnServe(
      ['--port', '0', '--validator-hotkey', '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY'],
      {
        MINER_HOTKEY: '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ',
      },
    );
    expect(await badKey.exited).toEqual({ code: 2, signal: null });
    expect(badKey.stderr()).toContain(
      '  MINER_HOTKEY: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ" is not an SS58 address: wrong checksum',
    );
  });

  it('serves once the models are loaded; on SIGTERM refuses new connections, answers the challenge in flight, exits 0', async () => {
    const serve = spawnServe(
      [
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--allow-private',
        '--profile',
        'soccer',
        '--grace',
        '10',
        '--no-verify',
      ],
      { FRAME_STRIDE: '25', FIRSTFRAME_WARM_INTERVAL_S: '0', LOG_LEVEL: 'info' },
    );
    try {
      const ready = await new Promise<{ url: string; pipeline: string }>((resolve, reject) => {
        // serve warms both models at every batch size before the port opens: 10–30 s on the 2-core machine
        // while the rest of the suite runs, and past 90 s when two other processes keep both cores busy at
        // nice 0 (its compute threads run at nice 10). Liveness only: the limit is generous.
        const timer = setTimeout(
          () => reject(new Error(`no ready line; stderr: ${serve.stderr()}`)),
          240_000,
        );
        createInterface({ input: serve.child.stdout }).once('line', (line) => {
          clearTimeout(timer);
          resolve(JSON.parse(line) as { url: string; pipeline: string });
        });
        void serve.exited.then(() => reject(new Error(`serve exited early; stderr: ${serve.stderr()}`)));
      });
      expect(ready.pipeline).toBe('soccer');
      expect((await getJson(`${ready.url}/healthz`)).body).toEqual({ status: 'ok' });
      const port = Number(new URL(ready.url).port);

      // Decoding and inference run below the event loop (--compute-nice, default 10): every thread but the
      // main one and the runtime's own (libuv's pool, V8's workers: as many as serve says it spared), those
      // started with the models and the run's included, within a sweep (250 ms).
      const priorityLine = serve
        .stderr()
        .split('\n')
        .find((line) => line.includes('"event":"compute-priority"'));
      expect(priorityLine).toBeDefined();
      // bin/firstframe set glibc's allocator first (src/core/allocator.cts), and serve says so.
      const allocatorLine = serve
        .stderr()
        .split('\n')
        .find((line) => line.includes('"event":"allocator"'));
      expect(JSON.parse(allocatorLine ?? '{}')).toMatchObject({ level: 30, tuned: true });
      const { spared, nice: computeNice } = JSON.parse(priorityLine!) as { spared: number; nice: number };
      expect(computeNice).toBe(10);
      // UV_THREADPOOL_SIZE 16 (bin/firstframe) and V8's workers.
      expect(spared).toBeGreaterThanOrEqual(16);
      // The runtime's threads are the ones still at 0 once serve is ready (no more of them than it spared);
      // every thread born after that (the run's decoder threads, /predict's models loading beside the
      // run) must be lowered within a sweep, whichever of them exist at the moment of looking.
      const pid = serve.child.pid!;
      let seen = '';
      const look = (): Map<number, number> => {
        const nice = threadNiceValues(pid);
        seen = JSON.stringify([...nice].map(([tid, n]) => [tid, n, threadName(pid, tid)]));
        return nice;
      };
      const explain = (error: Error): never => {
        throw new Error(`${error.message}; last seen [tid, nice, name]: ${seen}`);
      };
      let runtime = new Set<number>();
      let before = new Set<number>();
      await waitFor(`no more than the ${spared} spared and the main thread at nice 0`, () => {
        const nice = look();
        before = new Set(nice.keys());
        runtime = new Set([...nice].filter(([, n]) => n === 0).map(([tid]) => tid));
        // At most: a spared thread that exits (one alive at start-up that is not the runtime's own) leaves
        // fewer, and its id is no longer spared.
        return runtime.has(pid) && runtime.size <= spared + 1;
      }).catch(explain);

      // About 2 s of download at 40 kB/s: long enough to stop the server in the middle of it.
      const videoUrl = sim.urlFor('/faststart.mp4?run=sigterm', { rateBytesPerSec: 40_000 });
      let answered = false;
      const pending = postChallenge<ChallengeResponse>(
        ready.url,
        challengeBody(videoUrl, 'c-sigterm'),
      ).finally(() => (answered = true));
      await waitFor('the video request', () => sim.requests.some((r) => r.query['run'] === 'sigterm'));
      await waitFor('every thread born since at nice 10, and one at least', () => {
        const nice = look();
        const born = [...nice].filter(([tid]) => !before.has(tid));
        return (
          nice.get(pid) === 0 &&
          [...nice].every(([tid, n]) => n === 10 || (n === 0 && runtime.has(tid))) &&
          born.length > 0 &&
          born.every(([, n]) => n === 10)
        );
      }).catch(explain);
      serve.child.kill('SIGTERM');
      await waitFor('the port to close', () => serve.stderr().includes('"event":"stopping"'));
      expect(await refused(port)).toBe(true);
      expect(answered).toBe(false);

      const answer = await pending;
      expect(answer.status).toBe(200);
      expect(answer.body.challenge_id).toBe('c-sigterm');
      // The soccer profile answers every frame of the 100-frame clip; the model ran on every 25th.
      expect(answer.body.frames.map((frame) => frame.frame_number)).toEqual([...Array(100).keys()]);
      const inferred = answer.body.frames.filter((frame) =>
        frame.objects.some((o) => o.source === 'inferred'),
      );
      expect(inferred.map((frame) => frame.frame_number)).toEqual([0, 25, 50, 75]);
      expect(await serve.exited).toEqual({ code: 0, signal: null });

      // The JSON log: every line about the challenge carries its id.
      const entries = serve
        .stderr()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const ofRun = entries.filter((entry) => entry.run === 'c-sigterm' || entry.event === 'answer');
      expect(ofRun.length).toBeGreaterThan(3);
      for (const entry of ofRun) expect(entry.challenge_id).toBe('c-sigterm');
      expect(entries.map((entry) => entry.event)).toEqual(
        expect.arrayContaining(['listening', 'stopping', 'stopped']),
      );
      const request = sim.requests.find((r) => r.query['run'] === 'sigterm')!;
      expect((await sim.waitForRequestEnd(request.id, 2000)).outcome).toBe('complete');
      await waitFor('the server process to close its video connection', () => sim.openConnections() === 0);
    } finally {
      if (serve.child.exitCode === null && serve.child.signalCode === null) serve.child.kill('SIGKILL');
    }
  }, 300_000);
});
