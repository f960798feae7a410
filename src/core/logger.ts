import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

export interface RootLoggerOptions {
  level?: string;
  /** Human-readable output (pino-pretty); defaults to on when stderr is a TTY. */
  pretty?: boolean;
  /** Where lines go; defaults to stderr so that stdout can carry a JSON result. */
  destination?: NodeJS.WritableStream | { write(line: string): unknown };
}

/**
 * The one root logger of a process. Stages never create loggers of their own: they get
 * `root.child({ stage, run })` from whoever assembles the pipeline.
 */
export function createRootLogger(options: RootLoggerOptions = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  const base: LoggerOptions = { level, base: { pid: process.pid } };
  if (options.destination) return pino(base, options.destination as pino.DestinationStream);
  const pretty = options.pretty ?? Boolean(process.stderr.isTTY);
  if (pretty) {
    return pino({
      ...base,
      transport: {
        target: 'pino-pretty',
        options: { destination: 2, colorize: true, translateTime: 'HH:MM:ss.l' },
      },
    });
  }
  return pino(base, pino.destination({ fd: 2, sync: false }));
}

/** A logger that writes nothing: the default for library use, where the caller did not pass one. */
export const silentLogger: Logger = pino({ level: 'silent' });
