import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import type * as t from 'io-ts';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { cdnCommand, parseRate } from '../../src/cli/cdn.js';
import { ConfigError, FirstframeError } from '../../src/core/errors.js';
import {
  startNetSim,
  type NetSim,
  type NetSimFault,
  type NetSimOptions,
  type NetSimRequestRecord,
} from '../../src/sim/netsim.js';
import { NetSimFaultCodec, RequestOverridesCodec } from '../../src/sim/options.js';
import { parseRange } from '../../src/sim/range.js';
import { selfSignedCertificate } from '../../src/sim/tls.js';

/* ------------------------------------------------------------------------------------------------------ */
/* Fixtures and clients                                                                                    */
/* ------------------------------------------------------------------------------------------------------ */

/** Bytes whose every position is distinguishable from its neighbours, so an off-by-one range shows. */
function patternBytes(length: number, seed = 7): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 1) bytes[i] = (i * 31 + seed + (i >> 8)) & 0xff;
  return bytes;
}

const CLIP = patternBytes(10_000);
const BIG = patternBytes(1_000_000, 3);
const SIZE = CLIP.length;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** performance.now() when the request was sent, when the head arrived, when the body ended or broke. */
  sentAt: number;
  headAt: number;
  doneAt: number;
  /** True when the body arrived whole (as far as the client's framing can tell). */
  complete: boolean;
  errorCode: string | undefined;
  socket: net.Socket;
}

/** GET/HEAD with node:http or node:https; resolves when the body ended or the connection broke. */
function fetchReply(
  url: string,
  options: http.RequestOptions & { ca?: string; ALPNProtocols?: string[] } = {},
): Promise<Reply> {
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const sentAt = performance.now();
    let responded = false;
    let errorCode: string | undefined;
    const request = client.request(url, { agent: false, ...options }, (response) => {
      responded = true;
      const headAt = performance.now();
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', (error: NodeJS.ErrnoException) => {
        errorCode = error.code;
      });
      response.on('close', () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks),
          sentAt,
          headAt,
          doneAt: performance.now(),
          complete: response.complete,
          errorCode,
          socket: response.socket,
        }),
      );
    });
    // Once the head is in, a broken connection is part of the reply (its body is short), not a failure.
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (responded) errorCode ??= error.code;
      else reject(error);
    });
    request.end();
  });
}

/** A bare TCP client, for byte-exact views of what the simulator writes. */
class RawClient {
  readonly chunks: Array<{ at: number; bytes: Buffer }> = [];
  /** Bytes received so far (head and body). */
  length = 0;
  errorCode: string | undefined;
  readonly closed: Promise<void>;
  private readonly listeners = new Set<() => void>();

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (bytes: Buffer) => {
      this.chunks.push({ at: performance.now(), bytes });
      this.length += bytes.length;
      for (const listener of this.listeners) listener();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      this.errorCode = error.code;
    });
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks.map((chunk) => chunk.bytes));
  }

  private headEndFound = -1;

  /** Offset just past the blank line ending the (first) response head, or -1. */
  get headEnd(): number {
    if (this.headEndFound < 0) {
      const end = this.bytes.indexOf('\r\n\r\n');
      if (end >= 0) this.headEndFound = end + 4;
    }
    return this.headEndFound;
  }

  /** Body bytes received so far, without copying them. */
  get bodyLength(): number {
    return this.headEnd < 0 ? 0 : this.length - this.headEnd;
  }

  get head(): string {
    return this.bytes.subarray(0, Math.max(0, this.headEnd)).toString('latin1');
  }

  get body(): Buffer {
    return this.headEnd < 0 ? Buffer.alloc(0) : this.bytes.subarray(this.headEnd);
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** Resolves when `predicate` holds (checked on every chunk), rejects after `timeoutMs`. */
  until(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!predicate()) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`condition not met within ${timeoutMs} ms; got ${this.bytes.length} bytes`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      void this.closed.then(check);
    });
  }
}

