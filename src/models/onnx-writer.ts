/**
 * A small, typed ONNX model builder, serializer and reader.
 *
 * Nothing can be downloaded, so the project writes its own models (see `generate.ts`). ONNX files are
 * protocol-buffer messages (`onnx.proto`); the subset needed here (a graph of nodes, float32 and int64
 * initializers stored as `raw_data`, tensor inputs and outputs with static or symbolic dimensions,
 * attributes, opset imports and `metadata_props`; int8, uint8 and float16 initializers for quantized and
 * half-precision variants) is a few dozen fields, so the wire format is written
 * by hand instead of pulling in a protobuf runtime and a copy of the schema.
 *
 * `parseModel` reads the same subset back. It exists because onnxruntime-node exposes a session's input
 * and output names and shapes but not the model's `metadata_props`, where an Ultralytics export keeps
 * its class names, image size and keypoint shape.
 *
 * ```ts
 * const g = new OnnxGraphBuilder('double');
 * const x = g.input('x', ['N', 3]);
 * g.output(g.op('Mul', [x, g.floats([2], [])], {}, { output: 'y' }), ['N', 3]);
 * const bytes = serializeModel(createModel(g.build(), { metadata: { task: 'detect' } }));
 * ```
 */

import { ConfigError, ModelError, codes } from '../core/errors.js';

/** Code of the `ModelError` thrown by `parseModel` for bytes that are not a well-formed ONNX model. */
export const MODEL_FORMAT_ERROR = codes.models.format;

/** Element types of graph inputs, outputs and initializers. */
export type ElemType = 'float' | 'float16' | 'int64' | 'int8' | 'uint8';
/** A dimension: a size, or a symbolic name such as `N` for a dynamic batch. */
export type Dim = number | string;

export type OnnxTensor =
  | { name: string; dims: readonly number[]; type: 'float'; data: Float32Array }
  | { name: string; dims: readonly number[]; type: 'int64'; data: BigInt64Array }
  | { name: string; dims: readonly number[]; type: 'int8'; data: Int8Array }
  | { name: string; dims: readonly number[]; type: 'uint8'; data: Uint8Array }
  /** IEEE half-precision bit patterns. */
  | { name: string; dims: readonly number[]; type: 'float16'; data: Uint16Array };

export interface OnnxValueInfo {
  name: string;
  elemType: ElemType;
  shape: readonly Dim[];
}

export type OnnxAttribute =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: OnnxTensor }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'floats'; value: readonly number[] };

/** Attribute constructors: ONNX tells `1` (int) from `1.0` (float), JavaScript does not. */
export const attr = {
  int: (value: number): OnnxAttribute => ({ kind: 'int', value }),
  float: (value: number): OnnxAttribute => ({ kind: 'float', value }),
  string: (value: string): OnnxAttribute => ({ kind: 'string', value }),
  tensor: (value: OnnxTensor): OnnxAttribute => ({ kind: 'tensor', value }),
  ints: (value: readonly number[]): OnnxAttribute => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): OnnxAttribute => ({ kind: 'floats', value }),
} as const;

export interface OnnxNode {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name: string;
  /** '' for the default ONNX domain. */
  domain: string;
  attributes: Readonly<Record<string, OnnxAttribute>>;
}

export interface OnnxGraph {
  name: string;
  nodes: readonly OnnxNode[];
  initializers: readonly OnnxTensor[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
}

export interface OnnxModel {
  irVersion: number;
  opsetImports: ReadonlyArray<{ domain: string; version: number }>;
  producerName: string;
  producerVersion: string;
  graph: OnnxGraph;
  /** `metadata_props`, in insertion order. */
  metadata: Readonly<Record<string, string>>;
}

export interface CreateModelOptions {
  /** Default 17: every operator used here exists in that set and onnxruntime runs it on CPU. */
  opset?: number;
  /** Default 8 (ONNX 1.10+), which every onnxruntime release from 1.10 on reads. */
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  metadata?: Record<string, string>;
}

export function createModel(graph: OnnxGraph, options: CreateModelOptions = {}): OnnxModel {
  return {
    irVersion: options.irVersion ?? 8,
    opsetImports: [{ domain: '', version: options.opset ?? 17 }],
    producerName: options.producerName ?? 'firstframe',
    producerVersion: options.producerVersion ?? '',
    graph,
    metadata: { ...options.metadata },
  };
}

/**
 * Builds a graph node by node. Every method checks its arguments at once (unknown input names, duplicate
 * names, data that does not fill its dimensions) and throws a `ConfigError` (`FF_ERR_INVALID_OPTION`)
 * that names the node, so a mistake in a model generator shows where it was made rather than as an
 * onnxruntime load error.
 */
export class OnnxGraphBuilder {
  readonly #name: string;
  readonly #nodes: OnnxNode[] = [];
  readonly #initializers: OnnxTensor[] = [];
  readonly #inputs: OnnxValueInfo[] = [];
  readonly #outputs: OnnxValueInfo[] = [];
  /** Every value name defined so far: graph inputs, initializers and node outputs. */
  readonly #values = new Set<string>();
  #counter = 0;

