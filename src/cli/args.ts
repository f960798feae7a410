import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { readEnvConfig } from '../core/config.js';
import { ConfigError, codes } from '../core/errors.js';
import type { PipelineDocument, ResolvedPipeline } from '../pipelines/document.js';
import { loadPipelineWithPlugins } from '../pipelines/load.js';

/*
 * Every command's arguments go through commander (one parser, one help layout, `--version` everywhere),
 * with three habits of our own laid over it:
 * - every problem is collected, not only the first: unknown options, a missing value, unexpected
 *   arguments, and then the command's own checks, all listed at once (exit 2);
 * - an option's value is the next argument whatever it looks like, so `--ttfb -1` reaches the command's
 *   check ("expected a number > -1") instead of being taken for an option;
 * - an option may mirror an environment variable (`--log-level` and LOG_LEVEL): read from the command's
 *   `io.env` (not process.env, so that tests can call commands directly), the flag winning.
 */

/** One option of a command. `type` and `multiple` as node:util's parseArgs had them. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  /** Repeatable: every value is kept, in order. */
  readonly multiple?: boolean;
  /** What the value is, in the help (`SECONDS`); default VALUE. */
  readonly value?: string;
  readonly description: string;
  /** The environment variable this option stands for, shown in the help as `[NAME]`. */
  readonly env?: string;
  /**
   * Read `env` when the flag is not given (flag > environment); string options only. Leave it off where the command reads the
   * variable itself (the miners' variables go through the pipeline document's overrides).
   */
  readonly bindEnv?: boolean;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

type ValueOf<S extends OptionSpec> = S['type'] extends 'boolean'
  ? boolean
  : S['multiple'] extends true
    ? string[]
    : string;

/** Parsed values, typed by the specs: a string, a boolean for a switch, a list for a repeatable option. */
export type OptionValues<O extends OptionSpecs> = { -readonly [K in keyof O]?: ValueOf<O[K]> };

export interface CommandSpec<O extends OptionSpecs> {
  /** `run`, `serve`… */
  readonly name: string;
  /** What follows `firstframe NAME` in the usage line: `[URL|FILE] [options]`. */
  readonly usage: string;
  /** Paragraphs between the usage line and the options. */
  readonly description?: string;
  readonly options: O;
  /** Paragraphs after the options (environment, exit codes). */
  readonly footer?: string;
  /** Whether arguments that are not options are taken (URL, FILE, DIR); default false. */
  readonly positionals?: boolean;
}

export interface ParsedCommand<O extends OptionSpecs> {
  values: OptionValues<O>;
  positionals: string[];
  /** Where each given value came from: the command line or the environment variable. */
  sources: { -readonly [K in keyof O]?: 'flag' | 'env' };
  /** Every problem of the command line, one line each (`--bogus: unknown option`). */
  problems: string[];
}

const HELP_WIDTH = 110;

/** The package's version, from its package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** `--pipeline FILE`, `-h, --help`. */
function termOf(name: string, spec: OptionSpec): string {
  return spec.type === 'string' ? `--${name} ${spec.value ?? 'VALUE'}` : `--${name}`;
}

/** Words of `text` in lines of at most `width` characters (an overlong word gets a line of its own). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      if (line !== '' && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else line = line === '' ? word : `${line} ${word}`;
    }
    lines.push(line);
  }
  return lines;
}

/** The help of a command: usage line, description, one entry per option, footer. */
export function helpText<O extends OptionSpecs>(spec: CommandSpec<O>): string {
  const entries: Array<[string, string]> = Object.entries(spec.options).map(([name, option]) => [
    termOf(name, option),
    `${option.description}${option.env ? ` [${option.env}]` : ''}`,
  ]);
  entries.push(['--version', 'the version of firstframe'], ['-h, --help', 'this text']);
  const column = Math.max(...entries.map(([term]) => term.length)) + 4;
  const options = entries.map(([term, description]) => {
    const [first = '', ...rest] = wrap(description, HELP_WIDTH - column);
    return [`  ${term.padEnd(column - 2)}${first}`, ...rest.map((line) => `${' '.repeat(column)}${line}`)]
      .join('\n')
      .trimEnd();
  });
  return [
    `usage: firstframe ${spec.name} ${spec.usage}`,
    ...(spec.description ? [spec.description] : []),
    `options:\n${options.join('\n')}`,
    ...(spec.footer ? [spec.footer] : []),
  ].join('\n\n');
}

