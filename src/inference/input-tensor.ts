/**
 * Model input tensors from decoded frames: planar RGB bytes → [N, 3, S, S] values in 0..1, as float32 or
 * as IEEE half-precision bits for half=True exports, written into a buffer the caller owns (see
 * `InputPool`): at 640 a batch of 8 is 39 MB, and a fresh allocation per batch (page faults, zeroing,
 * garbage) cost more than the conversion itself (measured in bench/infer.ts).
 */
import { ModelError } from '../core/errors.js';
import { modelCodes } from './codes.js';
import { leb128, simdOp, sleb128, lazyKernel, wasmName, wasmSection } from '../media/wasm-bytes.js';

/** Input values of a model: float32, or float16 bits for a model whose input is float16. */
export type ModelInput = Float32Array | Uint16Array;

/** Pixels as the decode stage leaves them: planar R, G, B bytes of the letterboxed S × S image. */
export interface InputFrame {
  readonly frameNumber: number;
  readonly image?: { readonly data: Uint8Array } | undefined;
}

/** Values per image: 3 planes of S × S. */
export const planeOf = (imgSize: number): number => 3 * imgSize * imgSize;

/** IEEE half-precision bits of a float32 value (round to nearest even), as ONNX Runtime reads float16. */
export function halfBits(value: number, scratch = new DataView(new ArrayBuffer(4))): number {
  scratch.setFloat32(0, value);
  const bits = scratch.getUint32(0);
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  const mantissa = bits & 0x7fffff;
  if (((bits >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    const shifted = (mantissa | 0x800000) >> (1 - exponent);
    return sign | ((shifted + 0x1000) >> 13);
  }
  if (exponent >= 31) return sign | 0x7c00;
  return sign | (exponent << 10) | ((mantissa + 0x1000) >> 13);
}

/** byte → byte / 255 as float32 and as half bits: the same values the conversion has always produced. */
const FLOAT_OF_BYTE = Float32Array.from({ length: 256 }, (_, byte) => byte * (1 / 255));
const HALF_OF_BYTE = Uint16Array.from(FLOAT_OF_BYTE, (value) => halfBits(value));

/**
 * Checks that every frame has pixels of the model's size (3 × S × S bytes).
 *
 * @throws ModelError `FF_ERR_MODEL_INPUT` naming the first frame without pixels or with pixels of another size
 */
export function checkImages(frames: readonly InputFrame[], imgSize: number): void {
  const plane = planeOf(imgSize);
  for (const frame of frames) {
    const source = frame.image?.data;
    if (!source || source.length !== plane) {
      throw new ModelError(
        modelCodes.input,
        `frame ${frame.frameNumber}: ${source ? `${source.length} bytes of pixels` : 'no pixels'}, the model takes 3×${imgSize}×${imgSize}`,
        { frameNumber: frame.frameNumber, imgSize },
      );
    }
  }
}

/**
 * Writes `frames` into `target` ([count, 3, S, S], count = target.length / plane) and zeroes the rows past
 * them (a fixed-batch model's padding). Every frame needs pixels of the model's size.
 *
 * @throws ModelError `FF_ERR_MODEL_INPUT` when a frame has no pixels or pixels of another size
 */
export function fillInput(frames: readonly InputFrame[], target: ModelInput, imgSize: number): void {
  const plane = planeOf(imgSize);
  if (target.length % plane !== 0 || target.length < frames.length * plane) {
    throw new ModelError(
      modelCodes.input,
      `an input of ${target.length} values cannot hold ${frames.length} images of 3×${imgSize}×${imgSize}`,
      { imgSize, frames: frames.length },
    );
  }
  checkImages(frames, imgSize);
  frames.forEach((frame, index) => {
    const source = frame.image!.data;
    const at = index * plane;
    if (target instanceof Uint16Array) {
      for (let i = 0; i < plane; i += 1) target[at + i] = HALF_OF_BYTE[source[i]!]!;
    } else {
      bytesToFloats(source, target, at);
    }
  });
  target.fill(0, frames.length * plane);
}

/** Frames' pixels in shared memory, and the way to give that memory back. */
export interface SharedImages {
  /** The images, in the order given, each a view into a SharedArrayBuffer. */
  readonly images: Uint8Array[];
  /** Gives the memory back to the pool: call it once no worker reads the images any more. */
  release(): void;
}

/**
 * Shared memory for frames' pixels, so that worker threads read them without a copy, kept for reuse.
 *
 * Reuse matters more than the copy: memory touched for the first time costs a page fault per 4 KiB, and
 * copying a batch of 16 images at 640 (20 MB) into fresh memory took 200–400 ms on the main thread of the
 * loaded 2-core machine, against 2 ms into memory already touched (see bench/deadline.ts). Buffers are
 * sized for a power-of-two number of images, so that the ramped batches (1, 2, 4, …) find one that fits.
 */
export class SharedImagePool {
  readonly #idle: SharedArrayBuffer[] = [];

  /** @param keep idle buffers kept at most (one per run that may be in flight at once); the smallest goes first */
  constructor(readonly keep = 2) {}

  /**
   * `images` in shared memory: the same views when they already are (nothing to give back), else copied
   * into one pooled buffer.
   */
  share(images: readonly Uint8Array[]): SharedImages {
    if (images.every((image) => image.buffer instanceof SharedArrayBuffer)) {
      return { images: [...images], release: () => {} };
    }
    const bytes = images.reduce((sum, image) => sum + image.byteLength, 0);
    const buffer = this.#take(bytes, images.length, images[0]?.byteLength ?? 0);
    let at = 0;
    const views = images.map((image) => {
      const view = new Uint8Array(buffer, at, image.byteLength);
      view.set(image);
      at += image.byteLength;
      return view;
    });
    let given = false;
    return {
      images: views,
      release: () => {
        if (given) return;
        given = true;
        this.#give(buffer);
      },
    };
  }

  /** Idle buffers held now. */
  get idle(): number {
    return this.#idle.length;
  }

  clear(): void {
    this.#idle.length = 0;
  }

  #take(bytes: number, count: number, imageBytes: number): SharedArrayBuffer {
    let best = -1;
    this.#idle.forEach((buffer, index) => {
      if (buffer.byteLength >= bytes && (best < 0 || buffer.byteLength < this.#idle[best]!.byteLength)) {
        best = index;
      }
    });
    if (best >= 0) return this.#idle.splice(best, 1)[0]!;
    const capacity = Math.max(bytes, 2 ** Math.ceil(Math.log2(Math.max(count, 1))) * imageBytes);
    return new SharedArrayBuffer(capacity);
  }

  #give(buffer: SharedArrayBuffer): void {
    this.#idle.push(buffer);
    if (this.#idle.length > this.keep) {
      this.#idle.sort((a, b) => b.byteLength - a.byteLength);
      this.#idle.length = this.keep;
    }
  }
}

