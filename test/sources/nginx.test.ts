/**
 * The HTTP source against a production static file server. The simulator tests (http.test.ts) cover the
 * faults; these check that nothing in the source depends on the simulator's way of answering: nginx's
 * headers, its 206/416 forms, its keep-alive, and what its access log says was actually sent.
 */

import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Subject, firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import type { Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import type { StageEvent } from '../../src/core/events.js';
import type { FixtureSet } from '../../src/fixtures/make.js';
import { createDispatcher } from '../../src/sources/dispatcher.js';
import { httpSource, type HttpSourceOptions } from '../../src/sources/http.js';
import type { ByteChunk } from '../../src/sources/types.js';
import { testFixtures } from '../support/fixtures.js';
import { parseAccessLine, startNginx, type AccessLogEntry, type NginxServer } from '../support/nginx.js';
import { concatBytes, expectContiguous, sourceErrorOf } from '../support/chunks.js';

let fixtures: FixtureSet;
let nginx: NginxServer;
let dispatcher: Dispatcher | undefined;

beforeAll(async () => {
  fixtures = await testFixtures();
  nginx = await startNginx(fixtures.dir);
});
afterAll(async () => {
  await nginx?.stop();
});
afterEach(async () => {
  await dispatcher?.destroy();
  dispatcher = undefined;
});

interface Clip {
  /** URL path on nginx, with a query naming the test so that its access-log lines can be told apart. */
  path: string;
  bytes: Buffer;
}

async function clip(name: string, tag: string): Promise<Clip> {
  const file = fixtures.clips[name]!.file;
  return { path: `/${basename(file)}?test=${tag}`, bytes: await readFile(file) };
}

/** A source on a fresh dispatcher (cold connection, the test's own sockets), recording its events. */
function source(server: NginxServer, path: string, options: HttpSourceOptions = {}) {
  dispatcher = createDispatcher();
  const events: StageEvent[] = [];
  const observable = httpSource(`${server.url}${path}`, {
    dispatcher,
    onEvent: (event) => events.push(event),
    ...options,
  });
  return { observable, events };
}

/** The access-log entries of requests for `path` (nginx writes a line once it has finished a request). */
async function logEntries(server: NginxServer, path: string): Promise<AccessLogEntry[]> {
  return (await server.accessLog())
    .map(parseAccessLine)
    .filter((entry): entry is AccessLogEntry => entry !== null && entry.uri === path);
}

/** Waits until nginx has logged `count` requests for `path`, and returns them. */
async function loggedRequests(server: NginxServer, path: string, count: number): Promise<AccessLogEntry[]> {
  await expect.poll(async () => (await logEntries(server, path)).length, { timeout: 5000 }).toBe(count);
  return logEntries(server, path);
}

const eventNamed = (events: readonly StageEvent[], name: string) => events.find((e) => e.name === name);

describe('httpSource against nginx', () => {
  it('stream: every byte in order, the size from Content-Length, one complete 200', async () => {
    const { path, bytes } = await clip('faststart', 'stream');
    const { observable, events } = source(nginx, path);
    const chunks = await lastValueFrom(observable.pipe(toArray()));
    expect(concatBytes(chunks).equals(bytes)).toBe(true);
    expectContiguous(chunks, 0);
    expect(chunks[0]!.resource).toMatchObject({
      totalBytes: bytes.byteLength,
      rangeHonoured: undefined,
      contentType: 'video/mp4',
    });
    expect(eventNamed(events, 'end')!.data).toMatchObject({ reason: 'complete', bytes: bytes.byteLength });
    expect(await loggedRequests(nginx, path, 1)).toEqual([
      { method: 'GET', uri: path, status: 200, bodyBytes: bytes.byteLength, range: null, completed: true },
    ]);
  });

  it('partial: a 206 of exactly N bytes, rangeHonoured, the whole size from Content-Range', async () => {
    const { path, bytes } = await clip('moov-end', 'partial');
    const partialBytes = 10_000;
    const { observable, events } = source(nginx, path, { strategy: 'partial', partialBytes });
    const chunks = await lastValueFrom(observable.pipe(toArray()));
    expect(concatBytes(chunks).equals(bytes.subarray(0, partialBytes))).toBe(true);
    expectContiguous(chunks, 0);
    expect(chunks[0]!.resource).toMatchObject({ totalBytes: bytes.byteLength, rangeHonoured: true });
    expect(eventNamed(events, 'headers')!.data).toMatchObject({ status: 206, contentLength: partialBytes });
    // The 206 ends at the limit by itself: the source finishes normally instead of cutting the connection.
    expect(eventNamed(events, 'end')!.data).toMatchObject({ reason: 'complete', emittedBytes: partialBytes });
    expect(await loggedRequests(nginx, path, 1)).toEqual([
      {
        method: 'GET',
        uri: path,
        status: 206,
        bodyBytes: partialBytes,
        range: `bytes=0-${partialBytes - 1}`,
        completed: true,
      },
    ]);
  });

  it('partial larger than the file: nginx clamps the range and the source ends with the whole file', async () => {
    const { path, bytes } = await clip('faststart', 'partial-clamped');
    const { observable } = source(nginx, path, { strategy: 'partial', partialBytes: 4 * 1024 * 1024 });
    const chunks = await lastValueFrom(observable.pipe(toArray()));
    expect(concatBytes(chunks).equals(bytes)).toBe(true);
    expect(chunks[0]!.resource).toMatchObject({ totalBytes: bytes.byteLength, rangeHonoured: true });
    const [entry] = await loggedRequests(nginx, path, 1);
    expect(entry).toMatchObject({ status: 206, bodyBytes: bytes.byteLength, completed: true });
  });

  it('full: the whole body as one chunk, at the end', async () => {
    const { path, bytes } = await clip('fragmented', 'full');
    const { observable } = source(nginx, path, { strategy: 'full' });
    const chunks = await lastValueFrom(observable.pipe(toArray()));
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.offset).toBe(0);
    expect(Buffer.from(chunks[0]!.bytes).equals(bytes)).toBe(true);
    const [entry] = await loggedRequests(nginx, path, 1);
    expect(entry).toMatchObject({ status: 200, bodyBytes: bytes.byteLength, range: null, completed: true });
  });

  it('ranges: each window is requested only when `more` asks, and the last one ends the source', async () => {
    const { path, bytes } = await clip('moov-end', 'ranges');
    const windowBytes = 32 * 1024;
    const more = new Subject<void>();
    const { observable } = source(nginx, path, { strategy: 'ranges', windowBytes, more });
    const received: ByteChunk[] = [];
    let completed = false;
    const done = new Promise<void>((resolve, reject) =>
      observable.subscribe({
        next: (chunk) => received.push(chunk),
        error: reject,
        complete: () => {
          completed = true;
          resolve();
        },
      }),
    );
    const receivedBytes = () => concatBytes(received).byteLength;

    await expect.poll(receivedBytes).toBe(windowBytes);
    await loggedRequests(nginx, path, 1);
    // Nothing asked for more: no second request, however long we wait.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await logEntries(nginx, path)).toHaveLength(1);
    expect(completed).toBe(false);

    more.next();
    await expect.poll(receivedBytes).toBe(2 * windowBytes);
    await loggedRequests(nginx, path, 2);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await logEntries(nginx, path)).toHaveLength(2);

    more.next();
    await done;
    expect(concatBytes(received).equals(bytes)).toBe(true);
    expectContiguous(received, 0);
    const entries = await loggedRequests(nginx, path, 3);
    expect(
      entries.map(({ status, range, bodyBytes, completed }) => ({ status, range, bodyBytes, completed })),
    ).toEqual([
      { status: 206, range: 'bytes=0-32767', bodyBytes: windowBytes, completed: true },
      { status: 206, range: 'bytes=32768-65535', bodyBytes: windowBytes, completed: true },
      {
        status: 206,
        range: 'bytes=65536-98303',
        bodyBytes: bytes.byteLength - 2 * windowBytes,
        completed: true,
      },
    ]);
    // The size is known from the last window: a further `more` asks nothing of the (completed) source.
    more.next();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await logEntries(nginx, path)).toHaveLength(3);
  });

  it('fetchRange({ suffix }) reads the tail of the file', async () => {
    const { path, bytes } = await clip('fragmented', 'suffix');
    const { observable } = source(nginx, path, { strategy: 'partial', partialBytes: 1000 });
    const first = await firstValueFrom(observable);
    const suffix = 5000;
    const tail = await lastValueFrom(first.resource.fetchRange!({ suffix }).pipe(toArray()));
    expect(concatBytes(tail).equals(bytes.subarray(bytes.byteLength - suffix))).toBe(true);
    expectContiguous(tail, bytes.byteLength - suffix);
    const entries = await loggedRequests(nginx, path, 2);
    expect(entries[1]).toMatchObject({
      status: 206,
      range: `bytes=-${suffix}`,
      bodyBytes: suffix,
      completed: true,
    });
  });

  it('a missing file ends with FF_ERR_HTTP_STATUS naming the URL and the status', async () => {
    const path = '/no-such-clip.mp4?test=404';
    const { observable, events } = source(nginx, path);
    const error = await sourceErrorOf(observable);
    expect(error.code).toBe('FF_ERR_HTTP_STATUS');
    expect(error.message).toBe(`GET ${nginx.url}${path}: HTTP 404`);
    expect(error.context).toMatchObject({ url: `${nginx.url}${path}`, status: 404 });
    expect(eventNamed(events, 'end')!.data).toMatchObject({ reason: 'error', code: 'FF_ERR_HTTP_STATUS' });
    const [entry] = await loggedRequests(nginx, path, 1);
    expect(entry!.status).toBe(404);
  });

  it('a range past the end ends with FF_ERR_RANGE_NOT_SATISFIABLE and the size nginx reported', async () => {
    const { path, bytes } = await clip('faststart', '416');
    const { observable } = source(nginx, path, { strategy: 'partial', partialBytes: 100 });
    const first = await firstValueFrom(observable);
    const error = await sourceErrorOf(first.resource.fetchRange!({ start: bytes.byteLength + 10 }));
    expect(error.code).toBe('FF_ERR_RANGE_NOT_SATISFIABLE');
    expect(error.message).toContain(`resource has ${bytes.byteLength} bytes`);
    expect(error.context).toMatchObject({ status: 416, totalBytes: bytes.byteLength });
    const entries = await loggedRequests(nginx, path, 2);
    expect(entries[1]).toMatchObject({ status: 416, range: `bytes=${bytes.byteLength + 10}-` });
  });
});

