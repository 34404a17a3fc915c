/**
 * Structured pruning on the trained tiny Llama (4 layers, hidden 128, 4 query / 2 kv heads of 32,
 * SwiGLU 384): dependency groups, every score method against a float64 re-implementation written
 * from the papers' definitions, exact surgery (the shrunk model equals the masked full model plus
 * the bias compensation), save/reload, perplexity against magnitude, and typed plan errors.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LINEARS, LlamaModel, PlanError, SparseMatrix, SparsekitError, Tensor, blockForward, loadSafetensors, planFromMasks, planStructuredPrune, saveStructureMasks,
  type BlockContext, type InputGroup, type LinearName, type StructureScores, type StructuredPlan,
} from '../lib/index.js';
import { readTokenFile } from '../lib/model/tokens.js';
import { errorOf } from './errors-helper.js';
import { QWEN, TINY, withSlorbTerm } from './model-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'sparsekit-structured-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let calib: Int32Array[];
let evalIds: Int32Array;
beforeAll(async () => {
  const c = await readTokenFile(join(TINY, 'calib.tokens.safetensors'));
  calib = Array.from({ length: 32 }, (_, i) => c.ids.slice(i * 128, (i + 1) * 128));
  evalIds = (await readTokenFile(join(TINY, 'eval.tokens.bin'))).ids;
});

// ---------------------------------------------------------------- float64 reference
// Written from the definitions (FLAP, An et al. 2024, eq. 4-5 and its code's standardization;
// Wanda-sp; LLM-Pruner's first-order term; Minitron's activation RMS), on activations captured
// window by window.

interface Captured { x: Record<InputGroup, Float64Array[]>; cos: number[] }

async function capture(model: LlamaModel, windows: Int32Array[]): Promise<Captured[]> {
  const c = model.config;
  let xs = windows.map((w) => model.embedTokens(w));
  const out: Captured[] = [];
  for (const block of model.blocks) {
    const cap: Captured = { x: { qkv: [], o: [], gateUp: [], down: [] }, cos: [] };
    const next: Float32Array[] = [];
    for (let i = 0; i < windows.length; i++) {
      const T = windows[i]!.length;
      const ctx: BlockContext = { config: c, batch: 1, tokens: T, past: 0, positions: Int32Array.from({ length: T }, (_, t) => t), invFreq: model.invFreq, cache: null };
      const y = (await blockForward(block, xs[i]!, ctx, (g, t) => { cap.x[g].push(Float64Array.from(t.toTypedArray() as Float32Array)); }))!;
      const H = c.hiddenSize;
      for (let t = 0; t < T; t++) {
        let d = 0, a = 0, b = 0;
        for (let j = 0; j < H; j++) { d += xs[i]![t * H + j]! * y[t * H + j]!; a += xs[i]![t * H + j]! ** 2; b += y[t * H + j]! ** 2; }
        cap.cos.push(d / Math.sqrt(a * b));
      }
      next.push(y);
    }
    xs = next;
    out.push(cap);
  }
  return out;
}

function w64(model: LlamaModel, b: number, l: LinearName): { w: Float64Array; rows: number; cols: number } {
  const t = model.blocks[b]!.linears[l].weight as Tensor;
  return { w: Float64Array.from(t.toFloat32Array()), rows: t.shape[0]!, cols: t.shape[1]! };
}

/** Per input channel j over all captured tokens: [mean, sample variance, ‖x_j‖₂]. */
function channelStats(xs: Float64Array[], k: number): { mean: Float64Array; variance: Float64Array; norm: Float64Array } {
  const all = xs.flatMap((x) => Array.from({ length: x.length / k }, (_, t) => x.subarray(t * k, (t + 1) * k)));
  const n = all.length;
  const mean = new Float64Array(k), variance = new Float64Array(k), norm = new Float64Array(k);
  for (const row of all) for (let j = 0; j < k; j++) { mean[j]! += row[j]! / n; norm[j]! += row[j]! ** 2; }
  for (const row of all) for (let j = 0; j < k; j++) variance[j]! += (row[j]! - mean[j]!) ** 2 / (n - 1);
  return { mean, variance, norm: norm.map(Math.sqrt) };
}

function zscore(v: Float64Array): Float64Array {
  const m = v.reduce((s, x) => s + x, 0) / v.length;
  const sd = Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / (v.length - 1));
  return v.map((x) => (x - m) / sd);
}

