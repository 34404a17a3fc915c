/**
 * Declares the shape of the compiled addon's exports and loads it lazily (lib/addon-loader.ts finds
 * the local build or the prebuild). Only lib/ calls this module.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAddon } from './addon-loader.js';
import type { DType } from './dtype.js';

export type FormatName = 'dense' | 'csr' | 'bitmap' | 'nm' | 'tiled-csl';
export type PartName = 'values' | 'rowPtr' | 'colIdx' | 'masks' | 'words' | 'tileOffsets' | 'scales' | 'zeros';
export type Parts = Partial<Record<PartName, ArrayBufferView | ArrayBuffer>>;

/**
 * A matrix for the native layer: `handle` (native-owned, validated parts; matrix_binding.cpp) for a
 * SparseMatrix, or `parts.values` for a dense Tensor used as a weight.
 */
export interface MatrixDesc {
  format: FormatName;
  dtype: DType;
  rows: number;
  cols: number;
  n?: number;
  m?: number;
  /** Quantized values (dtype 'uint8' codes): formats/quant.h. */
  quant?: QuantSpecNative;
  handle?: NativeMatrixHandle;
  parts?: Parts;
}

/**
 * The values of MatmulOptions.activations, as the native call takes them (native/cpu/spmm.h
 * ActivationRounding): what the kernels may round float activations to.
 */
export const ACTIVATIONS = ['float32', 'bfloat16', 'int8'] as const;
export type Activations = (typeof ACTIVATIONS)[number];

export interface QuantSpecNative {
  bits: number;
  groupSize: number;
  symmetric: boolean;
}

/** Opaque native SparseMatrix storage (an N-API external). */
export type NativeMatrixHandle = { readonly __nativeMatrix: unique symbol };
/** What matrixFromParts and pack return. */
/** derivedBytes: kernel data the native matrix derives from its parts (code sums; formats.md), not a part. */
export interface NativeMatrix { handle: NativeMatrixHandle; partBytes: Partial<Record<PartName, number>>; nnz: number; derivedBytes: number }

/**
 * One product's operands besides the weight (native/addon/addon.cpp get_spmm_call): out[r * rowStride
 * + j * colStride] = sum_k a[r, k] * b(k, j) (+ bias[r]), b [K, N] when bIsKn, else [N, K].
 */
export interface SpmmArgs {
  b: Buf;
  bDtype: DType;
  bIsKn: boolean;
  n: number;
  /** MatmulOptions.activations: what the kernels may round float activations to (ActivationRounding). */
  activations?: Activations;
  bias?: Buf | null;
  biasDtype?: DType;
  out: Buf;
  outDtype: DType;
  rowStride: number;
  colStride: number;
}

export interface PackOptionsNative {
  format: FormatName;
  n?: number;
  m?: number;
  mask?: Uint8Array | null;
  prune?: boolean;
  /** Quantize the kept values; with scales (and zeros), round to that grid instead of fitting one. */
  quant?: QuantSpecNative;
  scales?: Uint16Array;
  zeros?: Uint8Array;
}

type Buf = ArrayBufferView | ArrayBuffer;

/** One safetensors header entry as the native reader validated it. */
export interface StEntry { name: string; dtype: string; shape: number[]; begin: number; end: number }
export interface StOpened {
  handle: object;
  tensors: StEntry[];
  metadata: Record<string, string>;
  dataOffset: number;
  fileSize: number;
}

/** Opaque handles to device memory / device weights (N-API externals). */
export type DeviceHandle = { readonly __device: unique symbol };
export type MatrixHandle = { readonly __matrix: unique symbol };

/** cuda_api.h SkSpmmArgs: backend 0 auto / 1 ours / 2 library; layout 0 x [N, K] / 1 b [K, N]. */
export interface CudaSpmmOptions {
  backend: 0 | 1 | 2;
  layout: 0 | 1;
  bias: DeviceHandle | null;
  biasDtype?: DType;
  /** cudaSelectedKernel only: decide as if a bias were given. */
  hasBias?: boolean;
  /** int4 weights: the activations' dtype (float16 or bfloat16). */
  xDtype?: DType;
}
/** The implementation that ran (or would run) and, for 2:4 weights, why cuSPARSELt did not. */
export interface CudaRun { kernel: string; note: string }

