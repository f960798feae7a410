import * as t from 'io-ts';
import { isLeft } from 'fp-ts/lib/Either.js';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError } from '../core/errors.js';
import { formatValidationErrors } from '../core/config.js';
import type { PrefetchPolicy } from '../operators/prefetch.js';
import { ImageSize, NonEmptyString, PositiveInt, oneOf } from '../core/codecs.js';
import { decodeClassRules, type ClassRulesOptions } from '../operators/class-rules.js';
import { FILL_OPTION_CODECS, type FillOptions } from '../tracking/fill.js';
import {
  STAGE_KINDS,
  pipelineCodes,
  type OperatorCatalog,
  type OperatorDefinition,
  type OperatorRegistry,
  type StageKind,
} from './registry.js';
import type { ShippedOperators } from './operators.js';
import { LIST_STAGE_KINDS, PLANNED_STRIDE_OPERATORS, isListStageKind } from './stage-lists.js';

/** What a document says besides its stages. */
export interface DocumentHeader {
  version?: 1;
  name?: string;
  description?: string;
  extends?: string;
  /**
   * Plugin modules whose `operators` are registered before the stages are resolved (see
   * src/pipelines/plugins.ts): paths relative to the document's file, absolute paths or package names.
   * Loaded by `loadPipelineWithPlugins` and the CLI; a document extending a profile keeps both lists.
   */
  plugins?: string[];
  imgSize?: number;
  prefetch?: { frames?: number; policy?: PrefetchPolicy };
  /**
   * The fill stage after tracking: every frame of the clip answered from the inferred ones (interpolated
   * along tracks, carried a bounded gap past the ends). An object of options (`{}`: the defaults) turns
   * it on; `false` or no `fill` key turns it off. A document extending a profile merges its options with
   * the profile's, and `fill: false` turns the profile's fill off.
   */
  fill?: false | FillDocumentOptions;
  /** Per-class rules: a class map from the model's names to the answer's, minimum sizes, at most N per class. */
  classes?: ClassRulesOptions;
}

/** No operators beyond the shipped ones. */
export type NoExtraOperators = Record<never, never>;

/** The operators of one stage kind a typed document may name (name → options): the shipped ones and `Extra`'s. */
export type OperatorsFor<K extends StageKind, Extra extends OperatorCatalog> = ShippedOperators[K] &
  (K extends keyof Extra ? NonNullable<Extra[K]> : unknown);

/**
 * One stage of a typed document, for the operators `Ops` (name → options) of its kind: either it names
 * one (`operator: 'batch'`) and gives that operator's options, or it names none and gives options of
 * the operator it keeps (any of the kind's). A misspelt option or operator name fails to compile.
 */
export type TypedStageSpec<Ops> =
  | { [N in keyof Ops & string]: { operator: N } & Ops[N] }[keyof Ops & string]
  | ({ operator?: undefined } & Ops[keyof Ops]);

/** One stage of kind `K` of a typed document (see {@link TypedStageSpec}). */
export type StageOf<K extends StageKind, Extra extends OperatorCatalog = NoExtraOperators> = TypedStageSpec<
  OperatorsFor<K, Extra>
>;