/** A value the command line lacks at its end (`--out` and nothing after it). */
function missingValueAtEnd(argv: readonly string[], options: OptionSpecs): string | undefined {
  const last = argv.at(-1);
  if (last === undefined || argv.includes('--') || !last.startsWith('--') || last.includes('=')) {
    return undefined;
  }
  const name = last.slice(2);
  return options[name]?.type === 'string' ? name : undefined;
}

/** `-5`, `-.5`, `-1e3`: an argument that is a negative number, not an option. */
const isNegativeNumber = (arg: string) => /^-(\d+|\d*\.\d+)(e[+-]?\d+)?$/i.test(arg);

/**
 * Parses a command's arguments with commander. Returns the exit code instead when the command is done:
 * 0 after printing its help (`-h`, `--help`) or the version (`--version`) on stdout. Problems are not
 * thrown: they are returned for the command to list with its own (a ConfigError, or {@link reportUsage}).
 */
export function parseCommand<const O extends OptionSpecs>(
  spec: CommandSpec<O>,
  argv: readonly string[],
  io: { stdout: NodeJS.WritableStream; env?: NodeJS.ProcessEnv },
): ParsedCommand<O> | number {
  const problems: string[] = [];
  const args = [...argv];
  const missing = missingValueAtEnd(args, spec.options);
  if (missing !== undefined) {
    args.pop();
    problems.push(`--${missing}: expected a value`);
  }

  const command = new Command(spec.name)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: () => undefined,
      outputError: () => undefined,
    })
    .configureHelp({ formatHelp: () => `${helpText(spec)}\n` })
    .helpOption('-h, --help')
    .version(packageVersion(), '--version')
    // Unknown options and extra arguments are reported with every other problem, below.
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[arguments...]');
  const attributeOf = new Map<string, string>();
  for (const [name, option] of Object.entries(spec.options)) {
    // `--no-verify` is a switch of its own here, not commander's negation of `--verify`.
    const flags = option.type === 'string' ? `--${name} <value>` : `--${name}`;
    const made = new Option(flags);
    if (option.type === 'boolean' && name.startsWith('no-')) made.negate = false;
    if (option.multiple) {
      made.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
    }
    command.addOption(made);
    attributeOf.set(name, made.attributeName());
  }
  try {
    command.parse(args, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
      problems.push(error.message.replace(/^error: /, ''));
      return { values: {}, positionals: [], sources: {}, problems };
    }
    throw error;
  }

  const parsed = command.opts<Record<string, unknown>>();
  const values: Record<string, unknown> = {};
  const sources: Record<string, 'flag' | 'env'> = {};
  for (const [name, option] of Object.entries(spec.options)) {
    const attribute = attributeOf.get(name)!;
    if (command.getOptionValueSource(attribute) === 'cli') {
      values[name] = parsed[attribute];
      sources[name] = 'flag';
    } else if (
      option.bindEnv &&
      option.type === 'string' &&
      option.env &&
      io.env?.[option.env] !== undefined
    ) {
      values[name] = option.multiple ? [io.env[option.env]] : io.env[option.env];
      sources[name] = 'env';
    }
  }
  // What follows `--` is taken as it is: commander puts it last (after `--` itself when an unknown option
  // came before).
  const literalCount = args.includes('--') ? args.length - args.indexOf('--') - 1 : 0;
  const head = command.args.slice(0, command.args.length - literalCount);
  const literal = command.args.slice(command.args.length - literalCount);
  if (args.includes('--') && head.at(-1) === '--') head.pop();
  const positionals: string[] = [];
  for (const arg of head) {
    if (arg.length > 1 && arg.startsWith('-') && !isNegativeNumber(arg)) {
      const [flag = arg] = arg.split('=', 1);
      const known = spec.options[flag.replace(/^--/, '')];
      problems.push(
        known?.type === 'boolean' && arg.includes('=')
          ? `${flag}: takes no value`
          : `${flag}: unknown option`,
      );
    } else if (spec.positionals) positionals.push(arg);
    else problems.push(`${JSON.stringify(arg)}: unexpected argument`);
  }
  for (const arg of literal) {
    if (spec.positionals) positionals.push(arg);
    else problems.push(`${JSON.stringify(arg)}: unexpected argument`);
  }
  return {
    values: values as OptionValues<O>,
    positionals,
    sources: sources as ParsedCommand<O>['sources'],
    problems,
  };
}

