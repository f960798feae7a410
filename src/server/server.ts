import { nextTask } from '../core/next-task.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import { finished } from 'node:stream/promises';
import { isLeft } from 'fp-ts/lib/Either.js';
import { ConfigError, FirstframeError, SourceError, codes } from '../core/errors.js';
import { logEvents, teeSinks } from '../core/log-events.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { ResolvedPipeline } from '../pipelines/document.js';
import { defaultRegistry } from '../pipelines/operators.js';
import {
  preparePipeline,
  type PreparedPipeline,
  type RunDocument,
  type RunLimits,
} from '../pipelines/runner.js';
import { createAdmission, type Admission, type ReleaseSlot } from './admission.js';
import {
  challengeFramesInTasks,
  challengeIdOf,
  decodeChallenge,
  overlongFields,
  overlongProblem,
  type ChallengeResponse,
} from './challenge.js';
import { createFiberAuth, isRefusal, type FiberAuth, type FiberAuthOptions } from './fiber-auth.js';
import { DEFAULT_PREDICT_LIMITS, predictFailure, type PredictLimits } from './predict.js';
import { createPredictRoute } from './predict-route.js';
import { createServerMetrics, type ChallengeOutcome, type ServerMetrics } from './metrics.js';
import {
  errorBody,
  rawErrorResponse,
  sendJson,
  sendJsonText,
  serverCodes,
  statusForRunError,
  type ErrorBody,
} from './response.js';
import { createGuardedDispatcher, createUrlGuard, type UrlGuard, type UrlGuardOptions } from './url-guard.js';
import { readBody } from './request-body.js';
import { keepHostsWarm, type WarmHosts } from './warm-hosts.js';

/**
 * What one challenge may take in. Generous for SN44's clips (about 15 MB, 1280×720, 30 s) and small enough
 * that a hostile URL cannot make a run decode 8K frames or fill memory: the time budget already bounds
 * how long a run lasts, these bound what it costs meanwhile.
 */
export const DEFAULT_LIMITS: Readonly<Required<RunLimits>> = {
  maxBytes: 256 * 1024 * 1024,
  maxWidth: 3840,
  maxHeight: 2160,
  maxDurationS: 600,
};

export interface ServerOptions {
  /**
   * The pipeline every challenge runs. A ResolvedPipeline is prepared (models loaded and warmed up) before
   * the port opens and released by close(); a PreparedPipeline is used as is and stays the caller's.
   */
  pipeline: ResolvedPipeline | PreparedPipeline;
  /** Default 127.0.0.1 (`firstframe serve` listens on 0.0.0.0). */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /** Video URLs may reach loopback, private and other non-public addresses. Default false. */
  allowPrivate?: boolean;
  /** Only video hosts matching these (`cdn.example.com`, `*.example.com`); see UrlGuardOptions.allowHosts. */
  allowHosts?: readonly string[];
  /** Require `Authorization: Bearer <secret>` on every route but /healthz. */
  secret?: string;
  /**
   * Require fiber-signed challenges (see createFiberAuth): the four headers are checked before the body
   * is read, the signature before it is parsed. Without it, challenges are served unsigned: `firstframe
   * serve` makes its operator say so (--no-verify); a library caller decides here.
   */
  signatures?: FiberAuthOptions;
  /** Challenges run at once; default 2. */
  concurrency?: number;
  /** Challenges waiting for a run slot; beyond it 503 with Retry-After. Default 8. */
  queue?: number;
  /** Largest request body; default 64 KiB (a challenge is a few hundred bytes). */
  maxBodyBytes?: number;
  /** A body not complete this long after its head is answered 408; default 5 s. */
  bodyTimeoutMs?: number;
  /** Per-challenge limits; each field defaults to {@link DEFAULT_LIMITS}'s. */
  limits?: RunLimits;
  /** How long close() lets in-flight challenges finish before it cancels them; default 15 s. */
  graceMs?: number;
  /** Keep recently seen video hosts warm (see keepHostsWarm); false turns it off. Default on, 20 s. */
  keepWarm?: { intervalMs?: number; forgetAfterMs?: number; maxHosts?: number } | false;
  /**
   * The root logger; every line of a challenge carries its `challenge_id`. Default: silent. One made by
   * createRootLogger cuts every string at LOG_STRING_MAX_CHARS; a pino logger of your own writes what it
   * is given (a video URL up to 8192 characters, error messages that quote it).
   */
  logger?: Logger;
  /** What one `POST /predict` may carry; each field defaults to DEFAULT_PREDICT_LIMITS's. */
  predictLimits?: Partial<PredictLimits>;
  /**
   * Start preparing the pipeline `POST /predict` runs JPEG frames on (the same models, loaded a second
   * time) as soon as the port is open, so that a validator's first frames request finds it ready or nearly;
   * default false: it is prepared on the first frames request, which waits for it.
   */
  prepareFramesPipeline?: boolean;
  /**
   * Milliseconds of each challenge's budget kept for building and sending the answer after the run: the
   * run's deadline is arrival + budget − this (at most a tenth of the budget). Default 100: measured, the
   * fill, the answer's frames and its JSON take 30–40 ms of the main thread per challenge of 270 frames, and
   * challenges that end at once share it.
   */
  answerReserveMs?: number;
  /** Warm the model up at every batch size the pipeline uses (PrepareOptions.warmBatchSizes); default false. */
  warmBatchSizes?: boolean;
  /** prom-client's default process metrics (CPU, memory, event loop, GC) in /metrics. Default true. */
  processMetrics?: boolean;
  /**
   * FOR TESTS: the URL guard's fake DNS and address exceptions (see UrlGuardOptions); tests have only
   * loopback servers, and use these to let a name stand in for a public host.
   */
  guardHooks?: Pick<UrlGuardOptions, 'lookup' | 'isAllowedAddress'>;
}

