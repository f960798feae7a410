import * as t from 'io-ts';
import type { MonoTypeOperatorFunction, Observable, OperatorFunction } from 'rxjs';
import { ConfigError } from '../core/errors.js';
import type { EventSink } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { DecodedFrame, StreamHeader } from '../operators/decode.js';
import type { FrameResult } from '../operators/infer.js';
import type { PrefetchGate } from '../operators/prefetch.js';
import type { BudgetSink } from '../sinks/budget.js';
import type { ByteBudget } from '../sources/budget.js';
import type { ByteChunk } from '../sources/types.js';
import type { Dispatcher } from 'undici';

/** The stages of a pipeline, in the order the data flows. */
export const STAGE_KINDS = ['source', 'decode', 'stride', 'batch', 'infer', 'track', 'sink'] as const;
export type StageKind = (typeof STAGE_KINDS)[number];

/** Stable codes of the pipeline layer (documents, registry, profiles). */
export const pipelineCodes = {
  /** A document that does not parse or does not validate; every problem is listed. */
  invalid: 'FF_ERR_PIPELINE_INVALID',
  unknownOperator: 'FF_ERR_UNKNOWN_OPERATOR',
  unknownProfile: 'FF_ERR_UNKNOWN_PROFILE',
  /** Two settings that cannot hold together (e.g. a model's fixed input size and IMG_SIZE). */
  conflict: 'FF_ERR_CONFIG_CONFLICT',
  /** An operator registered twice under one name. */
  duplicate: 'FF_ERR_DUPLICATE_OPERATOR',
  /** A plugin module (a document's `plugins:`, `--plugin`) that is not there: no such file or package. */
  pluginNotFound: 'FF_ERR_PLUGIN_NOT_FOUND',
  /** A plugin that does not import, exports no `operators` array, or exports a definition that is not one. */
  pluginInvalid: 'FF_ERR_PLUGIN_INVALID',
  /** A stage's operator threw (or errored) during a run: the error names the stage, the operator and the frame. */
  operatorFailed: 'FF_ERR_OPERATOR_FAILED',
} as const;

/** What every stage of one run shares. Built by the runner for each run. */
export interface RunContext {
  /** The URL or file this run reads. */
  readonly target: string;
  /** Side of the square model input. */
  readonly imgSize: number;
  readonly onEvent: EventSink;
  /** Bounds how far decoding runs ahead of inference (PREFETCH_FRAMES). */
  readonly gate: PrefetchGate;
  /** The stride's decision, for the decoder: only these frames are converted for the model. */
  readonly keepFrame: (frameNumber: number) => boolean;
  /** Emits once when the budget is spent: for stages that must stop by themselves (infer, with drain). */
  readonly deadline$: Observable<void>;
  /** Whether the sink drains (so inference should stop taking batches at the deadline). */
  readonly drain: boolean;
  readonly logger: Logger;
  /** The HTTP dispatcher sources use (a guarded one on a server); default the shared one. */
  readonly dispatcher: Dispatcher | undefined;
  /**
   * The run's byte budget (RunLimits.maxBytes): sources charge every byte they read, over every request
   * (the main one, Range fetches, windows), and stop at the limit with its FF_ERR_LIMIT_BYTES.
   */
  readonly bytes: ByteBudget;
  /**
   * Checks a video's size and duration against the run's limits as soon as a header says them (before
   * any picture is decoded); throws the typed limit error (FF_ERR_LIMIT_RESOLUTION / _DURATION).
   */
  readonly checkStream: (header: StreamHeader) => void;
}

/** What a sink factory gets: the sink is made before the other stages, which use its deadline. */
export interface SinkContext {
  /** Emits once at the decoder's first frame. */
  readonly firstFrame$: Observable<unknown>;
  /** Emits once if the run is cancelled (AbortSignal). */
  readonly cancel$: Observable<unknown>;
  readonly onEvent: EventSink;
}

/** What an operator's `create` gets, once per prepared pipeline. */
export interface SetupContext {
  /** The document's image size (IMG_SIZE). */
  readonly imgSize: number;
  /**
   * False when no document, variable or option of the user's gave the image size (`imgSize` is then a
   * profile's or the default 640): a model with a fixed input size uses its own, without a conflict.
   */
  readonly imgSizeGiven?: boolean;
  /** Relative paths in the document are resolved against this directory. */
  readonly baseDir: string;
  readonly onEvent?: EventSink;
  readonly logger: Logger;
  /**
   * The batch sizes the model will be given, largest first (the batch stage's `size`, then 1): a dynamic
   * model is warmed up at each, so that no real batch pays for a shape's first run (ONNX Runtime grows its
   * memory for the largest; smaller shapes then reuse it).
   */
  readonly batchSizes?: readonly number[];
  /**
   * The CPUs the process gave its inference sessions (src/core/cpu-placement.ts), when the pipeline's
   * preparation placed them: a model stage starts its CPU sessions there, with one ONNX Runtime thread per
   * CPU each unless the document sets `threads`.
   */
  readonly inferenceCores?: readonly number[];
}

/** What the model stage reports about itself. */
export interface InferStage {
  readonly operator: (context: RunContext) => OperatorFunction<DecodedFrame[], FrameResult>;
  /** Milliseconds spent loading and warming up. */
  readonly setupMs: number;
  readonly describe: Readonly<Record<string, unknown>>;
  release(): Promise<void>;
}

