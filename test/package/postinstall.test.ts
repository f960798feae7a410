/**
 * scripts/postinstall.mjs on small install trees (registry beamcoder 0.7.1 unpacked, a stand-in node-gyp that
 * only records its calls): it patches the beamcoder Node resolves from firstframe, hoisted or nested, and no
 * other; a second run changes nothing; a beamcoder it cannot patch fails the install with what to do; it gives
 * onnxruntime-node's install script a `skip` default once; and it builds only when no build is newer than the
 * patched sources. install.test.ts does the real thing with npm.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { repoRoot } from '../support/cli.js';

let scratch: string;
let beamcoderTarball: string;
let counter = 0;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'ff-postinstall-'));
  // From npm's cache (the checkout's install put it there).
  const packed = execFileSync('npm', ['pack', 'beamcoder@0.7.1', '--json', '--pack-destination', scratch], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  beamcoderTarball = join(scratch, (JSON.parse(packed) as Array<{ filename: string }>)[0]!.filename);
}, 60_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function unpackBeamcoder(to: string): void {
  const work = mkdtempSync(join(scratch, 'unpack-'));
  execFileSync('tar', ['-xzf', beamcoderTarball, '-C', work]);
  mkdirSync(join(to, '..'), { recursive: true });
  renameSync(join(work, 'package'), to);
}

const ORT_STAND_IN = `'use strict';\nconsole.log(process.env.ONNXRUNTIME_NODE_INSTALL ?? 'download');\n`;

/** app/node_modules/{firstframe, patch-package, onnxruntime-node, beamcoder (hoisted, nested or both)}. */
function installTree(beamcoderAt: Array<'hoisted' | 'nested'>) {
  const app = join(scratch, `app-${++counter}`);
  const firstframe = join(app, 'node_modules', 'firstframe');
  mkdirSync(join(firstframe, 'scripts'), { recursive: true });
  cpSync(join(repoRoot, 'package.json'), join(firstframe, 'package.json'));
  cpSync(join(repoRoot, 'scripts', 'postinstall.mjs'), join(firstframe, 'scripts', 'postinstall.mjs'));
  cpSync(join(repoRoot, 'patches'), join(firstframe, 'patches'), { recursive: true });
  symlinkSync(join(repoRoot, 'node_modules', 'patch-package'), join(app, 'node_modules', 'patch-package'));
  const ort = join(app, 'node_modules', 'onnxruntime-node');
  mkdirSync(join(ort, 'script'), { recursive: true });
  writeFileSync(join(ort, 'package.json'), JSON.stringify({ name: 'onnxruntime-node', version: '1.30.0' }));
  writeFileSync(join(ort, 'script', 'install.js'), ORT_STAND_IN);
  const where = {
    hoisted: join(app, 'node_modules', 'beamcoder'),
    nested: join(firstframe, 'node_modules', 'beamcoder'),
  };
  for (const at of beamcoderAt) unpackBeamcoder(where[at]);

  const gypCalls = join(app, 'node-gyp-calls.txt');
  const gyp = join(app, 'node-gyp-stand-in.cjs');
  writeFileSync(
    gyp,
    `const fs = require('node:fs');\n` +
      `fs.appendFileSync(${JSON.stringify(gypCalls)}, process.cwd() + ' ' + process.argv.slice(2).join(' ') + '\\n');\n` +
      `fs.mkdirSync('build/Release', { recursive: true });\n` +
      `fs.writeFileSync('build/Release/beamcoder.node', '');\n`,
  );
  const run = (step?: 'patch') => {
    const result = spawnSync(
      process.execPath,
      [join(firstframe, 'scripts', 'postinstall.mjs'), ...(step ? [step] : [])],
      { cwd: app, encoding: 'utf8', env: { PATH: process.env.PATH, npm_config_node_gyp: gyp } },
    );
    return { status: result.status, stderr: result.stderr };
  };
  const gypLog = () => (existsSync(gypCalls) ? readFileSync(gypCalls, 'utf8').trim().split('\n') : []);
  return { app, firstframe, ort, where, run, gypLog };
}

const decodeCc = (beamcoder: string) => readFileSync(join(beamcoder, 'src', 'decode.cc'), 'utf8');
const mtimes = (dir: string) =>
  Object.fromEntries(
    readdirSync(join(dir, 'src')).map((name) => [name, statSync(join(dir, 'src', name)).mtimeMs] as const),
  );

