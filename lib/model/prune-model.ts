/**
 * Whole-model pruning, block by block, as the SparseGPT and Wanda scripts do: the calibration
 * samples run through the model once; each block is calibrated on the outputs of the blocks
 * before it (already pruned), its linears pruned, and its pruned outputs become the next block's
 * inputs. Memory beyond the mapped model: the activations (2 × samples × seqLen × hidden × 4 bytes
 * at most), one input group's statistics, and one weight being pruned; pruned weights are kept
 * packed (bitmap, or nm for N:M) and the dense originals' pages are handed back to the OS.
 *
 * calibration modes (docs/models.md):
 * - 'sequential' (default; SparseGPT's `--true-sequential`): within a block, q/k/v are pruned
 *   first, then o_proj is calibrated on the attention output of the pruned q/k/v, then gate/up on
 *   the pruned attention's output, then down_proj on the pruned gate/up.
 * - 'block' (the Wanda repository's scripts): all of a block's statistics from one pass of the
 *   block while it is still dense (its inputs come from the pruned blocks before it).
 * - 'one-pass': every statistic from the dense model (what capturing the layer inputs of the
 *   unpruned model in PyTorch gives); errors of earlier blocks are not compensated.
 */
import { CalibrationStats } from '../calibration.js';
import { describe } from '../dtype.js';
import { AbortError, ArgumentError, ShapeError } from '../errors.js';
import { prune, type PrunePattern, type PruneResult } from '../prune.js';
import type { AlpsOptions, BeyondResult, DsnotOptions, RiaOptions } from '../prune-beyond.js';
import { SparseMatrix } from '../sparse-matrix.js';
import { Tensor } from '../tensor.js';
import { INPUT_GROUPS, blockForward, refuseSlorbTerms, type BlockContext, type InputGroup, type LinearName, type LlamaBlock } from './block.js';
import type { LlamaModel } from './llama.js';
import { OutlierTally, checkOwl, owlSparsities, type OwlOptions } from './owl.js';
import { searchOwl, type OwlSearchEntry } from './owl-search.js';

export type CalibrationMode = 'sequential' | 'block' | 'one-pass';

/** Calibration tokens per block forward. */
const CHUNK_TOKENS = 8192;

/** Where a solver is being applied. */
export interface SolverContext {
  block: number;
  linear: LinearName;
  /** The weight's tensor name. */
  name: string;
  signal?: AbortSignal;
  /** The block's unstructured sparsity target (differs from the model's with layerwise 'owl'). */
  sparsity?: number;
}

/**
 * A pruning solver for one linear weight: the seam for solvers beyond the built-in three (for
 * example per-layer sparsities as in OWL). `stats` says what it reads: nothing (null is passed),
 * per-channel norms, or the Hessian (the CalibrationStats then keeps Σ x xᵀ).
 */
export interface LinearSolver {
  name: string;
  stats: 'none' | 'norms' | 'hessian';
  prune(weight: Tensor, stats: CalibrationStats | null, ctx: SolverContext): Promise<PruneResult>;
}

const MLP: readonly LinearName[] = ['gate_proj', 'up_proj', 'down_proj'];

export type BuiltinMethod = 'magnitude' | 'wanda' | 'sparsegpt' | 'ria' | 'dsnot' | 'alps';
const BUILTIN: readonly BuiltinMethod[] = ['magnitude', 'wanda', 'sparsegpt', 'ria', 'dsnot', 'alps'];

