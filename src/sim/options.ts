import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { refinedNumber } from '../core/codecs.js';
import {
  EnvBoolean,
  EnvNonNegativeInt,
  EnvNonNegativeNumber,
  EnvPositiveNumber,
  formatValidationErrors,
} from '../core/config.js';
import type { NetSimFault, NetSimOptions } from './netsim.js';

/*
 * Validation of the simulator's options (a TypeScript object handed to startNetSim) and of the per-request
 * overrides (strings in a URL's query). Both report every problem at once, one line each, in the project's
 * `PATH: expected WHAT, got VALUE` form. The public interfaces in netsim.ts are written by hand so that each
 * field keeps its doc comment; the codecs here are checked against them in the tests (expectTypeOf).
 */

const StatusCode = refinedNumber(
  'an HTTP status code from 200 to 599',
  (n) => Number.isInteger(n) && n >= 200 && n <= 599,
);
const ByteCount = refinedNumber('an integer >= 0', (n) => Number.isSafeInteger(n) && n >= 0);
const Milliseconds = refinedNumber('a number of milliseconds >= 0', (n) => Number.isFinite(n) && n >= 0);
const BytesPerSecond = refinedNumber(
  'a positive number of bytes per second',
  (n) => Number.isFinite(n) && n > 0,
);
const Port = refinedNumber(
  'a port number from 0 to 65535',
  (n) => Number.isInteger(n) && n >= 0 && n <= 65535,
);

const NonEmptyString = new t.Type<string, string, unknown>(
  'a non-empty string',
  (u): u is string => typeof u === 'string' && u !== '',
  (u, context) => (typeof u === 'string' && u !== '' ? t.success(u) : t.failure(u, context)),
  t.identity,
);

const Bytes = new t.Type<Uint8Array, Uint8Array, unknown>(
  'a Uint8Array',
  (u): u is Uint8Array => u instanceof Uint8Array,
  (u, context) => (u instanceof Uint8Array ? t.success(u) : t.failure(u, context)),
  t.identity,
);

const Pem = new t.Type<string | Buffer, string | Buffer, unknown>(
  'a PEM string or Buffer',
  (u): u is string | Buffer => (typeof u === 'string' && u !== '') || Buffer.isBuffer(u),
  (u, context) =>
    (typeof u === 'string' && u !== '') || Buffer.isBuffer(u) ? t.success(u) : t.failure(u, context),
  t.identity,
);

export const NetSimFaultCodec = t.partial({
  status: StatusCode,
  stallAfterBytes: ByteCount,
  resetAfterBytes: ByteCount,
  contentLengthExcess: ByteCount,
  slowHeadersMs: Milliseconds,
});

const overrideProps = {
  ...NetSimFaultCodec.props,
  rateBytesPerSec: BytesPerSecond,
  ttfbMs: Milliseconds,
  range: t.boolean,
};

/** What `urlFor` accepts: a fault plus the three per-request shaping settings. */
export const RequestOverridesCodec = t.partial(overrideProps);
export type RequestOverrides = t.TypeOf<typeof RequestOverridesCodec>;

export const NetSimOptionsCodec = t.partial({
  root: NonEmptyString,
  files: t.record(t.string, Bytes),
  host: NonEmptyString,
  port: Port,
  rateBytesPerSec: BytesPerSecond,
  ttfbMs: Milliseconds,
  range: t.boolean,
  http2: t.boolean,
  tls: t.type({ key: Pem, cert: Pem }),
  fault: NetSimFaultCodec,
});

/** The settings one response is shaped by, after the query's overrides were applied to the server's. */
export interface RequestSettings {
  rateBytesPerSec: number | undefined;
  ttfbMs: number;
  range: boolean;
  fault: NetSimFault;
}

function isPlainObject(u: unknown): u is Record<string, unknown> {
  return typeof u === 'object' && u !== null && !Array.isArray(u);
}

function unknownKeys(value: Record<string, unknown>, known: object, path: string, what: string): string[] {
  return Object.keys(value)
    .filter((key) => !Object.hasOwn(known, key))
    .map((key) => `${path}${key}: unknown ${what}`);
}

/**
 * Every problem with a startNetSim options object, one line each (`fault.stallAfterBytes: expected an
 * integer >= 0, got -1`). Empty when the options are good. Does not touch the file system.
 */
export function netSimOptionProblems(options: unknown): string[] {
  if (!isPlainObject(options)) {
    return [
      `options: expected an object, got ${options === undefined ? 'nothing' : JSON.stringify(options)}`,
    ];
  }
  const problems = unknownKeys(options, NetSimOptionsCodec.props, '', 'option');
  const decoded = NetSimOptionsCodec.decode(options);
  if (isLeft(decoded)) problems.push(...formatValidationErrors(decoded.left));
  if (isPlainObject(options.fault)) {
    problems.push(...unknownKeys(options.fault, NetSimFaultCodec.props, 'fault.', 'fault'));
  }
  if (isPlainObject(options.files)) {
    for (const path of Object.keys(options.files)) {
      if (!path.startsWith('/')) problems.push(`files.${path}: expected a URL path starting with "/"`);
    }
  }
  return problems;
}

