import { Observable, defer, EMPTY, switchMap, timer, type ObservableInput } from 'rxjs';
import type { Dispatcher } from 'undici';
import { ConfigError, SourceError, codes, type FirstframeError } from '../core/errors.js';
import { safeSink, type EventSink } from '../core/events.js';
import type { ByteBudget } from './budget.js';
import { connectionTiming, sharedDispatcher } from './dispatcher.js';
import { parseHttpUrl, sourceErrorFrom } from './http-errors.js';
import { windowed } from './windows.js';
import {
  MEBIBYTE,
  transferFlow,
  type ByteChunk,
  type ByteRange,
  type ResourceInfo,
  type TransferFlow,
} from './types.js';

/**
 * - `stream`: one GET; every chunk is emitted the moment it arrives.
 * - `partial`: `Range: bytes=0-(N-1)`; chunks as they arrive; a server that ignores Range is cut off after N bytes.
 * - `full`: one GET, downloaded whole and emitted as one chunk at the end (the download-then-decode baseline).
 * - `ranges`: windows of `windowBytes` fetched one after another, each when `more` asks (or back to back).
 */
export type HttpStrategy = 'stream' | 'partial' | 'full' | 'ranges';

export interface HttpSourceOptions {
  strategy?: HttpStrategy;
  /** `partial`: bytes to fetch; default 4 MiB (the miners' PARTIAL_DOWNLOAD_MB=4). */
  partialBytes?: number;
  /** `ranges`: size of each window; default 2 MiB. */
  windowBytes?: number;
  /**
   * `ranges`: each emission asks for the next window. Without it, windows follow each other as soon as the
   * previous one has ended, for as long as someone is subscribed.
   */
  more?: ObservableInput<unknown>;
  /** Hold the bytes until the transfer ends and emit them as one chunk (`full` always does). */
  buffered?: boolean;
  dispatcher?: Dispatcher;
  headers?: Record<string, string>;
  /** No response headers this long after the request was dispatched: `FF_ERR_HEADERS_TIMEOUT`. Default 10 s. */
  headersTimeoutMs?: number;
  /** No body bytes for this long: `FF_ERR_STALLED`. Default 10 s. */
  stallTimeoutMs?: number;
  /**
   * The run's byte budget: every body byte of every request (the main one, `fetchRange`, windows) is
   * charged the moment it arrives; past the limit the request is aborted (its socket closed) and the
   * Observable errors with the budget's error.
   */
  budget?: ByteBudget;
  onEvent?: EventSink;
}

interface RequestPlan {
  readonly range?: ByteRange;
  /** Emit at most this many bytes, then close the connection (a server that ignored the Range). */
  readonly limitBytes?: number;
  /** A 200 answer to a Range request is acceptable (the range starts at 0): keep the first bytes. */
  readonly acceptWholeBody: boolean;
  readonly buffered: boolean;
}

interface Context {
  readonly url: URL;
  readonly dispatcher: Dispatcher;
  readonly headers: Record<string, string>;
  readonly headersTimeoutMs: number;
  readonly stallTimeoutMs: number;
  readonly budget: ByteBudget | undefined;
  readonly onEvent: EventSink | undefined;
}

let requestSequence = 0;

function rangeHeader(range: ByteRange): string {
  if ('suffix' in range) return `bytes=-${range.suffix}`;
  return `bytes=${range.start}-${range.end ?? ''}`;
}

/** `bytes 100-199/5000` → { start: 100, end: 199, total: 5000 }; a 416's unsatisfied form (an asterisk for the range) → { total: 5000 }. */
function parseContentRange(
  value: string | undefined,
): { start?: number; end?: number; total?: number } | undefined {
  const match = value ? /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(value.trim()) : null;
  if (!match) return undefined;
  const range = match[1] === undefined ? {} : { start: Number(match[1]), end: Number(match[2]) };
  return match[3] === '*' ? range : { ...range, total: Number(match[3]) };
}

