/**
 * `--plugin MODULE` through the real executable: a user's stride operator, in a module of its own outside
 * the package, named by a pipeline document. `run` keeps exactly the frames the plugin keeps; `serve`
 * answers a challenge with them; a plugin that is not there stops the command at start (exit 2) with its
 * typed code.
 */

import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { BenchDocument } from '../../src/bench/bench.js';
import type { DiagnoseDocument } from '../../src/bench/diagnose.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import type { RunDocument } from '../../src/pipelines/runner.js';
import type { ChallengeResponse } from '../../src/server/challenge.js';
import { startNetSim, type NetSim } from '../../src/sim/netsim.js';
import { challengeBody, getJson, postChallenge } from '../server/helpers.js';
import { ensureBuilt, lines, repoRoot, runCli, spawnCli } from '../support/cli.js';
import { testFixtures } from '../support/fixtures.js';

/** A stride operator a user would write: frames whose number is a multiple of 7. */
const PLUGIN = `import { filter } from 'rxjs';

export const operators = [
  {
    kind: 'stride',
    name: 'every-7th',
    summary: 'frames whose number is a multiple of 7',
    options: {},
    create: () => ({
      keeps: (frameNumber) => frameNumber % 7 === 0,
      operator: () => filter((frame) => frame.frameNumber % 7 === 0),
    }),
  },
];
`;

/** The test clip has 100 frames. */
const SEVENTHS = Array.from({ length: 15 }, (_, index) => index * 7);

let fixtures: FixtureSet;
let sim: NetSim;
let scratch: string;
let plugin: string;
let documentFile: string;

beforeAll(async () => {
  fixtures = await testFixtures();
  await ensureBuilt();
  sim = await startNetSim({ root: fixtures.dir, ttfbMs: 10 });
  scratch = mkdtempSync(join(tmpdir(), 'ff-plugin-cli-'));
  // The user's project: the plugin imports rxjs from its own node_modules (the same copy firstframe uses).
  symlinkSync(join(repoRoot, 'node_modules'), join(scratch, 'node_modules'), 'dir');
  plugin = join(scratch, 'stride-7.mjs');
  writeFileSync(plugin, PLUGIN);
  documentFile = join(scratch, 'sevenths.yaml');
  writeFileSync(
    documentFile,
    'name: sevenths\nextends: default\nstride: { operator: every-7th }\nsink: { budgetS: 120 }\n',
  );
}, 180_000);

afterAll(async () => {
  await sim?.close();
});

describe('firstframe run, diagnose and bench --plugin', () => {
  it('runs the plugin operator the document names: exactly the frames it keeps', async () => {
    const result = await runCli(
      ['run', fixtures.clips['faststart']!.file, '--pipeline', documentFile, '--plugin', plugin, '--json'],
      { timeoutMs: 120_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    const document = JSON.parse(result.stdout) as RunDocument;
    expect(document.frames.map((frame) => frame.frameNumber)).toEqual(SEVENTHS);
    expect(document.frames.every((frame) => frame.source === 'inferred')).toBe(true);
    expect(document.timings.endedBy).toBe('end');
  }, 150_000);

  it('diagnose --plugin: the diagnosed run infers the frames the plugin keeps', async () => {
    const result = await runCli(
      [
        'diagnose',
        fixtures.clips['faststart']!.file,
        '--pipeline',
        documentFile,
        '--plugin',
        plugin,
        '--json',
      ],
      { timeoutMs: 120_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    const { coverage } = JSON.parse(result.stdout) as DiagnoseDocument;
    expect(coverage).toMatchObject({
      framesInClip: 100,
      framesAnswered: 15,
      framesInferred: 15,
      framesFilled: 0,
    });
  }, 150_000);

  it('bench --plugin, and a document naming its own plugins: the runs infer the frames the plugin keeps', async () => {
    const ownPlugins = join(scratch, 'own-plugins.yaml');
    writeFileSync(
      ownPlugins,
      'name: own-plugins\nextends: default\nplugins: [./stride-7.mjs]\nstride: { operator: every-7th }\nsink: { budgetS: 120 }\n',
    );
    const result = await runCli(
      [
        'bench',
        fixtures.clips['faststart']!.file,
        '--strategies',
        'none',
        '--pipeline',
        documentFile,
        '--pipeline',
        ownPlugins,
        '--plugin',
        plugin,
        '--runs',
        '1',
        '--peers',
        'none',
        '--json',
      ],
      { timeoutMs: 120_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    const { benches } = JSON.parse(result.stdout) as { benches: BenchDocument[] };
    expect(
      benches[0]!.groups.map((group) => [group.name, group.runs.map((run) => run.framesInferred)]),
    ).toEqual([
      ['sevenths', [15]],
      ['own-plugins', [15]],
    ]);
  }, 150_000);

  it('without the plugin the document names an unknown operator; a missing plugin is FF_ERR_PLUGIN_NOT_FOUND', async () => {
    const without = await runCli(['run', '--pipeline', documentFile, '--print-pipeline']);
    expect(without.code).toBe(2);
    expect(without.stderr).toContain('unknown stride operator "every-7th"');

    const missing = join(scratch, 'nope.mjs');
    const result = await runCli(['run', '--pipeline', documentFile, '--plugin', missing]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(lines(result.stderr)).toEqual([
      'firstframe: FF_ERR_PLUGIN_NOT_FOUND: invalid configuration',
      `  plugin ${missing}: no such file: ${missing}`,
    ]);
    for (const command of ['diagnose', 'bench', 'serve']) {
      const other = await runCli(
        command === 'serve'
          ? [command, '--no-verify', '--port', '0', '--plugin', missing]
          : [command, fixtures.clips['faststart']!.file, '--plugin', missing],
      );
      expect(other.code, command).toBe(2);
      expect(lines(other.stderr), command).toEqual([
        'firstframe: FF_ERR_PLUGIN_NOT_FOUND: invalid configuration',
        `  plugin ${missing}: no such file: ${missing}`,
      ]);
    }
  }, 60_000);
});

describe('firstframe serve --plugin', () => {
  it('starts with the plugin and answers a challenge with the frames it keeps', async () => {
    const child = spawnCli(
      [
        'serve',
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--allow-private',
        '--no-verify',
        '--pipeline',
        documentFile,
        '--plugin',
        plugin,
      ],
      { FIRSTFRAME_WARM_INTERVAL_S: '0' },
    );
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    try {
      const ready = await new Promise<{ url: string; pipeline: string }>((resolve, reject) => {
        // serve warms its models up before the port opens: up to 30 s while the rest of the suite runs, past
        // 90 s when other processes keep both cores busy at nice 0 (serve's compute threads run at nice 10).
        // Liveness only: the limit is generous.
        const timer = setTimeout(() => reject(new Error(`no ready line; stderr: ${stderr}`)), 240_000);
        createInterface({ input: child.stdout! }).once('line', (line) => {
          clearTimeout(timer);
          resolve(JSON.parse(line) as { url: string; pipeline: string });
        });
        void exited.then(() => reject(new Error(`serve exited early; stderr: ${stderr}`)));
      });
      expect(ready.pipeline).toBe('sevenths');
      expect((await getJson(`${ready.url}/healthz`)).body).toEqual({ status: 'ok' });

      const answer = await postChallenge<ChallengeResponse>(
        ready.url,
        challengeBody(sim.urlFor('/faststart.mp4'), 'c-plugin'),
      );
      expect(answer.status).toBe(200);
      expect(answer.body.frames.map((frame) => frame.frame_number)).toEqual(SEVENTHS);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 300_000);
});
