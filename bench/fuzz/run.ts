/**
 * A fuzz run: makes the cases of a seed, runs them through a pool of worker processes, classifies each.
 * The CLI (bench/fuzz.ts) and the CI test (test/hostile/fuzz.test.ts) both run this.
 */

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { caseById, type ClipBytes, type FuzzCase, type FuzzClip } from './cases.js';
import { classify, type CaseClass } from './classify.js';
import { createFuzzPool, type PoolResult } from './pool.js';
import type { Transport } from './protocol.js';

export type TransportChoice = Transport | 'mix';

export interface FuzzRunOptions {
  clips: ClipBytes;
  /** Case ids to run, in order (`SEED-INDEX`, `cut-LAYOUT-OFFSET`); one may repeat. */
  ids: readonly string[];
  workers: number;
  budgetS: number;
  imgSize: number;
  stride: number;
  hangMarginMs: number;
  /** `mix`: even positions in `ids` over loopback HTTP (the server's path, Range fetches included), odd from a file. */
  transport: TransportChoice;
  /** Called as each case ends (progress, saving findings). */
  onCase?: (record: CaseRecord, fuzzCase: FuzzCase) => void | Promise<void>;
}

export interface CaseRecord {
  id: string;
  clip: FuzzClip;
  kind: string;
  detail: string;
  inputBytes: number;
  transport: Transport;
  class: CaseClass;
  why: string;
  /** From run() to its answer, when there was one. */
  elapsedMs?: number;
  errorCode?: string;
  /** The document's endedBy (end, budget, error), or 'rejected'. */
  endedBy?: string;
  frames?: number;
  rssMb?: number;
  /** The worker's stderr (and crash.log) for a crash or a hang. */
  stderrTail?: string;
  /** For a crash or a hang: the cases the same worker ran just before. */
  previous?: string[];
}

export interface FuzzRunResult {
  records: CaseRecord[];
  durationMs: number;
  workersStarted: number;
}

export function transportFor(choice: TransportChoice, position: number): Transport {
  return choice === 'mix' ? (position % 2 === 0 ? 'http' : 'file') : choice;
}

function record(fuzzCase: FuzzCase, transport: Transport, result: PoolResult, budgetMs: number): CaseRecord {
  const { class: caseClass, why } = classify(result, { budgetMs, inputBytes: fuzzCase.bytes.length });
  const base: CaseRecord = {
    id: fuzzCase.id,
    clip: fuzzCase.clip,
    kind: fuzzCase.kind,
    detail: fuzzCase.detail,
    inputBytes: fuzzCase.bytes.length,
    transport,
    class: caseClass,
    why,
  };
  if (result.kind === 'outcome') {
    const { outcome } = result;
    return {
      ...base,
      elapsedMs: Math.round(outcome.elapsedMs),
      endedBy: outcome.endedBy,
      frames: outcome.frames,
      rssMb: outcome.rssMb,
      ...(outcome.error ? { errorCode: outcome.error.code } : {}),
    };
  }
  const tail = result.kind === 'crash' ? [result.crashLog, result.stderrTail] : [result.stderrTail];
  return { ...base, stderrTail: tail.filter(Boolean).join('\n'), previous: result.previous };
}

export async function runFuzz(options: FuzzRunOptions): Promise<FuzzRunResult> {
  const startedAt = performance.now();
  const pool = await createFuzzPool({
    workers: options.workers,
    budgetS: options.budgetS,
    imgSize: options.imgSize,
    stride: options.stride,
    hangMarginMs: options.hangMarginMs,
    workDir: join(tmpdir(), `firstframe-fuzz-${process.pid}-${Date.now()}`),
  });
  const records: CaseRecord[] = [];
  const order = new Map<CaseRecord, number>();
  try {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < options.ids.length) {
        const position = next++;
        const fuzzCase = caseById(options.clips, options.ids[position]!);
        const transport = transportFor(options.transport, position);
        const result = await pool.run({
          id: fuzzCase.id,
          ext: fuzzCase.ext,
          bytes: fuzzCase.bytes,
          transport,
        });
        const caseRecord = record(fuzzCase, transport, result, options.budgetS * 1000);
        order.set(caseRecord, position);
        records.push(caseRecord);
        await options.onCase?.(caseRecord, fuzzCase);
      }
    };
    await Promise.all(Array.from({ length: options.workers }, lane));
  } finally {
    await pool.close();
  }
  records.sort((a, b) => order.get(a)! - order.get(b)!);
  return { records, durationMs: performance.now() - startedAt, workersStarted: pool.started };
}
