import { readFileSync } from 'node:fs';
import { ConfigError, isFirstframeError } from '../core/errors.js';
import { readEnvConfig } from '../core/config.js';

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

const USAGE = `usage: firstframe <command> [options]

commands:
  run [URL|FILE]     run a pipeline on a video (no source: the bundled clip over the simulator)
  diagnose URL|FILE  one instrumented run: where the time to first result goes, and what to change
  bench [URL|FILE…]  compare fetch strategies, pipelines, OpenCV and ffmpeg on the same link and file
  cdn DIR            serve DIR over the network simulator (rate, TTFB, Range, HTTP/2, faults)
  serve              the SN44 challenge server (POST /soccer/challenge, /availability, /healthz, /metrics)
  fixtures           make the synthetic clips the tests and the default run use
  models             generate the bundled ONNX models (detector, pitch pose, benchmark)
  help               this text

Run "firstframe <command> --help" for a command's options.`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Exit codes: 0 success, 1 a failed run, 2 bad usage or configuration. */
export async function main(argv: string[], io: Partial<CliIo> = {}): Promise<number> {
  const full: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env, ...io };
  const [command, ...rest] = argv;
  try {
    // Bad environment values stop every command at start, with every bad variable named.
    readEnvConfig(full.env);
    switch (command) {
      case 'run':
        return await (await import('./run.js')).runCommand(rest, full);
      case 'diagnose':
        return await (await import('./diagnose.js')).diagnoseCommand(rest, full);
      case 'bench':
        return await (await import('./bench.js')).benchCommand(rest, full);
      case 'cdn':
        return await (await import('./cdn.js')).cdnCommand(rest, full);
      case 'serve':
        return await (await import('./serve.js')).serveCommand(rest, full);
      case 'fixtures':
        return await (await import('./fixtures.js')).fixturesCommand(rest, full);
      case 'models':
        return await (await import('./models.js')).modelsCommand(rest, full);
      case undefined:
        full.stderr.write(`${USAGE}\n`);
        return 2;
      case 'help':
      case '--help':
      case '-h':
        full.stdout.write(`${USAGE}\n`);
        return 0;
      case '--version':
      case 'version':
        full.stdout.write(`${version()}\n`);
        return 0;
      default:
        full.stderr.write(`firstframe: unknown command ${JSON.stringify(command)}\n\n${USAGE}\n`);
        return 2;
    }
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
