/**
 * The bounded fuzz run CI does: a few hundred seeded mutations of the fixture clips, each through the
 * server's run path in a worker process (bench/fuzz), none of which may crash the worker, hang, end with
 * no frames and no error, or fail with an untyped error. FUZZ_CASES and FUZZ_SEED change the run; the long
 * form is `npx tsx bench/fuzz.ts --cases 10000`. A failure lists each case with the command that runs it
 * again.
 */

import { beforeAll, describe, expect, it } from 'vitest';
import { readClips } from '../../bench/fuzz/cases.js';
import { CASE_CLASSES } from '../../bench/fuzz/classify.js';
import { countByClass, formatReport, reproduction } from '../../bench/fuzz/report.js';
import { runFuzz, type CaseRecord, type FuzzRunResult } from '../../bench/fuzz/run.js';
import { testFixtures } from '../support/fixtures.js';

const CASES = Number(process.env.FUZZ_CASES ?? 300);
const SEED = Number(process.env.FUZZ_SEED ?? 14);
const SETTINGS = { seed: SEED, budgetS: 1, stride: 25, imgSize: 320, workers: 2 };

let result: FuzzRunResult;

beforeAll(async () => {
  const clips = await readClips(await testFixtures());
  result = await runFuzz({
    clips,
    ids: Array.from({ length: CASES }, (_, i) => `${SEED}-${i}`),
    workers: SETTINGS.workers,
    budgetS: SETTINGS.budgetS,
    imgSize: SETTINGS.imgSize,
    stride: SETTINGS.stride,
    hangMarginMs: 5000,
    transport: 'mix',
  });
  process.stderr.write(`${formatReport(result, SETTINGS)}\n`);
}, 240_000);

const listed = (records: CaseRecord[]): string =>
  records
    .map(
      (item) =>
        `${item.id} ${item.clip}/${item.kind}: ${item.detail} — ${item.why}\n    ${reproduction(item, SETTINGS)}`,
    )
    .join('\n');

describe(`fuzz: ${CASES} cases of seed ${SEED} through the server's run path`, () => {
  it('classifies every case', () => {
    expect(result.records.length).toBe(CASES);
    const counts = countByClass(result.records);
    expect(Object.values(counts).reduce((sum, n) => sum + n, 0)).toBe(CASES);
    expect(Object.keys(counts)).toEqual([...CASE_CLASSES]);
  });

  for (const caseClass of ['crash', 'hang', 'silent-success', 'untyped-error'] as const) {
    it(`no case ends as ${caseClass}`, () => {
      const found = result.records.filter((item) => item.class === caseClass);
      expect(found.length, listed(found)).toBe(0);
    });
  }
});