function referenceScores(model: LlamaModel, cap: Captured[], method: string, grads: Record<string, Tensor>) {
  const c = model.config;
  const hd = c.headDim, H = c.hiddenSize, r = c.numHeads / c.numKvHeads;
  return model.blocks.map((_, b) => {
    const xq = channelStats(cap[b]!.x.qkv, H), xo = channelStats(cap[b]!.x.o, c.numHeads * hd);
    const xg = channelStats(cap[b]!.x.gateUp, H), xd = channelStats(cap[b]!.x.down, c.intermediateSize);
    const heads = new Float64Array(c.numHeads), groups = new Float64Array(c.numKvHeads), mlp = new Float64Array(c.intermediateSize);
    const bi = 1 - cap[b]!.cos.reduce((s, x) => s + x, 0) / cap[b]!.cos.length;
    if (method === 'activation') {
      const n = cap[b]!.cos.length;
      for (let h = 0; h < c.numHeads; h++) {
        let ss = 0;
        for (let j = h * hd; j < (h + 1) * hd; j++) ss += xo.norm[j]! ** 2;
        heads[h] = Math.sqrt(ss / n);
        groups[Math.floor(h / r)]! += heads[h]!;
      }
      return { heads, groups, mlp: xd.norm.map((v) => v / Math.sqrt(n)), block: bi };
    }
    if (method === 'flap') {
      const o = w64(model, b, 'o_proj'), d = w64(model, b, 'down_proj');
      const a = zscore(xo.variance.map((v, j) => { let s = 0; for (let i = 0; i < H; i++) s += o.w[i * o.cols + j]! ** 2; return (v * s) ** 2; }));
      const m = zscore(xd.variance.map((v, j) => { let s = 0; for (let i = 0; i < H; i++) s += d.w[i * d.cols + j]! ** 2; return v * s; }));
      for (let j = 0; j < a.length; j++) { heads[Math.floor(j / hd)]! += a[j]! / hd; groups[Math.floor(j / (r * hd))]! += a[j]! / (r * hd); }
      return { heads, groups, mlp: m, block: bi };
    }
    // Element importance of W[i, j] for each method.
    const imp = (l: LinearName, norms: Float64Array) => {
      const { w, cols } = w64(model, b, l);
      const g = grads[`${model.blocks[b]!.linears[l].name}.grad`]?.toFloat32Array();
      return (i: number, j: number) => {
        const x = w[i * cols + j]!;
        return method === 'magnitude' ? Math.abs(x) : method === 'wanda-sp' ? Math.abs(x) * norms[j]! : Math.abs(x * g![i * cols + j]!);
      };
    };
    const q = imp('q_proj', xq.norm), k = imp('k_proj', xq.norm), v = imp('v_proj', xq.norm), o = imp('o_proj', xo.norm);
    for (let h = 0; h < c.numHeads; h++)
      for (let e = h * hd; e < (h + 1) * hd; e++) for (let j = 0; j < H; j++) heads[h]! += q(e, j) + o(j, e);
    for (let g = 0; g < c.numKvHeads; g++) {
      for (let h = g * r; h < (g + 1) * r; h++) groups[g]! += heads[h]!;
      for (let e = g * hd; e < (g + 1) * hd; e++) for (let j = 0; j < H; j++) groups[g]! += k(e, j) + v(e, j);
    }
    const gt = imp('gate_proj', xg.norm), up = imp('up_proj', xg.norm), dn = imp('down_proj', xd.norm);
    for (let ch = 0; ch < c.intermediateSize; ch++) for (let j = 0; j < H; j++) mlp[ch]! += gt(ch, j) + up(ch, j) + dn(j, ch);
    let block = bi;
    if (method === 'taylor') {
      block = 0;
      for (const l of LINEARS) {
        const f = imp(l, xq.norm), { rows, cols } = w64(model, b, l);
        for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) block += f(i, j);
      }
    }
    return { heads, groups, mlp, block };
  });
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, rel: number): void {
  expect(a.length).toBe(b.length);
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  for (let i = 0; i < b.length; i++) if (!(Math.abs(a[i]! - b[i]!) <= rel * scale)) expect.fail(`[${i}]: ${a[i]} vs reference ${b[i]} (scale ${scale})`);
}

// ---------------------------------------------------------------- masked model (the definition of removal)

/** Zeroes every planned structure of `model` in place, removes planned blocks, and adds the compensation biases. */
function maskModel(model: LlamaModel, plan: StructuredPlan, compensate: boolean): void {
  const c = model.config, hd = c.headDim, r = c.numHeads / c.numKvHeads;
  const edit = (b: number, l: LinearName, f: (w: Float32Array, rows: number, cols: number) => void) => {
    const slot = model.blocks[b]!.linears[l];
    const t = slot.weight as Tensor;
    const w = t.toFloat32Array();
    f(w, t.shape[0]!, t.shape[1]!);
    slot.weight = Tensor.from(w, t.shape);
  };
  const removedO = (b: number) => Array.from({ length: c.numHeads * hd }, (_, j) => j).filter((j) => !plan.blocks[b]!.attention[Math.floor(j / (r * hd))]);
  const removedD = (b: number) => Array.from({ length: c.intermediateSize }, (_, j) => j).filter((j) => !plan.blocks[b]!.mlp[j]);
  for (let b = 0; b < model.blocks.length; b++) {
    const ro = removedO(b), rd = removedD(b);
    const kvRows = Array.from({ length: c.numKvHeads * hd }, (_, j) => j).filter((j) => !plan.blocks[b]!.attention[Math.floor(j / hd)]);
    const bias = (l: 'o_proj' | 'down_proj', removed: number[], mean: Float64Array) => {
      const t = model.blocks[b]!.linears[l].weight as Tensor;
      const w = t.toFloat32Array(), cols = t.shape[1]!;
      const out = new Float32Array(t.shape[0]!);
      for (let i = 0; i < out.length; i++) { let s = 0; for (const j of removed) s += w[i * cols + j]! * mean[j]!; out[i] = s; }
      model.blocks[b]!.linears[l].bias = Tensor.from(out, [out.length]);
    };
    if (compensate) {
      bias('o_proj', ro, plan.means![b]!.attention);
      bias('down_proj', rd, plan.means![b]!.mlp);
    }
    edit(b, 'q_proj', (w, _r, cols) => { for (const j of ro) w.fill(0, j * cols, (j + 1) * cols); });
    for (const l of ['k_proj', 'v_proj'] as const) edit(b, l, (w, _r, cols) => { for (const j of kvRows) w.fill(0, j * cols, (j + 1) * cols); });
    edit(b, 'o_proj', (w, rows, cols) => { for (let i = 0; i < rows; i++) for (const j of ro) w[i * cols + j] = 0; });
    for (const l of ['gate_proj', 'up_proj'] as const) edit(b, l, (w, _r, cols) => { for (const j of rd) w.fill(0, j * cols, (j + 1) * cols); });
    edit(b, 'down_proj', (w, rows, cols) => { for (let i = 0; i < rows; i++) for (const j of rd) w[i * cols + j] = 0; });
  }
  const keep = model.blocks.filter((b) => plan.blocks[b.index]!.keep);
  model.blocks.splice(0, model.blocks.length, ...keep);
}

