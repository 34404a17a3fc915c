/**
 * The GPU side of the API, a one-way add-on to the host types: device discovery, device tensors
 * and device weights, and SpMM on the device. Loading this module installs Tensor.to('cuda'),
 * SparseMatrix.to('cuda') and the GPU format rule (lib/device-hooks.ts) and adds their types to
 * Tensor and SparseMatrix below; tensor.ts and sparse-matrix.ts never import it. The CUDA code lives in a separate library (libsparsekit_cuda.so, `npm run build:cuda`)
 * that the CPU addon loads at run time; without it, without a driver or without a GPU everything
 * here says why instead of failing to load.
 */
import { join } from 'node:path';
import { allocate, bytesPerElement, checkFloatDType, describe, type DType, type FloatDType } from './dtype.js';
import { ArgumentError, DeviceError, DisposedError, DTypeError, FormatError, ShapeError, fromNativeError } from './errors.js';
import { native, packageRoot, type DeviceHandle, type MatrixHandle } from './native.js';
import { fmtShape, numel } from './shape.js';
import { installDeviceHooks } from './device-hooks.js';
import { chooseGpuFormat } from './gpu-cost-model.js';
import type { QuantDType, QuantInfo } from './quant.js';
import { slorbTermArgs } from './slorb.js';
import { SparseMatrix, type Format } from './sparse-matrix.js';
import { Tensor } from './tensor.js';

declare module './tensor.js' {
  interface Tensor {
    /** Copies to a GPU ('cuda' = 'cuda:0'), optionally converting first; ERR_DEVICE says why when there is none. */
    to(device: 'cuda' | `cuda:${number}`, options?: { dtype?: DType }): Promise<DeviceTensor>;
  }
}

declare module './sparse-matrix.js' {
  interface SparseMatrix {
    /**
     * Uploads to a GPU in the layout of its format's kernel (tiled-csl, bitmap, nm 2:4, dense via
     * cuBLASLt); float16/bfloat16, or int4 `dense` / `nm` 2:4 (our 4-bit tensor-core kernels, which
     * take float16 or bfloat16 activations; docs/cuda.md "int4 weights"). With `{ format: 'auto', expectedN }` the weight is first
     * repacked (on the host) into the format the GPU rule picks for it (docs/cuda.md), or any named
     * format. An SLoRB term goes with it (S, its row scales, a general P) and is added on the device
     * (docs/adapters.md). ERR_DEVICE says why when there is no usable GPU.
     */
    to(device: 'cuda' | `cuda:${number}`, options?: { format?: Format | 'auto'; expectedN?: number }): Promise<DeviceSparseMatrix>;
  }
}

export interface DeviceInfo {
  id: number;
  name: string;
  /** e.g. '9.0' for an H100 */
  computeCapability: string;
  memoryBytes: number;
  smCount: number;
  /** cuBLASLt version when it was found and loaded (the dense baseline), else null. */
  cublasLt: string | null;
  /** cuSPARSELt version when found (2:4 on sparse tensor cores), else null. */
  cusparseLt: string | null;
}

/** The devices, plus why the list is empty (no CUDA library, no driver, no GPU...). */
export type DeviceList = DeviceInfo[] & { reason: string | null };

export interface GpuStatus {
  /** Path of libsparsekit_cuda.so when loaded. */
  library: string | null;
  build: string | null;
  reason: string | null;
  cublasLt: string | null;
  cublasLtReason: string | null;
  cusparseLt: string | null;
  cusparseLtReason: string | null;
  devices: DeviceInfo[];
}

const LIB = process.platform === 'win32' ? 'sparsekit_cuda.dll' : 'libsparsekit_cuda.so';

