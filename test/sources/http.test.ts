import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Subject, firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import type { Dispatcher } from 'undici';
import type { StageEvent } from '../../src/core/events.js';
import { createDispatcher } from '../../src/sources/dispatcher.js';
import { httpSource, type HttpSourceOptions } from '../../src/sources/http.js';
import type { ByteChunk } from '../../src/sources/types.js';
import { warm } from '../../src/sources/warm.js';
import { startNetSim, type NetSim, type NetSimFault } from '../../src/sim/netsim.js';
import { concatBytes, expectContiguous, sourceErrorOf } from '../support/chunks.js';

const SIZE = 600_000;
const body = randomBytes(SIZE);

let sim: NetSim;
let dispatcher: Dispatcher;

beforeAll(async () => {
  sim = await startNetSim({ files: { '/clip.mp4': body } });
});
afterAll(async () => {
  await sim.close();
});
afterEach(async () => {
  await dispatcher?.destroy();
});

/** A fresh dispatcher per test, so that connection counts and timing events are the test's own. */
function source(path: string, options: HttpSourceOptions = {}, fault?: Parameters<NetSim['urlFor']>[1]) {
  dispatcher = createDispatcher();
  const events: StageEvent[] = [];
  const url = sim.urlFor(path, fault);
  const observable = httpSource(url, { dispatcher, onEvent: (e) => events.push(e), ...options });
  return { url, events, observable };
}

const lastRequest = () => sim.requests[sim.requests.length - 1]!;

describe('httpSource: strategies against the simulator', () => {
  it('stream emits every byte in order, chunk by chunk, with the total size and its timing events', async () => {
    const { observable, events } = source('/clip.mp4', {}, { rateBytesPerSec: 3_000_000 });
    const chunks = await lastValueFrom(observable.pipe(toArray()));
    expect(concatBytes(chunks).equals(body)).toBe(true);
    expectContiguous(chunks, 0);
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks[0]!.resource.totalBytes).toBe(SIZE);
    expect(chunks[0]!.resource.rangeHonoured).toBeUndefined();
    // Chunks are emitted as they arrive, not at the end: arrival times spread over the transfer.
    expect(chunks[chunks.length - 1]!.receivedAt - chunks[0]!.receivedAt).toBeGreaterThan(100);
    const names = events.map((e) => e.name).filter((name) => name !== 'chunk');
    // An IP literal needs no DNS lookup, so there is no dns event here (see the localhost test).
    expect(names).toEqual(['request', 'connect', 'request-sent', 'headers', 'first-byte', 'end']);
    expect(events.filter((e) => e.name === 'chunk')).toHaveLength(chunks.length);
    expect(events.find((e) => e.name === 'end')!.data).toMatchObject({ reason: 'complete', bytes: SIZE });
    expect(events.find((e) => e.name === 'headers')!.data).toMatchObject({ status: 200, totalBytes: SIZE });
    const server = await sim.waitForRequestEnd(lastRequest().id);
    expect(server.outcome).toBe('complete');
  });

  it('partial asks for bytes=0-(N-1), gets exactly N bytes, and leaves the response complete', async () => {
    const { observable } = source('/clip.mp4', { strategy: 'partial', partialBytes: 100_000 });
    const chunks = await lastValueFrom(observable.pipe(toArray()));
    expect(concatBytes(chunks).equals(body.subarray(0, 100_000))).toBe(true);
    expectContiguous(chunks, 0);
    expect(chunks[0]!.resource).toMatchObject({ totalBytes: SIZE, rangeHonoured: true });
    const server = await sim.waitForRequestEnd(lastRequest().id);
    expect(server).toMatchObject({ rangeHeader: 'bytes=0-99999', status: 206, outcome: 'complete' });
  });

  it('partial against a server that ignores Range keeps N bytes, closes the connection, reports rangeHonoured false', async () => {
    const { observable, events } = source(
      '/clip.mp4',
      { strategy: 'partial', partialBytes: 100_000 },
      { range: false, rateBytesPerSec: 2_000_000 },
    );
    const chunks = await lastValueFrom(observable.pipe(toArray()));
    expect(concatBytes(chunks).equals(body.subarray(0, 100_000))).toBe(true);
    expect(chunks[0]!.resource).toMatchObject({ totalBytes: SIZE, rangeHonoured: false });
    expect(events.find((e) => e.name === 'end')!.data).toMatchObject({
      reason: 'limit',
      emittedBytes: 100_000,
    });
    const server = await sim.waitForRequestEnd(lastRequest().id);
    expect(server.status).toBe(200);
    expect(server.outcome).toBe('client-closed');
    expect(server.bodyBytesSent).toBeLessThan(SIZE);
  });

  it('full emits the whole body once, at the end', async () => {
    const { observable } = source('/clip.mp4', { strategy: 'full' });
    const chunks = await lastValueFrom(observable.pipe(toArray()));
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.offset).toBe(0);
    expect(Buffer.from(chunks[0]!.bytes).equals(body)).toBe(true);
  });

  it('ranges fetches the next window only when asked, and completes after the last one', async () => {
    const more = new Subject<void>();
    const { observable } = source('/clip.mp4', { strategy: 'ranges', windowBytes: 250_000, more });
    const before = sim.requests.length;
    const received: ByteChunk[] = [];
    const done = new Promise<void>((resolve, reject) =>
      observable.subscribe({ next: (c) => received.push(c), error: reject, complete: resolve }),
    );
    await sim.waitForRequestEnd(before + 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sim.requests.length - before).toBe(1);
    expect(concatBytes(received).byteLength).toBe(250_000);
    more.next();
    await sim.waitForRequestEnd(before + 2);
    more.next();
    await done;
    expect(sim.requests.slice(before).map((r) => r.rangeHeader)).toEqual([
      'bytes=0-249999',
      'bytes=250000-499999',
      'bytes=500000-749999',
    ]);
    expect(concatBytes(received).equals(body)).toBe(true);
    expectContiguous(received, 0);
  });

  it('fetchRange reads a suffix range while the main transfer is still streaming', async () => {
    const { observable } = source('/clip.mp4', {}, { rateBytesPerSec: 1_000_000 });
    const first = await firstValueFrom(observable);
    // The main transfer was unsubscribed by firstValueFrom; fetchRange still works on the resource.
    const tail = await lastValueFrom(first.resource.fetchRange!({ suffix: 1000 }).pipe(toArray()));
    expect(tail[0]!.offset).toBe(SIZE - 1000);
    expect(concatBytes(tail).equals(body.subarray(SIZE - 1000))).toBe(true);
    expect(lastRequest().rangeHeader).toBe('bytes=-1000');
  });

  it('fetchRange against a server that ignores Range errors with FF_ERR_RANGE_IGNORED', async () => {
    const { observable } = source('/clip.mp4', { strategy: 'partial', partialBytes: 1000 }, { range: false });
    const first = await firstValueFrom(observable);
    const error = await sourceErrorOf(first.resource.fetchRange!({ start: 5000, end: 5999 }));
    expect(error.code).toBe('FF_ERR_RANGE_IGNORED');
  });
});

