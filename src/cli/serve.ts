import { ALLOCATOR_TUNABLES, allocatorTuning } from '../core/allocator.cjs';
import { readEnvConfig, type EnvConfig } from '../core/config.js';
import { createRootLogger } from '../core/logger.js';
import { lowerComputeThreads } from '../core/thread-priority.js';
import { ConfigError, codes } from '../core/errors.js';
import type { ResolvedPipeline } from '../pipelines/document.js';
import { loadPipelineWithPlugins } from '../pipelines/load.js';
import { PROFILES } from '../pipelines/profiles.js';
import type { RunLimits } from '../pipelines/runner.js';
import { DEFAULT_LIMITS, startServer } from '../server/server.js';
import { readServeSettings, type ServeSettings } from '../server/settings.js';
import { PLUGIN_OPTION, logLevelOption, parseCommand, type CommandSpec, type OptionSpecs } from './args.js';
import type { CliIo } from './main.js';

const MIB = 1024 * 1024;
/** Decoding and inference below the event loop: see src/core/thread-priority.ts and README (On time under load). */
const DEFAULT_COMPUTE_NICE = 10;

const env = (name: string) => ({ env: name });

export const SERVE_COMMAND = {
  name: 'serve',
  usage: '[options]',
  description: `Serves SN44 challenges over HTTP. The pipeline's models are loaded and warmed up before the port opens;
then one JSON line goes to stdout ({"url", "pipeline", "setupMs"}) and JSON logs to stderr.

  POST /soccer/challenge   {"challenge_id","type","video_url","created_at"} → {"challenge_id","frames","processing_time"}
  POST /predict            turbovision: {"url"} or {"frames": [{"frame_id","data"|"url"}], "meta"} →
                           {"success","predictions": {"frames": [{"frame_id","boxes","keypoints"}]},"error"}
  GET  /availability       {"available": false while every run slot is taken}
  GET  /healthz, /health   {"status": "ok"} (no auth)
  GET  /metrics            Prometheus text

Each option's environment variable is in brackets; a flag wins over its variable.`,
  options: {
    port: {
      type: 'string',
      value: 'N',
      description: 'port (default 8000; 0: any free port)',
      ...env('FIRSTFRAME_PORT'),
    },
    host: {
      type: 'string',
      value: 'H',
      description: 'address to listen on (default 0.0.0.0)',
      ...env('FIRSTFRAME_HOST'),
    },
    profile: {
      type: 'string',
      value: 'NAME',
      description: `a shipped profile: ${Object.keys(PROFILES).join(', ')} (default: soccer when shipped, else default)`,
      ...env('FIRSTFRAME_PROFILE'),
    },
    pipeline: {
      type: 'string',
      value: 'FILE',
      description: 'a pipeline document instead of a profile',
      ...env('FIRSTFRAME_PIPELINE'),
    },
    plugin: PLUGIN_OPTION,
    concurrency: {
      type: 'string',
      value: 'N',
      description: 'challenges run at once (default 2)',
      ...env('FIRSTFRAME_CONCURRENCY'),
    },
    queue: {
      type: 'string',
      value: 'N',
      description: 'challenges waiting for a slot; beyond it 503 + Retry-After (default 8)',
      ...env('FIRSTFRAME_QUEUE'),
    },
    'miner-hotkey': {
      type: 'string',
      value: 'SS58',
      description:
        "this miner's hotkey: challenges must be fiber-signed for it (validator-hotkey, miner-hotkey, nonce, signature headers)",
      ...env('MINER_HOTKEY'),
    },
    'validator-hotkey': {
      type: 'string',
      multiple: true,
      value: 'SS58',
      description: 'a validator that may call (repeatable)',
      ...env('VALIDATOR_HOTKEYS=a,b'),
    },
    metagraph: {
      type: 'string',
      value: 'FILE',
      description: 'JSON snapshot {hotkey: stake}; callers must be in it (re-read when it changes)',
      ...env('FIRSTFRAME_METAGRAPH'),
    },
    'min-stake': {
      type: 'string',
      value: 'N',
      description: 'least stake a caller must hold in the snapshot (default 0)',
      ...env('FIRSTFRAME_MIN_STAKE'),
    },
    'no-verify': {
      type: 'boolean',
      description: 'serve unsigned challenges (required when MINER_HOTKEY is not set)',
      ...env('FIRSTFRAME_NO_VERIFY=1'),
    },
    secret: {
      type: 'string',
      value: 'S',
      description:
        'require "Authorization: Bearer S" (prefer the variable: flags show in ps); validators never send it, so not in front of them',
      ...env('FIRSTFRAME_SECRET'),
    },
    'allow-private': {
      type: 'boolean',
      description: 'video URLs may reach loopback and private addresses (tests, local CDNs)',
      ...env('FIRSTFRAME_ALLOW_PRIVATE=1'),
    },
    'allow-host': {
      type: 'string',
      multiple: true,
      value: 'PATTERN',
      description: 'only these video hosts (repeatable; host or *.suffix)',
      ...env('FIRSTFRAME_ALLOW_HOSTS=a,b'),
    },
    'max-video-mb': {
      type: 'string',
      value: 'N',
      description: `per-challenge download limit in MiB (default ${DEFAULT_LIMITS.maxBytes / MIB})`,
      ...env('FIRSTFRAME_MAX_VIDEO_MB'),
    },
    'max-width': {
      type: 'string',
      value: 'N',
      description: `largest video width (default ${DEFAULT_LIMITS.maxWidth})`,
      ...env('FIRSTFRAME_MAX_WIDTH'),
    },
    'max-height': {
      type: 'string',
      value: 'N',
      description: `largest video height (default ${DEFAULT_LIMITS.maxHeight})`,
      ...env('FIRSTFRAME_MAX_HEIGHT'),
    },
    'max-duration': {
      type: 'string',
      value: 'S',
      description: `latest frame time in seconds (default ${DEFAULT_LIMITS.maxDurationS})`,
      ...env('FIRSTFRAME_MAX_DURATION_S'),
    },
    grace: {
      type: 'string',
      value: 'S',
      description: 'on SIGTERM/SIGINT, seconds in-flight challenges get to finish (default 15)',
      ...env('FIRSTFRAME_GRACE_S'),
    },
    'warm-interval': {
      type: 'string',
      value: 'S',
      description: 'HEAD recent video hosts this often to keep connections warm; 0: off (default 20)',
      ...env('FIRSTFRAME_WARM_INTERVAL_S'),
    },
    'compute-nice': {
      type: 'string',
      value: 'N',
      description: `nice value (0-19) of every thread but the event loop's (decoding, inference): the deadline and the answers go first on a busy machine; 0: off (default ${DEFAULT_COMPUTE_NICE})`,
      ...env('FIRSTFRAME_COMPUTE_NICE'),
    },
    // LOG_LEVEL is read with the other variables by readServeSettings (which names the variable in its problems).
    'log-level': { ...logLevelOption('info'), bindEnv: false },
  },
  footer: `The miners' variables (TIME_BUDGET_S, BATCH_SIZE, DISABLE_TRACKING, …) configure the pipeline as for "run".

A challenge never answers 200 with nothing: no headers or no frame from the video host by the deadline is
504, frames decoded but none inferred within the budget 503, a video with no decodable frame 422, each
with its FF_ERR_ code. challenge_id, type and created_at are capped at 256 characters and video_url at 8192
(400 FF_ERR_FIELD_TOO_LONG, before any fetch); log lines cut every string at 1024 characters.

exit codes: 0 after a clean stop (SIGTERM, SIGINT), 2 bad usage or configuration, 1 failed to start.`,
} as const satisfies CommandSpec<OptionSpecs>;