function maxDiff(a: Tensor, b: Tensor): number {
  const x = a.toTypedArray() as Float32Array, y = b.toTypedArray() as Float32Array;
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

// ---------------------------------------------------------------- tests

describe('dependency groups', () => {
  it('lists kv groups with their query heads, MLP channels and blocks, with the parameters each removes', async () => {
    using model = await LlamaModel.load(TINY);
    const g = model.dependencyGroups();
    expect(g.blocks).toHaveLength(4);
    const b = g.blocks[1]!;
    expect(b.attention).toMatchObject({ units: 2, queryHeadsPerUnit: 2, headDim: 32, paramsPerUnit: 2 * 2 * 32 * 128 + 2 * 32 * 128 });
    expect(b.attention.members.map((m) => [m.linear, m.axis, m.width])).toEqual([['q_proj', 'rows', 64], ['k_proj', 'rows', 32], ['v_proj', 'rows', 32], ['o_proj', 'cols', 64]]);
    expect(b.mlp).toMatchObject({ units: 384, paramsPerUnit: 3 * 128 });
    expect(b.mlp.members.map((m) => m.tensor)).toEqual(['model.layers.1.mlp.gate_proj.weight', 'model.layers.1.mlp.up_proj.weight', 'model.layers.1.mlp.down_proj.weight']);
    expect(b.params).toBe(2 * 128 + 4 * 128 * 128 - 2 * 64 * 128 + 3 * 128 * 384);
    expect(g.hidden).toMatchObject({ size: 128, prunable: false });
    expect(g.hidden.tensors).toContain('lm_head.weight');
    // Qwen2's q/k/v biases count in the units they belong to.
    using qwen = await LlamaModel.load(QWEN);
    const qa = qwen.dependencyGroups().blocks[0]!.attention;
    const qc = qwen.config, r = qc.numHeads / qc.numKvHeads;
    expect(qa.paramsPerUnit).toBe(2 * r * qc.headDim * qc.hiddenSize + 2 * qc.headDim * qc.hiddenSize + r * qc.headDim + 2 * qc.headDim);
  });
});

describe('structure scores against float64 references', () => {
  let cap: Captured[];
  const windows = () => calib.slice(0, 6).map((w) => w.subarray(0, 64));
  beforeAll(async () => {
    using model = await LlamaModel.load(TINY);
    cap = await capture(model, windows());
  });

  for (const method of ['flap', 'wanda-sp', 'magnitude', 'taylor', 'activation'] as const) {
    it(`${method}: per kv group, per head, per MLP channel and per block`, async () => {
      using model = await LlamaModel.load(TINY);
      // Gradients for taylor: any tensors of the weights' shapes exercise the definition.
      const grads: Record<string, Tensor> = {};
      let seed = 3;
      for (const s of model.linearSlots()) {
        const t = s.weight as Tensor;
        grads[`${s.name}.grad`] = Tensor.randn(t.shape, { seed: seed++, std: 1e-3 });
      }
      const progress: number[] = [];
      const got = await model.structureScores(windows(), { method, gradients: method === 'taylor' ? grads : undefined, onProgress: (d) => progress.push(d) });
      expect(progress).toEqual([1, 2, 3, 4]);
      const ref = referenceScores(model, cap, method, grads);
      expect(got.standardized).toBe(method === 'flap');
      expect(got.tokens).toBe(6 * 64);
      got.blocks.forEach((b, i) => {
        expectClose(b.attention, ref[i]!.groups, 1e-5);
        expectClose(b.heads, ref[i]!.heads, 1e-5);
        expectClose(b.mlp, ref[i]!.mlp, 1e-5);
        expect(b.block).toBeCloseTo(ref[i]!.block, method === 'taylor' ? 3 : 5);
      });
      // The compensation means are the o_proj / down_proj input means.
      const xo = channelStats(cap[2]!.x.o, 128);
      expectClose(got.means![2]!.attention, xo.mean, 1e-5);
    });
  }

  it('taylor reads gradients from a safetensors file and names a missing or misshapen one', async () => {
    using model = await LlamaModel.load(TINY);
    const grads: Record<string, Tensor> = {};
    for (const s of model.linearSlots()) grads[`${s.name}.grad`] = Tensor.randn((s.weight as Tensor).shape, { seed: 1 });
    const path = join(dir, 'grads.safetensors');
    const { saveSafetensors } = await import('../lib/index.js');
    await saveSafetensors(path, grads);
    const fromFile = await model.structureScores([], { method: 'taylor', gradients: path });
    const fromRecord = await model.structureScores([], { method: 'taylor', gradients: grads });
    expect(Array.from(fromFile.blocks[3]!.mlp)).toEqual(Array.from(fromRecord.blocks[3]!.mlp));
    expect(fromFile.means).toBeNull();
    const missing = { ...grads };
    delete missing['model.layers.2.mlp.up_proj.weight.grad'];
    await expect(model.structureScores([], { method: 'taylor', gradients: missing })).rejects.toMatchObject({ code: 'ERR_FORMAT', message: expect.stringContaining('model.layers.2.mlp.up_proj.weight.grad') });
    const bad = { ...grads, 'model.layers.0.self_attn.q_proj.weight.grad': Tensor.zeros([3, 3]) };
    await expect(model.structureScores([], { method: 'taylor', gradients: bad })).rejects.toMatchObject({ code: 'ERR_SHAPE' });
    await expect(model.structureScores([], { method: 'taylor' })).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringContaining('options.gradients') });
    await expect(model.structureScores([], { method: 'flap' })).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
    await expect(model.structureScores(calib, { method: 'nope' as never })).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringContaining('options.method') });
    const ac = new AbortController();
    ac.abort();
    await expect(model.structureScores(calib, { method: 'flap', signal: ac.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });
});