describe('httpSource: cancellation', () => {
  it('unsubscribing mid-transfer closes the socket: the server sees the client go away early', async () => {
    const { observable, events } = source('/clip.mp4', {}, { rateBytesPerSec: 500_000 });
    const chunks = await lastValueFrom(observable.pipe(take(2), toArray()));
    const bytesSeen = concatBytes(chunks).byteLength;
    const server = await sim.waitForRequestEnd(lastRequest().id);
    expect(server.outcome).toBe('client-closed');
    expect(server.bodyBytesSent).toBeLessThan(SIZE);
    expect(server.bodyBytesSent).toBeGreaterThanOrEqual(bytesSeen);
    expect(events.find((e) => e.name === 'end')!.data).toMatchObject({ reason: 'unsubscribed' });
    await expect.poll(() => sim.openConnections()).toBe(0);
  });

  it('unsubscribing before the response arrives aborts the request', async () => {
    const { observable } = source('/clip.mp4', {}, { ttfbMs: 300 });
    const before = sim.requests.length;
    const subscription = observable.subscribe();
    await expect.poll(() => sim.requests.length).toBe(before + 1);
    subscription.unsubscribe();
    const server = await sim.waitForRequestEnd(before + 1);
    expect(server.outcome).toBe('client-closed');
    expect(server.bodyBytesSent).toBe(0);
  });
});

