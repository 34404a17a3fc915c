/**
 * Solvers beyond SparseGPT (docs/solvers.md): RIA with channel permutation, DSnoT and ALPS. Each
 * takes a dense weight [outputs, inputs] and the layer's CalibrationStats and runs off the event
 * loop; DSnoT and ALPS report progress and honour an AbortSignal.
 */
import { describe } from './dtype.js';
import { ArgumentError } from './errors.js';
import { native, type PruneResultNative } from './native.js';
import { checkPattern, checkStats, checkWeight, toResult, type Weight2D } from './prune-checks.js';
import type { PrunePattern, PruneReport, PruneResult } from './prune.js';
import type { CalibrationStats } from './calibration.js';
import type { Tensor } from './tensor.js';
import { checkControl, runControlled, type SolverControl } from './solver-control.js';

export interface RiaOptions {
  /** Exponent of the activation norm ‖X_j‖ (default 0.5, the paper's). */
  a?: number;
  /**
   * N:M only: permute the input channels so the N:M groups keep more of the score (the paper's
   * heuristic channel reallocation). The result's weight and mask are then in the permuted column
   * order given by `permutation`: apply it to the inputs (x[:, permutation]) or fold it into the
   * layer that produces them (model.prune does that for down_proj, reordering gate/up's rows).
   */
  permute?: boolean;
  /**
   * With permute: follow the heuristic with the paper's linear-sum-assignment refinement (each
   * slot's channels reassigned to the groups to maximize the kept score; O((K/m)²·M·m) per slot
   * plus an O((K/m)³) assignment: about a minute for 4096×4096 on 2 cores). Default false.
   */
  refine?: boolean;
}

export interface DsnotOptions extends SolverControl {
  /** The initial mask: Wanda's score (default) or SparseGPT's saliency w²/[H⁻¹ chol]ᵢᵢ² (needs { hessian: true } stats). */
  initial?: 'wanda' | 'sparsegpt';
  /** Swap cycles per row (default 50). */
  maxCycles?: number;
  /**
   * A row stops once |Σ pruned w_j·E[x_j]| is at most this (default 0.1/2048: the published 0.1,
   * which was measured on sums over 2048-token samples, per token).
   */
  updateThreshold?: number;
  /** Growth metric w_j·E[x_j] / Var[x_j]^powOfVar (default 1). */
  powOfVar?: number;
  /** Also stop a row when a swap would flip the sign of its error (unstructured; N:M always does). Default false, as the published runs. */
  sameSign?: boolean;
  /** SparseGPT initial mask: damping (default 0.01). */
  damping?: number;
}

export interface AlpsOptions extends SolverControl {
  /** Initial ADMM penalty ρ (default 0.1). */
  rho?: number;
  /** ADMM iterations at most (default 300). */
  maxIter?: number;
  /** Conjugate-gradient iterations on the final support (default 10). */
  cgIter?: number;
  /** Ridge term damping·mean(diag XᵀX) (default 0.01). */
  damping?: number;
}

export interface BeyondResult extends PruneResult {
  /** ria with permute: the input channel each output column holds (int32). */
  permutation?: Int32Array;
}

function num(v: unknown, what: string, dflt: number, ok: (x: number) => boolean, expect: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !ok(v)) throw new ArgumentError(`${what}: expected ${expect}, got ${describe(v)}`);
  return v;
}

function checkOptions(o: unknown): Record<string, unknown> {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null) throw new ArgumentError(`options: expected an object, got ${describe(o)}`);
  return o as Record<string, unknown>;
}

function result(r: PruneResultNative, w: Weight2D, method: PruneReport['method'], label: string): BeyondResult {
  const res: BeyondResult = toResult(r, w, method, label);
  if (r.perm) res.permutation = new Int32Array(r.perm);
  if (r.retainedBefore !== undefined) res.report.retained = { before: r.retainedBefore, after: r.retainedAfter! };
  if (r.swaps !== undefined) res.report.swaps = r.swaps;
  if (r.iterations !== undefined) {
    res.report.iterations = r.iterations;
    res.report.rho = r.rho;
  }
  return res;
}

