/**
 * Pruning solvers: a dense weight [outputs, inputs] (plus calibration statistics) in, the pruned
 * weight, its keep-mask and a report out. N:M means keep n of every m consecutive inputs of a row
 * (NVIDIA's meaning; the Wanda/SparseGPT scripts' `prune_n` counts the pruned ones instead).
 */
import { describe } from './dtype.js';
import { ArgumentError, ShapeError, fromNativeError } from './errors.js';
import { checkControl, runControlled } from './solver-control.js';
import { alps, dsnot, ria } from './prune-beyond.js';
import { checkPattern, checkStats, checkWeight, toResult } from './prune-checks.js';
import { native } from './native.js';
import type { CalibrationStats } from './calibration.js';
import { Tensor } from './tensor.js';
import { checkQuantize, type QuantGrid, type QuantInfo, type QuantizeOptions } from './quant.js';

/** Unstructured `{ sparsity }` (fraction pruned, in [0, 1)) or N:M `{ n, m }` (keep n of every m). */
export type PrunePattern = { sparsity: number; n?: undefined; m?: undefined } | { n: number; m: number; sparsity?: undefined };

export interface PruneReport {
  method: 'magnitude' | 'wanda' | 'sparsegpt' | 'ria' | 'dsnot' | 'alps';
  /** 'unstructured' or e.g. '2:4'. */
  pattern: string;
  /** Achieved fraction of pruned weights (mask == 0). */
  sparsity: number;
  pruned: number;
  total: number;
  /**
   * The solver's own loss estimate. magnitude: Σ pruned w². wanda: Σ pruned w²·‖X_j‖²/tokens (the
   * output error if inputs were uncorrelated). sparsegpt: the published ½·Σ (w − q)²/[H⁻¹ chol]ᵢᵢ²,
   * = ‖X Wᵀ − X Ŵᵀ‖²/tokens plus the damping term.
   */
  loss: number;
  /** wanda with alphaSearch: the alpha found. */
  alpha?: number;
  /** sparsegpt: damping actually used (after Cholesky retries), retries, dead input channels. */
  damping?: number;
  choleskyRetries?: number;
  deadColumns?: number;
  /** sparsegpt with quantizeBits: per-row grid, weight = scale·(clamp(round(w/scale)+zero, 0, 2^bits−1) − zero). */
  quantization?: { bits: number; scale: Tensor; zero: Tensor };
  /** ria, N:M: Σ kept scores without and with the channel permutation (equal without permute). */
  retained?: { before: number; after: number };
  /** dsnot: prune-and-grow swaps made. */
  swaps?: number;
  /** alps: ADMM iterations run and the final ρ. */
  iterations?: number;
  rho?: number;
}

export interface PruneResult {
  /** The updated dense weight, same shape and dtype as the input. */
  weight: Tensor;
  /** sparsegpt with `quantize`: the grid the kept weights lie on, ready for SparseMatrix.fromDense's `quant`. */
  quant?: QuantGrid;
  /** uint8 of the weight's shape, 1 = kept (what SparseMatrix.fromDense takes as `mask`). */
  mask: Tensor;
  report: PruneReport;
}

export interface InPlaceOption {
  /**
   * Write the pruned weight into `w` itself instead of a new buffer; `result.weight` is then `w`.
   * Saves allocating (and first-touching) a second weight-sized buffer. `w` is checked for
   * NaN/Inf first, so an error leaves it unchanged; with the async variant, do not use `w` until
   * the promise settles. Default false: `w` is never written.
   */
  inPlace?: boolean;
}

export interface MagnitudeOptions extends InPlaceOption {
  /** Rank within each row instead of one threshold over the whole matrix (unstructured only). */
  perRow?: boolean;
}

export interface WandaOptions extends InPlaceOption {
  /** The published variant: per-row cumulative-score threshold alpha·rowsum, alpha bisected in [0, 0.8] (unstructured only). */
  alphaSearch?: boolean;
}

