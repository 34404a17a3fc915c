// Part 3 of `npm run demo`: a whole model. Loads the tiny Llama trained by
// scripts/fixtures/train-tiny-llama.py, prunes it block by block with each solver (50% and 2:4),
// prints a perplexity table, saves the SparseGPT 2:4 model packed, reloads it, and compares greedy
// decoding speed dense vs packed.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LlamaModel, SparseMatrix, type ModelPruneOptions } from '../lib/index.js';
import { loadTokenizer, readTokenFile } from '../lib/model/tokens.js';

const TINY = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'tiny-llama');

async function decodeSpeed(model: LlamaModel, prompt: Int32Array, tokens: number): Promise<{ tokensPerSecond: number; out: Int32Array }> {
  await model.generate(prompt.subarray(0, 4), { maxTokens: 4 });  // warm-up
  const t0 = performance.now();
  const out = await model.generate(prompt, { maxTokens: tokens });
  return { tokensPerSecond: out.length / ((performance.now() - t0) / 1000), out };
}

export async function modelDemo(): Promise<boolean> {
  const t0 = performance.now();
  const calibFile = await readTokenFile(join(TINY, 'calib.tokens.safetensors'));
  const calib = Array.from({ length: 32 }, (_, i) => calibFile.ids.slice(i * 128, (i + 1) * 128));
  const evalIds = (await readTokenFile(join(TINY, 'eval.tokens.bin'))).ids;
  const ppl = (m: LlamaModel) => m.perplexity(evalIds, { seqLen: 128, batch: 16, maxWindows: 64 });

  using dense = await LlamaModel.load(TINY);
  console.log(`== A whole model: ${dense}`);
  console.log(`   calibration ${calib.length} x 128 tokens, perplexity on 64 x 128 held-out tokens (Python sources)\n`);
  const densePpl = await ppl(dense);
  const rows: [string, string, string][] = [];
  let best: LlamaModel | null = null;
  for (const [label, pattern] of [['50%', { sparsity: 0.5 }], ['2:4', { n: 2, m: 4 }]] as const) {
    const cells: string[] = [];
    for (const method of ['magnitude', 'wanda', 'sparsegpt'] as const) {
      const m = await LlamaModel.load(TINY);
      const r = await m.prune(calib, { method, ...pattern } as ModelPruneOptions);
      cells.push(`${method} ${(await ppl(m)).toFixed(3)} (${r.seconds.toFixed(1)} s)`);
      if (method === 'sparsegpt' && label === '2:4') best = m;
      else m.dispose();
    }
    rows.push([label, `dense ${densePpl.toFixed(3)}`, cells.join('   ')]);
  }
  for (const [label, d, cells] of rows) console.log(`   ${label.padEnd(4)} ${d}   ${cells}`);

  const out = mkdtempSync(join(tmpdir(), 'sparsekit-demo-model-'));
  let ok = true;
  try {
    const saved = await best!.save(out, { format: 'auto' });
    const before = await ppl(best!);
    best!.dispose();
    using packed = await LlamaModel.load(out);
    const after = await ppl(packed);
    const formats = new Set(packed.linearSlots().map((s) => (s.weight instanceof SparseMatrix ? s.weight.format : 'dense')));
    console.log(`\n   SparseGPT 2:4 saved as [${[...formats].join(', ')}], ${(saved.bytes / 1024).toFixed(0)} KiB ` +
      `(dense ${(dense.weightBytes() / 1024).toFixed(0)} KiB of linears + head); reloaded perplexity ${after.toFixed(3)} (before saving ${before.toFixed(3)})`);
    ok = Math.abs(after - before) / before < 1e-5;

    const tok = await loadTokenizer(TINY);
    const prompt = tok.encode('def __init__(self');
    const d = await decodeSpeed(dense, prompt, 48);
    const p = await decodeSpeed(packed, prompt, 48);
    console.log(`   greedy decode, batch 1: dense ${d.tokensPerSecond.toFixed(0)} tokens/s, packed 2:4 ${p.tokensPerSecond.toFixed(0)} tokens/s ` +
      `(a tiny model is bound by per-call overhead, not weight bytes: bench-model on a large model shows the bandwidth effect)`);
    console.log(`   dense:  ${JSON.stringify('def __init__(self' + tok.decode(d.out))}`);
    console.log(`   packed: ${JSON.stringify('def __init__(self' + tok.decode(p.out))}`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  console.log(`\n   whole-model part: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(ok ? '   The reloaded packed model gives the same perplexity.' : '   MISMATCH: the reloaded model differs.');
  return ok;
}
