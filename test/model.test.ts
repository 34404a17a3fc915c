/**
 * Whole models: the forward against PyTorch's logits (scripts/fixtures/train-tiny-llama.py made
 * the fixtures), the KV cache against the full forward, loading (shards, packed entries, errors).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LlamaModel, SparseMatrix, Tensor, loadSafetensors, parseConfig, ropeInvFreq, saveSafetensors, type SaveValue,
} from '../lib/index.js';
import { loadTokenizer, readTokenFile } from '../lib/model/tokens.js';
import { native } from '../lib/native.js';
import { QWEN, TINY, withSlorbTerm } from './model-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'sparsekit-model-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let dirNo = 0;

async function reference(fixture: string) {
  using f = await loadSafetensors(join(fixture, 'reference.safetensors'));
  return {
    ids: Int32Array.from(f.getTensor('input_ids').toTypedArray() as Int32Array),
    logits: Float32Array.from(f.getTensor('logits').toTypedArray() as Float32Array),
    metadata: { ...f.metadata },
  };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A copy of `src` with its tensors transformed (and config edited); returns the folder. */
async function variant(src: string, edit: (tensors: Record<string, SaveValue>) => void | Promise<void>, config?: (c: Record<string, unknown>) => void): Promise<string> {
  const out = join(dir, `v${dirNo++}`);
  mkdirSync(out);
  using f = await loadSafetensors(join(src, 'model.safetensors'));
  const tensors: Record<string, SaveValue> = {};
  for (const n of f.names) tensors[n] = f.get(n);
  await edit(tensors);
  await saveSafetensors(join(out, 'model.safetensors'), tensors);
  const cfg = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8'));
  config?.(cfg);
  writeFileSync(join(out, 'config.json'), JSON.stringify(cfg));
  return out;
}

