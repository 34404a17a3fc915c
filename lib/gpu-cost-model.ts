/**
 * `format: 'auto'` for the GPU: which format a weight should be uploaded in, by sparsity, structure
 * and N (docs/cuda.md, "format 'auto' on the GPU"). Two steps:
 *  1. the sparse candidate, by the sparsity windows where each kernel is built to win (SpInfer's
 *     bitmap at ~40-80% sparsity, Flash-LLM's Tiled-CSL from ~80%, the 2:4 path when every group
 *     of four keeps at most two);
 *  2. sparse against dense (cuBLASLt) by a roofline, time = max(bytes / bandwidth, flops / peak),
 *     with our mma.sync kernels reaching a smaller share of peak than cuBLASLt: at decode sizes
 *     (memory-bound) the smaller format wins, at large N (compute-bound) dense does.
 * The constants are H100 targets until `npm run bench:gpu` measures them; it reports whether this
 * choice was the fastest of the formats it ran.
 */
import type { WeightStats } from './cost-model.js';

export type GpuFormat = 'dense' | 'bitmap' | 'tiled-csl' | 'nm';

export interface GpuModel {
  /** HBM bandwidth, bytes/s (the bench:gpu floor uses the same number). */
  bandwidth: number;
  /** Dense fp16/bf16 tensor-core peak, flop/s (2:4 sparse tensor cores: twice this). */
  tensorFlops: number;
  /** Shares of bandwidth and of peak reached by NVIDIA's libraries and by our kernels. */
  libraryMemEfficiency: number;
  libraryComputeEfficiency: number;
  kernelMemEfficiency: number;
  kernelComputeEfficiency: number;
  /** fp32 CUDA-core peak, flop/s: SLoRB's row dots run there (default 67 TFLOP/s, H100 SXM). */
  simtFlops?: number;
}

/** H100 SXM: 3.35 TB/s HBM3 (3.0 used, as in bench:gpu), 989 TFLOP/s dense fp16. */
export const H100_MODEL: GpuModel = {
  bandwidth: 3.0e12,
  tensorFlops: 989e12,
  libraryMemEfficiency: 0.85,
  libraryComputeEfficiency: 0.7,
  kernelMemEfficiency: 0.75,
  kernelComputeEfficiency: 0.35,
};

/** The sparsity windows of step 1. */
export const GPU_AUTO_WINDOWS = { bitmapMinSparsity: 0.4, tiledCslMinSparsity: 0.8 } as const;

/**
 * An SLoRB term on the device (docs/adapters.md): k, bytes per element of S (2 for bf16, 1 for int8
 * codes), of its row scales (int8 S) and of a general P.
 */
export interface GpuSlorbTerm {
  groupSize: number;
  scaleBytes: number;
  rowScaleBytes?: number;
  projectionBytes?: number;
}

/** A weight's statistics plus, when it carries one, its SLoRB term. */
export type GpuWeightStats = WeightStats & { slorb?: GpuSlorbTerm };

/**
 * Bytes SLoRB's kernels move per product with N tokens: S (and its row scales), P when general, x
 * read again for the group sums, the fp32 group sums written and read, and the fp32 partial read
 * and written by slorb_add.
 */
export function gpuSlorbBytes(rows: number, cols: number, n: number, t: GpuSlorbTerm): number {
  const G = cols / t.groupSize;
  return rows * G * t.scaleBytes + rows * (t.rowScaleBytes ?? 0) + G * cols * (t.projectionBytes ?? 0) + 2 * n * cols + 8 * n * G + 8 * n * rows;
}

/**
 * Predicted seconds of SLoRB's kernels (launch_slorb_group_sums / _project, launch_slorb_add): they
 * run after the product, so their time adds to it. A roofline over gpuSlorbBytes at our kernels'
 * bandwidth share, and the row dots' 2·M·(K/k)·N flops (plus P's 2·(K/k)·K·N) on CUDA cores.
 */
export function predictGpuSlorbSeconds(rows: number, cols: number, n: number, t: GpuSlorbTerm, model: GpuModel = H100_MODEL): number {
  const G = cols / t.groupSize;
  const mem = gpuSlorbBytes(rows, cols, n, t) / (model.bandwidth * model.kernelMemEfficiency);
  const flops = 2 * n * G * (rows + (t.projectionBytes ? cols : 0));
  return Math.max(mem, flops / ((model.simtFlops ?? 67e12) * model.kernelComputeEfficiency));
}

/** Bytes of the weight in each GPU layout (16-bit values; docs/cuda.md "GPU layouts"). */
export function gpuFormatBytes(format: GpuFormat, w: WeightStats): number {
  const el = w.rows * w.cols;
  switch (format) {
    case 'dense': return 2 * el;
    case 'bitmap': return el / 8 + 2 * w.nnz + 4 * Math.ceil(w.rows / 16) * Math.ceil(w.cols / 64);
    case 'tiled-csl': return 4 * w.nnz + 4 * Math.ceil(w.rows / 128) * Math.ceil(w.cols / 64);
    case 'nm': return el + el / 8;  // half the values, 4 metadata bits per group of 4
  }
}

/**
 * Predicted seconds of one product with N activation vectors (fp16, N padded to the mma's 8), plus
 * SLoRB's kernels when the weight carries a term (then 2:4 runs on our kernel: cuSPARSELt has no
 * epilogue for it).
 */