describe('httpSource: bad input and faults end with a typed error naming the URL', () => {
  const cases: Array<[string, NetSimFault, HttpSourceOptions, string, RegExp]> = [
    ['404', { status: 404 }, {}, 'FF_ERR_HTTP_STATUS', /HTTP 404/],
    ['500', { status: 500 }, {}, 'FF_ERR_HTTP_STATUS', /HTTP 500/],
    ['503', { status: 503 }, {}, 'FF_ERR_HTTP_STATUS', /HTTP 503/],
    [
      'a body shorter than its Content-Length',
      { contentLengthExcess: 5000 },
      {},
      'FF_ERR_BODY_SHORT',
      /body ended after 600000 of 605000 bytes/,
    ],
    [
      'a stalled body',
      { stallAfterBytes: 20_000 },
      { stallTimeoutMs: 300 },
      'FF_ERR_STALLED',
      /no bytes for 300 ms after 20000 body bytes/,
    ],
    ['a reset connection', { resetAfterBytes: 20_000 }, {}, 'FF_ERR_', /GET http/],
    [
      'slow headers',
      { slowHeadersMs: 1000 },
      { headersTimeoutMs: 200 },
      'FF_ERR_HEADERS_TIMEOUT',
      /no response headers within 200 ms/,
    ],
  ];
  it.each(cases)('%s', async (_name, fault, options, code, message) => {
    const { observable, url, events } = source('/clip.mp4', options, fault);
    const error = await sourceErrorOf(observable);
    expect(error.code.startsWith(code)).toBe(true);
    expect(error.message).toMatch(message);
    expect(error.message).toContain(url);
    expect(error.context.url).toBe(url);
    expect(events.find((e) => e.name === 'end')!.data).toMatchObject({ reason: 'error', code: error.code });
    const server = await sim.waitForRequestEnd(lastRequest().id);
    expect(server.outcome).not.toBe('pending');
    await expect.poll(() => sim.openConnections()).toBe(0);
  });

  it('a reset connection reports how many bytes arrived', async () => {
    const { observable } = source('/clip.mp4', {}, { resetAfterBytes: 20_000 });
    const error = await sourceErrorOf(observable);
    expect(['FF_ERR_CONNECTION', 'FF_ERR_BODY_SHORT']).toContain(error.code);
    expect(error.context.bytes).toBe(20_000);
  });

  it('416 for a range past the end', async () => {
    const { observable } = source('/clip.mp4', { strategy: 'partial', partialBytes: 10 });
    const first = await firstValueFrom(observable);
    const error = await sourceErrorOf(first.resource.fetchRange!({ start: SIZE + 10 }));
    expect(error.code).toBe('FF_ERR_RANGE_NOT_SATISFIABLE');
    expect(error.message).toContain(`resource has ${SIZE} bytes`);
  });

  it('an invalid URL and an unsupported scheme fail on subscribe, not on construction', async () => {
    dispatcher = createDispatcher();
    expect((await sourceErrorOf(httpSource('not a url', { dispatcher }))).code).toBe('FF_ERR_INVALID_URL');
    const scheme = await sourceErrorOf(httpSource('ftp://example.com/a.mp4', { dispatcher }));
    expect(scheme.code).toBe('FF_ERR_UNSUPPORTED_SCHEME');
    expect(scheme.message).toContain('ftp:');
  });

  it('a refused connection', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as { port: number };
        probe.close(() => resolve(free));
      });
    });
    dispatcher = createDispatcher();
    const error = await sourceErrorOf(httpSource(`http://127.0.0.1:${port}/clip.mp4`, { dispatcher }));
    expect(error.code).toBe('FF_ERR_CONNECT_REFUSED');
    expect(error.message).toContain(`127.0.0.1:${port}`);
  });

  it('a connect that never completes: FF_ERR_CONNECT_TIMEOUT', async () => {
    // A listener that never accepts, with its queue filled: the kernel drops further SYNs, so a connect
    // hangs (all on loopback). Node accepts on its own, hence a python3 process holds the socket.
    const holder = spawn('python3', [
      '-c',
      "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(0); print(s.getsockname()[1], flush=True); time.sleep(30)",
    ]);
    const fillers: Socket[] = [];
    try {
      const port = await new Promise<number>((resolve) =>
        holder.stdout.once('data', (d) => resolve(Number(String(d).trim()))),
      );
      for (let i = 0; i < 4; i += 1) fillers.push(connect(port, '127.0.0.1').on('error', () => undefined));
      await new Promise((resolve) => setTimeout(resolve, 200));
      dispatcher = createDispatcher({ connectTimeoutMs: 300 });
      const error = await sourceErrorOf(httpSource(`http://127.0.0.1:${port}/clip.mp4`, { dispatcher }));
      expect(error.code).toBe('FF_ERR_CONNECT_TIMEOUT');
      expect(error.message).toBe(`GET http://127.0.0.1:${port}/clip.mp4: connect timed out`);
    } finally {
      for (const filler of fillers) filler.destroy();
      holder.kill();
    }
  });

  it('a DNS failure', async () => {
    dispatcher = createDispatcher();
    const error = await sourceErrorOf(httpSource('http://no-such-host.invalid/clip.mp4', { dispatcher }));
    expect(error.code).toBe('FF_ERR_DNS');
    expect(error.message).toContain('no-such-host.invalid');
  });

  it('bad options throw a ConfigError listing every problem at construction', () => {
    expect(() => httpSource('http://x/y', { partialBytes: 0, stallTimeoutMs: -1 })).toThrowError(
      /partialBytes: expected a positive integer, got 0\nstallTimeoutMs: expected a positive integer, got -1/,
    );
  });
});

