import { ConfigError } from '../../core/errors.js';
import { centreHeatmapHead } from './centre-heatmap.js';
import type { Head, HeadLayout, HeadPlan, ModelHead } from './types.js';

export { defineHead } from './types.js';
import { yoloHead } from './yolo.js';

/** Stable codes of the head registry. */
export const headCodes = {
  /** `loadModel(path, { head })` names no registered head. */
  unknown: 'FF_ERR_UNKNOWN_HEAD',
  /** A head registered twice under one name without `replace`. */
  duplicate: 'FF_ERR_DUPLICATE_HEAD',
  /** A head definition without a name, `check` or `decode`. */
  invalid: 'FF_ERR_INVALID_HEAD',
} as const;

/** The head models are loaded with unless told: Ultralytics YOLO's `output0`. */
export const DEFAULT_HEAD = 'yolo';

// The registry stores heads whatever their layout type; each head's `decode` only ever gets the layout its
// own `check` made (see `bindHead`).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyHead = Head<any>;

/**
 * The heads `loadModel` knows by name, for the whole process (as a model file is), the shipped ones first.
 * A user's head is registered once at start-up, before the models that use it are loaded.
 */
const heads = new Map<string, AnyHead>([
  [yoloHead.name, yoloHead],
  [centreHeatmapHead.name, centreHeatmapHead],
]);

/** What is wrong with a head definition, one line each (none: usable). */
function problemsOf(head: Head, where: string): string[] {
  const problems: string[] = [];
  if (typeof head?.name !== 'string' || head.name.length === 0) {
    problems.push(`${where}: expected a head with a non-empty name, got ${JSON.stringify(head?.name)}`);
  }
  for (const method of ['check', 'decode'] as const) {
    if (typeof head?.[method] !== 'function') {
      problems.push(`${where}(${JSON.stringify(head?.name)}): ${method} is not a function`);
    }
  }
  return problems;
}

/** Adds a head; a name taken is an error unless `replace` is set (the shipped heads can be replaced too). */
export function registerHead<L extends HeadLayout>(head: Head<L>, options: { replace?: boolean } = {}): void {
  const problems = problemsOf(head, 'registerHead');
  if (problems.length > 0) throw new ConfigError(headCodes.invalid, problems);
  if (heads.has(head.name) && !options.replace) {
    throw new ConfigError(headCodes.duplicate, [
      `registerHead: a head named ${JSON.stringify(head.name)} exists; pass { replace: true } to replace it`,
    ]);
  }
  heads.set(head.name, head);
}

/** Removes a registered head (tests, plug-ins unloading); true when there was one. */
export function unregisterHead(name: string): boolean {
  return heads.delete(name);
}

/** Registered head names, in registration order. */
export function headNames(): string[] {
  return [...heads.keys()];
}

/** The head registered under `name`; a ConfigError (FF_ERR_UNKNOWN_HEAD) listing the known ones if none. */
export function headByName(name: string): Head {
  const head = heads.get(name);
  if (!head) {
    throw new ConfigError(
      headCodes.unknown,
      [`head: unknown head ${JSON.stringify(name)}; known: ${headNames().join(', ')}`],
      { head: name },
    );
  }
  return head;
}

/**
 * The head `loadModel` is asked for: a registered one by name (default {@link DEFAULT_HEAD}), or a head
 * given as it is, checked as `registerHead` checks it.
 */
export function resolveHead(head: string | Head | undefined): Head {
  if (head === undefined || typeof head === 'string') return headByName(head ?? DEFAULT_HEAD);
  const problems = problemsOf(head, 'head');
  if (problems.length > 0) throw new ConfigError(headCodes.invalid, problems);
  return head;
}

/** `head`'s plan for one model, bound so that callers need not carry the layout's type. */
export function bindHead<L extends HeadLayout>(head: Head<L>, plan: HeadPlan<L>): ModelHead {
  const { layout, outputs } = plan;
  return {
    name: head.name,
    layout,
    outputs,
    decode: (values, target, options) => head.decode(values, layout, target, options),
  };
}
