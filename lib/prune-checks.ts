/**
 * Argument checks and result conversion shared by the solvers (lib/prune.ts, lib/prune-beyond.ts).
 */
import { checkFloatDType, describe, viewAs, type FloatDType } from './dtype.js';
import { ArgumentError, ShapeError } from './errors.js';
import type { PatternNative, PruneResultNative } from './native.js';
import { fmtShape } from './shape.js';
import { CalibrationStats } from './calibration.js';
import { Tensor, checkTensor } from './tensor.js';
import type { PruneReport, PruneResult } from './prune.js';

export interface Weight2D {
  data: ArrayBufferView;
  dtype: FloatDType;
  rows: number;
  cols: number;
  shape: readonly number[];
}

export function checkWeight(w: unknown, what = 'w'): Weight2D {
  const t = checkTensor(w, what);
  const dtype = checkFloatDType(t.dtype, `${what}.dtype`);
  if (t.ndim !== 2) throw new ShapeError(`${what}: expected a 2-D weight [outputs, inputs], got ${fmtShape(t.shape)}`);
  return { data: t.toTypedArray(), dtype, rows: t.shape[0]!, cols: t.shape[1]!, shape: t.shape };
}

export function checkPattern(p: unknown, cols: number): PatternNative & { label: string } {
  if (typeof p !== 'object' || p === null) throw new ArgumentError(`pattern: expected { sparsity } or { n, m }, got ${describe(p)}`);
  const o = p as Record<string, unknown>;
  const hasS = o.sparsity !== undefined, hasNm = o.n !== undefined || o.m !== undefined;
  if (hasS === hasNm) throw new ArgumentError('pattern: give either { sparsity } or { n, m }, not both or neither');
  if (hasS) {
    const s = o.sparsity;
    if (typeof s !== 'number' || !(s >= 0 && s < 1)) throw new ArgumentError(`pattern.sparsity: expected a number in [0, 1), got ${String(s)}`);
    return { sparsity: s, n: 0, m: 0, label: 'unstructured' };
  }
  const { n, m } = o;
  if (typeof m !== 'number' || !Number.isInteger(m) || m < 1 || m > 16)
    throw new ArgumentError(`pattern.m: expected an integer in [1, 16], got ${String(m)}`);
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > m)
    throw new ArgumentError(`pattern.n: expected an integer in [1, m = ${m}] (n is the number kept), got ${String(n)}`);
  if (cols % m !== 0) throw new ShapeError(`pattern ${n}:${m}: m must divide the weight's ${cols} input columns`);
  return { sparsity: 0, n, m, label: `${n}:${m}` };
}

export function checkStats(stats: unknown, cols: number, what: string, needHessian: boolean): CalibrationStats {
  if (!(stats instanceof CalibrationStats)) throw new ArgumentError(`${what}: stats must be a CalibrationStats, got ${describe(stats)}`);
  stats.handle();
  if (stats.channels !== cols)
    throw new ShapeError(`${what}: the weight has ${cols} input columns but stats has ${stats.channels} channels`);
  if (needHessian && !stats.keepsHessian) throw new ArgumentError(`${what}: stats must be created with { hessian: true }`);
  if (stats.tokens <= 0) throw new ArgumentError(`${what}: stats has no calibration tokens (call stats.add(x) first)`);
  return stats;
}

export function toResult(r: PruneResultNative, w: Weight2D, method: PruneReport['method'], label: string, inPlace?: Tensor): PruneResult {
  const total = w.rows * w.cols;
  const report: PruneReport = { method, pattern: label, sparsity: total ? r.pruned / total : 0, pruned: r.pruned, total, loss: r.loss };
  if (method === 'wanda' && r.alpha >= 0) report.alpha = r.alpha;
  if (method === 'sparsegpt') {
    report.damping = r.dampingUsed;
    report.choleskyRetries = r.retries;
    report.deadColumns = r.deadColumns;
  }
  return {
    weight: inPlace ?? Tensor.from(viewAs(w.dtype, r.weight!), w.shape, { dtype: w.dtype }),
    mask: Tensor.from(new Uint8Array(r.mask), w.shape, { dtype: 'uint8' }),
    report,
  };
}