describe('httpSource against nginx: cancellation', () => {
  // nginx sends at loopback speed, so "the middle of a transfer" needs a file much larger than what the
  // kernel's socket buffers on both sides can hold (a few MB each): by the time the client goes away,
  // nginx must still have bytes it could not hand over.
  const bigSize = 32 * 1024 * 1024;
  let bigRoot: string;
  let bigServer: NginxServer;

  beforeAll(async () => {
    bigRoot = await mkdtemp(join(tmpdir(), 'firstframe-nginx-big-'));
    await writeFile(join(bigRoot, 'big.bin'), randomBytes(bigSize));
    bigServer = await startNginx(bigRoot);
  });
  afterAll(async () => {
    await bigServer?.stop();
    if (bigRoot) await rm(bigRoot, { recursive: true, force: true });
  });

  it('unsubscribing mid-transfer closes the connection: nginx logs an incomplete response', async () => {
    const path = '/big.bin?test=unsubscribe';
    const { observable, events } = source(bigServer, path);
    const chunks = await lastValueFrom(observable.pipe(take(2), toArray()));
    const bytesSeen = concatBytes(chunks).byteLength;
    expect(eventNamed(events, 'end')!.data).toMatchObject({ reason: 'unsubscribed' });
    const [entry] = await loggedRequests(bigServer, path, 1);
    expect(entry).toMatchObject({ status: 200, range: null, completed: false });
    expect(entry!.bodyBytes).toBeGreaterThanOrEqual(bytesSeen);
    expect(entry!.bodyBytes).toBeLessThan(bigSize);
  });
});