/**
 * A pipeline document: which operator runs each stage and with which options. Written in YAML or JSON:
 *
 * ```yaml
 * version: 1
 * name: my-pipeline
 * extends: default          # start from a shipped profile (optional)
 * plugins: [./my-operators.js]   # modules exporting `operators` (optional)
 * imgSize: 640
 * prefetch: { frames: 32, policy: block }
 * source: { operator: http-partial, partialMb: 4 }
 * decode: { operator: beamcoder, skipNonReference: true }
 * stride: { every: 5 }      # or a list: [{ operator: every-nth, every: 5 }, { operator: my-filter }]
 * batch: { size: 16, rampUp: 4, earlyFlushFirstFrame: true, maxWaitMs: 50 }
 * infer: { model: models/my-yolo.onnx, confThreshold: 0.3 }
 * sink: { budgetS: 1.5, drainS: 0.2 }
 * fill: { maxGapFrames: 30, horizonFrames: 10 }   # answer every frame (see src/tracking/fill.ts); false: off
 * classes: { maxPerClass: { ball: 1 } }           # class map, minimum sizes, at most N per class
 * ```
 *
 * A stage without `operator` keeps the operator of the document it extends (or the stage's default); a
 * stage that names another operator starts from that operator's defaults, not from the options of the
 * one it replaces. `stride` and `track` may hold a list of operators, applied in order (see
 * LIST_STAGE_KINDS in src/pipelines/stage-lists.ts).
 *
 * In TypeScript the stages are typed from the operators' io-ts codecs (the ones that check a document at
 * run time): each shipped operator's options by name ({@link ShippedOperators}), so that
 * `const doc: PipelineDocument = { batch: { sise: 4 } }` fails to compile. Your own operators join
 * through `Extra` (operators by kind, then name, then options), most simply from their definitions:
 *
 * ```ts
 * const doc: PipelineDocument<OperatorsOf<typeof operators>> = {
 *   stride: [{ operator: 'every-nth', every: 5 }, { operator: 'brightness', min: 0.3 }],
 * };
 * ```
 *
 * (or by hand: `PipelineDocument<{ stride: { brightness: { min?: number } } }>`). A generic rather than
 * declaration merging: two plugins' catalogs combine as `OperatorsOf<[...a, ...b]>` without touching the
 * module's types, and a document built at run time can be typed {@link UntypedPipelineDocument}, which
 * every function taking a document accepts (the same codecs check it when it is resolved, every problem
 * listed at once).
 */
export interface PipelineDocument<Extra extends OperatorCatalog = NoExtraOperators> extends DocumentHeader {
  source?: StageOf<'source', Extra>;
  decode?: StageOf<'decode', Extra>;
  /** One operator, or a list applied in order (a frame goes on only if every member keeps it). */
  stride?: StageOf<'stride', Extra> | Array<StageOf<'stride', Extra>>;
  batch?: StageOf<'batch', Extra>;
  infer?: StageOf<'infer', Extra>;
  /** One operator, or a list applied in order to the results. */
  track?: StageOf<'track', Extra> | Array<StageOf<'track', Extra>>;
  sink?: StageOf<'sink', Extra>;
}

/**
 * A document whose stages are not typed (any operator name, any options): what a parsed file is, and
 * what every function taking a document accepts. Checked when it is resolved.
 */
export interface UntypedPipelineDocument extends DocumentHeader {
  source?: StageSpec;
  decode?: StageSpec;
  stride?: StageSpec | StageSpec[];
  batch?: StageSpec;
  infer?: StageSpec;
  track?: StageSpec | StageSpec[];
  sink?: StageSpec;
}

/** The fill options a document may give (everything but code: `select` is the class rules' limit). */
export type FillDocumentOptions = Omit<FillOptions, 'select'>;

/** One stage of an untyped document: the operator's name and its options, side by side. */
export interface StageSpec {
  operator?: string;
  [option: string]: unknown;
}

/** The operator each stage runs when a document names none. */
export const DEFAULT_OPERATORS: Readonly<Record<StageKind, string>> = {
  source: 'http-stream',
  decode: 'beamcoder',
  stride: 'every-nth',
  batch: 'batch',
  infer: 'onnx',
  track: 'none',
  sink: 'budget',
};

export interface ResolvedStage {
  readonly operator: string;
  readonly options: Readonly<Record<string, unknown>>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly definition: OperatorDefinition<StageKind, any>;
  /**
   * A stage given as a list (stride, track: see LIST_STAGE_KINDS): every member in order, each resolved
   * on its own. The stage's own `operator`, `options` and `definition` are then the first member's.
   */
  readonly members?: readonly ResolvedStage[];
}

/** A checked document: every stage has a registered operator and options that passed its codecs. */
export interface ResolvedPipeline {
  readonly name: string;
  readonly description: string | undefined;
  readonly imgSize: number;
  /**
   * Whether the user gave `imgSize` (their document, IMG_SIZE, an option) rather than a shipped profile or
   * the default: when false, a model with a fixed input size decides it at preparation (preparePipeline;
   * the prepared pipeline's `imgSize` is then the model's). Absent: taken as given.
   */
  readonly imgSizeGiven?: boolean;
  readonly prefetch: { readonly frames: number; readonly policy: PrefetchPolicy };
  readonly stages: Readonly<Record<StageKind, ResolvedStage>>;
  /** The fill stage's options, or false when the answer is the inferred frames only. */
  readonly fill: false | Readonly<FillDocumentOptions>;
  /** Per-class rules (checked against the model's class names when the pipeline is prepared). */
  readonly classes: ClassRulesOptions | undefined;
  /** Relative paths (models) are resolved against this directory. */
  readonly baseDir: string;
  /** The merged document, as it could be written back to a file. */
  readonly document: UntypedPipelineDocument;
}