describe('shrink', () => {
  let flap: StructureScores;
  beforeAll(async () => {
    using model = await LlamaModel.load(TINY);
    flap = await model.structureScores(calib.slice(0, 8), { method: 'flap' });
  });
  const probe = () => evalIds.slice(0, 96);

  it('is exact: the shrunk model (blocks removed, sizes differing per block, compensation) equals the masked full model', async () => {
    const plan = planStructuredPrune(flap, { global: 0.35 });
    plan.blocks[2]!.keep = false;
    plan.blocks[0]!.attention.fill(1);
    plan.blocks[0]!.attention[0] = 0; // the second kv group stays: its rows are not the first ones
    using masked = await LlamaModel.load(TINY);
    maskModel(masked, plan, true);
    using small = await LlamaModel.load(TINY);
    const before = small.parameterCount();
    const report = await small.shrink(plan, { biasCompensation: true });
    expect(report.blocksRemoved).toBe(1);
    expect(report.paramsBefore).toBe(before);
    expect(report.addedBiases).toEqual({ attention: true, mlp: true });
    expect(small.blocks.map((b) => b.index)).toEqual([0, 1, 2]);
    expect((small.blocks[0]!.linears.q_proj.weight as Tensor).shape).toEqual([64, 128]);
    expect((small.blocks[0]!.linears.o_proj.weight as Tensor).shape).toEqual([128, 64]);
    expect(new Set(report.shapes.map((s) => s.intermediate)).size).toBeGreaterThan(1);
    const ref = await masked.forward(probe());
    const got = await small.forward(probe());
    expect(maxDiff(got, ref)).toBeLessThan(2e-4);
    // Without compensation it differs (the compensation is not a no-op here).
    using plain = await LlamaModel.load(TINY);
    await plain.shrink(plan);
    expect(maxDiff(await plain.forward(probe()), ref)).toBeGreaterThan(1e-3);

    // Decoding with a KV cache sized per block gives the same last logits.
    const cache = small.createCache({ capacity: 96 });
    await small.forward(probe().subarray(0, 95), { cache });
    const last = await small.forward(probe().subarray(95), { cache, lastOnly: true });
    const full = (got.toTypedArray() as Float32Array).subarray(95 * 258);
    expect(maxDiff(last, Tensor.from(full.slice(), [1, 258]))).toBeLessThan(1e-4);

    // Saved and reloaded: a normal HF folder with per-layer sizes and biases.
    const out = join(dir, 'small');
    await small.save(out, { format: 'dense' });
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({ num_hidden_layers: 3, head_dim: 32, attention_bias: true, mlp_bias: true, num_attention_heads: 4, num_key_value_heads: 2 });
    expect(cfg.sparsekit_layer_shapes).toHaveLength(3);
    expect(cfg.sparsekit_layer_shapes[0]).toMatchObject({ num_attention_heads: 2, num_key_value_heads: 1 });
    expect(cfg.intermediate_size).toBe(Math.max(...report.shapes.map((s) => s.intermediate)));
    const f = await loadSafetensors(join(out, 'model.safetensors'));
    expect(f.names).not.toContain('model.layers.3.input_layernorm.weight');
    expect(f.names).toContain('model.layers.2.self_attn.q_proj.bias');
    expect(Array.from((f.get('model.layers.2.self_attn.q_proj.bias') as Tensor).toFloat32Array()).every((x) => x === 0)).toBe(true);
    f.dispose();
    using again = await LlamaModel.load(out);
    expect(again.parameterCount()).toBe(report.paramsAfter);
    expect(maxDiff(await again.forward(probe()), got)).toBe(0);
  });

  it('a uniform plan writes a standard config (no per-layer sizes, no bias flags changed)', async () => {
    using model = await LlamaModel.load(TINY);
    const mag = await model.structureScores([], { method: 'magnitude' });
    const plan = planStructuredPrune(mag, { heads: 0.5, mlp: 0.25 });
    using masked = await LlamaModel.load(TINY);
    maskModel(masked, plan, false);
    const report = await model.shrink(plan);
    expect(report.shapes.every((s) => s.heads === 2 && s.kvHeads === 1 && s.intermediate === 288)).toBe(true);
    expect(report.paramsBefore - report.paramsAfter).toBe(4 * (24576 + 96 * 384));
    expect(maxDiff(await model.forward(probe()), await masked.forward(probe()))).toBeLessThan(2e-4);
    const out = join(dir, 'uniform');
    await model.save(out, { format: 'dense' });
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({ num_hidden_layers: 4, num_attention_heads: 2, num_key_value_heads: 1, intermediate_size: 288, attention_bias: false, mlp_bias: false, head_dim: 32 });
    expect(cfg.sparsekit_layer_shapes).toBeUndefined();
    // Magnitude has no calibration: no block scores and no compensation.
    expect(errorOf(() => planStructuredPrune(mag, { blocks: 0.5 }))).toMatchObject({ field: 'blocks' });
    using m2 = await LlamaModel.load(TINY);
    await expect(m2.shrink(plan, { biasCompensation: true })).rejects.toMatchObject({ code: 'ERR_ARGUMENT', field: 'options.biasCompensation' });
  });

  it('shrink reports progress per block and an abort part-way leaves the model exactly as it was', async () => {
    using model = await LlamaModel.load(TINY);
    const plan = planStructuredPrune(await model.structureScores([], { method: 'magnitude' }), { heads: 0.5, mlp: 0.25 });
    const before = await model.forward(probe());
    const params = model.parameterCount();
    const ac = new AbortController();
    const seen: number[] = [];
    await expect(model.shrink(plan, { signal: ac.signal, onProgress: (done, total) => { seen.push(done, total); if (done === 2) ac.abort(); } }))
      .rejects.toMatchObject({ code: 'ERR_ABORTED', message: expect.stringContaining('the model is unchanged') });
    expect(seen).toEqual([0, 4, 1, 4, 2, 4]);
    expect(model.parameterCount()).toBe(params);
    expect(model.config.numHeads).toBe(4);
    expect(maxDiff(await model.forward(probe()), before)).toBe(0);
    seen.length = 0;
    await model.shrink(plan, { onProgress: (done) => seen.push(done) });
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    await expect(model.shrink(plan, { onProgress: 3 as never })).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/^options\.onProgress/) });
  });

  it('Qwen2 (q/k/v biases, tied embeddings): compensation turns it into a LlamaForCausalLM with attention_bias, still exact', async () => {
    using qwen = await LlamaModel.load(QWEN);
    const V = qwen.config.vocabSize;
    const samples = Array.from({ length: 4 }, (_, i) => Int32Array.from({ length: 32 }, (_, t) => (i * 977 + t * 131) % V));
    const s = await qwen.structureScores(samples, { method: 'flap' });
    const plan = planStructuredPrune(s, { heads: 0.5, mlp: 0.5 });
    using masked = await LlamaModel.load(QWEN);
    maskModel(masked, plan, true);
    await qwen.shrink(plan, { biasCompensation: true });
    const ids = samples[0]!;
    expect(maxDiff(await qwen.forward(ids), await masked.forward(ids))).toBeLessThan(2e-4);
    const out = join(dir, 'qwen-small');
    await qwen.save(out, { format: 'dense' });
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({ architectures: ['LlamaForCausalLM'], model_type: 'llama', attention_bias: true, mlp_bias: true });
    using again = await LlamaModel.load(out);
    expect(maxDiff(await again.forward(ids), await qwen.forward(ids))).toBe(0);
  });

  it('works on packed (pruned) weights exactly as on their dense form, and on an already shrunk model', async () => {
    const plan = planStructuredPrune(flap, { heads: 0.5, mlp: 0.25 });
    using packed = await LlamaModel.load(TINY);
    await packed.prune([], { method: 'magnitude', sparsity: 0.5 });
    using dense = await LlamaModel.load(TINY);
    await dense.prune([], { method: 'magnitude', sparsity: 0.5 });
    await dense.convertLinears('dense');
    await packed.shrink(plan, { biasCompensation: true });
    await dense.shrink(plan, { biasCompensation: true });
    expect(maxDiff(await packed.forward(probe()), await dense.forward(probe()))).toBe(0);

    // Twice: a non-uniform model shrunk again by ratios (floor per block of its own sizes).
    using twice = await LlamaModel.load(TINY);
    await twice.shrink(planStructuredPrune(flap, { global: 0.3 }));
    const sizes = twice.blocks.map((b) => (b.linears.gate_proj.weight as Tensor).shape[0]!);
    const again = await twice.structureScores(calib.slice(0, 4), { method: 'wanda-sp' });
    const r = await twice.shrink(planStructuredPrune(again, { mlp: 0.2 }));
    expect(r.shapes.map((x) => x.intermediate)).toEqual(sizes.map((n) => n - Math.floor(0.2 * n)));
    const out = join(dir, 'twice');
    await twice.save(out, { format: 'dense' });
    using back = await LlamaModel.load(out);
    expect(maxDiff(await back.forward(probe()), await twice.forward(probe()))).toBe(0);
  });

  it('masks round-trip through safetensors and are taken as they are', async () => {
    const plan = planStructuredPrune(flap, { targetShape: { heads: 2, intermediate: 200, layers: 3 } });
    expect(plan.blocks.filter((b) => b.keep)).toHaveLength(3);
    const path = join(dir, 'masks.safetensors');
    await saveStructureMasks(plan, path);
    using model = await LlamaModel.load(TINY);
    const back = await planFromMasks(path, model.dependencyGroups());
    expect(back.blocks.map((b) => b.keep)).toEqual(plan.blocks.map((b) => b.keep));
    back.blocks.forEach((b, i) => {
      expect(Array.from(b.attention)).toEqual(Array.from(plan.blocks[i]!.attention));
      expect(Array.from(b.mlp)).toEqual(Array.from(plan.blocks[i]!.mlp));
    });
    const r = await model.shrink(back);
    expect(r.shapes).toEqual([0, 1, 2].map(() => ({ heads: 2, kvHeads: 1, intermediate: 200 })));
  });
});

