/**
 * OWL (Yin et al., "Outlier Weighed Layerwise Sparsity", ICML 2024): per-block sparsities from each
 * block's layerwise outlier distribution. A block's outlier ratio is the share (in %) of its
 * linears' Wanda scores |W_ij|·‖X_j‖ above M times their block-wide mean; the ratios are mapped
 * linearly onto [0, 2λ], re-centred on the target density and the block's sparsity is one minus
 * that (luuyin/OWL lib/prune_all.py): the mean sparsity is the target exactly, and blocks with more
 * outliers are pruned less.
 */
import { ArgumentError } from '../errors.js';
import type { OwlSearchGrid } from './owl-search.js';

export interface OwlOptions {
  /** Outlier threshold, as a multiple of the block's mean score (default 5, the paper's). */
  M?: number;
  /** Half-width of the sparsity range around the target (default 0.08). */
  lambda?: number;
  /**
   * Choose M and λ on the calibration data instead (owl-search.ts): true for the default grid, or
   * the grid to try. M and lambda are then ignored; report.owlSearch lists every candidate.
   */
  search?: boolean | OwlSearchGrid;
}

/** Adds one linear's scores to a block's tally: pass 1 sums, pass 2 counts above the threshold. */
export class OutlierTally {
  #sum = 0;
  #count = 0;
  #above = 0;
  #threshold = -1;

  /** Pass 1: |W|·norm for a [rows, cols] weight, row-major, norm per column. */
  addSum(w: ArrayLike<number>, rows: number, cols: number, norm: ArrayLike<number>): void {
    let s = 0;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) s += Math.abs(w[r * cols + c]!) * norm[c]!;
    this.#sum += s;
    this.#count += rows * cols;
  }

  /** Ends pass 1: the threshold is M × mean. */
  freeze(M: number): void { this.#threshold = (M * this.#sum) / Math.max(1, this.#count); }

  addCount(w: ArrayLike<number>, rows: number, cols: number, norm: ArrayLike<number>): void {
    const t = this.#threshold;
    let n = 0;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) n += Math.abs(w[r * cols + c]!) * norm[c]! > t ? 1 : 0;
    this.#above += n;
  }

  /** Outlier ratio in percent. */
  get ratio(): number { return this.#count ? (100 * this.#above) / this.#count : 0; }
}

export function checkOwl(o: OwlOptions | undefined): { M: number; lambda: number } {
  const M = o?.M ?? 5, lambda = o?.lambda ?? 0.08;
  if (o?.search !== undefined && typeof o.search !== 'boolean' && (typeof o.search !== 'object' || o.search === null))
    throw new ArgumentError(`owl.search: expected a boolean or { M?, lambda? }, got ${String(o.search)}`);
  if (typeof M !== 'number' || !(M > 0) || !Number.isFinite(M)) throw new ArgumentError(`owl.M: expected a finite number > 0, got ${String(M)}`);
  if (typeof lambda !== 'number' || !(lambda >= 0) || !Number.isFinite(lambda)) throw new ArgumentError(`owl.lambda: expected a finite number >= 0, got ${String(lambda)}`);
  return { M, lambda };
}

/**
 * Per-block sparsities from outlier ratios. Equal ratios (or one block) give the target everywhere
 * (the published formula divides by max − min). Throws if a block would leave [0, 1).
 */
export function owlSparsities(ratios: readonly number[], sparsity: number, lambda: number): number[] {
  const lo = Math.min(...ratios), hi = Math.max(...ratios);
  if (!(hi > lo)) return ratios.map(() => sparsity);
  const scaled = ratios.map((r) => ((r - lo) / (hi - lo)) * lambda * 2);
  const mean = scaled.reduce((a, b) => a + b, 0) / scaled.length;
  const out = scaled.map((v) => 1 - (v - mean + (1 - sparsity)));
  for (const s of out) if (!(s >= 0 && s < 1)) throw new ArgumentError(`layerwise 'owl': sparsity ${sparsity} ± lambda ${lambda} leaves [0, 1) for a block (${s})`);
  return out;
}