describe('LlamaModel forward', () => {
  let model: LlamaModel;
  beforeAll(async () => { model = await LlamaModel.load(TINY); });
  afterAll(() => model.dispose());

  it('matches the PyTorch logits of the trained tiny Llama (GQA, llama3 rope_scaling, untied)', async () => {
    const ref = await reference(TINY);
    const logits = await model.forward(ref.ids);
    expect(logits.shape).toEqual([ref.ids.length, model.config.vocabSize]);
    const err = maxAbsDiff(logits.toTypedArray() as Float32Array, ref.logits);
    console.log(`tiny-llama forward vs PyTorch: max |error| ${err.toExponential(2)} over logits up to ${Math.max(...ref.logits.map(Math.abs)).toFixed(2)}`);
    expect(err).toBeLessThan(2e-4);
  });

  it('matches the PyTorch logits of a Qwen2-style model (q/k/v biases, tied embeddings)', async () => {
    using q = await LlamaModel.load(QWEN);
    expect(q.lmHead).toBe(q.embed);
    expect(q.blocks[0]!.linears.q_proj.bias).not.toBeNull();
    expect(q.blocks[0]!.linears.o_proj.bias).toBeNull();
    const ref = await reference(QWEN);
    expect(maxAbsDiff((await q.forward(ref.ids)).toTypedArray() as Float32Array, ref.logits)).toBeLessThan(2e-4);
  });

  it('decodes incrementally through the KV cache with the full forward\'s logits', async () => {
    const ref = await reference(TINY);
    const cache = model.createCache({ capacity: ref.ids.length });
    const V = model.config.vocabSize;
    const first = await model.forward(ref.ids.subarray(0, 40), { cache });
    expect(cache.length).toBe(40);
    expect(maxAbsDiff(first.toTypedArray() as Float32Array, ref.logits.subarray(0, 40 * V))).toBeLessThan(2e-4);
    for (let t = 40; t < 48; t++) {
      const step = await model.forward(ref.ids.subarray(t, t + 1), { cache, lastOnly: true });
      expect(step.shape).toEqual([1, V]);
      expect(maxAbsDiff(step.toTypedArray() as Float32Array, ref.logits.subarray(t * V, (t + 1) * V))).toBeLessThan(2e-4);
    }
    await expect(model.forward(ref.ids, { cache })).rejects.toMatchObject({ code: 'ERR_SHAPE' });
  });

  it('runs a batch of sequences, with and without a cache, as each one alone', async () => {
    const ref = await reference(TINY);
    const a = ref.ids.subarray(0, 24), b = ref.ids.subarray(30, 54);
    const both = Int32Array.from([...a, ...b]);
    const V = model.config.vocabSize;
    const batched = await model.forward(Tensor.from(both, [2, 24]));
    expect(batched.shape).toEqual([2, 24, V]);
    const lb = (await model.forward(b)).toTypedArray() as Float32Array;
    expect(maxAbsDiff((batched.toTypedArray() as Float32Array).subarray(24 * V), lb)).toBeLessThan(1e-4);
    const cache = model.createCache({ batch: 2, capacity: 25 });
    await model.forward(Tensor.from(both, [2, 24]), { cache });
    const next = await model.forward(Tensor.from(Int32Array.from([ref.ids[24]!, ref.ids[54]!]), [2, 1]), { cache, lastOnly: true });
    const alone = (await model.forward(ref.ids.subarray(30, 55), { lastOnly: true })).toTypedArray() as Float32Array;
    expect(maxAbsDiff((next.toTypedArray() as Float32Array).subarray(V), alone)).toBeLessThan(1e-4);
  });

  it('computes the perplexity the PyTorch script printed', async () => {
    const ref = await reference(TINY);
    const { ids } = await readTokenFile(join(TINY, 'eval.tokens.bin'));
    const ppl = await model.perplexity(ids.subarray(0, 8192), { seqLen: 128, batch: 8 });
    expect(ppl).toBeCloseTo(Number(ref.metadata.eval_ppl_seq128_first8192), 3);
    // The tiny model has learned something: far below the 258-way uniform guess.
    expect(ppl).toBeLessThan(20);
  });

  it('refuses token ids outside the vocabulary, naming the position', async () => {
    await expect(model.forward([1, 2, 999])).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringContaining('tokenIds[2]') });
    // The first id past the end, and the last one inside.
    const V = model.config.vocabSize;
    await expect(model.forward([1, V])).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringContaining(`tokenIds[1] = ${V} is outside`) });
    expect((await model.forward([1, V - 1])).shape).toEqual([2, V]);
    await expect(model.forward([-1])).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringContaining('tokenIds[0]') });
    await expect(model.forward([])).rejects.toMatchObject({ code: 'ERR_SHAPE' });
  });
});