describe('perplexity after structured pruning (FLAP global ranking)', () => {
  it('at 20% and 40% of the blocks\' parameters removed, FLAP or Wanda-sp beats magnitude', async () => {
    using dense = await LlamaModel.load(TINY);
    const ppl = (m: LlamaModel) => m.perplexity(evalIds, { seqLen: 128, batch: 16, maxWindows: 32 });
    const table: Record<string, number> = { dense: await ppl(dense) };
    const linearParams = dense.dependencyGroups().blocks.reduce((s, b) => s + b.params - 2 * 128, 0);
    for (const method of ['magnitude', 'wanda-sp', 'flap'] as const) {
      const scores = await dense.structureScores(calib, { method });
      for (const ratio of [0.2, 0.4]) {
        for (const comp of method === 'flap' ? [false, true] : [false]) {
          using m = await LlamaModel.load(TINY);
          const r = await m.shrink(planStructuredPrune(scores, { global: ratio }), { biasCompensation: comp });
          // The plan removes about `ratio` of the blocks' linear parameters (within one attention
          // group, 3.1% of them here, plus the compensation biases).
          expect(Math.abs((r.paramsBefore - r.paramsAfter) / linearParams - ratio)).toBeLessThan(0.035);
          table[`${method}${comp ? '+bias' : ''} ${ratio}`] = await ppl(m);
        }
      }
    }
    console.log('tiny-llama perplexity after structured pruning (32 x 128 held-out tokens, 32 calibration windows):', table);
    for (const ratio of [0.2, 0.4]) {
      const best = Math.min(table[`flap ${ratio}`]!, table[`flap+bias ${ratio}`]!, table[`wanda-sp ${ratio}`]!);
      expect(best).toBeLessThan(table[`magnitude ${ratio}`]!);
    }
  });
});