describe('dispatcher: keep-alive, warm-up, HTTP/2', () => {
  it('times the DNS lookup of a host name and caches the answer', async () => {
    dispatcher = createDispatcher();
    const url = sim.urlFor('/clip.mp4').replace('127.0.0.1', 'localhost');
    const events: StageEvent[] = [];
    const options = {
      dispatcher,
      strategy: 'partial' as const,
      partialBytes: 1000,
      onEvent: (e: StageEvent) => events.push(e),
    };
    const chunks = await lastValueFrom(httpSource(url, options).pipe(toArray()));
    expect(concatBytes(chunks).equals(body.subarray(0, 1000))).toBe(true);
    const dns = events.find((e) => e.name === 'dns');
    expect(dns?.data).toMatchObject({ address: expect.stringMatching(/^(127\.0\.0\.1|::1)$/) });
    expect(events.map((e) => e.name).slice(0, 3)).toEqual(['request', 'dns', 'connect']);
    events.length = 0;
    await lastValueFrom(httpSource(url, options));
    expect(events.map((e) => e.name)).not.toContain('dns');
  });

  it('a second request reuses the kept-alive connection and pays no connect', async () => {
    const { observable, events } = source('/clip.mp4', { strategy: 'partial', partialBytes: 1000 });
    const accepted = sim.connectionsAccepted();
    await lastValueFrom(observable);
    await new Promise((resolve) => setTimeout(resolve, 5));
    events.length = 0;
    await lastValueFrom(
      httpSource(sim.urlFor('/clip.mp4'), {
        dispatcher,
        strategy: 'partial',
        partialBytes: 1000,
        onEvent: (e) => events.push(e),
      }),
    );
    expect(sim.connectionsAccepted() - accepted).toBe(1);
    expect(events.map((e) => e.name)).not.toContain('connect');
  });

  it('warm(url) pre-connects so that the first real request pays no DNS or connect', async () => {
    dispatcher = createDispatcher();
    const accepted = sim.connectionsAccepted();
    const warmed = await warm(sim.urlFor('/clip.mp4'), { dispatcher });
    expect(warmed).toMatchObject({ status: 200, totalBytes: SIZE, acceptRanges: true, reused: false });
    expect(warmed.connectMs).toBeGreaterThan(0);
    const events: StageEvent[] = [];
    await lastValueFrom(
      httpSource(sim.urlFor('/clip.mp4'), {
        dispatcher,
        strategy: 'partial',
        partialBytes: 1000,
        onEvent: (e) => events.push(e),
      }),
    );
    expect(sim.connectionsAccepted() - accepted).toBe(1);
    expect(events.map((e) => e.name)).not.toContain('dns');
    expect(events.map((e) => e.name)).not.toContain('connect');
  });

  it('negotiates HTTP/2 over TLS and still closes the stream on unsubscribe', async () => {
    const h2 = await startNetSim({ files: { '/clip.mp4': body }, http2: true });
    try {
      dispatcher = createDispatcher({ http2: true, ca: h2.tlsOptions!.ca });
      const events: StageEvent[] = [];
      const url = h2.urlFor('/clip.mp4');
      const chunks = await lastValueFrom(
        httpSource(url, {
          dispatcher,
          strategy: 'partial',
          partialBytes: 50_000,
          onEvent: (e) => events.push(e),
        }).pipe(toArray()),
      );
      expect(concatBytes(chunks).equals(body.subarray(0, 50_000))).toBe(true);
      expect(events.find((e) => e.name === 'tls')!.data).toMatchObject({ alpnProtocol: 'h2' });
      expect(h2.requests[0]!.httpVersion).toBe('2.0');

      await lastValueFrom(
        httpSource(h2.urlFor('/clip.mp4', { rateBytesPerSec: 300_000 }), { dispatcher }).pipe(take(1)),
      );
      const server = await h2.waitForRequestEnd(h2.requests[h2.requests.length - 1]!.id);
      expect(server.outcome).toBe('client-closed');
      expect(server.bodyBytesSent).toBeLessThan(SIZE);
    } finally {
      await dispatcher.destroy();
      await h2.close();
    }
  });
});
