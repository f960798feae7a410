import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * The longest string any field of a log line carries, in UTF-16 code units: a URL, a challenge id, a
 * header value or an error message that embeds them comes from strangers, and one line per event would
 * otherwise copy it as often as it is logged (a 60 KB challenge id once wrote 5.3 MB of logs for one
 * challenge). Long enough for every string firstframe writes itself and for most signed CDN URLs.
 */
export const LOG_STRING_MAX_CHARS = 1024;
/** The most items of an array a log line carries; the rest is counted in a last marker item. */
export const LOG_ARRAY_MAX_ITEMS = 64;
/** Objects nested deeper than this are logged as a marker (this also ends cycles). */
export const LOG_MAX_DEPTH = 8;

/** `…[+N chars]`: what stands for the cut-off end of a long string. */
export function truncateForLog(text: string, max = LOG_STRING_MAX_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}…[+${text.length - max} chars]`;
}

/**
 * `value` with every string cut to {@link LOG_STRING_MAX_CHARS}, arrays to {@link LOG_ARRAY_MAX_ITEMS}
 * and nesting to {@link LOG_MAX_DEPTH}; an error becomes a copy whose message, stack, cause and fields are
 * cut the same way. Returns `value` itself when nothing needed cutting (the common case copies nothing).
 */
export function boundLogValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return truncateForLog(value);
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= LOG_MAX_DEPTH) return '[nested too deep]';
  if (value instanceof Error) {
    // A copy on the same prototype, so that pino's err serializer still names its type (SourceError, …).
    const fields = boundLogValue(
      {
        ...value,
        message: value.message,
        stack: value.stack,
        ...(value.cause !== undefined ? { cause: value.cause } : {}),
      },
      depth,
    );
    return Object.assign(Object.create(Object.getPrototypeOf(value) as object) as Error, fields);
  }
  if (Array.isArray(value)) {
    let changed = value.length > LOG_ARRAY_MAX_ITEMS;
    const kept = value.slice(0, LOG_ARRAY_MAX_ITEMS).map((item) => {
      const bounded = boundLogValue(item, depth + 1);
      if (bounded !== item) changed = true;
      return bounded;
    });
    if (value.length > LOG_ARRAY_MAX_ITEMS) kept.push(`…[+${value.length - LOG_ARRAY_MAX_ITEMS} items]`);
    return changed ? kept : value;
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    // A URL, a Buffer, a Date: pino writes what toJSON gives (JSON.stringify), so that is what is bounded.
    return boundLogValue((value as { toJSON(): unknown }).toJSON(), depth);
  }
  let copy: Record<string, unknown> | undefined;
  for (const [key, item] of Object.entries(value)) {
    const bounded = boundLogValue(item, depth + 1);
    if (bounded !== item) {
      copy ??= { ...(value as Record<string, unknown>) };
      copy[key] = bounded;
    }
  }
  return copy ?? value;
}

/**
 * pino's options that keep every line bounded: each argument of a log call goes through
 * {@link boundLogValue} (an error given alone keeps its place under `err` and its message as `msg`). It
 * runs only for levels that are on: pino does not call a disabled level's method at all.
 */
const boundedOptions: Pick<LoggerOptions, 'hooks'> = {
  hooks: {
    logMethod(args, method) {
      const [first, ...rest] = args as unknown[];
      const call: unknown[] =
        first instanceof Error
          ? [{ err: first }, ...(rest.length > 0 ? rest : [first.message])]
          : [first, ...rest];
      method.apply(this, call.map((arg) => boundLogValue(arg)) as Parameters<typeof method>);
    },
  },
};

/**
 * pino gives a child's bindings no formatter (it resets `formatters.bindings` for children), so the root
 * bounds them itself: every descendant inherits this `child`, since pino makes a child with
 * `Object.create(parent)`.
 */
function boundChildBindings(root: Logger): Logger {
  const pinoChild = root.child as unknown as (
    this: Logger,
    bindings: pino.Bindings,
    options?: unknown,
  ) => Logger;
  Object.defineProperty(root, 'child', {
    value: function boundedChild(this: Logger, bindings: pino.Bindings, options?: unknown) {
      return pinoChild.call(this, boundLogValue(bindings) as pino.Bindings, options);
    },
    writable: true,
    configurable: true,
  });
  return root;
}

export interface RootLoggerOptions {
  level?: string;
  /** Human-readable output (pino-pretty); defaults to on when stderr is a TTY. */
  pretty?: boolean;
  /** Where lines go; defaults to stderr so that stdout can carry a JSON result. */
  destination?: NodeJS.WritableStream | { write(line: string): unknown };
}

/**
 * The one root logger of a process. Stages never create loggers of their own: they get
 * `root.child({ stage, run })` from whoever assembles the pipeline. Every string it writes, in a log
 * call's fields, its message or a child's bindings, is cut to {@link LOG_STRING_MAX_CHARS} with a
 * `…[+N chars]` marker.
 */
export function createRootLogger(options: RootLoggerOptions = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  const base: LoggerOptions = { level, base: { pid: process.pid }, ...boundedOptions };
  if (options.destination) {
    return boundChildBindings(pino(base, options.destination as pino.DestinationStream));
  }
  const pretty = options.pretty ?? Boolean(process.stderr.isTTY);
  if (pretty) {
    return boundChildBindings(
      pino({
        ...base,
        transport: {
          target: 'pino-pretty',
          options: { destination: 2, colorize: true, translateTime: 'HH:MM:ss.l' },
        },
      }),
    );
  }
  return boundChildBindings(pino(base, pino.destination({ fd: 2, sync: false })));
}

/** A logger that writes nothing: the default for library use, where the caller did not pass one. */
export const silentLogger: Logger = pino({ level: 'silent' });
