/**
 * firstframe as a dependency (issue 16): `npm pack`, then `npm install <tarball>` with plain npm in a fresh
 * project that already depends on another rxjs 7 patch version (7.8.1), then, in that project, a user script
 * that decodes a clip through the installed package, a user marble test (the README's "Testing your
 * pipeline" example, word for word, run by vitest through the installed `firstframe/testing`), the installed
 * CLI, and the rxjs copies.
 *
 * The environment is built from nothing: PATH, HOME (so npm's cache ~/.npm is reused) and the XDG cache in a
 * temporary folder. Two more observe without changing what is installed: a `make` first on PATH records the
 * folder of each native build (node-gyp runs make once per build: beamcoder must be built exactly once), and
 * global-agent's proxy (which onnxruntime-node's install script uses for its CUDA download) is a closed
 * loopback port, so that the install fails if the download is attempted, as it would on a machine without a
 * route to that host.
 *
 * Slow (beamcoder's native build: 30 s to 2 min on 2 cores), so everything is installed once.
 */

import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ClipInfo } from '../../src/fixtures/make.js';
import { closedPort, ensureBuilt, repoRoot } from '../support/cli.js';
import { testFixtures } from '../support/fixtures.js';

const APP_RXJS = '7.8.1';
const FFMPEG_LIBRARIES = [
  'libavcodec',
  'libavformat',
  'libavutil',
  'libswscale',
  'libavfilter',
  'libavdevice',
];

function missingPrerequisite(): string | undefined {
  try {
    execFileSync('npm', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'npm is not installed';
  }
  try {
    execFileSync('pkg-config', ['--exists', ...FFMPEG_LIBRARIES], { stdio: 'ignore' });
  } catch {
    return `FFmpeg's development packages are missing (pkg-config --exists ${FFMPEG_LIBRARIES.join(' ')} failed)`;
  }
  return undefined;
}

const skipReason = missingPrerequisite();
if (skipReason !== undefined) console.warn(`test/package/install.test.ts skipped: ${skipReason}`);

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
) {
  const startedAt = performance.now();
  return new Promise<Exit>((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr, seconds: (performance.now() - startedAt) / 1000 });
    });
  });
}

const tail = (exit: Exit): string => `exit ${exit.code}\n${(exit.stdout + exit.stderr).slice(-4000)}`;

/** Every `rxjs` folder in a node_modules tree. */
function rxjsCopies(nodeModules: string): string[] {
  return readdirSync(nodeModules, { recursive: true, withFileTypes: true })
    .filter(
      (entry) => entry.isDirectory() && entry.name === 'rxjs' && entry.parentPath.endsWith('node_modules'),
    )
    .map((entry) => join(entry.parentPath, entry.name));
}

/**
 * A user's plugin in the app: a stride operator made with the installed package's `defineOperator`, named by
 * a pipeline document that lists the plugin itself (`plugins:`, relative to the document).
 */
const PLUGIN = `import { filter } from 'rxjs';
import { defineOperator } from 'firstframe';

export const operators = [
  defineOperator({
    kind: 'stride',
    name: 'every-30th',
    summary: 'frames whose number is a multiple of 30',
    options: {},
    create: () => ({
      keeps: (frameNumber) => frameNumber % 30 === 0,
      operator: () => filter((frame) => frame.frameNumber % 30 === 0),
    }),
  }),
];
`;
const PLUGIN_DOCUMENT =
  'name: thirtieths\nextends: default\nplugins: [./every-30th.mjs]\nstride: { operator: every-30th }\nsink: { budgetS: 120 }\n';

/** The README's "Testing your pipeline" example: the test file a user copies. */
function readmeMarbleTest(): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Testing your pipeline'));
  const example = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (!example?.includes("from 'firstframe/testing'")) {
    throw new Error('README.md: no "Testing your pipeline" example importing firstframe/testing');
  }
  return example;
}

/**
 * This repository's vitest, run in the app: vitest resolves its own `vitest` import wherever it runs, so the
 * app needs no copy of its own (the install stays the one under test); everything else the test imports
 * (firstframe/testing, rxjs) resolves from the app's node_modules.
 */
const VITEST = join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs');

const USER_SCRIPT = `
import { createRequire } from 'node:module';
import { lastValueFrom, map, Observable, toArray } from 'rxjs';
import { decode, fileSource, stride } from 'firstframe';

const frames = fileSource(process.argv[2]).pipe(decode());
const every = await lastValueFrom(frames.pipe(map((frame) => frame.frameNumber), toArray()));
const strided = await lastValueFrom(frames.pipe(stride(25), map((frame) => frame.frameNumber), toArray()));
const fromFirstframe = createRequire(import.meta.resolve('firstframe'));
console.log(JSON.stringify({
  every,
  strided,
  sameObservableClass: frames instanceof Observable,
  rxjsOfFirstframe: fromFirstframe.resolve('rxjs/package.json'),
  rxjsVersionOfFirstframe: fromFirstframe('rxjs/package.json').version,
}));
`;

