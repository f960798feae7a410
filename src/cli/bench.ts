/**
 * `firstframe bench [URL|FILE ...]`: the fetch strategies (and pipeline documents) side by side on the same
 * link and file, repeated, with OpenCV and the ffmpeg CLI as peers; a table, JSON, or an HTML report.
 */

import { existsSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { readEnvConfig } from '../core/config.js';
import { ConfigError, codes } from '../core/errors.js';
import type { PipelineDocument } from '../pipelines/document.js';
import { isUrl } from '../pipelines/operators.js';
import { writeReport } from '../report/html.js';
import { runBench, type BenchDocument } from '../bench/bench.js';
import { formatBench } from '../bench/bench-text.js';
import { killChildren } from '../bench/children.js';
import { PEER_NAMES, type PeerName } from '../bench/peers.js';
import { progressBar, type ProgressBar } from '../bench/progress.js';
import {
  BENCH_STRATEGIES,
  STRATEGY_PRESETS,
  loadBenchGroups,
  parseStrategyList,
  type BenchGroup,
  type BenchStrategy,
} from '../bench/strategies.js';
import { createRootLogger } from '../core/logger.js';
import {
  PLUGIN_OPTION,
  logLevelOf,
  logLevelOption,
  envUnderFlags,
  parseCommand,
  type CommandSpec,
  type OptionSpecs,
} from './args.js';
import type { CliIo } from './main.js';
import { SEED_RATE_BYTES_PER_SEC, SEED_TTFB_MS } from './run.js';

export const BENCH_COMMAND = {
  name: 'bench',
  usage: '[URL|FILE ...] [options]',
  positionals: true,
  description: `Runs each fetch strategy (and each pipeline document given) several times on the same video and link,
round by round, and compares download time, first frame, first result, total and frames inferred (median,
min, max). OpenCV (cv2.VideoCapture) and the ffmpeg CLI, when installed, are timed to their first frame on
the same URL. With no URL or FILE: the bundled clip (the 30 s bench clip when made with
"firstframe fixtures --profile bench", else the test clip). A FILE, and the bundled clip, are served by
the network simulator at --rate and --ttfb; a URL is used as it is.

strategies: ${BENCH_STRATEGIES.map((strategy) => `${strategy.name} (${strategy.description})`).join(';\n  ')}
presets: ${Object.entries(STRATEGY_PRESETS)
    .map(([name, list]) => `${name} = ${list.join(',')}`)
    .join('; ')}; none = only the --pipeline documents`,
  options: {
    strategies: {
      type: 'string',
      value: 'LIST',
      description: 'comma-separated strategies or presets (default: all)',
    },
    pipeline: {
      type: 'string',
      multiple: true,
      value: 'FILE',
      description: 'also bench this pipeline document (repeatable)',
    },
    plugin: PLUGIN_OPTION,
    model: {
      type: 'string',
      value: 'FILE',
      description:
        'the model every strategy and document runs: an Ultralytics YOLO ONNX export (or bundled:detector, bundled:bench)',
    },
    runs: { type: 'string', value: 'N', description: 'runs per strategy and per peer (default 3)' },
    rate: {
      type: 'string',
      value: 'BYTES/S',
      description: `simulator bandwidth for a FILE or the bundled clip (default ${SEED_RATE_BYTES_PER_SEC})`,
    },
    ttfb: {
      type: 'string',
      value: 'MS',
      description: `simulator time to first byte (default ${SEED_TTFB_MS})`,
    },
    budget: {
      type: 'string',
      value: 'SECONDS',
      description: "time budget of every run (default: each profile's own)",
      env: 'TIME_BUDGET_S',
    },
    peers: { type: 'string', value: 'LIST', description: 'opencv,ffmpeg (default), a subset, or none' },
    out: {
      type: 'string',
      value: 'DIR',
      description: 'write the HTML report (index.html, report.json) there',
    },
    'log-level': logLevelOption('warn'),
    json: { type: 'boolean', description: 'print only the JSON document on stdout' },
  },
  footer: `The miners' environment variables apply to every strategy, except for the source each strategy sets.

exit codes: 0 done (failed runs are listed), 1 the video cannot be reached or no run produced a result,
            2 bad usage or configuration, 130 interrupted (what was measured is still printed).`,
} as const satisfies CommandSpec<OptionSpecs>;

function parseNumber(
  name: string,
  raw: string | undefined,
  problems: string[],
  min: number,
  integer = false,
) {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  const ok =
    raw.trim() !== '' && Number.isFinite(value) && value > min && (!integer || Number.isInteger(value));
  if (!ok) {
    problems.push(
      `--${name}: expected ${integer ? 'an integer' : 'a number'} > ${min}, got ${JSON.stringify(raw)}`,
    );
    return undefined;
  }
  return value;
}

export async function benchCommand(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(BENCH_COMMAND, argv, io);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const problems = [...parsed.problems];
  const level = logLevelOf(parsed, problems, 'warn');

  for (const target of positionals) {
    if (!isUrl(target) && !existsSync(target)) problems.push(`no such file: ${target}`);
  }
  let strategies: BenchStrategy[] = [];
  if (values.strategies === undefined) strategies = [...BENCH_STRATEGIES];
  else if (values.strategies.trim() !== 'none') {
    const list = parseStrategyList(values.strategies);
    strategies = list.strategies;
    problems.push(...list.problems);
  }
  const pipelineFiles = values.pipeline ?? [];
  if (values.strategies?.trim() === 'none' && pipelineFiles.length === 0) {
    problems.push('--strategies none: give at least one --pipeline FILE');
  }
  const runs = parseNumber('runs', values.runs, problems, 0, true) ?? 3;
  const rate = parseNumber('rate', values.rate, problems, 0) ?? SEED_RATE_BYTES_PER_SEC;
  const ttfb = parseNumber('ttfb', values.ttfb, problems, -1) ?? SEED_TTFB_MS;
  const budget = parseNumber('budget', values.budget, problems, 0);
  if (positionals.length > 0 && positionals.every(isUrl)) {
    for (const name of ['rate', 'ttfb'] as const) {
      if (values[name] !== undefined)
        problems.push(`--${name}: only for a FILE or the bundled clip; a URL is used as it is`);
    }
  }
  let peers: PeerName[] = [...PEER_NAMES];
  if (values.peers !== undefined) {
    const items = values.peers
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
    if (items.length === 1 && items[0] === 'none') peers = [];
    else {
      peers = [];
      for (const item of items) {
        if ((PEER_NAMES as readonly string[]).includes(item)) peers.push(item as PeerName);
        else
          problems.push(
            `--peers: unknown peer ${JSON.stringify(item)}; known: ${PEER_NAMES.join(', ')}, or none`,
          );
      }
    }
  }
  const overrides: PipelineDocument = {
    ...(budget !== undefined ? { sink: { budgetS: budget } } : {}),
    ...(values.model !== undefined ? { infer: { model: values.model } } : {}),
  };
  let groups: BenchGroup[] = [];
  let code: string = codes.config.usage;
  try {
    groups = await loadBenchGroups({
      strategies,
      pipelineFiles,
      // flag > environment: a variable whose option was given (--budget) is no problem of this run.
      env: readEnvConfig(envUnderFlags(BENCH_COMMAND, parsed, io.env)),
      overrides,
      plugins: values.plugin ?? [],
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    if (problems.length === 0) code = error.code;
    problems.push(...error.problems);
  }
  if (problems.length > 0) throw new ConfigError(code, problems);

  const aborter = new AbortController();
  const onSignal = () => {
    aborter.abort();
    killChildren();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  io.signal?.addEventListener('abort', onSignal);
  const targets = positionals.length > 0 ? positionals : [undefined];
  const documents: BenchDocument[] = [];
  const reports: Array<{ html: string; json: string }> = [];
  let bar: ProgressBar | undefined;
  try {
    for (const [index, target] of targets.entries()) {
      if (aborter.signal.aborted) break;
      const outcome = await runBench({
        target,
        groups,
        runs,
        link: { rateBytesPerSec: rate, ttfbMs: ttfb },
        peers,
        env: io.env,
        ...(budget !== undefined ? { budgetS: budget } : {}),
        signal: aborter.signal,
        logger: createRootLogger({ level }),
        onProgress: (done, total, label) => {
          bar ??= progressBar(io.stderr, total);
          bar.update(done, target === undefined ? label : `${basename(target)}: ${label}`);
        },
      });
      bar?.end();
      bar = undefined;
      documents.push(outcome.document);
      if (values.out !== undefined) {
        const dir =
          targets.length === 1
            ? values.out
            : join(values.out, `${index + 1}-${basename(target ?? 'bundled', extname(target ?? ''))}`);
        reports.push(await writeReport(dir, outcome.report));
      }
      if (!values.json) io.stdout.write(`${index > 0 ? '\n' : ''}${formatBench(outcome.document)}`);
    }
  } finally {
    bar?.end();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    io.signal?.removeEventListener('abort', onSignal);
    killChildren();
  }
  if (values.json) io.stdout.write(`${JSON.stringify({ benches: documents, reports })}\n`);
  else for (const report of reports) io.stdout.write(`report: ${report.html}\n`);
  return aborter.signal.aborted ? 130 : 0;
}