/** What `create` returns for each kind of stage. */
export interface StageImplementations {
  source: (context: RunContext) => Observable<ByteChunk>;
  decode: (context: RunContext) => OperatorFunction<ByteChunk, DecodedFrame>;
  stride: {
    readonly keeps: (frameNumber: number) => boolean;
    readonly operator: (context: RunContext) => MonoTypeOperatorFunction<DecodedFrame>;
  };
  batch: (context: RunContext) => OperatorFunction<DecodedFrame, DecodedFrame[]>;
  infer: InferStage;
  track: (context: RunContext) => MonoTypeOperatorFunction<FrameResult>;
  sink: (context: SinkContext) => BudgetSink<FrameResult>;
}

/**
 * One named implementation of a stage. `options` gives each option's codec: a document's stage object is
 * checked against it (unknown keys are reported too) before `create` sees it.
 */
export interface OperatorDefinition<
  K extends StageKind = StageKind,
  P extends t.Props = t.Props,
  N extends string = string,
> {
  readonly kind: K;
  /** The name documents give as `operator:`; kept as a literal type by defineOperator (see OperatorsOf). */
  readonly name: N;
  /** One line for `--help` and README tables. */
  readonly summary: string;
  readonly options: P;
  /** Options a document must give (e.g. the model file). */
  readonly required?: ReadonlyArray<keyof P & string>;
  create(
    options: t.TypeOf<t.PartialC<P>>,
    setup: SetupContext,
  ): StageImplementations[K] | Promise<StageImplementations[K]>;
  /**
   * A model stage's CPU inference sessions that run at once with these options (0 when its models run on a
   * GPU): what src/core/cpu-placement.ts reserves CPUs for. Absent: not known, and nothing is placed.
   */
  cpuSessions?(options: t.TypeOf<t.PartialC<P>>): number;
}

/**
 * Infers option types from the codecs: `defineOperator({ kind: 'batch', options: { size: PositiveInt }, … })`.
 * The kind and the name keep their literal types, so that `OperatorsOf<typeof operators>` can type the
 * documents that use them.
 */
export function defineOperator<K extends StageKind, P extends t.Props, N extends string>(
  definition: OperatorDefinition<K, P, N>,
): OperatorDefinition<K, P, N> {
  return definition;
}

/** The options a document may give an operator: each option's codec type, every one optional. */
export type OptionsOf<D> = D extends { readonly options: infer P extends t.Props }
  ? { [O in keyof P]?: t.TypeOf<P[O]> }
  : never;

/**
 * Operators by stage kind, then by name, each with the options a document may give it:
 * `{ stride: { brightness: { min?: number } } }`. What `PipelineDocument<Extra>` adds to the shipped ones.
 */
export type OperatorCatalog = { readonly [K in StageKind]?: object };

/** What {@link OperatorsOf} reads of a definition (any definition made with defineOperator has it). */
export interface DefinitionShape {
  readonly kind: StageKind;
  readonly name: string;
  readonly options: t.Props;
}

/**
 * The catalog of some definitions, for `PipelineDocument<OperatorsOf<typeof operators>>`:
 *
 * ```ts
 * export const operators = [brightness, smoother] as const;   // made with defineOperator
 * const doc: PipelineDocument<OperatorsOf<typeof operators>> = {
 *   stride: [{ operator: 'every-nth', every: 5 }, { operator: 'brightness', min: 0.3 }],
 * };
 * ```
 */
export type OperatorsOf<Definitions extends ReadonlyArray<DefinitionShape>> = {
  [K in StageKind]: {
    [
      D in Definitions[number] as D extends { readonly kind: K; readonly name: infer N extends string }
        ? N
        : never
    ]: OptionsOf<D>;
  };
};

/**
 * A definition whatever its option types: what the registry stores (`create` only ever sees options that
 * passed that definition's own codecs).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyOperatorDefinition = OperatorDefinition<StageKind, any>;

/** Operators by stage kind and name. A pipeline document picks one per stage with `operator: NAME`. */
export interface OperatorRegistry {
  /** Adds an operator; a name taken for that kind is an error unless `replace` is set. */
  register<K extends StageKind, P extends t.Props>(
    definition: OperatorDefinition<K, P>,
    options?: { replace?: boolean },
  ): OperatorRegistry;
  get(kind: StageKind, name: string): AnyOperatorDefinition | undefined;
  /** Registered names of a kind, in registration order. */
  names(kind: StageKind): string[];
}

/** A new registry holding every operator `registry` holds: operators added to it leave `registry` as it was. */
export function copyRegistry(registry: OperatorRegistry): OperatorRegistry {
  return createRegistry(
    STAGE_KINDS.flatMap((kind) => registry.names(kind).map((name) => registry.get(kind, name)!)),
  );
}

export function createRegistry(definitions: readonly AnyOperatorDefinition[] = []): OperatorRegistry {
  const byKind = new Map<StageKind, Map<string, AnyOperatorDefinition>>(
    STAGE_KINDS.map((kind) => [kind, new Map()]),
  );
  const registry: OperatorRegistry = {
    register(definition, options = {}) {
      const named = byKind.get(definition.kind);
      if (!named) {
        throw new ConfigError(pipelineCodes.invalid, [
          `register: expected a stage kind (${STAGE_KINDS.join(', ')}), got ${JSON.stringify(definition.kind)}`,
        ]);
      }
      if (named.has(definition.name) && !options.replace) {
        throw new ConfigError(pipelineCodes.duplicate, [
          `register: a ${definition.kind} operator named ${JSON.stringify(definition.name)} exists; pass { replace: true } to replace it`,
        ]);
      }
      named.set(definition.name, definition as AnyOperatorDefinition);
      return registry;
    },
    get: (kind, name) => byKind.get(kind)?.get(name),
    names: (kind) => [...(byKind.get(kind)?.keys() ?? [])],
  };
  for (const definition of definitions) registry.register(definition);
  return registry;
}
