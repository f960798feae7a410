/**
 * Replays every hostile input kept in test/hostile/cases/ (the fuzz harness's findings and hand-made
 * ones) through the server's run path in a worker process: over loopback HTTP (the server's path, moov
 * Range fetches included), and also from a file when its README line says it was found that way. Each
 * must end with frames or a typed error; no crash, no hang, no silent success, no untyped error.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classify, type Classified } from '../../bench/fuzz/classify.js';
import { CASES_DIR } from '../../bench/fuzz/findings.js';
import { createFuzzPool, type FuzzPool } from '../../bench/fuzz/pool.js';
import type { Transport } from '../../bench/fuzz/protocol.js';

const BUDGET_S = 1;
const FILES = readdirSync(CASES_DIR)
  .filter((name) => name !== 'README.md' && !name.startsWith('.'))
  .sort();
const README = readFileSync(join(CASES_DIR, 'README.md'), 'utf8');
const transportsOf = (name: string): Transport[] =>
  README.split('\n').some((line) => line.startsWith(`- \`${name}\``) && line.includes(' over file'))
    ? ['http', 'file']
    : ['http'];

let pool: FuzzPool;
const outcomes = new Map<string, Promise<Classified>>();

beforeAll(async () => {
  pool = await createFuzzPool({
    workers: 2,
    budgetS: BUDGET_S,
    imgSize: 320,
    stride: 25,
    hangMarginMs: 5000,
    workDir: join(tmpdir(), `firstframe-regressions-${process.pid}`),
  });
  // Every replay queued at once: the pool runs two at a time, and each test awaits its own.
  FILES.forEach((name, index) => {
    const bytes = new Uint8Array(readFileSync(join(CASES_DIR, name)));
    for (const transport of transportsOf(name)) {
      outcomes.set(
        `${name} ${transport}`,
        pool
          .run({ id: `${index}-${transport}`, ext: extname(name).slice(1) || 'bin', bytes, transport })
          .then(
            (result) => classify(result, { budgetMs: BUDGET_S * 1000, inputBytes: bytes.length }),
            // Kept as a value: a rejection nobody awaits yet would be an unhandled one.
            (error: unknown): Classified => ({
              class: 'crash',
              why: `no worker: ${String(error).slice(0, 500)}`,
            }),
          ),
      );
    }
  });
}, 120_000);

afterAll(async () => {
  await pool?.close();
});

describe('hostile inputs kept in test/hostile/cases', () => {
  it('there are some', () => {
    expect(FILES.length).toBeGreaterThan(0);
  });

  for (const name of FILES) {
    for (const transport of transportsOf(name)) {
      it(`${name} (${transport}) ends with frames or a typed error`, async () => {
        const outcome = await outcomes.get(`${name} ${transport}`)!;
        // Late answers are the timing benchmarks' business, not this test's.
        expect(['ok-frames', 'ok-typed-error', 'late'], `${outcome.class}: ${outcome.why}`).toContain(
          outcome.class,
        );
      }, 600_000);
    }
  }
});