describe('typed errors for bad plans', () => {
  let s: StructureScores;
  beforeAll(async () => {
    using model = await LlamaModel.load(TINY);
    s = await model.structureScores(calib.slice(0, 2), { method: 'wanda-sp' });
  });
  const field = (f: () => unknown) => {
    const e = errorOf(f);
    expect(e).toBeInstanceOf(PlanError);
    expect(e.code).toBe('ERR_ARGUMENT');
    return (e as PlanError).field;
  };

  it('names the field of every bad plan option', () => {
    expect(field(() => planStructuredPrune(s, { heads: 1 }))).toBe('heads');
    expect(field(() => planStructuredPrune(s, { heads: -0.1 }))).toBe('heads');
    expect(field(() => planStructuredPrune(s, { mlp: Number.NaN }))).toBe('mlp');
    expect(field(() => planStructuredPrune(s, { blocks: 1.5 }))).toBe('blocks');
    expect(field(() => planStructuredPrune(s, { global: 1 }))).toBe('global');
    expect(field(() => planStructuredPrune(s, { global: 0.2, heads: 0.1 } as never))).toBe('options');
    expect(field(() => planStructuredPrune(s, null as never))).toBe('options');
    const t = { heads: 4, intermediate: 300, layers: 4 };
    expect(field(() => planStructuredPrune(s, { targetShape: { ...t, layers: 5 } }))).toBe('targetShape.layers');
    expect(field(() => planStructuredPrune(s, { targetShape: { ...t, layers: 0 } }))).toBe('targetShape.layers');
    expect(field(() => planStructuredPrune(s, { targetShape: { ...t, heads: 6 } }))).toBe('targetShape.heads');
    expect(field(() => planStructuredPrune(s, { targetShape: { ...t, heads: 3 } }))).toBe('targetShape.heads');
    expect(field(() => planStructuredPrune(s, { targetShape: { ...t, heads: 2.5 } }))).toBe('targetShape.heads');
    expect(field(() => planStructuredPrune(s, { targetShape: { ...t, kvHeads: 1 } }))).toBe('targetShape.kvHeads');
    expect(field(() => planStructuredPrune(s, { targetShape: { ...t, kvHeads: 3 } }))).toBe('targetShape.kvHeads');
    expect(field(() => planStructuredPrune(s, { targetShape: { ...t, intermediate: 385 } }))).toBe('targetShape.intermediate');
    expect(field(() => planStructuredPrune(s, { targetShape: { ...t, hidden: 256 } }))).toBe('targetShape.hidden');
    expect(field(() => planStructuredPrune(s, { targetShape: { ...t, hidden: 64 } }))).toBe('targetShape.hidden');
    expect(field(() => planStructuredPrune(s, { targetShape: 3 as never }))).toBe('targetShape');
    // The full shape is a valid (empty) target.
    expect(planStructuredPrune(s, { targetShape: { ...t, hidden: 128, kvHeads: 2, intermediate: 384 } }).blocks.every((b) => b.keep && b.mlp.every((x) => x === 1))).toBe(true);
    expect(errorOf(() => planStructuredPrune({} as never, { heads: 0.1 }))).toBeInstanceOf(SparsekitError);
  });

  it('names the mask and the field of bad masks and plans', async () => {
    using model = await LlamaModel.load(TINY);
    const g = model.dependencyGroups();
    const f = async (masks: Record<string, Tensor>) => {
      try {
        await planFromMasks(masks, g);
      } catch (e) {
        expect(e).toBeInstanceOf(PlanError);
        return (e as PlanError).field;
      }
      throw new Error('expected an error');
    };
    const u8 = (...v: number[]) => Tensor.from(Uint8Array.from(v), [v.length]);
    // Query heads 0 and 1 share kv head 0: removing only one of them is refused.
    expect(await f({ 'model.layers.1.self_attn.head_mask': u8(1, 0, 1, 1) })).toBe("masks['model.layers.1.self_attn.head_mask']");
    expect(await f({ 'model.layers.1.self_attn.head_mask': u8(0, 0, 0, 0) })).toBe("masks['model.layers.1.self_attn.head_mask']");
    expect(await f({ 'model.layers.0.mlp.channel_mask': Tensor.from(new Float32Array(384).fill(0.5)) })).toBe("masks['model.layers.0.mlp.channel_mask']");
    expect(await f({ 'model.layers.0.mlp.channel_mask': u8(1, 1) })).toBe("masks['model.layers.0.mlp.channel_mask']");
    expect(await f({ 'model.hidden_mask': Tensor.from(new Float32Array(128).fill(1).fill(0, 5, 6)) })).toBe("masks['model.hidden_mask']");
    expect(await f({ 'model.layers.9.layer_mask': u8(0) })).toBe('masks');
    expect(await f(Object.fromEntries([0, 1, 2, 3].map((l) => [`model.layers.${l}.layer_mask`, u8(0)])))).toBe('masks');
    // Whole GQA groups, layers and channels are fine.
    const ok = await planFromMasks({ 'model.layers.1.self_attn.head_mask': u8(0, 0, 1, 1), 'model.layers.3.layer_mask': u8(0), 'model.hidden_mask': Tensor.from(new Float32Array(128).fill(1)) }, g);
    expect(Array.from(ok.blocks[1]!.attention)).toEqual([0, 1]);
    expect(ok.blocks[3]!.keep).toBe(false);

    const plan = planStructuredPrune(s, { heads: 0.5 });
    const bad = (edit: (p: StructuredPlan) => void) => {
      const p: StructuredPlan = { ...plan, blocks: plan.blocks.map((b) => ({ keep: b.keep, attention: b.attention.slice(), mlp: b.mlp.slice() })) };
      edit(p);
      return model.shrink(p).then(() => 'no error', (e: PlanError) => e.field);
    };
    expect(await bad((p) => p.blocks.pop())).toBe('plan.blocks');
    expect(await bad((p) => { p.blocks[2]!.attention = new Uint8Array(3).fill(1); })).toBe('plan.blocks[2].attention');
    expect(await bad((p) => { p.blocks[1]!.mlp.fill(0); })).toBe('plan.blocks[1].mlp');
    expect(await bad((p) => { p.blocks[1]!.mlp[0] = 2; })).toBe('plan.blocks[1].mlp');
    expect(await bad((p) => { p.blocks.forEach((b) => { b.keep = false; }); })).toBe('plan.blocks');
    expect(await bad((p) => { p.queryHeadsPerGroup = 1; })).toBe('plan.queryHeadsPerGroup');
    // A refused plan leaves the model untouched.
    expect((model.blocks[0]!.linears.q_proj.weight as Tensor).shape).toEqual([128, 128]);
  });
});

