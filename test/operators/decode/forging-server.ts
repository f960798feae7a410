/**
 * Test helpers for the edit-start skip's hostile cases: a faststart clip whose chunk offsets say what a
 * hostile moov says, and a loopback server that serves a file slowly and answers Range requests with the
 * Content-Range it is told to (a forged start, a forged size), or late.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const CONTAINERS = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl']);

/**
 * `clip` (one track, one chunk table) with its chunk offsets moved so that the first lies at `first`: a
 * 32-bit stco when `first` fits, else the stco replaced by a co64 (the moov and its ancestors 4 bytes per
 * entry larger; mdat moves with them, which the hostile offsets ignore anyway).
 */
export function withFirstChunkAt(clip: Uint8Array, first: bigint): Buffer {
  const input = Buffer.from(clip);
  const wide = first > 0xffffffffn;
  const rebuild = (from: number, to: number): Buffer[] => {
    const out: Buffer[] = [];
    for (let at = from; at < to;) {
      const size = input.readUInt32BE(at);
      const type = input.toString('latin1', at + 4, at + 8);
      if (CONTAINERS.has(type)) {
        const body = Buffer.concat(rebuild(at + 8, at + size));
        const header = Buffer.alloc(8);
        header.writeUInt32BE(body.byteLength + 8);
        header.write(type, 4, 'latin1');
        out.push(header, body);
      } else if (type === 'stco') {
        const count = input.readUInt32BE(at + 12);
        const base = input.readUInt32BE(at + 16);
        const entry = wide ? 8 : 4;
        const box = Buffer.alloc(16 + count * entry);
        box.writeUInt32BE(box.byteLength);
        box.write(wide ? 'co64' : 'stco', 4, 'latin1');
        box.writeUInt32BE(count, 12);
        for (let i = 0; i < count; i += 1) {
          const offset = first + BigInt(input.readUInt32BE(at + 16 + i * 4) - base);
          if (wide) box.writeBigUInt64BE(offset, 16 + i * 8);
          else box.writeUInt32BE(Number(offset), 16 + i * 4);
        }
        out.push(box);
      } else {
        out.push(input.subarray(at, at + size));
      }
      at += size;
    }
    return out;
  };
  return Buffer.concat(rebuild(0, input.byteLength));
}

/** What the server did with one request. */
export interface ServedRequest {
  readonly range: string | undefined;
  /** Body bytes written. */
  bodyBytes: number;
  /** The client closed the connection before the whole response was written. */
  closedEarly: boolean;
  /** Resolves once the response is over (written or closed). */
  readonly over: Promise<void>;
}

export interface ForgingServerOptions {
  /** The main response (no Range) says its Content-Length (else: chunked, size unknown). */
  contentLength: boolean;
  /** The main response ends after this many bytes of the file (default: all of it). */
  mainBytes?: number;
  /**
   * How a Range request `bytes=<start>-` is answered: the Content-Range start and size to claim, the body
   * (default 4096 bytes of the file from `start`, or from its end when past it); `afterMainEnded`: only once
   * the main response is over (nothing while it lasts).
   */
  answerRange: (start: number) => {
    claimStart: number;
    claimTotal: string;
    body?: Uint8Array;
    afterMainEnded?: boolean;
  };
}

export interface ForgingServer {
  readonly url: string;
  readonly requests: ServedRequest[];
  close(): Promise<void>;
}

/**
 * Pieces of the main response and the pause between them: at most 200 KB/s, so that the skip's request
 * cost (TTFB × rate) stays below the 38 KB it saves on the edit-start clip even with a TTFB of 100 ms on a
 * loaded machine.
 */
const PIECE_BYTES = 1024;
const PIECE_MS = 5;

export async function startForgingServer(
  file: Uint8Array,
  options: ForgingServerOptions,
): Promise<ForgingServer> {
  const requests: ServedRequest[] = [];
  let mainEnded: () => void = () => undefined;
  const mainOver = new Promise<void>((resolve) => (mainEnded = resolve));
  const server = createServer((request, response) => {
    let resolveOver: () => void = () => undefined;
    const record: ServedRequest = {
      range: request.headers.range,
      bodyBytes: 0,
      closedEarly: false,
      over: new Promise<void>((resolve) => (resolveOver = resolve)),
    };
    requests.push(record);
    response.on('close', () => {
      record.closedEarly = !response.writableFinished;
      resolveOver();
    });
    const write = (bytes: Uint8Array) => {
      if (response.destroyed) return;
      record.bodyBytes += bytes.byteLength;
      response.write(bytes);
    };
    if (record.range === undefined) {
      const end = options.mainBytes ?? file.byteLength;
      response.writeHead(200, {
        'content-type': 'video/mp4',
        ...(options.contentLength ? { 'content-length': String(file.byteLength) } : {}),
      });
      let at = 0;
      const next = () => {
        if (response.destroyed) return mainEnded();
        if (at >= end) {
          response.end(() => mainEnded());
          return;
        }
        write(file.subarray(at, Math.min(end, at + PIECE_BYTES)));
        at += PIECE_BYTES;
        setTimeout(next, PIECE_MS);
      };
      next();
      return;
    }
    const start = Number(/^bytes=(\d+)-/.exec(record.range)?.[1] ?? 0);
    const answer = options.answerRange(start);
    const body = answer.body ?? file.subarray(Math.min(start, file.byteLength - 4096)).subarray(0, 4096);
    const respond = (response: ServerResponse) => {
      if (response.destroyed) return;
      response.writeHead(206, {
        'content-type': 'video/mp4',
        'content-length': String(body.byteLength),
        'content-range': `bytes ${answer.claimStart}-${answer.claimStart + body.byteLength - 1}/${answer.claimTotal}`,
      });
      write(body);
      response.end();
    };
    if (answer.afterMainEnded) {
      // Late: well after the main response's end has reached the client (same process, loopback).
      void mainOver.then(() => setTimeout(() => respond(response), 200));
    } else {
      respond(response);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/clip.mp4`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
