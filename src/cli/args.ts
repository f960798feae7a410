import { parseArgs, type ParseArgsConfig } from 'node:util';

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
