/**
 * `firstframe models [--out DIR] [--force] [--json]`: writes the generated ONNX models (see
 * `src/models/generate.ts`) and lists them.
 */

import { basename } from 'node:path';
import { parseCommand, reportUsage, type CommandSpec, type OptionSpecs } from './args.js';

import { isFirstframeError } from '../core/errors.js';
import { defaultModelDir, writeModels, type ModelSet } from '../models/generate.js';

export const MODELS_COMMAND = {
  name: 'models',
  usage: '[--out DIR] [--force] [--json]',
  description: `Writes the generated ONNX models: soccer-detector.onnx (hand-set weights that find the synthetic
clips' objects) with its int8 (dynamically quantized) and float16 exports, soccer-detector-int8.onnx and
soccer-detector-fp16.onnx, pitch-pose.onnx (32 pitch keypoints) and bench-yolo.onnx (YOLO-sized compute,
random weights), all 640x640 with a dynamic batch. Pipelines name them bundled:detector, bundled:pose,
bundled:bench (made at other sizes on first use).`,
  options: {
    out: {
      type: 'string',
      value: 'DIR',
      description:
        "where to write them (default: $FIRSTFRAME_CACHE/models when that is set; else models/generated in a development checkout; else the user's cache, $XDG_CACHE_HOME/firstframe/models or ~/.cache/firstframe/models)",
    },
    force: { type: 'boolean', description: 'rewrite them even when the manifest says they are current' },
    json: { type: 'boolean', description: 'print the model set as JSON instead of a table' },
  },
} as const satisfies CommandSpec<OptionSpecs>;

/**
 * Runs the command.
 *
 * @param argv the arguments after `models`
 * @returns the exit status: 0 done, 1 writing failed, 2 bad usage
 */
export async function modelsCommand(
  argv: string[],
  io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<number> {
  const parsed = parseCommand(MODELS_COMMAND, argv, io);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const problems = [...parsed.problems];
  if (values.out === '') problems.push('--out: expected a directory');
  if (problems.length > 0) return reportUsage(MODELS_COMMAND, problems, io.stderr);

  let set: ModelSet;
  try {
    set = await writeModels(values.out ?? defaultModelDir(), {
      force: values.force ?? false,
      log: (line) => io.stderr.write(`${line}\n`),
    });
  } catch (err) {
    const code = isFirstframeError(err) ? ` [${err.code}]` : '';
    io.stderr.write(`firstframe models${code}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  io.stdout.write(values.json ? `${JSON.stringify(set, null, 2)}\n` : formatTable(set));
  return 0;
}

function formatTable(set: ModelSet): string {
  const header = ['file', 'task', 'input', 'output', 'bytes'];
  const rows = Object.values(set.models).map((model) => [
    basename(model.file),
    model.task,
    `${model.imgSize}x${model.imgSize}`,
    `[${model.outputShape.join(', ')}]`,
    String(model.bytes),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)),
  );
  // The byte count right-aligned, text left-aligned.
  const line = (cells: string[]): string =>
    cells
      .map((cell, column) =>
        column === 4 ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return `${[`models in ${set.dir} (version ${set.version})`, line(header), ...rows.map(line)].join('\n')}\n`;
}
