import { allocate, checkFloatDType, describe, type FloatDType } from './dtype.js';
import { ArgumentError, DTypeError, ShapeError, fromNativeError } from './errors.js';
import { ACTIVATIONS, native, type Activations, type MatrixDesc, type SpmmArgs } from './native.js';
import { fmtShape, numel } from './shape.js';
import { SparseMatrix } from './sparse-matrix.js';
import { Tensor, checkTensor } from './tensor.js';
import { DeviceSparseMatrix, DeviceTensor, linearCuda, spmmCuda, type GpuBackend } from './cuda.js';
import { slorbCall, type SlorbLayout, type SlorbNativeArgs } from './slorb.js';

export interface MatmulOptions {
  /** Output dtype; default: the dtype of the dense activations. Accumulation is always float32. */
  outDtype?: FloatDType;
  /**
   * GPU only: 'auto' (default), 'ours' (our kernel for the weight's format) or 'library'
   * (cuSPARSELt for a 2:4 weight; dense weights always run on cuBLASLt). docs/cuda.md.
   */
  backend?: GpuBackend;
  /** GPU only: split-K slices of one launch, 0 (default) = automatic, at most 65535. docs/cuda.md. */
  splitK?: number;
  /**
   * What the kernels may do to float activations (CPU). Default 'float32': never rounded.
   * 'bfloat16': the caller allows float32 / float16 activations to be rounded to bfloat16 (to
   * nearest even, up to 2^-9 relative per element) so that bfloat16 weights (dense, bitmap, nm) and
   * 2:4 int4 weights at N > 8 run the AVX512-BF16 dot-product kernels; where none applies (no
   * AVX512-BF16, float32 / float16 weights, CSR, other quantized weights, 2:4 int4 at N <= 8) they
   * stay float32. docs/kernels.md gives the rule and the error bound.
   * 'int8', quantized weights only: the kernel may round the activations to int8 per weight group
   * (scale max|x|/127, round to nearest even) and multiply with integer dot products (AVX-512 VNNI
   * + VBMI at N = 1, and int4 dense / bitmap / 2:4 up to N = 64, as llama.cpp does); where no int8 kernel applies
   * they stay float32.
   */
  activations?: Activations;
  /**
   * CPU: the tensor to write the result into, returned instead of a new one. Its shape is the
   * result's ([..., M] for linear, [M, N] or [M] for spmm) and its dtype the output dtype (with
   * `outDtype` too, the two must agree). A server that keeps one output per layer saves an
   * allocation per call and its page faults, which are slow on some VMs (docs/kernels.md,
   * Benchmarks). It must not share memory with the activations, the bias, a dense
   * weight or an SLoRB term, which the kernels read while they write it; after an async call,
   * leave it alone until the promise settles.
   */
  out?: Tensor;
}

export { ACTIVATIONS, type Activations };

/** A weight operand: a packed SparseMatrix, or a plain 2-D float Tensor used as the dense format. */
export type Weight = SparseMatrix | Tensor;

/** 'int8' activations apply to quantized weights (int4 / int8) only. */
function takesInt8(w: unknown): boolean {
  return w instanceof SparseMatrix && w.quant !== undefined;
}

function weightDesc(w: unknown, what: string, options: MatmulOptions = {}): MatrixDesc {
  const act = typeof options === 'object' && options !== null ? options.activations : undefined;
  if (act !== undefined && !(ACTIVATIONS as readonly unknown[]).includes(act))
    throw new ArgumentError(`options.activations: expected 'float32', 'bfloat16' or 'int8', got ${describe(act)}`);
  if (act === 'int8' && !takesInt8(w))
    throw new ArgumentError("options.activations: 'int8' applies to quantized weights (int4 / int8) only");
  if (w instanceof SparseMatrix) return w.desc();
  if (w instanceof Tensor) {
    checkTensor(w, what);
    if (w.ndim !== 2) throw new ShapeError(`${what}: a dense weight must be 2-D, got ${fmtShape(w.shape)}`);
    const dtype = checkFloatDType(w.dtype, `${what}.dtype`);
    return { format: 'dense', dtype, rows: w.shape[0]!, cols: w.shape[1]!, parts: { values: w.toTypedArray() } };
  }
  throw new ArgumentError(`${what}: expected a SparseMatrix or Tensor, got ${describe(w)}`);
}