export interface CudaInfoNative {
  reason?: string | null;
  cublasLt?: string | null;
  cublasLtReason?: string | null;
  cusparseLt?: string | null;
  cusparseLtReason?: string | null;
  devices: { id: number; name: string; computeCapability: string; memoryBytes: number; smCount: number }[];
}

export interface AttentionShapeNative {
  batch: number;
  tokens: number;
  past: number;
  capacity: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  scale: number;
}

export interface NativeAddon {
  convert(src: Buf, srcDtype: DType, dst: Buf, dstDtype: DType): void;
  fillRandom(dst: Buf, dtype: DType, seed: bigint, dist: 'uniform' | 'normal', a: number, b: number): void;
  pack(dense: Buf, dtype: DType, rows: number, cols: number, opt: PackOptionsNative): NativeMatrix;
  packAsync(dense: Buf, dtype: DType, rows: number, cols: number, opt: PackOptionsNative): Promise<NativeMatrix>;
  unpack(m: MatrixDesc, out: Buf): void;
  unpackAsync(m: MatrixDesc, out: Buf): Promise<void>;
  // native/addon/matrix_binding.cpp: copies the parts, validates the copy, owns it.
  matrixFromParts(m: MatrixDesc): NativeMatrix;
  /** A copy of one part. */
  matrixPart(h: NativeMatrixHandle, part: PartName): ArrayBuffer;
  /** Frees the parts now (work in flight keeps its own reference). Idempotent. */
  matrixDispose(h: NativeMatrixHandle): void;
  /** With `slorb`, SLoRB's term is added inside the product's row loop (native/cpu/spmm.h RowEpilogue). */
  spmm(m: MatrixDesc, args: SpmmArgs, slorb?: object | null): void;
  spmmAsync(m: MatrixDesc, args: SpmmArgs, slorb?: object | null): Promise<void>;
  kernelName(m: MatrixDesc, n: number, xDtype?: string, activations?: Activations): string;
  /** The ids of the CPU kernel table (native/cpu/spmm_kernel_list.inc); names are `<id>_<dtype>_<isa>`. */
  spmmKernelIds(): string[];
  /** The quantized CPU kernels (native/cpu/qspmm_kernel_list.inc), by the name selectedKernel reports. */
  qspmmKernelNames(): string[];
  setNumThreads(n: number): void;
  getNumThreads(): number;
  cpuInfo(): { features: Record<string, boolean>; vendor: string; family: number; isa: string; supportedIsas: string[] };
  setIsa(isa: string): boolean;
  probeReadBandwidth(bytes: number, reps: number): number;
  /** The read probe over memory the caller already has (e.g. a cold bench's weight copies), one buffer after another. */
  probeReadBuffers(buffers: (ArrayBufferView | ArrayBuffer)[], reps: number): number;
  probeFmaPeak(iters: number, reps: number): number;
  probeBf16DotPeak(iters: number, reps: number): number;
  // native/addon/io_binding.cpp
  stOpen(path: string): StOpened;
  stOpenAsync(path: string): Promise<StOpened>;
  stTensor(handle: object, index: number): ArrayBuffer;
  stRelease(handle: object, index: number): void;
  /** A packed matrix copied from the mapping (parts named by tensor index) and validated from the copy. */
  stMatrix(handle: object, desc: Omit<MatrixDesc, 'parts' | 'handle'> & { parts: Partial<Record<PartName, number>> }): NativeMatrix;
  stClose(handle: object): void;
  stWriterCreate(path: string, reserve: number): object;
  stWriterAppend(handle: object, name: string, dtype: string, shape: number[], data: Buf): void;
  stWriterAppendAsync(handle: object, name: string, dtype: string, shape: number[], data: Buf): Promise<void>;
  stWriterFinish(handle: object, metadata: Record<string, string>): void;
  stWriterFinishAsync(handle: object, metadata: Record<string, string>): Promise<void>;
  stWriterAbort(handle: object): void;
  /** Removes the temp files of every unfinished writer of this process (signal handlers). */
  stRemoveTempFiles(): void;
  // solvers (native/addon/solvers_binding.cpp)
  calibCreate(k: number, hessian: boolean): StatsHandle;
  calibAdd(h: StatsHandle, x: Buf, dtype: DType, rows: number): void;
  calibAddAsync(h: StatsHandle, x: Buf, dtype: DType, rows: number): Promise<void>;
  calibMerge(h: StatsHandle, other: StatsHandle): void;
  calibInfo(h: StatsHandle): { k: number; hessian: boolean; tokens: number; batches: number; bytes: number };
  calibRead(h: StatsHandle, which: 'sumsq' | 'sum' | 'hessian'): ArrayBuffer;
  calibDispose(h: StatsHandle): void;
  pruneMagnitude(w: Buf, dtype: DType, rows: number, cols: number, opt: PatternNative & { perRow: boolean; inPlace: boolean }): PruneResultNative;
  pruneMagnitudeAsync(w: Buf, dtype: DType, rows: number, cols: number, opt: PatternNative & { perRow: boolean; inPlace: boolean }): Promise<PruneResultNative>;
  pruneWanda(w: Buf, dtype: DType, rows: number, cols: number, stats: StatsHandle, opt: PatternNative & { alphaSearch: boolean; inPlace: boolean }): PruneResultNative;
  pruneWandaAsync(w: Buf, dtype: DType, rows: number, cols: number, stats: StatsHandle,
                  opt: PatternNative & { alphaSearch: boolean; inPlace: boolean }): Promise<PruneResultNative>;
  pruneRia(w: Buf, dtype: DType, rows: number, cols: number, stats: StatsHandle, opt: PatternNative & { a: number; permute: boolean; refine: boolean; reconstruct: boolean; damping: number }, control?: Int32Array): Promise<PruneResultNative>;
  pruneDsnot(w: Buf, dtype: DType, rows: number, cols: number, stats: StatsHandle,
             opt: PatternNative & { initial: string; maxCycles: number; updateThreshold: number; powOfVar: number; sameSign: boolean; checkError: boolean; damping: number },
             control: Int32Array): Promise<PruneResultNative>;
  pruneAlps(w: Buf, dtype: DType, rows: number, cols: number, stats: StatsHandle,
            opt: PatternNative & { rho: number; maxIter: number; updateIter: number; switchIter: number; cgIter: number; cgRtol: number; damping: number },
            control: Int32Array): Promise<PruneResultNative>;
  pruneSparseGpt(w: Buf, dtype: DType, rows: number, cols: number, stats: StatsHandle,
                 opt: PatternNative & { blockSize: number; damping: number; quantizeBits: number; quantizeGroup?: number; quantizeSymmetric?: boolean },
                 control: Int32Array): Promise<PruneResultNative>;
  solverKernelName(): string;
  /** Float64 eigen-decomposition of a symmetric n×n matrix: values descending, vectors as columns (row-major). */
  symmetricEigen(a: Float64Array, n: number, control?: Int32Array): Promise<{ values: ArrayBuffer; vectors: ArrayBuffer }>;
  // native/addon/slorb_binding.cpp: SLoRB's added term S(Px) (lib/slorb.ts builds the arguments)
  slorbAdd(args: object): void;
  slorbAddAsync(args: object): Promise<void>;
  // whole models (native/addon/model_binding.cpp): float32 activations, row-major [tokens, features]
  modelRmsNorm(x: Float32Array, rows: number, cols: number, w: Buf, wDtype: DType, eps: number, out: Float32Array): void;
  modelRope(x: Float32Array, rows: number, heads: number, headDim: number, positions: Int32Array, invFreq: Float32Array): void;
  modelAttention(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, shape: AttentionShapeNative): void;
  modelAttentionAsync(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, shape: AttentionShapeNative): Promise<void>;
  modelSwiglu(gate: Float32Array, up: Float32Array): void;
  modelEmbed(ids: Int32Array, table: Buf, dtype: DType, vocab: number, cols: number, out: Float32Array): void;
  modelNll(logits: Float32Array, rows: number, vocab: number, targets: Int32Array): [sum: number, count: number];

