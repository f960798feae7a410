/**
 * Pipeline documents written in TypeScript are typed from the operators' codecs: one `tsc --noEmit` run
 * on a tiny project importing the public API (src/index.ts), a file with typos (each must fail, with its
 * exact error) and a file of correct documents (must compile clean).
 */

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '../..');
let dir: string;

const BAD = (api: string) => `import type { PipelineDocument } from '${api}';
export const misspelt: PipelineDocument = { batch: { sise: 4 } };
export const misspeltNamed: PipelineDocument = { track: { operator: 'bytetrack', matchBufer: 2 } };
export const unknownOperator: PipelineDocument = { stride: { operator: 'evry-nth' } };
export const wrongValue: PipelineDocument = { infer: { device: 'gpu' } };
export const inAList: PipelineDocument = { stride: [{ operator: 'every-nth', evry: 5 }] };
`;

const GOOD = (api: string) => `import {
  PositiveInt,
  defineOperator,
  loadPipeline,
  type OperatorsOf,
  type PipelineDocument,
  type UntypedPipelineDocument,
} from '${api}';

const brightness = defineOperator({
  kind: 'stride',
  name: 'brightness',
  summary: 'frames brighter than min',
  options: { min: PositiveInt },
  create: () => ({
    keeps: () => true,
    operator: () => (frames) => frames,
  }),
});
export const operators = [brightness] as const;

export const shipped: PipelineDocument = {
  extends: 'soccer',
  plugins: ['./my-operators.js'],
  imgSize: 640,
  batch: { size: 4, rampUp: 2, earlyFlushFirstFrame: true },
  stride: [{ operator: 'fit-budget', margin: 0.2 }, { every: 5 }],
  infer: { operator: 'soccer', detector: 'bundled:detector', device: 'cuda', skipPitch: true },
  track: [{ operator: 'bytetrack', matchBuffer: 2 }, { operator: 'none' }],
  sink: { budgetS: 12 },
  fill: { maxGapFrames: 30 },
};
export const mine: PipelineDocument<OperatorsOf<typeof operators>> = {
  stride: [{ operator: 'every-nth', every: 5 }, { operator: 'brightness', min: 3 }],
};
export const byHand: PipelineDocument<{ track: { smoother: { window?: number } } }> = {
  track: [{ operator: 'bytetrack' }, { operator: 'smoother', window: 3 }],
};
export const untyped: UntypedPipelineDocument = { stride: { operator: 'anything', at: 'all' } };
export const loaded = () => [loadPipeline({ document: shipped }), loadPipeline({ document: mine }), loadPipeline({ document: untyped })];
`;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ff-typed-'));
  const api = relative(dir, join(repo, 'src/index.js'));
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  writeFileSync(join(dir, 'bad.ts'), BAD(api));
  writeFileSync(join(dir, 'good.ts'), GOOD(api));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2023'],
        types: ['node'],
        typeRoots: [join(repo, 'node_modules/@types')],
        strict: true,
        skipLibCheck: true,
        esModuleInterop: true,
        resolveJsonModule: true,
        noEmit: true,
      },
      files: ['bad.ts', 'good.ts'],
    }),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('typed pipeline documents', () => {
  it('a misspelt option, operator or value fails tsc with its error; correct documents compile clean', async () => {
    const tsc = join(repo, 'node_modules/typescript/bin/tsc');
    const output = await promisify(execFile)(process.execPath, [tsc, '-p', dir, '--pretty', 'false'], {
      cwd: dir,
    }).then(
      ({ stdout }) => stdout,
      (error: { stdout?: string }) => error.stdout ?? '',
    );
    // The first line of each error (continuation lines are indented).
    const errors = output.split('\n').filter((line) => /^\S/.test(line));
    const bytetrack =
      '{ operator: "bytetrack"; } & { highThreshold?: number | undefined; lowThreshold?: number | undefined; ' +
      'newTrackThreshold?: number | undefined; matchThreshold?: number | undefined; trackBuffer?: number | undefined; ' +
      'matchBuffer?: number | undefined; ballMatchBuffer?: number | undefined; }';
    expect(errors).toEqual([
      `bad.ts(2,54): error TS2353: Object literal may only specify known properties, and 'sise' does not exist in type 'StageOf<"batch", NoExtraOperators>'.`,
      `bad.ts(3,82): error TS2353: Object literal may only specify known properties, and 'matchBufer' does not exist in type '(${bytetrack}) | StageOf<...>[]'.`,
      `bad.ts(4,52): error TS2322: Type '{ operator: "evry-nth"; }' is not assignable to type 'StageOf<"stride", NoExtraOperators> | StageOf<"stride", NoExtraOperators>[] | undefined'.`,
      `bad.ts(5,56): error TS2322: Type '"gpu"' is not assignable to type '"cpu" | "cuda" | "cuda:0" | "cuda:1" | "cuda:2" | "cuda:3" | undefined'.`,
      `bad.ts(6,78): error TS2561: Object literal may only specify known properties, but 'evry' does not exist in type '{ operator: "every-nth"; } & { every?: number | undefined; }'. Did you mean to write 'every'?`,
    ]);
  }, 180_000);
});
