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
import { SparseMatrix } from '../sparse-matrix.js';
import { Tensor } from '../tensor.js';
import { INPUT_GROUPS, blockForward, type BlockContext, type InputGroup, type LinearName, type LlamaBlock } from './block.js';
import type { LlamaModel } from './llama.js';

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

export type ModelPruneOptions = PrunePattern & {
  /** A built-in solver, or your own. */
  method: 'magnitude' | 'wanda' | 'sparsegpt' | LinearSolver;
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
}

function builtinSolver(method: 'magnitude' | 'wanda' | 'sparsegpt', pattern: PrunePattern, options: ModelPruneOptions): LinearSolver {
  if (method === 'magnitude') return { name: method, stats: 'none', prune: (w) => prune.magnitudeAsync(w, pattern) };
  if (method === 'wanda') return { name: method, stats: 'norms', prune: (w, s) => prune.wandaAsync(w, s!, pattern) };
  return {
    name: method, stats: 'hessian',
    prune: (w, s, ctx) => prune.sparsegpt(w, s!, pattern, { blockSize: options.blockSize, damping: options.damping, signal: ctx.signal }),
  };
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
  const solver = typeof method === 'object' && method !== null ? method
    : method === 'magnitude' || method === 'wanda' || method === 'sparsegpt' ? builtinSolver(method, pattern, options)
    : (() => { throw new ArgumentError(`options.method: expected 'magnitude', 'wanda', 'sparsegpt' or a LinearSolver, got ${describe(method)}`); })();
  const mode = options.calibration ?? 'sequential';
  if (!['sequential', 'block', 'one-pass'].includes(mode)) throw new ArgumentError(`options.calibration: expected 'sequential', 'block' or 'one-pass', got ${describe(mode)}`);
  const nBlocks = model.blocks.length;
  const chosen = new Set(options.blocks ?? model.blocks.map((b) => b.index));
  for (const b of chosen) if (!Number.isInteger(b) || b < 0 || b >= nBlocks) throw new ArgumentError(`options.blocks: ${b} is not a block index in [0, ${nBlocks})`);
  // Magnitude reads no statistics: it needs no calibration samples (an empty array is fine).
  const samples = solver.stats === 'none' && Array.isArray(calibration) && calibration.length === 0 ? []
    : checkSamples(calibration, model.config.vocabSize);
  const { onProgress, signal } = control;
  const checkAbort = () => { if (signal?.aborted) throw new AbortError('prune: aborted'); };
  checkAbort();

  const started = performance.now();
  const report: ModelPruneReport = {
    method: solver.name, pattern: label, calibration: mode, samples: samples.length, tokens: samples.reduce((s, x) => s + x.length, 0),
    linears: [], blockSeconds: [], seconds: 0, sparsity: 0,
  };
  const { chunks, contexts } = calibrationChunks(model, samples);
  let xs = solver.stats === 'none' ? [] : chunks.map((c) => model.embedTokens(c.length === 1 ? c[0]! : Int32Array.from(c.flatMap((x) => [...x]))));
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
      const r = await solver.prune(dense, stats, { block: block.index, linear: l, name: slot.name, signal });
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
