import { randomBytes } from 'node:crypto';
import {
  allocate, bytesPerElement, checkDType, dtypeOfArray, describe, isDType, type DType, type TypedArray,
} from './dtype.js';
import { ArgumentError, DisposedError, ShapeError } from './errors.js';
import { native } from './native.js';
import { checkShape, fmtShape, numel } from './shape.js';
import { deviceHooks } from './device-hooks.js';

export type Device = 'cpu';

export interface RandomOptions {
  /** Same seed, same values, on every machine and thread count. Default: a random seed. */
  seed?: number | bigint;
  dtype?: DType;
}

function seedOf(seed: number | bigint | undefined): bigint {
  if (seed === undefined) return randomBytes(8).readBigUInt64LE();
  if (typeof seed === 'bigint') return BigInt.asUintN(64, seed);
  if (!Number.isSafeInteger(seed)) throw new ArgumentError(`seed: expected an integer or bigint, got ${seed}`);
  return BigInt.asUintN(64, BigInt(seed));
}

/**
 * A dense, row-major, contiguous tensor on the CPU. It wraps a TypedArray without copying
 * (float16 and bfloat16 as raw bits in a Uint16Array).
 */
export class Tensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly device: Device = 'cpu';
  #data: TypedArray | null;

  private constructor(data: TypedArray, shape: readonly number[], dtype: DType) {
    this.#data = data;
    this.shape = shape;
    this.dtype = dtype;
  }

  /**
   * Wraps `data` (zero-copy for TypedArrays; plain number arrays are copied into float32 or the
   * given dtype). `shape` defaults to `[data.length]`.
   */
  static from(data: TypedArray | ArrayLike<number>, shape?: readonly number[], options: { dtype?: DType } = {}): Tensor {
    if (options.dtype !== undefined) checkDType(options.dtype, 'options.dtype');
    let arr: TypedArray;
    let dtype: DType;
    if (ArrayBuffer.isView(data)) {
      dtype = dtypeOfArray(data, options.dtype);
      arr = data as TypedArray;
    } else if (Array.isArray(data)) {
      const f32 = Float32Array.from(data as number[]);
      dtype = options.dtype ?? 'float32';
      arr = dtype === 'float32' ? f32 : convertArray(f32, 'float32', dtype);
    } else {
      throw new ArgumentError(`data: expected a TypedArray or an array of numbers, got ${describe(data)}`);
    }
    const s = checkShape(shape ?? [arr.length]);
    if (numel(s) !== arr.length)
      throw new ShapeError(`shape ${fmtShape(s)} has ${numel(s)} elements but data has ${arr.length}`);
    return new Tensor(arr, s, dtype);
  }

  static zeros(shape: readonly number[], options: { dtype?: DType } = {}): Tensor {
    const s = checkShape(shape);
    const dtype = options.dtype === undefined ? 'float32' : checkDType(options.dtype, 'options.dtype');
    return new Tensor(allocate(dtype, numel(s)), s, dtype);
  }

  /** Normal(mean, std) samples, computed in float64 and rounded to `dtype`. */
  static randn(shape: readonly number[], options: RandomOptions & { mean?: number; std?: number } = {}): Tensor {
    const t = Tensor.zeros(shape, options);
    native.fillRandom(t.#data!, t.dtype, seedOf(options.seed), 'normal', options.mean ?? 0, options.std ?? 1);
    return t;
  }

  /** Uniform samples in [low, high) (defaults 0 and 1). */
  static rand(shape: readonly number[], options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
    const t = Tensor.zeros(shape, options);
    native.fillRandom(t.#data!, t.dtype, seedOf(options.seed), 'uniform', options.low ?? 0, options.high ?? 1);
    return t;
  }

  get size(): number { return numel(this.shape); }
  get ndim(): number { return this.shape.length; }
  get byteLength(): number { return this.size * bytesPerElement(this.dtype); }
  get disposed(): boolean { return this.#data === null; }

  /** The underlying TypedArray, not a copy: writes to it change the tensor. */
  toTypedArray(): TypedArray {
    return this.data();
  }

  /** A new Float32Array with the values converted from any dtype. */
  toFloat32Array(): Float32Array {
    const d = this.data();
    return this.dtype === 'float32' ? (d as Float32Array).slice() : (convertArray(d, this.dtype, 'float32') as Float32Array);
  }

  /** Converts to `dtype` (round to nearest-even for floats, saturating for integers). Same dtype returns this tensor. */
  to(dtype: DType): Tensor;
  /** Already on the CPU: resolves to this tensor. */
  to(device: 'cpu'): Promise<Tensor>;
  // (to('cuda') and its DeviceTensor type are added by the CUDA add-on, lib/cuda.ts.)
  to(target: DType | 'cpu' | 'cuda' | `cuda:${number}`, options?: { dtype?: DType }): Tensor | Promise<unknown> {
    if (target === 'cpu') return Promise.resolve(this);
    if (typeof target === 'string' && target.startsWith('cuda')) {
      try {
        this.data();
        return deviceHooks(`${this}.to('${target}')`).tensorTo(this, target, options ?? {});
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const dtype = target as DType;
    checkDType(dtype, 'dtype');
    const d = this.data();
    if (dtype === this.dtype) return this;
    return new Tensor(convertArray(d, this.dtype, dtype), this.shape, dtype);
  }

  /** A view with another shape over the same memory. */
  reshape(shape: readonly number[]): Tensor {
    const s = checkShape(shape);
    if (numel(s) !== this.size) throw new ShapeError(`reshape: ${fmtShape(s)} has ${numel(s)} elements, tensor has ${this.size}`);
    return new Tensor(this.data(), s, this.dtype);
  }

  clone(): Tensor {
    return new Tensor(this.data().slice(), this.shape, this.dtype);
  }

  /** Drops this tensor's reference to its memory; later use throws ERR_DISPOSED. Idempotent. */
  dispose(): void {
    this.#data = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** @internal the data, or ERR_DISPOSED. */
  data(): TypedArray {
    if (this.#data === null) throw new DisposedError(`tensor ${fmtShape(this.shape)} ${this.dtype} was disposed`);
    return this.#data;
  }

  toString(): string {
    return `Tensor(${fmtShape(this.shape)}, ${this.dtype}${this.disposed ? ', disposed' : ''})`;
  }
}

export function convertArray(src: TypedArray, from: DType, to: DType): TypedArray {
  const out = allocate(to, src.length);
  native.convert(src, from, out, to);
  return out;
}

export function isTensor(v: unknown): v is Tensor {
  return v instanceof Tensor;
}

export function checkTensor(v: unknown, what: string): Tensor {
  if (!(v instanceof Tensor)) throw new ArgumentError(`${what}: expected a Tensor, got ${describe(v)}`);
  if (v.disposed) throw new DisposedError(`${what}: ${v} was disposed`);
  return v;
}

export { isDType };
