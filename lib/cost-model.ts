/**
 * The CPU cost model behind `SparseMatrix.fromDense(w, { format: 'auto' })`: a roofline per format,
 * time = max(bytes / bandwidth, compute), with compute made of the dense FMA work the kernels do
 * ("load sparse, compute dense"), the per-32-column decode of bitmap / N:M, and the per-nonzero
 * gather of CSR. docs/kernels.md explains the constants; `npm run bench` prints the model's
 * prediction next to every measurement and reports whether 'auto' picked the fastest format.
 */
import type { FloatDType } from './dtype.js';
import { cpuInfo, type Isa } from './runtime.js';

export interface MachineModel {
  /** Sustained read bandwidth of all threads together, GB/s. */
  bandwidthGBs: number;
  /** fp32 FMA peak of all threads, GFLOP/s, and the fraction of it the blocked GEMM reaches. */
  fmaGflops: number;
  gemmEfficiency: number;
  /** Factor on that efficiency when N fits one vector (fewer independent accumulators per row block). */
  gemmOneVectorFactor: number;
  threads: number;
  /** Floats per vector: the blocked and outer kernels pad N to a multiple of it. */
  vectorFloats: number;
  /**
   * Per core, ns per 32-column chunk: bitmap / N:M decode into registers (N <= 4), widening of
   * 16-bit dense rows (N <= 4), decode of any non-fp32 row into the blocked GEMM's scratch (N > 4),
   * and the FMAs per activation vector.
   */
  decodeNsPerChunk: number;
  /** The same decode for fp32 values (AVX2 permutes 8 floats per byte of mask, twice the bf16 cost). */
  decodeF32NsPerChunk: number;
  widenNsPerChunk: number;
  scratchNsPerChunk: number;
  /** Extra scratch cost of a bitmap / N:M row over a 16-bit dense row (the mask decode). */
  maskScratchExtraNs: number;
  fmaNsPerChunk: number;
  /** Per core, ns per stored element: CSR gather (N = 1), and outer product per 16 columns of N (N > 1). */
  csrGatherNs: number;
  outerNs: number;
  /** The least the outer product costs per nonzero, as a fraction of outerNs (index and broadcast work does not shrink with N). */
  outerMinScale: number;
  /** Bitmap / N:M at N > 4 below this density run the outer product (VT::kOuterDensity in native/cpu). */
  outerDensity: number;
  /** Their column indices come from the mask bits: ns per 32-column chunk, and a factor on outerNs. */
  maskColsNsPerChunk: number;
  outerMaskFactor: number;
  /**
   * The vdpbf16ps kernels (bf16 weights times bf16 activations, CPUs with AVX512-BF16; absent
   * elsewhere): their peak of all threads (GFLOP/s) and GEMM efficiency (N > 4), the efficiency
   * factor when N fits one vector of 16 (above octsMaxN) or up to octsMaxN (the GEMM on eight k per
   * broadcast, N in vectors of 4), and per core ns per 32-column chunk: the bitmap / N:M decode and
   * the dense load at N <= 4, one dot product per activation vector, and the bitmap / N:M decode
   * into the GEMM's bf16 scratch. Below outerDensity at N > 4 bitmap / N:M skip their zeros (the
   * pairs kernel, N <= pairsMaxN): per core ns per 32-column chunk of mask decode, and per pair of
   * kept values per 16 columns of N. At 4 < N <= octsMaxN bitmap / N:M decode in registers into
   * the eight-k GEMM (expandNsPerChunk instead of scratchNsPerChunk) and skip zeros only below
   * octsSkipDensity. CSR at 4 < N <= colsMaxN (the cols kernel): per core ns per pair of kept
   * values (its indices read in place, no decode).
   */
  bf16Dot?: {
    gflops: number; gemmEfficiency: number; oneVectorFactor: number; octsMaxN: number; octsFactor: number;
    decodeNsPerChunk: number; denseNsPerChunk: number; dotNsPerChunk: number; scratchNsPerChunk: number;
    pairsDecodeNsPerChunk: number; pairsNsPerPair: number; pairsMaxN: number;
    colsNsPerPair: number; colsMaxN: number; expandNsPerChunk: number; octsSkipDensity: number;
  };
}

/**
 * AVX-512, measured on the first development machine (AMD Zen 4/5 class EPYC, 2 threads) with
 * single-thread in-cache microbenchmarks (minimum of many runs); docs/kernels.md has the numbers.
 */
