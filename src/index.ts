/**
 * firstframe's public API: the pipeline (documents, registry, profiles, runner), the stages one by one, and
 * the error and event types they share.
 */

export { FirstframeError, ConfigError, SourceError, DecodeError, ModelError, codes } from './core/errors.js';
export { readEnvConfig, type EnvConfig } from './core/config.js';
export { createTimeline, type StageEvent, type EventSink, type Timeline } from './core/events.js';
export { createRootLogger, LOG_STRING_MAX_CHARS, type Logger } from './core/logger.js';
export {
  ALLOCATOR_SETTINGS,
  ALLOCATOR_TUNABLES,
  allocatorTuning,
  tuneAllocator,
  type AllocatorTuning,
} from './core/allocator.cjs';

export {
  parsePipelineText,
  resolvePipeline,
  mergeDocuments,
  DEFAULT_OPERATORS,
  type DocumentHeader,
  type FillDocumentOptions,
  type NoExtraOperators,
  type OperatorsFor,
  type PipelineDocument,
  type ResolveOptions,
  type ResolvedPipeline,
  type ResolvedStage,
  type StageOf,
  type StageSpec,
  type TypedStageSpec,
  type UntypedPipelineDocument,
} from './pipelines/document.js';
export {
  loadPipeline,
  loadPipelineWithPlugins,
  envOverrides,
  type LoadPipelineOptions,
} from './pipelines/load.js';
export { loadPlugins, type LoadPluginsOptions, type PluginModule } from './pipelines/plugins.js';
export {
  defaultRegistry,
  resolveModel,
  BUNDLED_PREFIX,
  type DeadlineSinkContext,
  type OptionsOfProps,
  type ShippedOperators,
} from './pipelines/operators.js';
export { LIST_STAGE_KINDS, type ListStageKind } from './pipelines/stage-lists.js';
export { PROFILES } from './pipelines/profiles.js';
export {
  createRegistry,
  defineOperator,
  pipelineCodes,
  STAGE_KINDS,
  type InferStage,
  type OperatorCatalog,
  type OperatorDefinition,
  type OperatorRegistry,
  type DefinitionShape,
  type OperatorsOf,
  type OptionsOf,
  type AnyOperatorDefinition,
  type RunContext,
  type SinkContext,
  type SetupContext,
  type StageKind,
  type StageImplementations,
} from './pipelines/registry.js';
export {
  preparePipeline,
  limitCodes,
  type PreparedPipeline,
  type PipelineEvent,
  type RunDocument,
  type RunOptions,
  type RunLimits,
} from './pipelines/runner.js';
export { emptyRunError, type RunFacts } from './pipelines/outcome.js';
export * from './core/codecs.js';

export { httpSource, type HttpSourceOptions, type HttpStrategy } from './sources/http.js';
export { fileSource, type FileSourceOptions } from './sources/file.js';
export { warm } from './sources/warm.js';
export { createDispatcher, sharedDispatcher, closeSharedDispatcher } from './sources/dispatcher.js';
export type { ByteChunk, ResourceInfo } from './sources/types.js';

export {
  decode,
  warmDecode,
  type DecodeOptions,
  type DecodedFrame,
  type WarmDecodeResult,
} from './operators/decode.js';
export { stride, strideKeeps } from './operators/stride.js';
export { releasingSkipped, type SlottedFrame } from './operators/stride-release.js';
export { batch, type BatchOptions } from './operators/batch.js';
export {
  prefetchGate,
  PixelBufferPool,
  type PrefetchGate,
  type PrefetchPolicy,
} from './operators/prefetch.js';
export { infer, type FrameResult, type InferOptions } from './operators/infer.js';
export { soccerInfer, pitchKeypoints, type SoccerFrameResult } from './operators/soccer.js';
export { track, type TrackOptions, type TrackedFrameResult } from './operators/track.js';
export { budgetSink, type BudgetSinkOptions, type BudgetOutcome, type EndedBy } from './sinks/budget.js';

export { loadModel, type LoadedModel, type LoadModelOptions } from './inference/model.js';
export type { Detection, YoloDecodeOptions } from './inference/yolo.js';
export {
  DEFAULT_HEAD,
  defineHead,
  headByName,
  headCodes,
  headNames,
  registerHead,
  unregisterHead,
} from './inference/heads/registry.js';
export type {
  DecodeOptions as HeadDecodeOptions,
  DecodeTarget,
  Head,
  HeadCheckContext,
  HeadLayout,
  HeadOutput,
  HeadPlan,
  ModelHead,
  OutputSpec,
} from './inference/heads/types.js';
export { centreHeatmapHead, type CentreHeatmapLayout } from './inference/heads/centre-heatmap.js';

export { startServer, DEFAULT_LIMITS, type ServerOptions, type ChallengeServer } from './server/server.js';
export type { FiberAuthOptions } from './server/fiber-auth.js';
export type { PredictLimits } from './server/predict.js';
export type { ServerMetrics } from './server/metrics.js';
export type { UrlGuardOptions } from './server/url-guard.js';

// Types that appear in the signatures above, exported so that users can name them.
export type { ErrorContext } from './core/errors.js';
export type { StageName } from './core/events.js';
export type { RootLoggerOptions } from './core/logger.js';
export type { BudgetSink } from './sinks/budget.js';
export type { ByteBudget, ByteCharge } from './sources/budget.js';
export type { ByteRange } from './sources/types.js';
export type { DispatchGuard, DispatcherOptions, ResolvedAddress } from './sources/dispatcher.js';
export type { WarmResult } from './sources/warm.js';
export type { ChallengeOutcome } from './server/metrics.js';
export type { ClassRulesOptions } from './operators/class-rules.js';
export type { StreamHeader, VideoStreamInfo } from './operators/decode.js';
export type { PrefetchGateOptions, PrefetchSlot } from './operators/prefetch.js';
export type { ContainerLayout } from './media/layout.js';
export type { Numbered } from './operators/stride.js';
export type { StrideReport, StrideSettings } from './operators/stride-budget.js';
export type { SoccerInferOptions } from './operators/soccer.js';
export type { TrackedDetection } from './operators/track.js';
export type { Device, ModelOutput, RunTimings } from './inference/model.js';
export type { ModelInput } from './inference/input-tensor.js';
export type { LetterboxGeometry, LetterboxedImage, Preprocess } from './media/letterbox.js';
export type { FilledObject, FillOptions, FillSource, FillStats } from './tracking/fill.js';
export type { PrepareOptions, ResultFrame, ResultObject } from './pipelines/runner.js';
