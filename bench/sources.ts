// run: npx tsx bench/sources.ts [--runs N]
//
// How much the HTTP source adds on top of the link it reads from. The simulator serves a 6 MiB random
// in-memory file at the seeds' measured link (1 660 000 B/s, 100 ms to first byte), and each run measures,
// from the moment of subscribing:
//
//   stream         the first chunk, against the simulator's TTFB;
//   partial 4 MiB  the first byte (printed for reference), the transfer (first byte → last byte) against
//                  4 MiB / rate, and the whole (subscribe → complete) against TTFB + 4 MiB / rate.
//
// Every run uses a fresh dispatcher, so "cold" pays a TCP connect; the "warm" variant first calls
// warm(url) on that dispatcher (a HEAD that leaves a kept-alive socket) and measures from after it.
// Prints the median, min and max of N runs (default 7), and exits with 1 when a median is more than 5 %
// off its target.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { firstValueFrom, lastValueFrom, tap } from 'rxjs';
import type { Dispatcher } from 'undici';
import type { StageEvent } from '../src/core/events.js';
import { startNetSim, type NetSim } from '../src/sim/netsim.js';
import { createDispatcher } from '../src/sources/dispatcher.js';
import { httpSource } from '../src/sources/http.js';
import { MEBIBYTE } from '../src/sources/types.js';
import { warm } from '../src/sources/warm.js';

const rateBytesPerSec = 1_660_000;
const ttfbMs = 100;
const fileBytes = 6 * MEBIBYTE;
const partialBytes = 4 * MEBIBYTE;
const tolerance = 0.05;

type Connection = 'cold' | 'warm';

interface StreamRun {
  firstChunkMs: number;
  /** Whether the request opened a TCP connection of its own (a `connect` event). */
  connected: boolean;
}

interface PartialRun {
  firstByteMs: number;
  transferMs: number;
  totalMs: number;
  bytes: number;
  connected: boolean;
}

function readRuns(): number {
  const { values } = parseArgs({ options: { runs: { type: 'string' } }, strict: true });
  if (values.runs === undefined) return 7;
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs <= 0) {
    console.error(`bench/sources: --runs: expected a positive integer, got ${JSON.stringify(values.runs)}`);
    process.exit(2);
  }
  return runs;
}

/** A fresh dispatcher, warmed up or not; `measure` runs on it and the dispatcher is destroyed after. */
async function withDispatcher<T>(
  url: string,
  connection: Connection,
  measure: (dispatcher: Dispatcher) => Promise<T>,
): Promise<T> {
  const dispatcher = createDispatcher();
  try {
    if (connection === 'warm') await warm(url, { dispatcher });
    return await measure(dispatcher);
  } finally {
    await dispatcher.destroy();
  }
}

function streamOnce(url: string, connection: Connection): Promise<StreamRun> {
  return withDispatcher(url, connection, async (dispatcher) => {
    const events: StageEvent[] = [];
    const source = httpSource(url, { dispatcher, onEvent: (event) => events.push(event) });
    const subscribedAt = performance.now();
    // firstValueFrom unsubscribes after the first chunk, which aborts the rest of the transfer.
    const first = await firstValueFrom(source);
    return {
      firstChunkMs: first.receivedAt - subscribedAt,
      connected: events.some((event) => event.name === 'connect'),
    };
  });
}

function partialOnce(url: string, connection: Connection): Promise<PartialRun> {
  return withDispatcher(url, connection, async (dispatcher) => {
    const events: StageEvent[] = [];
    const source = httpSource(url, {
      dispatcher,
      strategy: 'partial',
      partialBytes,
      onEvent: (event) => events.push(event),
    });
    let firstAt: number | undefined;
    let lastAt = 0;
    let bytes = 0;
    const subscribedAt = performance.now();
    await lastValueFrom(
      source.pipe(
        tap((chunk) => {
          firstAt ??= chunk.receivedAt;
          lastAt = chunk.receivedAt;
          bytes += chunk.bytes.byteLength;
        }),
      ),
    );
    const completedAt = performance.now();
    if (bytes !== partialBytes || firstAt === undefined) {
      throw new Error(`partial: received ${bytes} of ${partialBytes} bytes`);
    }
    return {
      firstByteMs: firstAt - subscribedAt,
      transferMs: lastAt - firstAt,
      totalMs: completedAt - subscribedAt,
      bytes,
      connected: events.some((event) => event.name === 'connect'),
    };
  });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
}