export const AVX512_MACHINE: MachineModel = {
  bandwidthGBs: 40,
  fmaGflops: 400,
  gemmEfficiency: 0.6,
  gemmOneVectorFactor: 1,
  threads: 2,
  vectorFloats: 16,
  decodeNsPerChunk: 1.2,
  decodeF32NsPerChunk: 1.2,
  widenNsPerChunk: 1.2,
  scratchNsPerChunk: 1.2,
  maskScratchExtraNs: 0,
  fmaNsPerChunk: 0.3,
  csrGatherNs: 0.38,
  outerNs: 1.6,
  outerMinScale: 1,
  outerDensity: 0.25,
  maskColsNsPerChunk: 0,
  outerMaskFactor: 1.3,
  bf16Dot: {
    gflops: 728, gemmEfficiency: 0.6, oneVectorFactor: 0.7, octsMaxN: 16, octsFactor: 0.9,
    decodeNsPerChunk: 0.85, denseNsPerChunk: 0.3, dotNsPerChunk: 0.15, scratchNsPerChunk: 3.5,
    pairsDecodeNsPerChunk: 1.5, pairsNsPerPair: 1.8, pairsMaxN: 2048,
    colsNsPerPair: 1.6, colsMaxN: 16, expandNsPerChunk: 2.0, octsSkipDensity: 0.15,
  },
};

/** AVX2 (+FMA, F16C), measured the same way on an AMD Zen 3 EPYC (2 threads, no AVX-512). */
export const AVX2_MACHINE: MachineModel = {
  bandwidthGBs: 40,
  fmaGflops: 204,
  gemmEfficiency: 0.8,
  gemmOneVectorFactor: 0.65,
  threads: 2,
  vectorFloats: 8,
  decodeNsPerChunk: 2.0,
  decodeF32NsPerChunk: 5.4,
  widenNsPerChunk: 1.1,
  scratchNsPerChunk: 2.5,
  maskScratchExtraNs: 4.0,
  fmaNsPerChunk: 0.6,
  csrGatherNs: 0.5,
  outerNs: 1.3,
  outerMinScale: 0.85,
  outerDensity: 0.35,
  maskColsNsPerChunk: 3.4,
  outerMaskFactor: 1.0,
};

/**
 * AVX2 on AMD family 17h (Zen, Zen+, Zen 2): the same kernels decode 16-bit bitmap / n:m chunks and
 * run CSR's and the outer products' nonzeros slower than on Zen 3. Measured on a 2-core Zen 2 EPYC
 * (docs/kernels.md, seventeenth session): bf16 / f16 bitmap and 2:4 GEMVs at 3.2-3.9 ns per
 * 32-column chunk and thread with the FMA (Zen 3: 2.6), CSR and the bitmap outer product at N = 16
 * 1.44-1.59 ns per nonzero (Zen 3: 1.3). With Zen 3's constants 'auto' picked bitmap / 2:4 bf16 at
 * N = 1 and CSR at N = 16 where dense was 5-28% faster.
 */
export const AVX2_ZEN2_MACHINE: MachineModel = { ...AVX2_MACHINE, decodeNsPerChunk: 3.0, outerNs: 1.6 };

/** The portable kernels: AVX2's shape (8-float arrays) at roughly twice its cost per element. */
export const PORTABLE_MACHINE: MachineModel = {
  ...AVX2_MACHINE, bf16Dot: undefined, fmaGflops: 100, decodeNsPerChunk: 4, decodeF32NsPerChunk: 6, widenNsPerChunk: 2, scratchNsPerChunk: 8, outerDensity: 0.25,
};

/** The model for an ISA: by default the one the kernels dispatch to now (setIsa / SPARSEKIT_ISA). */
export function machineModel(isa: Isa = cpuInfo().isa): MachineModel {
  if (isa === 'avx512') return cpuInfo().features.avx512bf16 ? AVX512_MACHINE : { ...AVX512_MACHINE, bf16Dot: undefined };
  if (isa !== 'avx2') return PORTABLE_MACHINE;
  const c = cpuInfo();
  return c.vendor === 'amd' && c.family === 0x17 ? AVX2_ZEN2_MACHINE : AVX2_MACHINE;
}

/** N up to this runs the fused (decode into registers) kernels; above it the blocked GEMM. */
export const FUSED_MAX_N = 4;

export type CpuFormat = 'dense' | 'bitmap' | 'nm' | 'csr';

export interface WeightStats {
  rows: number;
  cols: number;
  dtype: FloatDType;
  /** Stored (kept) elements. */
  nnz: number;
  /** The smallest n:m (2:4 or 4:8) every group of the weight fits, if any. */
  nm?: { n: number; m: number };
  /**
   * The dtype of the activations as the kernels see them (default float32): bfloat16 activations
   * with bfloat16 weights run the vdpbf16ps kernels where the machine model has them (bf16Dot). Float
   * activations passed with MatmulOptions.activations 'bfloat16' count as bfloat16 (they are rounded).
   */
  activations?: FloatDType;
}

