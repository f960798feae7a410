import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { isLeft } from 'fp-ts/lib/Either.js';
import type { Dispatcher } from 'undici';
import { SourceError } from '../core/errors.js';
import { logEvents } from '../core/log-events.js';
import type { Logger } from '../core/logger.js';
import type { PreparedPipeline, RunDocument, RunLimits } from '../pipelines/runner.js';
import type { Admission, ReleaseSlot } from './admission.js';
import { isRefusal, type FiberAuth } from './fiber-auth.js';
import {
  decodePredict,
  predictCodes,
  predictFailure,
  predictFrames,
  predictOverLimits,
  type PredictFrame,
  type PredictLimits,
  type PredictRequest,
  type PredictResponse,
} from './predict.js';
import { loadFrames, writeMjpeg, type JpegFrame } from './predict-frames.js';
import { readBody } from './request-body.js';
import { sendJson, serverCodes, statusForRunError } from './response.js';
import type { UrlGuard } from './url-guard.js';

/*
 * `POST /predict`, the turbovision contract (src/server/predict.ts), on the challenge server's parts: the
 * same bearer check and fiber signatures, the same run slots, URL guard, dispatcher and limits, the same
 * prepared pipeline for a video URL. JPEG frames run on a variant of it that keeps every frame and does
 * not track (see framesVariant in server.ts), prepared once.
 *
 *     request ─▶ auth ─▶ signed headers ─▶ body ≤ 64 MiB ─▶ signature ─▶ JSON ─▶ limits (413) ─▶ io-ts
 *        ─▶ slot ─▶ url: run the video │ frames: load, check and decode each JPEG, run them as an MJPEG stream
 *        ─▶ { success, predictions: { frames }, error }
 */

export interface PredictRouteParts {
  prepared: PreparedPipeline;
  /** The frames pipeline, prepared on first use and kept. */
  framesPipeline: () => Promise<PreparedPipeline>;
  admission: Admission;
  guard: UrlGuard;
  dispatcher: Dispatcher;
  limits: RunLimits;
  predictLimits: PredictLimits;
  auth: FiberAuth | undefined;
  authorised: (header: string | undefined) => boolean;
  shutdown: AbortSignal;
  retryAfterS: string;
  /** A video's budget, counted from the request's arrival as the challenge route counts it (the server's). */
  budgetMs: number | undefined;
  /** The part of the budget kept for the answer (ServerOptions.answerReserveMs, already bounded). */
  reserveMs: number;
  logger: Logger;
  /** True once the server is stopping: answers close their connection. */
  stopping: () => boolean;
}

