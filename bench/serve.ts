// run: npx tsx bench/serve.ts [--rounds N] [--concurrent N] [--clip bench|test] [--profile NAME]
//
// The challenge server under a burst: N concurrent challenges (default 8) per round, several rounds
// (default 5), against the network simulator at the seeds' measured link (1 660 000 B/s per response,
// 100 ms to first byte) serving the bundled bench clip (1280×720, 30 s, 15 MB; --clip test: the 640×360,
// 4 s test clip). The server runs in this process with the soccer profile (the miners' variables apply),
// `concurrency` = N so that nothing queues, and allowPrivate to reach the loopback simulator.
//
// Per challenge, from the answer's Server-Timing header and the client's clock:
//   first result  run start → first result (the pipeline's own milestone);
//   total         the client's wall time, request sent → answer received;
//   overhead      the server's time outside the pipeline run and the queue: reading and parsing the body,
//                 validation, URL check, building and serialising the answer (target < 5 ms).
// Prints p50 and p99 of each per round, then the median over rounds, and the load average before and
// after (the machine is shared: read the figures with it). One challenge before the rounds warms up the
// JIT and is not counted.
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { readEnvConfig } from '../src/core/config.js';
import { defaultFixtureDir, makeFixtures } from '../src/fixtures/make.js';
import { loadPipeline } from '../src/pipelines/load.js';
import { startServer } from '../src/server/server.js';
import { startNetSim } from '../src/sim/netsim.js';
import { serverTiming } from './server-timing.js';

const RATE_BYTES_PER_SEC = 1_660_000;
const TTFB_MS = 100;

interface Sample {
  status: number;
  frames: number;
  firstResultMs: number | undefined;
  totalMs: number;
  overheadMs: number | undefined;
  requestMs: number | undefined;
  respondMs: number | undefined;
}

function readOptions() {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      concurrent: { type: 'string', default: '8' },
      clip: { type: 'string', default: 'bench' },
      profile: { type: 'string', default: 'soccer' },
    },
    strict: true,
  });
  const problems: string[] = [];
  const count = (name: 'rounds' | 'concurrent') => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value <= 0) {
      problems.push(`--${name}: expected a positive integer, got ${JSON.stringify(values[name])}`);
    }
    return value;
  };
  const rounds = count('rounds');
  const concurrent = count('concurrent');
  if (values.clip !== 'bench' && values.clip !== 'test') {
    problems.push(`--clip: expected bench or test, got ${JSON.stringify(values.clip)}`);
  }
  if (problems.length > 0) {
    console.error(`bench/serve: ${problems.join('; ')}`);
    process.exit(2);
  }
  return { rounds, concurrent, clip: values.clip as 'bench' | 'test', profile: values.profile };
}

/** Nearest-rank percentile of `values` (sorted here); undefined for none. */
function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const median = (values: readonly number[]) => percentile(values, 50);
const fmt = (ms: number | undefined, digits = 0) => (ms === undefined ? '-' : ms.toFixed(digits));

async function challenge(serverUrl: string, videoUrl: string, id: string): Promise<Sample> {
  const startedAt = performance.now();
  const response = await fetch(`${serverUrl}/soccer/challenge`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      challenge_id: id,
      type: 'gsr',
      video_url: videoUrl,
      created_at: new Date().toISOString(),
    }),
  });
  const body = (await response.json()) as { frames?: unknown[] };
  const totalMs = performance.now() - startedAt;
  const timing = serverTiming(response.headers.get('server-timing'));
  return {
    status: response.status,
    frames: body.frames?.length ?? 0,
    firstResultMs: timing['first-result'],
    totalMs,
    overheadMs: timing['overhead'],
    requestMs: timing['request'],
    respondMs: timing['respond'],
  };
}

