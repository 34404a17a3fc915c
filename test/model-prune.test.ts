/**
 * Whole-model pruning on the trained tiny Llama (test/fixtures/tiny-llama): the published ranking
 * of the solvers by perplexity, save/reload, the calibration modes, progress, abort, and the
 * solver seam.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CalibrationStats, LlamaModel, SparseMatrix, loadSafetensors, prune, type LinearSolver, type ModelPruneOptions, type Tensor,
} from '../lib/index.js';
import { readTokenFile } from '../lib/model/tokens.js';
import { TINY, withSlorbTerm } from './model-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'sparsekit-prune-model-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SAMPLES = 16;
let calib: Int32Array[];
let evalIds: Int32Array;
const ppl = (m: LlamaModel, maxWindows = 32) => m.perplexity(evalIds, { seqLen: 128, batch: 16, maxWindows });

beforeAll(async () => {
  const c = await readTokenFile(join(TINY, 'calib.tokens.safetensors'));
  calib = Array.from({ length: SAMPLES }, (_, i) => c.ids.slice(i * 128, (i + 1) * 128));
  evalIds = (await readTokenFile(join(TINY, 'eval.tokens.bin'))).ids;
});

async function pruned(options: ModelPruneOptions): Promise<{ model: LlamaModel; ppl: number }> {
  const model = await LlamaModel.load(TINY);
  const report = await model.prune(calib, options);
  expect(report.linears.length).toBe(4 * 7);
  return { model, ppl: await ppl(model, 64) };
}

describe('sequential pruning of the tiny Llama', () => {
  const table: Record<string, number> = {};
  afterAll(() => console.log('tiny-llama perplexity (64 x 128 held-out tokens; the calibration modes on 32):', table));

  it('at 50%: dense < SparseGPT <= Wanda < magnitude, as the papers report', async () => {
    using dense = await LlamaModel.load(TINY);
    table.dense = await ppl(dense, 64);
    for (const method of ['magnitude', 'wanda', 'sparsegpt'] as const) {
      const r = await pruned({ method, sparsity: 0.5 });
      table[`${method} 50%`] = r.ppl;
      for (const s of r.model.linearSlots()) {
        expect(s.weight).toBeInstanceOf(SparseMatrix);
        expect((s.weight as SparseMatrix).density).toBeCloseTo(0.5, 2);
      }
      r.model.dispose();
    }
    expect(table.dense).toBeLessThan(table['sparsegpt 50%']!);
    expect(table['sparsegpt 50%']).toBeLessThanOrEqual(table['wanda 50%']!);
    expect(table['wanda 50%']).toBeLessThan(table['magnitude 50%']!);
  });

  it('at 2:4: SparseGPT is the best of the three; the pruned checkpoint saves, reloads and gives the same perplexity', async () => {
    const results: Record<string, number> = {};
    for (const method of ['magnitude', 'wanda'] as const) {
      const r = await pruned({ method, n: 2, m: 4 });
      results[method] = r.ppl;
      r.model.dispose();
    }
    const sg = await pruned({ method: 'sparsegpt', n: 2, m: 4 });
    results.sparsegpt = sg.ppl;
    Object.assign(table, Object.fromEntries(Object.entries(results).map(([k, v]) => [`${k} 2:4`, v])));
    expect(results.sparsegpt).toBeLessThan(results.wanda!);
    expect(results.sparsegpt).toBeLessThan(results.magnitude!);
    for (const s of sg.model.linearSlots()) expect((s.weight as SparseMatrix).format).toBe('nm');

    const before = await ppl(sg.model, 8);
    for (const format of ['keep', 'dense'] as const) {
      const out = join(dir, `sg24-${format}`);
      await sg.model.save(out, { format });
      using re = await LlamaModel.load(out);
      using f = await loadSafetensors(join(out, 'model.safetensors'));
      expect(f.info('model.layers.0.self_attn.q_proj.weight').kind).toBe(format === 'dense' ? 'tensor' : 'sparse');
      expect(f.info('model.embed_tokens.weight').kind).toBe('tensor');
      const again = await ppl(re, 8);
      expect(Math.abs(again - before) / before).toBeLessThan(1e-5);
    }
    await expect(sg.model.save(TINY)).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
    sg.model.dispose();
  });

  it('one-pass, block and sequential calibration differ exactly where docs/models.md says', async () => {
    const masks = async (calibration: 'sequential' | 'block' | 'one-pass') => {
      using m = await LlamaModel.load(TINY);
      await m.prune(calib, { method: 'sparsegpt', sparsity: 0.5, calibration });
      table[`sparsegpt 50% ${calibration}`] = await ppl(m);
      const out = new Map<string, Float32Array>();
      for (const s of m.linearSlots()) out.set(s.name, (s.weight as SparseMatrix).toDense().toTypedArray() as Float32Array);
      return out;
    };
    const seq = await masks('sequential'), blk = await masks('block'), one = await masks('one-pass');
    const same = (a: Map<string, Float32Array>, b: Map<string, Float32Array>, name: string) =>
      a.get(name)!.every((v, i) => v === b.get(name)![i]);
    const q0 = 'model.layers.0.self_attn.q_proj.weight', o0 = 'model.layers.0.self_attn.o_proj.weight';
    const d0 = 'model.layers.0.mlp.down_proj.weight', q1 = 'model.layers.1.self_attn.q_proj.weight';
    // Block 0's q/k/v see the same (embedding) inputs in every mode.
    expect(same(seq, one, q0) && same(seq, blk, q0)).toBe(true);
    // Sequential calibrates o_proj on the pruned q/k/v's attention output; the others on the dense one.
    expect(same(seq, one, o0)).toBe(false);
    expect(same(blk, one, o0) && same(blk, one, d0)).toBe(true);
    // From block 1 on, block and sequential read the pruned model's outputs; one-pass the dense model's.
    expect(same(blk, one, q1)).toBe(false);
    expect(same(seq, blk, q1)).toBe(false);
    // Compensating the earlier blocks' errors pays off on this model too.
    expect(table['sparsegpt 50% sequential']).toBeLessThan(table['sparsegpt 50% one-pass']!);
  });
});

describe('pruning control and the solver seam', () => {
  it('refuses a linear with a SLoRB term before any work (it would be dropped), unless its block is not pruned', async () => {
    using m = await LlamaModel.load(TINY);
    const slot = m.blocks[1]!.linears.up_proj;
    slot.weight = withSlorbTerm(slot.weight as Tensor);
    const before = m.blocks[0]!.linears.q_proj.weight;
    await expect(m.prune(calib.slice(0, 2), { method: 'magnitude', sparsity: 0.5 })).rejects.toMatchObject({
      code: 'ERR_ARGUMENT', message: expect.stringContaining(slot.name),
    });
    expect(m.blocks[0]!.linears.q_proj.weight).toBe(before);  // nothing pruned
    await m.prune(calib.slice(0, 2), { method: 'magnitude', sparsity: 0.5, blocks: [0, 2] });
    expect(m.blocks[0]!.linears.q_proj.weight).toBeInstanceOf(SparseMatrix);
    expect((slot.weight as SparseMatrix).slorb?.groupSize).toBe(16);
  });

  it('reports progress per block and stops on abort with ERR_ABORTED', async () => {
    using m = await LlamaModel.load(TINY);
    const seen: string[] = [];
    let last = 0;
    const ac = new AbortController();
    const run = m.prune(calib.slice(0, 4), { method: 'wanda', sparsity: 0.5 }, {
      signal: ac.signal,
      onProgress: (p) => {
        expect(p.fraction).toBeGreaterThanOrEqual(last);
        last = p.fraction;
        seen.push(`${p.block}:${p.stage}`);
        if (p.block === 2) ac.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(seen).toContain('0:calibrate');
    expect(seen).toContain('1:propagate');
    // Blocks 0 and 1 were pruned, block 3 was not touched.
    expect(m.blocks[1]!.linears.down_proj.weight).toBeInstanceOf(SparseMatrix);
    expect(m.blocks[3]!.linears.q_proj.weight).not.toBeInstanceOf(SparseMatrix);

    using full = await LlamaModel.load(TINY);
    const fractions: number[] = [];
    await full.prune(calib.slice(0, 4), { method: 'wanda', sparsity: 0.5 }, { onProgress: (p) => fractions.push(p.fraction) });
    expect(fractions.at(-1)).toBe(1);
  });

  it('hands a custom LinearSolver one CalibrationStats per input group, with every calibration token', async () => {
    using m = await LlamaModel.load(TINY);
    const seen = new Map<string, CalibrationStats | null>();
    // An OWL-like rule: a different sparsity per block, through the built-in Wanda.
    const owl: LinearSolver = {
      name: 'wanda-per-block', stats: 'norms',
      async prune(w: Tensor, stats, ctx) {
        expect(stats!.tokens).toBe(8 * 128);
        expect(stats!.channels).toBe(w.shape[1]);
        seen.set(`${ctx.block}.${ctx.linear}`, stats);
        return prune.wandaAsync(w, stats!, { sparsity: 0.2 + 0.1 * ctx.block });
      },
    };
    const report = await m.prune(calib.slice(0, 8), { method: owl, sparsity: 0.5 });
    expect(report.method).toBe('wanda-per-block');
    expect(seen.get('0.q_proj')).toBe(seen.get('0.k_proj'));
    expect(seen.get('0.q_proj')).toBe(seen.get('0.v_proj'));
    expect(seen.get('0.gate_proj')).toBe(seen.get('0.up_proj'));
    expect(seen.get('0.o_proj')).not.toBe(seen.get('0.q_proj'));
    expect(seen.get('0.down_proj')).not.toBe(seen.get('0.gate_proj'));
    expect((m.blocks[3]!.linears.up_proj.weight as SparseMatrix).density).toBeCloseTo(0.5, 2);
    expect((m.blocks[0]!.linears.up_proj.weight as SparseMatrix).density).toBeCloseTo(0.8, 2);
    // Stats are freed once their group is pruned.
    expect([...seen.values()].every((s) => s!.disposed)).toBe(true);
  });

  it('checks its arguments', async () => {
    using m = await LlamaModel.load(TINY);
    await expect(m.prune(calib, { method: 'obs' as never, sparsity: 0.5 })).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
    await expect(m.prune([], { method: 'wanda', sparsity: 0.5 })).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
    await expect(m.prune([Int32Array.of(1, 2, 300)], { method: 'wanda', sparsity: 0.5 })).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringContaining('calibration[0][2]') });
    await expect(m.prune(calib, { method: 'wanda' } as never)).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
    await expect(m.prune(calib, { method: 'wanda', sparsity: 0.5, calibration: 'twice' as never })).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
    // The boundaries: token ids in [0, vocab), block indices in [0, blocks).
    const vocab = m.config.vocabSize, nBlocks = m.blocks.length;
    for (const id of [vocab, -1])
      await expect(m.prune([Int32Array.of(1, id)], { method: 'wanda', sparsity: 0.5 })).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringContaining(`calibration[0][1] = ${id} is outside`) });
    await expect(m.prune(calib, { method: 'wanda', sparsity: 0.5, blocks: [nBlocks] })).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/^options\.blocks: \d+ is not a block index/) });
    const r = await m.prune([Int32Array.of(vocab - 1, 0, vocab - 1)], { method: 'wanda', sparsity: 0.5, blocks: [nBlocks - 1] });
    expect(r.linears.map((l) => l.name)).toEqual(m.linearSlots().filter((s) => s.name.startsWith(`model.layers.${nBlocks - 1}.`)).map((s) => s.name));
  });
});