export interface SparseGptOptions {
  /** Columns per block (default 128; a multiple of m for N:M). */
  blockSize?: number;
  /** Added to diag(H) as damping·mean(diag H) (default 0.01). On Cholesky failure it is retried ×10 (0 → 0.01), 3 times. */
  damping?: number;
  /** Called with the fraction done, in [0, 1]. */
  onProgress?: (fraction: number) => void;
  /** Aborting rejects with AbortError (ERR_ABORTED); no result is produced. */
  signal?: AbortSignal;
  /** Jointly quantize the kept weights, 2..8 bits, per-row asymmetric min-max (zeros stay zero). */
  quantizeBits?: number;
  /**
   * Jointly quantize the kept weights onto a group-wise grid that packs as a quantized matrix
   * (docs/formats.md): 4 or 8 bits, one fp16 scale per `groupSize` columns (a divisor of
   * blockSize), symmetric by default. The result's `quant` goes to SparseMatrix.fromDense
   * with the mask: fromDense(r.weight, { format: 'nm', n: 2, m: 4, mask: r.mask, quant: r.quant }).
   */
  quantize?: QuantizeOptions;
}

function checkBool(v: unknown, what: string): boolean {
  if (v !== undefined && typeof v !== 'boolean') throw new ArgumentError(`${what}: expected a boolean, got ${describe(v)}`);
  return v === true;
}

function magnitudeArgs(w: Tensor, pattern: PrunePattern, options: MagnitudeOptions) {
  const ww = checkWeight(w);
  const p = checkPattern(pattern, ww.cols);
  const perRow = checkBool(options?.perRow, 'options.perRow');
  const inPlace = checkBool(options?.inPlace, 'options.inPlace');
  return { ww, p, inPlace: inPlace ? w : undefined,
    args: [ww.data, ww.dtype, ww.rows, ww.cols, { sparsity: p.sparsity, n: p.n, m: p.m, perRow, inPlace }] as const };
}

function wandaArgs(w: Tensor, stats: CalibrationStats, pattern: PrunePattern, options: WandaOptions) {
  const ww = checkWeight(w);
  const p = checkPattern(pattern, ww.cols);
  const s = checkStats(stats, ww.cols, 'wanda', false);
  const alphaSearch = checkBool(options?.alphaSearch, 'options.alphaSearch');
  if (alphaSearch && p.m > 0) throw new ArgumentError('wanda: alphaSearch applies to unstructured sparsity only');
  const inPlace = checkBool(options?.inPlace, 'options.inPlace');
  return { ww, p, inPlace: inPlace ? w : undefined,
    args: [ww.data, ww.dtype, ww.rows, ww.cols, s.handle(), { sparsity: p.sparsity, n: p.n, m: p.m, alphaSearch, inPlace }] as const };
}

/** Magnitude pruning (the baseline): |w| ranked over the whole matrix, per row, or per N:M group. */
function magnitude(w: Tensor, pattern: PrunePattern, options: MagnitudeOptions = {}): PruneResult {
  const { ww, p, inPlace, args } = magnitudeArgs(w, pattern, options);
  try {
    return toResult(native.pruneMagnitude(...args), ww, 'magnitude', p.label, inPlace);
  } catch (e) {
    throw fromNativeError(e, 'prune.magnitude');
  }
}

async function magnitudeAsync(w: Tensor, pattern: PrunePattern, options: MagnitudeOptions = {}): Promise<PruneResult> {
  const { ww, p, inPlace, args } = magnitudeArgs(w, pattern, options);
  try {
    return toResult(await native.pruneMagnitudeAsync(...args), ww, 'magnitude', p.label, inPlace);
  } catch (e) {
    throw fromNativeError(e, 'prune.magnitudeAsync');
  }
}

/** Wanda: |w_ij|·‖X_j‖₂ ranked within each row (exactly ⌊K·s⌋ pruned per row) or per N:M group. */
function wanda(w: Tensor, stats: CalibrationStats, pattern: PrunePattern, options: WandaOptions = {}): PruneResult {
  const { ww, p, inPlace, args } = wandaArgs(w, stats, pattern, options);
  try {
    return toResult(native.pruneWanda(...args), ww, 'wanda', p.label, inPlace);
  } catch (e) {
    throw fromNativeError(e, 'prune.wanda');
  }
}

