import { allocate, bytesPerElement, checkFloatDType, describe, viewAs, type DType, type FloatDType, type TypedArray } from './dtype.js';
import { ArgumentError, DisposedError, DTypeError, ShapeError, fromNativeError } from './errors.js';
import { native, type FormatName, type MatrixDesc, type NativeMatrix, type NativeMatrixHandle, type PartName, type PackOptionsNative } from './native.js';
import { checkMatrixShape, fmtShape } from './shape.js';
import { Tensor, checkTensor } from './tensor.js';
import { chooseFormat, weightStats } from './cost-model.js';
import { deviceHooks } from './device-hooks.js';
import { checkSlorb, slorbCost, type SlorbTerm } from './slorb.js';
import {
  checkQuantGrid, checkQuantShape, checkQuantize, denseDType, isQuantDType, quantDType,
  type QuantDType, type QuantGrid, type QuantInfo, type QuantizeOptions,
} from './quant.js';

export type Format = FormatName;
export const FORMATS: readonly Format[] = ['dense', 'csr', 'bitmap', 'nm', 'tiled-csl'];

/**
 * Whether a format can store values of this dtype: tiled-csl packs each value with its position in
 * one 32-bit word, so it holds 16-bit values only (native/formats/format.cpp enforces the same).
 */
export function formatStoresDType(format: Format, dtype: FloatDType): boolean {
  return !(format === 'tiled-csl' && dtype === 'float32');
}

/** The parts each format stores (docs/formats.md gives their exact layout). */
export const FORMAT_PARTS: Readonly<Record<Format, readonly PartName[]>> = {
  dense: ['values'],
  csr: ['rowPtr', 'colIdx', 'values'],
  bitmap: ['rowPtr', 'masks', 'values'],
  nm: ['masks', 'values'],
  'tiled-csl': ['tileOffsets', 'words'],
};

/** The formats that have a quantized form (values as 4/8-bit codes plus per-group scales). */
export const QUANT_FORMATS: readonly Format[] = ['dense', 'bitmap', 'nm'];

/** The parts a matrix stores: its format's, plus `scales` (and `zeros` if asymmetric) when quantized. */
export function partsOf(format: Format, quant?: QuantInfo): readonly PartName[] {
  if (!quant) return FORMAT_PARTS[format];
  // Widest first (int32 index parts, float16 scales, uint8 zeros, uint8 codes): the order files store them in.
  return [...FORMAT_PARTS[format].filter((p) => p !== 'values'), 'scales', ...(quant.symmetric ? [] : ['zeros' as const]), 'values'];
}

export interface FromDenseOptions {
  /**
   * Storage format; default 'bitmap'. 'auto' picks the format the CPU cost model (lib/cost-model.ts,
   * docs/kernels.md) predicts fastest for this weight's sparsity and structure at `expectedN`.
   */
  format?: Format | 'auto';
  /** With format 'auto': the number of activation vectors (tokens) per call to optimise for; default 1. */
  expectedN?: number;
  /**
   * With format 'auto': the dtype of the activations it will multiply (default float32). bfloat16
   * activations with a bfloat16 weight run the AVX512-BF16 dot-product kernels where the CPU has them;
   * so do float32 activations passed with `{ activations: 'bfloat16' }` (linear / spmm): say
   * 'bfloat16' here for those too.
   */
  activations?: FloatDType;
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
  /** An SLoRB term (AST) the matrix carries: linear()/spmm() add S(Px); saved and loaded with it. */
  slorb?: SlorbTerm;
  /**
   * Quantize the kept values round-to-nearest: 4- or 8-bit codes with one fp16 scale per
   * `groupSize` columns (dense, bitmap and nm; docs/formats.md). The matrix's dtype becomes 'int4' / 'int8'.
   */
  quantize?: QuantizeOptions;
  /** Like quantize, but onto a grid computed elsewhere: prune.sparsegpt's `quant`. */
  quant?: QuantGrid;
}

export interface FromPartsOptions {
  shape: readonly [number, number] | readonly number[];
  /** The value dtype; 'int4' / 'int8' for quantized values (then `quant` is required). */
  dtype: FloatDType | QuantDType;
  n?: number;
  m?: number;
  /** Quantized matrices: the group size and whether zero points are stored (bits follow dtype). */
  quant?: { groupSize: number; symmetric?: boolean; bits?: 4 | 8 };
  parts: Partial<Record<PartName, Tensor | TypedArray>>;
  /** An SLoRB term, validated like the parts (shapes, group size dividing cols, NaN/Inf). */
  slorb?: SlorbTerm;
}