  // GPU (native/addon/cuda_bridge.cpp): libsparsekit_cuda is found at run time.
  cudaLoad(paths: string[]): { loaded: boolean; path: string | null; reason: string | null; build: string | null };
  cudaInfo(): CudaInfoNative;
  cudaAlloc(device: number, bytes: number): DeviceHandle;
  cudaFree(h: DeviceHandle): void;
  cudaCopyAsync(h: DeviceHandle, host: Buf, toDevice: boolean): Promise<void>;
  /** With `slorb` (lib/slorb.ts slorbTermArgs), the weight's SLoRB term is uploaded with it. */
  cudaUploadMatrixAsync(device: number, m: MatrixDesc, slorb?: object | null): Promise<MatrixHandle>;
  cudaReleaseMatrix(h: MatrixHandle): void;
  /** Device bytes a weight holds: its parts, any cuSPARSELt copy, its SLoRB term. */
  cudaMatrixBytes(h: MatrixHandle): number;
  /** y = x * Wᵀ (+ bias) on the device; resolves with the implementation that ran. */
  cudaSpmmAsync(m: MatrixHandle, x: DeviceHandle, n: number, outDtype: DType, y: DeviceHandle, splitK: number,
                options: CudaSpmmOptions): Promise<CudaRun>;
  /** Median milliseconds of `iters` CUDA-event-timed runs, L2 flushed before each. */
  cudaBenchAsync(m: MatrixHandle, x: DeviceHandle, n: number, outDtype: DType, y: DeviceHandle, splitK: number,
                 options: CudaSpmmOptions, iters: number): Promise<CudaRun & { ms: number }>;
  /** What cudaSpmmAsync would run now for these arguments (nothing runs). */
  cudaSelectedKernel(m: MatrixHandle, x: null, n: number, outDtype: DType, y: null, splitK: number, options: CudaSpmmOptions): CudaRun;
  cudaMemory(device: number): { free: number; total: number };
}