/**
 * What `activations` means for one weight of a mix (a model's linears): 'int8' applies to quantized
 * weights only, so the others run with float32 activations; every other value is passed on as given
 * (linear checks it).
 */
export function activationsFor(w: Weight, activations: MatmulOptions['activations']): MatmulOptions['activations'] {
  return activations === 'int8' && !takesInt8(w) ? 'float32' : activations;
}

/** The native call's activation rounding (weightDesc has checked the value). */
function rounding(options: MatmulOptions): Activations {
  return options.activations ?? 'float32';
}

interface Call {
  desc: MatrixDesc;
  args: SpmmArgs;
  result: Tensor;
  /** A weight with an SLoRB term: the sparse kernel writes float32 `base`, then this adds S(Px) into the output. */
  slorb?: SlorbNativeArgs;
}

function withSlorb(call: Call, w: Weight, layout: SlorbLayout): Call {
  if (!(w instanceof SparseMatrix) || w.slorb === undefined) return call;
  const { desc, args } = call;
  const { b: x, bDtype: xDtype, out, outDtype } = args;
  const base = outDtype === 'float32' ? (out as Float32Array) : new Float32Array((out as ArrayBufferView).byteLength / 2);
  args.out = base;
  args.outDtype = 'float32';
  call.slorb = slorbCall(w.slorb, desc.rows, desc.cols, x as ArrayBufferView, xDtype as FloatDType, layout, base, out as ArrayBufferView, outDtype as FloatDType);
  return call;
}

function prepareSpmm(a: Weight, b: Tensor, options: MatmulOptions): Call {
  const desc = weightDesc(a, 'a', options);
  checkTensor(b, 'b');
  const bDtype = checkFloatDType(b.dtype, 'b.dtype');
  if (b.ndim !== 1 && b.ndim !== 2) throw new ShapeError(`b: expected [K] or [K, N], got ${fmtShape(b.shape)}`);
  const k = b.shape[0]!;
  const n = b.ndim === 2 ? b.shape[1]! : 1;
  if (k !== desc.cols)
    throw new ShapeError(`spmm: a is [${desc.rows}, ${desc.cols}] so b must have ${desc.cols} rows, got b ${fmtShape(b.shape)}`);
  const bData = b.toTypedArray();
  const { out, outDtype, result } = outputOf(options, bDtype, b.ndim === 2 ? [desc.rows, n] : [desc.rows], a, [['b', bData]]);
  return withSlorb({
    desc,
    args: { b: bData, bDtype, bIsKn: true, n, activations: rounding(options), out, outDtype, rowStride: n, colStride: 1 },
    result,
  }, a, { n, xTokStride: 1, xFeatStride: n, outTokStride: 1, outRowStride: n });
}

function prepareLinear(x: Tensor, w: Weight, bias: Tensor | null | undefined, options: MatmulOptions): Call {
  checkTensor(x, 'x');
  const desc = weightDesc(w, 'w', options);
  const xDtype = checkFloatDType(x.dtype, 'x.dtype');
  if (x.ndim < 1) throw new ShapeError('x: expected at least 1 dimension [..., K]');
  const k = x.shape[x.ndim - 1]!;
  if (k !== desc.cols)
    throw new ShapeError(`linear: w is [${desc.rows}, ${desc.cols}] so x's last dimension must be ${desc.cols}, got x ${fmtShape(x.shape)}`);
  const lead = x.shape.slice(0, -1);
  const n = numel(lead);
  let biasData = null;
  let biasDtype: FloatDType = 'float32';
  if (bias !== undefined && bias !== null) {
    checkTensor(bias, 'bias');
    biasDtype = checkFloatDType(bias.dtype, 'bias.dtype');
    if (bias.ndim !== 1 || bias.shape[0] !== desc.rows)
      throw new ShapeError(`bias: expected [${desc.rows}] (one per output feature), got ${fmtShape(bias.shape)}`);
    biasData = bias.toTypedArray();
  }
  const xData = x.toTypedArray();
  const { out, outDtype, result } = outputOf(options, xDtype, [...lead, desc.rows], w, [['x', xData], ['bias', biasData]]);
  return withSlorb({
    desc,
    args: { b: xData, bDtype: xDtype, bIsKn: false, n, activations: rounding(options), bias: biasData, biasDtype, out, outDtype, rowStride: 1, colStride: desc.rows },
    result,
  }, w, { n, xTokStride: k, xFeatStride: 1, outTokStride: desc.rows, outRowStride: 1 });
}