function header(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** One HTTP request as a cold Observable of the body's chunks. Unsubscribing aborts the request. */
function requestBytes(
  ctx: Context,
  resource: ResourceInfo,
  plan: RequestPlan,
  flow: TransferFlow,
): Observable<ByteChunk> {
  return new Observable<ByteChunk>((subscriber) => {
    const requestId = ++requestSequence;
    const url = ctx.url.href;
    const emit = (name: string, data: Record<string, unknown> = {}) =>
      ctx.onEvent?.({ stage: 'source', name, at: performance.now(), data: { requestId, ...data } });

    let controller: Dispatcher.DispatchController | undefined;
    let finished = false;
    let status = 0;
    let received = 0; // body bytes that arrived
    let emitted = 0; // body bytes passed on (after a limit)
    let nextOffset = 0;
    let expectedBytes: number | undefined;
    // eslint-disable-next-line prefer-const -- assigned once the handlers that clear it exist
    let headersTimer: NodeJS.Timeout | undefined;
    let stallTimer: NodeJS.Timeout | undefined;
    const held: Uint8Array[] = [];

    let unregister: (() => void) | undefined;
    const clearTimers = () => {
      clearTimeout(headersTimer);
      clearTimeout(stallTimer);
      unregister?.();
    };
    const abortTransfer = (reason: string) => {
      // Aborting an unfinished HTTP/1.1 response destroys its socket; on HTTP/2 it resets the stream.
      controller?.abort(new SourceError(codes.source.connection, `request aborted: ${reason}`, { url }));
    };
    const fail = (error: FirstframeError) => {
      if (finished) return;
      finished = true;
      clearTimers();
      abortTransfer(error.code);
      emit('end', { reason: 'error', code: error.code, bytes: received });
      subscriber.error(error);
    };
    const finish = (reason: 'complete' | 'limit') => {
      if (finished) return;
      finished = true;
      clearTimers();
      if (reason === 'limit') abortTransfer('byte limit reached');
      if (plan.buffered && held.length > 0) {
        const bytes = held.length === 1 ? held[0]! : Buffer.concat(held);
        subscriber.next({
          bytes,
          offset: nextOffset - bytes.byteLength,
          receivedAt: performance.now(),
          resource,
        });
      }
      emit('end', { reason, bytes: received, emittedBytes: emitted, status });
      subscriber.complete();
    };
    const context = { url, requestId, range: plan.range ? rangeHeader(plan.range) : undefined };

    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(dispatchController) {
        controller = dispatchController;
        if (finished) {
          dispatchController.abort(new SourceError(codes.source.connection, 'unsubscribed', { url }));
          return;
        }
        emit('request-sent');
        unregister = flow.register({
          pause: () => {
            dispatchController.pause();
            // Our own pause is not a stall.
            if (stallTimer) clearTimeout(stallTimer);
            emit('paused', { bytes: received });
          },
          resume: () => {
            // Before resuming: undici may deliver buffered bytes synchronously inside resume(), and the
            // consumer may pause again right there.
            emit('resumed', { bytes: received });
            stallTimer?.refresh();
            dispatchController.resume();
          },
        });
      },
      onResponseStart(_controller, statusCode, headers) {
        if (finished) return;
        clearTimeout(headersTimer);
        status = statusCode;
        const contentLength = header(headers, 'content-length');
        expectedBytes =
          contentLength !== undefined && /^\d+$/.test(contentLength) ? Number(contentLength) : undefined;
        resource.contentType ??= header(headers, 'content-type');
        if (statusCode === 416) {
          const total = parseContentRange(header(headers, 'content-range'))?.total;
          fail(
            new SourceError(
              codes.source.rangeNotSatisfiable,
              `GET ${url}: 416 Range Not Satisfiable for ${context.range ?? 'no range'}` +
                (total === undefined ? '' : ` (resource has ${total} bytes)`),
              { ...context, status: statusCode, totalBytes: total },
            ),
          );
          return;
        }
        if (statusCode < 200 || statusCode >= 300) {
          fail(
            new SourceError(codes.source.httpStatus, `GET ${url}: HTTP ${statusCode}`, {
              ...context,
              status: statusCode,
            }),
          );
          return;
        }
        if (plan.range && statusCode === 206) {
          const contentRange = parseContentRange(header(headers, 'content-range'));
          nextOffset = contentRange?.start ?? 0;
          if (contentRange?.total !== undefined) resource.totalBytes = contentRange.total;
          resource.rangeHonoured = true;
        } else {
          nextOffset = 0;
          resource.totalBytes ??= expectedBytes;
          if (plan.range) {
            resource.rangeHonoured = false;
            if (!plan.acceptWholeBody) {
              fail(
                new SourceError(
                  codes.source.rangeIgnored,
                  `GET ${url}: the server ignored Range ${context.range} and answered ${statusCode} with the whole body`,
                  { ...context, status: statusCode },
                ),
              );
              return;
            }
          }
        }
        emit('headers', {
          status: statusCode,
          contentLength: expectedBytes,
          totalBytes: resource.totalBytes,
          rangeHonoured: resource.rangeHonoured,
          offset: nextOffset,
        });
        stallTimer = setTimeout(() => {
          if (flow.paused) return;
          fail(
            new SourceError(
              codes.source.stalled,
              `GET ${url}: no bytes for ${ctx.stallTimeoutMs} ms after ${received} body bytes`,
              { ...context, bytes: received, offset: nextOffset, stallTimeoutMs: ctx.stallTimeoutMs },
            ),
          );
        }, ctx.stallTimeoutMs);
      },
      onResponseData(_controller, chunk) {
        if (finished) return;
        stallTimer?.refresh();
        const receivedAt = performance.now();
        if (received === 0) emit('first-byte', { offset: nextOffset });
        received += chunk.byteLength;
        try {
          ctx.budget?.take(chunk.byteLength, { url, range: context.range });
        } catch (error) {
          fail(error as FirstframeError);
          return;
        }
        let bytes: Uint8Array = chunk;
        const limit = plan.limitBytes;
        if (limit !== undefined && emitted + bytes.byteLength > limit)
          bytes = bytes.subarray(0, limit - emitted);
        if (bytes.byteLength > 0) {
          const offset = nextOffset;
          nextOffset += bytes.byteLength;
          emitted += bytes.byteLength;
          emit('chunk', { bytes: bytes.byteLength, offset, received });
          if (plan.buffered) held.push(bytes);
          else subscriber.next({ bytes, offset, receivedAt, resource });
        }
        // At the limit: a response that ends here anyway (a 206 of exactly the range) finishes normally and
        // keeps its socket; anything longer (a server that ignored Range) is cut off right now.
        if (
          limit !== undefined &&
          emitted >= limit &&
          (expectedBytes === undefined || received < expectedBytes)
        ) {
          finish('limit');
        }
      },
      onResponseEnd() {
        if (finished) return;
        if (expectedBytes !== undefined && received < expectedBytes) {
          fail(bodyShort(url, context, received, expectedBytes));
          return;
        }
        finish('complete');
      },
      onResponseError(_controller, error) {
        if (finished) return;
        if (expectedBytes !== undefined && received < expectedBytes && status !== 0) {
          fail(bodyShort(url, context, received, expectedBytes, error));
          return;
        }
        fail(sourceErrorFrom(error, url, { ...context, bytes: received, status: status || undefined }));
      },
    };

    const recorder = {
      dns: (ms: number, address: string | undefined) => emit('dns', { ms, address }),
      connect: (ms: number, remoteAddress: string | undefined) => emit('connect', { ms, remoteAddress }),
      tls: (ms: number, alpnProtocol: unknown) => emit('tls', { ms, alpnProtocol }),
    };
    const headers: Record<string, string> = { ...ctx.headers };
    if (plan.range) headers['range'] = rangeHeader(plan.range);
    emit('request', { url, range: context.range });
    headersTimer = setTimeout(() => {
      fail(
        new SourceError(
          codes.source.headersTimeout,
          `GET ${url}: no response headers within ${ctx.headersTimeoutMs} ms`,
          {
            ...context,
            headersTimeoutMs: ctx.headersTimeoutMs,
          },
        ),
      );
    }, ctx.headersTimeoutMs);
    connectionTiming.run(recorder, () => {
      try {
        ctx.dispatcher.dispatch(
          { origin: ctx.url.origin, path: `${ctx.url.pathname}${ctx.url.search}`, method: 'GET', headers },
          handler,
        );
      } catch (error) {
        fail(sourceErrorFrom(error, url, context));
      }
    });

    return () => {
      if (finished) return;
      finished = true;
      clearTimers();
      emit('end', { reason: 'unsubscribed', bytes: received });
      abortTransfer('unsubscribed');
    };
  });
}