  constructor(name: string) {
    this.#name = name;
  }

  /** Declares a graph input and returns its name. */
  input(name: string, shape: readonly Dim[], elemType: ElemType = 'float'): string {
    this.#define(name, `input ${name}`);
    this.#inputs.push({ name, elemType, shape: [...shape] });
    return name;
  }

  /** Declares an already defined value (usually a node output named with `op(…, { output })`) a graph output. */
  output(name: string, shape: readonly Dim[], elemType: ElemType = 'float'): void {
    if (!this.#values.has(name)) fail(`output ${name}: no value of that name has been defined`);
    this.#outputs.push({ name, elemType, shape: [...shape] });
  }

  /** Adds a float32 initializer and returns its name. `dims` [] is a scalar. */
  floats(data: ArrayLike<number>, dims: readonly number[], name?: string): string {
    const tensorName = name ?? this.#fresh('const');
    checkDims(`initializer ${tensorName}`, dims, data.length);
    this.#define(tensorName, `initializer ${tensorName}`);
    this.#initializers.push({
      name: tensorName,
      dims: [...dims],
      type: 'float',
      data: Float32Array.from(data),
    });
    return tensorName;
  }

  /** Adds an int64 initializer (shapes, axes, pads) and returns its name; 1-D unless `dims` says otherwise. */
  int64s(values: readonly number[], dims: readonly number[] = [values.length], name?: string): string {
    const tensorName = name ?? this.#fresh('ints');
    checkDims(`initializer ${tensorName}`, dims, values.length);
    for (const value of values) {
      if (!Number.isSafeInteger(value)) fail(`initializer ${tensorName}: ${value} is not a safe integer`);
    }
    this.#define(tensorName, `initializer ${tensorName}`);
    const data = BigInt64Array.from(values, (value) => BigInt(value));
    this.#initializers.push({ name: tensorName, dims: [...dims], type: 'int64', data });
    return tensorName;
  }

  /**
   * Adds an int8, uint8 or float16 (bit patterns) initializer — quantized weights and their zero points,
   * half-precision weights — and returns its name.
   */
  typed(
    type: 'int8' | 'uint8' | 'float16',
    data: Int8Array | Uint8Array | Uint16Array,
    dims: readonly number[],
    name?: string,
  ): string {
    const tensorName = name ?? this.#fresh(type === 'float16' ? 'half' : 'quant');
    checkDims(`initializer ${tensorName}`, dims, data.length);
    const expected = { int8: Int8Array, uint8: Uint8Array, float16: Uint16Array }[type];
    if (!(data instanceof expected)) fail(`initializer ${tensorName}: ${type} data must be ${expected.name}`);
    this.#define(tensorName, `initializer ${tensorName}`);
    this.#initializers.push({ name: tensorName, dims: [...dims], type, data: data.slice() } as OnnxTensor);
    return tensorName;
  }