/** An opaque native CalibrationStats handle. */
export type StatsHandle = { readonly __statsHandle: unique symbol };

/** sparsity for unstructured (n = m = 0), or n kept of every m. */
export interface PatternNative {
  sparsity: number;
  n: number;
  m: number;
}

export interface PruneResultNative {
  /** null when the weight was written in place. */
  weight: ArrayBuffer | null;
  mask: ArrayBuffer;
  pruned: number;
  loss: number;
  alpha: number;
  dampingUsed: number;
  retries: number;
  deadColumns: number;
  scale?: ArrayBuffer;
  zero?: ArrayBuffer;
  /** sparsegpt with quantizeGroup: fp16 scale bits and uint8 zero points, [rows, cols / group]. */
  groupScale?: ArrayBuffer;
  groupZero?: ArrayBuffer;
  /** ria with permute: int32 input channel per output column; Σ kept scores before / after (N:M). */
  perm?: ArrayBuffer;
  retainedBefore?: number;
  retainedAfter?: number;
  /** dsnot */
  swaps?: number;
  /** alps */
  iterations?: number;
  rho?: number;
}

/** The package root: the nearest folder upwards holding sparsekit's package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && JSON.parse(readFileSync(pj, 'utf8')).name === 'sparsekit') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('sparsekit: cannot find the package root');
    dir = up;
  }
}

let addon: NativeAddon | undefined;

/** The addon, loaded on first use (lib/addon-loader.ts: throws ERR_NATIVE when none loads). */
export function loadNative(): NativeAddon {
  return (addon ??= loadAddon<NativeAddon>(packageRoot()));
}

/** The addon's functions; the addon itself is loaded by the first call through this object. */
export const native: NativeAddon = new Proxy({} as NativeAddon, {
  get: (_t, key) => loadNative()[key as keyof NativeAddon],
  has: (_t, key) => key in loadNative(),
});
