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
import { CalibrationStats } from './calibration.js';
import type { Tensor } from './tensor.js';
import { checkControl, runControlled, type SolverControl } from './solver-control.js';

export interface RiaOptions extends SolverControl {
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
  /**
   * Reconstruct the kept weights with SparseGPT's update on RIA's mask (the published code's
   * `--reconstruction`, fasterprune with the mask given); needs { hessian: true } stats. Default false.
   */
  reconstruct?: boolean;
  /** With reconstruct: SparseGPT's damping (default 0.01). */
  damping?: number;
}

export interface DsnotOptions extends SolverControl {
  /**
   * The start. 'sparsegpt': SparseGPT's result, mask and reconstructed weights (the paper's
   * "SparseGPT + DSnoT"); 'wanda': Wanda's mask; 'sparsegpt-saliency': SparseGPT's saliency
   * w²/[H⁻¹ chol]ᵢᵢ² mask without its weight update (what the published code's 'sparsegpt' does).
   * Default: 'sparsegpt' when the stats keep the Hessian, else 'wanda'.
   */
  initial?: 'wanda' | 'sparsegpt' | 'sparsegpt-saliency';
  /**
   * Swap cycles per row. Default: the published 50 for rows 4096 wide or wider, scaled down with
   * the row width below that (round(cols·50/4096), at least 1), so the same share of a row is rewired.
   */
  maxCycles?: number;
  /**
   * A row stops once |Σ_j (w_j − ŵ_j)·E[x_j]| is at most this (default 0.1/2048: the published
   * 0.1, which was measured on sums over 2048-token samples, per token).
   */
  updateThreshold?: number;
  /** Growth metric w_j·E[x_j] / Var[x_j]^powOfVar (default 1). */
  powOfVar?: number;
  /** Also stop a row when a swap would flip the sign of its error (unstructured; N:M always does). Default false, as the published runs. */
  sameSign?: boolean;
  /**
   * Accept a swap only if it lowers the row's exact reconstruction error ΔᵀXᵀXΔ (needs
   * { hessian: true } stats); a rejected pair is skipped and the row goes on. Default: true with
   * the 'sparsegpt' start (whose weights the mean-error criterion alone would undo), else false.
   */
  checkError?: boolean;
  /** SparseGPT start / saliency: damping (default 0.01). */
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
  const o = checkOptions(options);
  if (o.reconstruct !== undefined && typeof o.reconstruct !== 'boolean') throw new ArgumentError(`options.reconstruct: expected a boolean, got ${describe(o.reconstruct)}`);
  const reconstruct = o.reconstruct === true;
  const s = checkStats(stats, ww.cols, 'ria', reconstruct);
  const damping = num(o.damping, 'options.damping', 0.01, (x) => x >= 0 && Number.isFinite(x), 'a finite number >= 0');
  const a = num(o.a, 'options.a', 0.5, (x) => Number.isFinite(x) && x >= 0, 'a finite number >= 0');
  if (o.permute !== undefined && typeof o.permute !== 'boolean') throw new ArgumentError(`options.permute: expected a boolean, got ${describe(o.permute)}`);
  const permute = o.permute === true;
  if (permute && p.m === 0) throw new ArgumentError('ria: permute applies to N:M patterns only');
  if (o.refine !== undefined && typeof o.refine !== 'boolean') throw new ArgumentError(`options.refine: expected a boolean, got ${describe(o.refine)}`);
  if (o.refine === true && !permute) throw new ArgumentError('ria: refine needs permute');
  checkControl(options, 'prune.ria');
  const r = await runControlled('prune.ria', options, (control) => native.pruneRia(ww.data, ww.dtype, ww.rows, ww.cols, s.handle(),
    { sparsity: p.sparsity, n: p.n, m: p.m, a, permute, refine: o.refine === true, reconstruct, damping }, control));
  return result(r, ww, 'ria', p.label);
}

/** The default maxCycles for rows `cols` wide: the published 50 at 4096 and above, the same share of a narrower row. */
export function dsnotDefaultCycles(cols: number): number {
  return Math.min(50, Math.max(1, Math.round((cols * 50) / 4096)));
}

/** DSnoT (Zhang et al. 2024): training-free prune-and-grow mask tuning after SparseGPT, Wanda or SparseGPT's saliency mask. */
export async function dsnot(w: Tensor, stats: CalibrationStats, pattern: PrunePattern, options: DsnotOptions = {}): Promise<BeyondResult> {
  const ww = checkWeight(w);
  const p = checkPattern(pattern, ww.cols);
  const o = checkOptions(options);
  const hasHessian = stats instanceof CalibrationStats && stats.keepsHessian;
  const initial = o.initial ?? (hasHessian ? 'sparsegpt' : 'wanda');
  if (initial !== 'wanda' && initial !== 'sparsegpt' && initial !== 'sparsegpt-saliency')
    throw new ArgumentError(`options.initial: expected 'wanda', 'sparsegpt' or 'sparsegpt-saliency', got ${describe(initial)}`);
  if (o.checkError !== undefined && typeof o.checkError !== 'boolean') throw new ArgumentError(`options.checkError: expected a boolean, got ${describe(o.checkError)}`);
  const checkError = o.checkError ?? initial === 'sparsegpt';
  const s = checkStats(stats, ww.cols, 'dsnot', initial !== 'wanda' || checkError);
  const maxCycles = num(o.maxCycles, 'options.maxCycles', dsnotDefaultCycles(ww.cols), (x) => Number.isInteger(x) && x >= 0 && x <= 2 ** 30, 'an integer >= 0');
  const updateThreshold = num(o.updateThreshold, 'options.updateThreshold', 0.1 / 2048, (x) => x >= 0 && Number.isFinite(x), 'a finite number >= 0');
  const powOfVar = num(o.powOfVar, 'options.powOfVar', 1, Number.isFinite, 'a finite number');
  const damping = num(o.damping, 'options.damping', 0.01, (x) => x >= 0 && Number.isFinite(x), 'a finite number >= 0');
  if (o.sameSign !== undefined && typeof o.sameSign !== 'boolean') throw new ArgumentError(`options.sameSign: expected a boolean, got ${describe(o.sameSign)}`);
  checkControl(options, 'prune.dsnot');
  const r = await runControlled('prune.dsnot', options, (control) => native.pruneDsnot(ww.data, ww.dtype, ww.rows, ww.cols, s.handle(),
    { sparsity: p.sparsity, n: p.n, m: p.m, initial, maxCycles, updateThreshold, powOfVar, sameSign: o.sameSign === true, checkError, damping }, control));
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