export function createPredictRoute(
  parts: PredictRouteParts,
): (request: IncomingMessage, response: ServerResponse, receivedAt?: number) => Promise<void> {
  const { admission, guard, predictLimits, logger, budgetMs } = parts;
  /** Bytes reserved by the predict requests being handled (see PredictLimits.maxBytesInFlight). */
  let bytesInFlight = 0;

  return async function handlePredict(request, response, arrivedAt) {
    const receivedAt = arrivedAt ?? performance.now();
    const clientGone = new AbortController();
    response.once('close', () => {
      if (!response.writableFinished) clientGone.abort(new Error('the client closed the connection'));
    });
    let log = logger.child({ route: '/predict' });
    const send = (status: number, body: PredictResponse, headers: OutgoingHttpHeaders = {}) =>
      sendJson(
        response,
        status,
        // `model`: the pipeline's name, which turbovision's first chute schema (SVPredictOutput) requires.
        { ...body, model: parts.prepared.pipeline.name },
        { ...(parts.stopping() ? { connection: 'close' } : {}), ...headers },
      );
    const refuse = (status: number, code: string, message: string, headers: OutgoingHttpHeaders = {}) => {
      log.info({ event: 'rejected', status, code, message }, 'predict rejected');
      send(status, predictFailure(code, message), headers);
    };

    if (!parts.authorised(request.headers.authorization)) {
      return refuse(401, serverCodes.unauthorized, 'missing or wrong credentials', {
        'www-authenticate': 'Bearer',
      });
    }
    const signed = parts.auth ? await parts.auth.checkHeaders(request.headers) : undefined;
    if (signed && isRefusal(signed)) {
      return refuse(signed.status, signed.code, signed.message, { connection: 'close' });
    }
    if (signed) log = log.child({ validator: signed.validatorHotkey });
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > predictLimits.maxBodyBytes) {
      return refuse(
        413,
        serverCodes.bodyTooLarge,
        `the body is ${declared} bytes; at most ${predictLimits.maxBodyBytes}`,
        {
          connection: 'close',
        },
      );
    }
    const reserved = declared > 0 ? declared : predictLimits.maxBodyBytes;
    if (bytesInFlight + reserved > predictLimits.maxBytesInFlight) {
      return refuse(
        503,
        serverCodes.busy,
        `predict requests holding ${bytesInFlight} bytes are being handled; ${reserved} more would pass the ${predictLimits.maxBytesInFlight} allowed`,
        { 'retry-after': parts.retryAfterS, connection: 'close' },
      );
    }
    // Held until the answer is written or the connection is gone, whichever path this request takes.
    bytesInFlight += reserved;
    response.once('close', () => (bytesInFlight -= reserved));
    const body = await readBody(request, predictLimits.maxBodyBytes, predictLimits.bodyTimeoutMs);
    if (body.kind === 'aborted') return;
    if (body.kind === 'too-large') {
      return refuse(413, serverCodes.bodyTooLarge, `the body is over ${predictLimits.maxBodyBytes} bytes`, {
        connection: 'close',
      });
    }
    if (body.kind === 'timeout') {
      return refuse(
        408,
        serverCodes.bodyTimeout,
        `the body did not arrive within ${predictLimits.bodyTimeoutMs} ms`,
        {
          connection: 'close',
        },
      );
    }
    const badSignature = signed?.verifyBody(body.bytes);
    if (badSignature) return refuse(badSignature.status, badSignature.code, badSignature.message);
    let json: unknown;
    try {
      json = JSON.parse(body.bytes.toString('utf8'));
    } catch (error) {
      return refuse(400, serverCodes.requestJson, `the body is not JSON: ${(error as Error).message}`);
    }
    const over = predictOverLimits(json, predictLimits);
    if (over) return refuse(413, over.code, over.message);
    const decoded = decodePredict(json);
    if (isLeft(decoded))
      return refuse(400, predictCodes.invalid, `not a predict request: ${decoded.left.join('; ')}`);
    const predict: PredictRequest = decoded.right;
    let url: URL | undefined;
    if (predict.url !== undefined) {
      const checked = guard.checkUrl(predict.url.trim());
      if (checked instanceof SourceError)
        return refuse(statusForRunError(checked.code), checked.code, checked.message);
      url = checked;
    }

    const signal = AbortSignal.any([clientGone.signal, parts.shutdown]);
    const entered = admission.enter(signal);
    if (entered === undefined) {
      return refuse(503, serverCodes.busy, 'every run slot and queue place is taken', {
        'retry-after': parts.retryAfterS,
      });
    }
    let release: ReleaseSlot;
    try {
      release = await entered;
    } catch {
      if (!clientGone.signal.aborted)
        refuse(503, serverCodes.shuttingDown, 'the server stopped before this request could start');
      return;
    }
    const nKeypoints = predict.meta?.n_keypoints;
    const keypointOption = nKeypoints !== undefined ? { nKeypoints } : {};
    try {
      if (url) {
        log.info({ event: 'predict', video: `${url.origin}${url.pathname}` }, 'predict received');
        const document = await parts.prepared.run(url.href, {
          signal,
          ...(budgetMs !== undefined ? { deadlineAt: receivedAt + budgetMs - parts.reserveMs } : {}),
          logger: log,
          onEvent: logEvents(log, 'predict'),
          dispatcher: parts.dispatcher,
          limits: parts.limits,
        });
        if (clientGone.signal.aborted) return;
        // With the pipeline's fill stage (the soccer profile's), `document` already answers every frame of the
        // clip: the inferred ones and those filled along the tracks between them.
        return answerRun(document, predictFrames(document, keypointOption));
      }
      const frames = predict.frames!;
      log.info({ event: 'predict', frames: frames.length }, 'predict received');
      const loaded = await loadFrames(frames, {
        guard,
        dispatcher: parts.dispatcher,
        limits: predictLimits,
        runLimits: parts.limits,
        signal,
      });
      if (!Array.isArray(loaded)) {
        if (clientGone.signal.aborted) return;
        return refuse(loaded.status, loaded.code, loaded.message);
      }
      const pipeline = await parts.framesPipeline();
      const stream = await writeMjpeg(loaded);
      let document: RunDocument;
      try {
        document = await pipeline.run(stream.file, { signal, logger: log, limits: parts.limits });
      } finally {
        await stream.dispose();
      }
      if (clientGone.signal.aborted) return;
      return answerFrames(document, loaded, keypointOption);
    } finally {
      release();
    }

    function answerRun(document: RunDocument, answered: PredictFrame[]) {
      const error = document.error;
      if (answered.length === 0) {
        const code = error?.code ?? serverCodes.internal;
        return refuse(
          error ? statusForRunError(code) : 500,
          code,
          error?.message ?? 'the run answered no frame',
        );
      }
      send(200, {
        success: true,
        predictions: { frames: answered },
        error: error ? error.message : null,
        ...(error ? { code: error.code } : {}),
      });
      log.info(
        { event: 'answer', frames: answered.length, ms: Math.round(performance.now() - receivedAt) },
        'predict answered',
      );
    }

    function answerFrames(
      document: RunDocument,
      loaded: readonly JpegFrame[],
      options: { nKeypoints?: number },
    ) {
      const decoded = document.timings.framesDecoded;
      if (decoded !== loaded.length && !(document.timings.endedBy === 'budget' && decoded < loaded.length)) {
        // The MJPEG stream did not split into the JPEGs given (one holding a second SOI, say): which result
        // belongs to which frame_id is unknown, and guessing would answer frames with another's boxes.
        return refuse(
          422,
          predictCodes.frameNotJpeg,
          `FFmpeg read ${decoded} pictures from the ${loaded.length} JPEGs given; cannot tell which is which`,
        );
      }
      // Only frames the model ran on: a fill stage in the pipeline would give the frames the budget cut off
      // an empty answer, which would pass for "nothing there" (framesVariant keeps no tracks to fill from).
      const inferred = { ...document, frames: document.frames.filter((frame) => frame.source !== 'filled') };
      const answered = predictFrames(inferred, {
        frameIds: loaded.map((frame) => frame.frameId),
        ...options,
      });
      if (answered.length === 0) return answerRun(document, answered);
      if (answered.length < loaded.length) {
        send(200, {
          success: false,
          predictions: { frames: answered },
          error: `${answered.length} of ${loaded.length} frames were inferred within the budget`,
          code: predictCodes.incomplete,
        });
        return;
      }
      answerRun(document, answered);
    }
  };
}
