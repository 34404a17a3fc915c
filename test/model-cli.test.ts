// `sparsekit prune-model`, `eval` and `bench-model` on the tiny Llama, in-process: outputs, --json
// schemas and exit codes.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LlamaModel, SparseMatrix, cpuInfo, loadSafetensors } from '../lib/index.js';
import { cli } from './cli-helper.js';
import { readTokenFile } from '../lib/model/tokens.js';
import { TINY } from './model-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'sparsekit-model-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('sparsekit prune-model / eval / bench-model', () => {
  const out = join(dir, 'wanda-24');

  it('prunes a checkpoint folder on calibration tokens and writes an HF-layout folder', async () => {
    const r = await cli('prune-model', TINY, '--method', 'wanda', '--nm', '2:4', '--calib', join(TINY, 'calib.tokens.safetensors'),
      '--samples', '8', '--seq-len', '128', '--format', 'keep', '--out', out, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ command: 'prune-model', version: 1, method: 'wanda', pattern: '2:4', calibration: 'sequential', samples: 8, tokens: 1024 });
    expect(j.linears).toHaveLength(28);
    expect(j.sparsity).toBeCloseTo(0.5, 5);
    expect(j.blockSeconds).toHaveLength(4);
    expect(j.peakRssBytes).toBeGreaterThan(0);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'generation_config.json']) expect(existsSync(join(out, f))).toBe(true);
    using f = await loadSafetensors(join(out, 'model.safetensors'));
    expect(f.info('model.layers.3.mlp.down_proj.weight')).toMatchObject({ kind: 'sparse', format: 'nm', n: 2, m: 4 });
  });

  it('prunes on calibration text through the tokenizer and prints a summary', async () => {
    const r = await cli('prune-model', TINY, '-m', 'sparsegpt', '--sparsity', '0.5', '--calib', join(TINY, 'eval.txt'),
      '--samples', '4', '--seq-len', '64', '--calibration', 'one-pass', '-o', join(dir, 'sg-text'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/prune-model: sparsegpt 50% \(one-pass\) on 4 samples \/ 256 tokens: 28 linears, 50\.0% sparse/);
  });

  it('--method ria/dsnot/alps and --layerwise owl reach model.prune; bad combinations are usage errors', async () => {
    const calib = join(TINY, 'calib.tokens.safetensors');
    const owl = await cli('prune-model', TINY, '-m', 'alps', '--sparsity', '0.6', '--layerwise', 'owl', '--owl-lambda', '0.05', '--alps-iters', '12',
      '--calib', calib, '--samples', '4', '--seq-len', '128', '-o', join(dir, 'owl-alps'), '--json');
    expect(owl.code).toBe(0);
    const j = JSON.parse(owl.stdout);
    expect(j).toMatchObject({ method: 'alps', pattern: '60%' });
    expect(j.blockSparsity).toHaveLength(4);
    expect(Math.max(...j.blockSparsity) - Math.min(...j.blockSparsity)).toBeCloseTo(0.1, 9);
    const ria = await cli('prune-model', TINY, '-m', 'ria', '--nm', '2:4', '--permute', '--calib', calib, '--samples', '4', '--seq-len', '128', '-o', join(dir, 'ria'));
    expect(ria.code).toBe(0);
    const ds = await cli('prune-model', TINY, '-m', 'dsnot', '--nm', '2:4', '--dsnot-initial', 'sparsegpt', '--dsnot-cycles', '3',
      '--calib', calib, '--samples', '4', '--seq-len', '128', '-o', join(dir, 'dsnot'));
    expect(ds.code).toBe(0);
    expect((await cli('prune-model', TINY, '-m', 'wanda', '--nm', '2:4', '--layerwise', 'owl', '--calib', calib, '-o', join(dir, 'x'))).code).toBe(1);
    expect((await cli('prune-model', TINY, '-m', 'wanda', '--nm', '2:4', '--permute', '--calib', calib, '-o', join(dir, 'x'))).code).toBe(1);
  });

  it('evaluates perplexity on token ids and on text, the same as the API', async () => {
    const r = await cli('eval', out, '--tokens', join(TINY, 'eval.tokens.bin'), '--seq-len', '128', '--max-windows', '8', '--batch', '4', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ command: 'eval', version: 1, seqLen: 128, windows: 8, tokens: 1024 });
    using m = await LlamaModel.load(out);
    const ids = (await readTokenFile(join(TINY, 'eval.tokens.bin'))).ids;
    expect(j.perplexity).toBeCloseTo(await m.perplexity(ids, { seqLen: 128, maxWindows: 8 }), 6);
    const t = await cli('eval', out, '--text', join(TINY, 'eval.txt'), '--seq-len', '256');
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^perplexity \d+\.\d+ \(16 windows x 256 tokens/);
  });

  it('passes --activations to every linear (int8 on a 2:4 int4 checkpoint), as the API does', async () => {
    const q4 = join(dir, 'wanda-24-int4');
    {
      using m = await LlamaModel.load(out);
      for (const slot of m.linearSlots()) {
        const w = slot.weight instanceof SparseMatrix ? slot.weight.toDense() : slot.weight;
        slot.weight = SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, quantize: { bits: 4, groupSize: 32 } });
      }
      await m.save(q4, { format: 'keep' });
    }
    const args = ['eval', q4, '--tokens', join(TINY, 'eval.tokens.bin'), '--seq-len', '32', '--max-windows', '4', '--json'];
    const f = JSON.parse((await cli(...args)).stdout), i = JSON.parse((await cli(...args, '--activations', 'int8')).stdout);
    expect([f.activations, i.activations]).toEqual(['float32', 'int8']);
    using m = await LlamaModel.load(q4);
    const ids = (await readTokenFile(join(TINY, 'eval.tokens.bin'))).ids;
    expect(i.perplexity).toBe(await m.perplexity(ids, { seqLen: 32, maxWindows: 4, activations: 'int8' }));
    const info = cpuInfo();
    if (info.isa === 'avx512' && info.features.avx512vnni && info.features.avx512vbmi) expect(i.perplexity).not.toBe(f.perplexity);
    const text = await cli('eval', q4, '--tokens', join(TINY, 'eval.tokens.bin'), '--seq-len', '32', '--max-windows', '1', '--activations', 'bfloat16');
    expect(text.stdout).toMatch(/activations bfloat16;/);
    const bad = await cli('eval', q4, '--tokens', join(TINY, 'eval.tokens.bin'), '--activations', 'int4');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--activations: expected one of float32, bfloat16, int8/);
    const b = JSON.parse((await cli('bench-model', q4, '--tokens', '2', '--prompt', '8', '--batch', '1', '--formats', 'nm', '--activations', 'int8', '--json')).stdout);
    expect(b.activations).toBe('int8');
  });

  it('benchmarks decoding dense vs packed, skipping a format the weights do not fit', async () => {
    const r = await cli('bench-model', out, '--tokens', '3', '--prompt', '16', '--batch', '1,2', '--formats', 'dense,bitmap,nm', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.rows.map((x: { format: string }) => x.format)).toEqual(['dense', 'bitmap', 'nm']);
    for (const row of j.rows) {
      expect(row.decode.map((d: { batch: number }) => d.batch)).toEqual([1, 2]);
      expect(row.prefillTokensPerSecond).toBeGreaterThan(0);
      expect(row.decode[1].bytesPerToken).toBeCloseTo(row.weightBytes / 2, 6);
    }
    const [dense, , nm] = j.rows;
    // 2:4 halves the values and adds 2 bits of index per kept value (float32 weights): ~0.56x the bytes.
    expect(nm.weightBytes).toBeLessThan(0.8 * dense.weightBytes);
    const d = await cli('bench-model', TINY, '--tokens', '2', '--prompt', '8', '--batch', '1', '--formats', 'dense,nm');
    expect(d.code).toBe(0);
    expect(d.stderr).toMatch(/skipped nm: .*2:4 or 4:8/);
  });

  it('exits with usage and input errors that say what to do', async () => {
    const noCalib = await cli('prune-model', TINY, '-m', 'wanda', '--sparsity', '0.5', '-o', join(dir, 'x'));
    expect(noCalib.code).toBe(2);
    expect(noCalib.stderr).toMatch(/needs calibration input/);
    expect((await cli('eval', TINY, '--seq-len', '128')).code).toBe(1);
    expect((await cli('prune-model', TINY, '-m', 'magnitude', '--sparsity', '0.5', '--calibration', 'twice', '-o', join(dir, 'y'))).code).toBe(1);
    const self = await cli('prune-model', TINY, '-m', 'magnitude', '--sparsity', '0.5', '-o', TINY);
    expect(self.code).toBe(2);
    expect(self.stderr).toMatch(/folder the model was loaded from/);
    const missing = await cli('eval', join(dir, 'nope'), '--tokens', join(TINY, 'eval.tokens.bin'));
    expect(missing.code).toBe(2);
  });
});
