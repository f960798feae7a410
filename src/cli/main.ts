import { ConfigError, isFirstframeError } from '../core/errors.js';
import { readEnvConfig } from '../core/config.js';
import { packageVersion } from './args.js';

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

type Command = (argv: string[], io: CliIo) => Promise<number>;

/** Each command's line in the usage, and its module, imported only when the command runs. */
const COMMANDS: Readonly<Record<string, { line: string; load: () => Promise<Command> }>> = {
  run: {
    line: 'run [URL|FILE]     run a pipeline on a video (no source: the bundled clip over the simulator)',
    load: async () => (await import('./run.js')).runCommand,
  },
  diagnose: {
    line: 'diagnose URL|FILE  one instrumented run: where the time to first result goes, and what to change',
    load: async () => (await import('./diagnose.js')).diagnoseCommand,
  },
  bench: {
    line: 'bench [URL|FILE…]  compare fetch strategies, pipelines, OpenCV and ffmpeg on the same link and file',
    load: async () => (await import('./bench.js')).benchCommand,
  },
  cdn: {
    line: 'cdn DIR            serve DIR over the network simulator (rate, TTFB, Range, HTTP/2, faults)',
    load: async () => (await import('./cdn.js')).cdnCommand,
  },
  serve: {
    line: 'serve              the SN44 challenge server (POST /soccer/challenge, /availability, /healthz, /metrics)',
    load: async () => (await import('./serve.js')).serveCommand,
  },
  fixtures: {
    line: 'fixtures           make the synthetic clips the tests and the default run use',
    load: async () => (await import('./fixtures.js')).fixturesCommand,
  },
  models: {
    line: 'models             generate the bundled ONNX models (detector, pitch pose, benchmark)',
    load: async () => (await import('./models.js')).modelsCommand,
  },
};

const USAGE = `usage: firstframe <command> [options]

commands:
${Object.values(COMMANDS)
  .map(({ line }) => `  ${line}`)
  .join('\n')}
  help [COMMAND]     this text, or a command's options
  version            the version of firstframe (also --version)

Run "firstframe help <command>" or "firstframe <command> --help" for a command's options.`;

/** Commands that check the miners' variables with their own problems (see pipelineFromArgs). */
const READS_ENV_ITSELF = new Set(['run', 'diagnose', 'serve', 'bench']);

const commandOf = (name: string | undefined) =>
  name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;

/** Exit codes: 0 success, 1 a failed run, 2 bad usage or configuration. */
export async function main(argv: string[], io: Partial<CliIo> = {}): Promise<number> {
  const full: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env, ...io };
  const [command, ...rest] = argv;
  const unknown = (name: string) => {
    full.stderr.write(`firstframe: unknown command ${JSON.stringify(name)}\n\n${USAGE}\n`);
    return 2;
  };
  try {
    if (command === undefined) {
      full.stderr.write(`${USAGE}\n`);
      return 2;
    }
    if (command === '--version' || command === '-V' || command === 'version') {
      full.stdout.write(`${packageVersion()}\n`);
      return 0;
    }
    if (command === 'help' || command === '--help' || command === '-h') {
      const topic = rest[0];
      if (topic === undefined) {
        full.stdout.write(`${USAGE}\n`);
        return 0;
      }
      const helped = commandOf(topic);
      return helped ? await (await helped.load())(['--help'], full) : unknown(topic);
    }
    const chosen = commandOf(command);
    if (!chosen) return unknown(command);
    // Bad environment values stop a command at start, with every bad variable named; run, diagnose, serve and bench read
    // the variables themselves, beside their other problems and under their flags (flag > environment), and
    // a command's help is shown whatever the environment holds.
    const helpAsked = rest.some((arg) => arg === '--help' || arg === '-h');
    if (!helpAsked && !READS_ENV_ITSELF.has(command)) readEnvConfig(full.env);
    return await (
      await chosen.load()
    )(rest, full);
  } catch (error) {
    if (error instanceof ConfigError) {
      full.stderr.write(
        `firstframe: ${error.code}: invalid configuration\n${error.problems.map((p) => `  ${p}`).join('\n')}\n`,
      );
      return 2;
    }
    if (isFirstframeError(error)) {
      full.stderr.write(`firstframe: ${error.code}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
