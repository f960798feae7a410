/**
 * `firstframe diagnose URL|FILE [--model FILE] [--profile NAME | --pipeline FILE] [--plugin MODULE] [--json]`: one
 * instrumented run, taken apart stage by stage, with a verdict on what to change.
 */

import { existsSync } from 'node:fs';
import { ConfigError, codes } from '../core/errors.js';
import type { PipelineDocument } from '../pipelines/document.js';
import { isUrl } from '../pipelines/operators.js';
import { PROFILES } from '../pipelines/profiles.js';
import { diagnose } from '../bench/diagnose.js';
import { formatDiagnosis } from '../bench/diagnose-text.js';
import { createRootLogger } from '../core/logger.js';
import {
  PLUGIN_OPTION,
  logLevelOf,
  logLevelOption,
  parseCommand,
  pipelineFromArgs,
  type CommandSpec,
  type OptionSpecs,
} from './args.js';
import type { CliIo } from './main.js';

export const DIAGNOSE_COMMAND = {
  name: 'diagnose',
  usage: 'URL|FILE [options]',
  positionals: true,
  description: `Runs the pipeline once on the video, instrumented, and says where the time to the first result went:
DNS, connect, TLS, time to first byte, the container's layout (moov position, fragmented, size, whether
Range is honoured), the bytes the demuxer needed before it opened, decoder start, first frame, model load
and warm-up, first inference and first result; then which part dominated and what to change (the option or
environment variable). The miners' environment variables apply, as for "firstframe run".`,
  options: {
    profile: {
      type: 'string',
      value: 'NAME',
      description: `a shipped profile: ${Object.keys(PROFILES).join(', ')} (default: default)`,
    },
    pipeline: {
      type: 'string',
      value: 'FILE',
      description: 'a pipeline document (YAML or JSON) instead of a profile',
    },
    plugin: PLUGIN_OPTION,
    model: {
      type: 'string',
      value: 'FILE',
      description: 'an Ultralytics YOLO ONNX export (or bundled:detector)',
    },
    'no-probe': {
      type: 'boolean',
      description:
        'no request for the first bytes after the run (Range and moov place stay unknown when the run itself did not tell)',
    },
    'log-level': logLevelOption('warn'),
    json: { type: 'boolean', description: 'print the breakdown and the verdict as one JSON document' },
  },
  footer: `exit codes: 0 diagnosed, 1 the run failed without a result (the diagnosis is still printed),
            2 bad usage or configuration, 130 interrupted.`,
} as const satisfies CommandSpec<OptionSpecs>;

export async function diagnoseCommand(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(DIAGNOSE_COMMAND, argv, io);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const problems = [...parsed.problems];
  const level = logLevelOf(parsed, problems, 'warn');
  const target = positionals[0];
  if (positionals.length !== 1) {
    problems.push(`expected one URL or FILE, got ${positionals.length === 0 ? 'none' : positionals.length}`);
  } else if (target !== undefined && !isUrl(target) && !existsSync(target)) {
    problems.push(`no such file: ${target}`);
  }
  const overrides: PipelineDocument = values.model !== undefined ? { infer: { model: values.model } } : {};
  const pipeline = await pipelineFromArgs(DIAGNOSE_COMMAND, parsed, io.env, overrides, problems);
  if (target === undefined) throw new ConfigError(codes.config.usage, problems);

  const aborter = new AbortController();
  const onSigint = () => aborter.abort();
  process.once('SIGINT', onSigint);
  io.signal?.addEventListener('abort', onSigint);
  try {
    if (!values.json) io.stderr.write(`diagnosing ${target} with ${pipeline.name}…\n`);
    const document = await diagnose(pipeline, target, {
      signal: aborter.signal,
      probe: !values['no-probe'],
      logger: createRootLogger({ level }),
    });
    io.stdout.write(values.json ? `${JSON.stringify(document)}\n` : formatDiagnosis(document));
    const { breakdown } = document;
    if (breakdown.endedBy === 'cancelled') return 130;
    return breakdown.error && breakdown.firstResultAtMs === null ? 1 : 0;
  } finally {
    process.removeListener('SIGINT', onSigint);
    io.signal?.removeEventListener('abort', onSigint);
  }
}
