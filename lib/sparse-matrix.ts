import { allocate, bytesPerElement, checkFloatDType, describe, viewAs, type DType, type FloatDType, type TypedArray } from './dtype.js';
import { ArgumentError, DisposedError, DTypeError, ShapeError, fromNativeError } from './errors.js';
import { native, type FormatName, type MatrixDesc, type NativeMatrix, type NativeMatrixHandle, type PartName, type PackOptionsNative } from './native.js';
import { checkMatrixShape, fmtShape } from './shape.js';
import { Tensor, checkTensor } from './tensor.js';
import { chooseFormat, weightStats } from './cost-model.js';
import { deviceHooks } from './device-hooks.js';

export type Format = FormatName;
export const FORMATS: readonly Format[] = ['dense', 'csr', 'bitmap', 'nm', 'tiled-csl'];

/** The parts each format stores (docs/formats.md gives their exact layout). */
export const FORMAT_PARTS: Readonly<Record<Format, readonly PartName[]>> = {
  dense: ['values'],
  csr: ['rowPtr', 'colIdx', 'values'],
  bitmap: ['rowPtr', 'masks', 'values'],
  nm: ['masks', 'values'],
  'tiled-csl': ['tileOffsets', 'words'],
};

export interface FromDenseOptions {
  /**
   * Storage format; default 'bitmap'. 'auto' picks the format the CPU cost model (lib/cost-model.ts,
   * docs/kernels.md) predicts fastest for this weight's sparsity and structure at `expectedN`.
   */
  format?: Format | 'auto';
  /** With format 'auto': the number of activation vectors (tokens) per call to optimise for; default 1. */
  expectedN?: number;
  /**
   * With format 'auto': where the weight will run. 'cpu' (default) uses the CPU cost model; 'cuda'
   * the GPU rule (lib/gpu-cost-model.ts, docs/cuda.md): bitmap at ~40-80% sparsity, tiled-csl
   * from ~80%, nm for 2:4 weights, dense where the sparse kernel would not beat cuBLASLt at expectedN.
   */
  device?: 'cpu' | 'cuda';
  /** One byte per element, 1 = keep. Without it, the tensor's nonzeros are kept. */
  mask?: Tensor | Uint8Array;
  /** nm: keep n of every m consecutive weights along K (NVIDIA's meaning: 2:4 keeps 2). */
  n?: number;
  m?: number;
  /** nm: 'magnitude' keeps the n largest |w| of each group instead of refusing a violating weight. */
  prune?: 'magnitude' | false;
}

export interface FromPartsOptions {
  shape: readonly [number, number] | readonly number[];
  dtype: FloatDType;
  n?: number;
  m?: number;
  parts: Partial<Record<PartName, Tensor | TypedArray>>;
}

function partDType(part: PartName, dtype: FloatDType): DType {
  return part === 'values' ? dtype : 'int32';
}

/**
 * A weight matrix [rows, cols] in one of the packed formats. Its parts live in ordinary
 * ArrayBuffers owned by this object; they are validated when built from outside data.
 */
export class SparseMatrix {
  readonly format: Format;
  readonly shape: readonly [number, number];
  readonly dtype: FloatDType;
  readonly n: number | undefined;
  readonly m: number | undefined;
  /** Value slots stored (for nm and tiled-csl this includes explicit zeros / padding). */
  readonly nnz: number;
  /** Native-owned, validated parts (JS never holds a writable view of them); null once disposed. */
  #handle: NativeMatrixHandle | null;
  readonly #partBytes: Partial<Record<PartName, number>>;

  private constructor(format: Format, shape: readonly [number, number], dtype: FloatDType, n: number | undefined,
                      m: number | undefined, stored: NativeMatrix) {
    this.format = format;
    this.shape = shape;
    this.dtype = dtype;
    this.n = n;
    this.m = m;
    this.#handle = stored.handle;
    this.#partBytes = stored.partBytes;
    this.nnz = stored.nnz;
  }