describe('sparsekit_layer_shapes in config.json', () => {
  const base = JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8'));
  const shape = (heads: number, kv: number, inter: number) => ({ num_attention_heads: heads, num_key_value_heads: kv, intermediate_size: inter });
  it('is read per layer and refused (ERR_FORMAT, naming the entry) when it cannot describe the layers', async () => {
    const { parseConfig } = await import('../lib/index.js');
    const ok = parseConfig(JSON.stringify({ ...base, sparsekit_layer_shapes: [shape(4, 2, 384), shape(2, 1, 10), shape(4, 2, 1), shape(2, 1, 384)] }));
    expect(ok.layerShapes![1]).toEqual({ heads: 2, kvHeads: 1, intermediate: 10 });
    expect(parseConfig(JSON.stringify(base)).layerShapes).toBeNull();
    const bad = (v: unknown) => errorOf(() => parseConfig(JSON.stringify({ ...base, sparsekit_layer_shapes: v })));
    expect(bad([shape(4, 2, 384)])).toMatchObject({ code: 'ERR_FORMAT', message: expect.stringContaining('array of 4') });
    expect(bad([shape(4, 2, 385), shape(4, 2, 1), shape(4, 2, 1), shape(4, 2, 1)]).message).toContain('sparsekit_layer_shapes[0]');
    expect(bad([shape(4, 2, 1), shape(2, 2, 1), shape(4, 2, 1), shape(4, 2, 1)]).message).toContain('sparsekit_layer_shapes[1]');
    expect(bad([shape(4, 2, 1), shape(4, 2, 1), shape(4, 2, 0), shape(4, 2, 1)]).message).toContain('sparsekit_layer_shapes[2]');
    expect(bad([shape(4, 2, 1), shape(4, 2, 1), shape(4, 2, 1), 'x']).message).toContain('sparsekit_layer_shapes[3]');
  });

  it('a shrunk folder whose tensors disagree with it is ERR_SHAPE naming the tensor', async () => {
    using model = await LlamaModel.load(TINY);
    const s = await model.structureScores([], { method: 'magnitude' });
    const plan = planStructuredPrune(s, { heads: 0.5 });
    plan.blocks[3]!.attention.fill(1);
    await model.shrink(plan);
    const out = join(dir, 'lying');
    await model.save(out, { format: 'dense' });
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    cfg.sparsekit_layer_shapes[3] = cfg.sparsekit_layer_shapes[0];
    writeFileSync(join(out, 'config.json'), JSON.stringify(cfg));
    await expect(LlamaModel.load(out)).rejects.toMatchObject({ code: 'ERR_SHAPE', message: expect.stringContaining('model.layers.3.self_attn.q_proj.weight') });
  });
});

