/**
 * The GPU side of the API: device discovery, device tensors and device weights, and SpMM on the
 * device. The CUDA code lives in a separate library (libsparsekit_cuda.so, `npm run build:cuda`)
 * that the CPU addon loads at run time; without it, without a driver or without a GPU everything
 * here says why instead of failing to load.
 */
import { join } from 'node:path';
import { allocate, bytesPerElement, checkFloatDType, describe, type DType, type FloatDType } from './dtype.js';
import { ArgumentError, DeviceError, DisposedError, DTypeError, ShapeError, fromNativeError } from './errors.js';
import { native, packageRoot, type DeviceHandle, type MatrixHandle } from './native.js';
import { fmtShape, numel } from './shape.js';
import type { SparseMatrix } from './sparse-matrix.js';
import { Tensor } from './tensor.js';

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

/** A weight uploaded in the GPU layout of its format's kernel (see docs/cuda.md). */
export class DeviceSparseMatrix {
  readonly format: string;
  readonly shape: readonly [number, number];
  readonly dtype: FloatDType;
  readonly device: string;
  readonly deviceId: number;
  #handle: MatrixHandle | null;

  /** @internal */
  constructor(handle: MatrixHandle, format: string, shape: readonly [number, number], dtype: FloatDType, deviceId: number) {
    this.#handle = handle;
    this.format = format;
    this.shape = shape;
    this.dtype = dtype;
    this.deviceId = deviceId;
    this.device = `cuda:${deviceId}`;
  }
  get rows(): number { return this.shape[0]; }
  get cols(): number { return this.shape[1]; }
  get disposed(): boolean { return this.#handle === null; }
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
  try {
    const handle = native.cudaAlloc(id, src.byteLength);
    await native.cudaCopyAsync(handle, src.toTypedArray(), true);
    return new DeviceTensor(handle, src.shape, src.dtype, id);
  } catch (e) {
    throw fromNativeError(e, `${t}.to('${device}')`);
  }
}

/** @internal SparseMatrix.to('cuda'). */
export async function matrixToDevice(m: SparseMatrix, device: string): Promise<DeviceSparseMatrix> {
  const id = parseDevice(device);
  if (m.dtype === 'float32')
    throw new DTypeError(`${m}.to('${device}'): GPU weights are float16 or bfloat16; pack from tensor.to('float16') first`);
  requireDevice(id, `${m}.to('${device}')`);
  try {
    const handle = await native.cudaUploadMatrixAsync(id, m.desc());
    return new DeviceSparseMatrix(handle, m.format, m.shape, m.dtype, id);
  } catch (e) {
    throw fromNativeError(e, `${m}.to('${device}')`);
  }
}

/**
 * @internal nn.Linear on the device: x [..., K] (device, the weight's dtype) times wᵀ gives a new
 * device tensor [..., M] of `outDtype` (default: x's dtype).
 */
export async function linearCuda(x: DeviceTensor, w: DeviceSparseMatrix, outDtype?: FloatDType, splitK = 0): Promise<DeviceTensor> {
  if (!(x instanceof DeviceTensor)) throw new ArgumentError(`x: expected a device tensor (the weight is on ${w.device}), got ${describe(x)}`);
  if (x.deviceId !== w.deviceId) throw new DeviceError(`x is on ${x.device} but the weight is on ${w.device}`);
  if (x.dtype !== w.dtype) throw new DTypeError(`x.dtype: the GPU kernels take x in the weight's dtype ${w.dtype}, got ${x.dtype}`);
  const k = x.shape[x.shape.length - 1];
  if (k !== w.cols) throw new ShapeError(`linear: w is [${w.rows}, ${w.cols}] so x's last dimension must be ${w.cols}, got x ${fmtShape(x.shape)}`);
  const out = checkFloatDType(outDtype ?? x.dtype, 'options.outDtype');
  const lead = x.shape.slice(0, -1);
  const n = numel(lead);
  const shape = [...lead, w.rows];
  try {
    const y = native.cudaAlloc(w.deviceId, n * w.rows * bytesPerElement(out));
    await native.cudaSpmmAsync(w.handle(), x.handle(), n, out, y, splitK);
    return new DeviceTensor(y, shape, out, w.deviceId);
  } catch (e) {
    throw fromNativeError(e, 'linear (cuda)');
  }
}

/** @internal spmm(a, b) with device operands: only b of shape [K] (N = 1) needs no transpose. */
export async function spmmCuda(a: unknown, b: unknown, outDtype?: FloatDType): Promise<DeviceTensor> {
  if (!(a instanceof DeviceSparseMatrix)) throw new ArgumentError(`a: expected a device weight (b is on the GPU), got ${describe(a)}; use matrix.to('cuda')`);
  if (!(b instanceof DeviceTensor)) throw new ArgumentError(`b: expected a device tensor (a is on ${a.device}), got ${describe(b)}; use tensor.to('cuda')`);
  const n = b.shape.length === 2 ? b.shape[1]! : 1;
  if (b.shape.length > 2 || n !== 1)
    throw new ArgumentError(`spmm on the GPU takes b of shape [K] or [K, 1]; for b [K, N] use linear(x [N, K], w), the kernels' native orientation (got b ${fmtShape(b.shape)})`);
  const y = await linearCuda(new DeviceTensor(b.handle(), [1, b.shape[0]!], b.dtype, b.deviceId), a, outDtype);
  return new DeviceTensor(y.handle(), b.shape.length === 2 ? [a.rows, 1] : [a.rows], y.dtype, y.deviceId);
}
