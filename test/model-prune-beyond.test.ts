/**
 * OWL, RIA (with its channel permutation folded into gate/up), DSnoT and ALPS on the whole-model
 * path, with the trained tiny Llama (test/fixtures/tiny-llama).
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LlamaModel, SparseMatrix, owlSparsities, permuteMlpChannels, prune, type LinearSolver } from '../lib/index.js';
import { OutlierTally } from '../lib/model/owl.js';
import { readTokenFile } from '../lib/model/tokens.js';
import { TINY } from './model-fixtures.js';

let calib: Int32Array[];
let evalIds: Int32Array;
const ppl = (m: LlamaModel, maxWindows = 32) => m.perplexity(evalIds, { seqLen: 128, batch: 16, maxWindows });

beforeAll(async () => {
  const c = await readTokenFile(join(TINY, 'calib.tokens.safetensors'));
  calib = Array.from({ length: 8 }, (_, i) => c.ids.slice(i * 128, (i + 1) * 128));
  evalIds = (await readTokenFile(join(TINY, 'eval.tokens.bin'))).ids;
});

describe('owlSparsities (luuyin/OWL: ratios -> [0, 2λ], re-centred on the target density)', () => {
  it('pins the published formula; the mean is the target; equal ratios give the target', () => {
    const s = owlSparsities([1, 3, 2, 6], 0.7, 0.08);
    // scaled = (r − 1)/5·0.16 = [0, 0.064, 0.032, 0.16], mean 0.064: sparsity = 0.7 − (scaled − mean).
    expect(s.map((v) => +v.toFixed(12))).toEqual([0.764, 0.7, 0.732, 0.604]);
    expect(s.reduce((a, b) => a + b) / 4).toBeCloseTo(0.7, 12);
    expect(owlSparsities([2, 2, 2], 0.5, 0.08)).toEqual([0.5, 0.5, 0.5]);
    expect(() => owlSparsities([0, 1], 0.05, 0.1)).toThrow(/leaves \[0, 1\)/);
  });
});

describe('OutlierTally (a block\'s outlier ratio: scores |W_ij|·‖X_j‖ above M × their block-wide mean)', () => {
  it('counts, over every linear of the block, the share of scores above M times the mean of all of them', () => {
    // Two linears. Scores: [1, 2, 3, 4] · norm [1, 1] -> 1 2 3 4, and [[10, 0, 0]] · [1, 2, 3] -> 10 0 0.
    const a = [1, -2, 3, -4], na = [1, 1];
    const b = [5, 0, 0], nb = [2, 1, 1];
    const t = new OutlierTally();
    t.addSum(a, 2, 2, na); t.addSum(b, 1, 3, nb);
    // Mean of the 7 scores = 20 / 7 = 2.857...; with M = 1.2 the threshold is 3.43: scores 4 and 10 are above it.
    t.freeze(1.2);
    t.addCount(a, 2, 2, na); t.addCount(b, 1, 3, nb);
    expect(t.ratio).toBeCloseTo((100 * 2) / 7, 12);
    const u = new OutlierTally();
    u.addSum(a, 2, 2, na); u.addSum(b, 1, 3, nb);
    u.freeze(3); // threshold 8.57: only the 10
    u.addCount(a, 2, 2, na); u.addCount(b, 1, 3, nb);
    expect(u.ratio).toBeCloseTo(100 / 7, 12);
  });
});

describe('whole-model OWL / RIA / DSnoT / ALPS', () => {
  it("layerwise 'owl': per-block targets around 70% with mean 70%, each block pruned to its own target, any solver", async () => {
    using m = await LlamaModel.load(TINY);
    const seen: number[] = [];
    const spy: LinearSolver = {
      name: 'spy', stats: 'norms',
      prune: (w, s, ctx) => { seen.push(ctx.sparsity!); return prune.wandaAsync(w, s!, { sparsity: ctx.sparsity! }); },
    };
    const rep = await m.prune(calib, { method: spy, sparsity: 0.7, layerwise: 'owl', owl: { M: 5, lambda: 0.08 } });
    const bs = rep.blockSparsity!;
    expect(bs.length).toBe(4);
    expect(bs.reduce((a, b) => a + b) / 4).toBeCloseTo(0.7, 12);
    expect(Math.max(...bs) - Math.min(...bs)).toBeCloseTo(0.16, 12);
    expect(rep.outlierRatios!.every((r) => r > 0 && r < 100)).toBe(true);
    // Blocks with more outliers are pruned less.
    const order = (a: number[]) => a.map((_, i) => i).sort((x, y) => a[x]! - a[y]!);
    expect(order(bs)).toEqual(order(rep.outlierRatios!.map((r) => -r)));
    expect(seen).toEqual(bs.flatMap((s) => Array(7).fill(s)));
    for (const l of rep.linears) expect(l.sparsity).toBeCloseTo(bs[l.block]!, 1);
    expect(rep.sparsity).toBeCloseTo(0.7, 2);
    await expect(m.prune(calib, { method: 'wanda', n: 2, m: 4, layerwise: 'owl' })).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
    await expect(m.prune(calib, { method: 'wanda', sparsity: 0.5, layerwise: 'owl', owl: { M: 0 } })).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
  });

  it('owl.search: each (M, λ) pruned from the dense weights and scored on the calibration samples; the best one is applied', async () => {
    using m = await LlamaModel.load(TINY);
    const grid = { M: [3, 7], lambda: [0, 0.05] };
    const rep = await m.prune(calib, { method: 'wanda', sparsity: 0.6, layerwise: 'owl', owl: { search: grid } });
    const cands = rep.owlSearch!.candidates;
    // λ = 0 is uniform whatever M: tried once.
    expect(cands.map((c) => [c.M, c.lambda])).toEqual([[3, 0], [3, 0.05], [7, 0.05]]);
    const best = cands.reduce((a, b) => (b.calibPerplexity < a.calibPerplexity ? b : a));
    expect([rep.owlSearch!.M, rep.owlSearch!.lambda]).toEqual([best.M, best.lambda]);
    expect(new Set(cands.map((c) => c.calibPerplexity)).size).toBe(3);
    // Every candidate started from the dense model: a fresh prune with the chosen pair gives the same model.
    using f = await LlamaModel.load(TINY);
    const fr = await f.prune(calib, { method: 'wanda', sparsity: 0.6, layerwise: 'owl', owl: { M: best.M, lambda: best.lambda } });
    expect(rep.blockSparsity).toEqual(fr.blockSparsity);
    expect(await ppl(m, 8)).toBe(await ppl(f, 8));
    await expect(m.prune(calib, { method: 'wanda', sparsity: 0.5, layerwise: 'owl', owl: { search: { M: [] } } })).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
  });

  it('permuting down_proj input channels, folded into gate/up rows, leaves the logits unchanged', async () => {
    using a = await LlamaModel.load(TINY);
    using b = await LlamaModel.load(TINY);
    const inter = b.blocks[0]!.linears.down_proj.weight.shape[1]!;
    const perm = Int32Array.from({ length: inter }, (_, i) => (i * 37 + 11) % inter);
    expect(new Set(perm).size).toBe(inter);
    for (const blk of b.blocks) await permuteMlpChannels(blk, perm);
    const ids = evalIds.slice(0, 64);
    const la = (await a.forward(ids)).toTypedArray() as Float32Array, lb = (await b.forward(ids)).toTypedArray() as Float32Array;
    let max = 0, scale = 0;
    for (let i = 0; i < la.length; i++) {
      max = Math.max(max, Math.abs(la[i]! - lb[i]!));
      scale = Math.max(scale, Math.abs(la[i]!));
    }
    expect(max).toBeLessThan(1e-5 * scale);
    expect(max).toBeGreaterThanOrEqual(0);
  });

  it('RIA 2:4 with permute: down_proj permuted and pruned, gate/up rows follow; every linear packs as 2:4', async () => {
    using m = await LlamaModel.load(TINY);
    using plain = await LlamaModel.load(TINY);
    await m.prune(calib, { method: 'ria', n: 2, m: 4, ria: { permute: true } });
    await plain.prune(calib, { method: 'ria', n: 2, m: 4 });
    for (const s of m.linearSlots()) expect((s.weight as SparseMatrix).format).toBe('nm');
    // The same q/k/v/o (not permuted); a different down_proj.
    const dense = (mm: LlamaModel, l: 'q_proj' | 'down_proj') => (mm.blocks[0]!.linears[l].weight as SparseMatrix).toDense().toTypedArray();
    expect(dense(m, 'q_proj')).toEqual(dense(plain, 'q_proj'));
    expect(dense(m, 'down_proj')).not.toEqual(dense(plain, 'down_proj'));
    const [pm, pp] = [await ppl(m, 16), await ppl(plain, 16)];
    expect(pm).toBeLessThan(pp * 1.05);
  });

  it('ALPS at 2:4 beats SparseGPT on perplexity; DSnoT keeps the pattern and the sparsity', async () => {
    using a = await LlamaModel.load(TINY);
    using s = await LlamaModel.load(TINY);
    await a.prune(calib, { method: 'alps', n: 2, m: 4 });
    await s.prune(calib, { method: 'sparsegpt', n: 2, m: 4 });
    expect(await ppl(a, 16)).toBeLessThan(await ppl(s, 16));
    using a70 = await LlamaModel.load(TINY);
    const r70 = await a70.prune(calib, { method: 'alps', sparsity: 0.7, alps: { maxIter: 30 } });
    // Layer-wide: exactly round(0.3·size) kept in every linear.
    for (const l of r70.linears) {
      const w = a70.blocks[l.block]!.linears[l.linear].weight as SparseMatrix;
      expect(w.nnz).toBe(Math.round(0.3 * w.rows * w.cols));
    }
    using d = await LlamaModel.load(TINY);
    const rep = await d.prune(calib, { method: 'dsnot', sparsity: 0.6, dsnot: { initial: 'wanda', skip: 'none', maxCycles: 5 } });
    // ⌊0.6·cols⌋ pruned in every row, as Wanda.
    for (const l of rep.linears) {
      const cols = (d.blocks[l.block]!.linears[l.linear].weight as SparseMatrix).cols;
      expect(l.sparsity).toBe(Math.floor(0.6 * cols) / cols);
    }
    using d2 = await LlamaModel.load(TINY);
    await d2.prune(calib, { method: 'dsnot', n: 2, m: 4 });  // the SparseGPT start, every linear
    for (const sl of d2.linearSlots()) expect((sl.weight as SparseMatrix).format).toBe('nm');
  });
});
