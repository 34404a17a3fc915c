/**
 * MatmulOptions.activations through the whole-model paths: forward, perplexity and generate pass
 * it to every block linear and the LM head; 'int8' reaches the quantized weights only.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlamaModel, SparseMatrix, Tensor, cpuInfo, type Weight } from '../lib/index.js';
import { LINEARS } from '../lib/model/block.js';
import { readTokenFile } from '../lib/model/tokens.js';
import { activationsFor } from '../lib/ops.js';
import { TINY } from './model-fixtures.js';

const info = cpuInfo();
// The int8-activation kernels (qspmm_*_x8_vnni) exist at N = 1 for every quantized format.
const vnni = info.isa === 'avx512' && info.features.avx512vnni === true && info.features.avx512vbmi === true;

/** `w` as dense int4 (int8 kernels at N = 1) or pruned to 2:4 int4 (int8 kernels up to N = 64). */
function quantized(w: Weight, format: 'dense' | 'nm' = 'dense'): SparseMatrix {
  const t = w instanceof SparseMatrix ? w.toDense() : w;
  const quantize = { bits: 4 as const, groupSize: 32 };
  return format === 'dense' ? SparseMatrix.fromDense(t, { format, quantize }) : SparseMatrix.fromDense(t, { format, n: 2, m: 4, prune: 'magnitude', quantize });
}

function same(a: Tensor, b: Tensor): boolean {
  const x = a.toTypedArray() as Float32Array, y = b.toTypedArray() as Float32Array;
  return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
}

describe('activations through the model', () => {
  let model: LlamaModel;
  const ids = Int32Array.from([256, 72, 101, 108, 108, 111]);
  beforeAll(async () => { model = await LlamaModel.load(TINY); });
  afterAll(() => model.dispose());

  it("activationsFor: 'int8' reaches quantized weights only, every other value as given", () => {
    const dense = Tensor.randn([4, 64], { seed: 1 });
    const q = SparseMatrix.fromDense(dense, { format: 'dense', quantize: { bits: 8, groupSize: 32 } });
    expect(activationsFor(dense, 'int8')).toBe('float32');
    expect(activationsFor(SparseMatrix.fromDense(dense, { format: 'bitmap' }), 'int8')).toBe('float32');
    expect(activationsFor(q, 'int8')).toBe('int8');
    for (const a of ['float32', 'bfloat16', undefined] as const) expect(activationsFor(dense, a)).toBe(a);
  });

  it("'int8' on a model without quantized weights changes nothing; a bad value is refused", async () => {
    const plain = await model.forward(ids);
    expect(same(await model.forward(ids, { activations: 'int8' }), plain)).toBe(true);
    expect(same(await model.forward(ids, { activations: 'float32' }), plain)).toBe(true);
    await expect(model.forward(ids, { activations: 'int4' as 'int8' })).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/options\.activations/) });
  });

  // Each linear of block 1 and the LM head in turn is the only quantized weight: the int8 option
  // must change the logits, so every call site passes it on.
  it.runIf(vnni)('every block linear and the LM head receive it (decode steps, N = 1)', async () => {
    const block = model.blocks[1]!;
    const sites: [string, () => Weight, (w: Weight) => void][] = [
      ...LINEARS.map((l): [string, () => Weight, (w: Weight) => void] => [l, () => block.linears[l].weight, (w) => { block.linears[l].weight = w; }]),
      ['lm_head', () => model.lmHead, (w) => { model.lmHead = w; }],
    ];
    for (const [site, get, set] of sites) {
      const held = get();
      set(quantized(held));
      try {
        // One token per forward, as decoding runs: N = 1 has int8 kernels for every format.
        const cacheA = model.createCache({ capacity: ids.length }), cacheB = model.createCache({ capacity: ids.length });
        let differs = false;
        for (const id of ids) {
          const a = await model.forward([id], { cache: cacheA, lastOnly: true });
          const b = await model.forward([id], { cache: cacheB, lastOnly: true, activations: 'int8' });
          if (!same(a, b)) differs = true;
          // int8 activations stay close to the float result (per-group rounding, 2^-8 relative).
          const x = a.toTypedArray() as Float32Array, y = b.toTypedArray() as Float32Array;
          let scale = 0, err = 0;
          for (let i = 0; i < x.length; i++) { scale = Math.max(scale, Math.abs(x[i]!)); err = Math.max(err, Math.abs(x[i]! - y[i]!)); }
          expect(err, site).toBeLessThan(0.05 * scale);
        }
        expect(differs, site).toBe(true);
      } finally {
        set(held);
      }
    }
  });

  it.runIf(vnni)('perplexity and generate pass it on', async () => {
    const held = model.lmHead;
    model.lmHead = quantized(held, 'nm');
    try {
      const { ids: evalIds } = await readTokenFile(join(TINY, 'eval.tokens.bin'));
      const tokens = evalIds.subarray(0, 64);
      // The 2:4 int4 head sees 16 rows per window: its int8 GEMM covers N <= 64.
      const p0 = await model.perplexity(tokens, { seqLen: 16 });
      const p1 = await model.perplexity(tokens, { seqLen: 16, activations: 'int8' });
      expect(p1).not.toBe(p0);
      expect(Math.abs(p1 / p0 - 1)).toBeLessThan(0.05);
      const g0 = await model.generate(ids, { maxTokens: 4 });
      const g1 = await model.generate(ids, { maxTokens: 4, activations: 'int8' });
      expect(g1.length).toBe(g0.length);
      await expect(model.generate(ids, { maxTokens: 1, activations: 'int4' as 'int8' })).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
    } finally {
      model.lmHead = held;
    }
  });
});
