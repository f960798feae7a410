/**
 * The variants users export from a float32 model, made from one of ours by rewriting its graph:
 *
 * - int8, as onnxruntime's `quantize_dynamic` writes it: Conv weights stored as int8 (symmetric, one scale
 *   per output channel), the convolution on the image run as DynamicQuantizeLinear + ConvInteger, and
 *   the convolutions whose inputs are not pixels given the weight-only QDQ form (DequantizeLinear on the
 *   int8 weights). Input and output stay float32, as in real exports.
 * - float16, as `half=True` (or onnxconverter-common's `convert_float_to_float16`) writes it: the whole
 *   graph in half precision, weights, input and output included.
 *
 * ```ts
 * const int8 = quantizeConvWeights(buildSoccerDetector(), { dynamicOn: ['images'] });
 * ```
 */

import { halfBits } from '../inference/input-tensor.js';
import {
  attr,
  type OnnxAttribute,
  type OnnxGraph,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
} from './onnx-writer.js';

/** A graph being rewritten: nodes and initializers appended in order, names kept unique. */
class Rewrite {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  readonly #names: Set<string>;

  constructor(graph: OnnxGraph) {
    this.#names = new Set([
      ...graph.inputs.map((v) => v.name),
      ...graph.initializers.map((t) => t.name),
      ...graph.nodes.flatMap((n) => n.outputs),
    ]);
  }

  name(base: string): string {
    let name = base;
    for (let i = 1; this.#names.has(name); i += 1) name = `${base}_${i}`;
    this.#names.add(name);
    return name;
  }

  tensor(tensor: OnnxTensor): string {
    this.initializers.push(tensor);
    return tensor.name;
  }

  op(
    opType: string,
    inputs: string[],
    output: string,
    attributes: Record<string, OnnxAttribute> = {},
    outputs: string[] = [output],
  ): string {
    this.nodes.push({ opType, inputs, outputs, name: this.name(`${output}_node`), domain: '', attributes });
    return output;
  }
}

/** Symmetric int8 per output channel (dimension 0): q = round(w / s), s = max |w| / 127, zero point 0. */
export function quantizePerChannel(
  weights: Float32Array,
  channels: number,
): { values: Int8Array; scales: Float32Array } {
  const per = weights.length / channels;
  const values = new Int8Array(weights.length);
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c += 1) {
    let max = 0;
    for (let i = 0; i < per; i += 1) max = Math.max(max, Math.abs(weights[c * per + i]!));
    // An all-zero channel keeps scale 1 (a scale of 0 is not allowed).
    const scale = Math.fround(max > 0 ? max / 127 : 1);
    scales[c] = scale;
    for (let i = 0; i < per; i += 1) {
      values[c * per + i] = Math.max(-127, Math.min(127, Math.round(weights[c * per + i]! / scale)));
    }
  }
  return { values, scales };
}

export interface QuantizeOptions {
  /**
   * Inputs (graph input or value names) whose Convs get the dynamic form: their activations are
   * quantized to uint8 per run (DynamicQuantizeLinear) and the convolution is integer (ConvInteger).
   * Every other Conv with a float weight initializer gets int8 weights behind a DequantizeLinear. Default:
   * the graph's first input, the image, whose 0..1 values an 8-bit activation holds almost exactly;
   * later activations of the detector are pixel coordinates (up to S), which 8 bits cannot carry
   * (S / 255 = 2.5 px steps at 640), as `quantize_dynamic`'s `nodes_to_exclude` exists for.
   */
  dynamicOn?: readonly string[];
}

/**
 * The model with every Conv's float weight initializer stored as int8 (per output channel), in the two
 * forms ONNX Runtime's quantizer writes. Other nodes and initializers are kept as they are.
 */