export type ModelPruneOptions = PrunePattern & {
  /** A built-in solver, or your own. */
  method: BuiltinMethod | LinearSolver;
  /**
   * Per-block sparsity: 'uniform' (default) or 'owl' (unstructured only): each block's sparsity
   * from its outlier ratio, spread ±owl.lambda around `sparsity` with the same mean, computed on
   * a first pass of the dense model. Works with every method, your own included (the solver then
   * reads its block's sparsity from `ctx.sparsity`).
   */
  layerwise?: 'uniform' | 'owl';
  owl?: OwlOptions;
  /** RIA's options. permute (N:M) permutes down_proj's input channels, folded into gate/up's rows. */
  ria?: RiaOptions;
  /**
   * DSnoT's options. initial defaults to 'sparsegpt' here (the statistics then keep the Hessian).
   * skip: linears that keep their initial result: 'none' by default with the SparseGPT start,
   * 'mlp' with the Wanda / saliency starts as in the published runs, or 'self_attn'.
   */
  dsnot?: Omit<DsnotOptions, 'signal' | 'onProgress'> & { skip?: 'mlp' | 'self_attn' | 'none' };
  /** ALPS's options. */
  alps?: Omit<AlpsOptions, 'signal' | 'onProgress'>;
  /** Default 'sequential'. */
  calibration?: CalibrationMode;
  /** SparseGPT: columns per block (default 128) and damping (default 0.01). */
  blockSize?: number;
  damping?: number;
  /** Block indices to prune (default: all). */
  blocks?: number[];
};

export interface ModelPruneProgress {
  block: number;
  blocks: number;
  /** What is running now. */
  stage: 'calibrate' | 'prune' | 'propagate' | 'done';
  group?: InputGroup;
  /** Fraction of the whole job done, in [0, 1]. */
  fraction: number;
}

export interface LinearPruneReport {
  name: string;
  block: number;
  linear: LinearName;
  sparsity: number;
  /** The solver's own loss estimate (see PruneReport.loss). */
  loss: number;
  seconds: number;
}

export interface ModelPruneReport {
  method: string;
  pattern: string;
  calibration: CalibrationMode;
  samples: number;
  tokens: number;
  linears: LinearPruneReport[];
  /** Seconds per pruned block (calibration + pruning + propagation). */
  blockSeconds: number[];
  seconds: number;
  /** Pruned fraction over all pruned linears. */
  sparsity: number;
  /** Target sparsity per block (layerwise 'owl'), and the blocks' outlier ratios (%). */
  blockSparsity?: number[];
  outlierRatios?: number[];
  /** owl.search: the M and λ chosen and every candidate's calibration perplexity. */
  owlSearch?: { M: number; lambda: number; candidates: OwlSearchEntry[] };
}

function builtinSolver(method: BuiltinMethod, patternAt: (block: number) => PrunePattern, options: ModelPruneOptions): LinearSolver {
  const pat = (ctx: SolverContext) => patternAt(ctx.block);
  switch (method) {
    case 'magnitude': return { name: method, stats: 'none', prune: (w, _s, ctx) => prune.magnitudeAsync(w, pat(ctx)) };
    case 'wanda': return { name: method, stats: 'norms', prune: (w, s, ctx) => prune.wandaAsync(w, s!, pat(ctx)) };
    case 'sparsegpt':
      return {
        name: method, stats: 'hessian',
        prune: (w, s, ctx) => prune.sparsegpt(w, s!, pat(ctx), { blockSize: options.blockSize, damping: options.damping, signal: ctx.signal }),
      };
    case 'ria':
      // Only down_proj's input channels can be permuted without changing the model: they are
      // gate/up's output rows (SwiGLU is element-wise). The other linears read the residual
      // stream (q/k/v, gate/up) or attention heads (o_proj).
      return {
        name: method, stats: options.ria?.reconstruct === true ? 'hessian' : 'norms',
        prune: (w, s, ctx) => {
          const p = pat(ctx);
          const permute = options.ria?.permute === true && p.m !== undefined && ctx.linear === 'down_proj';
          return prune.ria(w, s!, p, { ...options.ria, permute, refine: permute && options.ria?.refine === true, signal: ctx.signal });
        },
      };
    case 'dsnot': {
      // Default start: SparseGPT's result (its swaps are checked against the exact error, so
      // every linear takes part). The Wanda / saliency starts follow the published runs and skip
      // the MLP (zyxxmu/DSnoT's --skip_layer default): those linears keep the initial mask.
      const initial = options.dsnot?.initial ?? 'sparsegpt';
      const skip = options.dsnot?.skip ?? (initial === 'sparsegpt' ? 'none' : 'mlp');
      const skipped = (l: LinearName) => (skip === 'mlp' ? MLP.includes(l) : skip === 'self_attn' ? !MLP.includes(l) : false);
      const hessian = initial !== 'wanda' || options.dsnot?.checkError === true;
      return {
        name: method, stats: hessian ? 'hessian' : 'norms',
        prune: (w, s, ctx) => {
          const { skip: _skip, ...o } = options.dsnot ?? {};
          return prune.dsnot(w, s!, pat(ctx), { ...o, initial, ...(skipped(ctx.linear) ? { maxCycles: 0 } : {}), signal: ctx.signal });
        },
      };
    }
    case 'alps':
      return { name: method, stats: 'hessian', prune: (w, s, ctx) => prune.alps(w, s!, pat(ctx), { ...options.alps, signal: ctx.signal }) };
  }
}

