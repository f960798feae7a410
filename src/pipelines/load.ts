import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../core/errors.js';
import type { EnvConfig } from '../core/config.js';
import {
  mergeDocuments,
  parsePipelineText,
  resolvePipeline,
  type UntypedPipelineDocument,
  type ResolvedPipeline,
} from './document.js';
import { defaultRegistry } from './operators.js';
import { PROFILES } from './profiles.js';
import { loadPluginGroups } from './plugins.js';
import { copyRegistry, pipelineCodes, type OperatorRegistry } from './registry.js';

/**
 * The miners' environment variables as a partial pipeline document, laid over a profile or a document.
 * `base` is what they are laid on (some variables switch an operator only relative to it). Returns the
 * overrides and the conflicts between variables, each as one line.
 *
 * | variable | document |
 * |---|---|
 * | PARTIAL_DOWNLOAD=1 / 0 | source.operator http-partial / (if partial) http-stream |
 * | STREAMING_DOWNLOAD, CHUNKED_STREAMING =0 | download first: http-full, or http-partial with buffered |
 * | PARTIAL_DOWNLOAD_MB | source.partialMb |
 * | STREAM_MIN_START_BYTES, STREAM_BUFFER_TIMEOUT_S | decode.minStartBytes, decode.minStartWaitS |
 * | USE_NVDEC, NVDEC_OUT_W, NVDEC_OUT_H | decode.operator beamcoder-nvdec, decode.outWidth/outHeight |
 * | IMG_SIZE, PREFETCH_FRAMES | imgSize, prefetch.frames |
 * | FRAME_STRIDE | stride.every |
 * | BATCH_SIZE, RAMP_UP, RAMP_UP_FIRST_BATCH, EARLY_FLUSH_FIRST_FRAME | batch.size, batch.rampUp, batch.earlyFlushFirstFrame |
 * | DEVICE, CONF_THRESHOLD, MAX_DETECTIONS | infer.device, infer.confThreshold, infer.maxDetections |
 * | TIME_BUDGET_S, START_BUDGET_AFTER_FIRST_FRAME | sink.budgetS, sink.startAfterFirstFrame |
 * | DISABLE_TRACKING=1 | track.operator none |
 * | SKIP_PITCH | infer.skipPitch (soccer) |
 */
