import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError } from '../core/errors.js';
import { STAGE_KINDS, pipelineCodes, type OperatorDefinition, type OperatorRegistry } from './registry.js';

/**
 * A plugin is an ES module (or CommonJS) that exports `operators`: an array of definitions made with
 * `defineOperator`. Each is registered under its kind and name, so that a pipeline document can name it.
 *
 * ```ts
 * // my-operators.ts (compiled to my-operators.js, or run under tsx)
 * import { defineOperator } from 'firstframe';
 * import { filter } from 'rxjs';
 * export const operators = [
 *   defineOperator({ kind: 'stride', name: 'even', summary: 'even frame numbers', options: {},
 *     create: () => ({ keeps: (n) => n % 2 === 0, operator: () => filter((f) => f.frameNumber % 2 === 0) }) }),
 * ];
 * ```
 */
export interface PluginModule {
  // The definitions' option types are the plugin's own.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly operators: ReadonlyArray<OperatorDefinition<any, any>>;
}

export interface LoadPluginsOptions {
  /** Relative paths and package names are resolved from this directory. */
  baseDir: string;
  /** Where the plugins' operators are registered. */
  registry: OperatorRegistry;
}

type Located = { readonly specifier: string; readonly url: string } | { readonly problem: string };

/**
 * Where a plugin specifier points: a relative path (`./x.js`, `../x.mjs`) or an absolute one, a `file:`
 * URL, or a package name resolved from `baseDir` as `require.resolve` would from a file there (the
 * package's `exports` with the `require`/`default` conditions, or its `main`).
 */
function locate(specifier: string, baseDir: string): Located {
  if (typeof specifier !== 'string' || specifier.trim() === '') {
    return { problem: `plugin ${JSON.stringify(specifier)}: expected a module path or package name` };
  }
  if (specifier.startsWith('file:')) {
    let path: string;
    try {
      path = fileURLToPath(specifier);
    } catch (error) {
      return {
        problem: `plugin ${specifier}: not a file URL this machine can open: ${(error as Error).message}`,
      };
    }
    return existsSync(path)
      ? { specifier, url: specifier }
      : { problem: `plugin ${specifier}: no such file: ${path}` };
  }
  const isPath = isAbsolute(specifier) || /^\.\.?([/\\]|$)/.test(specifier);
  if (isPath) {
    const path = resolve(baseDir, specifier);
    return existsSync(path)
      ? { specifier, url: pathToFileURL(path).href }
      : { problem: `plugin ${specifier}: no such file: ${path}` };
  }
  try {
    const path = createRequire(join(baseDir, 'noop.js')).resolve(specifier);
    return { specifier, url: pathToFileURL(path).href };
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0];
    return { problem: `plugin ${specifier}: cannot find the package from ${baseDir} (${reason})` };
  }
}

const describe = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;

/** What is wrong with one exported definition, each line naming where (`operators[1] "foo": …`). */
function definitionProblems(value: unknown, index: number): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [`operators[${index}]: expected a definition made with defineOperator, got ${describe(value)}`];
  }
  const definition = value as Record<string, unknown>;
  const where = `operators[${index}]${typeof definition.name === 'string' ? ` ${JSON.stringify(definition.name)}` : ''}`;
  const problems: string[] = [];
  if (typeof definition.name !== 'string' || definition.name.trim() === '') {
    problems.push(`${where}: name: expected a non-empty string, got ${JSON.stringify(definition.name)}`);
  }
  if (!(STAGE_KINDS as readonly unknown[]).includes(definition.kind)) {
    problems.push(
      `${where}: kind: expected one of ${STAGE_KINDS.join(', ')}, got ${JSON.stringify(definition.kind)}`,
    );
  }
  if (typeof definition.create !== 'function') {
    problems.push(`${where}: create: expected a function, got ${describe(definition.create)}`);
  }
  if (definition.summary !== undefined && typeof definition.summary !== 'string') {
    problems.push(`${where}: summary: expected a string, got ${describe(definition.summary)}`);
  }
  const options = definition.options;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    problems.push(
      `${where}: options: expected an object of io-ts codecs ({} for none), got ${describe(options)}`,
    );
  } else {
    for (const [key, codec] of Object.entries(options)) {
      if (typeof (codec as { decode?: unknown } | null)?.decode !== 'function') {
        problems.push(`${where}: options.${key}: expected an io-ts codec, got ${describe(codec)}`);
      }
    }
    const required = definition.required;
    if (required !== undefined) {
      if (!Array.isArray(required)) {
        problems.push(`${where}: required: expected an array of option names, got ${describe(required)}`);
      } else {
        for (const key of required) {
          if (typeof key !== 'string' || !(key in options)) {
            problems.push(`${where}: required: ${JSON.stringify(key)} is not one of its options`);
          }
        }
      }
    }
  }
  return problems;
}