/** Reorders a weight's rows (and its bias) by perm, keeping its storage format. */
async function permuteRows(slot: { weight: SparseMatrix | Tensor; bias: Tensor | null }, perm: Int32Array): Promise<void> {
  const permute = (t: Tensor) => {
    const [rows, cols] = t.ndim === 2 ? [t.shape[0]!, t.shape[1]!] : [t.shape[0]!, 1];
    if (rows !== perm.length) throw new ShapeError(`permutation of ${perm.length} channels for a weight with ${rows} rows`);
    const a = t.toTypedArray();
    const out = new (a.constructor as new (n: number) => typeof a)(a.length);
    for (let r = 0; r < rows; r++) out.set(a.subarray(perm[r]! * cols, (perm[r]! + 1) * cols) as never, r * cols);
    return Tensor.from(out, t.shape, { dtype: t.dtype });
  };
  if (slot.weight instanceof SparseMatrix) {
    const sm = slot.weight;
    const dense = permute(await sm.toDenseAsync());
    slot.weight = await SparseMatrix.fromDenseAsync(dense, sm.format === 'nm' ? { format: 'nm', n: sm.n!, m: sm.m! } : { format: sm.format });
    sm.dispose();
  } else {
    slot.weight = permute(slot.weight);
  }
  if (slot.bias) slot.bias = permute(slot.bias);
}

/**
 * Folds a permutation of down_proj's input channels (column c of the new down_proj reads old
 * channel perm[c]) into gate_proj and up_proj, whose output rows are those channels: the block
 * computes the same function. Exported for the tests (an unpruned permutation leaves outputs unchanged).
 */
export async function permuteMlpChannels(block: LlamaBlock, perm: Int32Array, downAlready = false): Promise<void> {
  await permuteRows(block.linears.gate_proj, perm);
  await permuteRows(block.linears.up_proj, perm);
  if (!downAlready) {
    const d = block.linears.down_proj;
    const dense = d.weight instanceof SparseMatrix ? await d.weight.toDenseAsync() : d.weight;
    const [rows, cols] = [dense.shape[0]!, dense.shape[1]!];
    const a = dense.toTypedArray();
    const out = new (a.constructor as new (n: number) => typeof a)(a.length);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = a[r * cols + perm[c]!]!;
    d.weight = Tensor.from(out, dense.shape, { dtype: dense.dtype });
  }
}

/** Calibration samples as Int32Array windows, every id checked against the vocabulary. */
export function checkSamples(calibration: unknown, vocab: number): Int32Array[] {
  let samples: Int32Array[];
  if (calibration instanceof Tensor) {
    if (calibration.dtype !== 'int32' || calibration.ndim !== 2) throw new ShapeError(`calibration: expected an int32 Tensor [samples, seqLen], got ${calibration}`);
    const [n, t] = calibration.shape as [number, number];
    const a = calibration.toTypedArray() as Int32Array;
    samples = Array.from({ length: n }, (_, i) => a.subarray(i * t, (i + 1) * t));
  } else if (Array.isArray(calibration) && calibration.every((s) => s instanceof Int32Array)) {
    samples = calibration as Int32Array[];
  } else {
    throw new ArgumentError(`calibration: expected an array of Int32Array samples or an int32 Tensor [samples, seqLen], got ${describe(calibration)}`);
  }
  if (samples.length === 0) throw new ArgumentError('calibration: no samples');
  samples.forEach((s, i) => {
    if (s.length < 1) throw new ArgumentError(`calibration[${i}]: empty sample`);
    for (let j = 0; j < s.length; j++) if (!(s[j]! >= 0 && s[j]! < vocab)) throw new ArgumentError(`calibration[${i}][${j}] = ${s[j]} is outside the vocabulary [0, ${vocab})`);
  });
  return samples;
}