/** Where libsparsekit_cuda may be: $SPARSEKIT_CUDA_LIB, the CMake build folder, prebuilds. */
export function cudaLibraryCandidates(): string[] {
  const root = packageRoot();
  const list = [
    process.env.SPARSEKIT_CUDA_LIB,
    join(root, 'build-cuda', LIB),
    join(root, 'build', 'Release', LIB),
    join(root, 'prebuilds', `${process.platform}-${process.arch}`, LIB),
  ].filter((p): p is string => typeof p === 'string' && p.length > 0);
  return list.filter((p, i) => list.indexOf(p) === i);
}

let status: GpuStatus | null = null;

/** Loads the CUDA library once and reports what is there. Never throws. */
export function gpuStatus(): GpuStatus {
  if (status) return status;
  const load = native.cudaLoad(cudaLibraryCandidates());
  const info = native.cudaInfo();
  const libs = { cublasLt: info.cublasLt ?? null, cusparseLt: info.cusparseLt ?? null };
  status = {
    library: load.path,
    build: load.build,
    reason: info.reason ?? null,
    cublasLt: libs.cublasLt,
    cublasLtReason: info.cublasLtReason ?? null,
    cusparseLt: libs.cusparseLt,
    cusparseLtReason: info.cusparseLtReason ?? null,
    devices: info.devices.map((d) => ({ ...d, ...libs })),
  };
  return status;
}

/** The usable CUDA devices (sm_80 or newer); empty with a `reason` where there are none. */
export function devices(): DeviceList {
  const s = gpuStatus();
  return Object.assign(s.devices.map((d) => ({ ...d })), { reason: s.devices.length ? null : s.reason });
}

/** 'cuda' -> 0, 'cuda:N' -> N. */
export function parseDevice(device: unknown, what = 'device'): number {
  if (typeof device === 'string') {
    const m = /^cuda(?::(\d+))?$/.exec(device);
    if (m) return m[1] === undefined ? 0 : Number(m[1]);
  }
  throw new ArgumentError(`${what}: expected 'cpu', 'cuda' or 'cuda:N', got ${describe(device)}`);
}

function requireDevice(id: number, what: string): void {
  const list = devices();
  if (!list.some((d) => d.id === id))
    throw new DeviceError(`${what}: no CUDA device ${id}: ${list.reason ?? `only devices ${list.map((d) => d.id).join(', ')} exist`}`);
}

