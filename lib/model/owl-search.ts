/**
 * OWL's hyper-parameters chosen on the calibration data: the paper searches M (outlier threshold)
 * and λ (sparsity spread) per model. Each (M, λ) of a grid prunes the model, the pruned model's
 * perplexity on the calibration samples themselves is measured, and the dense weights are put
 * back; the best pair wins. λ = 0 (uniform sparsity) is in the default grid, so the search falls
 * back to uniform when no spread helps. Never looks at evaluation text. Costs one prune per
 * candidate (17 with the default grid) plus the final one.
 */
import { ArgumentError } from '../errors.js';
import { SparseMatrix } from '../sparse-matrix.js';
import type { LlamaModel } from './llama.js';
import type { ModelPruneOptions, ModelPruneReport } from './prune-model.js';

export interface OwlSearchGrid {
  /** Outlier thresholds to try (default [3, 5, 7, 10], the paper's range). */
  M?: number[];
  /** Spreads to try (default [0, 0.02, 0.05, 0.08, 0.1]; 0 is uniform sparsity). */
  lambda?: number[];
}

export interface OwlSearchEntry {
  M: number;
  lambda: number;
  /** Perplexity of the pruned model on the calibration samples (NaN: the spread left [0, 1)). */
  calibPerplexity: number;
}

export const OWL_SEARCH_DEFAULT = { M: [3, 5, 7, 10], lambda: [0, 0.02, 0.05, 0.08, 0.1] } as const;

function grid(values: unknown, dflt: readonly number[], what: string, ok: (x: number) => boolean): number[] {
  if (values === undefined) return [...dflt];
  if (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === 'number' && ok(v)))
    throw new ArgumentError(`owl.search.${what}: expected a non-empty array of valid numbers, got ${String(values)}`);
  return values as number[];
}

/** Perplexity on the samples, equal-length ones batched together. */
async function calibPerplexity(model: LlamaModel, samples: Int32Array[], signal?: AbortSignal): Promise<number> {
  const byLen = new Map<number, Int32Array[]>();
  for (const s of samples) if (s.length >= 2) byLen.set(s.length, [...(byLen.get(s.length) ?? []), s]);
  let nll = 0, count = 0;
  for (const [len, group] of byLen) {
    const ids = new Int32Array(len * group.length);
    group.forEach((s, i) => ids.set(s, i * len));
    const ppl = await model.perplexity(ids, { seqLen: len, batch: 16, signal });
    nll += Math.log(ppl) * group.length * (len - 1);
    count += group.length * (len - 1);
  }
  if (count === 0) throw new ArgumentError('owl.search: the calibration samples need at least 2 tokens');
  return Math.exp(nll / count);
}

export async function searchOwl(
  model: LlamaModel, samples: Int32Array[], options: ModelPruneOptions, control: { signal?: AbortSignal },
  prune: (m: LlamaModel, s: Int32Array[], o: ModelPruneOptions, c: { signal?: AbortSignal }) => Promise<ModelPruneReport>,
): Promise<{ M: number; lambda: number; entries: OwlSearchEntry[] }> {
  const g = options.owl?.search === true ? {} : (options.owl?.search as OwlSearchGrid);
  const Ms = grid(g.M, OWL_SEARCH_DEFAULT.M, 'M', (x) => x > 0 && Number.isFinite(x));
  const lambdas = grid(g.lambda, OWL_SEARCH_DEFAULT.lambda, 'lambda', (x) => x >= 0 && Number.isFinite(x));
  const entries: OwlSearchEntry[] = [];
  const candidates = lambdas.flatMap((lambda) => (lambda === 0 ? [{ M: Ms[0]!, lambda }] : Ms.map((M) => ({ M, lambda }))));
  for (const c of candidates) {
    const saved = model.linearSlots().map((slot) => ({ slot, weight: slot.weight, bias: slot.bias }));
    let ppl = NaN;
    try {
      await prune(model, samples, { ...options, owl: { M: c.M, lambda: c.lambda } }, control);
      ppl = await calibPerplexity(model, samples, control.signal);
    } catch (e) {
      // A spread that pushes a block outside [0, 1) is skipped; anything else is an error.
      if (!(e instanceof ArgumentError && /leaves \[0, 1\)/.test(e.message))) throw e;
    } finally {
      for (const s of saved) {
        if (s.slot.weight !== s.weight && s.slot.weight instanceof SparseMatrix) s.slot.weight.dispose();
        s.slot.weight = s.weight;
        s.slot.bias = s.bias;
      }
    }
    entries.push({ ...c, calibPerplexity: ppl });
  }
  const ok = entries.filter((e) => Number.isFinite(e.calibPerplexity));
  if (ok.length === 0) throw new ArgumentError('owl.search: every candidate pushed a block outside [0, 1)');
  const best = ok.reduce((a, b) => (b.calibPerplexity < a.calibPerplexity ? b : a));
  return { M: best.M, lambda: best.lambda, entries };
}
