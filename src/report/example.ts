// A synthetic benchmark report: two strategies × three runs over a 2 MB/s link, with the events the real
// stages emit. Tests draw it; the README's picture is made from it:
//
//   npx tsx src/report/example.ts --out /tmp/ff-report --screenshot docs/report-example.png
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { StageEvent, StageName } from '../core/events.js';
import { screenshot } from './chromium.js';
import { writeReport } from './html.js';
import { summarizeRun } from './summary.js';
import type { BenchReport, ReportRun } from './types.js';

const linkRate = 2_000_000;
const chunkBytes = 65_536;
const fileBytes = 1_600_000;
const frameBytes = 16_000;
const budgetMs = 1200;
const inferMsPerFrame = 9;

/** Deterministic jitter in [0, 1): the example must render the same picture every time. */
function jitter(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * One run of `stream` (decode while downloading) or `full-download` (decode once the file is in), with
 * the source → decode → batch → infer → sink events of the real stages, in time order. Streaming finishes
 * the clip within the budget; full download runs out of it.
 */
export function exampleRun(group: 'stream' | 'full-download', index: number, startedAt: number): ReportRun {
  const random = jitter(index * 7919 + (group === 'stream' ? 1 : 2));
  const events: StageEvent[] = [];
  const emit = (stage: StageName, name: string, ms: number, data?: Record<string, unknown>) =>
    events.push({ stage, name, at: startedAt + ms, ...(data ? { data } : {}) });

  emit('sink', 'budget-start', 0.4, { budgetMs });
  const dnsMs = 4 + 6 * random();
  const connectMs = dnsMs + 18 + 8 * random();
  const tlsMs = connectMs + 22 + 10 * random();
  const headersMs = tlsMs + 60 + 30 * random();
  emit('source', 'request', 1, { url: 'https://cdn.example/clip.mp4', range: 'bytes=0-' });
  emit('source', 'dns', dnsMs, { ms: dnsMs - 1 });
  emit('source', 'connect', connectMs, { ms: connectMs - dnsMs });
  emit('source', 'tls', tlsMs, { ms: tlsMs - connectMs, alpnProtocol: 'h2' });
  emit('source', 'request-sent', tlsMs + 0.3);
  emit('source', 'headers', headersMs, { status: 200, contentLength: fileBytes, offset: 0 });
  emit('source', 'first-byte', headersMs + 1, { offset: 0 });

  // The link's pace, slowed a little at random, decides when each chunk lands.
  const landedAt: number[] = [];
  let received = 0;
  let clock = headersMs + 1;
  while (received < fileBytes) {
    const bytes = Math.min(chunkBytes, fileBytes - received);
    clock += ((bytes / linkRate) * 1000) / (0.85 + 0.15 * random());
    if (clock >= budgetMs) break;
    received += bytes;
    landedAt.push(clock);
    emit('source', 'chunk', clock, { bytes, offset: received - bytes, received });
  }
  if (received === fileBytes) emit('source', 'end', clock + 0.2, { reason: 'complete', bytes: received });
  const bytesBy = (bytes: number) => landedAt[Math.ceil(Math.min(bytes, fileBytes) / chunkBytes) - 1];

  // Streaming decodes each frame once its bytes are in; full download waits for the last byte.
  const frameTimes: number[] = [];
  const decodeStart = group === 'stream' ? bytesBy(4 * chunkBytes) : bytesBy(fileBytes);
  if (decodeStart !== undefined) {
    emit('decode', 'layout', decodeStart + 0.5, { layout: 'faststart' });
    emit('decode', 'open', decodeStart + 20 + 10 * random(), { ms: 20 });
    let frameAt = decodeStart + 30 + 10 * random();
    for (let frame = 0; frame < fileBytes / frameBytes - 1; frame += 1) {
      const landed = bytesBy((frame + 2) * frameBytes);
      if (landed === undefined) break;
      frameAt = Math.max(frameAt, landed) + 2 + 2 * random();
      if (frameAt >= budgetMs) break;
      if (frame === 0) emit('decode', 'first-frame', frameAt, { frameNumber: 0, bytesFed: 4 * chunkBytes });
      emit('decode', 'frame', frameAt, { frameNumber: frame, converted: frame % 5 === 0, frames: frame + 1 });
      frameTimes.push(frameAt);
    }
    if (frameTimes.length > 0 && frameAt < budgetMs) {
      emit('decode', 'end', frameAt + 1, { reason: 'complete', framesDecoded: frameTimes.length });
    }
  }

  // Stride 5, then batches: the first frame alone (early flush), then 4 at a time; one model at a time.
  const kept = frameTimes.filter((_, frame) => frame % 5 === 0);
  let modelFree = 0;
  let lastResult = 0;
  for (let batchIndex = 0, next = 0; next < kept.length; batchIndex += 1) {
    const size = Math.min(batchIndex === 0 ? 1 : 4, kept.length - next);
    const reason = batchIndex === 0 ? 'first-frame' : size === 4 ? 'full' : 'end';
    const readyAt = kept[next + size - 1]!;
    emit('batch', 'batch', readyAt + 0.2, { index: batchIndex, size, reason });
    const start = Math.max(readyAt + 0.5, modelFree);
    const ms = size * inferMsPerFrame + 12 + 8 * random();
    if (start >= budgetMs) break;
    emit('infer', 'run-start', start, { run: batchIndex + 1, frames: size, batch: size });
    if (start + ms < budgetMs) {
      emit('infer', 'run-end', start + ms, { run: batchIndex + 1, frames: size, ms });
      lastResult = start + ms;
    }
    modelFree = start + ms;
    next += size;
  }

  if (modelFree < budgetMs && frameTimes.length * frameBytes >= fileBytes - 2 * frameBytes) {
    emit('sink', 'end', lastResult + 0.3, { endedBy: 'end' });
  } else {
    emit('sink', 'deadline', budgetMs, { drainMs: 0 });
    emit('sink', 'end', budgetMs + 0.3, { endedBy: 'budget' });
    if (received < fileBytes)
      emit('source', 'end', budgetMs + 0.5, { reason: 'unsubscribed', bytes: received });
  }
  events.sort((a, b) => a.at - b.at);
  return {
    label: `${group} #${index + 1}`,
    group,
    startedAt,
    events,
    summary: summarizeRun(startedAt, events),
  };
}

/** Two strategies × three runs, as `firstframe bench` would measure them. */
export function exampleReport(): BenchReport {
  const groups = ['stream', 'full-download'] as const;
  return {
    title: 'firstframe bench: stream vs full download (synthetic example)',
    createdAt: '2025-01-01T00:00:00.000Z',
    link: { url: 'https://cdn.example/clip.mp4', rateBytesPerSec: linkRate, ttfbMs: 80 },
    runs: groups.flatMap((group, g) =>
      [0, 1, 2].map((index) => exampleRun(group, index, 10_000 * (g * 3 + index + 1))),
    ),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: 'report-example' },
      screenshot: { type: 'string' },
      width: { type: 'string', default: '1400' },
      height: { type: 'string', default: '1600' },
    },
  });
  const { html } = await writeReport(values.out, exampleReport());
  console.log(html);
  if (values.screenshot !== undefined) {
    const png = resolve(values.screenshot);
    await screenshot(pathToFileURL(resolve(html)).href, png, {
      width: Number(values.width),
      height: Number(values.height),
    });
    console.log(png);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
