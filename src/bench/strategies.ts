import { basename, extname } from 'node:path';
import type { EnvConfig } from '../core/config.js';
import { ConfigError, codes } from '../core/errors.js';
import type { PipelineDocument, ResolvedPipeline, StageSpec } from '../pipelines/document.js';
import { loadPipeline, loadPipelineWithPlugins } from '../pipelines/load.js';
import { defaultRegistry } from '../pipelines/operators.js';
import { loadPlugins } from '../pipelines/plugins.js';
import type { OperatorRegistry } from '../pipelines/registry.js';

/** A way of fetching the video that `firstframe bench` compares: a shipped profile and the source laid over it. */
export interface BenchStrategy {
  readonly name: string;
  readonly description: string;
  readonly profile: string;
  /** Laid over the profile and the environment: the strategy decides the source, whatever they say. */
  readonly source: StageSpec;
}

const partial = (mb: number): BenchStrategy => ({
  name: `partial-${mb}`,
  description: `the first ${mb} MiB only (Range), decoded as it arrives`,
  profile: 'default',
  source: { operator: 'http-partial', partialMb: mb },
});

/** The built-in strategies, in the order the tables list them. */
export const BENCH_STRATEGIES: readonly BenchStrategy[] = [
  {
    name: 'full',
    description: 'download the whole file, then decode (profile full-download)',
    profile: 'full-download',
    source: { operator: 'http-full' },
  },
  partial(2),
  partial(4),
  partial(6),
  {
    name: 'stream',
    description: 'decode while downloading (the default profile)',
    profile: 'default',
    source: { operator: 'http-stream' },
  },
];

/** Names that stand for several strategies. */
export const STRATEGY_PRESETS: Readonly<Record<string, readonly string[]>> = {
  /** The seeds' partial-download comparison. */
  download: ['full', 'partial-2', 'partial-4', 'partial-6'],
  all: BENCH_STRATEGIES.map((strategy) => strategy.name),
};

/**
 * The strategies a comma-separated list names, presets expanded, duplicates dropped, in the list's order.
 * Every unknown name is a problem.
 */
export function parseStrategyList(list: string): { strategies: BenchStrategy[]; problems: string[] } {
  const names: string[] = [];
  const problems: string[] = [];
  const known = [...BENCH_STRATEGIES.map((strategy) => strategy.name), ...Object.keys(STRATEGY_PRESETS)];
  const items = list.split(',').map((item) => item.trim());
  if (items.every((item) => item === '')) {
    problems.push(`--strategies: expected a comma-separated list of ${known.join(', ')}, got nothing`);
  }
  for (const item of items) {
    if (item === '') continue;
    const expanded = STRATEGY_PRESETS[item] ?? (known.includes(item) ? [item] : undefined);
    if (!expanded) {
      problems.push(`--strategies: unknown strategy ${JSON.stringify(item)}; known: ${known.join(', ')}`);
      continue;
    }
    for (const name of expanded) if (!names.includes(name)) names.push(name);
  }
  return {
    strategies: names.map((name) => BENCH_STRATEGIES.find((strategy) => strategy.name === name)!),
    problems,
  };
}

/** One compared group of runs: a strategy, or a pipeline document given on the command line. */
export interface BenchGroup {
  readonly name: string;
  readonly kind: 'strategy' | 'pipeline';
  readonly description: string;
  readonly pipeline: ResolvedPipeline;
}

export interface BenchGroupsOptions {
  strategies: readonly BenchStrategy[];
  pipelineFiles: readonly string[];
  env?: EnvConfig;
  /** Laid over every group (e.g. the budget, the model). */
  overrides?: PipelineDocument;
  /** Where the groups' operators are looked up (with `--plugin`s' operators registered); default the shipped ones. */
  registry?: OperatorRegistry;
  /** Pipeline files already loaded (with their plugins) by {@link loadBenchGroups}, or why they could not be. */
  preloaded?: ReadonlyMap<string, ResolvedPipeline | ConfigError>;
}

/**
 * Loads every group's pipeline: the strategies over their profiles, then each document. Every problem of
 * every group is reported at once in one ConfigError (each pipeline file's lines carry its name).
 */
export function benchGroups(options: BenchGroupsOptions): BenchGroup[] {
  const groups: BenchGroup[] = [];
  const problems: string[] = [];
  let code: string = codes.config.usage;
  const collect = (load: () => BenchGroup) => {
    try {
      groups.push(load());
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      code = error.code;
      for (const problem of error.problems) if (!problems.includes(problem)) problems.push(problem);
    }
  };
  const overrides = options.overrides ?? {};
  for (const strategy of options.strategies) {
    collect(() => ({
      name: strategy.name,
      kind: 'strategy',
      description: strategy.description,
      pipeline: loadPipeline({
        profile: strategy.profile,
        ...(options.env ? { env: options.env } : {}),
        ...(options.registry ? { registry: options.registry } : {}),
        overrides: { ...overrides, source: { ...overrides.source, ...strategy.source } },
      }),
    }));
  }
  for (const file of options.pipelineFiles) {
    collect(() => {
      const preloaded = options.preloaded?.get(file);
      if (preloaded instanceof ConfigError) throw preloaded;
      const pipeline =
        preloaded ??
        loadPipeline({
          file,
          ...(options.env ? { env: options.env } : {}),
          ...(options.registry ? { registry: options.registry } : {}),
          overrides,
        });
      const stem = basename(file, extname(file));
      let name = stem;
      for (let n = 2; groups.some((group) => group.name === name); n += 1) name = `${stem}-${n}`;
      return { name, kind: 'pipeline', description: pipeline.description ?? `pipeline ${file}`, pipeline };
    });
  }
  if (problems.length > 0) throw new ConfigError(code, problems);
  return groups;
}

/**
 * {@link benchGroups} with plugins: `plugins` (the command line's `--plugin`s, from the working directory)
 * are registered for every group, and each pipeline file's own `plugins:` (from its directory) for that
 * file. Every problem, the plugins' included, is reported at once in one ConfigError.
 */
export async function loadBenchGroups(
  options: Omit<BenchGroupsOptions, 'registry' | 'preloaded'> & { plugins?: readonly string[] },
): Promise<BenchGroup[]> {
  const registry = defaultRegistry();
  await loadPlugins(options.plugins ?? [], { baseDir: process.cwd(), registry });
  const preloaded = new Map<string, ResolvedPipeline | ConfigError>();
  for (const file of options.pipelineFiles) {
    try {
      preloaded.set(
        file,
        await loadPipelineWithPlugins({
          file,
          registry,
          ...(options.env ? { env: options.env } : {}),
          ...(options.overrides ? { overrides: options.overrides } : {}),
        }),
      );
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      preloaded.set(file, error);
    }
  }
  return benchGroups({ ...options, registry, preloaded });
}
