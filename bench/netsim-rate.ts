// run: npx tsx bench/netsim-rate.ts
//
// How exact the network simulator's pacing is. Serves a 4 MB in-memory file at 1 660 000 B/s with a
// 100 ms TTFB, fetches it 5 times with node:http (a new connection each time), and prints the medians:
// time to first body byte against 100 ms, and transfer time (first body byte to last) against
// 4 000 000 / 1 660 000 s. Exits with 1 when the median transfer time is off by more than 2 %.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { startNetSim, type NetSim } from '../src/sim/netsim.js';

const sizeBytes = 4_000_000;
const rateBytesPerSec = 1_660_000;
const ttfbMs = 100;
const runs = 5;
const tolerance = 0.02;

interface Measurement {
  /** Request sent → first body byte received. */
  firstByteMs: number;
  /** First body byte received → last body byte received. */
  transferMs: number;
  /** The simulator's own view: first body byte written → last written. */
  serverTransferMs: number;
}

function fetchOnce(sim: NetSim): Promise<Measurement> {
  return new Promise((resolve, reject) => {
    const sentAt = performance.now();
    let firstByteAt: number | undefined;
    let received = 0;
    const request = http.get(`${sim.url}/clip.bin`, { agent: false }, (response) => {
      response.on('data', (chunk: Buffer) => {
        firstByteAt ??= performance.now();
        received += chunk.length;
      });
      response.on('end', () => {
        const endAt = performance.now();
        if (received !== sizeBytes || firstByteAt === undefined) {
          reject(new Error(`received ${received} of ${sizeBytes} bytes`));
          return;
        }
        const firstAt = firstByteAt;
        sim
          .waitForRequestEnd(sim.requests.length)
          .then((record) =>
            resolve({
              firstByteMs: firstAt - sentAt,
              transferMs: endAt - firstAt,
              serverTransferMs: (record.endedAt ?? Number.NaN) - (record.firstBodyByteAt ?? Number.NaN),
            }),
          )
          .catch(reject);
      });
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

const format = (ms: number): string => `${ms.toFixed(1)} ms`;

async function main(): Promise<void> {
  const body = new Uint8Array(sizeBytes);
  for (let i = 0; i < sizeBytes; i += 1) body[i] = (i * 31) & 0xff;
  const sim = await startNetSim({ files: { '/clip.bin': body }, rateBytesPerSec, ttfbMs });
  const measurements: Measurement[] = [];
  try {
    for (let run = 1; run <= runs; run += 1) {
      const measurement = await fetchOnce(sim);
      measurements.push(measurement);
      console.log(
        `run ${run}: first byte ${format(measurement.firstByteMs)}, transfer ${format(measurement.transferMs)} ` +
          `(server ${format(measurement.serverTransferMs)})`,
      );
    }
  } finally {
    await sim.close();
  }
  const expectedTransferMs = (sizeBytes / rateBytesPerSec) * 1000;
  const firstByteMs = median(measurements.map((m) => m.firstByteMs));
  const transferMs = median(measurements.map((m) => m.transferMs));
  const serverTransferMs = median(measurements.map((m) => m.serverTransferMs));
  const ratio = transferMs / expectedTransferMs;
  console.log(
    `median time to first byte: ${format(firstByteMs)} (target ${ttfbMs} ms, +${format(firstByteMs - ttfbMs)})`,
  );
  console.log(
    `median transfer time: ${format(transferMs)} (target ${format(expectedTransferMs)}, ratio ${ratio.toFixed(4)}; ` +
      `server side ${format(serverTransferMs)}, ratio ${(serverTransferMs / expectedTransferMs).toFixed(4)})`,
  );
  const withinTolerance = Math.abs(ratio - 1) <= tolerance;
  console.log(withinTolerance ? `within ${tolerance * 100} %` : `OFF by more than ${tolerance * 100} %`);
  if (!withinTolerance) process.exitCode = 1;
}

await main();
