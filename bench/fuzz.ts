// run: npx tsx bench/fuzz.ts [--cases N] [--seed S] [--start I] [--workers W] [--budget S] [--stride N] [--img-size N]
//                            [--transport mix|http|file] [--hang-margin MS] [--save [--save-dir DIR]] [--json FILE]
//      npx tsx bench/fuzz.ts --case ID [--repeat N] [--write FILE]   (one case again, from its id)
//      npx tsx bench/fuzz.ts --sweep        (every clip cut at every box / element boundary: cut-LAYOUT-OFFSET)
//
// Seeded, structure-aware mutations of the fixture clips (faststart, moov-end, fragmented MP4, MPEG-TS,
// Matroska, WebM; see bench/fuzz/cases.ts), each run through the pipeline the challenge server runs
// (PreparedPipeline.run with the server's limits and guarded dispatcher; default profile, every 25th frame
// to the bundled detector at 320 px) in worker child processes, so that a native crash costs one case. Each case is
// classified: ok-frames, ok-typed-error, crash (the worker died), hang (no answer within budget + margin:
// the worker is killed), silent-success (no frames, no error), untyped-error (FF_ERR_INTERNAL or a
// rejection), late (answered more than 100 ms after the budget).
//
// Prints counts per class, per mutation kind and per clip, the error codes, and every finding with the
// command that runs it again. --save writes each failing input (deduplicated) to test/hostile/cases/ with
// a line in its README. Exits 1 when any case crashed, hung, succeeded silently or failed untyped.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { defaultFixtureDir, makeFixtures } from '../src/fixtures/make.js';
import { caseById, readClips } from './fuzz/cases.js';
import { FAILING_CLASSES } from './fuzz/classify.js';
import { openFindingStore } from './fuzz/findings.js';
import { formatReport } from './fuzz/report.js';
import { runFuzz, type TransportChoice } from './fuzz/run.js';
import { sweepIds } from './fuzz/sweep.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    start: { type: 'string', default: '0' },
    workers: { type: 'string', default: '2' },
    budget: { type: 'string', default: '2' },
    stride: { type: 'string', default: '25' },
    'img-size': { type: 'string', default: '320' },
    transport: { type: 'string', default: 'mix' },
    'hang-margin': { type: 'string', default: '5000' },
    case: { type: 'string' },
    sweep: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '1' },
    write: { type: 'string' },
    save: { type: 'boolean', default: false },
    'save-dir': { type: 'string' },
    json: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});

const number = (name: string, value: string | undefined, min: number): number => {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < min) {
    process.stderr.write(`fuzz: --${name}: expected a number >= ${min}, got ${JSON.stringify(value)}\n`);
    process.exit(2);
  }
  return parsed;
};

const transport = values.transport as TransportChoice;
if (!['mix', 'http', 'file'].includes(transport)) {
  process.stderr.write(`fuzz: --transport: expected mix, http or file, got ${JSON.stringify(transport)}\n`);
  process.exit(2);
}
const settings = {
  seed: number('seed', values.seed, 0),
  budgetS: number('budget', values.budget, 0.1),
  stride: number('stride', values.stride, 1),
  imgSize: number('img-size', values['img-size'], 32),
  workers: number('workers', values.workers, 1),
};
const clips = await readClips(await makeFixtures(defaultFixtureDir(), { profile: 'test' }));

let ids: string[];
if (values.case !== undefined) {
  // Native crashes are often nondeterministic: --repeat runs the same case that many times.
  ids = Array.from({ length: number('repeat', values.repeat, 1) }, () => values.case!);
  const fuzzCase = caseById(clips, values.case);
  process.stderr.write(
    `case ${fuzzCase.id}: ${fuzzCase.clip}, ${fuzzCase.kind}: ${fuzzCase.detail} (${fuzzCase.bytes.length} bytes)\n`,
  );
  if (values.write) {
    await writeFile(values.write, fuzzCase.bytes);
    process.stderr.write(`written to ${values.write}\n`);
  }
} else if (values.sweep) {
  ids = sweepIds(clips);
} else {
  const start = number('start', values.start, 0);
  ids = Array.from({ length: number('cases', values.cases, 1) }, (_, i) => `${settings.seed}-${start + i}`);
}

const store = values.save ? await openFindingStore(values['save-dir']) : undefined;
const head = `main ${process.env.GIT_COMMIT ?? ''}`.trim();
let done = 0;
const result = await runFuzz({
  clips,
  ids,
  workers: Math.min(settings.workers, ids.length),
  budgetS: settings.budgetS,
  imgSize: settings.imgSize,
  stride: settings.stride,
  hangMarginMs: number('hang-margin', values['hang-margin'], 100),
  transport,
  onCase: async (item, fuzzCase) => {
    done += 1;
    const failing = FAILING_CLASSES.has(item.class);
    if (!values.quiet && (failing || done % 50 === 0 || values.case !== undefined)) {
      process.stderr.write(
        `[${done}/${ids.length}] ${item.id} ${item.clip}/${item.kind}: ${item.class} (${item.why})\n`,
      );
    }
    if (failing && store) {
      const saved = await store.save(
        item,
        fuzzCase,
        `found ${new Date().toISOString().slice(0, 10)} on ${head}`,
      );
      if (saved) process.stderr.write(`  saved test/hostile/cases/${saved}\n`);
    }
  },
});
process.stdout.write(`${formatReport(result, settings)}\n`);
const tail =
  values.case !== undefined ? result.records.find((item) => item.stderrTail)?.stderrTail : undefined;
if (tail) process.stdout.write(`\nworker stderr (and crash.log) of the first crash or hang:\n${tail}\n`);
if (values.json) await writeFile(values.json, JSON.stringify({ settings, ...result }, null, 2));
process.exitCode = result.records.some((item) => FAILING_CLASSES.has(item.class)) ? 1 : 0;
