/**
 * LlamaModel.save(): shards past maxShardBytes in Hugging Face's layout (model-0000i-of-0000n +
 * model.safetensors.index.json), reloads them, refuses to replace a checkpoint unless asked, and
 * leaves the folder as it was when writing fails.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LlamaModel, SparseMatrix, loadSafetensors, slorb, type Tensor } from '../lib/index.js';
import { runCli } from '../lib/cli/main.js';
import { TINY } from './model-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'sparsekit-model-save-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ids = Int32Array.from({ length: 24 }, (_, i) => (i * 37 + 5) % 256);

let model: LlamaModel;
let reference: Float32Array;
beforeAll(async () => {
  model = await LlamaModel.load(TINY);
  // Prune a few linears so the shards hold packed entries (parts that must stay together).
  for (const s of model.linearSlots().slice(0, 9)) {
    const w = s.weight as Tensor;
    s.weight = SparseMatrix.fromDense(w, { format: 'bitmap', mask: maskHalf(w) });
  }
  reference = (await model.forward(ids)).toTypedArray() as Float32Array;
});
afterAll(() => model.dispose());

function maskHalf(w: Tensor): Uint8Array {
  const m = new Uint8Array(w.size);
  for (let i = 0; i < m.length; i++) m[i] = (i * 7) % 4 < 2 ? 1 : 0;
  return m;
}

const sameLogits = async (out: string) => {
  using re = await LlamaModel.load(out);
  const logits = (await re.forward(ids)).toTypedArray() as Float32Array;
  expect(logits).toEqual(reference);
};

describe('LlamaModel.save with a format', () => {
  it('keeps a SLoRB term through the repack (a dense target as a dense matrix)', async () => {
    using m = await LlamaModel.load(TINY);
    const slot = m.linearSlots()[0]!;
    const w = slot.weight as Tensor;
    const mask = maskHalf(w);
    slot.weight = SparseMatrix.fromDense(w, { format: 'bitmap', mask, slorb: { scales: slorb.init(w, mask, { groupSize: 16, init: 'sum' }), groupSize: 16 } });
    const ref = (await m.forward(ids)).toTypedArray() as Float32Array;
    for (const format of ['dense', 'csr'] as const) {
      const out = join(dir, `slorb-${format}`);
      await m.save(out, { format });
      using re = await LlamaModel.load(out);
      const got = re.linearSlots()[0]!.weight as SparseMatrix;
      expect(got.format).toBe(format);
      expect(got.slorb?.groupSize).toBe(16);
      const logits = (await re.forward(ids)).toTypedArray() as Float32Array;
      let err = 0, mag = 0;
      for (let i = 0; i < ref.length; i++) { err = Math.max(err, Math.abs(logits[i]! - ref[i]!)); mag = Math.max(mag, Math.abs(ref[i]!)); }
      expect(err).toBeLessThan(1e-4 * mag);
    }
  });
});

describe('LlamaModel.save sharding', () => {
  it('writes one model.safetensors below the limit (the default 5 GB)', async () => {
    const out = join(dir, 'single');
    const r = await model.save(out, { format: 'keep' });
    expect(r.files).toEqual(['model.safetensors']);
    expect(existsSync(join(out, 'model.safetensors.index.json'))).toBe(false);
    expect(r.bytes).toBe(statSync(join(out, 'model.safetensors')).size);
    await sameLogits(out);
  });

  it('past maxShardBytes: shards of at most the limit (one bigger entry alone), an HF index, and the same logits on reload', async () => {
    const out = join(dir, 'sharded');
    const limit = 300_000;
    const r = await model.save(out, { format: 'keep', maxShardBytes: limit });
    const shards = r.files.filter((f) => f !== 'model.safetensors.index.json');
    expect(shards.length).toBeGreaterThan(3);
    shards.forEach((f, i) => expect(f).toBe(`model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`));
    expect(r.files.at(-1)).toBe('model.safetensors.index.json');
    expect(existsSync(join(out, 'model.safetensors'))).toBe(false);
    const index = JSON.parse(readFileSync(join(out, 'model.safetensors.index.json'), 'utf8'));
    let total = 0, tensors = 0;
    for (const f of shards) {
      using sf = await loadSafetensors(join(out, f));
      for (const t of sf.tensorNames) {
        expect(index.weight_map[t]).toBe(f);  // every stored tensor, packed parts included, listed at its shard
        tensors++;
      }
      const raw = readFileSync(join(out, f));
      const data = raw.length - 8 - Number(raw.readBigUInt64LE(0));
      total += data;
      // A shard exceeds the limit only when it holds a single entry that is bigger by itself.
      if (data > limit) expect(sf.names.length).toBe(1);
      for (const n of sf.names) {
        const v = sf.get(n);
        if (v instanceof SparseMatrix) expect(v.format).toBe('bitmap');
      }
    }
    expect(Object.keys(index.weight_map).length).toBe(tensors);
    expect(index.metadata.total_size).toBe(total);
    expect(readdirSync(out).filter((f) => f.startsWith('.'))).toEqual([]);  // no temporaries left
    await sameLogits(out);
  });

  it('refuses a folder holding a checkpoint unless overwrite, and then removes the old layout\'s files', async () => {
    const out = join(dir, 'replace');
    await model.save(out, { format: 'keep', maxShardBytes: 400_000 });
    const before = readdirSync(out).sort();
    await expect(model.save(out, { format: 'keep' })).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/^dir: .*already holds a checkpoint/) });
    expect(readdirSync(out).sort()).toEqual(before);
    // Sharded -> single: the shards and the index go (a stale index must not outlive its shards).
    await model.save(out, { format: 'keep', overwrite: true });
    expect(readdirSync(out).filter((f) => f.includes('safetensors')).sort()).toEqual(['model.safetensors']);
    await sameLogits(out);
    // Single -> sharded: model.safetensors goes (the loader would otherwise prefer it).
    const r = await model.save(out, { format: 'keep', overwrite: true, maxShardBytes: 250_000 });
    expect(readdirSync(out).filter((f) => f.includes('safetensors')).sort()).toEqual([...r.files].sort());
    expect(existsSync(join(out, 'model.safetensors'))).toBe(false);
    await sameLogits(out);
    // An unrelated file is never touched.
    writeFileSync(join(out, 'notes.txt'), 'mine');
    await model.save(out, { format: 'keep', overwrite: true, maxShardBytes: 600_000 });
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('mine');
    await sameLogits(out);
  });

  it('a failure part-way leaves the folder as it was (the old checkpoint intact, no shards, no temporaries)', async () => {
    const out = join(dir, 'fail');
    await model.save(out, { format: 'keep' });
    const before = readdirSync(out).sort();
    const bytes = readFileSync(join(out, 'model.safetensors'));
    // 'nm' fails at the first dense linear, which follows no 2:4 pattern: several shards in.
    await expect(model.save(out, { format: 'nm', overwrite: true, maxShardBytes: 100_000 })).rejects.toMatchObject({ code: 'ERR_FORMAT' });
    expect(readdirSync(out).sort()).toEqual(before);
    expect(readFileSync(join(out, 'model.safetensors')).equals(bytes)).toBe(true);
    const fresh = join(dir, 'fail-fresh');
    await expect(model.save(fresh, { format: 'nm', maxShardBytes: 100_000 })).rejects.toMatchObject({ code: 'ERR_FORMAT' });
    expect(readdirSync(fresh)).toEqual([]);
  });

  it('a shard ends exactly at maxShardBytes when its entries sum to it; an entry that passes it opens the next', async () => {
    // maxShardBytes 1: every entry alone (never an empty shard first); that gives the entries' sizes in order.
    const alone = await model.save(join(dir, 'alone'), { format: 'keep', maxShardBytes: 1 });
    const sizes: number[] = [];
    for (const f of alone.files.filter((f) => f.endsWith('.safetensors'))) {
      using sf = await loadSafetensors(join(dir, 'alone', f));
      expect(sf.names.length).toBe(1);
      const raw = readFileSync(join(dir, 'alone', f));
      sizes.push(raw.length - 8 - Number(raw.readBigUInt64LE(0)));
    }
    expect(sizes.length).toBeGreaterThan(3);
    const entriesInFirstShard = async (name: string, limit: number) => {
      const r = await model.save(join(dir, name), { format: 'keep', maxShardBytes: limit });
      using sf = await loadSafetensors(join(dir, name, r.files[0]!));
      return sf.names.length;
    };
    expect(await entriesInFirstShard('exact', sizes[0]! + sizes[1]!)).toBe(2);
    expect(await entriesInFirstShard('one-short', sizes[0]! + sizes[1]! - 1)).toBe(1);
  });

  it('refuses a folder holding only a model.safetensors (no config.json) unless overwrite', async () => {
    const out = join(dir, 'bare');
    mkdirSync(out);
    writeFileSync(join(out, 'model.safetensors'), 'not yours to replace');
    await expect(model.save(out, { format: 'keep' })).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/^dir: .*already holds a checkpoint \(model\.safetensors\)/) });
    expect(readFileSync(join(out, 'model.safetensors'), 'utf8')).toBe('not yours to replace');
  });

  it('checks maxShardBytes', async () => {
    for (const bad of [0, -1, 1.5, NaN, '5GB'])
      await expect(model.save(join(dir, 'bad'), { maxShardBytes: bad as never })).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/^options\.maxShardBytes/) });
  });

  it('prune-model --max-shard-size writes shards; an existing output needs --force and is checked before pruning', async () => {
    const out = join(dir, 'cli');
    mkdirSync(out);
    writeFileSync(join(out, 'config.json'), '{}');
    const io = { out: [] as string[], err: [] as string[] };
    const cli = (...argv: string[]) => {
      io.out = []; io.err = [];
      return runCli(argv, { stdout: (s) => { io.out.push(s); }, stderr: (s) => { io.err.push(s); }, isTTY: false });
    };
    const t0 = performance.now();
    expect(await cli('prune-model', TINY, '-m', 'magnitude', '--sparsity', '0.5', '-o', out, '--max-shard-size', '1MB')).toBe(1);
    expect(io.err.join('')).toMatch(/already holds a checkpoint[\s\S]*--force/);
    expect(performance.now() - t0).toBeLessThan(2000);  // refused up front, not after pruning
    expect(await cli('prune-model', TINY, '-m', 'magnitude', '--sparsity', '0.5', '-o', out, '--max-shard-size', '1MB', '--force', '--json')).toBe(0);
    const j = JSON.parse(io.out.join(''));
    expect(j.outputFiles.at(-1)).toBe('model.safetensors.index.json');
    expect(j.outputFiles.length).toBeGreaterThan(2);
    using re = await LlamaModel.load(out);
    expect((re.blocks[0]!.linears.q_proj.weight as SparseMatrix).format).toBeDefined();
    expect(await cli('prune-model', TINY, '-m', 'magnitude', '--sparsity', '0.5', '-o', out, '--max-shard-size', '5 parsecs')).toBe(1);
  });
});