/**
 * What a session worker needs to convert pixels into a model's input exactly as `fillInput` does: the
 * byte → float32 and byte → half tables, and the SIMD kernel's binary where WebAssembly SIMD is available.
 */
export interface ConverterData {
  readonly floatOfByte: Float32Array;
  readonly halfOfByte: Uint16Array;
  /** The kernel: `convert(count)` turns `count` bytes at 0 into float32 at `chunk` in its memory. */
  readonly simd: Uint8Array | null;
  readonly chunk: number;
}

export function converterData(): ConverterData {
  return {
    floatOfByte: FLOAT_OF_BYTE.slice(),
    halfOfByte: HALF_OF_BYTE.slice(),
    simd: simdKernel() ? simdModuleBytes() : null,
    chunk: CHUNK,
  };
}

/**
 * A few input buffers kept for reuse. A run transfers its input's memory to the session worker, which
 * sends it back with the output (`give`); in a steady pipeline two buffers take turns: one in the run, one
 * being filled with the next batch.
 */
export class InputPool {
  readonly #idle: ArrayBuffer[] = [];

  /**
   * @param type the model's input type
   * @param plane values per image
   * @param keep idle buffers kept at most; the smallest goes first
   */
  constructor(
    readonly type: 'float32' | 'float16',
    readonly plane: number,
    readonly keep = 2,
  ) {}