/**
 * For the commands that report their own usage problems (cdn, fixtures, models): every problem, then the
 * help, on stderr; returns 2.
 */
export function reportUsage(
  spec: CommandSpec<OptionSpecs>,
  problems: readonly string[],
  stderr: NodeJS.WritableStream,
): number {
  stderr.write(`firstframe ${spec.name}: bad usage\n${problems.map((line) => `  ${line}\n`).join('')}`);
  stderr.write(`${helpText(spec)}\n`);
  return 2;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** `--log-level LEVEL [LOG_LEVEL]`, the same on every command that logs. */
export function logLevelOption(defaultLevel: string) {
  return {
    type: 'string' as const,
    value: 'LEVEL',
    description: `pino level of the JSON log on stderr (default ${defaultLevel})`,
    env: 'LOG_LEVEL',
    bindEnv: true,
  } satisfies OptionSpec;
}

/** The level `--log-level` or LOG_LEVEL asks for (the flag wins), or `defaultLevel`; a bad one is a problem. */
export function logLevelOf(
  parsed: { values: { 'log-level'?: string }; sources: { 'log-level'?: 'flag' | 'env' } },
  problems: string[],
  defaultLevel: string,
): string {
  const level = parsed.values['log-level'];
  if (level === undefined) return defaultLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    const source = parsed.sources['log-level'] === 'env' ? 'LOG_LEVEL' : '--log-level';
    problems.push(`${source}: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
    return defaultLevel;
  }
  return level;
}

/** `--plugin MODULE`, repeatable, on every command that loads a pipeline. */
export const PLUGIN_OPTION = {
  type: 'string',
  multiple: true,
  value: 'MODULE',
  description:
    'load the operators a module exports (`operators`, made with defineOperator) for the pipeline document to name; a path (relative to the working directory) or a package name (repeatable)',
} as const satisfies OptionSpec;

/**
 * `env` without the variables whose option was given on the command line: the flag wins (flag > environment),
 * so a bad value in a variable it replaces is no problem of this run.
 */
export function envUnderFlags<O extends OptionSpecs>(
  spec: CommandSpec<O>,
  parsed: Pick<ParsedCommand<O>, 'sources'>,
  env: NodeJS.ProcessEnv,
): NodeJS.ProcessEnv {
  const left = { ...env };
  for (const [name, option] of Object.entries(spec.options)) {
    if (option.env && parsed.sources[name as keyof O] === 'flag') delete left[option.env];
  }
  return left;
}

/** The options {@link pipelineFromArgs} reads of a command. */
interface PipelineOptionSpecs extends OptionSpecs {
  pipeline: OptionSpec;
  profile: OptionSpec;
  plugin: OptionSpec;
}

/**
 * The pipeline a command's `--pipeline FILE` or `--profile NAME` names, with its plugins and the command's
 * `--plugin`s loaded, the miners' variables from `env` and the command's own `overrides` laid over it
 * (flag > environment > document: a variable whose option was given is left out, see {@link envUnderFlags}).
 * Throws one ConfigError with the command's `problems` found so far and every problem of the plugins, the
 * document and the environment: the user sees them all at once (exit 2).
 */
export async function pipelineFromArgs<O extends PipelineOptionSpecs>(
  spec: CommandSpec<O>,
  parsed: Pick<ParsedCommand<O>, 'sources' | 'values'>,
  env: NodeJS.ProcessEnv,
  overrides: PipelineDocument,
  problems: readonly string[],
): Promise<ResolvedPipeline> {
  const values = parsed.values as {
    pipeline?: string | undefined;
    profile?: string | undefined;
    plugin?: string[] | undefined;
  };
  const all = [...problems];
  let pipeline: ResolvedPipeline | undefined;
  let code: string = codes.config.usage;
  try {
    pipeline = await loadPipelineWithPlugins({
      ...(values.pipeline !== undefined ? { file: values.pipeline } : {}),
      ...(values.profile !== undefined ? { profile: values.profile } : {}),
      env: readEnvConfig(envUnderFlags(spec, parsed, env)),
      overrides,
      plugins: values.plugin ?? [],
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    if (all.length === 0) code = error.code;
    all.push(...error.problems);
  }
  if (all.length > 0 || !pipeline) throw new ConfigError(code, all);
  return pipeline;
}
