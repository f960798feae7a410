import { STATUS_CODES } from 'node:http';
import type { EventEmitter } from 'node:events';
import type { CatalogEntry, FileCatalog } from './catalog.js';
import type { Exchange, HeaderList } from './exchange.js';
import type { NetSimRequestRecord } from './netsim.js';
import { applyOverrides, overridesFromQuery, type RequestSettings } from './options.js';
import { paceBody, type PacedBody } from './pacing.js';
import { parseRange } from './range.js';
import { TimerSet, now } from './timers.js';

/** What every response of one simulator shares. */
export interface ServerState {
  readonly records: NetSimRequestRecord[];
  readonly events: EventEmitter;
  readonly catalog: FileCatalog;
  readonly base: RequestSettings;
  /** Responses whose outcome is not final yet; close() shuts each down. */
  readonly inFlight: Set<ResponseRun>;
}

interface ResponsePlan {
  status: number;
  /** Header fields other than Content-Length. */
  headers: Array<[string, string]>;
  /** The body a GET carries (HEAD sends the same head and no body). */
  body: Uint8Array;
  /** The Content-Length to declare; undefined for statuses that have none (204, 304). */
  contentLength: number | undefined;
  /** True for a file's 200/206: the body faults (stall, reset, declared-too-long) apply to it. */
  faultable: boolean;
}

function textPlan(status: number, detail: string, headers: Array<[string, string]> = []): ResponsePlan {
  if (status === 204 || status === 304) {
    return { status, headers, body: new Uint8Array(0), contentLength: undefined, faultable: false };
  }
  const body = Buffer.from(`${status} ${STATUS_CODES[status] ?? ''}${detail === '' ? '' : `: ${detail}`}\n`);
  return {
    status,
    headers: [['content-type', 'text/plain; charset=utf-8'], ...headers],
    body,
    contentLength: body.length,
    faultable: false,
  };
}

function filePlan(
  file: Extract<CatalogEntry, { kind: 'found' }>,
  rangeHeader: string | undefined,
  settings: RequestSettings,
): ResponsePlan {
  const size = file.bytes.length;
  const headers: Array<[string, string]> = [['content-type', file.contentType]];
  if (file.lastModified !== undefined) headers.push(['last-modified', file.lastModified.toUTCString()]);
  if (settings.range) headers.push(['accept-ranges', 'bytes']);
  const range = settings.range ? parseRange(rangeHeader, size) : ({ kind: 'whole' } as const);
  if (range.kind === 'unsatisfiable') {
    return textPlan(416, `no byte of ${rangeHeader ?? ''} is in a ${size}-byte file`, [
      ['content-range', `bytes */${size}`],
    ]);
  }
  if (range.kind === 'part') {
    headers.push(['content-range', `bytes ${range.start}-${range.end}/${size}`]);
    const body = file.bytes.subarray(range.start, range.end + 1);
    return { status: 206, headers, body, contentLength: body.length, faultable: true };
  }
  return { status: 200, headers, body: file.bytes, contentLength: size, faultable: true };
}

/**
 * Splits a request target into its decoded path and its query, or undefined when it cannot be read.
 * Origin-form (`/a.mp4?x=1`) and absolute-form (`http://host/a.mp4`) are read; `*` and the rest are not.
 * Dot segments are kept as sent (unlike `new URL`, which resolves them), so that a traversal attempt
 * reaches the catalog and is refused there rather than silently rewritten.
 */
function readTarget(target: string): { path: string; query: Record<string, string> } | undefined {
  let rest = target.split('#', 1)[0] ?? '';
  const authority = /^https?:\/\/[^/?]*/i.exec(rest);
  if (authority !== null) rest = `/${rest.slice(authority[0].length).replace(/^\//, '')}`;
  if (!rest.startsWith('/')) return undefined;
  const queryStart = rest.indexOf('?');
  const rawPath = queryStart < 0 ? rest : rest.slice(0, queryStart);
  const rawQuery = queryStart < 0 ? '' : rest.slice(queryStart + 1);
  try {
    return { path: decodeURIComponent(rawPath), query: Object.fromEntries(new URLSearchParams(rawQuery)) };
  } catch {
    return undefined;
  }
}

/**
 * One response from request to final outcome: plan it, wait out the TTFB, send the head (trickled if asked),
 * pace the body, apply the body faults, and record what happened. All of its timers live in one TimerSet, so
 * every way it can end (complete, client gone, reset, server closed) clears them by the same path.
 */
export class ResponseRun {
  private readonly timers = new TimerSet();
  private readonly record: NetSimRequestRecord;
  private paced: PacedBody | undefined;
  private stalled = false;
  private finished = false;

  constructor(
    private readonly exchange: Exchange,
    private readonly state: ServerState,
  ) {
    const receivedAt = now();
    const target = readTarget(exchange.target);
    this.record = {
      id: state.records.length + 1,
      method: exchange.method,
      path: target?.path ?? exchange.target,
      query: target?.query ?? {},
      rangeHeader: exchange.header('range'),
      status: 0,
      httpVersion: exchange.httpVersion,
      bodyBytesPlanned: 0,
      bodyBytesSent: 0,
      receivedAt,
      outcome: 'pending',
    };
    state.records.push(this.record);
    state.inFlight.add(this);
    exchange.onClientGone(() => this.finish(this.stalled ? 'stalled-closed' : 'client-closed'));
    state.events.emit('request', this.record);
    if (!this.finished) this.plan(target !== undefined);
  }

