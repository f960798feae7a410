import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { codes } from '../core/errors.js';
import { budgetCodes } from '../operators/stride-budget.js';
import { limitCodes } from '../pipelines/runner.js';

/**
 * The codes the challenge server adds to the pipeline's (src/core/errors.ts): what was wrong with the HTTP
 * request itself, or why the server would not take it. Clients match on `error.code`, as everywhere.
 */
export const serverCodes = {
  /** The HTTP framing was broken (a malformed Content-Length, a bad header line, bytes past the body). */
  badRequest: 'FF_ERR_BAD_REQUEST',
  /** The body is not JSON. */
  requestJson: 'FF_ERR_REQUEST_JSON',
  /** The body is JSON but not a challenge; `error.problems` lists every field that is wrong. */
  requestInvalid: 'FF_ERR_REQUEST_INVALID',
  /**
   * A field is longer than the server takes (challenge_id 256 characters, video_url 8192: see
   * CHALLENGE_FIELD_MAX_CHARS); `error.problems` names each with its length and limit. Nothing was fetched.
   */
  fieldTooLong: 'FF_ERR_FIELD_TOO_LONG',
  bodyTooLarge: 'FF_ERR_BODY_TOO_LARGE',
  /** The client declared more body than it sent, and stopped sending. */
  bodyTimeout: 'FF_ERR_BODY_TIMEOUT',
  headersTooLarge: 'FF_ERR_HEADERS_TOO_LARGE',
  unauthorized: 'FF_ERR_UNAUTHORIZED',
  notFound: 'FF_ERR_NOT_FOUND',
  methodNotAllowed: 'FF_ERR_METHOD_NOT_ALLOWED',
  /** Every run slot and every queue place is taken; retry after `Retry-After` seconds. */
  busy: 'FF_ERR_BUSY',
  /** The server is stopping: it takes no new challenge, or the grace period ended this one. */
  shuttingDown: 'FF_ERR_SHUTTING_DOWN',
  internal: 'FF_ERR_INTERNAL',
} as const;

/** What every error response carries. `problems` only for FF_ERR_REQUEST_INVALID and FF_ERR_FIELD_TOO_LONG. */
export interface ErrorBody {
  error: { code: string; message: string; problems?: string[] };
  /** The challenge's id when the body had one (null when it could not be read); absent off the challenge route. */
  challenge_id?: string | null;
}

const sourceCodes = new Set<string>(Object.values(codes.source));
const decodeCodes = new Set<string>(Object.values(codes.decode));
const limitCodeSet = new Set<string>(Object.values(limitCodes));
/** The video host did not answer, or not enough, in time. */
const hostTimeoutCodes = new Set<string>([
  codes.run.noHeadersByDeadline,
  codes.run.noFrameByDeadline,
  codes.source.connectTimeout,
  codes.source.headersTimeout,
  codes.source.stalled,
]);

/**
 * The HTTP status of a run that failed before any frame was done, by its error code:
 *
 * | code | status | why |
 * |---|---|---|
 * | FF_ERR_INVALID_URL, FF_ERR_UNSUPPORTED_SCHEME | 400 | the request is wrong |
 * | FF_ERR_URL_REFUSED | 403 | understood, and refused by policy (non-public address, host not allowed, scheme) |
 * | FF_ERR_LIMIT_BYTES, _RESOLUTION, _DURATION | 422 | the video exceeds a limit (413 is about the request body, not the video) |
 * | decode codes (FF_ERR_NOT_A_VIDEO, FF_ERR_NO_FRAMES, FF_ERR_MP4_STRUCTURE, FF_ERR_NO_DATA, …) | 422 | the URL is not a video we can read |
 * | FF_ERR_NO_HEADERS_BY_DEADLINE, FF_ERR_NO_FRAME_BY_DEADLINE, FF_ERR_CONNECT_TIMEOUT, FF_ERR_HEADERS_TIMEOUT, FF_ERR_STALLED | 504 | the video host sent nothing usable in time |
 * | other source codes (FF_ERR_DNS, FF_ERR_CONNECT_REFUSED, FF_ERR_HTTP_STATUS, FF_ERR_BODY_SHORT, …) | 502 | the video host failed |
 * | FF_ERR_NO_RESULT_BY_DEADLINE | 503 | frames were decoded but this server could not infer one within its budget (the budget is shorter than the first inference, or the machine is overloaded) |
 * | anything else (FF_ERR_NO_RESULTS, a model error, a bug) | 500 | ours |
 */
export function statusForRunError(code: string): number {
  if (code === codes.source.invalidUrl || code === codes.source.unsupportedScheme) return 400;
  if (code === codes.guard.urlRefused) return 403;
  if (limitCodeSet.has(code)) return 422;
  if (decodeCodes.has(code)) return 422;
  if (hostTimeoutCodes.has(code)) return 504;
  if (sourceCodes.has(code)) return 502;
  // Nothing inferred by the deadline, or no time left to try: the miner is busy; come back.
  if (code === codes.run.noResultByDeadline || code === budgetCodes.spent || code === budgetCodes.tooShort) {
    return 503;
  }
  return 500;
}

export function errorBody(
  code: string,
  message: string,
  extra: { problems?: string[]; challengeId?: string | null } = {},
): ErrorBody {
  return {
    error: { code, message, ...(extra.problems ? { problems: extra.problems } : {}) },
    ...(extra.challengeId !== undefined ? { challenge_id: extra.challengeId } : {}),
  };
}

/** Writes `body` as the whole JSON response. */
export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: OutgoingHttpHeaders = {},
): void {
  sendJsonText(response, status, JSON.stringify(body), headers);
}

/** Writes already serialised JSON (the challenge route serialises first, to time it). */
export function sendJsonText(
  response: ServerResponse,
  status: number,
  text: string,
  headers: OutgoingHttpHeaders = {},
): void {
  if (response.headersSent || response.destroyed) return;
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(text);
}

const reasons: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Content Too Large',
  431: 'Request Header Fields Too Large',
};

/**
 * A complete HTTP/1.1 error response as bytes, for the `clientError` path: Node's parser gave up on the
 * request, so there is no ServerResponse and the bytes go to the socket directly. The connection is closed
 * after it, since the parser cannot find the next request.
 */
export function rawErrorResponse(status: number, body: ErrorBody): string {
  const text = JSON.stringify(body);
  return (
    `HTTP/1.1 ${status} ${reasons[status] ?? 'Error'}\r\n` +
    'content-type: application/json; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(text)}\r\n` +
    'cache-control: no-store\r\n' +
    'connection: close\r\n\r\n' +
    text
  );
}
