/**
 * `sparsekit bench`: a quick kernel timing on this host. Each packed format is timed against the
 * dense kernel on the same weight in the same run (a ratio, not an absolute time alone).
 */
import type { FloatDType } from '../dtype.js';
import { linear, selectedKernel } from '../ops.js';
import { getNumThreads, cpuInfo } from '../runtime.js';
import { SparseMatrix, formatStoresDType, type Format } from '../sparse-matrix.js';
import { Tensor } from '../tensor.js';
import { Context, fmtBytes, fmtPct, table } from './context.js';

export interface BenchOptions {
  rows: number;
  cols: number;
  sparsity: number;
  dtype: FloatDType;
  /**
   * Unset: activations in the weight's dtype. 'float32': float32 activations (the exact path);
   * 'bfloat16': float32 activations passed with MatmulOptions.activations 'bfloat16' (rounded).
   */
  activations?: 'float32' | 'bfloat16';
  /** Activation rows (tokens) per product. */
  batch: number[];
  formats: Format[];
  /** Time budget per case, seconds. */
  seconds: number;
  seed: number;
}

export interface BenchResult {
  n: number;
  format: string;
  kernel: string;
  sparsity: number;
  weightBytes: number;
  ms: number;
  /** Weight bytes read per second (the bound at small n). */
  gbps: number;
  /** Dense time / this time, same shape, same run. */
  speedup: number;
}

export interface BenchReport {
  command: 'bench';
  version: 1;
  shape: [number, number];
  dtype: FloatDType;
  /** The activations' dtype, and 'bfloat16' rounding when asked for. */
  activations: FloatDType | 'float32 rounded to bfloat16';
  sparsity: number;
  threads: number;
  isa: string;
  results: BenchResult[];
}

/** Median milliseconds of `fn` after a warm-up, repeated until the budget is spent (3 to 50 runs). */
export function timeIt(fn: () => void, seconds: number): number {
  fn();
  const times: number[] = [];
  const t0 = performance.now();
  while (times.length < 3 || (times.length < 50 && performance.now() - t0 < seconds * 1000)) {
    const s = performance.now();
    fn();
    times.push(performance.now() - s);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1]!;
}

/** A random weight with `sparsity` of its entries zeroed uniformly (mulberry32 stream, reproducible). */
export function randomSparseWeight(rows: number, cols: number, sparsity: number, dtype: FloatDType, seed: number): Tensor {
  const w = Tensor.randn([rows, cols], { seed, dtype });
  const d = w.toTypedArray();
  let s = seed >>> 0;
  for (let i = 0; i < d.length; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    if (((t ^ (t >>> 14)) >>> 0) / 4294967296 < sparsity) d[i] = 0;
  }
  return w;
}

export async function runBench(o: BenchOptions, ctx: Context): Promise<BenchReport> {
  const w = randomSparseWeight(o.rows, o.cols, o.sparsity, o.dtype, o.seed);
  const weights: { format: string; sparsity: number; w: Tensor | SparseMatrix }[] = [{ format: 'dense', sparsity: o.sparsity, w }];
  for (const format of o.formats) {
    if (format === 'dense') continue;
    if (format === 'nm') {
      // N:M has its own sparsity (2:4 = 50%): magnitude-prune the same weight to it.
      weights.push({ format: 'nm 2:4', sparsity: 0.5, w: await SparseMatrix.fromDenseAsync(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude' }) });
    } else if (!formatStoresDType(format, o.dtype)) {
      ctx.note('bench: skipping tiled-csl (it stores 16-bit values; use --dtype float16)');
    } else {
      weights.push({ format, sparsity: o.sparsity, w: await SparseMatrix.fromDenseAsync(w, { format }) });
    }
  }
  const results: BenchResult[] = [];
  const progress = ctx.progress(o.batch.length * weights.length, 'cases');
  try {
    for (const n of o.batch) {
      const x = Tensor.randn([n, o.cols], { seed: o.seed + n, dtype: o.activations ? 'float32' : o.dtype });
      const call = o.activations ? { activations: o.activations } : {};
      let denseMs = 0;
      for (const c of weights) {
        ctx.checkAborted();
        progress.item(`${c.format} n=${n}`);
        const ms = timeIt(() => linear.sync(x, c.w, null, call), o.seconds);
        if (c.format === 'dense') denseMs = ms;
        const weightBytes = c.w instanceof SparseMatrix ? c.w.byteLength : c.w.byteLength;
        results.push({ n, format: c.format, kernel: selectedKernel(c.w, n, { xDtype: x.dtype as FloatDType, ...call }), sparsity: c.sparsity, weightBytes, ms, gbps: weightBytes / (ms * 1e6), speedup: denseMs / ms });
        progress.done();
        await new Promise((r) => setImmediate(r));
      }
    }
  } finally {
    progress.stop();
  }
  const info = cpuInfo();
  const activations = o.activations === 'bfloat16' ? 'float32 rounded to bfloat16' : o.activations ?? o.dtype;
  return { command: 'bench', version: 1, shape: [o.rows, o.cols], dtype: o.dtype, activations, sparsity: o.sparsity, threads: getNumThreads(), isa: info.isa, results };
}

export function printBench(r: BenchReport, ctx: Context): void {
  ctx.out(`bench: weight [${r.shape.join(', ')}] ${r.dtype}, ${fmtPct(r.sparsity)} sparse, activations ${r.activations}, ${r.threads} thread(s), ISA ${r.isa}`);
  ctx.out('y[n, M] = x[n, K] · Wᵀ; speedup = dense time / format time (same run); GB/s = weight bytes / time');
  ctx.out();
  const rows = [['>n', 'format', 'kernel', '>sparsity', '>weight', '>ms', '>GB/s', '>speedup']];
  for (const x of r.results)
    rows.push([String(x.n), x.format, x.kernel, fmtPct(x.sparsity), fmtBytes(x.weightBytes), x.ms.toFixed(3), x.gbps.toFixed(1), `${x.speedup.toFixed(2)}x`]);
  ctx.out(table(rows));
}