  /** The simulator is closing: drop the connection, and record why the response did not complete. */
  shutdown(): void {
    if (this.finished) return;
    this.exchange.destroy();
    this.finish(this.stalled ? 'stalled-closed' : 'error');
  }

  private plan(targetReadable: boolean): void {
    const { exchange, record } = this;
    if (!targetReadable) {
      this.start(this.state.base, textPlan(400, `cannot read the request target ${exchange.target}`));
      return;
    }
    const { overrides, problems } = overridesFromQuery(record.query);
    const settings = applyOverrides(this.state.base, overrides);
    if (problems.length > 0) {
      this.start(settings, textPlan(400, problems.join('; ')));
      return;
    }
    if (record.method !== 'GET' && record.method !== 'HEAD') {
      this.start(settings, textPlan(405, `${record.method} is not served`, [['allow', 'GET, HEAD']]));
      return;
    }
    this.state.catalog.lookup(record.path).then(
      (entry) => {
        if (!this.finished) this.start(settings, this.planFor(entry, settings));
      },
      (error: unknown) => this.fail(error),
    );
  }

  private planFor(entry: CatalogEntry, settings: RequestSettings): ResponsePlan {
    const { status } = settings.fault;
    if (status !== undefined) {
      // A 416 fault still says how long the file is, as a real 416 does.
      const extra: Array<[string, string]> =
        status === 416 && entry.kind === 'found' ? [['content-range', `bytes */${entry.bytes.length}`]] : [];
      return textPlan(status, 'netsim fault', extra);
    }
    switch (entry.kind) {
      case 'found':
        return filePlan(entry, this.record.rangeHeader, settings);
      case 'not-found':
        return textPlan(404, `no file at ${this.record.path}`);
      case 'forbidden':
        return textPlan(403, `${this.record.path} is outside the served files`);
      case 'failed':
        return textPlan(500, `cannot read ${this.record.path}`);
    }
  }

  private start(settings: RequestSettings, plan: ResponsePlan): void {
    const { record, exchange } = this;
    const isHead = record.method === 'HEAD';
    record.status = plan.status;
    record.bodyBytesPlanned = isHead ? 0 : plan.body.length;
    const { fault } = settings;
    const excess = plan.faultable ? (fault.contentLengthExcess ?? 0) : 0;
    const headers: HeaderList = [
      ['date', new Date().toUTCString()],
      ...plan.headers,
      ...(plan.contentLength === undefined
        ? []
        : [['content-length', String(plan.contentLength + excess)] as const]),
    ];
    const guard = (step: () => void) => () => {
      try {
        step();
      } catch (error) {
        this.fail(error);
      }
    };
    this.timers.at(
      record.receivedAt + settings.ttfbMs,
      guard(() =>
        exchange.sendHead(
          plan.status,
          headers,
          fault.slowHeadersMs ?? 0,
          this.timers,
          guard(() => {
            record.headersSentAt = now();
            if (isHead || plan.body.length === 0) this.complete('end');
            else this.sendBody(settings, plan, excess);
          }),
        ),
      ),
    );
  }

  private sendBody(settings: RequestSettings, plan: ResponsePlan, excess: number): void {
    const { record } = this;
    const planned = plan.body.length;
    const { stallAfterBytes, resetAfterBytes } = plan.faultable ? settings.fault : {};
    // A fault only bites inside the body: a cut at or past its end leaves a complete response.
    const stallAt = stallAfterBytes !== undefined && stallAfterBytes < planned ? stallAfterBytes : undefined;
    const resetAt = resetAfterBytes !== undefined && resetAfterBytes < planned ? resetAfterBytes : undefined;
    const cut = Math.min(planned, stallAt ?? planned, resetAt ?? planned);
    const resetsAtCut = resetAt !== undefined && resetAt === cut;
    this.paced = paceBody(this.exchange.body, plan.body.subarray(0, cut), this.timers, {
      rateBytesPerSec: settings.rateBytesPerSec,
      onProgress: (sentBytes, at) => {
        record.firstBodyByteAt ??= at;
        record.bodyBytesSent = sentBytes;
      },
      onDone: () => {
        if (this.finished) return;
        if (cut === planned) this.complete(excess > 0 ? 'end-connection' : 'end');
        else if (resetsAtCut) {
          this.exchange.reset();
          this.finish('reset');
        } else {
          // Stalled: nothing more is sent, the connection stays open until the client or close() ends it.
          this.stalled = true;
        }
      },
      onError: (error) => this.fail(error),
    });
  }

  private complete(how: 'end' | 'end-connection'): void {
    if (this.finished) return;
    if (how === 'end') this.exchange.end();
    else this.exchange.endConnection();
    this.finish('complete');
  }

  private fail(_error: unknown): void {
    if (this.finished) return;
    this.exchange.destroy();
    this.finish('error');
  }

  private finish(outcome: NetSimRequestRecord['outcome']): void {
    if (this.finished) return;
    this.finished = true;
    this.timers.clear();
    this.paced?.cancel();
    this.record.outcome = outcome;
    this.record.endedAt = now();
    this.state.inFlight.delete(this);
    this.state.events.emit('request-end', this.record);
  }
}

/** Answers one exchange. */
export function serveExchange(exchange: Exchange, state: ServerState): void {
  new ResponseRun(exchange, state);
}