const valueBytes = (d: FloatDType) => (d === 'float32' ? 4 : 2);

/** Bytes each format stores for this weight (what a memory-bound kernel must read). */
export function formatBytes(format: CpuFormat, w: WeightStats): number {
  const b = valueBytes(w.dtype);
  const el = w.rows * w.cols;
  switch (format) {
    case 'dense': return el * b;
    case 'bitmap': return w.rows * Math.ceil(w.cols / 32) * 4 + w.nnz * b + 4 * (w.rows + 1);
    case 'nm': {
      const { n, m } = w.nm ?? { n: 2, m: 4 };
      const groups = Math.ceil(w.cols / m);
      return w.rows * Math.ceil((groups * m) / 32) * 4 + w.rows * groups * n * b;
    }
    case 'csr': return w.nnz * (b + 4) + 4 * (w.rows + 1);
  }
}

/** Predicted seconds for one product of this weight with N activation vectors, following the kernel table. */
export function predictSeconds(format: CpuFormat, w: WeightStats, n: number, mc: MachineModel = machineModel()): number {
  const el = w.rows * w.cols;
  const mem = formatBytes(format, w) / (mc.bandwidthGBs * 1e9);
  const chunks = el / 32 / mc.threads;  // per thread
  const nnzT = w.nnz / mc.threads;
  const nv = Math.ceil(n / mc.vectorFloats) * mc.vectorFloats;  // blocked and outer kernels: whole vectors of N
  const outer = Math.max(nv / 16, mc.outerMinScale) * mc.outerNs;  // per nonzero
  const gemm = (2 * el * nv) / (mc.fmaGflops * 1e9 * mc.gemmEfficiency * (nv === mc.vectorFloats ? mc.gemmOneVectorFactor : 1));
  const density = format === 'nm' && w.nm ? w.nm.n / w.nm.m : w.nnz / Math.max(el, 1);
  const f32Dense = format === 'dense' && w.dtype === 'float32';  // rows read in place, no decode
  const bf16Any = mc.bf16Dot && w.dtype === 'bfloat16' && w.activations === 'bfloat16' ? mc.bf16Dot : undefined;
  const cols = bf16Any && format === 'csr' && n > FUSED_MAX_N && n <= bf16Any.colsMaxN ? bf16Any : undefined;
  const bf16Dot = format !== 'csr' ? bf16Any : undefined;
  const skipBelow = bf16Dot && n <= bf16Dot.octsMaxN ? bf16Dot.octsSkipDensity : mc.outerDensity;
  const skip = n > FUSED_MAX_N && format !== 'dense' && density < skipBelow;  // the skip-zeros kernels
  const pairs = bf16Dot && skip && n <= bf16Dot.pairsMaxN ? bf16Dot : undefined;
  const dot = skip ? undefined : bf16Dot;
  let compute: number;
  if (cols) {
    compute = (nnzT / 2) * cols.colsNsPerPair * 1e-9;
  } else if (pairs) {
    compute = (chunks * pairs.pairsDecodeNsPerChunk + (nnzT / 2) * (nv / 16) * pairs.pairsNsPerPair) * 1e-9;
  } else if (dot) {
    if (n <= FUSED_MAX_N) {
      compute = chunks * ((format === 'dense' ? dot.denseNsPerChunk : dot.decodeNsPerChunk) + n * dot.dotNsPerChunk) * 1e-9;
    } else {
      const octs = n <= dot.octsMaxN;
      const nvDot = octs ? Math.ceil(n / 4) * 4 : nv;
      const factor = octs ? dot.octsFactor : nv === mc.vectorFloats ? dot.oneVectorFactor : 1;
      compute = (2 * el * nvDot) / (dot.gflops * 1e9 * dot.gemmEfficiency * factor) +
        chunks * (format === 'dense' ? 0 : octs ? dot.expandNsPerChunk : dot.scratchNsPerChunk) * 1e-9;
    }
  } else if (format === 'csr') {
    compute = n === 1 ? nnzT * mc.csrGatherNs * 1e-9 : nnzT * outer * 1e-9;
  } else if (n <= FUSED_MAX_N) {
    const decode = f32Dense ? 0 : format === 'dense' ? mc.widenNsPerChunk : w.dtype === 'float32' ? mc.decodeF32NsPerChunk : mc.decodeNsPerChunk;
    compute = chunks * (decode + n * mc.fmaNsPerChunk) * 1e-9;
  } else if (format !== 'dense' && density < mc.outerDensity) {
    compute = (nnzT * outer * mc.outerMaskFactor + chunks * mc.maskColsNsPerChunk) * 1e-9;
  } else {
    compute = gemm + chunks * (f32Dense ? 0 : mc.scratchNsPerChunk + (format === 'dense' ? 0 : mc.maskScratchExtraNs)) * 1e-9;
  }
  return Math.max(mem, compute);
}

