/**
 * A centre-heatmap player/ball detector for the synthetic clips, in the output format the
 * `centre-heatmap` head reads (src/inference/heads/centre-heatmap.ts): `player_conf` [N, 1, h, w],
 * `player_bbox` [N, 4, h, w] (distances from each cell's centre to the box's left, top, right and bottom
 * edges, input pixels) and `ball_conf` [N, 1, h, w], on a grid of `stride`-pixel cells. Nothing is trained:
 * the maps are computed from the generated soccer detector's answer (generate.ts), which already finds
 * every object of the synthetic scene by its colour, so both models see the same objects and a test of
 * this one checks the head's decoding rather than a second detector.
 */

import { writeFile } from 'node:fs/promises';

import { ConfigError, codes } from '../core/errors.js';
import { SOCCER_CLASSES } from '../fixtures/scene.js';
import { MODELS_VERSION, STRIDES, buildSoccerDetector, pythonNamesLiteral } from './generate.js';
import {
  OnnxGraphBuilder,
  attr,
  createModel,
  serializeModel,
  type OnnxGraph,
  type OnnxModel,
} from './onnx-writer.js';

export interface HeatmapModelOptions {
  /** Side of the square input; a multiple of 32 in 64..2048. Default 640. */
  imgSize?: number;
  /** Input pixels per cell of the maps: 1, 2, 4 or 8. Default 4 (CenterNet's). */
  stride?: number;
  /** Batch dimension `N` (symbolic) when true, 1 when false. Default true. */
  dynamicBatch?: boolean;
}

/** The detector's value that the maps are computed from (its `output0`, renamed inside this graph). */
const DETECTOR_OUTPUT = 'detector_output0';
/** How steeply the in-cell tests fall from 1 to 0: box centres are whole or half pixels. */
const EDGE_GAIN = 1000;

function checked(options: HeatmapModelOptions): { size: number; stride: number; batch: number | 'N' } {
  const size = options.imgSize ?? 640;
  const stride = options.stride ?? 4;
  const problems: string[] = [];
  if (!Number.isInteger(size) || size % 32 !== 0 || size < 64 || size > 2048) {
    problems.push(`heatmap.imgSize: expected a multiple of 32 in 64..2048, got ${JSON.stringify(size)}`);
  }
  if (![1, 2, 4, 8].includes(stride)) {
    problems.push(`heatmap.stride: expected 1, 2, 4 or 8, got ${JSON.stringify(stride)}`);
  }
  if (options.dynamicBatch !== undefined && typeof options.dynamicBatch !== 'boolean') {
    problems.push(`heatmap.dynamicBatch: expected a boolean, got ${JSON.stringify(options.dynamicBatch)}`);
  }
  if (problems.length > 0) throw new ConfigError(codes.config.invalidOption, problems, { options });
  return { size, stride, batch: options.dynamicBatch === false ? 1 : 'N' };
}

/**
 * The maps from the detector's output Y [N, 4 + 4 classes, anchors] (boxes as centre x, centre y, width,
 * height; anchors of strides 8, 16 and 32, each grid row-major). The detector answers every object in
 * exactly one anchor, the one whose cell holds the box's centre, and 0 everywhere else. Each stride's grid
 * is repeated up to the maps' finer grid (Reshape + Expand: nearest-neighbour), and kept only in the fine
 * cell that holds the centre its own values give (two ramps per axis, as the detector's own cell test);
 * the strides' grids are then summed, each object being in one of them.
 */
