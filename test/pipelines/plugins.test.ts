/**
 * Plugins: real modules written to a temporary folder, imported by loadPlugins and loadPipelineWithPlugins
 * from a document's `plugins:` and from the options, and every way a plugin can be wrong.
 */

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { mergeDocuments } from '../../src/pipelines/document.js';
import { loadPipeline, loadPipelineWithPlugins } from '../../src/pipelines/load.js';
import { defaultRegistry } from '../../src/pipelines/operators.js';
import { loadPlugins } from '../../src/pipelines/plugins.js';

const require = createRequire(import.meta.url);
const rxjsUrl = pathToFileURL(require.resolve('rxjs')).href;
const iotsUrl = pathToFileURL(require.resolve('io-ts')).href;

/** A stride filter (frames whose number is a multiple of `of`) and a track operator that numbers frames. */
const OPERATORS = `
import { filter, map } from '${rxjsUrl}';
import * as t from '${iotsUrl}';
export const operators = [
  {
    kind: 'stride',
    name: 'multiple-of',
    summary: 'frames whose number is a multiple of \`of\`',
    options: { of: t.number },
    create: (options) => {
      const keeps = (n) => n % (options.of ?? 2) === 0;
      return { keeps, operator: () => filter((frame) => keeps(frame.frameNumber)) };
    },
  },
  {
    kind: 'track',
    name: 'count-frames',
    summary: 'gives every object the count of frames so far as its track id',
    options: {},
    create: () => () => (source) => {
      let count = 0;
      return source.pipe(map((frame) => {
        count += 1;
        return { ...frame, objects: frame.objects.map((object) => ({ ...object, trackId: count })) };
      }));
    },
  },
];
`;