function bodyShort(
  url: string,
  context: Record<string, unknown>,
  received: number,
  expected: number,
  cause?: unknown,
): SourceError {
  return new SourceError(
    codes.source.bodyShort,
    `GET ${url}: body ended after ${received} of ${expected} bytes (Content-Length)`,
    { ...context, bytes: received, expectedBytes: expected },
    { cause },
  );
}

function positiveInteger(name: string, value: number | undefined, problems: string[]): void {
  if (value !== undefined && (!Number.isInteger(value) || value <= 0)) {
    problems.push(`${name}: expected a positive integer, got ${JSON.stringify(value)}`);
  }
}

/**
 * Bytes of a remote video over HTTP(S), chunk by chunk, as they arrive.
 *
 * A cold Observable: each subscription makes its own request(s) on the shared keep-alive dispatcher, and
 * unsubscribing aborts them at once (the socket is closed; nothing more is read). Every chunk carries its
 * absolute offset, its arrival time and the shared {@link ResourceInfo} (total size, whether Range was
 * honoured, and `fetchRange` for reading elsewhere in the file while this transfer goes on).
 *
 * ```text
 * server:   --h--b--b--b--b--|        h: headers, b: bytes
 * stream:   -----c--c--c--c--|        every chunk as it arrives
 * partial:  -----c--c-|               Range bytes=0-(N-1); cut after N bytes if Range is ignored
 * full:     -----------------(c|)     one chunk at the end
 * unsub:    -----c--c-!               the socket is closed at `!`
 * ```
 *
 * @example
 * httpSource('https://cdn.example/clip.mp4', { strategy: 'partial', partialBytes: 2 * MEBIBYTE })
 *   .subscribe((chunk) => console.log(chunk.offset, chunk.bytes.byteLength));
 *
 * @param url http: or https: URL; anything else errors with FF_ERR_INVALID_URL / FF_ERR_UNSUPPORTED_SCHEME.
 * @param options strategy, sizes, timeouts, dispatcher and event sink; bad values throw a ConfigError here.
 * @returns a cold Observable of {@link ByteChunk}; errors are {@link SourceError}s with stable codes.
 */