describe.skipIf(skipReason !== undefined)('npm install firstframe-0.1.0.tgz in a fresh project', () => {
  let scratch: string;
  let app: string;
  let env: NodeJS.ProcessEnv;
  let clip: ClipInfo;
  let makeCalls: string;
  let install: Exit;
  const installed = () => join(app, 'node_modules', 'firstframe');

  beforeAll(async () => {
    clip = (await testFixtures()).clips.faststart!;
    await ensureBuilt();
    scratch = mkdtempSync(join(tmpdir(), 'ff-install-'));
    app = join(scratch, 'app');
    // node-gyp runs `make -C build` from PATH in the package's folder, once per build.
    makeCalls = join(scratch, 'make-calls.txt');
    const wrappers = join(scratch, 'bin');
    mkdirSync(wrappers);
    const make = execFileSync('sh', ['-c', 'command -v make'], { encoding: 'utf8' }).trim();
    writeFileSync(
      join(wrappers, 'make'),
      `#!/bin/sh\nprintf '%s\\n' "$PWD" >> '${makeCalls}'\nexec '${make}' "$@"\n`,
      { mode: 0o755 },
    );
    const deadProxy = `http://127.0.0.1:${await closedPort()}`;
    env = {
      PATH: `${wrappers}${delimiter}${process.env.PATH ?? ''}`,
      HOME: process.env.HOME ?? homedir(),
      XDG_CACHE_HOME: join(scratch, 'xdg-cache'),
      GLOBAL_AGENT_HTTP_PROXY: deadProxy,
      GLOBAL_AGENT_HTTPS_PROXY: deadProxy,
    };

    const pack = await run('npm', ['pack', '--json', '--pack-destination', scratch], {
      cwd: repoRoot,
      env,
      timeoutMs: 60_000,
    });
    if (pack.code !== 0) throw new Error(`npm pack failed: ${tail(pack)}`);
    const tarball = join(scratch, (JSON.parse(pack.stdout) as Array<{ filename: string }>)[0]!.filename);

    mkdirSync(app);
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { rxjs: APP_RXJS } }),
    );
    await writeFile(join(app, 'decode.mjs'), USER_SCRIPT);
    await writeFile(join(app, 'pipeline.test.ts'), readmeMarbleTest());
    await writeFile(join(app, 'every-30th.mjs'), PLUGIN);
    await writeFile(join(app, 'thirtieths.yaml'), PLUGIN_DOCUMENT);
    install = await run('npm', ['install', tarball], { cwd: app, env, timeoutMs: 270_000 });
    console.log(`npm pack ${pack.seconds.toFixed(1)} s, npm install ${install.seconds.toFixed(1)} s`);
  }, 360_000);

  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('installs, with beamcoder patched and built once, and no CUDA download', () => {
    expect(install.code, tail(install)).toBe(0);
    const beamcoder = dirname(
      execFileSync(process.execPath, ['-p', `require.resolve('beamcoder/package.json')`], {
        cwd: installed(),
        encoding: 'utf8',
      }).trim(),
    );
    const makes = readFileSync(makeCalls, 'utf8').trim().split('\n');
    expect(
      makes.filter((dir) => dir === beamcoder),
      makes.join('\n'),
    ).toHaveLength(1);
    // Built after patching: the binary is newer than a source the patch changes.
    const built = statSync(join(beamcoder, 'build', 'Release', 'beamcoder.node')).mtimeMs;
    expect(built).toBeGreaterThan(statSync(join(beamcoder, 'src', 'decode.cc')).mtimeMs);
    expect(readFileSync(join(beamcoder, 'src', 'decode.cc'), 'utf8')).toContain('QUEUE_WORK_RETURN');
    const onnxBin = join(app, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', 'x64');
    expect(existsSync(join(onnxBin, 'libonnxruntime_providers_cuda.so'))).toBe(false);
  });

  it('leaves one rxjs, the app’s, which firstframe resolves too', () => {
    expect(install.code, tail(install)).toBe(0);
    expect(rxjsCopies(join(app, 'node_modules'))).toEqual([join(app, 'node_modules', 'rxjs')]);
  });

  it('runs a user script that decodes a clip through the installed package', async () => {
    expect(install.code, tail(install)).toBe(0);
    const script = await run(process.execPath, ['decode.mjs', clip.file], {
      cwd: app,
      env,
      timeoutMs: 60_000,
    });
    expect(script.code, tail(script)).toBe(0);
    expect(JSON.parse(script.stdout)).toEqual({
      every: Array.from({ length: clip.frames }, (_, frameNumber) => frameNumber),
      strided: [0, 25, 50, 75],
      sameObservableClass: true,
      rxjsOfFirstframe: join(app, 'node_modules', 'rxjs', 'package.json'),
      rxjsVersionOfFirstframe: APP_RXJS,
    });
    console.log(`user script ${script.seconds.toFixed(1)} s`);
  });

  it("firstframe/allocator, required first by a user's entry point, tunes glibc through the installed beamcoder", async () => {
    expect(install.code, tail(install)).toBe(0);
    const code = "process.stdout.write(JSON.stringify(require('firstframe/allocator').tuneAllocator()))";
    const { GLIBC_TUNABLES: _ignored, ...plain } = env;
    const script = await run(process.execPath, ['-e', code], { cwd: app, env: plain, timeoutMs: 60_000 });
    expect(script.code, tail(script)).toBe(0);
    expect(JSON.parse(script.stdout)).toEqual({ tuned: true, by: 'mallopt' });
  });

  it("runs the README's marble test: a whole pipeline in virtual time, through the installed firstframe/testing", async () => {
    expect(install.code, tail(install)).toBe(0);
    const args = [VITEST, 'run', 'pipeline.test.ts', '--root', app, '--reporter=verbose'];
    const test = await run(process.execPath, args, {
      cwd: app,
      env,
      timeoutMs: 90_000,
    });
    expect(test.code, tail(test)).toBe(0);
    // Both tests of the example ran and passed, with the exact virtual times the README shows.
    const report = stripVTControlCharacters(test.stdout);
    expect(report).toMatch(
      /✓ pipeline.test.ts > answers 24 frames in a 1 s budget, the first 80 ms after the start/,
    );
    expect(report).toMatch(
      /✓ pipeline.test.ts > a stalled decoder: a full batch at once, then the last frame alone/,
    );
    expect(report).toMatch(/Tests +2 passed \(2\)/);
    console.log(`user marble test ${test.seconds.toFixed(1)} s`);
  });

  it('runs the installed CLI, writing generated models to the user cache, not into the package', async () => {
    expect(install.code, tail(install)).toBe(0);
    const help = await run('npx', ['firstframe', '--help'], { cwd: app, env, timeoutMs: 60_000 });
    expect(help.code, tail(help)).toBe(0);
    expect(help.stdout).toMatch(/\brun\b/);
    const version = await run('npx', ['firstframe', '--version'], { cwd: app, env, timeoutMs: 60_000 });
    expect(version.stdout.trim(), tail(version)).toBe('0.1.0');

    const args = ['firstframe', 'run', clip.file, '--json', '--stride', '25', '--budget', '120'];
    const result = await run('npx', args, { cwd: app, env, timeoutMs: 150_000 });
    expect(result.code, tail(result)).toBe(0);
    const document = JSON.parse(result.stdout) as { frames: Array<{ frameNumber: number; source: string }> };
    expect(document.frames.map((frame) => [frame.frameNumber, frame.source])).toEqual([
      [0, 'inferred'],
      [25, 'inferred'],
      [50, 'inferred'],
      [75, 'inferred'],
    ]);
    const cacheModels = join(env.XDG_CACHE_HOME!, 'firstframe', 'models');
    expect(existsSync(join(cacheModels, 'soccer-detector.onnx'))).toBe(true);

    // The app's plugin pipeline through the installed CLI: the document's own plugin keeps frames 0, 30, …
    const plugged = await run(
      'npx',
      ['firstframe', 'run', clip.file, '--pipeline', 'thirtieths.yaml', '--json'],
      {
        cwd: app,
        env,
        timeoutMs: 150_000,
      },
    );
    expect(plugged.code, tail(plugged)).toBe(0);
    const thirtieths = JSON.parse(plugged.stdout) as {
      frames: Array<{ frameNumber: number; source: string }>;
    };
    expect(thirtieths.frames.map((frame) => [frame.frameNumber, frame.source])).toEqual([
      [0, 'inferred'],
      [30, 'inferred'],
      [60, 'inferred'],
      [90, 'inferred'],
    ]);
    const packageFiles = readdirSync(installed()).filter((name) => name !== 'node_modules');
    // bench: the OpenCV peer script `bench` runs; ecosystem.config.cjs: the pm2 file (package.json `files`).
    expect(packageFiles.sort()).toEqual([
      'README.md',
      'bench',
      'bin',
      'dist',
      'ecosystem.config.cjs',
      'package.json',
      'patches',
      'scripts',
    ]);
    console.log(`firstframe run ${result.seconds.toFixed(1)} s`);
  });
});
