import * as ort from 'onnxruntime-node';
import { describe, expect, expectTypeOf, it } from 'vitest';

import { ConfigError, ModelError } from '../../src/core/errors.js';
import {
  MODEL_FORMAT_ERROR,
  OnnxGraphBuilder,
  attr,
  createModel,
  parseModel,
  serializeModel,
  type OnnxAttribute,
  type OnnxModel,
} from '../../src/models/onnx-writer.js';

/** y = Clip(x · scale + shift, lo, hi) reshaped to [N, 6], with an attribute of every kind. */
function sampleModel(): OnnxModel {
  const g = new OnnxGraphBuilder('sample');
  const x = g.input('x', ['N', 2, 3]);
  const scale = g.op('Constant', [], {
    value: attr.tensor({ name: 'scale', dims: [3], type: 'float', data: Float32Array.of(1, 2, 3) }),
  });
  const shift = g.op('Constant', [], { value_floats: attr.floats([0.5, -0.5, 0]) });
  const scaled = g.op('Add', [g.op('Mul', [x, scale]), shift]);
  const clipped = g.op('Clip', [scaled, g.floats([0], []), g.floats([4], [])]);
  const summed = g.op('ReduceMax', [clipped], { axes: attr.ints([-1]), keepdims: attr.int(1) });
  const leaky = g.op('LeakyRelu', [g.op('Sub', [clipped, summed])], { alpha: attr.float(0.25) });
  const padded = g.op('Pad', [leaky, g.int64s([0, 0, 0, 0, 0, 0])], { mode: attr.string('constant') });
  g.op('Reshape', [padded, g.int64s([0, -1])], {}, { output: 'y' });
  g.output('y', ['N', 6]);
  return createModel(g.build(), {
    metadata: { task: 'detect', names: "{0: 'ball', 1: 'player'}", imgsz: '[640, 640]' },
    producerVersion: '0.1.0',
  });
}

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an exception');
}

describe('serializeModel', () => {
  it('writes a model onnxruntime loads and runs, with symbolic and static dims', async () => {
    const session = await ort.InferenceSession.create(serializeModel(sampleModel()));
    expect(session.inputNames).toEqual(['x']);
    expect(session.outputNames).toEqual(['y']);
    expect(session.inputMetadata[0]).toMatchObject({ name: 'x', type: 'float32', shape: ['N', 2, 3] });
    expect(session.outputMetadata[0]).toMatchObject({ name: 'y', shape: ['N', 6] });

    const x = Float32Array.of(1, 1, 1, 2, 2, 2, 0, 0, 0, 3, 3, 3);
    const { y } = await session.run({ x: new ort.Tensor('float32', x, [2, 2, 3]) });
    expect(y?.dims).toEqual([2, 6]);
    // Row (1, 1, 1): scaled (1.5, 1.5, 3), max 3, minus max (−1.5, −1.5, 0), leaky (−0.375, −0.375, 0).
    const expected = [];
    for (let row = 0; row < 4; row++) {
      const v = [0, 1, 2].map((i) =>
        Math.min(4, Math.max(0, (x[row * 3 + i] ?? 0) * (i + 1) + [0.5, -0.5, 0][i]!)),
      );
      const max = Math.max(...v);
      expected.push(...v.map((value) => (value - max < 0 ? (value - max) * 0.25 : value - max)));
    }
    expect(Array.from(y?.data as Float32Array)).toEqual(expected.map((v) => Math.fround(v)));
  });

  it('is deterministic', () => {
    expect(
      Buffer.from(serializeModel(sampleModel())).equals(Buffer.from(serializeModel(sampleModel()))),
    ).toBe(true);
  });
});

