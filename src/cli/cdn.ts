import { stat } from 'node:fs/promises';
import { isFirstframeError, ConfigError } from '../core/errors.js';
import {
  startNetSim,
  type NetSimFault,
  type NetSimOptions,
  type NetSimRequestRecord,
} from '../sim/netsim.js';
import { netSimOptionProblems } from '../sim/options.js';
import { parseCommand, reportUsage, type CommandSpec, type OptionSpecs } from './args.js';

/**
 * `firstframe cdn DIR`: serves a directory through the network simulator, like a slow CDN, until SIGINT,
 * SIGTERM or the caller's abort signal.
 *
 *     firstframe cdn DIR [--port N] [--host H] [--rate RATE] [--ttfb MS] [--no-range] [--http2]
 *                        [--stall-after N] [--reset-after N] [--status N] [--cl-excess N] [--slow-headers MS]
 *
 * RATE is bytes per second, written as a number with an optional unit and an optional `/s`:
 * - `1660000`, `1660000B`, `1660000B/s`: bytes per second;
 * - decimal units `k`/`K` (1000), `M` (1000²), `G` (1000³): `500KB`, `500kB`, `1.66MB` (= 1 660 000), `1.66M`;
 * - binary units `Ki` (1024), `Mi` (1024²), `Gi` (1024³): `512KiB`, `2MiB` (= 2 097 152), `2Mi/s`.
 * A lower-case `b` (bits) is refused rather than guessed at.
 *
 * On start it prints one JSON line to stdout, `{"url":"http://127.0.0.1:PORT","root":"DIR"}` (with `"ca"`,
 * the certificate PEM, when it serves TLS), then one human line to stderr, then a stderr line per finished
 * request. Exit codes: 0 after a clean stop, 2 for bad usage (every problem named), 1 if serving failed.
 *
 * @example
 *   firstframe cdn fixtures --rate 1.66MB --ttfb 100
 *   curl -r 0-99 "$(…url…)/clip.mp4?ff-stall-after=50"
 */

export const CDN_COMMAND = {
  name: 'cdn',
  usage: 'DIR [options]',
  positionals: true,
  options: {
    port: { type: 'string', value: 'N', description: 'port to listen on (default 0: any free port)' },
    host: { type: 'string', value: 'H', description: 'address to listen on (default 127.0.0.1)' },
    rate: {
      type: 'string',
      value: 'RATE',
      description: 'bandwidth cap per response: 1660000, 1.66MB, 500KB, 2MiB (bytes/s; default unlimited)',
    },
    ttfb: { type: 'string', value: 'MS', description: 'delay before each response head (default 0)' },
    'no-range': {
      type: 'boolean',
      description: 'ignore Range requests, always answer 200 with the whole file',
    },
    http2: {
      type: 'boolean',
      description: 'serve HTTP/2 and HTTP/1.1 over TLS (self-signed certificate made with openssl)',
    },
    'stall-after': {
      type: 'string',
      value: 'N',
      description: 'send N body bytes, then nothing, keeping the connection open',
    },
    'reset-after': {
      type: 'string',
      value: 'N',
      description: 'send N body bytes, then reset the connection',
    },
    status: { type: 'string', value: 'N', description: 'answer every request with status N' },
    'cl-excess': {
      type: 'string',
      value: 'N',
      description: 'declare N more bytes in Content-Length than are sent, then close',
    },
    'slow-headers': {
      type: 'string',
      value: 'MS',
      description: 'trickle each response head over MS milliseconds',
    },
  },
  footer: `Per-request overrides go in the query string: ff-rate, ff-ttfb-ms, ff-range, ff-status, ff-stall-after,
ff-reset-after, ff-cl-excess, ff-slow-headers-ms.`,
} as const satisfies CommandSpec<OptionSpecs>;

const unitFactors: Record<string, number> = {
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
};

/**
 * Reads a rate in bytes per second (`1.66MB` → 1 660 000, `2MiB` → 2 097 152); undefined when the text is
 * not one of the forms documented above or is not positive.
 */
