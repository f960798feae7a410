import { existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { lastValueFrom, tap, type Observable } from 'rxjs';
import { readEnvConfig } from '../core/config.js';
import { ConfigError, codes, isFirstframeError } from '../core/errors.js';
import { createTimeline } from '../core/events.js';
import { logEvents, teeSinks } from '../core/log-events.js';
import { createRootLogger } from '../core/logger.js';
import { decode, type DecodedFrame } from '../operators/decode.js';
import { closeSharedDispatcher } from '../sources/dispatcher.js';
import { fileSource } from '../sources/file.js';
import { httpSource, type HttpStrategy } from '../sources/http.js';
import { MEBIBYTE, type ByteChunk } from '../sources/types.js';
import { sniffLayout } from '../media/layout.js';
import { parseCommandArgs } from './args.js';
import type { CliIo } from './main.js';

/** The seeds' measured link: 14.1 MB in 8.5 s, first byte after about 100 ms. */
export const SEED_RATE_BYTES_PER_SEC = 1_660_000;
export const SEED_TTFB_MS = 100;

const HELP = `usage: firstframe run [URL|FILE] [options]

Fetches a video with the chosen strategy and reports where the time went. With no URL or FILE, the
bundled synthetic clip is served by the network simulator at the seeds' measured link (1.66 MB/s,
100 ms to first byte).

options:
  --strategy stream|partial|full|ranges   how bytes are fetched (default: stream; PARTIAL_DOWNLOAD=1: partial)
  --partial-mb N                          bytes fetched by partial, in MiB (default PARTIAL_DOWNLOAD_MB or 4)
  --rate BYTES/S                          simulator bandwidth for the bundled clip (default 1660000)
  --ttfb MS                               simulator time to first byte (default 100)
  --stride N                              convert every Nth frame for the model (default FRAME_STRIDE or 1)
  --img-size N                            model input size (default IMG_SIZE or 640)
  --no-decode                             fetch only, do not decode
  --log-level LEVEL                       pino level for the JSON log on stderr (default warn)
  --json                                  print only the result document on stdout
  -h, --help                              this text`;

export interface RunResult {
  source: { url: string; bytesTotal: number | null; rangeHonoured: boolean | null; layout: string | null };
  timings: {
    headersMs: number | null;
    firstByteMs: number | null;
    firstFrameMs: number | null;
    totalMs: number;
    bytesDownloaded: number;
    chunks: number;
    framesDecoded: number;
    endedBy: 'end' | 'error';
  };
  error?: { code: string; message: string };
}

function number(name: string, raw: string | undefined, problems: string[], min = 0): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= min) {
    problems.push(`--${name}: expected a number > ${min}, got ${JSON.stringify(raw)}`);
    return undefined;
  }
  return value;
}