/** options.out is a CPU tensor; device calls return a new device tensor. */
function cpuOnlyOut(options: MatmulOptions): MatmulOptions {
  if (options.out !== undefined) throw new ArgumentError('options.out: CPU calls only (a device call returns a new device tensor)');
  return options;
}

function checkOptions(options: MatmulOptions): MatmulOptions {
  if (typeof options !== 'object' || options === null) throw new ArgumentError('options: expected an object');
  return options;
}

/** Whether two views share a byte of the same buffer. */
function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

/**
 * The call's output: options.out, checked against the result's shape and dtype and against the
 * buffers the kernels read while they write it (`reads`: each with its name), or a new array.
 */
function outputOf(options: MatmulOptions, fallback: FloatDType, shape: readonly number[], w: Weight,
                  reads: [string, ArrayBufferView | null][]): { out: ArrayBufferView; outDtype: FloatDType; result: Tensor } {
  const outDtype = checkOut(options, fallback);
  const given = options.out;
  if (given === undefined) {
    const out = allocate(outDtype, numel(shape));
    return { out, outDtype, result: Tensor.from(out, shape, { dtype: outDtype }) };
  }
  checkTensor(given, 'options.out');
  const dtype = checkFloatDType(given.dtype, 'options.out.dtype');
  if (options.outDtype !== undefined && dtype !== outDtype)
    throw new DTypeError(`options.out: a ${dtype} tensor, but options.outDtype is '${outDtype}'`);
  if (given.shape.length !== shape.length || given.shape.some((d, i) => d !== shape[i]))
    throw new ShapeError(`options.out: expected ${fmtShape(shape)} (the result's shape), got ${fmtShape(given.shape)}`);
  const out = given.toTypedArray();
  const all = [...reads];
  if (w instanceof Tensor) all.push(['the weight', w.toTypedArray()]);
  if (w instanceof SparseMatrix && w.slorb !== undefined) {
    const t = w.slorb;
    all.push(['the SLoRB scales', t.scales.toTypedArray()], ['the SLoRB row scales', t.rowScales?.toTypedArray() ?? null],
      ['the SLoRB projection', t.projection?.toTypedArray() ?? null]);
  }
  for (const [what, view] of all)
    if (view !== null && overlaps(out, view)) throw new ArgumentError(`options.out: shares memory with ${what}, which the kernel reads while it writes the output`);
  return { out, outDtype: dtype, result: given };
}

function checkOut(options: MatmulOptions, fallback: FloatDType): FloatDType {
  if (typeof options !== 'object' || options === null) throw new ArgumentError('options: expected an object');
  if (options.outDtype === undefined) return fallback;
  if (typeof options.outDtype !== 'string') throw new DTypeError(`options.outDtype: expected a dtype name, got ${describe(options.outDtype)}`);
  return checkFloatDType(options.outDtype, 'options.outDtype');
}

function runSync(call: Call, what: string): Tensor {
  try {
    native.spmm(call.desc, call.args, call.slorb ?? null);
  } catch (e) {
    throw fromNativeError(e, what);
  }
  return call.result;
}

async function runAsync(call: Call, what: string): Promise<Tensor> {
  try {
    await native.spmmAsync(call.desc, call.args, call.slorb ?? null);
  } catch (e) {
    throw fromNativeError(e, what);
  }
  return call.result;
}