export function parseRate(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?|\.\d+)\s*(k|K|M|G|Ki|Mi|Gi)?B?(?:\/s)?$/.exec(text.trim());
  if (match === null) return undefined;
  const [, amount = '', unit = ''] = match;
  const bytesPerSec = Math.round(Number(amount) * (unitFactors[unit] ?? Number.NaN));
  return Number.isFinite(bytesPerSec) && bytesPerSec > 0 ? bytesPerSec : undefined;
}

/** The flag each simulator option path comes from, to name flags in the simulator's own problem lines. */
const flagOfOptionPath: Record<string, string> = {
  port: '--port',
  host: '--host',
  rateBytesPerSec: '--rate',
  ttfbMs: '--ttfb',
  'fault.stallAfterBytes': '--stall-after',
  'fault.resetAfterBytes': '--reset-after',
  'fault.status': '--status',
  'fault.contentLengthExcess': '--cl-excess',
  'fault.slowHeadersMs': '--slow-headers',
};

/** A plain decimal number (no sign, no exponent), as the numeric flags take. */
function parseNumber(text: string): number | undefined {
  return /^(\d+(\.\d+)?|\.\d+)$/.test(text.trim()) ? Number(text) : undefined;
}

interface CdnArguments {
  dir: string;
  simOptions: NetSimOptions;
}

/** Reads argv into simulator options, or every problem with it; the exit code after --help or --version. */
async function readArguments(
  argv: string[],
  io: { stdout: NodeJS.WritableStream },
): Promise<CdnArguments | { problems: string[] } | number> {
  const parsed = parseCommand(CDN_COMMAND, argv, io);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const problems = [...parsed.problems];

  const text = (name: keyof typeof values): string | undefined =>
    typeof values[name] === 'string' ? values[name] : undefined;
  const numberFlag = (name: keyof typeof values, expected: string): number | undefined => {
    const raw = text(name);
    if (raw === undefined) return undefined;
    const parsed = parseNumber(raw);
    if (parsed === undefined) problems.push(`--${name}: expected ${expected}, got ${JSON.stringify(raw)}`);
    return parsed;
  };

  const rateText = text('rate');
  const rateBytesPerSec = rateText === undefined ? undefined : parseRate(rateText);
  if (rateText !== undefined && rateBytesPerSec === undefined) {
    problems.push(
      `--rate: expected bytes per second such as 1660000, 1.66MB, 500KB or 2MiB, got ${JSON.stringify(rateText)}`,
    );
  }
  const fault: NetSimFault = {};
  const faultFlags = [
    ['stall-after', 'stallAfterBytes', 'a byte count'],
    ['reset-after', 'resetAfterBytes', 'a byte count'],
    ['status', 'status', 'an HTTP status code'],
    ['cl-excess', 'contentLengthExcess', 'a byte count'],
    ['slow-headers', 'slowHeadersMs', 'milliseconds'],
  ] as const;
  for (const [flag, key, expected] of faultFlags) {
    const value = numberFlag(flag, expected);
    if (value !== undefined) fault[key] = value;
  }
  const port = numberFlag('port', 'a port number');
  const ttfbMs = numberFlag('ttfb', 'milliseconds');
  const host = text('host');

  const [dir, ...extra] = positionals;
  if (dir === undefined) problems.push('DIR: missing (the directory to serve)');
  for (const unexpected of extra) problems.push(`${JSON.stringify(unexpected)}: unexpected argument`);
  if (dir !== undefined) {
    try {
      if (!(await stat(dir)).isDirectory()) problems.push(`DIR: ${JSON.stringify(dir)} is not a directory`);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      problems.push(`DIR: ${JSON.stringify(dir)} is not a directory (${String(code ?? error)})`);
    }
  }

  const simOptions: NetSimOptions = {
    ...(dir === undefined ? {} : { root: dir }),
    ...(host === undefined ? {} : { host }),
    ...(port === undefined ? {} : { port }),
    ...(rateBytesPerSec === undefined ? {} : { rateBytesPerSec }),
    ...(ttfbMs === undefined ? {} : { ttfbMs }),
    range: values['no-range'] !== true,
    http2: values.http2 === true,
    ...(Object.keys(fault).length === 0 ? {} : { fault }),
  };
  // The simulator's own checks (ranges of values), named by flag; the root was checked above.
  for (const problem of netSimOptionProblems(simOptions)) {
    const path = problem.slice(0, problem.indexOf(':'));
    const flag = flagOfOptionPath[path];
    if (flag !== undefined) problems.push(`${flag}${problem.slice(path.length)}`);
  }
  if (problems.length > 0 || dir === undefined) return { problems };
  return { dir, simOptions };
}