export function predictGpuSeconds(format: GpuFormat, w: GpuWeightStats, n: number, model: GpuModel = H100_MODEL): number {
  const library = format === 'dense' || (format === 'nm' && !w.slorb);  // nm: cuSPARSELt or ours, whichever is faster
  const bytes = gpuFormatBytes(format, w) + 2 * n * (w.rows + w.cols);
  const mem = bytes / (model.bandwidth * (library ? model.libraryMemEfficiency : model.kernelMemEfficiency));
  const flops = (2 * w.rows * w.cols * Math.ceil(n / 8) * 8) / (format === 'nm' ? 2 : 1);
  const compute = flops / (model.tensorFlops * (library ? model.libraryComputeEfficiency : model.kernelComputeEfficiency));
  return Math.max(mem, compute) + (w.slorb ? predictGpuSlorbSeconds(w.rows, w.cols, n, w.slorb, model) : 0);
}

export interface GpuFormatChoice {
  format: GpuFormat;
  n?: number;
  m?: number;
  predictedSeconds: number;
  candidates: Partial<Record<GpuFormat, number>>;
  /** One line saying why, for reports. */
  reason: string;
}

/** Step 1 then step 2 (see the top of this file). */
export function chooseGpuFormat(w: GpuWeightStats, n = 1, model: GpuModel = H100_MODEL): GpuFormatChoice {
  const el = w.rows * w.cols;
  const sparsity = el === 0 ? 0 : 1 - w.nnz / el;
  const is24 = w.nm?.n === 2 && w.nm.m === 4;
  const window: GpuFormat | null = sparsity >= GPU_AUTO_WINDOWS.tiledCslMinSparsity ? 'tiled-csl'
    : sparsity >= GPU_AUTO_WINDOWS.bitmapMinSparsity ? 'bitmap' : null;
  const sparse = [...(is24 ? ['nm' as const] : []), ...(window ? [window] : [])];
  const candidates: Partial<Record<GpuFormat, number>> = { dense: predictGpuSeconds('dense', w, n, model) };
  for (const f of sparse) candidates[f] = predictGpuSeconds(f, w, n, model);
  const pct = `${(sparsity * 100).toFixed(0)}% sparse${is24 ? ', 2:4' : ''}`;
  if (sparse.length === 0) {
    return { format: 'dense', predictedSeconds: candidates.dense!, candidates,
      reason: `${pct}: below the ${GPU_AUTO_WINDOWS.bitmapMinSparsity * 100}% where bitmap starts to pay, and not 2:4` };
  }
  const best = sparse.reduce((a, b) => (candidates[b]! < candidates[a]! ? b : a));
  const wins = candidates[best]! < candidates.dense!;
  const format = wins ? best : 'dense';
  return {
    format, ...(format === 'nm' ? { n: 2, m: 4 } : {}), predictedSeconds: candidates[format]!, candidates,
    reason: `${pct}: ${best} ${wins ? 'beats' : 'loses to'} cuBLASLt dense at N = ${n} ` +
      `(${(candidates[best]! * 1e6).toFixed(1)} vs ${(candidates.dense! * 1e6).toFixed(1)} us predicted)`,
  };
}

/** An int4 weight on the GPU (docs/cuda.md "int4 weights"): its format, group size and zero points. */
export interface GpuInt4Weight {
  format: 'dense' | 'nm';
  rows: number;
  cols: number;
  groupSize: number;
  symmetric: boolean;
  /** An SLoRB term carried with it. */
  slorb?: GpuSlorbTerm;
}

/**
 * Bytes of an int4 weight in the GPU layouts of the q4 kernels: rows padded to 16 and K to 64;
 * 4-bit codes (2:4: of the kept half, plus one 32-bit metadata word per lane per 16 x 64 block,
 * 1/8 byte per weight), one fp16 scale per row and group, and asymmetric one zero point per row and
 * group held in 16 bits. For aligned shapes and symmetric grids this is the host matrix's byteLength.
 */
export function gpuInt4Bytes(w: GpuInt4Weight): number {
  const rows = Math.ceil(w.rows / 16) * 16, cols = Math.ceil(w.cols / 64) * 64;
  const codes = w.format === 'nm' ? rows * cols / 4 + rows * cols / 8 : rows * cols / 2;
  return codes + rows * (w.cols / w.groupSize) * (w.symmetric ? 2 : 4);
}

/**
 * Predicted seconds of one int4 product with N activation vectors (f16 or bf16): the roofline of
 * predictGpuSeconds over the int4 layout's bytes, with our kernels' efficiencies and the tensor-core
 * flops of mma.sync (dense) or mma.sp (2:4, half). In-register dequantization is not modelled: it
 * costs about 3 ALU operations per 2 codes and hides under the loads at decode sizes.
 */
export function predictGpuInt4Seconds(w: GpuInt4Weight, n: number, model: GpuModel = H100_MODEL): number {
  const bytes = gpuInt4Bytes(w) + 2 * n * (w.rows + w.cols);
  const mem = bytes / (model.bandwidth * model.kernelMemEfficiency);
  const flops = (2 * w.rows * w.cols * Math.ceil(n / 8) * 8) / (w.format === 'nm' ? 2 : 1);
  return Math.max(mem, flops / (model.tensorFlops * model.kernelComputeEfficiency)) +
    (w.slorb ? predictGpuSlorbSeconds(w.rows, w.cols, n, w.slorb, model) : 0);
}