  /** Packs a dense [rows, cols] float tensor. Blocks the event loop: use fromDenseAsync for big weights. */
  static fromDense(tensor: Tensor, options: FromDenseOptions = {}): SparseMatrix {
    const p = prepareFromDense(tensor, options);
    try {
      return p.build(native.pack(p.data, p.dtype, p.rows, p.cols, p.opt));
    } catch (e) {
      throw fromNativeError(e, 'SparseMatrix.fromDense');
    }
  }

  /** Like fromDense, packing on a worker thread. */
  static async fromDenseAsync(tensor: Tensor, options: FromDenseOptions = {}): Promise<SparseMatrix> {
    const p = prepareFromDense(tensor, options);
    try {
      return p.build(await native.packAsync(p.data, p.dtype, p.rows, p.cols, p.opt));
    } catch (e) {
      throw fromNativeError(e, 'SparseMatrix.fromDenseAsync');
    }
  }

  /**
   * Builds a matrix from its parts (e.g. read from disk). The parts are copied into memory the
   * matrix owns and the copy is fully validated; bad data is ERR_FORMAT naming the part and the
   * problem. Later writes to the arrays passed in do not affect the matrix (docs/formats.md "Trust").
   */
  static fromParts(format: Format, options: FromPartsOptions): SparseMatrix {
    checkFormat(format);
    const [rows, cols] = checkMatrixShape(options.shape, 'options.shape');
    const dtype = checkFloatDType(options.dtype, 'options.dtype');
    const { n, m } = format === 'nm' ? checkNM(options.n, options.m) : { n: undefined, m: undefined };
    const parts: Partial<Record<PartName, TypedArray | ArrayBufferView>> = {};
    for (const name of FORMAT_PARTS[format]) {
      const v = options.parts?.[name];
      if (v === undefined) throw new ArgumentError(`options.parts.${name}: the ${format} format needs this part`);
      const want = partDType(name, dtype);
      if (v instanceof Tensor) {
        checkTensor(v, `options.parts.${name}`);
        if (v.dtype !== want) throw new DTypeError(`options.parts.${name}: expected dtype ${want}, got ${v.dtype}`);
        parts[name] = v.toTypedArray();
      } else if (ArrayBuffer.isView(v)) {
        // Passed to the native copy as bytes: any offset and any backing buffer (shared or not) will do.
        if (v.byteLength % bytesPerElement(want) !== 0)
          throw new ShapeError(`options.parts.${name}: ${v.byteLength} bytes is not a whole number of ${want} elements`);
        parts[name] = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
      } else {
        throw new ArgumentError(`options.parts.${name}: expected a Tensor or TypedArray, got ${describe(v)}`);
      }
    }
    for (const name of Object.keys(options.parts ?? {}))
      if (!FORMAT_PARTS[format].includes(name as PartName))
        throw new ArgumentError(`options.parts.${name}: the ${format} format has no such part (it has ${FORMAT_PARTS[format].join(', ')})`);
    const desc: MatrixDesc = { format, dtype, rows, cols, n, m, parts };
    let stored: NativeMatrix;
    try {
      stored = native.matrixFromParts(desc);
    } catch (e) {
      throw fromNativeError(e, `SparseMatrix.fromParts(${format})`);
    }
    return new SparseMatrix(format, [rows, cols], dtype, n, m, stored);
  }

