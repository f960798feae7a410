/**
 * The real `firstframe` executable, spawned as a user would run it: exit codes, what goes to stdout and
 * what to stderr, environment validation, and that every command exits by itself.
 */

import { createInterface } from 'node:readline';
import { beforeAll, describe, expect, it } from 'vitest';

import type { FixtureSet } from '../../src/fixtures/make.js';
import { download, ensureBuilt, lines, runCli, spawnCli } from '../support/cli.js';
import { testFixtures } from '../support/fixtures.js';

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