/** The element dtype of each part: quantized values are uint8 codes, scales float16, zeros uint8. */
export function partDType(part: PartName, dtype: FloatDType | QuantDType): DType {
  if (part === 'values') return isQuantDType(dtype) ? 'uint8' : dtype;
  if (part === 'scales') return 'float16';
  if (part === 'zeros') return 'uint8';
  return 'int32';
}

/**
 * A weight matrix [rows, cols] in one of the packed formats. Its parts live in ordinary
 * ArrayBuffers owned by this object; they are validated when built from outside data.
 */
export class SparseMatrix {
  readonly format: Format;
  readonly shape: readonly [number, number];
  /** The value dtype: a float dtype, or 'int4' / 'int8' for quantized values (see `quant`). */
  readonly dtype: FloatDType | QuantDType;
  readonly n: number | undefined;
  readonly m: number | undefined;
  /** Quantized matrices: bits, group size along K, symmetric or with zero points. */
  readonly quant: QuantInfo | undefined;
  /** Value slots stored (for nm and tiled-csl this includes explicit zeros / padding). */
  readonly nnz: number;
  /** AST's SLoRB term y += S(Px) (lib/slorb.ts), or undefined. Not part of toDense(). */
  readonly slorb: SlorbTerm | undefined;
  /** Native-owned, validated parts (JS never holds a writable view of them); null once disposed. */
  #handle: NativeMatrixHandle | null;
  readonly #partBytes: Partial<Record<PartName, number>>;
  readonly #derivedBytes: number;