const onDevice = (...v: unknown[]) => v.some((x) => x instanceof DeviceSparseMatrix || x instanceof DeviceTensor);

export interface SpmmFn {
  /** Device operands (tensor.to('cuda'), matrix.to('cuda')): runs on the GPU, returns a device tensor. */
  (a: DeviceSparseMatrix, b: DeviceTensor, options?: MatmulOptions): Promise<DeviceTensor>;
  /** a [M, K] (sparse or dense) times b [K, N] (or [K]) gives [M, N] (or [M]); runs off the event loop. */
  (a: Weight, b: Tensor, options?: MatmulOptions): Promise<Tensor>;
  /** The same on the calling thread, for small products. */
  sync(a: Weight, b: Tensor, options?: MatmulOptions): Tensor;
}

export interface LinearFn {
  /** Device operands: x [..., K] on the GPU times wᵀ plus bias [M] (a device tensor, or a CPU tensor copied over). */
  (x: DeviceTensor, w: DeviceSparseMatrix, bias?: DeviceTensor | Tensor | null, options?: MatmulOptions): Promise<DeviceTensor>;
  /** nn.Linear: x [..., K] times wᵀ (w [M, K]) plus bias [M] gives [..., M]; runs off the event loop. */
  (x: Tensor, w: Weight, bias?: Tensor | null, options?: MatmulOptions): Promise<Tensor>;
  sync(x: Tensor, w: Weight, bias?: Tensor | null, options?: MatmulOptions): Tensor;
}

export const spmm: SpmmFn = Object.assign(
  (a: Weight | DeviceSparseMatrix, b: Tensor | DeviceTensor, options: MatmulOptions = {}): Promise<any> => {
    try {
      if (onDevice(a, b)) return spmmCuda(a, b, cpuOnlyOut(checkOptions(options)));
      return runAsync(prepareSpmm(a as Weight, b as Tensor, options), 'spmm');
    } catch (e) {
      return Promise.reject(e);
    }
  },
  { sync: (a: Weight, b: Tensor, options: MatmulOptions = {}) => runSync(prepareSpmm(a, b, options), 'spmm.sync') },
);

export const linear: LinearFn = Object.assign(
  (x: Tensor | DeviceTensor, w: Weight | DeviceSparseMatrix, bias?: Tensor | DeviceTensor | null, options: MatmulOptions = {}): Promise<any> => {
    try {
      if (onDevice(x, w, bias)) {
        if (!(w instanceof DeviceSparseMatrix)) throw new ArgumentError(`w: expected a device weight (x is on the GPU); use matrix.to('cuda')`);
        return linearCuda(x, w, bias, cpuOnlyOut(checkOptions(options)));
      }
      if (bias instanceof DeviceTensor) throw new ArgumentError('bias: a device tensor needs x and w on the device too');
      return runAsync(prepareLinear(x as Tensor, w as Weight, bias, options), 'linear');
    } catch (e) {
      return Promise.reject(e);
    }
  },
  {
    sync: (x: Tensor, w: Weight, bias?: Tensor | null, options: MatmulOptions = {}) =>
      runSync(prepareLinear(x, w, bias, options), 'linear.sync'),
  },
);

/**
 * The kernel spmm / linear would run for this weight and N, by its name in the kernel table
 * (`<id>_<dtype>_<isa>`, docs/kernels.md; for benchmarks and debugging); for a device weight, the
 * GPU implementation (DeviceSparseMatrix.selectedKernel has the reason too).
 * `xDtype`: the activations' dtype (default float32; bf16 activations, or `activations: 'bfloat16'`,
 * may pick the vdpbf16ps kernels).
 */
export function selectedKernel(a: Weight | DeviceSparseMatrix, n: number, options: MatmulOptions & { xDtype?: FloatDType } = {}): string {
  if (a instanceof DeviceSparseMatrix) return a.selectedKernel(n, options).kernel;
  const desc = weightDesc(a, 'a', options);
  return native.kernelName(desc, n, options.xDtype ?? 'float32', rounding(options));
}