export function envOverrides(
  env: EnvConfig,
  base: UntypedPipelineDocument,
): { document: UntypedPipelineDocument; conflicts: string[] } {
  const conflicts: string[] = [];
  const source: Record<string, unknown> = {};
  const decode: Record<string, unknown> = {};
  const batch: Record<string, unknown> = {};
  const infer: Record<string, unknown> = {};
  const sink: Record<string, unknown> = {};
  const document: UntypedPipelineDocument = {};

  const streaming = [env.STREAMING_DOWNLOAD, env.CHUNKED_STREAMING].filter((v) => v !== undefined);
  if (streaming.length === 2 && streaming[0] !== streaming[1]) {
    conflicts.push(
      `STREAMING_DOWNLOAD=${env.STREAMING_DOWNLOAD ? 1 : 0} conflicts with CHUNKED_STREAMING=${env.CHUNKED_STREAMING ? 1 : 0}`,
    );
  }
  const downloadFirst = streaming.includes(false);
  const baseOperator = base.source?.operator;
  if (env.PARTIAL_DOWNLOAD === true) {
    source.operator = 'http-partial';
    if (downloadFirst) source.buffered = true;
  } else if (downloadFirst) {
    source.operator = 'http-full';
  } else if (env.PARTIAL_DOWNLOAD === false && baseOperator === 'http-partial') {
    source.operator = 'http-stream';
  } else if (streaming.includes(true) && baseOperator === 'http-full') {
    source.operator = 'http-stream';
  }
  if (env.PARTIAL_DOWNLOAD_MB !== undefined) source.partialMb = env.PARTIAL_DOWNLOAD_MB;

  if (env.STREAM_MIN_START_BYTES !== undefined) decode.minStartBytes = env.STREAM_MIN_START_BYTES;
  if (env.STREAM_BUFFER_TIMEOUT_S !== undefined) decode.minStartWaitS = env.STREAM_BUFFER_TIMEOUT_S;
  if (env.USE_NVDEC !== undefined) {
    const operator = env.USE_NVDEC ? 'beamcoder-nvdec' : 'beamcoder';
    if (operator !== base.decode?.operator) {
      // Switching the operator drops the base's decode options, so carry over the shared ones.
      const { operator: _previous, outWidth: _w, outHeight: _h, ...shared } = base.decode ?? {};
      Object.assign(decode, shared);
    }
    decode.operator = operator;
  }
  if (env.NVDEC_OUT_W !== undefined || env.NVDEC_OUT_H !== undefined) {
    if (
      env.USE_NVDEC === true ||
      (env.USE_NVDEC === undefined && base.decode?.operator === 'beamcoder-nvdec')
    ) {
      if (env.NVDEC_OUT_W !== undefined) decode.outWidth = env.NVDEC_OUT_W;
      if (env.NVDEC_OUT_H !== undefined) decode.outHeight = env.NVDEC_OUT_H;
    }
  }

  if (env.IMG_SIZE !== undefined) document.imgSize = env.IMG_SIZE;
  if (env.PREFETCH_FRAMES !== undefined) document.prefetch = { frames: env.PREFETCH_FRAMES };
  if (env.FRAME_STRIDE !== undefined) document.stride = { every: env.FRAME_STRIDE };

  if (env.BATCH_SIZE !== undefined) batch.size = env.BATCH_SIZE;
  if (env.RAMP_UP === false && env.RAMP_UP_FIRST_BATCH !== undefined) {
    conflicts.push(`RAMP_UP=0 conflicts with RAMP_UP_FIRST_BATCH=${env.RAMP_UP_FIRST_BATCH}`);
  }
  if (env.RAMP_UP_FIRST_BATCH !== undefined && env.RAMP_UP !== false) batch.rampUp = env.RAMP_UP_FIRST_BATCH;
  else if (env.RAMP_UP === false) batch.rampUp = false;
  else if (env.RAMP_UP === true && !base.batch?.rampUp) batch.rampUp = true;
  if (env.EARLY_FLUSH_FIRST_FRAME !== undefined) batch.earlyFlushFirstFrame = env.EARLY_FLUSH_FIRST_FRAME;

  if (env.DEVICE !== undefined) infer.device = env.DEVICE;
  if (env.CONF_THRESHOLD !== undefined) infer.confThreshold = env.CONF_THRESHOLD;
  if (env.MAX_DETECTIONS !== undefined) infer.maxDetections = env.MAX_DETECTIONS;

  if (env.TIME_BUDGET_S !== undefined) sink.budgetS = env.TIME_BUDGET_S;
  if (env.START_BUDGET_AFTER_FIRST_FRAME !== undefined) {
    sink.startAfterFirstFrame = env.START_BUDGET_AFTER_FIRST_FRAME;
  }

  if (env.SKIP_PITCH !== undefined && (base.infer?.operator === 'soccer' || infer.operator === 'soccer')) {
    infer.skipPitch = env.SKIP_PITCH;
  }
  if (env.DISABLE_TRACKING === true) document.track = { operator: 'none' };

  const stages = { source, decode, batch, infer, sink } as const;
  for (const [kind, options] of Object.entries(stages)) {
    if (Object.keys(options).length > 0) (document as Record<string, unknown>)[kind] = options;
  }
  return { document, conflicts };
}

export interface LoadPipelineOptions {
  /** A shipped profile's name; default `default` when no document is given. */
  profile?: string;
  /** A pipeline document file (YAML or JSON). */
  file?: string;
  /** A document given as an object (TypeScript users). */
  document?: UntypedPipelineDocument;
  /**
   * Where a `document` object's relative paths (models, plugins) point from; default the working
   * directory. A `file`'s are relative to its own directory.
   */
  baseDir?: string;
  /** The miners' variables, laid over the profile or document; omit to use none. */
  env?: EnvConfig;
  /** Laid over everything else (command-line options). */
  overrides?: UntypedPipelineDocument;
  registry?: OperatorRegistry;
}

/** The document a load starts from (a file's, a given object, a profile) and where it points from. */
interface BaseDocument {
  readonly base: UntypedPipelineDocument;
  readonly origin: string | undefined;
  readonly baseDir: string;
  /** The base is a shipped profile (not the user's document). */
  readonly fromProfile: boolean;
}