  private constructor(format: Format, shape: readonly [number, number], dtype: FloatDType | QuantDType, n: number | undefined,
                      m: number | undefined, stored: NativeMatrix, quant?: QuantInfo, slorb?: SlorbTerm) {
    this.format = format;
    this.slorb = slorb;
    this.shape = shape;
    this.dtype = dtype;
    this.n = n;
    this.m = m;
    this.quant = quant;
    this.#handle = stored.handle;
    this.#partBytes = stored.partBytes;
    this.#derivedBytes = stored.derivedBytes;
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
    const dtype = isQuantDType(options.dtype) ? options.dtype : checkFloatDType(options.dtype, 'options.dtype');
    const { n, m } = format === 'nm' ? checkNM(options.n, options.m) : { n: undefined, m: undefined };
    const quant = isQuantDType(dtype) ? fromPartsQuant(format, dtype, options, cols, m) : undefined;
    const parts: Partial<Record<PartName, TypedArray | ArrayBufferView>> = {};
    const names = partsOf(format, quant);
    for (const name of names) {
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
      if (!names.includes(name as PartName))
        throw new ArgumentError(`options.parts.${name}: the ${quant ? 'quantized ' : ''}${format} format has no such part (it has ${names.join(', ')})`);
    const desc = matrixDesc(format, dtype, rows, cols, n, m, parts, quant);
    const slorb = options.slorb === undefined ? undefined : checkSlorb(options.slorb, rows, cols, 'options.slorb');
    let stored: NativeMatrix;
    try {
      stored = native.matrixFromParts(desc);
    } catch (e) {
      throw fromNativeError(e, `SparseMatrix.fromParts(${format})`);
    }
    return new SparseMatrix(format, [rows, cols], dtype, n, m, stored, quant, slorb);
  }

  get rows(): number { return this.shape[0]; }
  get cols(): number { return this.shape[1]; }
  get disposed(): boolean { return this.#handle === null; }
  /** nnz / (rows * cols). */
  get density(): number { return this.rows * this.cols === 0 ? 0 : this.nnz / (this.rows * this.cols); }
  /** Bytes of all parts together (and of the SLoRB term, if any). */
  get byteLength(): number {
    this.live();
    let n = (this.slorb?.scales.byteLength ?? 0) + (this.slorb?.projection?.byteLength ?? 0) + (this.slorb?.rowScales?.byteLength ?? 0);
    for (const b of Object.values(this.#partBytes)) n += b!;
    return n;
  }
  /**
   * Bytes this matrix holds in memory: byteLength plus the kernel data the native matrix derives
   * from its parts and keeps beside them (the code sums of 2:4 and symmetric bitmap 4-bit matrices
   * with groups of 128 or more; docs/formats.md). Not saved; what a memory budget, or a kernel
   * that reads everything, counts.
   */
  get residentBytes(): number { return this.byteLength + this.#derivedBytes; }
  /** byteLength per logical element, comparable across formats (dense float16 = 2). */
  get bytesPerElement(): number { return this.rows * this.cols === 0 ? 0 : this.byteLength / (this.rows * this.cols); }
  /** Bits stored per logical weight (8 · bytesPerElement): 2:4 + int4 g128 ≈ 3.1. */
  get bitsPerWeight(): number { return 8 * this.bytesPerElement; }

  /** Copies of the stored parts as 1-D tensors (the matrix's own memory is not writable from JS). */
  parts(): Record<string, Tensor> {
    const h = this.live();
    const out: Record<string, Tensor> = {};
    for (const name of partsOf(this.format, this.quant)) {
      const dtype = partDType(name, this.dtype);
      out[name] = Tensor.from(viewAs(dtype, native.matrixPart(h, name)), undefined, { dtype });
    }
    return out;
  }

  /**
   * The dense [rows, cols] weight, bit-exact with what was packed (pruned entries are zero).
   * Quantized matrices dequantize into float32, exactly: (code - zero)·scale.
   */
  toDense(): Tensor {
    const dtype = denseDType(this.dtype);
    const out = allocate(dtype, this.rows * this.cols);
    try {
      native.unpack(this.desc(), out);
    } catch (e) {
      throw fromNativeError(e, 'toDense');
    }
    return Tensor.from(out, [this.rows, this.cols], { dtype });
  }

  async toDenseAsync(): Promise<Tensor> {
    const dtype = denseDType(this.dtype);
    const out = allocate(dtype, this.rows * this.cols);
    try {
      await native.unpackAsync(this.desc(), out);
    } catch (e) {
      throw fromNativeError(e, 'toDenseAsync');
    }
    return Tensor.from(out, [this.rows, this.cols], { dtype });
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
    const q = this.quant ? ` g${this.quant.groupSize}${this.quant.symmetric ? '' : ' asym'}` : '';
    const slorb = this.slorb ? `, slorb k=${this.slorb.groupSize}${this.slorb.rowScales ? ' int8' : ''}` : '';
    return `SparseMatrix(${this.format}${nm}, ${fmtShape(this.shape)}, ${this.dtype}${q}, density ${this.density.toFixed(3)}${slorb})`;
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
    const d = matrixDesc(this.format, this.dtype, this.rows, this.cols, this.n, this.m, undefined, this.quant);
    d.handle = this.live();
    return d;
  }

  private live(): NativeMatrixHandle {
    if (this.#handle === null) throw new DisposedError(`${this.format} matrix ${fmtShape(this.shape)} was disposed`);
    return this.#handle;
  }

  /** @internal */
  static _fromPacked(format: Format, shape: readonly [number, number], dtype: FloatDType | QuantDType, n: number | undefined,
                     m: number | undefined, stored: NativeMatrix, quant?: QuantInfo, slorb?: SlorbTerm): SparseMatrix {
    return new SparseMatrix(format, shape, dtype, n, m, stored, quant, slorb);
  }
}

function matrixDesc(format: Format, dtype: FloatDType | QuantDType, rows: number, cols: number, n: number | undefined,
                    m: number | undefined, parts: Partial<Record<PartName, TypedArray | ArrayBufferView>> | undefined,
                    quant: QuantInfo | undefined): MatrixDesc {
  if (!quant) return { format, dtype: dtype as FloatDType, rows, cols, n, m, parts };
  return { format, dtype: 'uint8', rows, cols, n, m, parts, quant: { bits: quant.bits, groupSize: quant.groupSize, symmetric: quant.symmetric } };
}

function checkQuantFormat(format: Format, what: string): void {
  if (!QUANT_FORMATS.includes(format))
    throw new ArgumentError(`${what}: the ${format} format has no quantized form (${QUANT_FORMATS.join(', ')} do)`);
}

function fromPartsQuant(format: Format, dtype: QuantDType, options: FromPartsOptions, cols: number, m: number | undefined): QuantInfo {
  checkQuantFormat(format, 'options.dtype');
  const bits = dtype === 'int4' ? 4 : 8;
  const q = options.quant as Record<string, unknown> | undefined;
  if (typeof q !== 'object' || q === null)
    throw new ArgumentError(`options.quant: a ${dtype} matrix needs { groupSize, symmetric }, got ${describe(q)}`);
  if (q.bits !== undefined && q.bits !== bits)
    throw new ArgumentError(`options.quant.bits: ${String(q.bits)} contradicts dtype '${dtype}' (${bits} bits)`);
  const info = checkQuantize({ ...q, bits }, 'options.quant');
  checkQuantShape(info, cols, m, 'options.quant');
  return info;
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

/** options.mask, validated once: a uint8 Tensor or a Uint8Array with one byte per element, or null. */
function checkMask(m: FromDenseOptions['mask'], rows: number, cols: number, shape: readonly number[]): Uint8Array | null {
  if (m === undefined || m === null) return null;
  if (m instanceof Tensor) {
    checkTensor(m, 'options.mask');
    if (m.dtype !== 'uint8') throw new DTypeError(`options.mask: expected dtype uint8, got ${m.dtype}`);
    if (m.size !== rows * cols)
      throw new ShapeError(`options.mask: shape ${fmtShape(m.shape)} does not match the weight ${fmtShape(shape)}`);
    return m.toTypedArray() as Uint8Array;
  }
  if (m instanceof Uint8Array) {
    if (m.length !== rows * cols)
      throw new ShapeError(`options.mask: ${m.length} bytes, expected ${rows * cols} (one per element of ${fmtShape(shape)})`);
    return m;
  }
  throw new ArgumentError(`options.mask: expected a uint8 Tensor or a Uint8Array, got ${describe(m)}`);
}

function autoFormat(tensor: Tensor, rows: number, cols: number, dtype: FloatDType, mask: Uint8Array | null, options: FromDenseOptions,
                    slorb: SlorbTerm | undefined) {
  const expectedN = options.expectedN ?? 1;
  if (!Number.isSafeInteger(expectedN) || expectedN < 1)
    throw new ArgumentError(`options.expectedN: expected a positive integer, got ${String(options.expectedN)}`);
  if (options.n !== undefined || options.m !== undefined)
    throw new ArgumentError("options.n / options.m: not used with format 'auto' (it detects 2:4 and 4:8 itself)");
  const device = options.device ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda') throw new ArgumentError(`options.device: expected 'cpu' or 'cuda', got ${describe(device)}`);
  if (device === 'cuda' && dtype === 'float32')
    throw new DTypeError("tensor.dtype: GPU weights are float16 or bfloat16; convert with tensor.to('float16') first");
  const stats = weightStats(tensor.toTypedArray() as Float32Array | Uint16Array, rows, cols, dtype, mask);
  if (options.activations !== undefined) stats.activations = checkFloatDType(options.activations, 'options.activations');
  // On the GPU a term adds its own kernels' time, and keeps 2:4 off cuSPARSELt (lib/gpu-cost-model.ts).
  const c = device === 'cuda'
    ? deviceHooks("options.device 'cuda'").chooseFormat(slorb ? Object.assign(stats, { slorb: slorbCost(slorb) }) : stats, expectedN)
    : chooseFormat(stats, expectedN);
  return { format: c.format as Format, n: c.n, m: c.m };
}

function prepareFromDense(tensor: Tensor, options: FromDenseOptions) {
  checkTensor(tensor, 'tensor');
  if (typeof options !== 'object' || options === null) throw new ArgumentError('options: expected an object');
  const [rows, cols] = checkMatrixShape(tensor.shape, 'tensor');
  const dtype = checkFloatDType(tensor.dtype, 'tensor.dtype');
  const mask = checkMask(options.mask, rows, cols, tensor.shape);
  const slorb = options.slorb === undefined ? undefined : checkSlorb(options.slorb, rows, cols, 'options.slorb');
  let format: Format;
  let n: number | undefined, m: number | undefined;
  if (options.format === 'auto') {
    const choice = autoFormat(tensor, rows, cols, dtype, mask, options, slorb);
    format = choice.format;
    ({ n, m } = choice);
  } else {
    format = checkFormat(options.format ?? 'bitmap');
    ({ n, m } = format === 'nm' ? checkNM(options.n, options.m) : { n: undefined, m: undefined });
  }
  if (!formatStoresDType(format, dtype))
    throw new DTypeError("tensor.dtype: tiled-csl stores 16-bit values; convert with tensor.to('float16') or to('bfloat16') first");
  if (options.prune !== undefined && options.prune !== false && options.prune !== 'magnitude')
    throw new ArgumentError(`options.prune: expected 'magnitude' or false, got ${JSON.stringify(options.prune)}`);
  const opt: PackOptionsNative = { format, n, m, mask, prune: options.prune === 'magnitude' };
  let quant: QuantInfo | undefined;
  if (options.quantize !== undefined && options.quant !== undefined)
    throw new ArgumentError('options.quantize / options.quant: give one (quant is a grid from a solver, quantize fits one)');
  if (options.quantize !== undefined || options.quant !== undefined) {
    const what = options.quant !== undefined ? 'options.quant' : 'options.quantize';
    checkQuantFormat(format, what);
    quant = checkQuantize(options.quant ?? options.quantize, what);
    checkQuantShape(quant, cols, format === 'nm' ? m : undefined, what);
    if (options.quant !== undefined) {
      const g = checkQuantGrid(options.quant, rows, cols, what);
      opt.scales = g.scales;
      if (g.zeros) opt.zeros = g.zeros;
    }
    opt.quant = { bits: quant.bits, groupSize: quant.groupSize, symmetric: quant.symmetric };
  }
  const outDtype = quant ? quantDType(quant.bits) : dtype;
  return {
    data: tensor.toTypedArray(), dtype, rows, cols, opt,
    build: (stored: NativeMatrix) => SparseMatrix._fromPacked(format, [rows, cols], outDtype, n, m, stored, quant, slorb),
  };
}
