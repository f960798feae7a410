import { request } from 'node:http';
import { createConnection } from 'node:net';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { FixtureSet } from '../../src/fixtures/make.js';
import { testFixtures } from './fixtures.js';
import { parseAccessLine, startNginx, type NginxServer } from './nginx.js';

function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((done, fail) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end();
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

describe('startNginx', () => {
  let fixtures: FixtureSet;
  let nginx: NginxServer;

  beforeAll(async () => {
    fixtures = await testFixtures();
    nginx = await startNginx(fixtures.dir);
  });
  afterAll(async () => {
    await nginx?.stop();
  });

  it('serves a byte range of a clip with 206 and the exact bytes', async () => {
    const file = fixtures.clips['faststart']!.file;
    const response = await get(`${nginx.url}/${basename(file)}`, { range: 'bytes=0-99' });
    expect(response.status).toBe(206);
    expect(response.headers['content-range']).toBe(`bytes 0-99/${fixtures.clips['faststart']!.bytes}`);
    expect(response.headers['content-type']).toBe('video/mp4');
    expect(response.body.equals((await readFile(file)).subarray(0, 100))).toBe(true);
  });

  it('logs status, body bytes, range and completion', async () => {
    const file = basename(fixtures.clips['moov-end']!.file);
    await get(`${nginx.url}/${file}`, { range: 'bytes=100-299' });
    const whole = await get(`${nginx.url}/clip.ts`);
    expect(whole.status).toBe(200);
    const entries = (await nginx.accessLog()).map(parseAccessLine);
    expect(entries).toContainEqual({
      method: 'GET',
      uri: `/${file}`,
      status: 206,
      bodyBytes: 200,
      range: 'bytes=100-299',
      completed: true,
    });
    expect(entries).toContainEqual({
      method: 'GET',
      uri: '/clip.ts',
      status: 200,
      bodyBytes: fixtures.clips['mpegts']!.bytes,
      range: null,
      completed: true,
    });
  });

  it('closes the port on stop, keeps the log readable, and can be stopped twice', async () => {
    const server = await startNginx(fixtures.dir);
    expect(await portOpen(server.port)).toBe(true);
    await get(`${server.url}/missing.mp4`);
    await server.stop();
    expect(await portOpen(server.port)).toBe(false);
    await server.stop();
    expect((await server.accessLog()).map(parseAccessLine)).toEqual([
      {
        method: 'GET',
        uri: '/missing.mp4',
        status: 404,
        bodyBytes: expect.any(Number),
        range: null,
        completed: true,
      },
    ]);
  });

  it('explains what went wrong when nginx cannot serve', async () => {
    // nginx expands variables in `root`, and rejects an unknown one at start-up.
    await expect(startNginx('/nonexistent/$no_such_variable')).rejects.toThrow(
      /exited with code 1 before accepting connections\nerror\.log:\n.*\[emerg\].*unknown "no_such_variable" variable/,
    );
  });
});