  get rows(): number { return this.shape[0]; }
  get cols(): number { return this.shape[1]; }
  get disposed(): boolean { return this.#handle === null; }
  /** nnz / (rows * cols). */
  get density(): number { return this.rows * this.cols === 0 ? 0 : this.nnz / (this.rows * this.cols); }
  /** Bytes of all parts together. */
  get byteLength(): number {
    this.live();
    let n = 0;
    for (const b of Object.values(this.#partBytes)) n += b!;
    return n;
  }
  /** byteLength per logical element, comparable across formats (dense float16 = 2). */
  get bytesPerElement(): number { return this.rows * this.cols === 0 ? 0 : this.byteLength / (this.rows * this.cols); }

  /** Copies of the stored parts as 1-D tensors (the matrix's own memory is not writable from JS). */
  parts(): Record<string, Tensor> {
    const h = this.live();
    const out: Record<string, Tensor> = {};
    for (const name of FORMAT_PARTS[this.format]) {
      const dtype = partDType(name, this.dtype);
      out[name] = Tensor.from(viewAs(dtype, native.matrixPart(h, name)), undefined, { dtype });
    }
    return out;
  }

  /** The dense [rows, cols] weight, bit-exact with what was packed (pruned entries are zero). */
  toDense(): Tensor {
    const out = allocate(this.dtype, this.rows * this.cols);
    try {
      native.unpack(this.desc(), out);
    } catch (e) {
      throw fromNativeError(e, 'toDense');
    }
    return Tensor.from(out, [this.rows, this.cols], { dtype: this.dtype });
  }

  async toDenseAsync(): Promise<Tensor> {
    const out = allocate(this.dtype, this.rows * this.cols);
    try {
      await native.unpackAsync(this.desc(), out);
    } catch (e) {
      throw fromNativeError(e, 'toDenseAsync');
    }
    return Tensor.from(out, [this.rows, this.cols], { dtype: this.dtype });
  }

  /** Frees the parts' memory now (a call still running on them keeps it until it finishes). Idempotent. */
  dispose(): void {
    if (this.#handle) native.matrixDispose(this.#handle);
    this.#handle = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    const nm = this.format === 'nm' ? ` ${this.n}:${this.m}` : '';
    return `SparseMatrix(${this.format}${nm}, ${fmtShape(this.shape)}, ${this.dtype}, density ${this.density.toFixed(3)})`;
  }

  // to('cuda') and DeviceSparseMatrix are added by the CUDA add-on (lib/cuda.ts).
  to(device: 'cuda' | `cuda:${number}`, options: { format?: Format | 'auto'; expectedN?: number } = {}): Promise<unknown> {
    try {
      this.live();
      if (typeof options !== 'object' || options === null) throw new ArgumentError('options: expected an object');
      return deviceHooks(`${this}.to('${device}')`).matrixTo(this, device, options);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** @internal the plain descriptor the native layer takes. */
  desc(): MatrixDesc {
    return { format: this.format, dtype: this.dtype, rows: this.rows, cols: this.cols, n: this.n, m: this.m, handle: this.live() };
  }

  private live(): NativeMatrixHandle {
    if (this.#handle === null) throw new DisposedError(`${this.format} matrix ${fmtShape(this.shape)} was disposed`);
    return this.#handle;
  }

  /** @internal */
  static _fromPacked(format: Format, shape: readonly [number, number], dtype: FloatDType, n: number | undefined,
                     m: number | undefined, stored: NativeMatrix): SparseMatrix {
    return new SparseMatrix(format, shape, dtype, n, m, stored);
  }
}

export function isSparseMatrix(v: unknown): v is SparseMatrix {
  return v instanceof SparseMatrix;
}

function checkFormat(format: unknown): Format {
  if (typeof format !== 'string' || !(FORMATS as readonly string[]).includes(format))
    throw new ArgumentError(`format: expected one of ${FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
  return format as Format;
}

function checkNM(n: unknown, m: unknown): { n: number; m: number } {
  if (n === undefined || m === undefined) throw new ArgumentError("format 'nm' needs both n and m (e.g. { n: 2, m: 4 })");
  if (!Number.isInteger(n) || !Number.isInteger(m) || (m as number) < 1 || (m as number) > 16 || (n as number) < 1 || (n as number) > (m as number))
    throw new ArgumentError(`n:m must be integers with 1 <= n <= m <= 16, got ${String(n)}:${String(m)}`);
  return { n: n as number, m: m as number };
}

function maskArray(mask: FromDenseOptions['mask']): Uint8Array | null {
  if (mask instanceof Tensor) return mask.dtype === 'uint8' ? (mask.toTypedArray() as Uint8Array) : null;
  return mask instanceof Uint8Array ? mask : null;
}

function autoFormat(tensor: Tensor, rows: number, cols: number, dtype: FloatDType, options: FromDenseOptions) {
  const expectedN = options.expectedN ?? 1;
  if (!Number.isSafeInteger(expectedN) || expectedN < 1)
    throw new ArgumentError(`options.expectedN: expected a positive integer, got ${String(options.expectedN)}`);
  if (options.n !== undefined || options.m !== undefined)
    throw new ArgumentError("options.n / options.m: not used with format 'auto' (it detects 2:4 and 4:8 itself)");
  const device = options.device ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda') throw new ArgumentError(`options.device: expected 'cpu' or 'cuda', got ${describe(device)}`);
  if (device === 'cuda' && dtype === 'float32')
    throw new DTypeError("tensor.dtype: GPU weights are float16 or bfloat16; convert with tensor.to('float16') first");
  const mask = maskArray(options.mask);
  if (mask && mask.length !== rows * cols)
    throw new ShapeError(`options.mask: ${mask.length} bytes, expected ${rows * cols} (one per element of ${fmtShape(tensor.shape)})`);
  const stats = weightStats(tensor.toTypedArray() as Float32Array | Uint16Array, rows, cols, dtype, mask);
  const c = device === 'cuda' ? deviceHooks("options.device 'cuda'").chooseFormat(stats, expectedN) : chooseFormat(stats, expectedN);
  return { format: c.format as Format, n: c.n, m: c.m };
}

function prepareFromDense(tensor: Tensor, options: FromDenseOptions) {
  checkTensor(tensor, 'tensor');
  if (typeof options !== 'object' || options === null) throw new ArgumentError('options: expected an object');
  const [rows, cols] = checkMatrixShape(tensor.shape, 'tensor');
  const dtype = checkFloatDType(tensor.dtype, 'tensor.dtype');
  let format: Format;
  let n: number | undefined, m: number | undefined;
  if (options.format === 'auto') {
    const choice = autoFormat(tensor, rows, cols, dtype, options);
    format = choice.format;
    ({ n, m } = choice);
  } else {
    format = checkFormat(options.format ?? 'bitmap');
    ({ n, m } = format === 'nm' ? checkNM(options.n, options.m) : { n: undefined, m: undefined });
  }
  if (format === 'tiled-csl' && dtype === 'float32')
    throw new DTypeError("tensor.dtype: tiled-csl stores 16-bit values; convert with tensor.to('float16') or to('bfloat16') first");
  if (options.prune !== undefined && options.prune !== false && options.prune !== 'magnitude')
    throw new ArgumentError(`options.prune: expected 'magnitude' or false, got ${JSON.stringify(options.prune)}`);
  let mask: Uint8Array | null = null;
  if (options.mask !== undefined && options.mask !== null) {
    if (options.mask instanceof Tensor) {
      checkTensor(options.mask, 'options.mask');
      if (options.mask.dtype !== 'uint8') throw new DTypeError(`options.mask: expected dtype uint8, got ${options.mask.dtype}`);
      if (options.mask.size !== rows * cols)
        throw new ShapeError(`options.mask: shape ${fmtShape(options.mask.shape)} does not match the weight ${fmtShape(tensor.shape)}`);
      mask = options.mask.toTypedArray() as Uint8Array;
    } else if (options.mask instanceof Uint8Array) {
      if (options.mask.length !== rows * cols)
        throw new ShapeError(`options.mask: ${options.mask.length} bytes, expected ${rows * cols} (one per element of ${fmtShape(tensor.shape)})`);
      mask = options.mask;
    } else {
      throw new ArgumentError(`options.mask: expected a uint8 Tensor or a Uint8Array, got ${describe(options.mask)}`);
    }
  }
  const opt: PackOptionsNative = { format, n, m, mask, prune: options.prune === 'magnitude' };
  return {
    data: tensor.toTypedArray(), dtype, rows, cols, opt,
    build: (stored: NativeMatrix) => SparseMatrix._fromPacked(format, [rows, cols], dtype, n, m, stored),
  };
}