describe('LlamaModel loading', () => {
  it('reads bfloat16 weights and packed (bitmap, nm) linears with the same results as dense', async () => {
    const ref = await reference(TINY);
    const bf = await variant(TINY, async (t) => {
      for (const [n, v] of Object.entries(t)) if (v instanceof Tensor && v.ndim === 2) t[n] = v.to('bfloat16');
    });
    const packed = await variant(bf, async (t) => {
      const q = t['model.layers.0.self_attn.q_proj.weight'] as Tensor;
      t['model.layers.0.self_attn.q_proj.weight'] = SparseMatrix.fromDense(q, { format: 'bitmap' });
      const up = t['model.layers.1.mlp.up_proj.weight'] as Tensor;
      t['model.layers.1.mlp.up_proj.weight'] = SparseMatrix.fromDense(up, { format: 'nm', n: 2, m: 4, prune: 'magnitude' });
    });
    using mb = await LlamaModel.load(bf);
    using mp = await LlamaModel.load(packed);
    expect(mb.embed.dtype).toBe('bfloat16');
    expect(mp.blocks[0]!.linears.q_proj.weight).toBeInstanceOf(SparseMatrix);
    const lb = (await mb.forward(ref.ids)).toTypedArray() as Float32Array;
    // bf16 weights: logits stay within bf16 rounding of the float32 model's.
    expect(maxAbsDiff(lb, ref.logits)).toBeLessThan(0.15);
    // A dense copy of the packed model's weights gives the same logits as the packed one.
    const unpacked = await variant(packed, async (t) => {
      for (const [n, v] of Object.entries(t)) if (v instanceof SparseMatrix) t[n] = v.toDense();
    });
    using mu = await LlamaModel.load(unpacked);
    expect(maxAbsDiff((await mp.forward(ref.ids)).toTypedArray() as Float32Array, (await mu.forward(ref.ids)).toTypedArray() as Float32Array))
      .toBeLessThan(1e-4);
  });

  it('loads model.safetensors.index.json shards', async () => {
    const out = join(dir, 'sharded');
    mkdirSync(out);
    using f = await loadSafetensors(join(TINY, 'model.safetensors'));
    const names = f.names;
    const half = Math.floor(names.length / 2);
    const shards = [names.slice(0, half), names.slice(half)];
    const weightMap: Record<string, string> = {};
    for (const [i, list] of shards.entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      await saveSafetensors(join(out, file), Object.fromEntries(list.map((n) => [n, f.get(n)])));
      for (const n of list) weightMap[n] = file;
    }
    writeFileSync(join(out, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    copyFileSync(join(TINY, 'config.json'), join(out, 'config.json'));
    using m = await LlamaModel.load(out);
    expect(m.checkpoint().files.length).toBe(2);
    const ref = await reference(TINY);
    expect(maxAbsDiff((await m.forward(ref.ids)).toTypedArray() as Float32Array, ref.logits)).toBeLessThan(2e-4);
    // A shard path that leaves the folder is refused.
    writeFileSync(join(out, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { ...weightMap, 'model.norm.weight': '../x.safetensors' } }));
    await expect(LlamaModel.load(out)).rejects.toMatchObject({ code: 'ERR_FORMAT', message: expect.stringContaining('model.norm.weight') });
  });

  it('names the tensor that is missing or has the wrong shape, and the unsupported architecture', async () => {
    const missing = await variant(TINY, (t) => { delete t['model.layers.2.mlp.down_proj.weight']; });
    await expect(LlamaModel.load(missing)).rejects.toMatchObject({ code: 'ERR_FORMAT', message: expect.stringContaining("'model.layers.2.mlp.down_proj.weight'") });
    const shape = await variant(TINY, (t) => { t['model.layers.1.self_attn.k_proj.weight'] = Tensor.zeros([32, 128]); });
    await expect(LlamaModel.load(shape)).rejects.toMatchObject({ code: 'ERR_SHAPE', message: expect.stringContaining("'model.layers.1.self_attn.k_proj.weight' has shape [32, 128], expected [64, 128]") });
    const arch = await variant(TINY, () => {}, (c) => { c.architectures = ['GPT2LMHeadModel']; });
    await expect(LlamaModel.load(arch)).rejects.toMatchObject({ code: 'ERR_FORMAT', message: expect.stringContaining('GPT2LMHeadModel') });
    // A packed embedding or norm may carry no SLoRB term: it would be dropped by the dense read.
    const term = await variant(TINY, (t) => { t['model.embed_tokens.weight'] = withSlorbTerm(t['model.embed_tokens.weight'] as Tensor); });
    await expect(LlamaModel.load(term)).rejects.toMatchObject({ code: 'ERR_FORMAT', message: expect.stringContaining("'model.embed_tokens.weight' carries an SLoRB term") });
    const untied = await variant(TINY, (t) => { delete t['lm_head.weight']; });
    await expect(LlamaModel.load(untied)).rejects.toMatchObject({ code: 'ERR_FORMAT', message: expect.stringContaining("'lm_head.weight'") });
    await expect(LlamaModel.load(join(dir, 'nowhere'))).rejects.toMatchObject({ code: 'ERR_IO' });
  });

  it('parses configs strictly and computes llama3 rope frequencies as transformers does', () => {
    const cfg = parseConfig(readFileSync(join(TINY, 'config.json'), 'utf8'));
    expect(cfg.ropeScaling?.ropeType).toBe('llama3');
    const inv = ropeInvFreq(cfg);
    // theta 10000, head_dim 32, factor 4, original 512, low 1, high 4: wavelengths below 128 keep
    // their frequency, above 512 are divided by 4, between are blended.
    const base = (i: number) => 1 / 10000 ** ((2 * i) / 32);
    expect(inv[0]).toBeCloseTo(base(0), 7);
    expect(inv[15]).toBeCloseTo(base(15) / 4, 9);
    const wave = (i: number) => (2 * Math.PI) / base(i);
    const mid = [...Array(16).keys()].find((i) => wave(i) >= 128 && wave(i) <= 512)!;
    const smooth = (512 / wave(mid) - 1) / 3;
    expect(inv[mid]).toBeCloseTo((1 - smooth) * base(mid) / 4 + smooth * base(mid), 7);
    const llama3 = { rope_type: 'llama3', factor: 4, original_max_position_embeddings: 512 };
    for (const bad of [{ hidden_size: 0 }, { num_key_value_heads: 3 }, { rope_scaling: { rope_type: 'yarn', factor: 2 } }, { hidden_act: 'gelu' },
      // RoPE rotates pairs: an odd head dimension has no partner for its last component.
      { head_dim: 33 }, { hidden_size: 132, head_dim: null },
      // The llama3 blend divides by high - low: equal factors would give NaN frequencies.
      { rope_scaling: { ...llama3, low_freq_factor: 2, high_freq_factor: 2 } }]) {
      const c = { ...JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8')), ...bad };
      expect(() => parseConfig(JSON.stringify(c))).toThrow(expect.objectContaining({ code: 'ERR_FORMAT' }));
    }
    expect(() => parseConfig('{nope')).toThrow(expect.objectContaining({ code: 'ERR_FORMAT' }));
  });
});

describe('the model binding (native/addon/model_binding.cpp) keeps the process safe', () => {
  it('refuses arrays too small for the shape, by bytes, not element counts', () => {
    const rows = 3, cols = 8;
    const x = new Float32Array(rows * cols).fill(1), w = new Float32Array(cols).fill(1);
    const out = new Float32Array(rows * cols);
    native.modelRmsNorm(x, rows, cols, w, 'float32', 1e-6, out);
    expect(Array.from(out.subarray(0, 3)).map((v) => +v.toFixed(5))).toEqual([1, 1, 1]);
    // Each one has enough elements... as bytes, but not as float32 values.
    const short = new Float32Array(rows * cols / 2);
    expect(() => native.modelRmsNorm(x, rows, cols, w, 'float32', 1e-6, short)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringContaining('out') }));
    expect(() => native.modelRmsNorm(short, rows, cols, w, 'float32', 1e-6, out)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringContaining('x') }));
    expect(() => native.modelRmsNorm(x, rows, cols, new Float32Array(cols / 2), 'float32', 1e-6, out)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => native.modelRmsNorm(x, rows, cols, new Uint16Array(cols / 2), 'bfloat16', 1e-6, out)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    const vocab = 4;
    expect(() => native.modelEmbed(Int32Array.from([0, 3]), new Float32Array(vocab * cols / 2), 'float32', vocab, cols, new Float32Array(2 * cols)))
      .toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
  });
});

describe('token input', () => {
  it('reads int32 token files (safetensors 2-D, plain binary) and refuses a ragged one', async () => {
    const calib = await readTokenFile(join(TINY, 'calib.tokens.safetensors'));
    expect(calib.shape).toEqual([64, 128]);
    const bin = await readTokenFile(join(TINY, 'eval.tokens.bin'));
    expect(bin.ids.length).toBe(16384);
    const odd = join(dir, 'odd.bin');
    writeFileSync(odd, Buffer.alloc(7));
    await expect(readTokenFile(odd)).rejects.toMatchObject({ code: 'ERR_FORMAT' });
  });

  it('encodes text with the checkpoint\'s tokenizer.json (byte-level: one id per byte)', async () => {
    const tok = await loadTokenizer(TINY);
    const text = readFileSync(join(TINY, 'eval.txt'), 'utf8');
    const ids = tok.encode(text);
    expect(Array.from(ids)).toEqual(Array.from(Buffer.from(text, 'utf8')));
    expect(tok.decode(ids)).toBe(text);
    expect(Array.from(tok.encode('é\n'))).toEqual([0xc3, 0xa9, 10]);
    await expect(loadTokenizer(QWEN)).rejects.toMatchObject({ code: 'ERR_IO' });
  });
});