async function wandaAsync(w: Tensor, stats: CalibrationStats, pattern: PrunePattern, options: WandaOptions = {}): Promise<PruneResult> {
  const { ww, p, inPlace, args } = wandaArgs(w, stats, pattern, options);
  try {
    return toResult(await native.pruneWandaAsync(...args), ww, 'wanda', p.label, inPlace);
  } catch (e) {
    throw fromNativeError(e, 'prune.wandaAsync');
  }
}

/** SparseGPT (Frantar & Alistarh 2023), off the event loop. Needs stats created with { hessian: true }. */
async function sparsegpt(w: Tensor, stats: CalibrationStats, pattern: PrunePattern, options: SparseGptOptions = {}): Promise<PruneResult> {
  const ww = checkWeight(w);
  const p = checkPattern(pattern, ww.cols);
  const s = checkStats(stats, ww.cols, 'sparsegpt', true);
  if (typeof options !== 'object' || options === null) throw new ArgumentError(`options: expected an object, got ${describe(options)}`);
  const blockSize = options.blockSize ?? 128;
  if (!Number.isInteger(blockSize) || blockSize < 1 || blockSize > 1 << 30)
    throw new ArgumentError(`options.blockSize: expected a positive integer, got ${String(blockSize)}`);
  if (p.m > 0 && blockSize % p.m !== 0)
    throw new ArgumentError(`options.blockSize: must be a multiple of m = ${p.m} for N:M, got ${blockSize}`);
  const damping = options.damping ?? 0.01;
  if (typeof damping !== 'number' || !Number.isFinite(damping) || damping < 0)
    throw new ArgumentError(`options.damping: expected a finite number >= 0, got ${String(damping)}`);
  let bits = options.quantizeBits ?? 0;
  if (bits !== 0 && !(Number.isInteger(bits) && bits >= 2 && bits <= 8))
    throw new ArgumentError(`options.quantizeBits: expected an integer in [2, 8], got ${String(bits)}`);
  let group: QuantInfo | undefined;
  if (options.quantize !== undefined) {
    if (options.quantizeBits !== undefined) throw new ArgumentError('options.quantize / options.quantizeBits: give one (quantizeBits is the per-row grid)');
    group = checkQuantize(options.quantize, 'options.quantize');
    if (ww.cols % group.groupSize !== 0)
      throw new ShapeError(`options.quantize.groupSize: ${group.groupSize} does not divide the ${ww.cols} columns`);
    if (blockSize % group.groupSize !== 0)
      throw new ArgumentError(`options.blockSize: must be a multiple of quantize.groupSize = ${group.groupSize}, got ${blockSize}`);
    bits = group.bits;
  }
  checkControl(options, 'prune.sparsegpt');
  const r = await runControlled('prune.sparsegpt', options, (control) =>
    native.pruneSparseGpt(ww.data, ww.dtype, ww.rows, ww.cols, s.handle(),
      { sparsity: p.sparsity, n: p.n, m: p.m, blockSize, damping, quantizeBits: bits,
        ...(group ? { quantizeGroup: group.groupSize, quantizeSymmetric: group.symmetric } : {}) }, control));
  const res = toResult(r, ww, 'sparsegpt', p.label);
  if (group && r.groupScale && r.groupZero) {
    const shape = [ww.rows, ww.cols / group.groupSize];
    res.quant = {
      ...group,
      scale: Tensor.from(new Uint16Array(r.groupScale), shape, { dtype: 'float16' }),
      ...(group.symmetric ? {} : { zero: Tensor.from(new Uint8Array(r.groupZero), shape) }),
    };
  } else if (bits > 0 && r.scale && r.zero)
    res.report.quantization = {
      bits,
      scale: Tensor.from(new Float32Array(r.scale), [ww.rows]),
      zero: Tensor.from(new Float32Array(r.zero), [ww.rows]),
    };
  return res;
}

export const prune = { magnitude, magnitudeAsync, wanda, wandaAsync, sparsegpt, ria, dsnot, alps };
