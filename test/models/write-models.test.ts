/** writeModels (idempotent, versioned files), the builders' option checks, and `firstframe models`. */

import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';

import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { modelsCommand } from '../../src/cli/models.js';
import { ConfigError } from '../../src/core/errors.js';
import {
  MODELS_VERSION,
  MODEL_FILES,
  anchorCount,
  buildBenchmarkModel,
  buildPitchPoseModel,
  buildSoccerDetector,
  buildSoccerDetectorHalf,
  buildSoccerDetectorInt8,
  defaultModelDir,
  pythonNamesLiteral,
  writeModels,
  type ModelSet,
} from '../../src/models/generate.js';
import { serializeModel } from '../../src/models/onnx-writer.js';

let dir: string;
let set: ModelSet;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'firstframe-models-'));
  set = await writeModels(dir);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function sink(): { stream: Writable; text: () => string } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

describe('writeModels', () => {
  it('writes the five models and a manifest with the generator version', async () => {
    expect(Object.keys(set.models).sort()).toEqual([
      'bench',
      'detector',
      'detectorHalf',
      'detectorInt8',
      'pose',
    ]);
    for (const info of Object.values(set.models)) {
      expect(info.file).toBe(join(dir, MODEL_FILES[info.kind]));
      expect((await stat(info.file)).size).toBe(info.bytes);
    }
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { version: number };
    expect(manifest.version).toBe(MODELS_VERSION);
    expect(set.models.pose.outputShape).toEqual(['N', 101, 8400]);
    expect(set.models.bench.gflops).toBeGreaterThan(5);
  });

  it('leaves current files alone, and rewrites them when forced or when one is damaged', async () => {
    const lines: string[] = [];
    const log = (line: string): void => {
      lines.push(line);
    };
    const before = (await stat(set.models.detector.file)).mtimeMs;
    await writeModels(dir, { log });
    expect(lines).toEqual([]);
    expect((await stat(set.models.detector.file)).mtimeMs).toBe(before);

    await writeFile(set.models.pose.file, 'truncated');
    const repaired = await writeModels(dir, { log });
    expect(lines).toHaveLength(5);
    expect((await stat(repaired.models.pose.file)).size).toBe(set.models.pose.bytes);

    await writeModels(dir, { log, force: true });
    expect(lines).toHaveLength(10);
    expect(lines[0]).toMatch(/^models: wrote soccer-detector\.onnx/);
  });

  it('finds current files in the default directory (a generator change needs a new version)', async () => {
    const current = await writeModels(defaultModelDir());
    const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
    // Files written by an older generator under the same version would be kept, and tested, as they are.
    expect({
      detector: current.models.detector.sha256,
      detectorInt8: current.models.detectorInt8.sha256,
      detectorHalf: current.models.detectorHalf.sha256,
      pose: current.models.pose.sha256,
      bench: current.models.bench.sha256,
    }).toEqual({
      detector: sha256(serializeModel(buildSoccerDetector())),
      detectorInt8: sha256(serializeModel(buildSoccerDetectorInt8())),
      detectorHalf: sha256(serializeModel(buildSoccerDetectorHalf())),
      pose: sha256(serializeModel(buildPitchPoseModel())),
      bench: sha256(serializeModel(buildBenchmarkModel())),
    });
  });

  it('rejects an image size that is not a multiple of 32, before writing anything', async () => {
    await expect(writeModels(join(dir, 'never'), { imgSize: 100 })).rejects.toThrow(ConfigError);
    await expect(stat(join(dir, 'never'))).rejects.toThrow();
  });
});

describe('builders', () => {
  it('take a fixed batch and other image sizes', async () => {
    const session = await ort.InferenceSession.create(
      serializeModel(buildSoccerDetector({ imgSize: 320, dynamicBatch: false })),
    );
    expect(session.inputMetadata[0]).toMatchObject({ shape: [1, 3, 320, 320] });
    expect(session.outputMetadata[0]).toMatchObject({ shape: [1, 8, anchorCount(320)] });
    expect(anchorCount(320)).toBe(2100);
  });

  it('report every bad option at once', () => {
    expect(() => buildSoccerDetector({ imgSize: 650, dynamicBatch: 'yes' as unknown as boolean })).toThrow(
      expect.objectContaining({
        code: 'FF_ERR_INVALID_OPTION',
        problems: [
          'detector.imgSize: expected a multiple of 32 in 64..2048, got 650',
          'detector.dynamicBatch: expected a boolean, got "yes"',
        ],
      }),
    );
  });

  it('write class names as a Python dict literal', () => {
    expect(pythonNamesLiteral(['ball', "goal'keeper"])).toBe("{0: 'ball', 1: 'goal\\'keeper'}");
  });
});

describe('firstframe models', () => {
  it('lists the models as JSON', async () => {
    const stdout = sink();
    const stderr = sink();
    expect(
      await modelsCommand(['--out', dir, '--json'], { stdout: stdout.stream, stderr: stderr.stream }),
    ).toBe(0);
    const listed = JSON.parse(stdout.text()) as ModelSet;
    expect(listed.models.detector.file).toBe(set.models.detector.file);
    expect(stderr.text()).toBe('');
  });

  it('prints a table by default', async () => {
    const stdout = sink();
    expect(await modelsCommand(['--out', dir], { stdout: stdout.stream, stderr: sink().stream })).toBe(0);
    expect(stdout.text()).toMatch(/soccer-detector\.onnx +detect +640x640 +\[N, 8, 8400\]/);
  });

  it('exits 2 with the usage on a bad option, 0 with it on --help', async () => {
    const stderr = sink();
    expect(await modelsCommand(['--size', '3'], { stdout: sink().stream, stderr: stderr.stream })).toBe(2);
    expect(stderr.text()).toMatch(/usage: firstframe models/);
    const stdout = sink();
    expect(await modelsCommand(['--help'], { stdout: stdout.stream, stderr: sink().stream })).toBe(0);
    expect(stdout.text()).toMatch(/usage: firstframe models/);
  });
});