const TOP_LEVEL_KEYS = [
  'version',
  'name',
  'description',
  'extends',
  'plugins',
  'imgSize',
  'prefetch',
  'fill',
  'classes',
  ...STAGE_KINDS,
] as const;

const HeaderCodec = t.partial({
  version: t.literal(1, 'the number 1'),
  name: NonEmptyString,
  description: t.string,
  extends: NonEmptyString,
  plugins: t.array(NonEmptyString, 'a list of module names (paths or packages)'),
  imgSize: ImageSize,
  prefetch: t.partial({ frames: PositiveInt, policy: oneOf(['block', 'drop-newest', 'drop-oldest']) }),
});

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Parses YAML or JSON text (JSON is YAML) into a document object; syntax errors are reported with their
 * line and column, all at once. The shape is checked by {@link resolvePipeline}.
 */
export function parsePipelineText(text: string, origin: string): UntypedPipelineDocument {
  const lines = new LineCounter();
  const parsed = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines });
  if (parsed.errors.length > 0) {
    throw new ConfigError(
      pipelineCodes.invalid,
      parsed.errors.map((error) => {
        const where = lines.linePos(error.pos[0]);
        return `${origin}${where ? `:${where.line}:${where.col}` : ''}: ${error.message.split('\n')[0]}`;
      }),
      { origin },
    );
  }
  const value: unknown = parsed.toJS();
  if (!isRecord(value)) {
    throw new ConfigError(
      pipelineCodes.invalid,
      [`${origin}: expected a mapping of stages (source, decode, …), got ${JSON.stringify(value ?? null)}`],
      { origin },
    );
  }
  return value as UntypedPipelineDocument;
}

/**
 * Lays `over` on top of `base`: scalar settings replace, stages merge option by option, a stage that
 * names a different operator replaces the base stage whole, and `plugins` lists are joined. Over a list
 * stage, a list replaces it; a single stage goes to one member (see {@link listMemberFor}): merged into it
 * when it names no operator or the member's, else it replaces that member. A single stage naming an
 * operator no member has, in a list without a planned member, replaces the whole list.
 */
export function mergeDocuments(
  base: UntypedPipelineDocument,
  over: UntypedPipelineDocument,
  options: { readonly registry?: OperatorRegistry } = {},
): UntypedPipelineDocument {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const previous = merged[key];
    if (key === 'plugins' && Array.isArray(previous) && Array.isArray(value)) {
      merged[key] = [...previous, ...value.filter((entry: unknown) => !previous.includes(entry))];
      continue;
    }
    if ((STAGE_KINDS as readonly string[]).includes(key) || key === 'prefetch' || key === 'fill') {
      if (Array.isArray(previous) && isRecord(value) && previous.length > 0) {
        const at = listMemberFor(key as StageKind, previous, value, options.registry);
        if (at !== undefined) {
          const member = previous[at] as Record<string, unknown>;
          const same =
            value.operator === undefined || value.operator === operatorOf(key as StageKind, member);
          merged[key] = previous.map((entry: unknown, index) =>
            index !== at ? entry : same ? { ...member, ...value } : { ...value },
          );
          continue;
        }
      }
      if (isRecord(previous) && isRecord(value)) {
        const switched =
          value.operator !== undefined &&
          previous.operator !== undefined &&
          value.operator !== previous.operator;
        merged[key] = switched ? { ...value } : { ...previous, ...value };
        continue;
      }
    }
    merged[key] = value;
  }
  return merged as UntypedPipelineDocument;
}

const operatorOf = (kind: StageKind, member: Record<string, unknown>): unknown =>
  member.operator ?? DEFAULT_OPERATORS[kind];

