/**
 * The shared command-line parser (src/cli/args.ts, on commander) and `main`'s dispatch, in-process: help
 * for every command (`CMD --help` and `help CMD` alike), `--version` everywhere, negative numbers as
 * option values, every problem of a command line at once, and options bound to environment variables.
 */

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';

import { parseCommand, type CommandSpec, type OptionSpecs } from '../../src/cli/args.js';
import { main } from '../../src/cli/main.js';

const COMMANDS = ['run', 'diagnose', 'bench', 'cdn', 'serve', 'fixtures', 'models'] as const;
const VERSION = '0.1.0';

function capture() {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = capture();
  const stderr = capture();
  const code = await main(argv, { stdout: stdout.stream, stderr: stderr.stream, env });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

const SPEC = {
  name: 'probe',
  usage: '[FILE] [options]',
  positionals: true,
  options: {
    ttfb: { type: 'string', value: 'MS', description: 'time to first byte' },
    json: { type: 'boolean', description: 'JSON out' },
    'no-verify': { type: 'boolean', description: 'skip the check' },
    plugin: { type: 'string', multiple: true, value: 'MODULE', description: 'a plugin (repeatable)' },
    'log-level': { type: 'string', value: 'LEVEL', description: 'level', env: 'LOG_LEVEL', bindEnv: true },
  },
} as const satisfies CommandSpec<OptionSpecs>;

function parse(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = capture();
  const parsed = parseCommand(SPEC, argv, { stdout: stdout.stream, env });
  return { parsed, stdout: stdout.text() };
}

describe('parseCommand', () => {
  it('takes a negative number as an option value, in both spellings, and keeps it for the check', () => {
    expect(parse(['--ttfb', '-1', 'a.mp4']).parsed).toEqual({
      values: { ttfb: '-1' },
      positionals: ['a.mp4'],
      sources: { ttfb: 'flag' },
      problems: [],
    });
    expect(parse(['--ttfb=-5']).parsed).toMatchObject({ values: { ttfb: '-5' }, problems: [] });
  });

  it('lists every problem of the command line at once, in order', () => {
    const { parsed } = parse(['--bogus', 'x.mp4', '--json=1', '-q', '--ttfb']);
    expect(parsed).toEqual({
      values: {},
      positionals: ['x.mp4'],
      sources: {},
      problems: [
        '--ttfb: expected a value',
        '--bogus: unknown option',
        '--json: takes no value',
        '-q: unknown option',
      ],
    });
  });

  it('keeps repeated values of a repeatable option in order; --no-X is a switch of its own', () => {
    const { parsed } = parse(['--plugin', './a.mjs', '--no-verify', '--plugin', 'b']);
    expect(parsed).toMatchObject({ values: { plugin: ['./a.mjs', 'b'], 'no-verify': true }, problems: [] });
  });

  it('takes what follows -- as arguments, even when they look like options', () => {
    expect(parse(['-5', '--', '-odd-name.mp4', '--json']).parsed).toMatchObject({
      values: {},
      positionals: ['-5', '-odd-name.mp4', '--json'],
      problems: [],
    });
  });

  it('an option bound to a variable reads it when the flag is absent; the flag wins', () => {
    expect(parse([], { LOG_LEVEL: 'debug' }).parsed).toMatchObject({
      values: { 'log-level': 'debug' },
      sources: { 'log-level': 'env' },
    });
    expect(parse(['--log-level', 'error'], { LOG_LEVEL: 'debug' }).parsed).toMatchObject({
      values: { 'log-level': 'error' },
      sources: { 'log-level': 'flag' },
    });
  });

  it('prints the help generated from the options on -h and --help, and the version on --version', () => {
    const help = parse(['-h']);
    expect(help.parsed).toBe(0);
    expect(help.stdout).toBe(
      [
        'usage: firstframe probe [FILE] [options]',
        '',
        'options:',
        '  --ttfb MS          time to first byte',
        '  --json             JSON out',
        '  --no-verify        skip the check',
        '  --plugin MODULE    a plugin (repeatable)',
        '  --log-level LEVEL  level [LOG_LEVEL]',
        '  --version          the version of firstframe',
        '  -h, --help         this text',
        '',
      ].join('\n'),
    );
    expect(parse(['--json', '--help']).stdout).toBe(help.stdout);
    expect(parse(['--version'])).toEqual({ parsed: 0, stdout: `${VERSION}\n` });
  });
});

describe('firstframe: help and version on every command', () => {
  for (const command of COMMANDS) {
    it(`${command}: --help and "help ${command}" print the same usage on stdout, exit 0; --version`, async () => {
      const flag = await cli([command, '--help']);
      expect(flag.code).toBe(0);
      expect(flag.stderr).toBe('');
      expect(flag.stdout.split('\n')[0]).toMatch(new RegExp(`^usage: firstframe ${command}\\b`));
      expect(flag.stdout).toMatch(/^ {2}-h, --help +this text$/m);
      expect(await cli(['help', command])).toEqual(flag);
      expect(await cli([command, '--version'])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    });
  }

  it("a bad variable does not stop a command's help; a flag given replaces its variable (flag > environment)", async () => {
    const badStride = { FRAME_STRIDE: 'abc' };
    for (const command of COMMANDS) {
      const help = await cli([command, '--help'], badStride);
      expect(help.code, `${command} --help`).toBe(0);
      expect(help.stdout.split('\n')[0]).toMatch(new RegExp(`^usage: firstframe ${command}\\b`));
    }
    // The flag replaces FRAME_STRIDE: the run's document has the flag's stride, and no problem is left.
    const flagged = await cli(['run', '--stride', '2', '--print-pipeline'], badStride);
    expect(flagged.stderr).toBe('');
    expect(flagged.code).toBe(0);
    expect(flagged.stdout).toMatch(/^stride:\n(?: {2}.*\n)*? {2}every: 2$/m);
    // Without the flag the variable's problem is listed beside the command line's own.
    const unflagged = await cli(['run', '--bogus', '--print-pipeline'], badStride);
    expect(unflagged.code).toBe(2);
    expect(unflagged.stderr).toMatch(/--bogus/);
    expect(unflagged.stderr).toMatch(/FRAME_STRIDE/);
    // bench too: --budget replaces TIME_BUDGET_S; only the command line's own problem is left.
    const badBudget = { TIME_BUDGET_S: 'abc' };
    const benchFlagged = await cli(['bench', '--budget', '5', '--runs', '0'], badBudget);
    expect(benchFlagged.code).toBe(2);
    expect(benchFlagged.stderr).toMatch(/--runs/);
    expect(benchFlagged.stderr).not.toMatch(/TIME_BUDGET_S/);
    const benchUnflagged = await cli(['bench', '--runs', '0'], badBudget);
    expect(benchUnflagged.code).toBe(2);
    expect(benchUnflagged.stderr).toMatch(/--runs/);
    expect(benchUnflagged.stderr).toMatch(/TIME_BUDGET_S/);
  });

  it('--version, -V and version print the version; help of an unknown command exits 2', async () => {
    for (const argv of [['--version'], ['-V'], ['version']]) {
      expect(await cli(argv)).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    }
    const unknown = await cli(['help', 'frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
  });

  it('run: a negative option value reaches its check, listed with the other problems (exit 2)', async () => {
    const result = await cli(['run', '--ttfb', '-1', '--stride', '-2', '--frobnicate', 'a', 'b']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.split('\n').filter((line) => line !== '')).toEqual([
      'firstframe: FF_ERR_USAGE: invalid configuration',
      '  --frobnicate: unknown option',
      '  expected at most one URL or FILE, got 2',
      '  no such file: a',
      '  --stride: expected a positive integer, got "-2"',
      '  --ttfb: expected a number > -1, got "-1"',
      '  --ttfb: only for the embedded default (no URL or FILE)',
    ]);
  });

  it('LOG_LEVEL is checked by every command that logs, named as the variable; the flag as the flag', async () => {
    for (const command of ['run', 'diagnose', 'bench']) {
      const result = await cli([command, '/nonexistent/clip.mp4'], { LOG_LEVEL: 'loud' });
      expect(result.code, command).toBe(2);
      expect(result.stderr, command).toContain(
        '  LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
      );
      const flag = await cli([command, '/nonexistent/clip.mp4', '--log-level', 'loud'], {
        LOG_LEVEL: 'info',
      });
      expect(flag.stderr, command).toContain('  --log-level: expected one of');
    }
    const serve = await cli(['serve', '--no-verify', '--port', '0'], { LOG_LEVEL: 'loud' });
    expect(serve.code).toBe(2);
    expect(serve.stderr).toContain(
      '  LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    );
  });
});