/** Every problem with a `urlFor` overrides object. */
export function requestOverrideProblems(overrides: unknown): string[] {
  if (overrides === undefined) return [];
  if (!isPlainObject(overrides)) {
    return [`overrides: expected an object, got ${JSON.stringify(overrides)}`];
  }
  const problems = unknownKeys(overrides, overrideProps, '', 'override');
  const decoded = RequestOverridesCodec.decode(overrides);
  if (isLeft(decoded)) problems.push(...formatValidationErrors(decoded.left));
  return problems;
}

/*
 * The query parameters that carry overrides. The value codecs are the environment's string codecs, so a
 * query value is read exactly like an environment variable (`ff-range=0`, `ff-range=false` both work).
 */
const StatusParam = new t.Type<number, string, unknown>(
  'an HTTP status code from 200 to 599',
  (u): u is number => StatusCode.is(u),
  (u, context) => {
    const text = typeof u === 'string' ? u.trim() : '';
    const n = /^\d{3}$/.test(text) ? Number(text) : Number.NaN;
    return StatusCode.is(n) ? t.success(n) : t.failure(u, context);
  },
  (n) => String(n),
);

const queryParams = {
  'ff-status': { key: 'status', codec: StatusParam },
  'ff-stall-after': { key: 'stallAfterBytes', codec: EnvNonNegativeInt },
  'ff-reset-after': { key: 'resetAfterBytes', codec: EnvNonNegativeInt },
  'ff-cl-excess': { key: 'contentLengthExcess', codec: EnvNonNegativeInt },
  'ff-slow-headers-ms': { key: 'slowHeadersMs', codec: EnvNonNegativeNumber },
  'ff-rate': { key: 'rateBytesPerSec', codec: EnvPositiveNumber },
  'ff-ttfb-ms': { key: 'ttfbMs', codec: EnvNonNegativeNumber },
  'ff-range': { key: 'range', codec: EnvBoolean },
} as const satisfies Record<string, { key: keyof RequestOverrides; codec: t.Mixed }>;

type QueryParam = keyof typeof queryParams;

const QueryOverridesCodec = t.partial(
  Object.fromEntries(Object.entries(queryParams).map(([param, { codec }]) => [param, codec])) as {
    [P in QueryParam]: (typeof queryParams)[P]['codec'];
  },
);

/** The prefix that marks a query parameter as the simulator's (others, e.g. cache busters, are ignored). */
export const overrideParamPrefix = 'ff-';

/**
 * Reads the `ff-*` parameters of a request's query. An unknown `ff-` parameter is a problem (a typo would
 * otherwise silently test the wrong thing); parameters without the prefix are left alone.
 */
export function overridesFromQuery(query: Record<string, string>): {
  overrides: RequestOverrides;
  problems: string[];
} {
  const ours: Record<string, string> = {};
  const problems: string[] = [];
  for (const [name, value] of Object.entries(query)) {
    if (!name.startsWith(overrideParamPrefix)) continue;
    if (Object.hasOwn(queryParams, name)) ours[name] = value;
    else problems.push(`${name}: unknown override (known: ${Object.keys(queryParams).join(', ')})`);
  }
  const decoded = QueryOverridesCodec.decode(ours);
  if (isLeft(decoded))
    return { overrides: {}, problems: [...problems, ...formatValidationErrors(decoded.left)] };
  const overrides: Record<string, unknown> = {};
  for (const [param, value] of Object.entries(decoded.right)) {
    if (value !== undefined) overrides[queryParams[param as QueryParam].key] = value;
  }
  return { overrides: overrides as RequestOverrides, problems };
}

/** The query parameters that carry `overrides` (already validated), in a stable order. */
export function overridesToQuery(overrides: RequestOverrides): Array<[string, string]> {
  const entries: Array<[string, string]> = [];
  for (const [param, { key }] of Object.entries(queryParams)) {
    const value = overrides[key];
    if (value === undefined) continue;
    entries.push([param, typeof value === 'boolean' ? (value ? '1' : '0') : String(value)]);
  }
  return entries;
}

/** The server's settings with one request's overrides applied, field by field. */
export function applyOverrides(base: RequestSettings, overrides: RequestOverrides): RequestSettings {
  const { rateBytesPerSec, ttfbMs, range, ...fault } = overrides;
  return {
    rateBytesPerSec: rateBytesPerSec ?? base.rateBytesPerSec,
    ttfbMs: ttfbMs ?? base.ttfbMs,
    range: range ?? base.range,
    fault: { ...base.fault, ...stripUndefined(fault) },
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The per-request settings a server's options imply when no override is given. */
export function baseSettings(options: NetSimOptions): RequestSettings {
  return {
    rateBytesPerSec: options.rateBytesPerSec,
    ttfbMs: options.ttfbMs ?? 0,
    range: options.range ?? true,
    fault: stripUndefined(options.fault ?? {}),
  };
}
