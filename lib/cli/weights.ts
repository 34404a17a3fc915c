/**
 * Facts about a weight that inspect and pack need: how sparse it is, whether it already follows
 * an N:M pattern, and which packed format stores it in the fewest bytes.
 */
import { chooseFormat, countKept } from '../cost-model.js';
import { isFloatDType, type FloatDType } from '../dtype.js';
import type { Format } from '../sparse-matrix.js';
import type { Tensor } from '../tensor.js';

export interface WeightStats {
  numel: number;
  zeros: number;
  sparsity: number;
  /** The tightest standard pattern every row follows along K ('2:4' implies '4:8'), or null. */
  nm: '2:4' | '4:8' | null;
}

/** Counts zeros and checks 2:4 / 4:8 compliance of a [rows, cols] tensor (trailing partial groups count as padded with zeros). */
export function weightStats(t: Tensor): WeightStats {
  const numel = t.size;
  const rows = t.ndim >= 2 ? t.shape[0]! : 1;
  const cols = rows === 0 ? 0 : numel / rows;
  const d = t.toTypedArray();
  const values = d instanceof Float32Array || d instanceof Uint16Array ? d : Float32Array.from(d as ArrayLike<number>);
  const counts = countKept(values, rows, cols);
  const zeros = numel - counts.nnz;
  return { numel, zeros, sparsity: numel === 0 ? 0 : zeros / numel, nm: t.ndim !== 2 ? null : counts.fits24 ? '2:4' : counts.fits48 ? '4:8' : null };
}

/**
 * The format `--format auto` stores: what the library's CPU cost model (lib/cost-model.ts, the same
 * one behind `fromDense(w, { format: 'auto' })`) predicts fastest for `expectedN` tokens per call,
 * fed with these statistics.
 */
export function autoFormat(rows: number, cols: number, dtype: FloatDType, s: WeightStats, expectedN: number): { format: Format; n?: number; m?: number } {
  const nnz = s.numel - s.zeros;
  const nm = s.nm === '2:4' ? { n: 2, m: 4 } : s.nm === '4:8' ? { n: 4, m: 8 } : undefined;
  const c = chooseFormat({ rows, cols, dtype, nnz, ...(nm && nnz > 0 ? { nm } : {}) }, expectedN);
  return { format: c.format, n: c.n, m: c.m };
}

/** Which tensors the pipelines treat as linear weights by default: 2-D floats that are not embeddings, heads or norms. */
export function isLinearWeight(name: string, t: { dtype: string | undefined; shape: readonly number[] }): boolean {
  return t.shape.length === 2 && isFloatDType(t.dtype) && !/(embed|lm_head|wte|wpe|norm)/i.test(name);
}

/** Whether every group of m consecutive weights along K (per row) has at most n nonzeros. */
export function followsNM(t: Tensor, n: number, m: number): boolean {
  if (t.ndim !== 2) return false;
  const d = t.toTypedArray();
  const [rows, cols] = t.shape as [number, number];
  const mask = t.dtype === 'float16' || t.dtype === 'bfloat16' ? 0x7fff : -1;
  for (let r = 0; r < rows; r++)
    for (let g = 0; g < cols; g += m) {
      let c = 0;
      for (let k = g; k < Math.min(g + m, cols); k++) {
        const v = d[r * cols + k]!;
        if (mask === -1 ? v !== 0 : (v & mask) !== 0) c++;
      }
      if (c > n) return false;
    }
  return true;
}
