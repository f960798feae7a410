import { SourceError, codes } from '../core/errors.js';

/** Parses a source URL; returns the typed error instead of throwing so callers decide when it surfaces. */
export function parseHttpUrl(input: string | URL): URL | SourceError {
  let url: URL;
  try {
    url = input instanceof URL ? input : new URL(input);
  } catch {
    return new SourceError(codes.source.invalidUrl, `not a valid URL: ${JSON.stringify(String(input))}`, {
      url: String(input),
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return new SourceError(
      codes.source.unsupportedScheme,
      `unsupported scheme ${url.protocol} in ${url.href}: expected http: or https:`,
      { url: url.href, scheme: url.protocol },
    );
  }
  return url;
}

interface ErrnoLike {
  code?: string;
  message?: string;
  cause?: unknown;
}

/** The innermost system error code (ECONNREFUSED, ENOTFOUND, …) of an undici or Node error. */
function systemCode(error: unknown): string | undefined {
  let current = error as ErrnoLike | undefined;
  for (let depth = 0; current && depth < 5; depth += 1) {
    if (typeof current.code === 'string' && /^E[A-Z_]+$/.test(current.code)) return current.code;
    if (Array.isArray((current as { errors?: unknown[] }).errors)) {
      const inner = systemCode((current as { errors: unknown[] }).errors[0]);
      if (inner) return inner;
    }
    current = current.cause as ErrnoLike | undefined;
  }
  return undefined;
}

/** Maps what undici or the socket reported to a SourceError with a stable code, keeping the cause. */
export function sourceErrorFrom(error: unknown, url: string, context: Record<string, unknown>): SourceError {
  if (error instanceof SourceError) return error;
  const undiciCode = (error as ErrnoLike | undefined)?.code;
  const system = systemCode(error);
  const detail = (error as ErrnoLike | undefined)?.message ?? String(error);
  const make = (code: string, what: string) =>
    new SourceError(
      code,
      `GET ${url}: ${what}`,
      { ...context, cause: system ?? undiciCode },
      { cause: error },
    );

  if (system === 'ENOTFOUND' || system === 'EAI_AGAIN' || system === 'EAI_NONAME') {
    return make(codes.source.dns, `DNS lookup of ${new URL(url).hostname} failed (${system})`);
  }
  if (system === 'ECONNREFUSED') return make(codes.source.connectRefused, 'connection refused');
  if (undiciCode === 'UND_ERR_CONNECT_TIMEOUT' || system === 'ETIMEDOUT') {
    return make(codes.source.connectTimeout, 'connect timed out');
  }
  if (undiciCode === 'UND_ERR_HEADERS_TIMEOUT')
    return make(codes.source.headersTimeout, 'no response headers in time');
  if (undiciCode === 'UND_ERR_BODY_TIMEOUT') return make(codes.source.stalled, 'body stalled');
  if (system === 'ECONNRESET' || system === 'EPIPE') {
    return make(
      codes.source.connection,
      `connection reset by the server after ${String(context.bytes ?? 0)} body bytes`,
    );
  }
  return make(codes.source.connection, `connection failed: ${detail}`);
}
