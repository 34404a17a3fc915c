/**
 * The CPU cost model behind `SparseMatrix.fromDense(w, { format: 'auto' })`: a roofline per format,
 * time = max(bytes / bandwidth, compute), with compute made of the dense FMA work the kernels do
 * ("load sparse, compute dense"), the per-32-column decode of bitmap / N:M, and the per-nonzero
 * gather of CSR. docs/kernels.md explains the constants; `npm run bench` prints the model's
 * prediction next to every measurement and reports whether 'auto' picked the fastest format.
 */
import type { FloatDType } from './dtype.js';

export interface MachineModel {
  /** Sustained read bandwidth of all threads together, GB/s. */
  bandwidthGBs: number;
  /** fp32 FMA peak of all threads, GFLOP/s, and the fraction of it the dense GEMM reaches. */
  fmaGflops: number;
  gemmEfficiency: number;
  threads: number;
  /** Per core: ns to decode one 32-column chunk of a bitmap / N:M row (expand + convert). */
  decodeNsPerChunk: number;
  /** Per core: ns per stored CSR element for one activation vector (a gather), and per 16 vectors. */
  csrGatherNs: number;
  csrBroadcastNs: number;
}

/** Measured on the development machine (AMD Zen 4/5 class, 2 threads, AVX-512); see docs/kernels.md. */
export const DEFAULT_MACHINE: MachineModel = {
  bandwidthGBs: 40,
  fmaGflops: 400,
  gemmEfficiency: 0.4,
  threads: 2,
  decodeNsPerChunk: 0.8,
  csrGatherNs: 0.35,
  csrBroadcastNs: 0.5,
};

export type CpuFormat = 'dense' | 'bitmap' | 'nm' | 'csr';

export interface WeightStats {
  rows: number;
  cols: number;
  dtype: FloatDType;
  /** Stored (kept) elements. */
  nnz: number;
  /** The smallest n:m (2:4 or 4:8) every group of the weight fits, if any. */
  nm?: { n: number; m: number };
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

/** Predicted seconds for one product of this weight with N activation vectors. */
export function predictSeconds(format: CpuFormat, w: WeightStats, n: number, mc: MachineModel = DEFAULT_MACHINE): number {
  const el = w.rows * w.cols;
  const mem = formatBytes(format, w) / (mc.bandwidthGBs * 1e9);
  const denseFlops = (2 * el * n) / (mc.fmaGflops * 1e9 * mc.gemmEfficiency);
  const chunks = el / 32 / mc.threads;
  let compute: number;
  switch (format) {
    case 'dense': compute = denseFlops; break;
    case 'bitmap':
    case 'nm': compute = denseFlops + chunks * mc.decodeNsPerChunk * 1e-9; break;
    case 'csr':
      compute = n === 1 ? (w.nnz / mc.threads) * mc.csrGatherNs * 1e-9
        : (w.nnz / mc.threads) * Math.ceil(n / 16) * mc.csrBroadcastNs * 1e-9;
      break;
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
export function chooseFormat(w: WeightStats, n = 1, mc: MachineModel = DEFAULT_MACHINE): FormatChoice {
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

/**
 * Counts kept elements (a mask, or the nonzeros) and finds the smallest n:m pattern (2:4, then
 * 4:8) that every group of m consecutive columns of every row fits.
 */
export function weightStats(values: Float32Array | Uint16Array, rows: number, cols: number, dtype: FloatDType,
                            mask: Uint8Array | null): WeightStats {
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
  const nm = fits24 ? { n: 2, m: 4 } : fits48 ? { n: 4, m: 8 } : undefined;
  return { rows, cols, dtype, nnz, ...(nm && nnz > 0 ? { nm } : {}) };
}