describe('hidden dims: SliceGPT-style slicing with one rotation', () => {
  // An independent float64 reference: cyclic Jacobi rotations (Golub & Van Loan 8.5), values only.
  const jacobiValues = (a: Float64Array, n: number): number[] => {
    const A = a.slice();
    for (let sweep = 0; sweep < 100; sweep++) {
      let off = 0;
      for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p * n + q]! ** 2;
      if (off < 1e-26) break;
      for (let p = 0; p < n; p++)
        for (let q = p + 1; q < n; q++) {
          const apq = A[p * n + q]!;
          if (apq === 0) continue;
          const theta = (A[q * n + q]! - A[p * n + p]!) / (2 * apq);
          const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
          const c = 1 / Math.sqrt(t * t + 1), sn = t * c;
          for (let k = 0; k < n; k++) {
            const akp = A[k * n + p]!, akq = A[k * n + q]!;
            A[k * n + p] = c * akp - sn * akq;
            A[k * n + q] = sn * akp + c * akq;
          }
          for (let k = 0; k < n; k++) {
            const apk = A[p * n + k]!, aqk = A[q * n + k]!;
            A[p * n + k] = c * apk - sn * aqk;
            A[q * n + k] = sn * apk + c * aqk;
          }
        }
    }
    return Array.from({ length: n }, (_, i) => A[i * n + i]!).sort((x, y) => y - x);
  };
  const gram = (n: number, seed: number, rank = n) => {
    const B = Float64Array.from(Tensor.randn([n * rank], { seed }).toFloat32Array());
    const A = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < rank; k++) A[i * n + j]! += B[i * rank + k]! * B[j * rank + k]!;
    return A;
  };

  it('the native eigen-decomposition reconstructs symmetric matrices with orthonormal vectors, values descending, as Jacobi finds them', async () => {
    const { symmetricEigen } = await import('../lib/model/slice.js');
    // 37: odd; 150: more than two 64-row rotation blocks, the last one partial; 90 of rank 20: a 70-fold zero eigenvalue.
    for (const [n, seed, rank] of [[37, 11, 37], [150, 12, 150], [90, 13, 20]] as const) {
      const A = gram(n, seed, rank);
      const { values, vectors: V } = await symmetricEigen(A, n);
      const scale = values[0]!;
      for (let i = 1; i < n; i++) expect(values[i]!).toBeLessThanOrEqual(values[i - 1]!);
      jacobiValues(A, n).forEach((v, i) => expect(Math.abs(values[i]! - v)).toBeLessThan(1e-11 * scale));
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
        let vtv = 0, rec = 0;
        for (let k = 0; k < n; k++) { vtv += V[k * n + i]! * V[k * n + j]!; rec += V[i * n + k]! * values[k]! * V[j * n + k]!; }
        expect(Math.abs(vtv - (i === j ? 1 : 0))).toBeLessThan(1e-11);
        expect(Math.abs(rec - A[i * n + j]!)).toBeLessThan(1e-12 * n * scale);
      }
    }
    // Edge cases: 0×0, 1×1, 2×2, already diagonal (nothing to reduce), repeated eigenvalues, zeros.
    expect(Array.from((await symmetricEigen(new Float64Array(0), 0)).values)).toEqual([]);
    expect(Array.from((await symmetricEigen(Float64Array.of(3), 1)).values)).toEqual([3]);
    const two = await symmetricEigen(Float64Array.of(2, 1, 1, 2), 2);
    expect(Array.from(two.values).map((x) => Math.round(x * 1e12) / 1e12)).toEqual([3, 1]);
    expect(Math.abs(two.vectors[0]!)).toBeCloseTo(Math.SQRT1_2, 12);
    const diag = await symmetricEigen(Float64Array.from({ length: 16 }, (_, i) => (i % 5 === 0 ? [1, 4, 2, 4][i / 5]! : 0)), 4);
    expect(Array.from(diag.values)).toEqual([4, 4, 2, 1]);
    expect(Array.from((await symmetricEigen(new Float64Array(9), 3)).values)).toEqual([0, 0, 0]);
  });

  it('symmetricEigen: typed errors for bad input, progress, and abort', async () => {
    const { symmetricEigen } = await import('../lib/model/slice.js');
    await expect(symmetricEigen(new Float64Array(8), 3)).rejects.toMatchObject({ code: 'ERR_SHAPE', message: expect.stringMatching(/^a: expected n·n = 9 values, got 8/) });
    await expect(symmetricEigen(new Float32Array(9) as never, 3)).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
    await expect(symmetricEigen(new Float64Array(9), 2.5)).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/^n:/) });
    await expect(symmetricEigen(Float64Array.of(1, 2, 3, 4), 2)).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/not symmetric at \[1, 0\]/) });
    await expect(symmetricEigen(Float64Array.of(1, 0, 0, NaN), 2)).rejects.toMatchObject({ code: 'ERR_NUMERIC', message: 'a[1, 1] is NaN' });
    const A = gram(300, 14);
    const seen: number[] = [];
    await symmetricEigen(A, 300, { onProgress: (f) => seen.push(f) });
    expect(seen.at(-1)).toBe(1);
    const ac = new AbortController();
    const run = symmetricEigen(A, 300, { signal: ac.signal });
    ac.abort();
    await expect(run).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });

  it('keeping every dim is exact (norms folded, residual rotated); slicing keeps a working, loadable model', async () => {
    using base = await LlamaModel.load(TINY);
    const ids = evalIds.slice(0, 64);
    const ref = await base.forward(ids);
    using full = await LlamaModel.load(TINY);
    const r = await full.sliceHidden(calib.slice(0, 8), { hidden: 128 });
    expect(r.energyKept).toBeCloseTo(1, 12);
    expect(maxDiff(await full.forward(ids), ref)).toBeLessThan(1e-4);

    using sliced = await LlamaModel.load(TINY);
    const s = await sliced.sliceHidden(calib, { hidden: 102 });
    expect(s.energyKept).toBeGreaterThan(0.9);
    // Per removed dim: embedding and head rows' entries (2 x 258), the final norm, and per block its
    // two norms, q/k/v/gate/up columns (128 + 64 + 64 + 384 + 384) and o/down rows (128 + 384).
    expect(sliced.parameterCount()).toBe(853632 - 26 * (2 * 258 + 1 + 4 * (2 + 128 + 64 + 64 + 384 + 384 + 128 + 384)));
    const out = join(dir, 'sliced');
    await sliced.save(out, { format: 'dense' });
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({ hidden_size: 102, head_dim: 32, num_attention_heads: 4 });
    using back = await LlamaModel.load(out);
    expect(maxDiff(await back.forward(ids), await sliced.forward(ids))).toBe(0);
    // Slicing 20% of the residual costs little on this model (dense 4.456 on these windows).
    const ppl = await back.perplexity(evalIds, { seqLen: 128, batch: 16, maxWindows: 32 });
    console.log(`tiny-llama sliced to hidden 102: perplexity ${ppl.toFixed(3)}, energy kept ${s.energyKept.toFixed(4)}`);
    expect(ppl).toBeLessThan(4.456 * 1.05);

    await expect(base.sliceHidden(calib, { hidden: 129 })).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringContaining('options.hidden') });
    await expect(base.sliceHidden([], { hidden: 64 })).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
  });

  it('shrink and sliceHidden refuse a linear with a SLoRB term before any work (they would drop it)', async () => {
    using model = await LlamaModel.load(TINY);
    const slot = model.blocks[3]!.linears.up_proj;
    slot.weight = withSlorbTerm(slot.weight as Tensor);
    const plan = planStructuredPrune(await model.structureScores([], { method: 'magnitude' }), { heads: 0.5, mlp: 0.25 });
    const params = model.parameterCount();
    const refused = { code: 'ERR_ARGUMENT', message: expect.stringContaining(slot.name) };
    await expect(model.shrink(plan)).rejects.toMatchObject(refused);
    await expect(model.sliceHidden(calib.slice(0, 2), { hidden: 96 })).rejects.toMatchObject(refused);
    expect(model.parameterCount()).toBe(params);
    expect(model.config.hiddenSize).toBe(128);
    expect((slot.weight as SparseMatrix).slorb?.groupSize).toBe(16);
  });

  it('Qwen2 (biases, tied embeddings): exact at full width, and the head is untied', async () => {
    using q = await LlamaModel.load(QWEN);
    const V = q.config.vocabSize;
    const samples = Array.from({ length: 4 }, (_, i) => Int32Array.from({ length: 32 }, (_, t) => (i * 977 + t * 131) % V));
    using ref = await LlamaModel.load(QWEN);
    await q.sliceHidden(samples, { hidden: 64 });
    expect(maxDiff(await q.forward(samples[1]!), await ref.forward(samples[1]!))).toBeLessThan(1e-4);
    const out = join(dir, 'qwen-sliced');
    await q.save(out, { format: 'dense' });
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(cfg.tie_word_embeddings).toBe(false);
    using back = await LlamaModel.load(out);
    expect(maxDiff(await back.forward(samples[1]!), await q.forward(samples[1]!))).toBe(0);
  });
});