function getRequest(path: string, extra = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`;
}

function headerOf(head: string, name: string): string | undefined {
  const line = head
    .split('\r\n')
    .find((candidate) => candidate.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(line.indexOf(':') + 1).trim();
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function configProblems(options: unknown): Promise<readonly string[]> {
  try {
    const sim = await startNetSim(options as NetSimOptions);
    await sim.close();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('FF_ERR_INVALID_OPTION');
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

/** Starts a simulator for one test and closes it afterwards, whatever happens. */
async function withSim<T>(options: NetSimOptions, body: (sim: NetSim) => Promise<T>): Promise<T> {
  const sim = await startNetSim(options);
  try {
    return await body(sim);
  } finally {
    await sim.close();
  }
}

const memoryFiles = { '/clip.mp4': CLIP, '/big.ts': BIG };

/* ------------------------------------------------------------------------------------------------------ */

describe('parseRange', () => {
  it.each([
    ['bytes=100-199', { kind: 'part', start: 100, end: 199 }],
    ['bytes=-50', { kind: 'part', start: 950, end: 999 }],
    ['bytes=-5000', { kind: 'part', start: 0, end: 999 }],
    ['bytes=900-', { kind: 'part', start: 900, end: 999 }],
    ['bytes=900-5000', { kind: 'part', start: 900, end: 999 }],
    ['BYTES = 0 - 0', { kind: 'part', start: 0, end: 0 }],
    ['bytes=1000-', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=200-100', { kind: 'whole' }],
    ['bytes=0-1,5-6', { kind: 'whole' }],
    ['items=0-1', { kind: 'whole' }],
    ['bytes=-', { kind: 'whole' }],
  ])('%s of 1000 bytes', (header, expected) => {
    expect(parseRange(header, 1000)).toEqual(expected);
  });

  it('finds nothing to serve in an empty file', () => {
    expect(parseRange('bytes=-10', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
  });
});

describe('startNetSim options', () => {
  it('reports every bad option at once', async () => {
    const problems = await configProblems({
      rateBytesPerSec: -1,
      ttfbMs: 'x',
      port: 70_000,
      colour: 'red',
      fault: { stallAfterBytes: 1.5, status: 99, bogus: 1 },
      files: { 'clip.mp4': new Uint8Array(1), '/b.mp4': 'x' },
    });
    expect(problems).toEqual([
      'colour: unknown option',
      'files./b.mp4: expected a Uint8Array, got "x"',
      'port: expected a port number from 0 to 65535, got 70000',
      'rateBytesPerSec: expected a positive number of bytes per second, got -1',
      'ttfbMs: expected a number of milliseconds >= 0, got "x"',
      'fault.status: expected an HTTP status code from 200 to 599, got 99',
      'fault.stallAfterBytes: expected an integer >= 0, got 1.5',
      'fault.bogus: unknown fault',
      'files.clip.mp4: expected a URL path starting with "/"',
    ]);
  });

  it('refuses a root that is not a directory', async () => {
    expect(await configProblems({ root: '/nonexistent/netsim-root' })).toEqual([
      'root: expected a directory, got "/nonexistent/netsim-root" (ENOENT)',
    ]);
  });

  it('says clearly that openssl is missing when it must make a certificate', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const problems = await configProblems({ http2: true });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^tls: .*`openssl`.*not on PATH/);
    } finally {
      process.env.PATH = path;
    }
  });

  it('has codecs that match the public types', () => {
    expectTypeOf<t.TypeOf<typeof NetSimFaultCodec>>().toEqualTypeOf<NetSimFault>();
    type Flat<T> = { [K in keyof T]: T[K] };
    expectTypeOf<t.TypeOf<typeof RequestOverridesCodec>>().toEqualTypeOf<
      Flat<Parameters<NetSim['urlFor']>[1] & object>
    >();
  });
});

describe('serving files over HTTP/1.1', () => {
  let sim: NetSim;
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'netsim-root-'));
    await mkdir(join(root, 'clips'));
    await writeFile(join(root, 'clips', 'a.ts'), Buffer.from(patternBytes(3000, 11)));
    await writeFile(join(root, 'b.mkv'), Buffer.from(patternBytes(10, 1)));
    await writeFile(join(root, 'c.webm'), Buffer.from(patternBytes(10, 2)));
    await writeFile(join(root, 'd.json'), '{}');
    await writeFile(join(root, 'e.bin'), Buffer.from(patternBytes(10, 3)));
    await writeFile(join(tmpdir(), 'netsim-outside.txt'), 'secret');
    await symlink(join(tmpdir(), 'netsim-outside.txt'), join(root, 'escape.txt'));
    sim = await startNetSim({ root, files: memoryFiles });
  });
  afterAll(async () => {
    await sim.close();
    await rm(root, { recursive: true, force: true });
    await rm(join(tmpdir(), 'netsim-outside.txt'), { force: true });
  });

  it('serves a whole in-memory file with its type, length and Accept-Ranges', async () => {
    const reply = await fetchReply(`${sim.url}/clip.mp4`);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('video/mp4');
    expect(reply.headers['content-length']).toBe(String(SIZE));
    expect(reply.headers['accept-ranges']).toBe('bytes');
    expect(reply.body.equals(CLIP)).toBe(true);
    const record = await sim.waitForRequestEnd(sim.requests.length);
    expect(record).toMatchObject({
      method: 'GET',
      path: '/clip.mp4',
      status: 200,
      httpVersion: '1.1',
      bodyBytesPlanned: SIZE,
      bodyBytesSent: SIZE,
      outcome: 'complete',
    });
  });

  it('serves files from root, nested, with types by extension', async () => {
    const nested = await fetchReply(`${sim.url}/clips/a.ts`);
    expect(nested.status).toBe(200);
    expect(nested.headers['content-type']).toBe('video/mp2t');
    expect(nested.headers['last-modified']).toBeDefined();
    expect(nested.body.equals(patternBytes(3000, 11))).toBe(true);
    const types = await Promise.all(
      ['/b.mkv', '/c.webm', '/d.json', '/e.bin'].map(
        async (path) => (await fetchReply(sim.url + path)).headers,
      ),
    );
    expect(types.map((headers) => headers['content-type'])).toEqual([
      'video/x-matroska',
      'video/webm',
      'application/json',
      'application/octet-stream',
    ]);
  });

  it('answers HEAD with the head of a GET and no body', async () => {
    const reply = await fetchReply(`${sim.url}/clip.mp4`, { method: 'HEAD' });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-length']).toBe(String(SIZE));
    expect(reply.body.length).toBe(0);
    expect(sim.requests.at(-1)).toMatchObject({ method: 'HEAD', bodyBytesPlanned: 0, bodyBytesSent: 0 });
  });

  it('serves a byte range as 206 with the exact bytes and Content-Range', async () => {
    const reply = await fetchReply(`${sim.url}/clip.mp4`, { headers: { range: 'bytes=100-199' } });
    expect(reply.status).toBe(206);
    expect(reply.headers['content-range']).toBe(`bytes 100-199/${SIZE}`);
    expect(reply.headers['content-length']).toBe('100');
    expect(reply.body.equals(CLIP.subarray(100, 200))).toBe(true);
    expect(sim.requests.at(-1)).toMatchObject({
      rangeHeader: 'bytes=100-199',
      status: 206,
      bodyBytesPlanned: 100,
    });
  });

  it('serves a suffix range (bytes=-50)', async () => {
    const reply = await fetchReply(`${sim.url}/clip.mp4`, { headers: { range: 'bytes=-50' } });
    expect(reply.status).toBe(206);
    expect(reply.headers['content-range']).toBe(`bytes ${SIZE - 50}-${SIZE - 1}/${SIZE}`);
    expect(reply.body.equals(CLIP.subarray(SIZE - 50))).toBe(true);
  });

  it('serves an open range (bytes=N-)', async () => {
    const reply = await fetchReply(`${sim.url}/clip.mp4`, { headers: { range: 'bytes=9000-' } });
    expect(reply.status).toBe(206);
    expect(reply.headers['content-range']).toBe(`bytes 9000-${SIZE - 1}/${SIZE}`);
    expect(reply.body.equals(CLIP.subarray(9000))).toBe(true);
  });

  it('answers 416 with bytes */SIZE for an unsatisfiable range', async () => {
    const reply = await fetchReply(`${sim.url}/clip.mp4`, { headers: { range: `bytes=${SIZE}-` } });
    expect(reply.status).toBe(416);
    expect(reply.headers['content-range']).toBe(`bytes */${SIZE}`);
  });

  it('ignores Range when ranges are turned off for the request (ff-range=0)', async () => {
    const reply = await fetchReply(sim.urlFor('/clip.mp4', { range: false }), {
      headers: { range: 'bytes=0-9' },
    });
    expect(reply.status).toBe(200);
    expect(reply.headers['accept-ranges']).toBeUndefined();
    expect(reply.body.equals(CLIP)).toBe(true);
  });

  it('answers 404 for an unknown path and 405 for other methods', async () => {
    const missing = await fetchReply(`${sim.url}/nope.mp4`);
    expect(missing.status).toBe(404);
    const posted = await fetchReply(`${sim.url}/clip.mp4`, { method: 'DELETE' });
    expect(posted.status).toBe(405);
    expect(posted.headers.allow).toBe('GET, HEAD');
  });

  it('refuses path traversal and symbolic links out of root with 403', async () => {
    for (const path of ['/../netsim-outside.txt', '/clips/%2e%2e/%2e%2e/netsim-outside.txt', '/escape.txt']) {
      const client = await RawClient.connect(sim.port);
      client.send(getRequest(path, 'Connection: close\r\n'));
      await client.closed;
      expect(client.head.split('\r\n')[0], path).toBe('HTTP/1.1 403 Forbidden');
      expect(client.body.toString()).not.toContain('secret');
    }
  });

  it('keeps the path free of the query and records the query', async () => {
    const reply = await fetchReply(`${sim.url}/clip.mp4?cache=bust&ff-ttfb-ms=0`);
    expect(reply.status).toBe(200);
    expect(sim.requests.at(-1)).toMatchObject({
      path: '/clip.mp4',
      query: { cache: 'bust', 'ff-ttfb-ms': '0' },
    });
  });

  it('answers 400 naming every bad override in the query', async () => {
    const reply = await fetchReply(`${sim.url}/clip.mp4?ff-rate=fast&ff-stal-after=10`);
    expect(reply.status).toBe(400);
    const text = reply.body.toString();
    expect(text).toContain('ff-stal-after: unknown override');
    expect(text).toContain('ff-rate: expected a positive number, got "fast"');
  });

  it('reuses one keep-alive connection for several requests', async () => {
    const before = sim.connectionsAccepted();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await fetchReply(`${sim.url}/clip.mp4`, { agent });
      const second = await fetchReply(`${sim.url}/clip.mp4`, { agent, headers: { range: 'bytes=0-9' } });
      expect(first.headers.connection).toBe('keep-alive');
      expect(second.body.equals(CLIP.subarray(0, 10))).toBe(true);
      expect(sim.connectionsAccepted() - before).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  it('answers pipelined requests in order on one connection', async () => {
    const client = await RawClient.connect(sim.port);
    client.send(
      getRequest('/clip.mp4', 'Range: bytes=0-4\r\n') +
        getRequest('/clip.mp4', 'Range: bytes=5-9\r\nConnection: close\r\n'),
    );
    await client.closed;
    const text = client.bytes.toString('latin1');
    expect(text.match(/HTTP\/1\.1 206/g)).toHaveLength(2);
    expect(text.indexOf('bytes 0-4/')).toBeLessThan(text.indexOf('bytes 5-9/'));
    expect(client.bytes.subarray(client.bytes.length - 5).equals(CLIP.subarray(5, 10))).toBe(true);
  });
});

describe('faults over HTTP/1.1', () => {
  let sim: NetSim;
  beforeAll(async () => {
    sim = await startNetSim({ files: memoryFiles });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('answers a status fault with a short text body, per server and per request', async () => {
    await withSim({ files: memoryFiles, fault: { status: 503 } }, async (faulty) => {
      const reply = await fetchReply(`${faulty.url}/clip.mp4`);
      expect(reply.status).toBe(503);
      expect(reply.body.toString()).toMatch(/^503 Service Unavailable/);
      expect(reply.headers['content-length']).toBe(String(reply.body.length));
      // The query overrides the server's fault for that request only.
      expect((await fetchReply(faulty.urlFor('/clip.mp4', { status: 500 }))).status).toBe(500);
      expect((await fetchReply(`${faulty.url}/clip.mp4`)).status).toBe(503);
    });
    const ranged = await fetchReply(sim.urlFor('/clip.mp4', { status: 416 }));
    expect(ranged.status).toBe(416);
    expect(ranged.headers['content-range']).toBe(`bytes */${SIZE}`);
  });

  it('stalls after exactly N body bytes and keeps the connection open', async () => {
    const client = await RawClient.connect(sim.port);
    client.send(getRequest('/clip.mp4?ff-stall-after=1000'));
    await client.until(() => client.headEnd > 0 && client.body.length >= 1000);
    await sleep(300);
    expect(client.body.length).toBe(1000);
    expect(client.body.equals(CLIP.subarray(0, 1000))).toBe(true);
    expect(headerOf(client.head, 'content-length')).toBe(String(SIZE));
    expect(client.socket.destroyed).toBe(false);
    const record = sim.requests.at(-1) as NetSimRequestRecord;
    expect(record).toMatchObject({ outcome: 'pending', bodyBytesSent: 1000, bodyBytesPlanned: SIZE });
    client.socket.destroy();
    expect(await sim.waitForRequestEnd(record.id)).toMatchObject({
      outcome: 'stalled-closed',
      bodyBytesSent: 1000,
    });
  });

  it('resets the connection after exactly N body bytes', async () => {
    const client = await RawClient.connect(sim.port);
    client.send(getRequest(sim.urlFor('/big.ts', { resetAfterBytes: 1000 }).slice(sim.url.length)));
    await client.closed;
    expect(client.body.length).toBe(1000);
    expect(client.body.equals(BIG.subarray(0, 1000))).toBe(true);
    // ECONNRESET when the client read the bytes before the RST came; libuv reports a plain close when both
    // arrive in one wake-up, which a loaded machine can cause.
    expect(['ECONNRESET', undefined]).toContain(client.errorCode);
    const record = await sim.waitForRequestEnd(sim.requests.length);
    expect(record).toMatchObject({ outcome: 'reset', bodyBytesSent: 1000, bodyBytesPlanned: BIG.length });
  });

  it('declares a longer Content-Length than it sends, then ends the connection', async () => {
    const reply = await fetchReply(sim.urlFor('/clip.mp4', { contentLengthExcess: 500 }));
    expect(reply.headers['content-length']).toBe(String(SIZE + 500));
    expect(reply.body.length).toBe(SIZE);
    expect(reply.body.equals(CLIP)).toBe(true);
    expect(reply.complete).toBe(false);
    expect(await sim.waitForRequestEnd(sim.requests.length)).toMatchObject({
      outcome: 'complete',
      bodyBytesSent: SIZE,
    });
  });

  it('trickles the head in several pieces over slowHeadersMs', async () => {
    const client = await RawClient.connect(sim.port);
    const sentAt = performance.now();
    client.send(getRequest(sim.urlFor('/clip.mp4', { slowHeadersMs: 200 }).slice(sim.url.length)));
    await client.until(() => client.headEnd > 0);
    const headCompletedAt = client.chunks.at(-1)!.at;
    expect(client.chunks.length).toBeGreaterThanOrEqual(3);
    expect(headCompletedAt - sentAt).toBeGreaterThanOrEqual(200);
    expect(client.chunks[0]!.bytes.toString('latin1')).toBe('HTTP/1.1 200 OK\r\n');
    await client.until(() => client.body.length === SIZE);
    client.socket.destroy();
  });

  it('holds the head back for ttfbMs and sends the body right after it', async () => {
    const reply = await fetchReply(sim.urlFor('/clip.mp4', { ttfbMs: 100 }));
    expect(reply.headAt - reply.sentAt).toBeGreaterThanOrEqual(100);
    const record = await sim.waitForRequestEnd(sim.requests.length);
    expect(record.headersSentAt! - record.receivedAt).toBeGreaterThanOrEqual(100);
    expect(record.firstBodyByteAt).toBeGreaterThanOrEqual(record.headersSentAt!);
  });

  it('caps the bandwidth (lower bound only; the benchmark measures accuracy)', async () => {
    const reply = await fetchReply(sim.urlFor('/big.ts', { rateBytesPerSec: 2_000_000 }), {
      headers: { range: 'bytes=0-399999' },
    });
    expect(reply.body.equals(BIG.subarray(0, 400_000))).toBe(true);
    const record = await sim.waitForRequestEnd(sim.requests.length);
    // 400 000 bytes at 2 MB/s: the last byte is due 200 ms after the first.
    expect(record.endedAt! - record.firstBodyByteAt!).toBeGreaterThanOrEqual(199);
    expect(reply.doneAt - reply.headAt).toBeGreaterThanOrEqual(190);
  });

  it('stops at once and records client-closed when the client goes away', async () => {
    const ended: NetSimRequestRecord[] = [];
    const onEnd = (record: NetSimRequestRecord): void => void ended.push(record);
    sim.events.on('request-end', onEnd);
    try {
      const client = await RawClient.connect(sim.port);
      client.send(getRequest(sim.urlFor('/big.ts', { rateBytesPerSec: 1_000_000 }).slice(sim.url.length)));
      await client.until(() => client.body.length > 0);
      client.socket.destroy();
      const record = await sim.waitForRequestEnd(sim.requests.length);
      expect(record.outcome).toBe('client-closed');
      expect(record.bodyBytesSent).toBeGreaterThan(0);
      expect(record.bodyBytesSent).toBeLessThan(record.bodyBytesPlanned);
      expect(ended).toContain(record);
      const sentWhenClosed = record.bodyBytesSent;
      await sleep(50);
      expect(record.bodyBytesSent).toBe(sentWhenClosed);
    } finally {
      sim.events.off('request-end', onEnd);
    }
  });

  it('respects backpressure: a client that stops reading stops the writes', async () => {
    const huge = new Uint8Array(16_000_000);
    await withSim({ files: { '/huge.bin': huge } }, async (local) => {
      const client = await RawClient.connect(local.port);
      client.send(getRequest('/huge.bin'));
      await client.until(() => client.bodyLength > 0);
      client.socket.pause();
      await sleep(200);
      const record = local.requests[0] as NetSimRequestRecord;
      // Only what the kernel's socket buffers hold has left; without backpressure it would all be "sent".
      expect(record.outcome).toBe('pending');
      expect(record.bodyBytesSent).toBeLessThan(huge.length);
      client.socket.resume();
      await client.until(() => client.bodyLength === huge.length, 5000);
      expect((await local.waitForRequestEnd(record.id)).outcome).toBe('complete');
      client.socket.destroy();
    });
  });

  it('records client-closed for a client that leaves during the TTFB wait', async () => {
    const client = await RawClient.connect(sim.port);
    client.send(getRequest(sim.urlFor('/clip.mp4', { ttfbMs: 5000 }).slice(sim.url.length)));
    await new Promise<void>((resolve) => sim.events.once('request', () => resolve()));
    client.socket.destroy();
    const record = await sim.waitForRequestEnd(sim.requests.length, 1000);
    expect(record).toMatchObject({ outcome: 'client-closed', bodyBytesSent: 0 });
    expect(record.headersSentAt).toBeUndefined();
  });

  it('builds override URLs and refuses bad overrides', () => {
    expect(sim.urlFor('/clip.mp4', { stallAfterBytes: 10, rateBytesPerSec: 1000, range: false })).toBe(
      `${sim.url}/clip.mp4?ff-stall-after=10&ff-rate=1000&ff-range=0`,
    );
    expect(sim.urlFor('dir/my clip.mp4?x=1', { status: 503 })).toBe(
      `${sim.url}/dir/my%20clip.mp4?x=1&ff-status=503`,
    );
    let error: unknown;
    try {
      sim.urlFor('/clip.mp4', { rateBytesPerSec: -5, stallAfterBytes: -1, colour: 1 } as never);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'colour: unknown override',
      'stallAfterBytes: expected an integer >= 0, got -1',
      'rateBytesPerSec: expected a positive number of bytes per second, got -5',
    ]);
  });

  it('times out waiting for a request that never comes', async () => {
    await expect(sim.waitForRequestEnd(10_000, 20)).rejects.toMatchObject({
      code: 'FF_ERR_NETSIM_WAIT_TIMEOUT',
    });
    await expect(sim.waitForRequestEnd(10_000, 20)).rejects.toBeInstanceOf(FirstframeError);
  });
});

describe('HTTP/2 over TLS', () => {
  let sim: NetSim;
  let session: http2.ClientHttp2Session;
  beforeAll(async () => {
    sim = await startNetSim({ files: memoryFiles, http2: true });
    session = http2.connect(sim.url, { ca: sim.tlsOptions?.ca });
  });
  afterAll(async () => {
    session.close();
    await sim.close();
  });

  function h2Get(
    path: string,
    headers: http2.OutgoingHttpHeaders = {},
    onFirstData?: (stream: http2.ClientHttp2Stream) => void,
  ): Promise<{
    status: number;
    headers: http2.IncomingHttpHeaders;
    body: Buffer;
    rstCode: number | undefined;
  }> {
    return new Promise((resolve) => {
      const stream = session.request({ ':path': path, ...headers });
      let responseHeaders: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.on('response', (received) => {
        responseHeaders = received;
      });
      stream.on('data', (chunk: Buffer) => {
        if (chunks.length === 0) onFirstData?.(stream);
        chunks.push(chunk);
      });
      stream.on('error', () => {});
      stream.on('close', () =>
        resolve({
          status: Number(responseHeaders[':status'] ?? 0),
          headers: responseHeaders,
          body: Buffer.concat(chunks),
          rstCode: stream.rstCode,
        }),
      );
    });
  }

  it('serves a range over h2 with a certificate the client can trust', async () => {
    expect(sim.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(sim.tlsOptions?.ca).toContain('BEGIN CERTIFICATE');
    const reply = await h2Get('/clip.mp4', { range: 'bytes=100-199' });
    expect(reply.status).toBe(206);
    expect(reply.headers['content-range']).toBe(`bytes 100-199/${SIZE}`);
    expect(reply.body.equals(CLIP.subarray(100, 200))).toBe(true);
    expect(await sim.waitForRequestEnd(sim.requests.length)).toMatchObject({
      httpVersion: '2.0',
      outcome: 'complete',
    });
  });

  it('falls back to HTTP/1.1 on the same port through ALPN', async () => {
    const reply = await fetchReply(`${sim.url}/clip.mp4`, {
      ca: sim.tlsOptions?.ca,
      ALPNProtocols: ['http/1.1'],
    });
    expect(reply.status).toBe(200);
    expect(reply.body.equals(CLIP)).toBe(true);
    expect((reply.socket as import('node:tls').TLSSocket).alpnProtocol).toBe('http/1.1');
    expect(sim.requests.at(-1)?.httpVersion).toBe('1.1');
  });

  it('records client-closed when the client cancels a paced stream', async () => {
    const reply = await h2Get(
      sim.urlFor('/big.ts', { rateBytesPerSec: 1_000_000 }).slice(sim.url.length),
      {},
      (stream) => stream.close(http2.constants.NGHTTP2_CANCEL),
    );
    expect(reply.body.length).toBeLessThan(BIG.length);
    const record = await sim.waitForRequestEnd(sim.requests.length);
    expect(record.outcome).toBe('client-closed');
    expect(record.bodyBytesSent).toBeLessThan(record.bodyBytesPlanned);
  });

  it('resets the stream after exactly N body bytes', async () => {
    const reply = await h2Get(sim.urlFor('/big.ts', { resetAfterBytes: 1000 }).slice(sim.url.length));
    expect(reply.body.equals(BIG.subarray(0, 1000))).toBe(true);
    expect(reply.rstCode).toBe(http2.constants.NGHTTP2_INTERNAL_ERROR);
    expect(await sim.waitForRequestEnd(sim.requests.length)).toMatchObject({
      outcome: 'reset',
      bodyBytesSent: 1000,
    });
  });
});

describe('HTTPS/1.1 with a given certificate', () => {
  it('serves over TLS without HTTP/2 when tls is given', async () => {
    const certificate = await selfSignedCertificate();
    await withSim({ files: memoryFiles, tls: certificate }, async (sim) => {
      expect(sim.url).toMatch(/^https:/);
      expect(sim.tlsOptions).toEqual({ ca: certificate.cert });
      const reply = await fetchReply(`${sim.url}/clip.mp4`, {
        ca: certificate.cert,
        headers: { range: 'bytes=-10' },
      });
      expect(reply.status).toBe(206);
      expect(reply.body.equals(CLIP.subarray(SIZE - 10))).toBe(true);
      const reset = await fetchReply(sim.urlFor('/big.ts', { resetAfterBytes: 500 }), {
        ca: certificate.cert,
      });
      expect(reset.body.equals(BIG.subarray(0, 500))).toBe(true);
      expect(reset.complete).toBe(false);
      expect((await sim.waitForRequestEnd(2)).outcome).toBe('reset');
    });
  });
});

describe('close()', () => {
  const resourceCounts = (): Record<string, number> => {
    const counts: Record<string, number> = {};
    for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
    return counts;
  };

  it('ends stalled and waiting responses and leaves no socket, server or timer behind', async () => {
    const before = resourceCounts();
    const sim = await startNetSim({ files: memoryFiles, rateBytesPerSec: 100_000 });
    const stalled = await RawClient.connect(sim.port);
    stalled.send(getRequest('/big.ts?ff-stall-after=100'));
    const waiting = await RawClient.connect(sim.port);
    waiting.send(getRequest('/clip.mp4?ff-ttfb-ms=10000'));
    const streaming = await RawClient.connect(sim.port);
    streaming.send(getRequest('/big.ts'));
    await stalled.until(() => stalled.body.length === 100);
    await streaming.until(() => streaming.body.length > 0);
    expect(sim.openConnections()).toBe(3);

    await sim.close();
    await Promise.all([stalled.closed, waiting.closed, streaming.closed]);
    await new Promise((resolve) => setImmediate(resolve));

    expect(sim.openConnections()).toBe(0);
    const outcomes = Object.fromEntries(
      sim.requests.map((record) => [record.path + JSON.stringify(record.query), record.outcome]),
    );
    expect(outcomes).toEqual({
      '/big.ts{"ff-stall-after":"100"}': 'stalled-closed',
      '/clip.mp4{"ff-ttfb-ms":"10000"}': 'error',
      '/big.ts{}': 'error',
    });
    const after = resourceCounts();
    for (const kind of ['TCPSocketWrap', 'TCPServerWrap', 'Timeout']) {
      expect(after[kind] ?? 0, kind).toBeLessThanOrEqual(before[kind] ?? 0);
    }
  });

  it('closes an HTTP/2 simulator with an open session', async () => {
    const sim = await startNetSim({ files: memoryFiles, http2: true });
    const session = http2.connect(sim.url, { ca: sim.tlsOptions?.ca });
    session.on('error', () => {});
    const stream = session.request({ ':path': '/big.ts?ff-stall-after=10' });
    stream.on('error', () => {});
    await new Promise((resolve) => stream.once('data', resolve));
    await sim.close();
    await new Promise((resolve) => session.once('close', resolve));
    expect(sim.openConnections()).toBe(0);
    expect(sim.requests[0]?.outcome).toBe('stalled-closed');
  });
});

describe('firstframe cdn', () => {
  function collector(): NodeJS.WritableStream & { text(): string } {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk.toString());
        callback();
      },
    });
    return Object.assign(stream, { text: () => chunks.join('') });
  }

  it.each([
    ['1660000', 1_660_000],
    ['1.66MB', 1_660_000],
    ['1.66M', 1_660_000],
    ['500KB', 500_000],
    ['500kB/s', 500_000],
    ['2MiB', 2_097_152],
    ['512KiB', 524_288],
    ['1GB', 1_000_000_000],
    ['100B/s', 100],
    ['1.66Mb', undefined],
    ['fast', undefined],
    ['0', undefined],
    ['-5', undefined],
  ])('reads the rate %s', (text, expected) => {
    expect(parseRate(text)).toBe(expected);
  });

  it('names every usage problem and returns 2', async () => {
    const stdout = collector();
    const stderr = collector();
    const code = await cdnCommand(
      ['--rate', 'fast', '--port', '70000', '--status', '99', '--bogus', '--stall-after', 'x', '--http2=1'],
      { stdout, stderr },
    );
    expect(code).toBe(2);
    expect(stdout.text()).toBe('');
    const [header, ...rest] = stderr.text().split('\n');
    expect(header).toBe('firstframe cdn: bad usage');
    const lines = rest
      .slice(0, rest.indexOf('usage: firstframe cdn DIR [options]'))
      .map((line) => line.trim());
    expect(lines).toEqual([
      '--bogus: unknown option',
      '--http2: takes no value',
      '--rate: expected bytes per second such as 1660000, 1.66MB, 500KB or 2MiB, got "fast"',
      '--stall-after: expected a byte count, got "x"',
      'DIR: missing (the directory to serve)',
      '--port: expected a port number from 0 to 65535, got 70000',
      '--status: expected an HTTP status code from 200 to 599, got 99',
    ]);
  });

  it('refuses a DIR that is not a directory', async () => {
    const stderr = collector();
    expect(await cdnCommand(['/nonexistent/netsim-dir'], { stdout: collector(), stderr })).toBe(2);
    expect(stderr.text()).toContain('DIR: "/nonexistent/netsim-dir" is not a directory (ENOENT)');
  });

  it('serves DIR, prints its URL as JSON, and stops on abort', async () => {
    const root = await mkdtemp(join(tmpdir(), 'netsim-cdn-'));
    try {
      await writeFile(join(root, 'clip.mp4'), Buffer.from(CLIP));
      const stdout = collector();
      const stderr = collector();
      const controller = new AbortController();
      const exit = cdnCommand([root, '--rate', '10MB', '--ttfb', '5', '--stall-after', '20000'], {
        stdout,
        stderr,
        signal: controller.signal,
      });
      while (!stdout.text().includes('\n')) await sleep(5);
      const ready = JSON.parse(stdout.text()) as { url: string; root: string };
      expect(ready).toEqual({ url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), root });
      const reply = await fetchReply(`${ready.url}/clip.mp4`, { headers: { range: 'bytes=0-99' } });
      expect(reply.body.equals(CLIP.subarray(0, 100))).toBe(true);
      controller.abort();
      expect(await exit).toBe(0);
      expect(stderr.text()).toContain(`netsim: serving ${root} at ${ready.url}`);
      expect(stderr.text()).toContain('GET /clip.mp4 HTTP/1.1 206 100/100 B');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
