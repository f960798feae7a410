/**
 * A real nginx serving a directory, for tests that need a production-grade static file server:
 * byte ranges, keep-alive, sendfile, and an access log that shows what was actually sent.
 *
 * Everything nginx writes (pid, logs, temp files) lives in a fresh temp prefix, removed by `stop()`.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const NGINX_BINARY = '/usr/sbin/nginx';

export interface NginxServer {
  /** `http://127.0.0.1:<port>` (no trailing slash). */
  url: string;
  port: number;
  /** Graceful shutdown (SIGQUIT, SIGKILL after 2 s); resolves once nginx has exited. Idempotent. */
  stop(): Promise<void>;
  /** Access-log lines so far (after `stop()`: the lines at the time of stopping). See `parseAccessLine`. */
  accessLog(): Promise<string[]>;
}

/** One access-log line, parsed. */
export interface AccessLogEntry {
  method: string;
  uri: string;
  status: number;
  /** Body bytes nginx sent (headers not included). */
  bodyBytes: number;
  /** The request's Range header, or null without one. */
  range: string | null;
  /** False when the client went away before nginx had sent the whole response. */
  completed: boolean;
}

const START_TIMEOUT_MS = 5_000;
const STOP_GRACE_MS = 2_000;
const PORT_ATTEMPTS = 5;

/**
 * Access-log fields, tab-separated: method, URI, status, body bytes, Range header (`-` when absent),
 * `$request_completion` (`OK`, or empty when the response was cut short).
 */
const LOG_FORMAT =
  "'$request_method\\t$request_uri\\t$status\\t$body_bytes_sent\\t$http_range\\t$request_completion'";

/** The running servers, killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Starts nginx serving `root` on a free port of 127.0.0.1.
 *
 * ```ts
 * const nginx = await startNginx(fixtures.dir);
 * const response = await fetch(`${nginx.url}/faststart.mp4`, { headers: { range: 'bytes=0-99' } });
 * await nginx.stop();
 * ```
 *
 * @throws when nginx is not installed (the message says how to install it) or does not accept
 *   connections within 5 s (the message carries its error log)
 */
export async function startNginx(root: string): Promise<NginxServer> {
  if (!existsSync(NGINX_BINARY)) {
    throw new Error(`nginx not found at ${NGINX_BINARY}; install it with: apt-get install nginx-light`);
  }
  const servedRoot = resolve(root);
  let lastError: unknown;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await freePort();
    try {
      return await startOn(servedRoot, port);
    } catch (err) {
      lastError = err;
      // Another process took the port between freePort() and nginx's bind: try another one.
      if (!(err instanceof Error && /Address already in use/.test(err.message))) throw err;
    }
  }
  throw lastError;
}

/** Parses a line of `accessLog()`, or returns null for a line in another format. */
export function parseAccessLine(line: string): AccessLogEntry | null {
  const fields = line.split('\t');
  if (fields.length !== 6) return null;
  const [method, uri, status, bodyBytes, range, completion] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  return {
    method,
    uri,
    status: Number(status),
    bodyBytes: Number(bodyBytes),
    range: range === '-' ? null : range,
    completed: completion === 'OK',
  };
}

async function startOn(root: string, port: number): Promise<NginxServer> {
  const prefix = await mkdtemp(join(tmpdir(), 'firstframe-nginx-'));
  const errorLog = join(prefix, 'error.log');
  const accessLogPath = join(prefix, 'access.log');
  const configPath = join(prefix, 'nginx.conf');
  await mkdir(join(prefix, 'temp'));
  await writeFile(configPath, config({ prefix, root, port, errorLog, accessLogPath }));

  const child = spawn(NGINX_BINARY, ['-p', `${prefix}/`, '-c', configPath, '-e', errorLog], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-8192);
  });
  const exited = new Promise<void>((done) => child.once('close', () => done()));
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  running.add(child);
  installExitHook();
  void exited.then(() => running.delete(child));

  const alive = (): boolean => child.exitCode === null && child.signalCode === null && !spawnError;
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await accepts(port))) {
    if (!alive() || Date.now() > deadline) {
      if (alive()) child.kill('SIGKILL');
      await exited;
      const log = await readFile(errorLog, 'utf8').catch(() => '');
      await rm(prefix, { recursive: true, force: true });
      const why = spawnError
        ? `could not be started (${spawnError.message})`
        : child.exitCode !== null
          ? `exited with code ${child.exitCode} before accepting connections`
          : `did not accept connections within ${START_TIMEOUT_MS} ms`;
      throw new Error(
        `nginx on 127.0.0.1:${port} serving ${root} ${why}\n` +
          `error.log:\n${log.trimEnd() || '(empty)'}${stderr ? `\nstderr:\n${stderr.trimEnd()}` : ''}`,
      );
    }
    await sleep(25);
  }

  let finalLog: string[] | null = null;
  let stopping: Promise<void> | null = null;
  const readLog = async (): Promise<string[]> =>
    (await readFile(accessLogPath, 'utf8').catch(() => '')).split('\n').filter((line) => line.length > 0);

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    accessLog: async () => finalLog ?? readLog(),
    stop: () => {
      stopping ??= (async () => {
        if (alive()) {
          child.kill('SIGQUIT');
          const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
          await exited;
          clearTimeout(timer);
        }
        finalLog = await readLog();
        await rm(prefix, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

function config(paths: {
  prefix: string;
  root: string;
  port: number;
  errorLog: string;
  accessLogPath: string;
}): string {
  const { prefix, root, port, errorLog, accessLogPath } = paths;
  const temp = join(prefix, 'temp');
  // As root, nginx would otherwise switch its workers to `nobody`, who may not read the served tree.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}daemon off;
master_process off;
worker_processes 1;
pid ${quote(join(prefix, 'nginx.pid'))};
error_log ${quote(errorLog)} warn;

events {
  worker_connections 256;
}

http {
  types {
    video/mp4 mp4 m4s;
    video/mp2t ts;
    video/x-matroska mkv;
    video/webm webm;
    application/json json;
  }
  default_type application/octet-stream;

  log_format firstframe ${LOG_FORMAT};
  access_log ${quote(accessLogPath)} firstframe;

  client_body_temp_path ${quote(join(temp, 'body'))};
  proxy_temp_path ${quote(join(temp, 'proxy'))};
  fastcgi_temp_path ${quote(join(temp, 'fastcgi'))};
  uwsgi_temp_path ${quote(join(temp, 'uwsgi'))};
  scgi_temp_path ${quote(join(temp, 'scgi'))};

  sendfile on;
  tcp_nopush on;
  keepalive_timeout 30s;
  keepalive_requests 1000;

  server {
    listen 127.0.0.1:${port};
    server_name localhost;
    root ${quote(root)};
    location / {
    }
  }
}
`;
}

/**
 * A double-quoted nginx string, so that paths with spaces or semicolons survive. (A `$` would still be
 * read as a variable: nginx has no escape for it.)
 */
function quote(path: string): string {
  return `"${path.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** Asks the kernel for a free port, then releases it for nginx to bind. */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => {
      socket.destroy();
      done(false);
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}
