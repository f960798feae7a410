/**
 * Helpers for driving the challenge server over loopback HTTP: challenge bodies, POSTs, raw sockets for
 * broken framing, and polling for a condition.
 */

import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';

export interface Answer<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  /** Wall time from sending to the whole body received. */
  ms: number;
}

export function challengeBody(videoUrl: string, id = `c-${Math.random().toString(36).slice(2, 8)}`) {
  return { challenge_id: id, type: 'gsr', video_url: videoUrl, created_at: new Date().toISOString() };
}

/** POSTs `body` (JSON-encoded unless a string) to /soccer/challenge and parses the JSON answer. */
export async function postChallenge<T = Record<string, unknown>>(
  baseUrl: string,
  body: unknown,
  init: { headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<Answer<T>> {
  const startedAt = performance.now();
  const response = await fetch(`${baseUrl}/soccer/challenge`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...init.headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(init.signal ? { signal: init.signal } : {}),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: JSON.parse(text) as T,
    ms: performance.now() - startedAt,
  };
}

export async function getJson<T = Record<string, unknown>>(
  url: string,
  headers: Record<string, string> = {},
): Promise<Answer<T>> {
  const startedAt = performance.now();
  const response = await fetch(url, { headers });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: JSON.parse(text) as T,
    ms: performance.now() - startedAt,
  };
}

/**
 * Writes `request` as raw bytes to a new connection and collects everything the server sends until it
 * closes the connection (or `timeoutMs`, after which the socket is destroyed and `closedByServer` is false).
 */
export function rawExchange(
  port: number,
  request: string,
  timeoutMs = 5000,
): Promise<{ text: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('utf8'), closedByServer: false });
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('utf8'), closedByServer: true });
    });
    socket.write(request);
  });
}

/** The status and the JSON body of each HTTP/1.1 response in `text` (Content-Length framed). */
export function parseResponses(
  text: string,
): Array<{ status: number; headers: Record<string, string>; body: unknown }> {
  const responses: Array<{ status: number; headers: Record<string, string>; body: unknown }> = [];
  let rest = text;
  while (rest.startsWith('HTTP/1.1 ')) {
    const headEnd = rest.indexOf('\r\n\r\n');
    const [statusLine = '', ...lines] = rest.slice(0, headEnd).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const bodyBytes = Buffer.from(rest.slice(headEnd + 4), 'utf8').subarray(0, length);
    responses.push({
      status: Number(statusLine.split(' ')[1]),
      headers,
      body: JSON.parse(bodyBytes.toString('utf8')),
    });
    rest = Buffer.from(rest.slice(headEnd + 4), 'utf8')
      .subarray(length)
      .toString('utf8');
  }
  return responses;
}

export { waitFor } from '../support/wait-for.js';

/** One sample's value from Prometheus text: `name{labels} value`, labels as written by prom-client. */
export function metricValue(text: string, sample: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}

/** A loopback host under test control, and what it saw. */
export interface HostileHost {
  /** `http://127.0.0.1:PORT/path`. */
  urlFor(path: string): string;
  /** Connections accepted so far. */
  accepted(): number;
  /** HTTP requests received so far (request lines seen), over all connections. */
  requests(): number;
  /** Accepted connections that are still open (not yet closed by the client or the host). */
  open(): number;
  close(): Promise<void>;
}

async function listenHost(onConnection: (socket: Socket) => void): Promise<HostileHost> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let requests = 0;
  const server = createNetServer((socket) => {
    accepted += 1;
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => {
      requests += chunk.toString('latin1').match(/^(GET|HEAD|POST) /gm)?.length ?? 0;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    urlFor: (path) => `http://127.0.0.1:${port}${path}`,
    accepted: () => accepted,
    requests: () => requests,
    open: () => sockets.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Accepts every connection, reads the request, and never answers: no status line, no headers, ever. */
export function silentHost(): Promise<HostileHost> {
  return listenHost((socket) => socket.resume());
}

/**
 * Answers every request with `200` headers (video/mp4, no length) and then `chunk` every `everyMs`, for
 * as long as the client stays: a host that trickles bytes that are not a video.
 */
export function tricklingHost(chunk = 'not a video, only words. ', everyMs = 20): Promise<HostileHost> {
  return listenHost((socket) => {
    socket.resume();
    socket.once('data', () => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-type: video/mp4\r\nconnection: close\r\n\r\n');
      const timer = setInterval(() => socket.write(chunk), everyMs);
      socket.on('close', () => clearInterval(timer));
    });
  });
}
