import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { identity } from 'rxjs';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { PositiveInt } from '../../src/core/codecs.js';
import { mergeDocuments, parsePipelineText, resolvePipeline } from '../../src/pipelines/document.js';
import { envOverrides, loadPipeline } from '../../src/pipelines/load.js';
import { defaultRegistry } from '../../src/pipelines/operators.js';
import { PROFILES } from '../../src/pipelines/profiles.js';
import { createRegistry, defineOperator } from '../../src/pipelines/registry.js';
import { readEnvConfig } from '../../src/core/config.js';

function problemsOf(run: () => unknown): { code: string; problems: readonly string[] } {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return { code: error.code, problems: error.problems };
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const registry = defaultRegistry();

describe('pipeline documents', () => {
  it('every shipped profile resolves, with the operators and options it names', () => {
    for (const [name, document] of Object.entries(PROFILES)) {
      const pipeline = resolvePipeline(document, { registry });
      expect(pipeline.name).toBe(name);
    }
    const ultra = resolvePipeline(PROFILES['ultra-fast']!, { registry });
    expect(ultra.imgSize).toBe(384);
    expect(ultra.stages.source.operator).toBe('http-partial');
    expect(ultra.stages.source.options).toEqual({ partialMb: 2 });
    expect(ultra.stages.decode.options).toEqual({
      skipNonReference: true,
      minStartBytes: 262_144,
      minStartWaitS: 0.1,
    });
    expect(ultra.stages.stride.options).toEqual({ every: 6 });
    expect(ultra.stages.batch.options).toMatchObject({ size: 64 });
    expect(ultra.stages.sink.options).toMatchObject({ budgetS: 1.5 });
    expect(resolvePipeline(PROFILES['full-download']!, { registry }).stages.source.operator).toBe(
      'http-full',
    );
  });

  it("decode.preprocess takes 'opencv' or 'stream-colour'", () => {
    const pipeline = resolvePipeline(
      { decode: { preprocess: 'stream-colour' }, infer: { model: 'm.onnx' } } as never,
      { registry, origin: 'my.yaml' },
    );
    expect(pipeline.stages.decode.options).toMatchObject({ preprocess: 'stream-colour' });
    const { problems } = problemsOf(() =>
      resolvePipeline({ decode: { preprocess: 'bt709' }, infer: { model: 'm.onnx' } } as never, {
        registry,
        origin: 'my.yaml',
      }),
    );
    expect(problems).toEqual([
      'my.yaml: decode.preprocess: expected one of opencv, stream-colour, got "bt709"',
    ]);
  });

  it('reports every problem at once, each with its path', () => {
    const { code, problems } = problemsOf(() =>
      resolvePipeline(
        {
          imgSize: 300,
          prefetch: { frames: 0, policy: 'sometimes' as never, extra: 1 } as never,
          colour: 'red',
          batch: { size: 0, sise: 4 },
          decode: { operator: 'gstreamer' },
          sink: { budgetS: -1 },
          infer: { confThreshold: 2 },
        } as never,
        { registry, origin: 'my.yaml' },
      ),
    );
    expect(code).toBe('FF_ERR_PIPELINE_INVALID');
    expect(problems).toEqual([
      'my.yaml: colour: unknown key; expected one of version, name, description, extends, plugins, imgSize, prefetch, fill, classes, source, decode, stride, batch, infer, track, sink',
      'my.yaml: imgSize: expected a positive multiple of 32, got 300',
      'my.yaml: prefetch.frames: expected a positive integer, got 0',
      'my.yaml: prefetch.policy: expected one of block, drop-newest, drop-oldest, got "sometimes"',
      'my.yaml: prefetch.extra: unknown option; expected frames or policy',
      'my.yaml: decode.operator: unknown decode operator "gstreamer"; known: beamcoder, beamcoder-nvdec',
      'my.yaml: batch.sise: unknown option of batch operator batch; known: size, maxWaitMs, rampUp, earlyFlushFirstFrame',
      'my.yaml: batch.size: expected a positive integer, got 0',
      'my.yaml: infer.model: required by infer operator onnx, got nothing',
      'my.yaml: infer.confThreshold: expected a number between 0 and 1, got 2',
      'my.yaml: sink.budgetS: expected a positive number, got -1',
    ]);
  });

  it('fill and classes: off by default, on with options, merged over a profile, problems with their paths', () => {
    expect(resolvePipeline(PROFILES.default!, { registry }).fill).toBe(false);
    const soccer = resolvePipeline(PROFILES.soccer!, { registry });
    expect(soccer.fill).toEqual({});
    expect(soccer.classes).toEqual({ maxPerClass: { ball: 1 } });
    const profiles = PROFILES;
    expect(resolvePipeline({ extends: 'soccer', fill: false }, { registry, profiles }).fill).toBe(false);
    expect(
      resolvePipeline({ extends: 'soccer', fill: { maxGapFrames: 12 } }, { registry, profiles }).fill,
    ).toEqual({ maxGapFrames: 12 });
    const { code, problems } = problemsOf(() =>
      resolvePipeline(
        {
          extends: 'soccer',
          fill: { maxGapFrames: -1, horizon: 3, suppressIoU: 2 },
          classes: { maxPerClass: { ball: 1.5 }, colours: {} },
        } as never,
        { registry, profiles, origin: 'my.yaml' },
      ),
    );
    expect(code).toBe('FF_ERR_PIPELINE_INVALID');
    expect(problems).toEqual([
      'my.yaml: fill.horizon: unknown option; known: maxGapFrames, maxGapS, horizonFrames, horizonS, bridgeInferred, maxObjectsPerFrame, maxTracks, maxFrames, suppressIoU, stitchGate',
      'my.yaml: fill.maxGapFrames: expected an integer >= 0, got -1',
      'my.yaml: fill.suppressIoU: expected a number between 0 and 1, got 2',
      'my.yaml: classes.colours: unknown key; expected one of map, maxPerClass, minSize',
      'my.yaml: classes.maxPerClass.ball: expected an integer >= 0, got 1.5',
    ]);
    expect(
      problemsOf(() => resolvePipeline({ extends: 'soccer', fill: 'yes' } as never, { registry, profiles }))
        .problems,
    ).toEqual(['fill: expected false or a mapping of fill options, got "yes"']);
  });

  it('parses YAML and JSON, and reports syntax errors with line and column', () => {
    expect(parsePipelineText('batch: { size: 8 }\nstride:\n  every: 5\n', 'a.yaml')).toEqual({
      batch: { size: 8 },
      stride: { every: 5 },
    });
    expect(parsePipelineText('{"batch": {"size": 8}}', 'a.json')).toEqual({ batch: { size: 8 } });
    const { problems } = problemsOf(() => parsePipelineText('batch: { size: 8\nstride: [', 'bad.yaml'));
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]).toMatch(/^bad\.yaml:\d+:\d+: /);
    expect(problemsOf(() => parsePipelineText('batch: 1\nbatch: 2\n', 'dup.yaml')).problems[0]).toMatch(
      /^dup\.yaml:2:1: Map keys must be unique/,
    );
    expect(problemsOf(() => parsePipelineText('- a\n- b\n', 'list.yaml')).problems).toEqual([
      'list.yaml: expected a mapping of stages (source, decode, …), got ["a","b"]',
    ]);
  });

  it('extends a profile; a stage naming another operator starts from that operator, not the old options', () => {
    const pipeline = resolvePipeline(
      { extends: 'ultra-fast', source: { operator: 'http-stream' }, batch: { size: 32 } },
      { registry, profiles: PROFILES },
    );
    expect(pipeline.imgSize).toBe(384);
    expect(pipeline.stages.source).toMatchObject({ operator: 'http-stream', options: {} });
    expect(pipeline.stages.batch.options).toEqual({
      size: 32,
      rampUp: 4,
      earlyFlushFirstFrame: true,
      maxWaitMs: 50,
    });
    expect(
      problemsOf(() => resolvePipeline({ extends: 'warp' }, { registry, profiles: PROFILES })).problems,
    ).toEqual([
      'extends: unknown profile "warp"; known: default, ultra-fast, full-download, soccer',
      'infer.model: required by infer operator onnx, got nothing',
    ]);
  });

  it('mergeDocuments merges stage options and replaces a stage whose operator changes', () => {
    expect(
      mergeDocuments(
        { source: { operator: 'http-partial', partialMb: 2 }, batch: { size: 4, rampUp: 2 } },
        { source: { operator: 'http-stream' }, batch: { size: 8 } },
      ),
    ).toEqual({ source: { operator: 'http-stream' }, batch: { size: 8, rampUp: 2 } });
  });

  it('a user operator registered from TypeScript is picked by name, with its own option codecs', () => {
    const mine = createRegistry().register(
      defineOperator({
        kind: 'track',
        name: 'every-object-once',
        summary: 'a test operator',
        options: { window: PositiveInt },
        create: (options) => {
          expectTypeOf(options.window).toEqualTypeOf<number | undefined>();
          return () => identity;
        },
      }),
    );
    const combined = defaultRegistry().register(mine.get('track', 'every-object-once')!);
    const pipeline = resolvePipeline(
      { ...PROFILES.default, track: { operator: 'every-object-once', window: 3 } },
      { registry: combined },
    );
    expect(pipeline.stages.track.operator).toBe('every-object-once');
    expect(pipeline.stages.track.options).toEqual({ window: 3 });
    expect(
      problemsOf(() =>
        resolvePipeline(
          { ...PROFILES.default, track: { operator: 'every-object-once', window: 0 } },
          {
            registry: combined,
          },
        ),
      ).problems,
    ).toEqual(['track.window: expected a positive integer, got 0']);
    expect(problemsOf(() => combined.register(mine.get('track', 'every-object-once')!)).code).toBe(
      'FF_ERR_DUPLICATE_OPERATOR',
    );
  });
});