export interface FormatChoice {
  format: CpuFormat;
  n?: number;
  m?: number;
  predictedSeconds: number;
  /** Every candidate's prediction, for reports. */
  candidates: Partial<Record<CpuFormat, number>>;
}

/** The format with the smallest predicted time (ties go to the smaller one in bytes). */
export function chooseFormat(w: WeightStats, n = 1, mc: MachineModel = machineModel()): FormatChoice {
  const cands: CpuFormat[] = ['dense', 'bitmap', 'csr'];
  if (w.nm) cands.push('nm');
  const candidates: Partial<Record<CpuFormat, number>> = {};
  let best: CpuFormat = 'dense';
  for (const f of cands) {
    const t = predictSeconds(f, w, n, mc);
    candidates[f] = t;
    const bt = candidates[best]!;
    if (t < bt * 0.999 || (t <= bt * 1.001 && formatBytes(f, w) < formatBytes(best, w))) best = f;
  }
  return { format: best, ...(best === 'nm' ? w.nm : {}), predictedSeconds: candidates[best]!, candidates };
}

/** Kept elements and the n:m patterns every group fits (groups restart at each row; a partial last group counts as padded). */
export interface KeptCounts {
  nnz: number;
  fits24: boolean;
  fits48: boolean;
}

/**
 * Counts the kept elements of a [rows, cols] weight: those with mask[i] != 0, or without a mask
 * the nonzeros (+0 and -0 are zeros, NaN is kept), and checks the 2:4 and 4:8 patterns.
 */
export function countKept(values: Float32Array | Uint16Array, rows: number, cols: number, mask: Uint8Array | null = null): KeptCounts {
  if (!mask && cols % 8 === 0) {
    if (values instanceof Float32Array) return countFloatBits(new Uint32Array(values.buffer, values.byteOffset, values.length), 0x7fffffff, 31);
    return countFloatBits(values, 0x7fff, 15);
  }
  const keep = mask ? (i: number) => mask[i] !== 0
    : values instanceof Float32Array ? (i: number) => values[i] !== 0 : (i: number) => (values[i]! & 0x7fff) !== 0;
  let nnz = 0;
  let fits24 = true, fits48 = true;
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let g4 = 0, g8 = 0;
    for (let c = 0; c < cols; c++) {
      if (keep(base + c)) { nnz++; g4++; g8++; }
      if ((c & 3) === 3 || c === cols - 1) { if (g4 > 2) fits24 = false; g4 = 0; }
      if ((c & 7) === 7 || c === cols - 1) { if (g8 > 4) fits48 = false; g8 = 0; }
    }
  }
  return { nnz, fits24, fits48 };
}

// Rows a multiple of 8 long, no mask: branch-free, eight elements (two 4-groups, one 8-group) per
// step; ((bits & mask) + mask) >>> shift is 1 for a nonzero and 0 for ±0. About 4x the loop above.
function countFloatBits(u: Uint16Array | Uint32Array, mask: number, shift: number): KeptCounts {
  let nnz = 0, fits24 = true, fits48 = true;
  for (let i = 0; i < u.length; i += 8) {
    const g1 = (((u[i]! & mask) + mask) >>> shift) + (((u[i + 1]! & mask) + mask) >>> shift) +
      (((u[i + 2]! & mask) + mask) >>> shift) + (((u[i + 3]! & mask) + mask) >>> shift);
    const g2 = (((u[i + 4]! & mask) + mask) >>> shift) + (((u[i + 5]! & mask) + mask) >>> shift) +
      (((u[i + 6]! & mask) + mask) >>> shift) + (((u[i + 7]! & mask) + mask) >>> shift);
    nnz += g1 + g2;
    if (g1 > 2 || g2 > 2) fits24 = false;
    if (g1 + g2 > 4) fits48 = false;
  }
  return { nnz, fits24, fits48 };
}

/** The cost model's input for a weight: its kept count and the smallest n:m (2:4, then 4:8) every group fits. */
export function weightStats(values: Float32Array | Uint16Array, rows: number, cols: number, dtype: FloatDType,
                            mask: Uint8Array | null): WeightStats {
  const { nnz, fits24, fits48 } = countKept(values, rows, cols, mask);
  const nm = fits24 ? { n: 2, m: 4 } : fits48 ? { n: 4, m: 8 } : undefined;
  return { rows, cols, dtype, nnz, ...(nm && nnz > 0 ? { nm } : {}) };
}