describe('the patch step (preinstall)', () => {
  it('patches a hoisted beamcoder once; a second run changes nothing', () => {
    const tree = installTree(['hoisted']);
    expect(decodeCc(tree.where.hoisted)).not.toContain('QUEUE_WORK_RETURN');

    const first = tree.run('patch');
    expect(first).toEqual({
      status: 0,
      stderr: 'firstframe install: patched beamcoder in node_modules/beamcoder\n',
    });
    expect(decodeCc(tree.where.hoisted)).toContain('QUEUE_WORK_RETURN');
    const patched = mtimes(tree.where.hoisted);

    expect(tree.run('patch')).toEqual({ status: 0, stderr: '' });
    expect(mtimes(tree.where.hoisted)).toEqual(patched);
    expect(tree.gypLog()).toEqual([]);
  });

  it('patches the nested beamcoder that firstframe loads, not the app’s hoisted one', () => {
    const tree = installTree(['hoisted', 'nested']);
    const first = tree.run('patch');
    expect(first).toEqual({
      status: 0,
      stderr: 'firstframe install: patched beamcoder in node_modules/firstframe/node_modules/beamcoder\n',
    });
    expect(decodeCc(tree.where.nested)).toContain('QUEUE_WORK_RETURN');
    expect(decodeCc(tree.where.hoisted)).not.toContain('QUEUE_WORK_RETURN');
  });

  it('refuses a beamcoder changed some other way, touching nothing, and says what to do', () => {
    const tree = installTree(['hoisted']);
    const file = join(tree.where.hoisted, 'index.js');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace("require('./beamstreams.js')", "require('./other.js')"),
    );
    const before = mtimes(tree.where.hoisted);
    const result = tree.run('patch');
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /^firstframe install: \S+beamcoder\+0\.7\.1\.patch applies to node_modules\/beamcoder neither forwards nor backwards \(.+\): reinstall beamcoder \(remove \S+node_modules\/beamcoder, then npm install\)\n$/s,
    );
    expect(mtimes(tree.where.hoisted)).toEqual(before);
  });

  it('refuses another beamcoder version', () => {
    const tree = installTree(['hoisted']);
    const manifest = join(tree.where.hoisted, 'package.json');
    writeFileSync(
      manifest,
      readFileSync(manifest, 'utf8').replace('"version": "0.7.1"', '"version": "0.7.2"'),
    );
    expect(tree.run('patch')).toEqual({
      status: 1,
      stderr: `firstframe install: ${tree.where.hoisted} is beamcoder 0.7.2; patches/ is for 0.7.1\n`,
    });
  });

  it('gives onnxruntime-node’s install script a skip default, once; a flag that is set still wins', () => {
    const tree = installTree(['hoisted']);
    tree.run('patch');
    tree.run('patch');
    const script = join(tree.ort, 'script', 'install.js');
    const text = readFileSync(script, 'utf8');
    expect(text.split('\n').slice(0, 2)).toEqual([
      "'use strict';",
      '// firstframe: no CUDA download unless asked (README, "GPU").',
    ]);
    expect(text.match(/firstframe: no CUDA download/g)).toHaveLength(1);
    const ort = (env: Record<string, string>) =>
      execFileSync(process.execPath, [script], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, ...env },
      }).trim();
    expect(ort({})).toBe('skip');
    expect(ort({ ONNXRUNTIME_NODE_INSTALL: 'cuda12' })).toBe('cuda12');
    expect(ort({ npm_config_onnxruntime_node_install: 'cuda12' })).toBe('download');
    expect(ort({ ONNXRUNTIME_NODE_INSTALL_CUDA: 'v12' })).toBe('download');
  });
});

describe('the build step (postinstall)', () => {
  it('patches if needed, builds when there is no build, and not again while the build is newer', () => {
    const tree = installTree(['hoisted']);
    const built = join(tree.where.hoisted, 'build', 'Release', 'beamcoder.node');
    const first = tree.run();
    expect(first).toEqual({
      status: 0,
      stderr:
        'firstframe install: patched beamcoder in node_modules/beamcoder\n' +
        'firstframe install: building beamcoder in node_modules/beamcoder (about a minute)\n',
    });
    const rebuild = `${tree.where.hoisted} rebuild -j ${availableParallelism()}`;
    expect(tree.gypLog()).toEqual([rebuild]);

    expect(tree.run()).toEqual({ status: 0, stderr: '' });
    expect(tree.gypLog()).toEqual([rebuild]);

    // A patched source newer than the build (a build made before the patch): built again.
    const later = new Date(statSync(built).mtimeMs + 10_000);
    utimesSync(join(tree.where.hoisted, 'src', 'decode.cc'), later, later);
    expect(tree.run().status).toBe(0);
    expect(tree.gypLog()).toEqual([rebuild, rebuild]);
  });

  it('leaves a build made after the patch (beamcoder’s own install script) alone', () => {
    const tree = installTree(['hoisted']);
    tree.run('patch');
    const release = join(tree.where.hoisted, 'build', 'Release');
    mkdirSync(release, { recursive: true });
    writeFileSync(join(release, 'beamcoder.node'), '');
    const later = new Date(Date.now() + 5_000); // a build takes seconds
    utimesSync(join(release, 'beamcoder.node'), later, later);
    expect(tree.run()).toEqual({ status: 0, stderr: '' });
    expect(tree.gypLog()).toEqual([]);
  });
});