/**
 * The member of a list stage that a single stage laid over it goes to (FRAME_STRIDE, --stride,
 * DISABLE_TRACKING), undefined when it replaces the whole list:
 *
 * - naming an operator: the member with that operator, else the planned stride member (it replaces it);
 * - naming none: the first member whose operator takes every option given (known from `registry`), else
 *   the planned stride member, else the first member.
 */
function listMemberFor(
  kind: StageKind,
  list: readonly unknown[],
  over: Record<string, unknown>,
  registry: OperatorRegistry | undefined,
): number | undefined {
  const members = list.map((entry) => (isRecord(entry) ? entry : undefined));
  const planned = members.findIndex(
    (member) =>
      kind === 'stride' &&
      member !== undefined &&
      PLANNED_STRIDE_OPERATORS.includes(String(operatorOf(kind, member))),
  );
  const found = (index: number) => (index >= 0 ? index : undefined);
  if (over.operator !== undefined) {
    return (
      found(members.findIndex((member) => member && operatorOf(kind, member) === over.operator)) ??
      found(planned)
    );
  }
  const keys = Object.keys(over);
  if (registry) {
    const taking = members.findIndex((member) => {
      const definition = member && registry.get(kind, String(operatorOf(kind, member)));
      return definition !== undefined && keys.every((option) => option in definition.options);
    });
    if (taking >= 0) return taking;
  }
  return found(planned) ?? (members[0] ? 0 : undefined);
}

export interface ResolveOptions {
  registry: OperatorRegistry;
  /** Shipped profiles, for `extends`. */
  profiles?: Readonly<Record<string, UntypedPipelineDocument>>;
  /** Where relative paths in the document point from; default the working directory. */
  baseDir?: string;
  /** Prefixes every problem, e.g. the file name. */
  origin?: string;
}

/**
 * Checks a document against the registry: known top-level keys, a registered operator per stage, each
 * stage's options against that operator's codecs (unknown options included). Every problem is reported
 * at once, one line each with its path: `batch.size: expected a positive integer, got 0`.
 */
export function resolvePipeline(input: UntypedPipelineDocument, options: ResolveOptions): ResolvedPipeline {
  const problems: string[] = [];
  const prefix = options.origin ? `${options.origin}: ` : '';
  const raw = input as Record<string, unknown>;

  let document = input;
  if (raw.extends !== undefined) {
    const base = typeof raw.extends === 'string' ? options.profiles?.[raw.extends] : undefined;
    if (!base) {
      const known = Object.keys(options.profiles ?? {}).join(', ') || 'none';
      problems.push(`${prefix}extends: unknown profile ${JSON.stringify(raw.extends)}; known: ${known}`);
    } else {
      document = mergeDocuments(base, input, { registry: options.registry });
    }
  }
  const doc = document as Record<string, unknown>;

  for (const key of Object.keys(doc)) {
    if (!(TOP_LEVEL_KEYS as readonly string[]).includes(key)) {
      problems.push(`${prefix}${key}: unknown key; expected one of ${TOP_LEVEL_KEYS.join(', ')}`);
    }
  }
  const header = HeaderCodec.decode(doc);
  if (isLeft(header)) problems.push(...formatValidationErrors(header.left).map((line) => prefix + line));
  if (isRecord(doc.prefetch)) {
    for (const key of Object.keys(doc.prefetch)) {
      if (key !== 'frames' && key !== 'policy') {
        problems.push(`${prefix}prefetch.${key}: unknown option; expected frames or policy`);
      }
    }
  }

  const fill = resolveFill(doc.fill, prefix, problems);
  let classes: ClassRulesOptions | undefined;
  if (doc.classes !== undefined) {
    try {
      classes = decodeClassRules(doc.classes);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems.map((line) => prefix + line));
    }
  }

  const stages = {} as Record<StageKind, ResolvedStage>;
  for (const kind of STAGE_KINDS) {
    const spec = doc[kind] ?? {};
    if (Array.isArray(spec)) {
      if (!isListStageKind(kind)) {
        problems.push(
          `${prefix}${kind}: expected a mapping of options, got a list; only ${LIST_STAGE_KINDS.join(' and ')} take a list of operators`,
        );
        continue;
      }
      if (spec.length === 0) {
        problems.push(`${prefix}${kind}: expected at least one operator in the list, got []`);
        continue;
      }
      const members = spec.map((member, index) =>
        resolveStage(kind, `${kind}[${index}]`, member, options.registry, prefix, problems),
      );
      if (members.every((member): member is ResolvedStage => member !== undefined)) {
        const planned = members.flatMap((member, index) =>
          kind === 'stride' && PLANNED_STRIDE_OPERATORS.includes(member.operator)
            ? [`${kind}[${index}] ${member.operator}`]
            : [],
        );
        if (planned.length > 1) {
          problems.push(
            `${prefix}${kind}: at most one planned operator (${PLANNED_STRIDE_OPERATORS.join(', ')}) per list (a run has one plan), got ${planned.join(' and ')}`,
          );
        }
        stages[kind] = { ...members[0]!, members };
      }
      continue;
    }
    const stage = resolveStage(kind, kind, spec, options.registry, prefix, problems);
    if (stage) stages[kind] = stage;
  }

  if (problems.length > 0) {
    throw new ConfigError(pipelineCodes.invalid, problems, { origin: options.origin });
  }
  const prefetch = (doc.prefetch ?? {}) as DocumentHeader['prefetch'] & object;
  return {
    name: (doc.name as string | undefined) ?? (doc.extends as string | undefined) ?? 'pipeline',
    description: doc.description as string | undefined,
    imgSize: (doc.imgSize as number | undefined) ?? 640,
    imgSizeGiven: input.imgSize !== undefined,
    prefetch: { frames: prefetch.frames ?? 32, policy: prefetch.policy ?? 'block' },
    stages,
    fill,
    classes,
    baseDir: options.baseDir ?? process.cwd(),
    document,
  };
}

