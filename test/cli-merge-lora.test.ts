// `sparsekit merge-lora` end to end on a generated pruned checkpoint and a PEFT-format adapter
// (adapter_config.json + adapter_model.safetensors with base_model.model.<module>.lora_{A,B}.weight
// keys, as PEFT's save_pretrained writes them): merged values against a float64 reference, equal
// sparsity before and after, and no output at all on any bad input.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, loadSafetensors, saveSafetensors } from '../lib/index.js';
import { cli } from './cli-helper.js';
import { rng, valuesOf } from './reference.js';

const dir = mkdtempSync(join(tmpdir(), 'sparsekit-merge-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const model = join(dir, 'model.safetensors');
const adapter = join(dir, 'adapter');

function pruned(rows: number, cols: number, seed: number, density: number): Tensor {
  const w = Tensor.randn([rows, cols], { seed, dtype: 'bfloat16' });
  const d = w.toTypedArray();
  const r = rng(seed);
  for (let i = 0; i < d.length; i++) if (r() >= density) d[i] = 0;
  return w;
}

const H = 32, R = 4, ALPHA = 8;
const q = pruned(H, H, 1, 0.5), v = pruned(H, H, 2, 0.4), up = pruned(48, H, 3, 0.5);
const factors: Record<string, { A: Tensor; B: Tensor }> = {};

function writeAdapter(path: string, modules: Record<string, [number, number, number]>, config: Record<string, unknown> | null) {
  mkdirSync(path, { recursive: true });
  const tensors: Record<string, Tensor> = {};
  for (const [m, [rows, cols, r]] of Object.entries(modules)) {
    const A = Tensor.randn([r, cols], { seed: rows + cols + m.length, std: 0.1 });
    const B = Tensor.randn([rows, r], { seed: rows * 7 + m.length, std: 0.1 });
    factors[m] = { A, B };
    tensors[`base_model.model.${m}.lora_A.weight`] = A;
    tensors[`base_model.model.${m}.lora_B.weight`] = B;
  }
  saveSafetensors.sync(join(path, 'adapter_model.safetensors'), tensors);
  if (config) writeFileSync(join(path, 'adapter_config.json'), JSON.stringify(config));
}

const baseConfig = { peft_type: 'LORA', r: R, lora_alpha: ALPHA, target_modules: ['q_proj', 'v_proj', 'up_proj'], bias: 'none', fan_in_fan_out: false };

beforeAll(async () => {
  await saveSafetensors(model, {
    'model.layers.0.self_attn.q_proj.weight': q,
    'model.layers.0.self_attn.v_proj.weight': SparseMatrix.fromDense(v, { format: 'bitmap' }),
    'model.layers.0.mlp.up_proj.weight': SparseMatrix.fromDense(up, { format: 'csr' }),
    'model.norm.weight': Tensor.randn([H], { seed: 9 }),
  });
  writeAdapter(adapter, {
    'model.layers.0.self_attn.q_proj': [H, H, R],
    'model.layers.0.self_attn.v_proj': [H, H, R],
    'model.layers.0.mlp.up_proj': [48, H, 8],
  }, { ...baseConfig, rank_pattern: { up_proj: 8 }, alpha_pattern: { up_proj: 4 } });
});

function reference(w: Tensor, A: Tensor, B: Tensor, s: number): Float64Array {
  const K = w.shape[1]!;
  const r = A.shape[0]!;
  const wv = valuesOf(w), av = valuesOf(A), bv = valuesOf(B);
  return Float64Array.from(wv, (x, i) => {
    if (x === 0) return 0;
    let d = 0;
    for (let t = 0; t < r; t++) d += bv[Math.floor(i / K) * r + t]! * av[t * K + (i % K)]!;
    return x + s * d;
  });
}

describe('sparsekit merge-lora', () => {
  it('merges at kept positions only, keeps formats, and prints equal sparsity before and after', async () => {
    const out = join(dir, 'merged.safetensors');
    const r = await cli('merge-lora', dir, adapter, '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/sparsity 5\d\.\d% before, 5\d\.\d% after/);
    const j = JSON.parse((await cli('--json', 'merge-lora', model, join(adapter, 'adapter_model.safetensors'), '--out', join(dir, 'm2.safetensors'))).stdout);
    expect(j.sparsityAfter).toBe(j.sparsityBefore);
    expect(Object.fromEntries(j.layers.map((l: { name: string; storage: string; rank: number; scale: number }) => [l.name, [l.storage, l.rank, l.scale]])))
      .toEqual({ 'model.layers.0.self_attn.q_proj.weight': ['dense', 4, 2], 'model.layers.0.self_attn.v_proj.weight': ['bitmap', 4, 2], 'model.layers.0.mlp.up_proj.weight': ['csr', 8, 0.5] });
    for (const l of j.layers) expect(l.sparsityAfter).toBe(l.sparsityBefore);
    using f = await loadSafetensors(out);
    expect([...f.names].sort()).toEqual(['model.layers.0.mlp.up_proj.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.self_attn.v_proj.weight', 'model.norm.weight']);
    const cases: [string, Tensor, number, string][] = [
      ['model.layers.0.self_attn.q_proj', q, 2, 'dense'], ['model.layers.0.self_attn.v_proj', v, 2, 'bitmap'], ['model.layers.0.mlp.up_proj', up, 0.5, 'csr'],
    ];
    for (const [m, w, s, storage] of cases) {
      const got = f.get(`${m}.weight`);
      if (storage !== 'dense') expect((got as SparseMatrix).format).toBe(storage);
      const gv = valuesOf(got instanceof SparseMatrix ? got.toDense() : got);
      const want = reference(w, factors[m]!.A, factors[m]!.B, s);
      want.forEach((x, i) => {
        if (x === 0) expect(gv[i]).toBe(0);
        else expect(Math.abs(gv[i]! - x)).toBeLessThanOrEqual(2 ** -8 * Math.abs(x));
      });
    }
  });

  it('refuses bad adapters before writing anything', async () => {
    const out = join(dir, 'never.safetensors');
    const expectNoOutput = () => expect(readdirSync(dir).filter((n) => n.startsWith('never'))).toEqual([]);
    // a target module the model does not have
    const missing = join(dir, 'a-missing');
    writeAdapter(missing, { 'model.layers.1.self_attn.q_proj': [H, H, R] }, baseConfig);
    let r = await cli('merge-lora', model, missing, '--out', out);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("does not have: 'model.layers.1.self_attn.q_proj.weight'");
    expectNoOutput();
    // rank in the file differs from adapter_config.json
    const rank = join(dir, 'a-rank');
    writeAdapter(rank, { 'model.layers.0.self_attn.q_proj': [H, H, 2] }, baseConfig);
    r = await cli('merge-lora', model, rank, '--out', out);
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining('rank 2 but adapter_config.json says r = 4')]);
    expectNoOutput();
    // lora_A and lora_B ranks disagree
    const split = join(dir, 'a-split');
    mkdirSync(split);
    saveSafetensors.sync(join(split, 'adapter_model.safetensors'), {
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight': Tensor.randn([4, H], { seed: 1 }),
      'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight': Tensor.randn([H, 3], { seed: 2 }),
    });
    writeFileSync(join(split, 'adapter_config.json'), JSON.stringify(baseConfig));
    r = await cli('merge-lora', model, split, '--out', out);
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining('ranks do not match')]);
    // shape of B·A differs from the weight
    const shape = join(dir, 'a-shape');
    writeAdapter(shape, { 'model.layers.0.self_attn.q_proj': [H, 16, R] }, baseConfig);
    r = await cli('merge-lora', model, shape, '--out', out);
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining("the model's weight is [32, 32] but the adapter's B·A is [32, 16]")]);
    // no config and no --scale; then --scale works
    const noconf = join(dir, 'a-noconf');
    writeAdapter(noconf, { 'model.layers.0.self_attn.q_proj': [H, H, R] }, null);
    r = await cli('merge-lora', model, noconf, '--out', out);
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining('--scale')]);
    expectNoOutput();
    r = await cli('merge-lora', model, noconf, '--out', join(dir, 'scaled.safetensors'), '--scale', '2');
    expect(r.code).toBe(0);
    // DoRA, biases, stray tensors
    for (const [extra, msg] of [[{ use_dora: true }, 'DoRA'], [{ bias: 'all' }, "bias 'all'"], [{ fan_in_fan_out: true }, 'fan_in_fan_out']] as const) {
      const d = join(dir, `a-${msg.replace(/\W/g, '')}`);
      writeAdapter(d, { 'model.layers.0.self_attn.q_proj': [H, H, R] }, { ...baseConfig, ...extra });
      r = await cli('merge-lora', model, d, '--out', out);
      expect([r.code, r.stderr]).toEqual([2, expect.stringContaining(msg)]);
    }
    const stray = join(dir, 'a-stray');
    mkdirSync(stray);
    saveSafetensors.sync(join(stray, 'adapter_model.safetensors'), { 'base_model.model.lm_head.weight': Tensor.randn([2, 2], { seed: 1 }) });
    writeFileSync(join(stray, 'adapter_config.json'), JSON.stringify(baseConfig));
    r = await cli('merge-lora', model, stray, '--out', out);
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining('not LoRA factors')]);
    // the output may not be the input; a missing adapter dir
    r = await cli('merge-lora', model, adapter, '--out', model);
    expect(r.code).toBe(1);
    r = await cli('merge-lora', model, join(dir, 'nope'), '--out', out);
    expect([r.code, r.stderr]).toEqual([2, expect.stringContaining('does not exist')]);
    expectNoOutput();
    expect(existsSync(model)).toBe(true);
  });

  it('merges a sharded model (index.json) shard by shard into a sharded output folder, or writes nothing', async () => {
    // The same tensors as the single-file model, in two shards with an HF index.
    const shardedDir = join(dir, 'sharded-model');
    mkdirSync(shardedDir);
    using src = await loadSafetensors(model);
    const groups = [['model.layers.0.self_attn.q_proj.weight', 'model.norm.weight'], ['model.layers.0.self_attn.v_proj.weight', 'model.layers.0.mlp.up_proj.weight']];
    const weightMap: Record<string, string> = {};
    for (const [i, names] of groups.entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      await saveSafetensors(join(shardedDir, file), Object.fromEntries(names.map((n) => [n, src.get(n)])));
      using f = await loadSafetensors(join(shardedDir, file));
      for (const t of f.tensorNames) weightMap[t] = file;
    }
    writeFileSync(join(shardedDir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
    writeFileSync(join(shardedDir, 'config.json'), '{"model_type":"llama"}');

    const out = join(dir, 'merged-sharded');
    const r = await cli('--json', 'merge-lora', shardedDir, adapter, '--out', out);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const j = JSON.parse(r.stdout);
    expect(j.sparsityAfter).toBe(j.sparsityBefore);
    expect(j.layers.map((l: { name: string }) => l.name).sort()).toEqual(['model.layers.0.mlp.up_proj.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.self_attn.v_proj.weight']);
    expect(readdirSync(out).sort()).toEqual(['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json']);
    const index = JSON.parse(readFileSync(join(out, 'model.safetensors.index.json'), 'utf8'));
    expect(index.weight_map).toEqual(Object.fromEntries(Object.keys(weightMap).sort().map((k) => [k, weightMap[k]])));
    // Every merged value equals the single-file merge's (which the first test checks against float64).
    using single = await loadSafetensors(join(dir, 'merged.safetensors'));
    for (const [i, names] of groups.entries()) {
      using f = await loadSafetensors(join(out, `model-0000${i + 1}-of-00002.safetensors`));
      expect([...f.names].sort()).toEqual([...names].sort());
      for (const n of names) {
        const a = f.get(n), b = single.get(n);
        expect(valuesOf(a instanceof SparseMatrix ? a.toDense() : a)).toEqual(valuesOf(b instanceof SparseMatrix ? b.toDense() : b));
        if (b instanceof SparseMatrix) expect((a as SparseMatrix).format).toBe(b.format);
      }
    }
    // An existing output needs --force; a bad adapter writes nothing; the folder is not the input.
    const again = await cli('merge-lora', shardedDir, adapter, '--out', out);
    expect([again.code, again.stderr]).toEqual([1, expect.stringContaining('--force')]);
    expect((await cli('merge-lora', shardedDir, adapter, '--out', out, '--force')).code).toBe(0);
    const missing = join(dir, 'a-missing-sharded');
    writeAdapter(missing, { 'model.layers.1.self_attn.q_proj': [H, H, R] }, baseConfig);
    const bad = join(dir, 'never-sharded');
    expect((await cli('merge-lora', shardedDir, missing, '--out', bad)).code).toBe(2);
    expect(existsSync(bad)).toBe(false);
    expect((await cli('merge-lora', shardedDir, adapter, '--out', shardedDir)).code).toBe(1);
    expect(readdirSync(shardedDir).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});
