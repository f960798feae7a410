/**
 * The pieces of a WebAssembly binary that the hand-written kernels (input-tensor.ts's conversion,
 * resize-halve-simd.ts's halving, resize-linear-simd.ts's interpolation) all spell out: LEB128 numbers,
 * names, sections and SIMD opcodes; and their instantiation.
 */

/** The part of the WebAssembly API used here (the project's TypeScript libs do not declare it). */
interface WebAssemblyApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

/** A kernel's memory, as the kernels that copy pictures in and out of it use it. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/**
 * A kernel made once per thread, on the first call, from the exports of the module `binary()` spells out
 * (`pick` names what the caller uses); null where this runtime cannot run it (no WebAssembly, or no SIMD:
 * Node 16.4 on has both).
 */
export function lazyKernel<K>(
  binary: () => Uint8Array,
  pick: (exports: Record<string, unknown>) => K,
): () => K | null {
  let kernel: K | null | undefined;
  return () => {
    if (kernel === undefined) {
      kernel = null;
      const wasm = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
      try {
        const bytes = binary();
        if (wasm?.validate(bytes)) kernel = pick(new wasm.Instance(new wasm.Module(bytes)).exports);
      } catch {
        kernel = null;
      }
    }
    return kernel;
  };
}

/** Unsigned LEB128 (sizes, indices, opcodes). */
export function leb128(value: number): number[] {
  const out: number[] = [];
  let rest = value >>> 0;
  do {
    const low = rest & 0x7f;
    rest >>>= 7;
    out.push(rest ? low | 0x80 : low);
  } while (rest);
  return out;
}

/** Signed LEB128, what `i32.const` takes: 64 is [0xc0, 0x00], not [0x40] (which reads as −64). */
export function sleb128(value: number): number[] {
  const out: number[] = [];
  let rest = value | 0;
  for (;;) {
    const low = rest & 0x7f;
    rest >>= 7;
    const done = (rest === 0 && (low & 0x40) === 0) || (rest === -1 && (low & 0x40) !== 0);
    out.push(done ? low : low | 0x80);
    if (done) return out;
  }
}

/** A name as the binary spells it: its length, then its bytes (ASCII). */
export const wasmName = (text: string): number[] => [
  text.length,
  ...Array.from(text, (c) => c.charCodeAt(0)),
];

/** A section: its id, its body's size, its body. */
export const wasmSection = (id: number, body: number[]): number[] => [id, ...leb128(body.length), ...body];

/** A SIMD instruction (the 0xfd prefix and its opcode). */
export const simdOp = (opcode: number): number[] => [0xfd, ...leb128(opcode)];