describe('parseModel', () => {
  it('reads back exactly what serializeModel wrote', () => {
    const model = sampleModel();
    expect(parseModel(serializeModel(model))).toEqual(model);
  });

  it('reads opset, IR version, producer and metadata in order', () => {
    const parsed = parseModel(serializeModel(sampleModel()));
    expect(parsed.irVersion).toBe(8);
    expect(parsed.opsetImports).toEqual([{ domain: '', version: 17 }]);
    expect(parsed.producerName).toBe('firstframe');
    expect(Object.entries(parsed.metadata)).toEqual([
      ['task', 'detect'],
      ['names', "{0: 'ball', 1: 'player'}"],
      ['imgsz', '[640, 640]'],
    ]);
  });

  it('keeps negative int64 values (ten-byte varints)', () => {
    const reduceMax = parseModel(serializeModel(sampleModel())).graph.nodes.find(
      (n) => n.opType === 'ReduceMax',
    );
    expect(reduceMax?.attributes.axes).toEqual({ kind: 'ints', value: [-1] });
    const shape = parseModel(serializeModel(sampleModel())).graph.initializers.find((t) => t.dims[0] === 2);
    expect(shape?.type === 'int64' ? Array.from(shape.data) : null).toEqual([0n, -1n]);
  });

  it('rejects bytes that are not a protobuf message with FF_ERR_MODEL_FORMAT', () => {
    // Field 1, wire type 2, claiming 100 bytes that are not there.
    const truncated = Uint8Array.of(0x0a, 100, 1, 2, 3);
    expect(() => parseModel(truncated)).toThrow(ModelError);
    const error = thrown(() => parseModel(Uint8Array.of(0x0f)));
    expect(error).toBeInstanceOf(ModelError);
    expect(error).toMatchObject({ code: MODEL_FORMAT_ERROR, message: expect.stringMatching(/wire type 7/) });
  });
});

describe('int8, uint8 and float16 initializers', () => {
  /** y = DequantizeLinear(q, scale, zero) + float(half) + float(bytes): one initializer of each type. */
  function typedModel(): OnnxModel {
    const g = new OnnxGraphBuilder('typed');
    const x = g.input('x', [3]);
    const q = g.typed('int8', Int8Array.of(-127, 0, 64), [3]);
    const dequantized = g.op('DequantizeLinear', [
      q,
      g.floats([0.5], []),
      g.typed('int8', Int8Array.of(0), []),
    ]);
    // 1.5, −2 and 65504 as half-precision bits.
    const half = g.op('Cast', [g.typed('float16', Uint16Array.of(0x3e00, 0xc000, 0x7bff), [3])], {
      to: attr.int(1),
    });
    const bytes = g.op('Cast', [g.typed('uint8', Uint8Array.of(1, 2, 255), [3])], { to: attr.int(1) });
    g.op('Sum', [x, dequantized, half, bytes], {}, { output: 'y' });
    g.output('y', [3]);
    return createModel(g.build());
  }

  it('round-trips through serializeModel and parseModel', () => {
    const model = typedModel();
    const parsed = parseModel(serializeModel(model));
    expect(parsed).toEqual(model);
    expect(parsed.graph.initializers.map((t) => t.type)).toEqual([
      'int8',
      'float',
      'int8',
      'float16',
      'uint8',
    ]);
  });

  it('are what onnxruntime reads', async () => {
    const session = await ort.InferenceSession.create(serializeModel(typedModel()));
    const { y } = await session.run({ x: new ort.Tensor('float32', Float32Array.of(0, 0, 0), [3]) });
    expect(Array.from(y?.data as Float32Array)).toEqual([-63.5 + 1.5 + 1, 0 - 2 + 2, 32 + 65504 + 255]);
  });

  it('refuse data of another array type', () => {
    const g = new OnnxGraphBuilder('bad');
    expect(() => g.typed('int8', Uint8Array.of(1), [1])).toThrow(/int8 data must be Int8Array/);
  });
});

describe('OnnxGraphBuilder', () => {
  it('rejects an input that was never defined, naming the node', () => {
    const g = new OnnxGraphBuilder('bad');
    g.input('x', [1]);
    expect(() => g.op('Relu', ['y'], {}, { name: 'relu_1' })).toThrow(
      /node relu_1 \(Relu\): input "y" has not been defined/,
    );
  });

  it('rejects duplicate names, data that does not fill its dims, and a graph without outputs', () => {
    const g = new OnnxGraphBuilder('bad');
    g.input('x', [1]);
    expect(() => g.input('x', [1])).toThrow(ConfigError);
    expect(() => g.floats([1, 2, 3], [2, 2])).toThrow(/dims \[2, 2\] hold 4 values, got 3/);
    expect(() => g.int64s([1.5])).toThrow(/not a safe integer/);
    expect(() => g.output('nothing', [1])).toThrow(/no value of that name/);
    expect(() => g.build()).toThrow(/no outputs declared/);
  });

  it('types attributes by kind', () => {
    expectTypeOf(attr.int(1)).toEqualTypeOf<OnnxAttribute>();
    expect(attr.float(1)).toEqual({ kind: 'float', value: 1 });
    expect(attr.int(1)).toEqual({ kind: 'int', value: 1 });
  });
});