function readBase(options: LoadPipelineOptions): BaseDocument {
  const given = [options.profile, options.file, options.document].filter((v) => v !== undefined);
  if (given.length > 1) {
    throw new ConfigError(pipelineCodes.conflict, [
      'give one of a profile, a pipeline file or a document (a document can start from a profile with `extends`)',
    ]);
  }
  if (options.file !== undefined) {
    const path = resolve(options.file);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError(pipelineCodes.invalid, [
        `${options.file}: cannot read the pipeline document: ${(error as Error).message}`,
      ]);
    }
    return {
      base: parsePipelineText(text, options.file),
      origin: options.file,
      baseDir: dirname(path),
      fromProfile: false,
    };
  }
  const baseDir = resolve(options.baseDir ?? process.cwd());
  if (options.document !== undefined) {
    return { base: options.document, origin: undefined, baseDir, fromProfile: false };
  }
  const name = options.profile ?? 'default';
  const profile = PROFILES[name];
  if (!profile) {
    throw new ConfigError(pipelineCodes.unknownProfile, [
      `unknown profile ${JSON.stringify(name)}; known: ${Object.keys(PROFILES).join(', ')}`,
    ]);
  }
  return { base: profile, origin: undefined, baseDir, fromProfile: true };
}

function resolveLoaded(
  { base, origin, baseDir, fromProfile }: BaseDocument,
  options: LoadPipelineOptions,
  registry: OperatorRegistry,
): ResolvedPipeline {
  const extended =
    typeof base.extends === 'string' && PROFILES[base.extends]
      ? mergeDocuments(PROFILES[base.extends]!, base, { registry })
      : base;
  const env = options.env ? envOverrides(options.env, extended) : { document: {}, conflicts: [] };
  // With the registry, an option laid over a stage list goes to the member whose operator takes it.
  const merged = mergeDocuments(
    mergeDocuments(extended, env.document, { registry }),
    options.overrides ?? {},
    {
      registry,
    },
  );
  let resolved: ResolvedPipeline | undefined;
  const problems = [...env.conflicts];
  try {
    resolved = resolvePipeline(merged, {
      registry,
      profiles: PROFILES,
      baseDir,
      ...(origin ? { origin } : {}),
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  if (problems.length > 0 || !resolved) {
    throw new ConfigError(
      problems.length === env.conflicts.length ? pipelineCodes.conflict : pipelineCodes.invalid,
      problems,
    );
  }
  // A shipped profile's imgSize is a preference: a model with a fixed input size overrides it.
  const imgSizeGiven =
    options.overrides?.imgSize !== undefined ||
    env.document.imgSize !== undefined ||
    (!fromProfile && base.imgSize !== undefined);
  return { ...resolved, imgSizeGiven };
}

/**
 * Builds a checked pipeline from a profile or a document, with environment variables over it and
 * command-line options over both. Every problem (unknown profile or operator, invalid option, conflicting
 * settings) is reported at once in one ConfigError. A document's `plugins` are not loaded here (this is
 * synchronous): use {@link loadPipelineWithPlugins}, or register the plugins' operators on `registry`.
 */
export function loadPipeline(options: LoadPipelineOptions = {}): ResolvedPipeline {
  const base = readBase(options);
  try {
    return resolveLoaded(base, options, options.registry ?? defaultRegistry());
  } catch (error) {
    const plugins = base.base.plugins;
    const unknown = error instanceof ConfigError && error.problems.some((line) => line.includes('unknown'));
    if (!unknown || !Array.isArray(plugins) || plugins.length === 0) throw error;
    throw new ConfigError(
      (error as ConfigError).code,
      [
        ...(error as ConfigError).problems,
        `plugins: ${plugins.join(', ')} not loaded: loadPipeline is synchronous; use loadPipelineWithPlugins, or register their operators on \`registry\``,
      ],
      (error as ConfigError).context,
    );
  }
}

/**
 * {@link loadPipeline} with plugins: the document is read first, then its `plugins` (relative to the
 * document file's directory; for a `document` object, to `options.baseDir` or the working directory) and
 * `options.plugins` (command-line `--plugin`s, relative to the working directory) are imported and their
 * operators registered in a fresh registry made from `options.registry` (default the shipped operators;
 * the given registry is left as it was), and the pipeline is resolved with it. Plugin problems (FF_ERR_PLUGIN_NOT_FOUND,
 * FF_ERR_PLUGIN_INVALID, FF_ERR_DUPLICATE_OPERATOR) are reported all at once before the document's own.
 */
export async function loadPipelineWithPlugins(
  options: LoadPipelineOptions & { plugins?: readonly string[] } = {},
): Promise<ResolvedPipeline> {
  const base = readBase(options);
  const registry = copyRegistry(options.registry ?? defaultRegistry());
  const fromDocument = Array.isArray(base.base.plugins) ? base.base.plugins : [];
  await loadPluginGroups(
    [
      { specifiers: fromDocument, baseDir: base.baseDir },
      { specifiers: options.plugins ?? [], baseDir: process.cwd() },
    ],
    registry,
  );
  return resolveLoaded(base, options, registry);
}
