/**
 * Facts about a weight that inspect and pack need: how sparse it is, whether it already follows
 * an N:M pattern (the cost model, lib/cost-model.ts, picks the format).
 */
import { countKept, weightStats, type WeightStats } from '../cost-model.js';
import { isFloatDType } from '../dtype.js';
import type { Tensor } from '../tensor.js';

/**
 * What inspect and pack report about a tensor: its sparsity and the tightest standard pattern every
 * row follows along K ('2:4' implies '4:8'; an all-zero 2-D tensor follows 2:4), plus, for a 2-D
 * float weight, the cost model's WeightStats (lib/cost-model.ts) that `--format auto` passes to
 * chooseFormat, as fromDense(w, { format: 'auto' }) does.
 */
export interface TensorSparsity {
  sparsity: number;
  nm: '2:4' | '4:8' | null;
  weight: WeightStats | null;
}

/** Counts zeros and checks 2:4 / 4:8 compliance of a [rows, cols] tensor (trailing partial groups count as padded with zeros). */
export function tensorSparsity(t: Tensor): TensorSparsity {
  const numel = t.size;
  const rows = t.ndim >= 2 ? t.shape[0]! : 1;
  const cols = rows === 0 ? 0 : numel / rows;
  const d = t.toTypedArray();
  const values = d instanceof Float32Array || d instanceof Uint16Array ? d : Float32Array.from(d as ArrayLike<number>);
  const sparsity = (nnz: number) => (numel === 0 ? 0 : (numel - nnz) / numel);
  if (t.ndim === 2 && isFloatDType(t.dtype)) {
    const weight = weightStats(values, rows, cols, t.dtype, null);
    const nm = weight.nm ? (`${weight.nm.n}:${weight.nm.m}` as '2:4' | '4:8') : weight.nnz === 0 ? '2:4' : null;
    return { sparsity: sparsity(weight.nnz), nm, weight };
  }
  const counts = countKept(values, rows, cols);
  return { sparsity: sparsity(counts.nnz), nm: t.ndim !== 2 ? null : counts.fits24 ? '2:4' : counts.fits48 ? '4:8' : null, weight: null };
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