/** A dense row-major tensor in device memory. Free it with dispose(); a finalizer is the safety net. */
export class DeviceTensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: string;
  readonly deviceId: number;
  #handle: DeviceHandle | null;

  /** @internal */
  constructor(handle: DeviceHandle, shape: readonly number[], dtype: DType, deviceId: number) {
    this.#handle = handle;
    this.shape = shape;
    this.dtype = dtype;
    this.deviceId = deviceId;
    this.device = `cuda:${deviceId}`;
  }

  get size(): number { return numel(this.shape); }
  get byteLength(): number { return this.size * bytesPerElement(this.dtype); }
  get disposed(): boolean { return this.#handle === null; }

  /** Copies back to a CPU Tensor. */
  async to(device: 'cpu'): Promise<Tensor> {
    if (device !== 'cpu') throw new ArgumentError(`to: a device tensor goes to 'cpu', got ${describe(device)}`);
    const out = allocate(this.dtype, this.size);
    try {
      await native.cudaCopyAsync(this.handle(), out, false);
    } catch (e) {
      throw fromNativeError(e, `${this}.to('cpu')`);
    }
    return Tensor.from(out, this.shape, { dtype: this.dtype });
  }

  dispose(): void {
    if (this.#handle) native.cudaFree(this.#handle);
    this.#handle = null;
  }
  [Symbol.dispose](): void { this.dispose(); }

  /** @internal */
  handle(): DeviceHandle {
    if (!this.#handle) throw new DisposedError(`${this} was disposed`);
    return this.#handle;
  }

  toString(): string { return `DeviceTensor(${fmtShape(this.shape)}, ${this.dtype}, ${this.device}${this.disposed ? ', disposed' : ''})`; }
}

/** What a device weight's SLoRB term is (its tensors live on the device with the weight). */
export interface DeviceSlorbInfo {
  groupSize: number;
  /** S's dtype as uploaded: float32/16, bfloat16, or int8 with row scales. */
  scalesDtype: DType;
  rowScales: boolean;
  /** A general P instead of the group sums. */
  projection: boolean;
}

/** A weight uploaded in the GPU layout of its format's kernel (see docs/cuda.md). */
export class DeviceSparseMatrix {
  readonly format: string;
  readonly shape: readonly [number, number];
  /** float16 / bfloat16, or int4 (then x may be float16 or bfloat16, and `quant` says the grid). */
  readonly dtype: FloatDType | QuantDType;
  readonly quant: QuantInfo | undefined;
  /** SLoRB's term y += S(Px), added on the device by every product (docs/adapters.md), or undefined. */
  readonly slorb: DeviceSlorbInfo | undefined;
  readonly device: string;
  readonly deviceId: number;
  #handle: MatrixHandle | null;

  /** @internal */
  constructor(handle: MatrixHandle, format: string, shape: readonly [number, number], dtype: FloatDType | QuantDType, deviceId: number,
    quant?: QuantInfo, slorb?: DeviceSlorbInfo) {
    this.#handle = handle;
    this.format = format;
    this.shape = shape;
    this.dtype = dtype;
    this.quant = quant;
    this.slorb = slorb;
    this.deviceId = deviceId;
    this.device = `cuda:${deviceId}`;
  }
  /** The implementation the last product ran ('bitmap', 'tiled-csl', 'sp24-mma.sp', 'sp24-cusparselt', 'dense-cublaslt',
   * 'q4-dense-mma', 'q4-sp24-mma.sp'); an SLoRB term runs after it (lastKernelNote says so). */
  lastKernel: string | null = null;
  /** For 2:4 weights: why the last product did not use cuSPARSELt, or how the choice was measured. */
  lastKernelNote = '';
  get rows(): number { return this.shape[0]; }
  get cols(): number { return this.shape[1]; }
  get disposed(): boolean { return this.#handle === null; }
  /** Device memory held: the parts in the kernel's layout, a cuSPARSELt copy (2:4), the SLoRB term. */
  get deviceBytes(): number { return native.cudaMatrixBytes(this.handle()); }
  /** What a product with N activation vectors would run now, without running it. */
  selectedKernel(n: number, options: CudaMatmulOptions & { bias?: boolean } = {}): { kernel: string; note: string } {
    return selectedKernelCuda(this, n, options);
  }
  /** @internal */
  _ran(kernel: string, note: string): void {
    this.lastKernel = kernel;
    this.lastKernelNote = note;
  }
  dispose(): void {
    if (this.#handle) native.cudaReleaseMatrix(this.#handle);
    this.#handle = null;
  }
  [Symbol.dispose](): void { this.dispose(); }
  /** @internal */
  handle(): MatrixHandle {
    if (!this.#handle) throw new DisposedError(`${this} was disposed`);
    return this.#handle;
  }
  toString(): string { return `DeviceSparseMatrix(${this.format}, ${fmtShape(this.shape)}, ${this.dtype}, ${this.device})`; }
}

/** @internal Tensor.to('cuda'). */
export async function tensorToDevice(t: Tensor, device: string, options: { dtype?: DType } = {}): Promise<DeviceTensor> {
  const id = parseDevice(device);
  requireDevice(id, `${t}.to('${device}')`);
  const src = options.dtype !== undefined && options.dtype !== t.dtype ? t.to(options.dtype) : t;
  let handle: DeviceHandle | null = null;
  try {
    handle = native.cudaAlloc(id, src.byteLength);
    await native.cudaCopyAsync(handle, src.toTypedArray(), true);
    const result = new DeviceTensor(handle, src.shape, src.dtype, id);
    handle = null;
    return result;
  } catch (e) {
    throw fromNativeError(e, `${t}.to('${device}')`);
  } finally {
    if (handle) native.cudaFree(handle);  // a failed copy frees its buffer now, not at the next GC
  }
}

/** What the int4 kernels take (native/cuda/runtime/gpu_quant_layouts.cpp says the same on upload). */
function checkQuantForDevice(m: SparseMatrix, what: string, format: Format | 'auto' | undefined): void {
  const q = m.quant!;
  if (q.bits !== 4)
    throw new DTypeError(`${what}: int${q.bits} weights have no GPU kernel (int4 dense and int4 nm 2:4 do); use toDense() or quantize to 4 bits`);
  if (m.format !== 'dense' && m.format !== 'nm')
    throw new FormatError(`${what}: int4 ${m.format} weights have no GPU kernel (int4 dense and int4 nm 2:4 do)`);
  if (m.format === 'nm' && (m.n !== 2 || m.m !== 4))
    throw new FormatError(`${what}: int4 nm weights run on the GPU as 2:4 only, got ${m.n}:${m.m}`);
  if (format !== undefined && format !== m.format)
    throw new ArgumentError(`options.format: an int4 weight goes to the GPU in its own format (${m.format}); repack it on the host first`);
}

/** @internal SparseMatrix.to('cuda'): the GPU reads nm as 2:4, so a repack to 'nm' means 2:4. */
export async function matrixToDevice(m: SparseMatrix, device: string, options: { format?: Format | 'auto'; expectedN?: number } = {}): Promise<DeviceSparseMatrix> {
  const id = parseDevice(device);
  if (m.quant) checkQuantForDevice(m, `${m}.to('${device}')`, options.format);
  else if (m.dtype !== 'float16' && m.dtype !== 'bfloat16')
    throw new DTypeError(`${m}.to('${device}'): GPU weights are float16 or bfloat16; pack from tensor.to('float16') first`);
  requireDevice(id, `${m}.to('${device}')`);
  const format = options.format;
  if (format !== undefined && format !== m.format) {  // after the device check: no host work when there is no GPU
    const dense = m.toDense();
    const slorb = m.slorb;  // the term is the same whatever the format
    m = format === 'auto'
      ? SparseMatrix.fromDense(dense, { format: 'auto', device: 'cuda', expectedN: options.expectedN, slorb })
      : SparseMatrix.fromDense(dense, { format, ...(format === 'nm' ? { n: 2, m: 4 } : {}), slorb });
  }
  const t = m.slorb;
  try {
    const handle = await native.cudaUploadMatrixAsync(id, m.desc(), t ? slorbTermArgs(t) : null);
    return new DeviceSparseMatrix(handle, m.format, m.shape, m.dtype as FloatDType | QuantDType, id, m.quant,
      t && { groupSize: t.groupSize, scalesDtype: t.scales.dtype, rowScales: t.rowScales !== undefined, projection: t.projection !== undefined });
  } catch (e) {
    throw fromNativeError(e, `${m}.to('${device}')`);
  }
}

installDeviceHooks({
  tensorTo: (t, device, options) => tensorToDevice(t as Tensor, device, options as { dtype?: DType }),
  matrixTo: (m, device, options) => matrixToDevice(m as SparseMatrix, device, options as { format?: Format | 'auto'; expectedN?: number }),
  chooseFormat: (stats, expectedN) => chooseGpuFormat(stats, expectedN),
});

/** Which implementation runs a device weight: 'auto' (default), 'ours' (our kernel for the format), or
 * 'library' (cuSPARSELt for 2:4; dense weights always run on cuBLASLt). */
export type GpuBackend = 'auto' | 'ours' | 'library';
const BACKENDS: Record<GpuBackend, 0 | 1 | 2> = { auto: 0, ours: 1, library: 2 };

export interface CudaMatmulOptions {
  outDtype?: FloatDType;
  backend?: GpuBackend;
  /** 0 = automatic. */
  splitK?: number;
}

function backendCode(b: unknown): 0 | 1 | 2 {
  if (b === undefined) return 0;
  if (typeof b === 'string' && b in BACKENDS) return BACKENDS[b as GpuBackend];
  throw new ArgumentError(`options.backend: expected 'auto', 'ours' or 'library', got ${describe(b)}`);
}

/** CUDA's gridDim.z limit: the split-K slices of one launch (native/cuda/kernels/launch_grid.h). */
const MAX_SPLIT_K = 65535;

function splitKOf(v: unknown): number {
  if (v === undefined) return 0;
  if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) > MAX_SPLIT_K)
    throw new ArgumentError(`options.splitK: expected an integer from 0 (automatic) to ${MAX_SPLIT_K}, got ${describe(v)}`);
  return v as number;
}

/** Free and total memory of a device, in bytes. */
export function deviceMemory(device: 'cuda' | `cuda:${number}` = 'cuda'): { freeBytes: number; totalBytes: number } {
  const id = parseDevice(device);
  requireDevice(id, `deviceMemory('${device}')`);
  try {
    const m = native.cudaMemory(id);
    return { freeBytes: m.free, totalBytes: m.total };
  } catch (e) {
    throw fromNativeError(e, `deviceMemory('${device}')`);
  }
}

/** A bias [M] for a device product: a device tensor on the weight's device, or a CPU tensor copied there. */
async function deviceBias(bias: unknown, w: DeviceSparseMatrix): Promise<{ t: DeviceTensor; temporary: boolean } | null> {
  if (bias === undefined || bias === null) return null;
  if (!(bias instanceof DeviceTensor || bias instanceof Tensor))
    throw new ArgumentError(`bias: expected a Tensor or DeviceTensor of shape [${w.rows}], got ${describe(bias)}`);
  const shape = bias.shape;
  if (shape.length !== 1 || shape[0] !== w.rows) throw new ShapeError(`bias: expected [${w.rows}] (one per output feature), got ${fmtShape(shape)}`);
  checkFloatDType(bias.dtype, 'bias.dtype');
  if (bias instanceof DeviceTensor) {
    if (bias.deviceId !== w.deviceId) throw new DeviceError(`bias is on ${bias.device} but the weight is on ${w.device}`);
    return { t: bias, temporary: false };
  }
  return { t: await tensorToDevice(bias as Tensor, w.device), temporary: true };
}

/** The layout and shape checks shared by linear and spmm on the device. */
function checkDeviceOperands(x: unknown, w: DeviceSparseMatrix, what: string): asserts x is DeviceTensor {
  if (!(x instanceof DeviceTensor)) throw new ArgumentError(`${what}: expected a device tensor (the weight is on ${w.device}), got ${describe(x)}; use tensor.to('cuda')`);
  if (x.deviceId !== w.deviceId) throw new DeviceError(`${what} is on ${x.device} but the weight is on ${w.device}`);
  if (w.quant) {
    if (x.dtype !== 'float16' && x.dtype !== 'bfloat16')
      throw new DTypeError(`${what}.dtype: the int4 GPU kernels take float16 or bfloat16 activations, got ${x.dtype}`);
  } else if (x.dtype !== w.dtype) {
    throw new DTypeError(`${what}.dtype: the GPU kernels take activations in the weight's dtype ${w.dtype}, got ${x.dtype}`);
  }
}

async function runDevice(w: DeviceSparseMatrix, x: DeviceTensor, n: number, layout: 0 | 1, shape: number[], bias: unknown,
                         options: CudaMatmulOptions, what: string): Promise<DeviceTensor> {
  const out = checkFloatDType(options.outDtype ?? x.dtype, 'options.outDtype');
  const backend = backendCode(options.backend);
  const splitK = splitKOf(options.splitK);
  const b = await deviceBias(bias, w);
  let y: DeviceHandle | null = null;
  try {
    y = native.cudaAlloc(w.deviceId, n * w.rows * bytesPerElement(out));
    const ran = await native.cudaSpmmAsync(w.handle(), x.handle(), n, out, y, splitK,
      { backend, layout, bias: b ? b.t.handle() : null, biasDtype: b?.t.dtype, ...(w.quant ? { xDtype: x.dtype } : {}) });
    w._ran(ran.kernel, ran.note);
    const result = new DeviceTensor(y, shape, out, w.deviceId);
    y = null;
    return result;
  } catch (e) {
    throw fromNativeError(e, what);
  } finally {
    if (y) native.cudaFree(y);
    if (b?.temporary) b.t.dispose();
  }
}

/**
 * @internal nn.Linear on the device: x [..., K] (device, the weight's dtype) times wᵀ plus an
 * optional bias [M] (added in fp32 before the single rounding) gives a new device tensor [..., M]
 * of `outDtype` (default: x's dtype).
 */
export async function linearCuda(x: unknown, w: DeviceSparseMatrix, bias?: unknown, options: CudaMatmulOptions = {}): Promise<DeviceTensor> {
  checkDeviceOperands(x, w, 'x');
  const k = x.shape[x.shape.length - 1];
  if (x.shape.length < 1 || k !== w.cols)
    throw new ShapeError(`linear: w is [${w.rows}, ${w.cols}] so x's last dimension must be ${w.cols}, got x ${fmtShape(x.shape)}`);
  const lead = x.shape.slice(0, -1);
  return runDevice(w, x, numel(lead), 0, [...lead, w.rows], bias, options, 'linear (cuda)');
}

/**
 * @internal spmm(a, b) on the device: b [K] or [K, N] (any N >= 1) gives [M] or [M, N]. The kernels
 * read activations as [N, K]; for N > 1 the library transposes b into a temporary on the device and
 * the result back.
 */
export async function spmmCuda(a: unknown, b: unknown, options: CudaMatmulOptions = {}): Promise<DeviceTensor> {
  if (!(a instanceof DeviceSparseMatrix)) throw new ArgumentError(`a: expected a device weight (b is on the GPU), got ${describe(a)}; use matrix.to('cuda')`);
  checkDeviceOperands(b, a, 'b');
  if (b.shape.length !== 1 && b.shape.length !== 2) throw new ShapeError(`b: expected [K] or [K, N], got ${fmtShape(b.shape)}`);
  if (b.shape[0] !== a.cols) throw new ShapeError(`spmm: a is [${a.rows}, ${a.cols}] so b must have ${a.cols} rows, got b ${fmtShape(b.shape)}`);
  const n = b.shape.length === 2 ? b.shape[1]! : 1;
  return runDevice(a, b, n, 1, b.shape.length === 2 ? [a.rows, n] : [a.rows], null, options, 'spmm (cuda)');
}

/** @internal what a device product of this weight would run now (see DeviceSparseMatrix.selectedKernel). */
export function selectedKernelCuda(w: DeviceSparseMatrix, n: number, options: CudaMatmulOptions & { bias?: boolean } = {}): { kernel: string; note: string } {
  if (!Number.isSafeInteger(n) || n < 0) throw new ArgumentError(`n: expected a non-negative integer, got ${describe(n)}`);
  const out = checkFloatDType(options.outDtype ?? (w.quant ? 'float16' : w.dtype), 'options.outDtype');
  try {
    // A bias only matters for eligibility: hasBias stands in for one (and x's dtype does not matter).
    return native.cudaSelectedKernel(w.handle(), null, n, out, null, splitKOf(options.splitK),
      { backend: backendCode(options.backend), layout: 0, bias: null, hasBias: options.bias === true, ...(w.quant ? { xDtype: 'float16' as const } : {}) });
  } catch (e) {
    throw fromNativeError(e, 'selectedKernel (cuda)');
  }
}