export interface ChallengeServer {
  /** `http://HOST:PORT`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly prepared: PreparedPipeline;
  readonly metrics: ServerMetrics;
  /** Challenges running now, and waiting for a slot. */
  inFlight(): number;
  queued(): number;
  /**
   * Stops: the port closes at once (new connections are refused), requests on open connections get 503,
   * in-flight challenges finish (or, after `graceMs`, are cancelled and answered with what they have), then
   * the video connections and (when the server prepared it) the model are released. Calling it again
   * returns the same promise; a shorter `graceMs` cuts the wait short (a second SIGINT).
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

const ROUTES = ['/soccer/challenge', '/predict', '/availability', '/healthz', '/health', '/metrics'] as const;
type Route = (typeof ROUTES)[number];

/**
 * The pipeline JPEG frames run on: the same document with every frame kept (a stride would drop frames the
 * validator asked about) and no tracking (frames need not be consecutive, and the answer has no ids).
 *
 * NOTE: preparing it loads the models a second time. A runner entry point that runs decoded frames through
 * an already prepared pipeline's batch, infer and sink stages (`PreparedPipeline.runFrames$`) would share them.
 */
export function framesVariant(pipeline: ResolvedPipeline): ResolvedPipeline {
  const registry = defaultRegistry();
  const everyNth = registry.get('stride', 'every-nth');
  const none = registry.get('track', 'none');
  if (!everyNth || !none) throw new Error('the default registry lacks stride every-nth or track none');
  return {
    ...pipeline,
    name: `${pipeline.name}+frames`,
    stages: {
      ...pipeline.stages,
      stride: { operator: 'every-nth', options: { every: 1 }, definition: everyNth },
      track: { operator: 'none', options: {}, definition: none },
    },
  };
}

function isPrepared(pipeline: ResolvedPipeline | PreparedPipeline): pipeline is PreparedPipeline {
  return typeof (pipeline as PreparedPipeline).run$ === 'function';
}

/**
 * True when the request carries the secret. Both sides are hashed first, so the comparison is constant
 * time whatever the lengths (timingSafeEqual needs equal lengths, and comparing lengths would leak one).
 */
function bearerChecker(secret: string | undefined): (header: string | undefined) => boolean {
  if (secret === undefined) return () => true;
  const expected = createHash('sha256').update(secret).digest();
  return (header) => {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
    const given = createHash('sha256')
      .update(match?.[1] ?? '')
      .digest();
    return timingSafeEqual(given, expected) && match !== null;
  };
}

const round = (ms: number, digits = 3) => Math.round(ms * 10 ** digits) / 10 ** digits;

/** A Server-Timing header value (milliseconds): what the challenge's time went to, for clients and bench/serve.ts. */
function serverTiming(entries: Record<string, number | null | undefined>): string {
  return Object.entries(entries)
    .filter((entry): entry is [string, number] => typeof entry[1] === 'number')
    .map(([name, ms]) => `${name};dur=${round(ms)}`)
    .join(', ');
}

/**
 * Each challenge in flight holds one of libuv's threads while its demuxer waits for bytes, and decoding,
 * scaling and closing need more: with libuv's default of 4, four challenges at once were measured to decode
 * one frame each in 3 s. The pool's size is fixed before any JavaScript of ours runs (UV_THREADPOOL_SIZE,
 * which bin/firstframe and the pm2 file set to 16), so a server started from a user's own process can only
 * say so, once, at warn level.
 */
function warnIfPoolSmall(concurrency: number, logger: Logger): void {
  const poolSize = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const needed = 2 * concurrency + 2;
  if (poolSize >= needed) return;
  logger.warn(
    { event: 'threadpool-small', poolSize, concurrency, needed },
    `UV_THREADPOOL_SIZE is ${poolSize}: with ${concurrency} challenges at once decoding can stall (each open demuxer holds a libuv thread); set UV_THREADPOOL_SIZE=${Math.max(16, needed)} before Node starts`,
  );
}

/**
 * Starts the SN44 challenge server on node:http: `POST /soccer/challenge`, `GET /availability`,
 * `GET /healthz`, `GET /metrics`. The pipeline is prepared (models loaded and warmed up) before the port
 * opens, and shared by every challenge: each challenge is an independent run of it.
 *
 * The body is read as JSON whatever its Content-Type says (clients send application/json, none, or a
 * library's default such as text/plain or form-urlencoded; refusing those would lose challenges for nothing).
 *
 *     request ─▶ auth ─▶ body ≤ 64 KiB ─▶ JSON ─▶ io-ts ─▶ URL check ─▶ slot (or queue, or 503)
 *        ─▶ run (guarded dispatcher, limits, signal) ─▶ answer JSON (200 with frames, or 4xx/5xx)
 *
 * The run's signal aborts when the client goes away (its download stops at once) or when the shutdown
 * grace period ends. Every video request goes through one guarded dispatcher: scheme, allowlist, and the
 * addresses actually connected to (loopback and private ones refused unless `allowPrivate`). Its kept-alive
 * sockets outlive a challenge, and {@link keepHostsWarm} sends a HEAD to recent hosts between challenges.
 *
 * @example
 * const server = await startServer({ pipeline: loadPipeline({ profile: 'soccer', env }), port: 8000 });
 * process.once('SIGTERM', () => void server.close());
 *
 * @throws ConfigError (FF_ERR_INVALID_OPTION) for bad options (every problem at once) or a port that
 * cannot be listened on; the pipeline's errors when it cannot be prepared.
 */
export async function startServer(options: ServerOptions): Promise<ChallengeServer> {
  const problems: string[] = [];
  const positive = (name: keyof ServerOptions, value: unknown) => {
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value > 0)) {
      problems.push(`${name}: expected a positive number, got ${JSON.stringify(value)}`);
    }
  };
  positive('maxBodyBytes', options.maxBodyBytes);
  positive('bodyTimeoutMs', options.bodyTimeoutMs);
  if (
    options.graceMs !== undefined &&
    !(typeof options.graceMs === 'number' && Number.isFinite(options.graceMs) && options.graceMs >= 0)
  ) {
    problems.push(`graceMs: expected a number >= 0, got ${JSON.stringify(options.graceMs)}`);
  }
  if (options.secret !== undefined && (typeof options.secret !== 'string' || options.secret === '')) {
    problems.push('secret: expected a non-empty string');
  }
  const collect = <T>(make: () => T): T | undefined => {
    try {
      return make();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
      return undefined;
    }
  };
  const maybeAdmission = collect(() =>
    createAdmission({ concurrency: options.concurrency ?? 2, queue: options.queue ?? 8 }),
  );
  const guardOptions: UrlGuardOptions = {
    allowPrivate: options.allowPrivate ?? false,
    ...(options.allowHosts ? { allowHosts: options.allowHosts } : {}),
    ...options.guardHooks,
  };
  const maybeGuard = collect(() => createUrlGuard(guardOptions));
  const auth: FiberAuth | undefined = options.signatures
    ? collect(() =>
        createFiberAuth({
          ...options.signatures!,
          logger: options.signatures!.logger ?? options.logger ?? silentLogger,
        }),
      )
    : undefined;
  if (problems.length > 0 || !maybeAdmission || !maybeGuard || (options.signatures && !auth)) {
    throw new ConfigError(codes.config.invalidOption, problems, { component: 'server' });
  }
  const admission: Admission = maybeAdmission;
  const guard: UrlGuard = maybeGuard;

  const logger = options.logger ?? silentLogger;
  warnIfPoolSmall(admission.concurrency, logger);
  const owned = !isPrepared(options.pipeline);
  const prepared = isPrepared(options.pipeline)
    ? options.pipeline
    : await preparePipeline(options.pipeline, {
        logger,
        onEvent: logEvents(logger, 'setup'),
        ...(options.warmBatchSizes ? { warmBatchSizes: true } : {}),
      });
  const dispatcher = createGuardedDispatcher(guardOptions);
  const warmHosts: WarmHosts | undefined =
    options.keepWarm === false ? undefined : keepHostsWarm({ dispatcher, logger, ...options.keepWarm });
  const metrics = createServerMetrics(admission, { processMetrics: options.processMetrics ?? true });
  const limits: RunLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 5000;
  const defaultGraceMs = options.graceMs ?? 15_000;
  const authorised = bearerChecker(options.secret);
  const predictLimits: PredictLimits = { ...DEFAULT_PREDICT_LIMITS, ...options.predictLimits };
  let framesPrepared: Promise<PreparedPipeline> | undefined;
  const framesPipeline = () => {
    // The same model stage as the served pipeline's: no second session or copy of the weights. The served
    // pipeline's preparation already warmed this process's decoding and its model (warm-up, prime): a
    // request that prepares this one on its way pays neither again (100–400 ms).
    framesPrepared ??= preparePipeline(framesVariant(prepared.pipeline), {
      logger,
      inferFrom: prepared,
      warmDecode: false,
      prime: false,
    });
    // A failed preparation is tried again by the next request.
    framesPrepared.catch(() => (framesPrepared = undefined));
    return framesPrepared;
  };
  const budgetS = Number(prepared.pipeline.stages.sink.options.budgetS ?? 10);
  const sinkBudgetS = prepared.pipeline.stages.sink.options.budgetS;
  /** A challenge's budget, counted from its arrival; undefined when the sink has none of its own. */
  const budgetMs =
    typeof sinkBudgetS === 'number' && Number.isFinite(sinkBudgetS) ? sinkBudgetS * 1000 : undefined;
  /** The part of the budget kept for the answer (see ServerOptions.answerReserveMs). */
  const reserveMs =
    budgetMs === undefined ? 0 : Math.min(Math.max(0, options.answerReserveMs ?? 100), budgetMs / 10);
  // A slot frees within one budget at most: as good a hint as any for when to come back.
  const retryAfterS = String(Math.max(1, Math.ceil(Number.isFinite(budgetS) ? budgetS : 10)));

  let stopping: Promise<void> | undefined;
  let stopped = false;
  const shutdown = new AbortController();
  const graceTimers: NodeJS.Timeout[] = [];
  /** Every challenge request being handled, so that close() can wait for their answers. */
  const pending = new Set<Promise<void>>();
  /** The response being written on a socket, for the clientError path. */
  const responseOn = new WeakMap<Socket, ServerResponse>();

  const handlePredict = createPredictRoute({
    prepared,
    framesPipeline,
    admission,
    guard,
    dispatcher,
    limits,
    predictLimits,
    auth,
    authorised,
    shutdown: shutdown.signal,
    retryAfterS,
    budgetMs,
    reserveMs,
    logger,
    stopping: () => stopping !== undefined,
  });

  const send = (response: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}) =>
    sendJson(response, status, body, { ...(stopping ? { connection: 'close' } : {}), ...headers });

  const unauthorised = (response: ServerResponse, challengeId?: string | null) =>
    send(
      response,
      401,
      errorBody(
        serverCodes.unauthorized,
        'missing or wrong credentials: send "Authorization: Bearer <secret>"',
        {
          ...(challengeId !== undefined ? { challengeId } : {}),
        },
      ),
      { 'www-authenticate': 'Bearer' },
    );

  async function handleChallenge(request: IncomingMessage, response: ServerResponse, receivedAt: number) {
    const clientGone = new AbortController();
    response.once('close', () => {
      if (!response.writableFinished) clientGone.abort(new Error('the client closed the connection'));
    });
    let challengeId: string | null = null;
    let log = logger;
    const reject = (
      status: number,
      code: string,
      message: string,
      extra: { problems?: string[]; headers?: OutgoingHttpHeaders } = {},
    ) => {
      metrics.observeChallenge({ outcome: 'rejected', errorCode: code });
      log.info({ event: 'rejected', status, code, message }, 'challenge rejected');
      send(
        response,
        status,
        errorBody(code, message, { challengeId, ...(extra.problems ? { problems: extra.problems } : {}) }),
        extra.headers,
      );
    };

    if (!authorised(request.headers.authorization)) {
      metrics.observeChallenge({ outcome: 'rejected', errorCode: serverCodes.unauthorized });
      return unauthorised(response, null);
    }
    // The headers first: a refused sender's body is not read (so the connection cannot be reused).
    const signed = auth ? await auth.checkHeaders(request.headers) : undefined;
    if (signed && isRefusal(signed)) {
      return reject(signed.status, signed.code, signed.message, { headers: { connection: 'close' } });
    }
    if (signed) log = logger.child({ validator: signed.validatorHotkey });
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) {
      // The body is not read: the connection cannot be reused after this answer.
      return reject(
        413,
        serverCodes.bodyTooLarge,
        `the body is ${declared} bytes; at most ${maxBodyBytes} are accepted`,
        { headers: { connection: 'close' } },
      );
    }
    const body = await readBody(request, maxBodyBytes, bodyTimeoutMs);
    if (body.kind === 'aborted') {
      metrics.observeChallenge({ outcome: 'cancelled' });
      return;
    }
    if (body.kind === 'too-large') {
      return reject(413, serverCodes.bodyTooLarge, `the body is over the ${maxBodyBytes} bytes accepted`, {
        headers: { connection: 'close' },
      });
    }
    if (body.kind === 'timeout') {
      return reject(
        408,
        serverCodes.bodyTimeout,
        `the body did not arrive within ${bodyTimeoutMs} ms (is Content-Length right?)`,
        { headers: { connection: 'close' } },
      );
    }
    const badSignature = signed?.verifyBody(body.bytes);
    if (badSignature) return reject(badSignature.status, badSignature.code, badSignature.message);
    let json: unknown;
    try {
      json = JSON.parse(body.bytes.toString('utf8'));
    } catch (error) {
      return reject(400, serverCodes.requestJson, `the body is not JSON: ${(error as Error).message}`);
    }
    // Before anything else reads the body: an overlong id is neither echoed nor put on a log line.
    const overlong = overlongFields(json);
    if (!overlong.some(({ field }) => field === 'challenge_id')) challengeId = challengeIdOf(json);
    if (challengeId !== null) log = log.child({ challenge_id: challengeId });
    if (overlong.length > 0) {
      const problems = overlong.map(overlongProblem);
      return reject(400, serverCodes.fieldTooLong, `fields too long: ${problems.join('; ')}`, { problems });
    }
    const decoded = decodeChallenge(json);
    if (isLeft(decoded)) {
      return reject(400, serverCodes.requestInvalid, `not a challenge: ${decoded.left.join('; ')}`, {
        problems: decoded.left,
      });
    }
    const challenge = decoded.right;
    const url = guard.checkUrl(challenge.video_url.trim());
    if (url instanceof SourceError) return reject(statusForRunError(url.code), url.code, url.message);

    const runSignal = AbortSignal.any([clientGone.signal, shutdown.signal]);
    const queued = !admission.available;
    const entered = admission.enter(runSignal);
    if (entered === undefined) {
      return reject(
        503,
        serverCodes.busy,
        `all ${admission.concurrency} run slots and ${admission.queued} queue places are taken`,
        { headers: { 'retry-after': retryAfterS } },
      );
    }
    log.info(
      {
        event: 'challenge',
        type: challenge.type,
        video: `${url.origin}${url.pathname}`,
        queued,
      },
      'challenge received',
    );
    const queuedAt = performance.now();
    let release: ReleaseSlot;
    try {
      release = await entered;
    } catch {
      if (shutdown.signal.aborted && !clientGone.signal.aborted) {
        return reject(503, serverCodes.shuttingDown, 'the server stopped before this challenge could start');
      }
      metrics.observeChallenge({ outcome: 'cancelled' });
      log.info({ event: 'cancelled' }, 'the client went away while the challenge was queued');
      return;
    }
    const runStartedAt = performance.now();
    const queueMs = runStartedAt - queuedAt;
    const beforeRunMs = runStartedAt - receivedAt - queueMs;
    // The budget counts from the request's arrival: what the body, the checks and the queue took is gone.
    // The run stops `reserveMs` before that, so that the answer is built and sent by the end of the budget.
    const deadlineAt = budgetMs === undefined ? undefined : receivedAt + budgetMs - reserveMs;
    warmHosts?.started(url);
    let document: RunDocument;
    try {
      document = await prepared.run(url.href, {
        signal: runSignal,
        logger: log,
        onEvent: teeSinks(logEvents(log, challenge.challenge_id), metrics.runSink()),
        dispatcher,
        limits,
        ...(deadlineAt !== undefined ? { deadlineAt } : {}),
      });
    } finally {
      release();
      warmHosts?.ended(url);
    }
    const runEndedAt = performance.now();
    metrics.observeRun(document);

    // The answer is built in tasks of its own, each well under the 50 ms the event loop may be held: the
    // run's last task filled the frames; the frames' conversion (about 25 ms for 270 filled 720p frames, 64
    // frames a task) and the JSON text (about 7 ms for 600 KB) follow, so timers and other challenges run in
    // between.
    const frames = await challengeFramesInTasks(document, nextTask);
    const endedBy = document.timings.endedBy;
    let status = 200;
    let outcome: ChallengeOutcome;
    let error = document.error;
    if (endedBy === 'cancelled' && clientGone.signal.aborted) {
      metrics.observeChallenge({ outcome: 'cancelled', durationMs: runEndedAt - receivedAt, queueMs });
      log.info({ event: 'cancelled', frames: frames.length }, 'the client went away; the run was cancelled');
      return;
    }
    if (endedBy === 'cancelled') {
      error = {
        code: serverCodes.shuttingDown,
        message: 'the server is stopping: the grace period ended this run',
      };
      status = frames.length > 0 ? 200 : 503;
      outcome = 'cancelled';
    } else if (error && frames.length === 0) {
      status = statusForRunError(error.code);
      outcome = 'failed';
    } else if (error) {
      outcome = 'partial';
    } else {
      outcome = endedBy === 'budget' ? 'budget' : 'complete';
    }
    const processingMs = performance.now() - receivedAt;
    const answer: ChallengeResponse | ErrorBody =
      status === 200
        ? {
            challenge_id: challenge.challenge_id,
            frames,
            processing_time: round(processingMs / 1000),
            ...(error ? { error } : {}),
          }
        : errorBody(error!.code, error!.message, { challengeId: challenge.challenge_id });
    await nextTask();
    const text = JSON.stringify(answer);
    const respondMs = performance.now() - runEndedAt;
    const overheadMs = beforeRunMs + respondMs;
    sendJsonText(response, status, text, {
      ...(stopping ? { connection: 'close' } : {}),
      'server-timing': serverTiming({
        request: beforeRunMs,
        queue: queueMs,
        // What was left of the budget when the run started: the budget less `request` and `queue`.
        budget: deadlineAt === undefined ? undefined : deadlineAt - runStartedAt,
        // What was kept of the budget for the answer.
        reserve: deadlineAt === undefined ? undefined : reserveMs,
        run: runEndedAt - runStartedAt,
        'first-frame': document.timings.firstFrameMs,
        'first-result': document.timings.firstResultMs,
        respond: respondMs,
        overhead: overheadMs,
      }),
    });
    metrics.observeChallenge({
      outcome,
      ...(error ? { errorCode: error.code } : {}),
      durationMs: processingMs,
      overheadMs,
      queueMs,
    });
    log.info(
      {
        event: 'answer',
        status,
        outcome,
        frames: frames.length,
        endedBy,
        processing_time: round(processingMs / 1000),
        overheadMs: round(overheadMs),
        ...(error ? { code: error.code } : {}),
      },
      'challenge answered',
    );
  }

  function handle(request: IncomingMessage, response: ServerResponse): void {
    const receivedAt = performance.now();
    const path = (request.url ?? '/').split('?', 1)[0] as Route;
    const route = (ROUTES as readonly string[]).includes(path) ? path : 'other';
    const socket = request.socket;
    responseOn.set(socket, response);
    response.once('close', () => {
      if (responseOn.get(socket) === response) responseOn.delete(socket);
    });
    response.once('finish', () => metrics.observeResponse(route, response.statusCode));

    if (stopping) {
      send(response, 503, errorBody(serverCodes.shuttingDown, 'the server is stopping'));
      return;
    }
    const method = request.method ?? 'GET';
    const allow = route === '/soccer/challenge' || route === '/predict' ? ['POST'] : ['GET', 'HEAD'];
    if (route === 'other') {
      send(
        response,
        404,
        errorBody(serverCodes.notFound, `no route ${JSON.stringify(path)}; try ${ROUTES.join(', ')}`),
      );
      return;
    }
    if (!allow.includes(method)) {
      send(response, 405, errorBody(serverCodes.methodNotAllowed, `${path} takes ${allow.join(', ')}`), {
        allow: allow.join(', '),
      });
      return;
    }
    switch (route) {
      case '/healthz':
      case '/health':
        // The models were loaded before the port opened: listening means healthy.
        send(response, 200, { status: 'ok' });
        return;
      case '/availability':
        if (!authorised(request.headers.authorization)) return unauthorised(response);
        send(response, 200, { available: admission.available });
        return;
      case '/metrics':
        if (!authorised(request.headers.authorization)) return unauthorised(response);
        metrics.text().then(
          (text) => {
            if (response.headersSent || response.destroyed) return;
            response.writeHead(200, {
              'content-type': metrics.contentType,
              'content-length': Buffer.byteLength(text),
              'cache-control': 'no-store',
            });
            response.end(text);
          },
          (error: unknown) => {
            logger.error({ event: 'metrics-failed', err: (error as Error).message }, 'metrics failed');
            send(response, 500, errorBody(serverCodes.internal, 'metrics could not be collected'));
          },
        );
        return;
      case '/soccer/challenge':
      case '/predict': {
        const handler =
          route === '/predict'
            ? handlePredict(request, response, receivedAt)
            : handleChallenge(request, response, receivedAt);
        const work: Promise<void> = handler
          .catch((error: unknown) => {
            logger.error(
              { event: 'internal', err: error instanceof Error ? error.stack : String(error) },
              'challenge failed',
            );
            metrics.observeChallenge({ outcome: 'failed', errorCode: serverCodes.internal });
            send(
              response,
              500,
              route === '/predict'
                ? predictFailure(serverCodes.internal, 'internal error')
                : errorBody(serverCodes.internal, 'internal error', { challengeId: null }),
            );
          })
          // An answer counts as given once its bytes are handed to the socket: close() waits for that.
          .then(() => (response.headersSent ? finished(response).catch(() => undefined) : undefined))
          .finally(() => pending.delete(work));
        pending.add(work);
        return;
      }
    }
  }

  const server: Server = createServer(
    {
      // Backstops; the challenge route's own body timeout answers first, in JSON.
      requestTimeout: 30_000,
      headersTimeout: 10_000,
      keepAliveTimeout: 5_000,
    },
    handle,
  );
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    const inFlight = responseOn.get(socket);
    if (inFlight && !inFlight.writableFinished) {
      // The parser gave up on what followed a request still being answered: answer that one, then close.
      if (!inFlight.headersSent) inFlight.setHeader('connection', 'close');
      inFlight.once('close', () => socket.destroy());
      return;
    }
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status =
      error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const code =
      status === 431
        ? serverCodes.headersTooLarge
        : status === 408
          ? serverCodes.bodyTimeout
          : serverCodes.badRequest;
    const reason = (error as { reason?: string }).reason ?? error.message;
    metrics.observeResponse('other', status);
    socket.end(rawErrorResponse(status, errorBody(code, `malformed HTTP request: ${reason}`)));
  });

  const host = options.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) =>
      reject(
        new ConfigError(
          codes.config.invalidOption,
          [`port: cannot listen on ${host}:${options.port ?? 0} (${error.code ?? error.message})`],
          { host, port: options.port },
        ),
      );
    server.once('error', onError);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : (options.port ?? 0));
    });
  }).catch(async (error: unknown) => {
    warmHosts?.close();
    await dispatcher.destroy().catch(() => undefined);
    if (owned) await prepared.release();
    throw error;
  });
  const urlHost =
    host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  logger.info(
    { event: 'listening', host, port, pipeline: prepared.pipeline.name, setupMs: round(prepared.setupMs, 1) },
    'challenge server listening',
  );
  if (options.prepareFramesPipeline) {
    framesPipeline().then(
      () => logger.info({ event: 'frames-pipeline-ready' }, 'the /predict frames pipeline is ready'),
      (error: unknown) =>
        logger.error(
          { event: 'frames-pipeline-failed', err: (error as Error).message },
          'frames pipeline failed',
        ),
    );
  }

  const abortRuns = () =>
    shutdown.abort(new FirstframeError(serverCodes.shuttingDown, 'the shutdown grace period ended'));

  const close = (closeOptions: { graceMs?: number } = {}): Promise<void> => {
    const graceMs = closeOptions.graceMs ?? defaultGraceMs;
    if (!stopped) {
      const timer = setTimeout(abortRuns, graceMs);
      // The grace period is no reason to stay alive once every answer is out.
      timer.unref();
      graceTimers.push(timer);
    }
    stopping ??= (async () => {
      logger.info(
        { event: 'stopping', inFlight: admission.active, queued: admission.queued, graceMs },
        'stopping',
      );
      const listenerClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      while (pending.size > 0) await Promise.allSettled([...pending]);
      for (const timer of graceTimers) clearTimeout(timer);
      server.closeIdleConnections();
      server.closeAllConnections();
      await listenerClosed;
      warmHosts?.close();
      await dispatcher.destroy().catch(() => undefined);
      if (owned) await prepared.release();
      await framesPrepared?.then((frames) => frames.release()).catch(() => undefined);
      stopped = true;
      logger.info({ event: 'stopped' }, 'stopped');
    })();
    return stopping;
  };

  return {
    url: `http://${urlHost}:${port}`,
    host,
    port,
    prepared,
    metrics,
    inFlight: () => admission.active,
    queued: () => admission.queued,
    close,
  };
}