async function main(): Promise<void> {
  const options = readOptions();
  const loadBefore = loadavg();
  const set = await makeFixtures(defaultFixtureDir(), { profile: options.clip });
  const clip = options.clip === 'bench' ? set.clips['bench-faststart'] : set.clips['faststart'];
  if (!clip) throw new Error(`no ${options.clip} faststart clip in ${set.dir}`);
  const sim = await startNetSim({ root: set.dir, rateBytesPerSec: RATE_BYTES_PER_SEC, ttfbMs: TTFB_MS });
  const server = await startServer({
    pipeline: loadPipeline({ profile: options.profile, env: readEnvConfig(process.env) }),
    allowPrivate: true,
    concurrency: options.concurrent,
    queue: options.concurrent,
    processMetrics: false,
  });
  const videoUrl = sim.urlFor(`/${clip.file.split('/').pop()!}`);
  console.log(
    `bench/serve: ${options.rounds} rounds of ${options.concurrent} concurrent challenges; ${options.clip} clip ` +
      `(${clip.width}×${clip.height}, ${(clip.bytes / 1e6).toFixed(1)} MB) at ${RATE_BYTES_PER_SEC} B/s, ` +
      `${TTFB_MS} ms TTFB; profile ${server.prepared.pipeline.name}; setup ${fmt(server.prepared.setupMs)} ms; ` +
      `${availableParallelism()} cores, load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`,
  );
  try {
    await challenge(server.url, videoUrl, 'warm-up');
    const rounds: Sample[][] = [];
    console.log('round  ok/n  frames  first result p50/p99 ms  total p50/p99 ms  overhead p50/p99 ms');
    for (let round = 1; round <= options.rounds; round += 1) {
      const samples = await Promise.all(
        Array.from({ length: options.concurrent }, (_, index) =>
          challenge(server.url, videoUrl, `r${round}-${index}`),
        ),
      );
      rounds.push(samples);
      const ok = samples.filter((s) => s.status === 200);
      const firsts = ok.flatMap((s) => (s.firstResultMs === undefined ? [] : [s.firstResultMs]));
      const totals = ok.map((s) => s.totalMs);
      const overheads = samples.flatMap((s) => (s.overheadMs === undefined ? [] : [s.overheadMs]));
      console.log(
        `${String(round).padStart(5)}  ${ok.length}/${samples.length}  ${fmt(median(ok.map((s) => s.frames))).padStart(6)}  ` +
          `${fmt(percentile(firsts, 50))}/${fmt(percentile(firsts, 99))}`.padStart(24) +
          `${fmt(percentile(totals, 50))}/${fmt(percentile(totals, 99))}`.padStart(18) +
          `${fmt(percentile(overheads, 50), 2)}/${fmt(percentile(overheads, 99), 2)}`.padStart(21),
      );
    }
    const perRound = (pick: (s: Sample) => number | undefined, p: number) =>
      median(
        rounds.map(
          (samples) =>
            percentile(
              samples
                .filter((s) => s.status === 200)
                .flatMap((s) => (pick(s) === undefined ? [] : [pick(s)!])),
              p,
            ) ?? Number.NaN,
        ),
      );
    const all = rounds.flat();
    const numbers = (pick: (s: Sample) => number | undefined) =>
      all.flatMap((s) => (pick(s) === undefined ? [] : [pick(s)!]));
    console.log(
      `median over rounds: first result p50 ${fmt(perRound((s) => s.firstResultMs, 50))} ms, ` +
        `p99 ${fmt(perRound((s) => s.firstResultMs, 99))} ms; total p50 ${fmt(perRound((s) => s.totalMs, 50))} ms, ` +
        `p99 ${fmt(perRound((s) => s.totalMs, 99))} ms`,
    );
    console.log(
      `server overhead per challenge (all ${all.length}): median ${fmt(median(numbers((s) => s.overheadMs)), 2)} ms ` +
        `(request ${fmt(median(numbers((s) => s.requestMs)), 2)}, respond ${fmt(median(numbers((s) => s.respondMs)), 2)}), ` +
        `p99 ${fmt(
          percentile(
            numbers((s) => s.overheadMs),
            99,
          ),
          2,
        )} ms; target < 5 ms`,
    );
    console.log(
      `load average after: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    await server.close({ graceMs: 0 });
    await sim.close();
  }
}

await main();
