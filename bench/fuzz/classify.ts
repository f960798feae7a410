/**
 * What a fuzz case's result means. A case passes when it ends with frames or with a typed error
 * (a FirstframeError code other than FF_ERR_INTERNAL), on time; everything else is a finding.
 */

import type { PoolResult } from './pool.js';

export const CASE_CLASSES = [
  'ok-frames',
  'ok-typed-error',
  'crash',
  'hang',
  'silent-success',
  'untyped-error',
  'late',
] as const;
export type CaseClass = (typeof CASE_CLASSES)[number];

/** The classes that fail a run (late is reported, not failed on: it depends on the machine's load). */
export const FAILING_CLASSES: ReadonlySet<CaseClass> = new Set([
  'crash',
  'hang',
  'silent-success',
  'untyped-error',
]);

/** How late an answer may be, past the budget. */
export const LATE_AFTER_MS = 100;

export interface Classified {
  class: CaseClass;
  /** The error code, the signal or exit status, or why it is silent. */
  why: string;
}

/**
 * Where a native crash happened, from the segfault handler's report: the first frame in beamcoder (or
 * else in any other native module) and the faulting address, e.g. `in demuxerComplete (address 0x8)`.
 */
export function crashSite(report: string): string | undefined {
  const address = /received SIG\w+ for address: (0x[0-9a-f]+)/.exec(report)?.[1];
  const frame =
    /beamcoder\.node\(([^+)]*)\+/.exec(report)?.[1] ?? /\/([\w-]+\.node)\(([^+)]*)\+/.exec(report)?.[2];
  if (!address && !frame) return undefined;
  // Itanium-mangled names start _Z<length><name>: enough to read the function's name.
  const mangled = frame ? /^_Z(\d+)(\w+)/.exec(frame) : null;
  const name = mangled ? mangled[2]!.slice(0, Number(mangled[1])) : frame || undefined;
  return [name ? `in ${name}` : undefined, address ? `(address ${address})` : undefined]
    .filter(Boolean)
    .join(' ');
}

/**
 * ```ts
 * classify({ kind: 'crash', signal: 'SIGSEGV', exitCode: null, stderrTail: '' }, { budgetMs: 2000, inputBytes: 10 });
 * // { class: 'crash', why: 'SIGSEGV' }
 * ```
 */
export function classify(result: PoolResult, context: { budgetMs: number; inputBytes: number }): Classified {
  if (result.kind === 'crash') {
    const where = crashSite(`${result.crashLog ?? ''}\n${result.stderrTail}`);
    return {
      class: 'crash',
      why: `${result.signal ?? `exit ${result.exitCode}`}${where ? ` ${where}` : ''}`,
    };
  }
  if (result.kind === 'hang') return { class: 'hang', why: `no answer in ${Math.round(result.waitedMs)} ms` };
  const outcome = result.outcome;
  if (outcome.error) {
    if (outcome.error.code === 'FF_ERR_INTERNAL' || outcome.endedBy === 'rejected') {
      return { class: 'untyped-error', why: `${outcome.error.code}: ${outcome.error.message}` };
    }
  } else if (outcome.frames === 0 && context.inputBytes > 0) {
    return { class: 'silent-success', why: `endedBy ${outcome.endedBy}, no frames, no error` };
  }
  if (outcome.elapsedMs > context.budgetMs + LATE_AFTER_MS) {
    return { class: 'late', why: `answered after ${Math.round(outcome.elapsedMs)} ms` };
  }
  return outcome.error
    ? { class: 'ok-typed-error', why: outcome.error.code }
    : { class: 'ok-frames', why: `${outcome.frames} frames` };
}