interface Row {
  connection: Connection;
  measure: string;
  values: readonly number[];
  /** Undefined for rows printed for reference only. */
  targetMs: number | undefined;
}

function formatTable(rows: readonly Row[]): { text: string; failed: Row[] } {
  const header = ['conn', 'measure', 'target ms', 'median ms', 'min ms', 'max ms', 'ratio', ''];
  const failed: Row[] = [];
  const cells = rows.map((row) => {
    const mid = median(row.values);
    const ratio = row.targetMs === undefined ? undefined : mid / row.targetMs;
    const ok = ratio === undefined || Math.abs(ratio - 1) <= tolerance;
    if (!ok) failed.push(row);
    return [
      row.connection,
      row.measure,
      row.targetMs === undefined ? '-' : row.targetMs.toFixed(1),
      mid.toFixed(1),
      Math.min(...row.values).toFixed(1),
      Math.max(...row.values).toFixed(1),
      ratio === undefined ? '-' : ratio.toFixed(3),
      ratio === undefined ? '(reference)' : ok ? 'ok' : 'OFF',
    ];
  });
  const widths = header.map((title, column) =>
    Math.max(title.length, ...cells.map((row) => row[column]?.length ?? 0)),
  );
  // Text columns left-aligned, numbers right-aligned.
  const line = (row: readonly string[]) =>
    row
      .map((cell, column) =>
        column < 2 || column === 7 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return { text: [line(header), ...cells.map(line)].join('\n'), failed };
}

async function main(): Promise<void> {
  const runs = readRuns();
  const transferTargetMs = (partialBytes / rateBytesPerSec) * 1000;
  const sim: NetSim = await startNetSim({
    files: { '/clip.bin': randomBytes(fileBytes) },
    rateBytesPerSec,
    ttfbMs,
  });
  const url = sim.urlFor('/clip.bin');
  console.log(
    `httpSource on the simulator: ${rateBytesPerSec} B/s, ${ttfbMs} ms TTFB, ${fileBytes} B file, ` +
      `partial ${partialBytes} B, ${runs} runs per row, a fresh dispatcher per run`,
  );

  const rows: Row[] = [];
  const reuse: string[] = [];
  try {
    for (const connection of ['cold', 'warm'] as const) {
      const streams: StreamRun[] = [];
      const partials: PartialRun[] = [];
      for (let run = 0; run < runs; run += 1) {
        streams.push(await streamOnce(url, connection));
        partials.push(await partialOnce(url, connection));
      }
      rows.push(
        {
          connection,
          measure: 'stream: first chunk',
          values: streams.map((r) => r.firstChunkMs),
          targetMs: ttfbMs,
        },
        {
          connection,
          measure: 'partial: first byte',
          values: partials.map((r) => r.firstByteMs),
          targetMs: undefined,
        },
        {
          connection,
          measure: 'partial: transfer',
          values: partials.map((r) => r.transferMs),
          targetMs: transferTargetMs,
        },
        {
          connection,
          measure: 'partial: total',
          values: partials.map((r) => r.totalMs),
          targetMs: ttfbMs + transferTargetMs,
        },
      );
      const connected = [...streams, ...partials].filter((r) => r.connected).length;
      reuse.push(`${connection}: ${connected} of ${2 * runs} requests opened a connection`);
    }
  } finally {
    await sim.close();
  }

  const { text, failed } = formatTable(rows);
  console.log(text);
  console.log(reuse.join('; '));
  if (failed.length === 0) {
    console.log(`PASS: stream first chunk and partial transfer/total medians within ${tolerance * 100} %`);
  } else {
    const which = failed.map((row) => `${row.connection} ${row.measure}`).join(', ');
    console.log(`FAIL: more than ${tolerance * 100} % off: ${which}`);
    process.exitCode = 1;
  }
}

await main();