function patternOf(options: ModelPruneOptions): { pattern: PrunePattern; label: string } {
  if (options.sparsity !== undefined) return { pattern: { sparsity: options.sparsity }, label: `${Math.round(options.sparsity * 1000) / 10}%` };
  if (options.n !== undefined && options.m !== undefined) return { pattern: { n: options.n, m: options.m }, label: `${options.n}:${options.m}` };
  throw new ArgumentError('options: give { sparsity } or { n, m }');
}

/**
 * Samples of equal length grouped to run together, up to CHUNK_TOKENS tokens per forward (fewer,
 * larger products than one sample at a time, the same statistics), with each group's block context.
 */
export function calibrationChunks(model: LlamaModel, samples: Int32Array[]): { chunks: Int32Array[][]; contexts: BlockContext[] } {
  const chunks: Int32Array[][] = [];
  for (const s of samples) {
    const last = chunks.at(-1);
    if (last && last[0]!.length === s.length && (last.length + 1) * s.length <= CHUNK_TOKENS) last.push(s);
    else chunks.push([s]);
  }
  const contexts = chunks.map((c): BlockContext => ({
    config: model.config, batch: c.length, tokens: c[0]!.length, past: 0,
    positions: Int32Array.from({ length: c.length * c[0]!.length }, (_, i) => i % c[0]!.length), invFreq: model.invFreq, cache: null,
  }));
  return { chunks, contexts };
}