  /**
   * Adds a node with one output and returns the output's name (`options.output`, or a fresh one).
   * An empty string in `inputs` leaves an optional input out.
   */
  op(
    opType: string,
    inputs: readonly string[],
    attributes: Record<string, OnnxAttribute> = {},
    options: { output?: string; name?: string; domain?: string } = {},
  ): string {
    const [output] = this.opMulti(
      opType,
      inputs,
      [options.output ?? this.#fresh(opType)],
      attributes,
      options,
    );
    return output as string;
  }

  /** Adds a node with several outputs (names given) and returns them. */
  opMulti(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[],
    attributes: Record<string, OnnxAttribute> = {},
    options: { name?: string; domain?: string } = {},
  ): string[] {
    const name = options.name ?? this.#fresh(`${opType}_node`);
    for (const input of inputs) {
      if (input !== '' && !this.#values.has(input)) {
        fail(`node ${name} (${opType}): input ${JSON.stringify(input)} has not been defined`);
      }
    }
    for (const output of outputs) this.#define(output, `node ${name} (${opType}) output`);
    this.#nodes.push({
      opType,
      inputs: [...inputs],
      outputs: [...outputs],
      name,
      domain: options.domain ?? '',
      attributes: { ...attributes },
    });
    return [...outputs];
  }

  build(): OnnxGraph {
    if (this.#outputs.length === 0) fail(`graph ${this.#name}: no outputs declared`);
    return {
      name: this.#name,
      nodes: [...this.#nodes],
      initializers: [...this.#initializers],
      inputs: [...this.#inputs],
      outputs: [...this.#outputs],
    };
  }

  #define(name: string, what: string): void {
    if (name === '') fail(`${what}: a name must not be empty`);
    if (this.#values.has(name)) fail(`${what}: the name ${JSON.stringify(name)} is already taken`);
    this.#values.add(name);
  }

  #fresh(prefix: string): string {
    let name: string;
    do name = `${prefix.toLowerCase()}_${this.#counter++}`;
    while (this.#values.has(name));
    return name;
  }
}

function fail(problem: string): never {
  throw new ConfigError(codes.config.invalidOption, [`onnx: ${problem}`], {});
}

function checkDims(what: string, dims: readonly number[], length: number): void {
  if (!dims.every((d) => Number.isInteger(d) && d >= 0)) fail(`${what}: bad dims [${dims.join(', ')}]`);
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== length) fail(`${what}: dims [${dims.join(', ')}] hold ${size} values, got ${length}`);
}

// ---------------------------------------------------------------------------------------------------
// Serializing. Field numbers are onnx.proto's; every message is written in field-number order.

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

const DATA_TYPE: Record<ElemType, number> = { float: 1, uint8: 2, int8: 3, int64: 7, float16: 10 };
const ELEM_TYPE = new Map(Object.entries(DATA_TYPE).map(([name, code]) => [code, name as ElemType]));
const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7 } as const;

/** An append-only protobuf writer; nested messages are written into their own writer and copied in. */
class ProtoWriter {
  #buffer = new Uint8Array(256);
  #length = 0;

  varint(field: number, value: number | bigint): void {
    this.#tag(field, WIRE_VARINT);
    this.#rawVarint(value);
  }

  string(field: number, value: string): void {
    this.bytes(field, new TextEncoder().encode(value));
  }

  bytes(field: number, value: Uint8Array): void {
    this.#tag(field, WIRE_BYTES);
    this.#rawVarint(value.length);
    this.#append(value);
  }

  message(field: number, write: (w: ProtoWriter) => void): void {
    const nested = new ProtoWriter();
    write(nested);
    this.bytes(field, nested.finish());
  }

  float(field: number, value: number): void {
    this.#tag(field, WIRE_FIXED32);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.#append(bytes);
  }

  finish(): Uint8Array {
    return this.#buffer.slice(0, this.#length);
  }

  #tag(field: number, wire: number): void {
    this.#rawVarint(field * 8 + wire);
  }

  #rawVarint(value: number | bigint): void {
    // int64 fields carry negative numbers as their 64-bit two's complement: ten bytes.
    let rest = BigInt.asUintN(64, BigInt(value));
    const bytes: number[] = [];
    do {
      const low = Number(rest & 0x7fn);
      rest >>= 7n;
      bytes.push(rest > 0n ? low | 0x80 : low);
    } while (rest > 0n);
    this.#append(bytes);
  }

  #append(bytes: ArrayLike<number>): void {
    if (this.#length + bytes.length > this.#buffer.length) {
      const grown = new Uint8Array(Math.max(this.#buffer.length * 2, this.#length + bytes.length));
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    this.#buffer.set(bytes, this.#length);
    this.#length += bytes.length;
  }
}

/**
 * The model as ONNX protobuf bytes, ready for `ort.InferenceSession.create(bytes)` or a `.onnx` file.
 * Deterministic: the same model gives the same bytes.
 */
export function serializeModel(model: OnnxModel): Uint8Array {
  const w = new ProtoWriter();
  w.varint(1, model.irVersion);
  w.string(2, model.producerName);
  if (model.producerVersion) w.string(3, model.producerVersion);
  w.message(7, (g) => writeGraph(g, model.graph));
  for (const opset of model.opsetImports) {
    w.message(8, (o) => {
      if (opset.domain) o.string(1, opset.domain);
      o.varint(2, opset.version);
    });
  }
  for (const [key, value] of Object.entries(model.metadata)) {
    w.message(14, (entry) => {
      entry.string(1, key);
      entry.string(2, value);
    });
  }
  return w.finish();
}

function writeGraph(w: ProtoWriter, graph: OnnxGraph): void {
  for (const node of graph.nodes) w.message(1, (n) => writeNode(n, node));
  w.string(2, graph.name);
  for (const tensor of graph.initializers) w.message(5, (t) => writeTensor(t, tensor));
  for (const input of graph.inputs) w.message(11, (v) => writeValueInfo(v, input));
  for (const output of graph.outputs) w.message(12, (v) => writeValueInfo(v, output));
}

function writeNode(w: ProtoWriter, node: OnnxNode): void {
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(3, node.name);
  w.string(4, node.opType);
  for (const [name, attribute] of Object.entries(node.attributes)) {
    w.message(5, (a) => writeAttribute(a, name, attribute));
  }
  if (node.domain) w.string(7, node.domain);
}

function writeAttribute(w: ProtoWriter, name: string, attribute: OnnxAttribute): void {
  w.string(1, name);
  switch (attribute.kind) {
    case 'float':
      w.float(2, attribute.value);
      break;
    case 'int':
      w.varint(3, checkedInteger(name, attribute.value));
      break;
    case 'string':
      w.string(4, attribute.value);
      break;
    case 'tensor':
      w.message(5, (t) => writeTensor(t, attribute.value));
      break;
    case 'floats':
      for (const value of attribute.value) w.float(7, value);
      break;
    case 'ints':
      for (const value of attribute.value) w.varint(8, checkedInteger(name, value));
      break;
  }
  w.varint(20, ATTRIBUTE_TYPE[attribute.kind]);
}

function checkedInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value)) fail(`attribute ${name}: ${value} is not an integer`);
  return value;
}