function describeSettings(simOptions: NetSimOptions): string {
  const parts = [
    simOptions.rateBytesPerSec === undefined ? 'unlimited rate' : `${simOptions.rateBytesPerSec} B/s`,
    `ttfb ${simOptions.ttfbMs ?? 0} ms`,
    simOptions.range === false ? 'ranges ignored' : 'ranges honoured',
  ];
  if (simOptions.http2 === true) parts.push('HTTP/2 + HTTP/1.1 over TLS');
  const faults = Object.entries(simOptions.fault ?? {}).map(([name, value]) => `${name}=${String(value)}`);
  parts.push(faults.length === 0 ? 'no faults' : `faults: ${faults.join(', ')}`);
  return parts.join(', ');
}

function describeRequest(record: NetSimRequestRecord): string {
  const ms = record.endedAt === undefined ? 0 : Math.round(record.endedAt - record.receivedAt);
  return (
    `netsim: ${record.method} ${record.path} HTTP/${record.httpVersion} ${record.status} ` +
    `${record.bodyBytesSent}/${record.bodyBytesPlanned} B in ${ms} ms (${record.outcome})\n`
  );
}

/** Resolves on SIGINT, SIGTERM or `signal` aborting, and removes its listeners. */
function untilStopped(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    signal?.addEventListener('abort', stop);
    if (signal?.aborted === true) stop();
  });
}

/**
 * Runs `firstframe cdn`. Resolves with the exit code once the simulator is closed: 0 after SIGINT,
 * SIGTERM or `io.signal`; 2 for bad usage; 1 when the simulator failed to start for another reason.
 */
export async function cdnCommand(
  argv: string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream; signal?: AbortSignal },
): Promise<number> {
  const parsed = await readArguments(argv, io);
  if (typeof parsed === 'number') return parsed;
  if ('problems' in parsed) return reportUsage(CDN_COMMAND, parsed.problems, io.stderr);
  const { dir, simOptions } = parsed;
  let sim;
  try {
    sim = await startNetSim(simOptions);
  } catch (error) {
    if (error instanceof ConfigError) {
      io.stderr.write(
        `firstframe cdn: cannot start\n${error.problems.map((line) => `  ${line}\n`).join('')}`,
      );
      return 2;
    }
    io.stderr.write(
      `firstframe cdn: cannot start: ${isFirstframeError(error) ? error.message : String(error)}\n`,
    );
    return 1;
  }
  const onRequestEnd = (record: NetSimRequestRecord): void => void io.stderr.write(describeRequest(record));
  sim.events.on('request-end', onRequestEnd);
  try {
    const ready = {
      url: sim.url,
      root: dir,
      ...(sim.tlsOptions === undefined ? {} : { ca: sim.tlsOptions.ca }),
    };
    io.stdout.write(`${JSON.stringify(ready)}\n`);
    io.stderr.write(
      `netsim: serving ${dir} at ${sim.url} (${describeSettings(simOptions)}); Ctrl-C stops it\n`,
    );
    await untilStopped(io.signal);
  } finally {
    await sim.close();
    sim.events.off('request-end', onRequestEnd);
  }
  return 0;
}
