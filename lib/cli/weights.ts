/**
 * Facts about a weight that inspect and pack need: how sparse it is, whether it already follows
 * an N:M pattern, and which packed format stores it in the fewest bytes.
 */
import { chooseFormat } from '../cost-model.js';
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
  const bits = floatBits(t);
  const counts = bits && cols % 8 === 0 ? countFloatBits(bits, numel) : countGeneric(t, rows, cols);
  const zeros = numel - counts.nonzero;
  return { numel, zeros, sparsity: numel === 0 ? 0 : zeros / numel, nm: t.ndim !== 2 ? null : counts.ok24 ? '2:4' : counts.ok48 ? '4:8' : null };
}

interface Bits {
  u: Uint16Array | Uint32Array;
  mask: number;
  shift: number;
}

/** A float tensor's raw bits with the mask that clears the sign (so +0 and -0 are the zeros). */
function floatBits(t: Tensor): Bits | null {
  const d = t.toTypedArray();
  if (t.dtype === 'float16' || t.dtype === 'bfloat16') return { u: d as Uint16Array, mask: 0x7fff, shift: 15 };
  if (t.dtype === 'float32') return { u: new Uint32Array(d.buffer, d.byteOffset, d.length), mask: 0x7fffffff, shift: 31 };
  return null;
}

// Branch-free: ((bits & mask) + mask) >>> shift is 1 for a nonzero, 0 for a zero. Eight elements
// (two 4-groups, one 8-group; rows are a multiple of 8 long) per step: ~4x the plain loop.
function countFloatBits({ u, mask, shift }: Bits, n: number) {
  let nonzero = 0, ok24 = true, ok48 = true;
  for (let i = 0; i < n; i += 8) {
    const g1 = (((u[i]! & mask) + mask) >>> shift) + (((u[i + 1]! & mask) + mask) >>> shift) +
      (((u[i + 2]! & mask) + mask) >>> shift) + (((u[i + 3]! & mask) + mask) >>> shift);
    const g2 = (((u[i + 4]! & mask) + mask) >>> shift) + (((u[i + 5]! & mask) + mask) >>> shift) +
      (((u[i + 6]! & mask) + mask) >>> shift) + (((u[i + 7]! & mask) + mask) >>> shift);
    nonzero += g1 + g2;
    if (g1 > 2 || g2 > 2) ok24 = false;
    if (g1 + g2 > 4) ok48 = false;
  }
  return { nonzero, ok24, ok48 };
}

function countGeneric(t: Tensor, rows: number, cols: number) {
  const d = t.toTypedArray();
  const mask = t.dtype === 'float16' || t.dtype === 'bfloat16' ? 0x7fff : -1;
  let nonzero = 0, ok24 = true, ok48 = true;
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let g4 = 0, g8 = 0;
    for (let k = 0; k < cols; k++) {
      const v = d[base + k]!;
      const nz = mask === -1 ? v !== 0 : (v & mask) !== 0;
      if (nz) { nonzero++; g4++; g8++; }
      if ((k & 3) === 3 || k === cols - 1) { if (g4 > 2) ok24 = false; g4 = 0; }
      if ((k & 7) === 7 || k === cols - 1) { if (g8 > 4) ok48 = false; g8 = 0; }
    }
  }
  return { nonzero, ok24, ok48 };
}

/**
 * The format `--format auto` stores: what the library's CPU cost model (lib/cost-model.ts, the same
 * one behind `fromDense(w, { format: 'auto' })`) predicts fastest for `expectedN` tokens per call,
 * fed with these statistics (counted here, faster than the model's own pass).
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