export async function pruneModel(
  model: LlamaModel, calibration: Int32Array[] | Tensor, options: ModelPruneOptions,
  control: { onProgress?: (p: ModelPruneProgress) => void; signal?: AbortSignal } = {},
): Promise<ModelPruneReport> {
  if (typeof options !== 'object' || options === null) throw new ArgumentError(`options: expected an object, got ${describe(options)}`);
  const { pattern, label } = patternOf(options);
  const method = options.method;
  const layerwise = options.layerwise ?? 'uniform';
  if (layerwise !== 'uniform' && layerwise !== 'owl') throw new ArgumentError(`options.layerwise: expected 'uniform' or 'owl', got ${describe(layerwise)}`);
  if (layerwise === 'owl' && pattern.sparsity === undefined) throw new ArgumentError("options.layerwise: 'owl' applies to unstructured sparsity only");
  let owl = layerwise === 'owl' ? checkOwl(options.owl) : null;
  let blockSparsity: number[] | null = null;
  const patternAt = (block: number): PrunePattern => (blockSparsity ? { sparsity: blockSparsity[block]! } : pattern);
  const solver = typeof method === 'object' && method !== null ? method
    : (BUILTIN as readonly unknown[]).includes(method) ? builtinSolver(method, patternAt, options)
    : (() => { throw new ArgumentError(`options.method: expected one of ${BUILTIN.join(', ')} or a LinearSolver, got ${describe(method)}`); })();
  const mode = options.calibration ?? 'sequential';
  if (!['sequential', 'block', 'one-pass'].includes(mode)) throw new ArgumentError(`options.calibration: expected 'sequential', 'block' or 'one-pass', got ${describe(mode)}`);
  const nBlocks = model.blocks.length;
  const chosen = new Set(options.blocks ?? model.blocks.map((b) => b.index));
  for (const b of chosen) if (!Number.isInteger(b) || b < 0 || b >= nBlocks) throw new ArgumentError(`options.blocks: ${b} is not a block index in [0, ${nBlocks})`);
  refuseSlorbTerms(model.blocks.filter((b) => chosen.has(b.index)), 'pruning');
  // Magnitude reads no statistics: it needs no calibration samples (an empty array is fine).
  const samples = solver.stats === 'none' && !owl && Array.isArray(calibration) && calibration.length === 0 ? []
    : checkSamples(calibration, model.config.vocabSize);
  const { onProgress, signal } = control;
  const checkAbort = () => { if (signal?.aborted) throw new AbortError('prune: aborted'); };
  checkAbort();

  const search = owl && options.owl?.search !== undefined && options.owl.search !== false
    ? await searchOwl(model, samples, options, { signal }, (m, s, o, c) => pruneModel(m, s, o, c)) : null;
  if (search) owl = { M: search.M, lambda: search.lambda };

  const started = performance.now();
  const report: ModelPruneReport = {
    method: solver.name, pattern: label, calibration: mode, samples: samples.length, tokens: samples.reduce((s, x) => s + x.length, 0),
    linears: [], blockSeconds: [], seconds: 0, sparsity: 0,
  };
  const { chunks, contexts } = calibrationChunks(model, samples);
  const embed = () => chunks.map((c) => model.embedTokens(c.length === 1 ? c[0]! : Int32Array.from(c.flatMap((x) => [...x]))));
  let xs = solver.stats === 'none' ? [] : embed();
  const progress = (block: number, stage: ModelPruneProgress['stage'], step: number, steps: number, group?: InputGroup) => {
    onProgress?.({ block, blocks: nBlocks, stage, group, fraction: Math.min(1, (block + step / steps) / nBlocks) });
  };

  // Runs every sample through `block`, feeding each group's input to its stats; `stopAt` ends each
  // forward after that group's input (sequential mode) and no outputs are kept then.
  const calibrate = async (block: LlamaBlock, stats: Map<InputGroup, CalibrationStats>, stopAt: InputGroup | null, keepOutputs: boolean) => {
    const outs: Float32Array[] = [];
    for (let s = 0; s < chunks.length; s++) {
      checkAbort();
      const y = await blockForward(block, xs[s]!, contexts[s]!, async (group, x) => {
        const st = stats.get(group);
        if (st) await st.addAsync(x);
        return group === stopAt;
      });
      if (keepOutputs) outs.push(y!);
    }
    return outs;
  };

  const pruneGroup = async (block: LlamaBlock, group: (typeof INPUT_GROUPS)[number], stats: CalibrationStats | null) => {
    for (const l of group.linears) {
      checkAbort();
      const slot = block.linears[l];
      const t0 = performance.now();
      const dense = slot.weight instanceof SparseMatrix ? await slot.weight.toDenseAsync() : slot.weight;
      const r: BeyondResult = await solver.prune(dense, stats, { block: block.index, linear: l, name: slot.name, signal, sparsity: patternAt(block.index).sparsity });
      if (r.permutation) {
        if (l !== 'down_proj') throw new ArgumentError(`prune: a solver returned an input permutation for ${slot.name}; only down_proj's can be folded (into gate/up)`);
        await permuteMlpChannels(block, r.permutation, true);
      }
      const packed = await SparseMatrix.fromDenseAsync(r.weight, pattern.n !== undefined
        ? { format: 'nm', n: pattern.n, m: pattern.m, mask: r.mask } : { format: 'bitmap', mask: r.mask });
      slot.weight = packed;
      // The original's pages go back to the OS (a later read of them would fault them in again).
      const ckpt = model.checkpoint();
      if (ckpt.has(slot.name)) ckpt.fileOf(slot.name).release(slot.name);
      report.linears.push({ name: slot.name, block: block.index, linear: l, sparsity: r.report.sparsity, loss: r.report.loss, seconds: (performance.now() - t0) / 1000 });
    }
  };

  const makeStats = (group: InputGroup, block: LlamaBlock): CalibrationStats | null => {
    if (solver.stats === 'none') return null;
    const cols = block.linears[INPUT_GROUPS.find((g) => g.group === group)!.linears[0]].weight;
    const k = cols instanceof SparseMatrix ? cols.cols : cols.shape[1]!;
    return new CalibrationStats(k, { hessian: solver.stats === 'hessian' });
  };

  if (owl) {
    // OWL's first pass: the dense model, every block's inputs and Wanda scores.
    const ratios: number[] = [];
    let ys = embed();
    for (const block of model.blocks) {
      const stats = new Map<InputGroup, CalibrationStats>();
      try {
        for (const g of INPUT_GROUPS) {
          const w = block.linears[g.linears[0]].weight;
          stats.set(g.group, new CalibrationStats(w instanceof SparseMatrix ? w.cols : w.shape[1]!));
        }
        const outs: Float32Array[] = [];
        for (let s = 0; s < chunks.length; s++) {
          checkAbort();
          outs.push((await blockForward(block, ys[s]!, contexts[s]!, async (group, x) => { await stats.get(group)!.addAsync(x); return false; }))!);
        }
        ys = outs;
        const tally = new OutlierTally();
        const views: { w: ArrayLike<number>; rows: number; cols: number; norm: Float64Array }[] = [];
        for (const g of INPUT_GROUPS) {
          const norm = stats.get(g.group)!.channelNorms();
          for (const l of g.linears) {
            const wt = block.linears[l].weight;
            const dense = wt instanceof SparseMatrix ? await wt.toDenseAsync() : wt;
            views.push({ w: dense.toFloat32Array(), rows: dense.shape[0]!, cols: dense.shape[1]!, norm });
          }
        }
        for (const v of views) tally.addSum(v.w, v.rows, v.cols, v.norm);
        tally.freeze(owl.M);
        for (const v of views) tally.addCount(v.w, v.rows, v.cols, v.norm);
        ratios.push(tally.ratio);
      } finally {
        for (const st of stats.values()) st.dispose();
      }
    }
    blockSparsity = owlSparsities(ratios, pattern.sparsity!, owl.lambda);
    report.blockSparsity = blockSparsity;
    report.outlierRatios = ratios;
    if (search) report.owlSearch = { M: search.M, lambda: search.lambda, candidates: search.entries };
  }

  for (const block of model.blocks) {
    const t0 = performance.now();
    if (solver.stats === 'none') {
      // No statistics: nothing needs to run through the model.
      if (chosen.has(block.index)) for (const g of INPUT_GROUPS) await pruneGroup(block, g, null);
      progress(block.index, 'prune', 1, 1);
      if (chosen.has(block.index)) report.blockSeconds.push((performance.now() - t0) / 1000);
      continue;
    }
    if (!chosen.has(block.index)) {
      progress(block.index, 'propagate', 0, 1);
      xs = await calibrate(block, new Map(), null, true);
      continue;
    }
    if (mode === 'sequential') {
      let step = 0;
      for (const group of INPUT_GROUPS) {
        progress(block.index, 'calibrate', step++, 5, group.group);
        const st = makeStats(group.group, block);
        try {
          if (st) await calibrate(block, new Map([[group.group, st]]), group.group, false);
          progress(block.index, 'prune', step - 0.5, 5, group.group);
          await pruneGroup(block, group, st);
        } finally {
          st?.dispose();
        }
      }
      progress(block.index, 'propagate', 4, 5);
      xs = await calibrate(block, new Map(), null, true);
    } else {
      const stats = new Map<InputGroup, CalibrationStats>();
      try {
        for (const g of INPUT_GROUPS) {
          const st = makeStats(g.group, block);
          if (st) stats.set(g.group, st);
        }
        progress(block.index, 'calibrate', 0, 3);
        // one-pass: this pass's outputs (the dense block's) feed the next block.
        const outs = await calibrate(block, stats, null, mode === 'one-pass');
        progress(block.index, 'prune', 1, 3);
        for (const g of INPUT_GROUPS) await pruneGroup(block, g, stats.get(g.group) ?? null);
        if (mode === 'one-pass') xs = outs;
      } finally {
        for (const st of stats.values()) st.dispose();
      }
      if (mode === 'block') {
        progress(block.index, 'propagate', 2, 3);
        xs = await calibrate(block, new Map(), null, true);
      }
    }
    report.blockSeconds.push((performance.now() - t0) / 1000);
  }
  progress(nBlocks - 1, 'done', 1, 1);
  let pruned = 0, total = 0;
  for (const l of report.linears) {
    const slot = model.blocks[l.block]!.linears[l.linear];
    const n = slot.weight instanceof SparseMatrix ? slot.weight.rows * slot.weight.cols : slot.weight.size;
    pruned += l.sparsity * n;
    total += n;
  }
  report.sparsity = total ? pruned / total : 0;
  report.seconds = (performance.now() - started) / 1000;
  return report;
}