export function quantizeConvWeights(model: OnnxModel, options: QuantizeOptions = {}): OnnxModel {
  const graph = model.graph;
  const dynamicOn = new Set(options.dynamicOn ?? [graph.inputs[0]!.name]);
  const initializers = new Map(graph.initializers.map((t) => [t.name, t]));
  const convWeight = (node: OnnxNode): (OnnxTensor & { type: 'float' }) | undefined => {
    const weight = node.opType === 'Conv' ? initializers.get(node.inputs[1] ?? '') : undefined;
    return weight?.type === 'float' && weight.dims.length >= 2 ? weight : undefined;
  };
  // A weight used by anything but Convs' weight input keeps its float copy for those other uses.
  const otherUses = new Set<string>();
  for (const node of graph.nodes) {
    node.inputs.forEach((input, index) => {
      if (!(index === 1 && convWeight(node))) otherUses.add(input);
    });
  }
  const rewrite = new Rewrite(graph);
  const zeroPoint = rewrite.tensor({
    name: rewrite.name('weight_zero_point'),
    dims: [],
    type: 'int8',
    data: new Int8Array(1),
  });
  /** Each weight quantized once, however many Convs share it. */
  const quantizedWeights = new Map<string, { values: string; scales: Float32Array; dequantized?: string }>();
  const quantize = (weight: OnnxTensor & { type: 'float' }) => {
    let entry = quantizedWeights.get(weight.name);
    if (!entry) {
      const { values, scales } = quantizePerChannel(weight.data, weight.dims[0]!);
      const name = rewrite.tensor({
        name: rewrite.name(`${weight.name}_quantized`),
        dims: weight.dims,
        type: 'int8',
        data: values,
      });
      entry = { values: name, scales };
      quantizedWeights.set(weight.name, entry);
    }
    return entry;
  };

  for (const node of graph.nodes) {
    const weight = convWeight(node);
    if (!weight) {
      rewrite.nodes.push(node);
      continue;
    }
    const channels = weight.dims[0]!;
    const quantized = quantize(weight);
    const [x, , bias] = node.inputs as [string, string, string | undefined];
    const output = node.outputs[0]!;
    if (dynamicOn.has(x)) {
      // quantize_dynamic's Conv: y = float(ConvInteger(xq − xz, wq)) · x_scale · w_scale + bias.
      const [xq, xScale, xZero] = ['quantized', 'scale', 'zero_point'].map((part) =>
        rewrite.name(`${x}_${part}`),
      ) as [string, string, string];
      rewrite.op('DynamicQuantizeLinear', [x], xq, {}, [xq, xScale, xZero]);
      const integer = rewrite.op(
        'ConvInteger',
        [xq, quantized.values, xZero, zeroPoint],
        rewrite.name(`${output}_int32`),
        node.attributes,
      );
      const float = rewrite.op('Cast', [integer], rewrite.name(`${output}_float`), { to: attr.int(1) });
      const channelScale = rewrite.tensor({
        name: rewrite.name(`${weight.name}_scale`),
        dims: [channels, 1, 1],
        type: 'float',
        data: quantized.scales,
      });
      const scale = rewrite.op('Mul', [xScale, channelScale], rewrite.name(`${output}_scale`));
      if (bias === undefined || bias === '') {
        rewrite.op('Mul', [float, scale], output);
      } else {
        const scaled = rewrite.op('Mul', [float, scale], rewrite.name(`${output}_scaled`));
        const biasTensor = initializers.get(bias);
        if (biasTensor?.type !== 'float') {
          throw new Error(`quantizeConvWeights: bias ${bias} of ${node.name} is not a float initializer`);
        }
        const channelBias = rewrite.tensor({
          name: rewrite.name(`${bias}_channels`),
          dims: [channels, 1, 1],
          type: 'float',
          data: biasTensor.data,
        });
        rewrite.op('Add', [scaled, channelBias], output);
      }
    } else {
      if (!quantized.dequantized) {
        const scale = rewrite.tensor({
          name: rewrite.name(`${weight.name}_scale`),
          dims: [channels],
          type: 'float',
          data: quantized.scales,
        });
        const channelZero = rewrite.tensor({
          name: rewrite.name(`${weight.name}_zero_point`),
          dims: [channels],
          type: 'int8',
          data: new Int8Array(channels),
        });
        quantized.dequantized = rewrite.op(
          'DequantizeLinear',
          [quantized.values, scale, channelZero],
          rewrite.name(`${weight.name}_dequantized`),
          { axis: attr.int(0) },
        );
      }
      rewrite.nodes.push({ ...node, inputs: [x, quantized.dequantized, ...node.inputs.slice(2)] });
    }
  }
  const replaced = new Set([...quantizedWeights.keys()].filter((name) => !otherUses.has(name)));
  // Biases moved into [C, 1, 1] copies by the dynamic form are dropped when nothing else reads them.
  const read = new Set(rewrite.nodes.flatMap((n) => n.inputs));
  for (const tensor of graph.initializers) if (!read.has(tensor.name)) replaced.add(tensor.name);
  const kept = graph.initializers.filter((t) => !replaced.has(t.name));
  return {
    ...model,
    graph: { ...graph, nodes: rewrite.nodes, initializers: [...kept, ...rewrite.initializers] },
  };
}

/**
 * Half-precision bits of a weight as onnxconverter-common's `convert_float_to_float16` stores it: values
 * too small or too large for its range are clamped to 1e-7 and 1e4 first (keeping their sign), so that an
 * epsilon stays non-zero and a "far away" constant stays finite.
 */
export function halfWeight(value: number): number {
  const magnitude = Math.abs(value);
  if (magnitude === 0 || Number.isNaN(value)) return halfBits(value);
  const clamped = Math.min(Math.max(magnitude, 1e-7), 1e4);
  return halfBits(value < 0 ? -clamped : clamped);
}

/** A float tensor as float16 bits (`halfWeight`); other tensors as they are. */
function halfTensor(tensor: OnnxTensor): OnnxTensor {
  return tensor.type === 'float'
    ? {
        name: tensor.name,
        dims: tensor.dims,
        type: 'float16',
        data: Uint16Array.from(tensor.data, halfWeight),
      }
    : tensor;
}

/**
 * The model as a half-precision export: every float initializer, the input, the output and every
 * computed value in float16 (Casts to float become Casts to float16). ONNX Runtime's CPU provider runs
 * such a graph, putting float32 kernels behind Casts where it has no float16 one.
 */
export function toHalfPrecision(model: OnnxModel): OnnxModel {
  const graph = model.graph;
  const half = <T extends { elemType: string }>(value: T): T =>
    value.elemType === 'float' ? { ...value, elemType: 'float16' } : value;
  const FLOAT = 1;
  const FLOAT16 = 10;
  const nodes = graph.nodes.map((node) => {
    const attributes: Record<string, OnnxAttribute> = {};
    for (const [name, value] of Object.entries(node.attributes)) {
      attributes[name] =
        node.opType === 'Cast' && name === 'to' && value.kind === 'int' && value.value === FLOAT
          ? attr.int(FLOAT16)
          : value.kind === 'tensor'
            ? attr.tensor(halfTensor(value.value))
            : value;
    }
    return { ...node, attributes };
  });
  return {
    ...model,
    graph: {
      ...graph,
      nodes,
      initializers: graph.initializers.map(halfTensor),
      inputs: graph.inputs.map(half),
      outputs: graph.outputs.map(half),
    },
  };
}
