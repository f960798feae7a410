/**
 * A loopback HTTP host that sends one body a chunk at a time, each when the test calls `step()`: a link
 * whose buffering the test decides, instead of one paced by the clock. A rate-limited server writes on
 * whatever the client does, and a small file then sits whole in the loopback socket buffers after a
 * fraction of a second, however slowly the client reads it; here the test can send only while the client
 * reads, and put the rest in the socket buffers when it chooses (`flush()`).
 */

import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SteppedHost {
  /** `http://127.0.0.1:PORT/path` (any path answers the body). */
  readonly url: string;
  /** Body bytes written to the socket so far. */
  readonly sent: number;
  /** Requests answered. */
  readonly requests: number;
  /** Writes the next chunk of the body (at most `chunkBytes`); false when there was nothing left to write. */
  step(): boolean;
  /** Writes the rest of the body and ends the response. */
  flush(): void;
  /** How the response ended: every byte handed to the socket, or the client gone first. */
  readonly ended: Promise<'complete' | 'client-closed'>;
  close(): Promise<void>;
}

export async function steppedHost(body: Uint8Array, chunkBytes: number): Promise<SteppedHost> {
  let response: ServerResponse | undefined;
  let sent = 0;
  let requests = 0;
  let settle: (outcome: 'complete' | 'client-closed') => void = () => undefined;
  const ended = new Promise<'complete' | 'client-closed'>((resolve) => (settle = resolve));
  const server = createServer((_request, res) => {
    requests += 1;
    response = res;
    res.on('finish', () => settle('complete'));
    res.on('close', () => settle(res.writableFinished ? 'complete' : 'client-closed'));
    res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(body.byteLength) });
    res.flushHeaders();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const write = (end: number) => {
    if (!response || sent >= body.byteLength) return false;
    response.write(body.subarray(sent, end));
    sent = end;
    if (sent === body.byteLength) response.end();
    return true;
  };
  return {
    url: `http://127.0.0.1:${port}/clip.mp4`,
    get sent() {
      return sent;
    },
    get requests() {
      return requests;
    },
    step: () => write(Math.min(sent + chunkBytes, body.byteLength)),
    flush: () => void write(body.byteLength),
    ended,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