function writeTensor(w: ProtoWriter, tensor: OnnxTensor): void {
  for (const dim of tensor.dims) w.varint(1, dim);
  w.varint(2, DATA_TYPE[tensor.type]);
  w.string(8, tensor.name);
  // raw_data is little-endian whatever the host; every platform Node runs on is, so the bytes are copied.
  const { buffer, byteOffset, byteLength } = tensor.data;
  w.bytes(9, new Uint8Array(buffer, byteOffset, byteLength));
}

function writeValueInfo(w: ProtoWriter, info: OnnxValueInfo): void {
  w.string(1, info.name);
  w.message(2, (type) =>
    type.message(1, (tensorType) => {
      tensorType.varint(1, DATA_TYPE[info.elemType]);
      tensorType.message(2, (shape) => {
        for (const dim of info.shape) {
          shape.message(1, (d) => (typeof dim === 'number' ? d.varint(1, dim) : d.string(2, dim)));
        }
      });
    }),
  );
}

// ---------------------------------------------------------------------------------------------------
// Reading.

type WireValue = bigint | Uint8Array | { fixed32: DataView } | { fixed64: DataView };

/** One message's fields by number, in the order they came; unknown fields are kept and ignored later. */
type Fields = Map<number, WireValue[]>;

function readFields(bytes: Uint8Array, what: string): Fields {
  const fields: Fields = new Map();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (at >= bytes.length || shift > 63n) broken(what, at, 'a truncated varint');
      const byte = bytes[at++] as number;
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return result;
    }
  };
  while (at < bytes.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    let value: WireValue;
    if (wire === WIRE_VARINT) {
      value = varint();
    } else if (wire === WIRE_BYTES) {
      const length = Number(varint());
      if (at + length > bytes.length) broken(what, at, `a ${length}-byte field past the end`);
      value = bytes.subarray(at, at + length);
      at += length;
    } else if (wire === WIRE_FIXED32 || wire === WIRE_FIXED64) {
      const size = wire === WIRE_FIXED32 ? 4 : 8;
      if (at + size > bytes.length) broken(what, at, 'a truncated fixed-size field');
      const slice = new DataView(view.buffer, view.byteOffset + at, size);
      value = wire === WIRE_FIXED32 ? { fixed32: slice } : { fixed64: slice };
      at += size;
    } else {
      broken(what, at, `wire type ${wire} (field ${field})`);
    }
    const list = fields.get(field);
    if (list) list.push(value);
    else fields.set(field, [value]);
  }
  return fields;
}

