/**
 * Keeps every failing fuzz input as a regression fixture in test/hostile/cases/, with one line in that
 * folder's README saying what it is and what it did. Inputs are deduplicated by content, and at most
 * {@link PER_SIGNATURE} is kept per (clip, kind, class): the folder stays small while still holding an
 * example of every way the fuzz found to fail.
 */

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, readFile, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FuzzCase } from './cases.js';
import type { CaseRecord } from './run.js';

export const CASES_DIR = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'test',
  'hostile',
  'cases',
);
const README = 'README.md';
export const PER_SIGNATURE = 1;

const README_HEAD = `# Hostile inputs kept as regression fixtures

\`test/hostile/regressions.test.ts\` replays every file here (but this README) through the pipeline in a child
process and requires frames or a typed error: no crash, no hang, no silent success. \`fuzz-*\` files were
written by the fuzz harness (\`npx tsx bench/fuzz.ts --save\`; \`--case ID\` makes one again from its id);
others were made by hand. One line per file: what it is, and what it did when it was found.

`;

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const signatureOf = (clip: string, kind: string, caseClass: string) => `${clip} ${kind} ${caseClass}`;

export interface FindingStore {
  /** Writes the case when it is new; returns the file name written, or undefined. */
  save(record: CaseRecord, fuzzCase: FuzzCase, note: string): Promise<string | undefined>;
}

export async function openFindingStore(dir = CASES_DIR): Promise<FindingStore> {
  const readme = join(dir, README);
  if (!existsSync(readme)) await writeFile(readme, README_HEAD);
  const hashes = new Set<string>();
  for (const name of await readdir(dir)) {
    if (name !== README) hashes.add(sha(await readFile(join(dir, name))));
  }
  const signatures = new Map<string, number>();
  for (const line of (await readFile(readme, 'utf8')).split('\n')) {
    // - `fuzz-KIND-SEED-INDEX.EXT`: CLIP, KIND (DETAIL) → CLASS (WHY) …
    const match = /^- `fuzz-[^`]+`: (\S+), (\S+) .*→ (\S+) /.exec(line);
    if (match) {
      const key = signatureOf(match[1]!, match[2]!, match[3]!);
      signatures.set(key, (signatures.get(key) ?? 0) + 1);
    }
  }
  return {
    async save(record, fuzzCase, note) {
      const key = signatureOf(record.clip, record.kind, record.class);
      const hash = sha(fuzzCase.bytes);
      if (hashes.has(hash) || (signatures.get(key) ?? 0) >= PER_SIGNATURE) return undefined;
      hashes.add(hash);
      signatures.set(key, (signatures.get(key) ?? 0) + 1);
      // fuzz-KIND-SEED-INDEX.EXT for a seeded case, fuzz-cut-LAYOUT-OFFSET.EXT for one of the sweep.
      const stem = /^\d+-\d+$/.test(fuzzCase.id) ? `${record.kind}-${fuzzCase.id}` : fuzzCase.id;
      const name = `fuzz-${stem}.${fuzzCase.ext}`;
      await writeFile(join(dir, name), fuzzCase.bytes);
      const why = record.why.replace(/\s+/g, ' ').slice(0, 160);
      await appendFile(
        readme,
        `- \`${name}\`: ${record.clip}, ${record.kind} (${record.detail}) → ${record.class} (${why}) over ${record.transport}; ${note}\n`,
      );
      return name;
    },
  };
}