export async function runCommand(argv: string[], io: CliIo): Promise<number> {
  const parsed = parseCommandArgs(
    'run',
    HELP,
    argv,
    {
      strategy: { type: 'string' },
      'partial-mb': { type: 'string' },
      rate: { type: 'string' },
      ttfb: { type: 'string' },
      json: { type: 'boolean', default: false },
      stride: { type: 'string' },
      'img-size': { type: 'string' },
      'no-decode': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'warn' },
    },
    io,
    true,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const env = readEnvConfig(io.env);
  const problems: string[] = [];
  if (positionals.length > 1) problems.push(`expected at most one URL or FILE, got ${positionals.length}`);
  const strategy = (values.strategy ?? (env.PARTIAL_DOWNLOAD ? 'partial' : 'stream')) as HttpStrategy;
  if (!['stream', 'partial', 'full', 'ranges'].includes(strategy)) {
    problems.push(
      `--strategy: expected stream, partial, full or ranges, got ${JSON.stringify(values.strategy)}`,
    );
  }
  const partialMb = number('partial-mb', values['partial-mb'], problems) ?? env.PARTIAL_DOWNLOAD_MB ?? 4;
  const rate = number('rate', values.rate, problems) ?? SEED_RATE_BYTES_PER_SEC;
  const ttfb =
    values.ttfb === undefined ? SEED_TTFB_MS : (number('ttfb', values.ttfb, problems, -1) ?? SEED_TTFB_MS);
  const stride = number('stride', values.stride, problems) ?? env.FRAME_STRIDE ?? 1;
  const imgSize = number('img-size', values['img-size'], problems) ?? env.IMG_SIZE ?? 640;
  if (!Number.isInteger(stride))
    problems.push(`--stride: expected a positive integer, got ${JSON.stringify(values.stride)}`);
  if (!Number.isInteger(imgSize) || imgSize % 32 !== 0) {
    problems.push(
      `--img-size: expected a positive multiple of 32, got ${JSON.stringify(values['img-size'])}`,
    );
  }
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  if (!levels.includes(values['log-level'])) {
    problems.push(
      `--log-level: expected one of ${levels.join(', ')}, got ${JSON.stringify(values['log-level'])}`,
    );
  }
  if (problems.length > 0) throw new ConfigError(codes.config.usage, problems);
  const logger = createRootLogger({ level: values['log-level'] });

  const target = positionals[0];
  const partialBytes = Math.round(partialMb * MEBIBYTE);
  // The run's clock starts when the first request is made, after any simulator set-up (see below).
  let timeline = createTimeline();
  const onEvent = teeSinks((event) => timeline.sink(event), logEvents(logger, randomUUID().slice(0, 8)));
  let stopSimulator: (() => Promise<void>) | undefined;
  let source: Observable<ByteChunk>;
  let label: string;
  if (target !== undefined && !/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    if (!existsSync(target)) throw new ConfigError(codes.config.usage, [`no such file: ${target}`]);
    label = target;
    source = fileSource(target, {
      onEvent,
      ...(strategy === 'partial' ? { limitBytes: partialBytes } : {}),
    });
  } else {
    let url = target;
    if (url === undefined) {
      const { makeFixtures, defaultFixtureDir } = await import('../fixtures/make.js');
      const { startNetSim } = await import('../sim/netsim.js');
      const fixtures = await makeFixtures(defaultFixtureDir(), { profile: 'test' });
      const sim = await startNetSim({ root: fixtures.dir, rateBytesPerSec: rate, ttfbMs: ttfb });
      stopSimulator = () => sim.close();
      url = sim.urlFor('/faststart.mp4');
      if (!values.json) io.stderr.write(`serving the bundled clip at ${rate} B/s, ${ttfb} ms TTFB: ${url}\n`);
    }
    label = url;
    source = httpSource(url, { strategy, partialBytes, onEvent });
  }

  let bytes = 0;
  let chunks = 0;
  let prefix: Uint8Array | undefined;
  let resource: ByteChunk['resource'] | undefined;
  let error: unknown;
  let framesDecoded = 0;
  let lastFrame: DecodedFrame | undefined;
  const decoded = values['no-decode']
    ? undefined
    : decode({
        imgSize,
        keepFrame: (n) => n % stride === 0,
        minStartBytes: env.STREAM_MIN_START_BYTES,
        nvdec: env.USE_NVDEC ? { outWidth: env.NVDEC_OUT_W, outHeight: env.NVDEC_OUT_H } : false,
        sourceUrl: label,
        onEvent,
      });
  timeline = createTimeline();
  const progress = !values.json && Boolean((io.stderr as { isTTY?: boolean }).isTTY);
  try {
    const counted = source.pipe(
      tap((chunk) => {
        resource ??= chunk.resource;
        if (chunk.offset === 0) prefix = chunk.bytes.subarray(0, 64 * 1024);
        bytes += chunk.bytes.byteLength;
        chunks += 1;
        if (progress) {
          const ms = performance.now() - timeline.startedAt;
          io.stderr.write(
            `\r${(bytes / 1e6).toFixed(2)} MB, ${framesDecoded} frames in ${(ms / 1000).toFixed(1)} s`,
          );
        }
      }),
    );
    if (decoded) {
      await lastValueFrom(
        counted.pipe(
          decoded,
          tap((frame) => {
            framesDecoded += 1;
            lastFrame = frame;
          }),
        ),
        { defaultValue: undefined },
      );
    } else {
      await lastValueFrom(counted, { defaultValue: undefined });
    }
  } catch (caught) {
    error = caught;
  } finally {
    if (progress) io.stderr.write('\n');
    await stopSimulator?.();
    await closeSharedDispatcher();
  }
  const totalMs = performance.now() - timeline.startedAt;
  const result: RunResult = {
    source: {
      url: resource?.url ?? label,
      bytesTotal: resource?.totalBytes ?? null,
      rangeHonoured: resource?.rangeHonoured ?? null,
      layout: lastFrame?.stream.layout ?? (prefix ? (sniffLayout(prefix)?.layout ?? null) : null),
    },
    timings: {
      headersMs: round(timeline.msTo('source', 'headers')),
      firstByteMs: round(timeline.msTo('source', 'first-byte')),
      firstFrameMs: round(timeline.msTo('decode', 'first-frame')),
      totalMs: round(totalMs) ?? 0,
      bytesDownloaded: bytes,
      chunks,
      framesDecoded,
      endedBy: error ? 'error' : 'end',
    },
  };
  if (error) {
    if (!isFirstframeError(error)) throw error;
    result.error = { code: error.code, message: error.message };
  }
  if (values.json) {
    io.stdout.write(`${JSON.stringify(result)}\n`);
  } else {
    const t = result.timings;
    io.stdout.write(
      [
        `source:      ${result.source.url} (${result.source.layout ?? 'unknown layout'}, ${result.source.bytesTotal ?? '?'} bytes, range ${result.source.rangeHonoured ?? 'not asked'})`,
        `headers:     ${t.headersMs ?? '-'} ms`,
        `first byte:  ${t.firstByteMs ?? '-'} ms`,
        `first frame: ${t.firstFrameMs ?? '-'} ms`,
        `download:    ${t.bytesDownloaded} bytes in ${t.chunks} chunks, ${(t.totalMs / 1000).toFixed(2)} s`,
        `Completed processing ${t.framesDecoded} frames in ${(t.totalMs / 1000).toFixed(1)}s`,
        `ended by:    ${t.endedBy}`,
      ].join('\n') + '\n',
    );
  }
  if (error && isFirstframeError(error)) {
    io.stderr.write(`firstframe: ${error.code}: ${error.message}\n`);
    return 1;
  }
  return 0;
}

function round(ms: number | undefined): number | null {
  return ms === undefined ? null : Math.round(ms * 10) / 10;
}