let dir: string;
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ff-plugins-'));
  write('operators.mjs', OPERATORS);
  write('no-operators.mjs', 'export const helpers = 1;\nexport default {};\n');
  write('not-an-array.mjs', 'export const operators = { kind: "stride" };\n');
  write(
    'bad-definition.mjs',
    [
      'export const operators = [',
      '  { kind: "strid", name: "x", summary: "s", options: {}, create: () => undefined },',
      '  { kind: "track", name: "", options: { window: 3 }, required: ["size"] },',
      '  42,',
      '];',
    ].join('\n'),
  );
  // The same stride name as operators.mjs: a duplicate.
  write(
    'same-name.mjs',
    'export const operators = [{ kind: "stride", name: "multiple-of", summary: "", options: {}, create: () => ({}) }];\n',
  );
  write(
    'builtin-name.mjs',
    'export const operators = [{ kind: "batch", name: "batch", summary: "", options: {}, create: () => ({}) }];\n',
  );
  write('throws.mjs', 'throw new Error("plugin set-up failed");\n');
  mkdirSync(join(dir, 'node_modules/ff-test-plugin'), { recursive: true });
  write('node_modules/ff-test-plugin/package.json', '{"name":"ff-test-plugin","main":"index.mjs"}\n');
  write('node_modules/ff-test-plugin/index.mjs', OPERATORS.replaceAll('multiple-of', 'pkg-multiple-of'));
  write(
    'pipeline.yaml',
    [
      'extends: default',
      'plugins: [./operators.mjs]',
      'stride: { operator: multiple-of, of: 3 }',
      'track: { operator: count-frames }',
    ].join('\n'),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The ConfigError a promise rejects with. */
async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe('loadPipelineWithPlugins', () => {
  it("loads the document's plugins relative to the document and resolves stages with them", async () => {
    const pipeline = await loadPipelineWithPlugins({ file: join(dir, 'pipeline.yaml') });
    expect(pipeline.stages.stride.operator).toBe('multiple-of');
    expect(pipeline.stages.stride.options).toEqual({ of: 3 });
    expect(pipeline.stages.track.operator).toBe('count-frames');
    expect(pipeline.document.plugins).toEqual(['./operators.mjs']);
    const stride = (await pipeline.stages.stride.definition.create(pipeline.stages.stride.options, {
      imgSize: 640,
      baseDir: dir,
      logger: undefined as never,
    })) as { keeps: (n: number) => boolean };
    expect([0, 1, 2, 3, 4, 5, 6].filter(stride.keeps)).toEqual([0, 3, 6]);
  });

  it("checks a plugin operator's options with its codecs", async () => {
    const error = await configError(
      loadPipelineWithPlugins({
        file: join(dir, 'pipeline.yaml'),
        overrides: { stride: { of: 'three', every: 2 } },
      }),
    );
    expect(error.code).toBe('FF_ERR_PIPELINE_INVALID');
    expect(error.problems).toEqual([
      `${join(dir, 'pipeline.yaml')}: stride.every: unknown option of stride operator multiple-of; known: of`,
      `${join(dir, 'pipeline.yaml')}: stride.of: expected number, got "three"`,
    ]);
  });

  it('loads options.plugins relative to the working directory, and a document object relative to baseDir', async () => {
    const fromCwd = relative(process.cwd(), join(dir, 'operators.mjs'));
    const pipeline = await loadPipelineWithPlugins({
      profile: 'default',
      plugins: [fromCwd],
      overrides: { stride: { operator: 'multiple-of', of: 4 } },
    });
    expect(pipeline.stages.stride.operator).toBe('multiple-of');

    const fromDocument = await loadPipelineWithPlugins({
      document: { extends: 'default', plugins: ['./operators.mjs'], track: { operator: 'count-frames' } },
      baseDir: dir,
    });
    expect(fromDocument.stages.track.operator).toBe('count-frames');
    expect(fromDocument.baseDir).toBe(dir);
  });

  it('loads a package by name from the document directory', async () => {
    const pipeline = await loadPipelineWithPlugins({
      document: { extends: 'default', plugins: ['ff-test-plugin'], stride: { operator: 'pkg-multiple-of' } },
      baseDir: dir,
    });
    expect(pipeline.stages.stride.operator).toBe('pkg-multiple-of');
  });

  it('registers into a copy: the given registry is left as it was', async () => {
    const registry = defaultRegistry();
    await loadPipelineWithPlugins({ file: join(dir, 'pipeline.yaml'), registry });
    expect(registry.get('stride', 'multiple-of')).toBeUndefined();
    // And loadPipeline, synchronous, does not load plugins: the operator is unknown there.
    let error: unknown;
    try {
      loadPipeline({ file: join(dir, 'pipeline.yaml') });
    } catch (caught) {
      error = caught;
    }
    const file = join(dir, 'pipeline.yaml');
    expect((error as ConfigError).problems).toEqual([
      `${file}: stride.operator: unknown stride operator "multiple-of"; known: every-nth, fit-budget`,
      `${file}: track.operator: unknown track operator "count-frames"; known: none, bytetrack`,
      'plugins: ./operators.mjs not loaded: loadPipeline is synchronous; use loadPipelineWithPlugins, or register their operators on `registry`',
    ]);
  });

  it('a `plugins` that is not a list of module names: FF_ERR_PIPELINE_INVALID with its path', async () => {
    const error = await configError(
      loadPipelineWithPlugins({
        document: { extends: 'default', plugins: './operators.mjs' } as never,
        baseDir: dir,
      }),
    );
    expect(error.code).toBe('FF_ERR_PIPELINE_INVALID');
    expect(error.problems).toEqual([
      'plugins: expected a list of module names (paths or packages), got "./operators.mjs"',
    ]);
  });

  it('a module named twice (document and options, two spellings) is loaded once', async () => {
    const pipeline = await loadPipelineWithPlugins({
      file: join(dir, 'pipeline.yaml'),
      plugins: [join(dir, 'operators.mjs'), pathToFileURL(join(dir, 'operators.mjs')).href],
    });
    expect(pipeline.stages.stride.operator).toBe('multiple-of');
  });
});

describe('plugins in merged documents', () => {
  it('a document laid over another keeps the plugins of both, once each', () => {
    expect(mergeDocuments({ plugins: ['./a.js', 'pkg'] }, { plugins: ['pkg', './b.js'] }).plugins).toEqual([
      './a.js',
      'pkg',
      './b.js',
    ]);
  });
});

describe('loadPlugins', () => {
  it('registers every operator; loading the same module again into the registry is harmless', async () => {
    const registry = defaultRegistry();
    await loadPlugins(['./operators.mjs'], { baseDir: dir, registry });
    await loadPlugins(['./operators.mjs'], { baseDir: dir, registry });
    expect(registry.names('stride')).toEqual(['every-nth', 'fit-budget', 'multiple-of']);
    expect(registry.names('track')).toEqual(['none', 'bytetrack', 'count-frames']);
  });

  it('a missing file or package: FF_ERR_PLUGIN_NOT_FOUND naming it', async () => {
    const error = await configError(
      loadPlugins(['./missing.js', '/nowhere/plugin.mjs'], { baseDir: dir, registry: defaultRegistry() }),
    );
    expect(error.code).toBe('FF_ERR_PLUGIN_NOT_FOUND');
    expect(error.problems).toEqual([
      `plugin ./missing.js: no such file: ${join(dir, 'missing.js')}`,
      'plugin /nowhere/plugin.mjs: no such file: /nowhere/plugin.mjs',
    ]);
    // A file: URL with a host (not this machine's) is a problem listed like the others, not a TypeError.
    const remote = await configError(
      loadPlugins(['file://host/x.mjs', './missing.js'], { baseDir: dir, registry: defaultRegistry() }),
    );
    expect(remote.code).toBe('FF_ERR_PLUGIN_NOT_FOUND');
    expect(remote.problems).toHaveLength(2);
    expect(remote.problems[0]).toMatch(
      /^plugin file:\/\/host\/x\.mjs: not a file URL this machine can open: /,
    );
    const pkg = await configError(
      loadPlugins(['no-such-package-ff'], { baseDir: dir, registry: defaultRegistry() }),
    );
    expect(pkg.code).toBe('FF_ERR_PLUGIN_NOT_FOUND');
    expect(pkg.problems).toHaveLength(1);
    expect(pkg.problems[0]).toMatch(
      new RegExp(`^plugin no-such-package-ff: cannot find the package from ${dir} \\(Cannot find module`),
    );
  });

  it('a module without `operators`, or with something else: FF_ERR_PLUGIN_INVALID naming what it exports', async () => {
    const error = await configError(
      loadPlugins(['./no-operators.mjs', './not-an-array.mjs'], {
        baseDir: dir,
        registry: defaultRegistry(),
      }),
    );
    expect(error.code).toBe('FF_ERR_PLUGIN_INVALID');
    expect(error.problems).toEqual([
      `plugin ./no-operators.mjs (${join(dir, 'no-operators.mjs')}): exports no \`operators\` (an array of defineOperator definitions); it exports default, helpers`,
      `plugin ./not-an-array.mjs (${join(dir, 'not-an-array.mjs')}): operators: expected an array of defineOperator definitions, got object`,
    ]);
  });

  it('bad definitions: every problem of each, with its index and name', async () => {
    const error = await configError(
      loadPlugins(['./bad-definition.mjs'], { baseDir: dir, registry: defaultRegistry() }),
    );
    expect(error.code).toBe('FF_ERR_PLUGIN_INVALID');
    const where = `plugin ./bad-definition.mjs (${join(dir, 'bad-definition.mjs')})`;
    expect(error.problems).toEqual([
      `${where}: operators[0] "x": kind: expected one of source, decode, stride, batch, infer, track, sink, got "strid"`,
      `${where}: operators[1] "": name: expected a non-empty string, got ""`,
      `${where}: operators[1] "": create: expected a function, got undefined`,
      `${where}: operators[1] "": options.window: expected an io-ts codec, got number`,
      `${where}: operators[1] "": required: "size" is not one of its options`,
      `${where}: operators[2]: expected a definition made with defineOperator, got number`,
    ]);
  });

  it('a module that throws on import: FF_ERR_PLUGIN_INVALID with its message', async () => {
    const error = await configError(
      loadPlugins(['./throws.mjs'], { baseDir: dir, registry: defaultRegistry() }),
    );
    expect(error.code).toBe('FF_ERR_PLUGIN_INVALID');
    expect(error.problems).toEqual([
      `plugin ./throws.mjs (${join(dir, 'throws.mjs')}): importing it failed: plugin set-up failed`,
    ]);
  });

  it('two plugins defining one name, or a plugin taking a shipped name: FF_ERR_DUPLICATE_OPERATOR, nothing registered', async () => {
    const registry = defaultRegistry();
    const error = await configError(
      loadPlugins(['./operators.mjs', './same-name.mjs', './builtin-name.mjs'], { baseDir: dir, registry }),
    );
    expect(error.code).toBe('FF_ERR_DUPLICATE_OPERATOR');
    expect(error.problems).toEqual([
      'plugin ./same-name.mjs: a stride operator named "multiple-of" is defined by plugin ./operators.mjs too',
      'plugin ./builtin-name.mjs: a batch operator named "batch" is defined by an operator already registered too',
    ]);
    expect(registry.get('stride', 'multiple-of')).toBeUndefined();
  });

  it('every problem of every plugin at once; the code is the first one’s', async () => {
    const error = await configError(
      loadPipelineWithPlugins({
        document: { plugins: ['./no-operators.mjs'] },
        baseDir: dir,
        plugins: [join(dir, 'missing.mjs')],
      }),
    );
    expect(error.code).toBe('FF_ERR_PLUGIN_NOT_FOUND');
    expect(error.problems).toEqual([
      `plugin ${join(dir, 'missing.mjs')}: no such file: ${join(dir, 'missing.mjs')}`,
      `plugin ./no-operators.mjs (${join(dir, 'no-operators.mjs')}): exports no \`operators\` (an array of defineOperator definitions); it exports default, helpers`,
    ]);
  });
});