/** RIA (Zhang et al. 2024): (|w|/Σ_col|w| + |w|/Σ_row|w|)·‖X_j‖^a ranked per row or per N:M group. */
export async function ria(w: Tensor, stats: CalibrationStats, pattern: PrunePattern, options: RiaOptions = {}): Promise<BeyondResult> {
  const ww = checkWeight(w);
  const p = checkPattern(pattern, ww.cols);
  const s = checkStats(stats, ww.cols, 'ria', false);
  const o = checkOptions(options);
  const a = num(o.a, 'options.a', 0.5, (x) => Number.isFinite(x) && x >= 0, 'a finite number >= 0');
  if (o.permute !== undefined && typeof o.permute !== 'boolean') throw new ArgumentError(`options.permute: expected a boolean, got ${describe(o.permute)}`);
  const permute = o.permute === true;
  if (permute && p.m === 0) throw new ArgumentError('ria: permute applies to N:M patterns only');
  if (o.refine !== undefined && typeof o.refine !== 'boolean') throw new ArgumentError(`options.refine: expected a boolean, got ${describe(o.refine)}`);
  if (o.refine === true && !permute) throw new ArgumentError('ria: refine needs permute');
  const r = await runControlled('prune.ria', {}, () => native.pruneRia(ww.data, ww.dtype, ww.rows, ww.cols, s.handle(), { sparsity: p.sparsity, n: p.n, m: p.m, a, permute, refine: o.refine === true }));
  return result(r, ww, 'ria', p.label);
}

/** DSnoT (Zhang et al. 2024): training-free prune-and-grow mask tuning after a Wanda or SparseGPT-saliency mask. */
export async function dsnot(w: Tensor, stats: CalibrationStats, pattern: PrunePattern, options: DsnotOptions = {}): Promise<BeyondResult> {
  const ww = checkWeight(w);
  const p = checkPattern(pattern, ww.cols);
  const o = checkOptions(options);
  const initial = o.initial ?? 'wanda';
  if (initial !== 'wanda' && initial !== 'sparsegpt') throw new ArgumentError(`options.initial: expected 'wanda' or 'sparsegpt', got ${describe(initial)}`);
  const s = checkStats(stats, ww.cols, 'dsnot', initial === 'sparsegpt');
  const maxCycles = num(o.maxCycles, 'options.maxCycles', 50, (x) => Number.isInteger(x) && x >= 0 && x <= 2 ** 30, 'an integer >= 0');
  const updateThreshold = num(o.updateThreshold, 'options.updateThreshold', 0.1 / 2048, (x) => x >= 0 && Number.isFinite(x), 'a finite number >= 0');
  const powOfVar = num(o.powOfVar, 'options.powOfVar', 1, Number.isFinite, 'a finite number');
  const damping = num(o.damping, 'options.damping', 0.01, (x) => x >= 0 && Number.isFinite(x), 'a finite number >= 0');
  if (o.sameSign !== undefined && typeof o.sameSign !== 'boolean') throw new ArgumentError(`options.sameSign: expected a boolean, got ${describe(o.sameSign)}`);
  checkControl(options, 'prune.dsnot');
  const r = await runControlled('prune.dsnot', options, (control) => native.pruneDsnot(ww.data, ww.dtype, ww.rows, ww.cols, s.handle(),
    { sparsity: p.sparsity, n: p.n, m: p.m, initial, maxCycles, updateThreshold, powOfVar, sameSign: o.sameSign === true, damping }, control));
  return result(r, ww, 'dsnot', p.label);
}

/** ALPS (Meng et al. 2024): ADMM with a ρ schedule, then conjugate gradients on the final support. Needs { hessian: true } stats. */
export async function alps(w: Tensor, stats: CalibrationStats, pattern: PrunePattern, options: AlpsOptions = {}): Promise<BeyondResult> {
  const ww = checkWeight(w);
  const p = checkPattern(pattern, ww.cols);
  const s = checkStats(stats, ww.cols, 'alps', true);
  const o = checkOptions(options);
  const rho = num(o.rho, 'options.rho', 0.1, (x) => x > 0 && Number.isFinite(x), 'a finite number > 0');
  const maxIter = num(o.maxIter, 'options.maxIter', 300, (x) => Number.isInteger(x) && x >= 0 && x <= 2 ** 20, 'an integer in [0, 2^20]');
  const cgIter = num(o.cgIter, 'options.cgIter', 10, (x) => Number.isInteger(x) && x >= 0 && x <= 2 ** 20, 'an integer in [0, 2^20]');
  const damping = num(o.damping, 'options.damping', 0.01, (x) => x >= 0 && Number.isFinite(x), 'a finite number >= 0');
  checkControl(options, 'prune.alps');
  const r = await runControlled('prune.alps', options, (control) => native.pruneAlps(ww.data, ww.dtype, ww.rows, ww.cols, s.handle(),
    { sparsity: p.sparsity, n: p.n, m: p.m, rho, maxIter, updateIter: 3, switchIter: 30, cgIter, cgRtol: 1e-4, damping }, control));
  return result(r, ww, 'alps', p.label);
}
