import { parseArgs, type ParseArgsConfig } from 'node:util';
import { readEnvConfig } from '../core/config.js';
import { ConfigError, codes } from '../core/errors.js';
import type { PipelineDocument, ResolvedPipeline } from '../pipelines/document.js';
import { loadPipeline } from '../pipelines/load.js';

export type CommandOptions = NonNullable<ParseArgsConfig['options']>;
const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;
type Config<O extends CommandOptions> = {
  args: string[];
  options: O & typeof HELP_OPTION;
  allowPositionals: boolean;
  strict: true;
};
/** Parsed values (typed by the options given) and positionals. */
export type CommandArgs<O extends CommandOptions> = ReturnType<typeof parseArgs<Config<O>>>;

/**
 * A command's arguments, parsed strictly, with `-h/--help` added. Returns the exit code instead when the
 * command is done: 0 after printing the usage for --help, 2 after an unknown or malformed option (message
 * and usage on stderr).
 */
export function parseCommandArgs<const O extends CommandOptions>(
  command: string,
  usage: string,
  argv: string[],
  options: O,
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
  allowPositionals = false,
): CommandArgs<O> | number {
  let parsed: CommandArgs<O>;
  try {
    parsed = parseArgs<Config<O>>({
      args: argv,
      options: { ...options, ...HELP_OPTION },
      allowPositionals,
      strict: true,
    });
  } catch (error) {
    io.stderr.write(`firstframe ${command}: ${(error as Error).message}\n${usage}\n`);
    return 2;
  }
  if ((parsed.values as { help?: boolean }).help) {
    io.stdout.write(`${usage}\n`);
    return 0;
  }
  return parsed;
}

/**
 * The pipeline a command's `--pipeline FILE` or `--profile NAME` names, with the miners' variables from `env`
 * and the command's own `overrides` laid over it. Throws one ConfigError with the command's `problems` found
 * so far and every problem of the document and the environment: the user sees them all at once (exit 2).
 */
export function pipelineFromArgs(
  values: { pipeline?: string | undefined; profile?: string | undefined },
  env: NodeJS.ProcessEnv,
  overrides: PipelineDocument,
  problems: readonly string[],
): ResolvedPipeline {
  const all = [...problems];
  let pipeline: ResolvedPipeline | undefined;
  let code: string = codes.config.usage;
  try {
    pipeline = loadPipeline({
      ...(values.pipeline !== undefined ? { file: values.pipeline } : {}),
      ...(values.profile !== undefined ? { profile: values.profile } : {}),
      env: readEnvConfig(env),
      overrides,
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    if (all.length === 0) code = error.code;
    all.push(...error.problems);
  }
  if (all.length > 0 || !pipeline) throw new ConfigError(code, all);
  return pipeline;
}
