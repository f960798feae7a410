/**
 * A loopback HTTP server for byte-limit tests: it serves one file, and answers a Range request the way a
 * hostile host might (endless bytes after a header it chooses), recording every response's bytes and
 * whether its socket was closed.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the main (no Range) response is sent. */
export type MainMode =
  /** The whole file at loopback speed. */
  | 'whole'
  /** The file up to `stallAt`, then nothing until the client goes away. */
  | { stallAt: number };

/** How a Range request is answered. */
export type RangeMode =
  /** A 206 with exactly the range asked for. */
  | 'honest'
  /** A 206 whose body is `head` and then zeros for as long as the client reads. */
  | { endlessAfter: Uint8Array };

export interface ServedResponse {
  readonly range: string | undefined;
  /** Bytes handed to the socket so far. */
  bytesSent: number;
  /** Resolves when the response's socket is closed. */
  readonly closed: Promise<void>;
  isClosed: boolean;
}

export interface RangeServer {
  readonly url: string;
  readonly responses: ServedResponse[];
  close(): Promise<void>;
}

const ENDLESS_PIECE = Buffer.alloc(64 * 1024);

function parseRange(header: string | undefined, size: number): [number, number] | undefined {
  const match = header ? /^bytes=(\d+)-(\d*)$/.exec(header) : null;
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = match[2] ? Math.min(Number(match[2]), size - 1) : size - 1;
  return [start, end];
}

/** Writes `source()` pieces while the socket takes them, until it returns undefined or the client goes. */
function pump(response: ServerResponse, record: ServedResponse, source: () => Buffer | undefined): void {
  const write = () => {
    for (;;) {
      if (record.isClosed) return;
      const piece = source();
      if (!piece) {
        response.end();
        return;
      }
      record.bytesSent += piece.byteLength;
      if (!response.write(piece)) {
        response.once('drain', write);
        return;
      }
    }
  };
  write();
}

export async function startRangeServer(
  file: Uint8Array,
  options: { main: MainMode; range: RangeMode },
): Promise<RangeServer> {
  const responses: ServedResponse[] = [];
  const body = Buffer.from(file);
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let markClosed!: () => void;
    const record: ServedResponse = {
      range: request.headers.range,
      bytesSent: 0,
      closed: new Promise<void>((resolve) => (markClosed = resolve)),
      isClosed: false,
    };
    responses.push(record);
    response.socket?.once('close', () => {
      record.isClosed = true;
      markClosed();
    });
    const range = parseRange(request.headers.range, body.byteLength);
    if (!range) {
      response.writeHead(200, { 'content-length': body.byteLength, 'content-type': 'video/mp4' });
      const end = options.main === 'whole' ? body.byteLength : options.main.stallAt;
      record.bytesSent = end;
      // A stalled response stays open until the client closes it.
      if (end < body.byteLength) response.write(body.subarray(0, end));
      else response.end(body);
      return;
    }
    const [start, end] = range;
    if (options.range === 'honest') {
      response.writeHead(206, {
        'content-length': end - start + 1,
        'content-range': `bytes ${start}-${end}/${body.byteLength}`,
      });
      response.end(body.subarray(start, end + 1));
      record.bytesSent = end - start + 1;
      return;
    }
    // No Content-Length: chunked, endless.
    response.writeHead(206, { 'content-range': `bytes ${start}-${body.byteLength - 1}/${body.byteLength}` });
    const head = Buffer.from(options.range.endlessAfter);
    let headSent = false;
    pump(response, record, () => {
      if (!headSent) {
        headSent = true;
        return head;
      }
      return ENDLESS_PIECE;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/clip.mp4`,
    responses,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