function heatmapTail(size: number, stride: number, batch: number | 'N'): OnnxGraph {
  const g = new OnnxGraphBuilder('centre_heatmap');
  const rows = 4 + SOCCER_CLASSES.length;
  const anchors = STRIDES.reduce((sum, s) => sum + (size / s) ** 2, 0);
  const y = g.input(DETECTOR_OUTPUT, [batch, rows, anchors]);
  const grid = size / stride;
  const ints = (values: number[]) => g.int64s(values);
  const one = g.floats([1], []);
  const gain = g.floats([EDGE_GAIN], []);
  const clip01 = (x: string) => g.op('Clip', [x, g.floats([0], []), one]);
  const ramp = (values: (cell: number) => number, axis: 2 | 3) =>
    g.floats(
      Array.from({ length: grid }, (_, cell) => values(cell)),
      axis === 3 ? [1, 1, 1, grid] : [1, 1, grid, 1],
    );
  /** 1 where cell·stride ≤ centre < (cell + 1)·stride along the axis, else 0. */
  const inCell = (centre: string, axis: 2 | 3) => {
    const low = ramp((cell) => cell * stride, axis);
    const high = ramp((cell) => (cell + 1) * stride, axis);
    const above = clip01(g.op('Add', [g.op('Mul', [g.op('Sub', [centre, low]), gain]), one]));
    const below = clip01(g.op('Mul', [g.op('Sub', [high, centre]), gain]));
    return g.op('Mul', [above, below]);
  };
  const channel = (x: string, from: number, to: number) =>
    g.op('Slice', [x, ints([from]), ints([to]), ints([1])]);

  let offset = 0;
  const parts = STRIDES.map((anchorStride) => {
    const cells = size / anchorStride;
    const repeat = anchorStride / stride;
    const part = g.op('Slice', [y, ints([offset]), ints([offset + cells * cells]), ints([2])]);
    offset += cells * cells;
    const spread = g.op('Reshape', [
      g.op('Expand', [
        g.op('Reshape', [part, ints([0, rows, cells, 1, cells, 1])]),
        ints([1, 1, 1, repeat, 1, repeat]),
      ]),
      ints([0, rows, grid, grid]),
    ]);
    const kept = g.op('Mul', [inCell(channel(spread, 0, 1), 3), inCell(channel(spread, 1, 2), 2)]);
    return g.op('Mul', [spread, kept]);
  });
  const maps = parts.reduce((sum, part) => g.op('Add', [sum, part]));

  // cx, cy, w, h → cell centre minus left and top edges, right and bottom edges minus cell centre.
  const toEdges = g.floats([-1, 0, 0.5, 0, 0, -1, 0, 0.5, 1, 0, 0.5, 0, 0, 1, 0, 0.5], [4, 4, 1, 1]);
  const centres = g.floats(
    Array.from({ length: 4 * grid * grid }, (_, i) => {
      const c = Math.floor(i / (grid * grid));
      const cell = c % 2 === 0 ? i % grid : Math.floor(i / grid) % grid;
      return (c < 2 ? 1 : -1) * (cell + 0.5) * stride;
    }),
    [1, 4, grid, grid],
  );
  const edges = g.op('Conv', [channel(maps, 0, 4), toEdges], { kernel_shape: attr.ints([1, 1]) });
  g.op('Add', [edges, centres], {}, { output: 'player_bbox' });
  const ballId = SOCCER_CLASSES.indexOf('ball');
  g.op('Identity', [channel(maps, 4 + ballId, 5 + ballId)], {}, { output: 'ball_conf' });
  // Goalkeepers, players and referees are all players here: the best of their scores.
  const people = channel(maps, 4 + ballId + 1, rows);
  g.op('ReduceMax', [people], { axes: attr.ints([1]), keepdims: attr.int(1) }, { output: 'player_conf' });
  g.output('player_conf', [batch, 1, grid, grid]);
  g.output('player_bbox', [batch, 4, grid, grid]);
  g.output('ball_conf', [batch, 1, grid, grid]);
  return g.build();
}

/** `graph`'s own names (nodes, initializers, node outputs) prefixed, but not `keep`'s. */
function prefixed(graph: OnnxGraph, prefix: string, keep: ReadonlySet<string>): OnnxGraph {
  const rename = (name: string) => (name === '' || keep.has(name) ? name : `${prefix}${name}`);
  return {
    ...graph,
    nodes: graph.nodes.map((node) => ({
      ...node,
      name: `${prefix}${node.name}`,
      inputs: node.inputs.map(rename),
      outputs: node.outputs.map(rename),
    })),
    initializers: graph.initializers.map((tensor) => ({ ...tensor, name: rename(tensor.name) })),
  };
}

/**
 * The centre-heatmap model: the generated soccer detector followed by the maps computed from its answer
 * (see `heatmapTail`). Input `images` [N, 3, S, S] as every generated model; class names `player`
 * (goalkeepers, players and referees) and `ball`.
 *
 * ```ts
 * const model = await loadModel(await writeHeatmapModel('heatmap.onnx'), { head: 'centre-heatmap' });
 * ```
 */
export function buildHeatmapModel(options: HeatmapModelOptions = {}): OnnxModel {
  const { size, stride, batch } = checked(options);
  const detector = buildSoccerDetector({ imgSize: size, dynamicBatch: batch === 'N' });
  const front = detector.graph;
  const nodes = front.nodes.map((node) => ({
    ...node,
    outputs: node.outputs.map((name) => (name === 'output0' ? DETECTOR_OUTPUT : name)),
  }));
  const outputs = new Set(['player_conf', 'player_bbox', 'ball_conf', DETECTOR_OUTPUT]);
  const tail = prefixed(heatmapTail(size, stride, batch), 'heatmap/', outputs);
  return createModel(
    {
      name: 'centre_heatmap_detector',
      nodes: [...nodes, ...tail.nodes],
      initializers: [...front.initializers, ...tail.initializers],
      inputs: front.inputs,
      outputs: tail.outputs,
    },
    {
      metadata: {
        description:
          'firstframe centre-heatmap player/ball detector: the generated soccer detector, answered as centre heatmaps',
        author: 'firstframe (generated, not trained)',
        version: `firstframe-models-${MODELS_VERSION}`,
        head: 'centre-heatmap',
        stride: String(stride),
        imgsz: `[${size}, ${size}]`,
        names: pythonNamesLiteral(['player', 'ball']),
      },
    },
  );
}

/** Writes `buildHeatmapModel(options)` to `file` and returns the path. */
export async function writeHeatmapModel(file: string, options: HeatmapModelOptions = {}): Promise<string> {
  await writeFile(file, serializeModel(buildHeatmapModel(options)));
  return file;
}