/** The exported `operators` of a module namespace (CommonJS modules' too, under `default`). */
function exportedOperators(namespace: Record<string, unknown>): unknown {
  if ('operators' in namespace) return namespace.operators;
  const fallback = namespace.default as Record<string, unknown> | undefined;
  if (typeof fallback === 'object' && fallback !== null && 'operators' in fallback) return fallback.operators;
  return undefined;
}

/**
 * Imports each plugin and registers its operators. Specifiers are resolved from `options.baseDir` (see
 * `locate`): `./my-operators.js`, `/abs/path.mjs`, `file:///…`, `my-package`. A `.ts` plugin imports only
 * where TypeScript is loaded (tsx); plain node needs `.js`/`.mjs`.
 *
 * Every problem of every plugin is reported at once in one ConfigError, one line each naming the plugin:
 * FF_ERR_PLUGIN_NOT_FOUND (no such file or package), FF_ERR_PLUGIN_INVALID (the import failed, no
 * `operators` array, a definition that is not one), FF_ERR_DUPLICATE_OPERATOR (two definitions of one
 * kind and name, a plugin's or a registered one). The error's code is the first problem's. Nothing is
 * registered when there is a problem.
 *
 * A definition already in the registry (the same object: the same module loaded again) is skipped, so
 * loading a plugin twice is harmless.
 */
export async function loadPlugins(specifiers: readonly string[], options: LoadPluginsOptions): Promise<void> {
  await loadPluginGroups([{ specifiers, baseDir: options.baseDir }], options.registry);
}

/** Plugins named from one place: a document's (from its directory), the command line's (from cwd). */
export interface PluginGroup {
  readonly specifiers: readonly string[];
  readonly baseDir: string;
}

/** {@link loadPlugins} for several groups at once: one ConfigError lists the problems of all of them. */
export async function loadPluginGroups(
  groups: readonly PluginGroup[],
  registry: OperatorRegistry,
): Promise<void> {
  const problems: Array<{ code: string; line: string }> = [];
  const found: Array<{ specifier: string; url: string }> = [];
  for (const group of groups) {
    for (const specifier of group.specifiers) {
      const located = locate(specifier, group.baseDir);
      if ('problem' in located) problems.push({ code: pipelineCodes.pluginNotFound, line: located.problem });
      else if (!found.some((entry) => entry.url === located.url)) found.push(located);
    }
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const accepted: Array<{ specifier: string; definition: OperatorDefinition<any, any> }> = [];
  for (const { specifier, url } of found) {
    const where = `plugin ${specifier} (${fileURLToPath(url)})`;
    let namespace: Record<string, unknown>;
    try {
      namespace = (await import(url)) as Record<string, unknown>;
    } catch (error) {
      const reason = (error as Error)?.message?.split('\n')[0] ?? String(error);
      const hint = /\.[cm]?ts$/.test(url) ? ' (a .ts plugin needs a TypeScript loader such as tsx)' : '';
      problems.push({
        code: pipelineCodes.pluginInvalid,
        line: `${where}: importing it failed: ${reason}${hint}`,
      });
      continue;
    }
    const operators = exportedOperators(namespace);
    if (!Array.isArray(operators)) {
      const names = Object.keys(namespace).sort().join(', ') || 'nothing';
      problems.push({
        code: pipelineCodes.pluginInvalid,
        line:
          operators === undefined
            ? `${where}: exports no \`operators\` (an array of defineOperator definitions); it exports ${names}`
            : `${where}: operators: expected an array of defineOperator definitions, got ${describe(operators)}`,
      });
      continue;
    }
    operators.forEach((definition: unknown, index) => {
      const wrong = definitionProblems(definition, index);
      if (wrong.length > 0) {
        problems.push(
          ...wrong.map((line) => ({ code: pipelineCodes.pluginInvalid, line: `${where}: ${line}` })),
        );
      } else {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        accepted.push({ specifier, definition: definition as OperatorDefinition<any, any> });
      }
    });
  }

  const fresh: typeof accepted = [];
  for (const entry of accepted) {
    const { kind, name } = entry.definition;
    const registered = registry.get(kind, name);
    if (registered === entry.definition) continue;
    const earlier = fresh.find((other) => other.definition.kind === kind && other.definition.name === name);
    if (earlier?.definition === entry.definition) continue;
    if (registered || earlier) {
      const other = earlier ? `plugin ${earlier.specifier}` : 'an operator already registered';
      problems.push({
        code: pipelineCodes.duplicate,
        line: `plugin ${entry.specifier}: a ${kind} operator named ${JSON.stringify(name)} is defined by ${other} too`,
      });
      continue;
    }
    fresh.push(entry);
  }

  if (problems.length > 0) {
    throw new ConfigError(
      problems[0]!.code,
      problems.map((problem) => problem.line),
      { plugins: groups.flatMap((group) => group.specifiers) },
    );
  }
  for (const { definition } of fresh) registry.register(definition);
}