function broken(what: string, offset: number, problem: string): never {
  throw new ModelError(
    MODEL_FORMAT_ERROR,
    `onnx: ${what} is not a valid protobuf message: ${problem} at byte ${offset}`,
    {
      what,
      offset,
    },
  );
}

const decoder = new TextDecoder('utf-8', { fatal: false });

function asBytes(value: WireValue | undefined, what: string): Uint8Array {
  if (value === undefined) return new Uint8Array(0);
  if (!(value instanceof Uint8Array)) broken(what, 0, 'a length-delimited field with another wire type');
  return value;
}

const str = (fields: Fields, field: number, what: string): string =>
  decoder.decode(asBytes(fields.get(field)?.at(-1), what));
const strings = (fields: Fields, field: number, what: string): string[] =>
  (fields.get(field) ?? []).map((v) => decoder.decode(asBytes(v, what)));
const messages = (fields: Fields, field: number, what: string): Fields[] =>
  (fields.get(field) ?? []).map((v) => readFields(asBytes(v, what), what));

function int(fields: Fields, field: number): number {
  const value = fields.get(field)?.at(-1);
  return typeof value === 'bigint' ? Number(BigInt.asIntN(64, value)) : 0;
}

/** A repeated int64 field, written packed or not. */
function ints(fields: Fields, field: number, what: string): number[] {
  const out: number[] = [];
  for (const value of fields.get(field) ?? []) {
    if (typeof value === 'bigint') {
      out.push(Number(BigInt.asIntN(64, value)));
    } else if (value instanceof Uint8Array) {
      // A packed run is a concatenation of varints; read it as a message of field-0 varints.
      let at = 0;
      while (at < value.length) {
        let result = 0n;
        for (let shift = 0n; ; shift += 7n) {
          if (at >= value.length) broken(what, at, 'a truncated packed varint');
          const byte = value[at++] as number;
          result |= BigInt(byte & 0x7f) << shift;
          if (byte < 0x80) break;
        }
        out.push(Number(BigInt.asIntN(64, result)));
      }
    }
  }
  return out;
}

/** A repeated float field, written packed or not. */
function floats(fields: Fields, field: number): number[] {
  const out: number[] = [];
  for (const value of fields.get(field) ?? []) {
    if (value instanceof Uint8Array) {
      const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
      for (let at = 0; at + 4 <= value.length; at += 4) out.push(view.getFloat32(at, true));
    } else if (typeof value === 'object' && 'fixed32' in value) {
      out.push(value.fixed32.getFloat32(0, true));
    }
  }
  return out;
}

/**
 * Reads an ONNX model back: everything `serializeModel` writes, which is also what a reader needs from
 * a foreign export (metadata, input and output shapes). Tensors of the writer's element types (float,
 * int64, int8, uint8, float16) stored as `float_data`, `int64_data` or `int32_data` instead of `raw_data`
 * are read too; other element types and sub-graphs are not, and come back as empty float tensors and
 * missing attributes.
 *
 * @throws ModelError `FF_ERR_MODEL_FORMAT` when the bytes are not a protobuf message
 */
export function parseModel(bytes: Uint8Array): OnnxModel {
  // A Node Buffer's slice() is a view, not a copy; a plain Uint8Array view makes every slice below a copy.
  const plain = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const model = readFields(plain, 'ModelProto');
  const graph = messages(model, 7, 'GraphProto')[0] ?? new Map();
  const metadata: Record<string, string> = {};
  for (const entry of messages(model, 14, 'StringStringEntryProto')) {
    metadata[str(entry, 1, 'metadata key')] = str(entry, 2, 'metadata value');
  }
  return {
    irVersion: int(model, 1),
    opsetImports: messages(model, 8, 'OperatorSetIdProto').map((o) => ({
      domain: str(o, 1, 'opset domain'),
      version: int(o, 2),
    })),
    producerName: str(model, 2, 'producer_name'),
    producerVersion: str(model, 3, 'producer_version'),
    graph: {
      name: str(graph, 2, 'graph name'),
      nodes: messages(graph, 1, 'NodeProto').map(readNode),
      initializers: messages(graph, 5, 'TensorProto').map(readTensor),
      inputs: messages(graph, 11, 'ValueInfoProto').map(readValueInfo),
      outputs: messages(graph, 12, 'ValueInfoProto').map(readValueInfo),
    },
    metadata,
  };
}