export function httpSource(url: string | URL, options: HttpSourceOptions = {}): Observable<ByteChunk> {
  const problems: string[] = [];
  positiveInteger('partialBytes', options.partialBytes, problems);
  positiveInteger('windowBytes', options.windowBytes, problems);
  positiveInteger('headersTimeoutMs', options.headersTimeoutMs, problems);
  positiveInteger('stallTimeoutMs', options.stallTimeoutMs, problems);
  const strategy = options.strategy ?? 'stream';
  if (!['stream', 'partial', 'full', 'ranges'].includes(strategy)) {
    problems.push(`strategy: expected stream, partial, full or ranges, got ${JSON.stringify(strategy)}`);
  }
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems, { source: 'http' });

  return defer(() => {
    const parsed = parseHttpUrl(url);
    if (parsed instanceof SourceError) throw parsed;
    const ctx: Context = {
      url: parsed,
      dispatcher: options.dispatcher ?? sharedDispatcher(),
      headers: options.headers ?? {},
      headersTimeoutMs: options.headersTimeoutMs ?? 10_000,
      stallTimeoutMs: options.stallTimeoutMs ?? 10_000,
      budget: options.budget,
      onEvent: safeSink(options.onEvent),
    };
    const flow = transferFlow();
    const resource: ResourceInfo = {
      url: parsed.href,
      totalBytes: undefined,
      rangeHonoured: undefined,
      contentType: undefined,
      ...(strategy === 'partial' ? { partialBytes: options.partialBytes ?? 4 * MEBIBYTE } : {}),
      fetchRange: (range) =>
        requestBytes(ctx, resource, { range, acceptWholeBody: false, buffered: false }, flow),
      pause: () => flow.pause(),
      resume: () => flow.resume(),
    };
    const buffered = options.buffered ?? false;
    switch (strategy) {
      case 'stream':
        return requestBytes(ctx, resource, { acceptWholeBody: true, buffered }, flow);
      case 'full':
        return requestBytes(ctx, resource, { acceptWholeBody: true, buffered: true }, flow);
      case 'partial': {
        const limitBytes = options.partialBytes ?? 4 * MEBIBYTE;
        return requestBytes(
          ctx,
          resource,
          { range: { start: 0, end: limitBytes - 1 }, limitBytes, acceptWholeBody: true, buffered },
          flow,
        );
      }
      case 'ranges':
        return windows(ctx, resource, options.windowBytes ?? 2 * MEBIBYTE, options.more, buffered, flow);
    }
    return EMPTY;
  });
}

function windows(
  ctx: Context,
  resource: ResourceInfo,
  windowBytes: number,
  more: ObservableInput<unknown> | undefined,
  buffered: boolean,
  flow: TransferFlow,
): Observable<ByteChunk> {
  return windowed({
    windowBytes,
    more,
    fetchWindow: (start) => {
      const request = requestBytes(
        ctx,
        resource,
        { range: { start, end: start + windowBytes - 1 }, acceptWholeBody: start === 0, buffered },
        flow,
      );
      // undici returns a finished response's socket to its pool only on a later turn of the event loop;
      // a window requested in the same turn would open a second connection (measured: 2 sockets for 6
      // windows). One timer tick lets every window reuse the kept-alive socket.
      return start === 0 ? request : timer(1).pipe(switchMap(() => request));
    },
    exhausted: (nextStart) =>
      resource.rangeHonoured === false ||
      (resource.totalBytes !== undefined && nextStart >= resource.totalBytes),
  });
}