describe('loadPipeline: profile, then environment, then command line', () => {
  it('the miners variables override the profile; command-line options override both', () => {
    const env = readEnvConfig({
      FRAME_STRIDE: '3',
      BATCH_SIZE: '8',
      TIME_BUDGET_S: '2.5',
      PARTIAL_DOWNLOAD: '1',
      PARTIAL_DOWNLOAD_MB: '6',
      STREAM_MIN_START_BYTES: '1000',
      RAMP_UP_FIRST_BATCH: '2',
      START_BUDGET_AFTER_FIRST_FRAME: 'yes',
      CONF_THRESHOLD: '0.4',
      IMG_SIZE: '320',
    });
    const pipeline = loadPipeline({ profile: 'default', env, overrides: { stride: { every: 10 } } });
    expect(pipeline.imgSize).toBe(320);
    expect(pipeline.stages.source).toMatchObject({ operator: 'http-partial', options: { partialMb: 6 } });
    expect(pipeline.stages.decode.options).toMatchObject({ minStartBytes: 1000 });
    expect(pipeline.stages.stride.options).toEqual({ every: 10 });
    expect(pipeline.stages.batch.options).toMatchObject({ size: 8, rampUp: 2 });
    expect(pipeline.stages.infer.options).toMatchObject({ confThreshold: 0.4 });
    expect(pipeline.stages.sink.options).toMatchObject({ budgetS: 2.5, startAfterFirstFrame: true });
  });

  it('download-first variables pick http-full, or a buffered partial download', () => {
    const full = envOverrides(readEnvConfig({ STREAMING_DOWNLOAD: '0' }), PROFILES.default!);
    expect(full.document.source).toEqual({ operator: 'http-full' });
    const partial = envOverrides(readEnvConfig({ CHUNKED_STREAMING: '0', PARTIAL_DOWNLOAD: '1' }), {});
    expect(partial.document.source).toEqual({ operator: 'http-partial', buffered: true });
    const back = envOverrides(readEnvConfig({ PARTIAL_DOWNLOAD: '0' }), PROFILES['ultra-fast']!);
    expect(back.document.source).toEqual({ operator: 'http-stream' });
  });

  it('USE_NVDEC switches the decode operator and keeps the shared decode options', () => {
    const env = readEnvConfig({ USE_NVDEC: '1', NVDEC_OUT_W: '1280', NVDEC_OUT_H: '720' });
    const pipeline = loadPipeline({ profile: 'ultra-fast', env });
    expect(pipeline.stages.decode.operator).toBe('beamcoder-nvdec');
    expect(pipeline.stages.decode.options).toEqual({
      skipNonReference: true,
      minStartBytes: 262_144,
      minStartWaitS: 0.1,
      outWidth: 1280,
      outHeight: 720,
    });
  });

  it('conflicting settings are reported together with the other problems', () => {
    const env = readEnvConfig({
      RAMP_UP: '0',
      RAMP_UP_FIRST_BATCH: '4',
      STREAMING_DOWNLOAD: '1',
      CHUNKED_STREAMING: '0',
    });
    const { code, problems } = problemsOf(() => loadPipeline({ env, overrides: { batch: { size: 0 } } }));
    expect(code).toBe('FF_ERR_PIPELINE_INVALID');
    expect(problems).toEqual([
      'STREAMING_DOWNLOAD=1 conflicts with CHUNKED_STREAMING=0',
      'RAMP_UP=0 conflicts with RAMP_UP_FIRST_BATCH=4',
      'batch.size: expected a positive integer, got 0',
    ]);
    expect(problemsOf(() => loadPipeline({ env })).code).toBe('FF_ERR_CONFIG_CONFLICT');
  });

  it('an unknown profile and a profile given with a document are usage errors', () => {
    expect(problemsOf(() => loadPipeline({ profile: 'warp' }))).toEqual({
      code: 'FF_ERR_UNKNOWN_PROFILE',
      problems: ['unknown profile "warp"; known: default, ultra-fast, full-download, soccer'],
    });
    expect(problemsOf(() => loadPipeline({ profile: 'default', file: 'x.yaml' })).code).toBe(
      'FF_ERR_CONFIG_CONFLICT',
    );
  });

  it('reads a YAML file; its problems name the file; relative model paths point from its directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ff-pipeline-'));
    const file = join(dir, 'mine.yaml');
    writeFileSync(file, 'extends: default\ninfer:\n  model: models/mine.onnx\nbatch:\n  size: 4\n');
    const pipeline = loadPipeline({ file });
    expect(pipeline.baseDir).toBe(dir);
    expect(pipeline.stages.infer.options.model).toBe('models/mine.onnx');
    expect(pipeline.stages.batch.options).toMatchObject({ size: 4, rampUp: 2 });
    writeFileSync(file, 'batch:\n  size: many\n');
    expect(problemsOf(() => loadPipeline({ file })).problems).toEqual([
      `${file}: batch.size: expected a positive integer, got "many"`,
      `${file}: infer.model: required by infer operator onnx, got nothing`,
    ]);
    expect(problemsOf(() => loadPipeline({ file: join(dir, 'absent.yaml') })).problems[0]).toMatch(
      /absent\.yaml: cannot read the pipeline document: ENOENT/,
    );
  });
});