function readNode(node: Fields): OnnxNode {
  const attributes: Record<string, OnnxAttribute> = {};
  for (const a of messages(node, 5, 'AttributeProto')) {
    const value = readAttribute(a);
    if (value) attributes[str(a, 1, 'attribute name')] = value;
  }
  return {
    opType: str(node, 4, 'op_type'),
    inputs: strings(node, 1, 'node input'),
    outputs: strings(node, 2, 'node output'),
    name: str(node, 3, 'node name'),
    domain: str(node, 7, 'node domain'),
    attributes,
  };
}

function readAttribute(a: Fields): OnnxAttribute | undefined {
  switch (int(a, 20)) {
    case ATTRIBUTE_TYPE.float:
      return { kind: 'float', value: floats(a, 2)[0] ?? 0 };
    case ATTRIBUTE_TYPE.int:
      return { kind: 'int', value: int(a, 3) };
    case ATTRIBUTE_TYPE.string:
      return { kind: 'string', value: str(a, 4, 'attribute s') };
    case ATTRIBUTE_TYPE.tensor: {
      const tensor = messages(a, 5, 'attribute t')[0];
      return tensor ? { kind: 'tensor', value: readTensor(tensor) } : undefined;
    }
    case ATTRIBUTE_TYPE.floats:
      return { kind: 'floats', value: floats(a, 7) };
    case ATTRIBUTE_TYPE.ints:
      return { kind: 'ints', value: ints(a, 8, 'attribute ints') };
    default:
      return undefined;
  }
}

function readTensor(t: Fields): OnnxTensor {
  const name = str(t, 8, 'tensor name');
  const dims = ints(t, 1, 'tensor dims');
  const raw = asBytes(t.get(9)?.at(-1), 'raw_data');
  // Copied into fresh, aligned storage: a subarray of the file may start at any byte.
  const aligned = raw.slice().buffer;
  switch (int(t, 2)) {
    case DATA_TYPE.int64: {
      const data =
        raw.length > 0 ? new BigInt64Array(aligned) : BigInt64Array.from(ints(t, 7, 'int64_data'), BigInt);
      return { name, dims, type: 'int64', data };
    }
    // int32_data carries the small types when raw_data is not used.
    case DATA_TYPE.int8:
      return {
        name,
        dims,
        type: 'int8',
        data: raw.length > 0 ? new Int8Array(aligned) : Int8Array.from(ints(t, 5, 'int32_data')),
      };
    case DATA_TYPE.uint8:
      return {
        name,
        dims,
        type: 'uint8',
        data: raw.length > 0 ? new Uint8Array(aligned) : Uint8Array.from(ints(t, 5, 'int32_data')),
      };
    case DATA_TYPE.float16:
      return {
        name,
        dims,
        type: 'float16',
        data: raw.length > 0 ? new Uint16Array(aligned) : Uint16Array.from(ints(t, 5, 'int32_data')),
      };
    case DATA_TYPE.float: {
      const data = raw.length > 0 ? new Float32Array(aligned) : Float32Array.from(floats(t, 4));
      return { name, dims, type: 'float', data };
    }
    default:
      return { name, dims, type: 'float', data: new Float32Array(0) };
  }
}

function readValueInfo(v: Fields): OnnxValueInfo {
  const type = messages(v, 2, 'TypeProto')[0] ?? new Map();
  const tensorType = messages(type, 1, 'TypeProto.Tensor')[0] ?? new Map();
  const shape = messages(tensorType, 2, 'TensorShapeProto')[0] ?? new Map();
  return {
    name: str(v, 1, 'value name'),
    elemType: ELEM_TYPE.get(int(tensorType, 1)) ?? 'float',
    shape: messages(shape, 1, 'Dimension').map((d) => (d.has(2) ? str(d, 2, 'dim_param') : int(d, 1))),
  };
}