  /** A [count, 3, S, S] input over a kept buffer that is large enough, or over a new one. Contents are stale. */
  take(count: number): ModelInput {
    const bytesPer = this.type === 'float16' ? 2 : 4;
    const length = count * this.plane;
    let best = -1;
    this.#idle.forEach((buffer, index) => {
      const fits = buffer.byteLength >= length * bytesPer;
      if (fits && (best < 0 || buffer.byteLength < this.#idle[best]!.byteLength)) best = index;
    });
    const buffer = best >= 0 ? this.#idle.splice(best, 1)[0]! : new ArrayBuffer(length * bytesPer);
    return this.type === 'float16' ? new Uint16Array(buffer, 0, length) : new Float32Array(buffer, 0, length);
  }

  /** Keeps `buffer` for a later `take` (a detached or foreign-typed one is ignored). */
  give(buffer: ArrayBufferLike | undefined): void {
    if (!(buffer instanceof ArrayBuffer) || buffer.byteLength === 0 || this.#idle.includes(buffer)) return;
    this.#idle.push(buffer);
    if (this.#idle.length > this.keep) {
      this.#idle.sort((a, b) => b.byteLength - a.byteLength);
      this.#idle.length = this.keep;
    }
  }

  /** Idle buffers held now. */
  get idle(): number {
    return this.#idle.length;
  }

  clear(): void {
    this.#idle.length = 0;
  }
}

/** Bytes converted per call of the SIMD kernel: its input and output (4×) stay in the L2 cache. */
const CHUNK = 16 * 1024;

interface SimdKernel {
  readonly bytes: Uint8Array;
  readonly floats: Float32Array;
  /** Converts `count` (a multiple of 16) bytes from `bytes` into `floats`. */
  convert(count: number): void;
}

/** The WebAssembly kernel, compiled once per thread; null where WebAssembly SIMD is not available. */
const simdKernel = lazyKernel<SimdKernel>(simdModuleBytes, (exports) => {
  const memory = (exports.memory as { buffer: ArrayBuffer }).buffer;
  return {
    bytes: new Uint8Array(memory, 0, CHUNK),
    floats: new Float32Array(memory, CHUNK, CHUNK),
    convert: exports.convert as (count: number) => void,
  };
});

/** Whether the SIMD kernel is in use (it is wherever WebAssembly SIMD is, Node 16.4 on). */
export const simdAvailable = (): boolean => simdKernel() !== null;

/**
 * `target[at + i] = source[i] / 255` for the whole of `source`. The WebAssembly kernel converts 16 bytes
 * per step with SIMD (widen u8 → u16 → u32, convert, divide by 255: a correctly rounded division gives
 * exactly the float32 values of the scalar loop, checked for all 256 bytes in the tests); it works in its
 * own memory, so each chunk is copied in and its floats copied out (ONNX Runtime's Node binding refuses
 * SharedArrayBuffer-backed tensors, and a WebAssembly memory cannot be transferred to the worker). Even
 * with the copies it is about 2× quicker than the scalar loop.
 */
function bytesToFloats(source: Uint8Array, target: Float32Array, at: number): void {
  const simd = simdKernel();
  let done = 0;
  if (simd) {
    const whole = source.length - (source.length % 16);
    while (done < whole) {
      const count = Math.min(CHUNK, whole - done);
      simd.bytes.set(source.subarray(done, done + count));
      simd.convert(count);
      target.set(count === CHUNK ? simd.floats : simd.floats.subarray(0, count), at + done);
      done += count;
    }
  }
  for (let i = done; i < source.length; i += 1) target[at + i] = FLOAT_OF_BYTE[source[i]!]!;
}

// ---------------------------------------------------------------------------------------------------
// The kernel's WebAssembly binary, written out here rather than shipped as an opaque file: one memory
// (input bytes at 0, output floats at CHUNK) and one function, `convert(count)`.

function simdModuleBytes(): Uint8Array {
  const name = wasmName;
  const section = wasmSection;
  const simd = simdOp;
  const [LOCAL_GET, LOCAL_SET, LOCAL_TEE, I32_CONST, I32_ADD, I32_GE_U] = [
    0x20, 0x21, 0x22, 0x41, 0x6a, 0x4f,
  ];
  const [V128_LOAD, V128_STORE, V128_CONST] = [0x00, 0x0b, 0x0c];
  const [U16_LOW, U16_HIGH, U32_LOW, U32_HIGH] = [0x89, 0x8a, 0xa9, 0xaa]; // extend_{low,high}_*_u
  const [F32_CONVERT_U32, F32_DIV] = [0xfb, 0xe7];
  // Locals: 0 count (param), 1 source, 2 target, 3 end; 4 bytes, 5 low half, 6 high half, 7 the divisor.
  const [COUNT, SOURCE, TARGET, END, BYTES, LOW, HIGH, DIVISOR] = [0, 1, 2, 3, 4, 5, 6, 7];
  const f32x4 = (value: number) => {
    const bytes = new Uint8Array(new Float32Array([value, value, value, value]).buffer);
    return [...simd(V128_CONST), ...bytes];
  };
  // One quarter of the 16 bytes: widen to u32, convert, divide, store at target + offset.
  // prettier-ignore
  const store = (half: number, widen: number, offset: number) => [
    LOCAL_GET, TARGET,
    LOCAL_GET, half, ...simd(widen), ...simd(F32_CONVERT_U32),
    LOCAL_GET, DIVISOR, ...simd(F32_DIV),
    ...simd(V128_STORE), 4, ...leb128(offset),
  ];
  // prettier-ignore
  const body = [
    2, 3, 0x7f, 4, 0x7b, // locals: 3 × i32, 4 × v128
    ...f32x4(255), LOCAL_SET, DIVISOR,
    I32_CONST, ...sleb128(CHUNK), LOCAL_SET, TARGET,
    LOCAL_GET, COUNT, LOCAL_SET, END,
    0x02, 0x40, 0x03, 0x40, // block, loop
    LOCAL_GET, SOURCE, LOCAL_GET, END, I32_GE_U, 0x0d, 1, // br_if out of the block
    LOCAL_GET, SOURCE, ...simd(V128_LOAD), 0, 0, LOCAL_TEE, BYTES,
    ...simd(U16_LOW), LOCAL_SET, LOW,
    LOCAL_GET, BYTES, ...simd(U16_HIGH), LOCAL_SET, HIGH,
    ...store(LOW, U32_LOW, 0), ...store(LOW, U32_HIGH, 16),
    ...store(HIGH, U32_LOW, 32), ...store(HIGH, U32_HIGH, 48),
    LOCAL_GET, SOURCE, I32_CONST, ...sleb128(16), I32_ADD, LOCAL_SET, SOURCE,
    LOCAL_GET, TARGET, I32_CONST, ...sleb128(64), I32_ADD, LOCAL_SET, TARGET,
    0x0c, 0, // br to the loop
    0x0b, 0x0b, 0x0b, // end loop, end block, end function
  ];
  const pages = Math.ceil((CHUNK * 5) / 65536);
  // prettier-ignore
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, [1, 0x60, 1, 0x7f, 0]), // type 0: (i32) → ()
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(5, [1, 0, ...leb128(pages)]), // one memory, no maximum
    ...section(7, [2, ...name('memory'), 2, 0, ...name('convert'), 0, 0]),
    ...section(10, [1, ...leb128(body.length), ...body]),
  ]);
}