/** One stage (or one member of a list, at `path`) checked against its operator's codecs. */
function resolveStage(
  kind: StageKind,
  path: string,
  spec: unknown,
  registry: OperatorRegistry,
  prefix: string,
  problems: string[],
): ResolvedStage | undefined {
  if (!isRecord(spec)) {
    problems.push(`${prefix}${path}: expected a mapping of options, got ${JSON.stringify(spec)}`);
    return undefined;
  }
  const { operator: named, ...rest } = spec;
  if (named !== undefined && typeof named !== 'string') {
    problems.push(`${prefix}${path}.operator: expected an operator name, got ${JSON.stringify(named)}`);
    return undefined;
  }
  const operator = named ?? DEFAULT_OPERATORS[kind];
  const definition = registry.get(kind, operator);
  if (!definition) {
    problems.push(
      `${prefix}${path}.operator: unknown ${kind} operator ${JSON.stringify(operator)}; known: ${registry.names(kind).join(', ')}`,
    );
    return undefined;
  }
  const known = Object.keys(definition.options);
  for (const key of Object.keys(rest)) {
    if (!known.includes(key)) {
      problems.push(
        `${prefix}${path}.${key}: unknown option of ${kind} operator ${operator}; ` +
          (known.length > 0 ? `known: ${known.join(', ')}` : 'it takes none'),
      );
    }
  }
  for (const key of definition.required ?? []) {
    if (rest[key] === undefined) {
      problems.push(`${prefix}${path}.${key}: required by ${kind} operator ${operator}, got nothing`);
    }
  }
  const decoded = t.partial(definition.options).decode(rest);
  if (isLeft(decoded)) {
    problems.push(...formatValidationErrors(decoded.left, path).map((line) => prefix + line));
    return undefined;
  }
  return { operator, options: decoded.right, definition };
}

/** `fill` of a document: false, absent (off), or options checked against FILL_OPTION_CODECS. */
function resolveFill(value: unknown, prefix: string, problems: string[]): false | FillDocumentOptions {
  if (value === undefined || value === false) return false;
  if (!isRecord(value)) {
    problems.push(`${prefix}fill: expected false or a mapping of fill options, got ${JSON.stringify(value)}`);
    return false;
  }
  const known = Object.keys(FILL_OPTION_CODECS);
  for (const key of Object.keys(value)) {
    if (!known.includes(key))
      problems.push(`${prefix}fill.${key}: unknown option; known: ${known.join(', ')}`);
  }
  const decoded = t.partial(FILL_OPTION_CODECS).decode(value);
  if (isLeft(decoded)) {
    problems.push(...formatValidationErrors(decoded.left, 'fill').map((line) => prefix + line));
    return false;
  }
  return decoded.right;
}
