// Issue 5's comparison: full download, partial 2/4/6 MB and streaming on the same file over the seeds'
// measured link (1.66 MB/s, 100 ms to first byte), several runs each, medians in a table. The measuring is
// `firstframe bench`'s own module (src/bench/bench.ts); this script only fixes the strategies and the link.
//
//   npx tsx bench/strategies.ts [--runs N] [--rate B/S] [--ttfb MS] [--budget S] [--clip FILE] [--peers] [--json]
//
// The clip is the 30 s 720p bench clip when `firstframe fixtures --profile bench` has made it (else the 4 s
// test clip). The same as `firstframe bench --strategies download,stream --peers none`.
import { parseArgs } from 'node:util';
import { runBench } from '../src/bench/bench.js';
import { formatBench } from '../src/bench/bench-text.js';
import { killChildren } from '../src/bench/children.js';
import { PEER_NAMES } from '../src/bench/peers.js';
import { benchGroups, parseStrategyList } from '../src/bench/strategies.js';
import { SEED_RATE_BYTES_PER_SEC, SEED_TTFB_MS } from '../src/cli/run.js';
import { readEnvConfig } from '../src/core/config.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    rate: { type: 'string', default: String(SEED_RATE_BYTES_PER_SEC) },
    ttfb: { type: 'string', default: String(SEED_TTFB_MS) },
    budget: { type: 'string' },
    clip: { type: 'string' },
    peers: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});

const runs = Number(values.runs);
const budgetS = values.budget === undefined ? undefined : Number(values.budget);
const aborter = new AbortController();
process.once('SIGINT', () => {
  aborter.abort();
  killChildren();
});

const { strategies } = parseStrategyList('download,stream');
const { document } = await runBench({
  target: values.clip,
  groups: benchGroups({
    strategies,
    pipelineFiles: [],
    env: readEnvConfig(process.env),
    overrides: budgetS === undefined ? {} : { sink: { budgetS } },
  }),
  runs,
  link: { rateBytesPerSec: Number(values.rate), ttfbMs: Number(values.ttfb) },
  peers: values.peers ? PEER_NAMES : [],
  ...(budgetS === undefined ? {} : { budgetS }),
  signal: aborter.signal,
  onProgress: (done, total, label) => process.stderr.write(`bench/strategies: ${done}/${total} ${label}\n`),
});
process.stdout.write(values.json ? `${JSON.stringify(document, null, 2)}\n` : formatBench(document));