/**
 * Watches SIGINT, SIGTERM and `signal`: `stopped` resolves with the first one's name, and `again` is called
 * on each later one. `dispose` removes the listeners.
 */
function watchStopSignals(
  signal: AbortSignal | undefined,
  again: () => void,
): { stopped: Promise<string>; dispose(): void } {
  let resolveStopped: (name: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => (resolveStopped = resolve));
  let seen = false;
  const stop = (name: string) => {
    if (seen) return again();
    seen = true;
    resolveStopped(name);
  };
  const onSigint = () => stop('SIGINT');
  const onSigterm = () => stop('SIGTERM');
  const onAbort = () => stop('abort');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  signal?.addEventListener('abort', onAbort);
  if (signal?.aborted) onAbort();
  return {
    stopped,
    dispose() {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}

/**
 * Runs `firstframe serve` until SIGTERM, SIGINT or `io.signal`, then stops gracefully (a second signal cuts
 * the grace period short). Resolves with the exit code; bad settings throw ConfigError (exit 2 in main).
 */
export async function serveCommand(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(SERVE_COMMAND, argv, io);
  if (typeof parsed === 'number') return parsed;
  let settings: ServeSettings = {};
  const problems = [...parsed.problems];
  try {
    settings = readServeSettings(io.env, parsed.values);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  // Before plugins are imported and models load: the runtime's threads (libuv's pool, V8's workers) are
  // told apart from compute threads by being alive now; ONNX Runtime's threads, started from a lowered
  // worker, are lowered from birth. With bad settings nothing is lowered: the command only lists problems.
  const priority = lowerComputeThreads({
    nice: problems.length > 0 ? 0 : (settings.computeNice ?? DEFAULT_COMPUTE_NICE),
  });
  const profile = settings.profile ?? (PROFILES['soccer'] ? 'soccer' : 'default');
  // The settings' problems and the pipeline's (plugins, document, environment) are listed together.
  let pipeline: ResolvedPipeline | undefined;
  let code: string = codes.config.usage;
  let env: EnvConfig | undefined;
  try {
    env = readEnvConfig(io.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  try {
    pipeline = await loadPipelineWithPlugins({
      ...(settings.pipeline !== undefined ? { file: settings.pipeline } : { profile }),
      ...(env ? { env } : {}),
      plugins: parsed.values.plugin ?? [],
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    if (problems.length === 0) code = error.code;
    problems.push(...error.problems);
  }
  if (problems.length > 0 || !pipeline) {
    priority.stop();
    throw new ConfigError(code, problems);
  }
  const limits: RunLimits = {
    ...(settings.maxVideoMb !== undefined ? { maxBytes: Math.round(settings.maxVideoMb * MIB) } : {}),
    ...(settings.maxWidth !== undefined ? { maxWidth: settings.maxWidth } : {}),
    ...(settings.maxHeight !== undefined ? { maxHeight: settings.maxHeight } : {}),
    ...(settings.maxDurationS !== undefined ? { maxDurationS: settings.maxDurationS } : {}),
  };
  const logger = createRootLogger({ level: settings.logLevel ?? 'info' });
  const graceMs = (settings.graceS ?? 15) * 1000;
  const warmIntervalS = settings.warmIntervalS ?? 20;

  const server = await startServer({
    pipeline,
    host: settings.host ?? '0.0.0.0',
    port: settings.port ?? 8000,
    allowPrivate: settings.allowPrivate ?? false,
    ...(settings.allowHosts ? { allowHosts: settings.allowHosts } : {}),
    ...(settings.secret !== undefined ? { secret: settings.secret } : {}),
    ...(settings.concurrency !== undefined ? { concurrency: settings.concurrency } : {}),
    ...(settings.queue !== undefined ? { queue: settings.queue } : {}),
    limits,
    graceMs,
    keepWarm: warmIntervalS > 0 ? { intervalMs: warmIntervalS * 1000 } : false,
    logger,
    // The frames pipeline of /predict loads the models a second time: right after the port opens, not
    // during a validator's first frames request.
    prepareFramesPipeline: true,
    // Prepared once: no real batch pays for its size's first run (a few seconds more before the port opens).
    warmBatchSizes: true,
    ...(settings.noVerify || settings.minerHotkey === undefined
      ? {}
      : {
          signatures: {
            minerHotkey: settings.minerHotkey,
            ...(settings.validatorHotkeys ? { validatorHotkeys: settings.validatorHotkeys } : {}),
            ...(settings.metagraph !== undefined
              ? {
                  metagraph: {
                    file: settings.metagraph,
                    ...(settings.minStake !== undefined ? { minStake: settings.minStake } : {}),
                  },
                }
              : {}),
          },
        }),
  });
  logger.info(
    {
      event: 'compute-priority',
      nice: priority.nice,
      spared: priority.spared,
      supported: priority.supported,
    },
    priority.nice > 0
      ? `decoding and inference at nice ${priority.nice}; the event loop and ${priority.spared} runtime threads (libuv's pool, V8's workers) at 0`
      : 'every thread at the same priority (--compute-nice 0)',
  );
  const allocator = allocatorTuning();
  if (allocator.tuned) {
    logger.info(
      { event: 'allocator', tuned: true, by: allocator.by },
      `glibc's allocator tuned (${allocator.by})`,
    );
  } else {
    logger.warn(
      { event: 'allocator', tuned: false, reason: allocator.reason },
      `glibc's allocator left at its defaults (${allocator.reason}): first frames pay page faults on the clock; start node with GLIBC_TUNABLES=${ALLOCATOR_TUNABLES}`,
    );
  }
  if (settings.noVerify) {
    logger.warn({ event: 'unsigned' }, '--no-verify: challenges are served without checking any signature');
  }
  io.stdout.write(
    `${JSON.stringify({ url: server.url, pipeline: pipeline.name, setupMs: Math.round(server.prepared.setupMs) })}\n`,
  );
  // pm2's wait_ready (ecosystem.config.cjs): traffic is switched over only once the models are loaded.
  process.send?.('ready');

  const watcher = watchStopSignals(io.signal, () => {
    logger.warn({ event: 'stop-now' }, 'second signal: cancelling in-flight challenges now');
    void server.close({ graceMs: 0 });
  });
  try {
    const signal = await watcher.stopped;
    logger.info({ event: 'signal', signal }, `${signal}: stopping`);
    await server.close({ graceMs });
  } finally {
    watcher.dispose();
    priority.stop();
  }
  logger.flush();
  return 0;
}
