// `sparsekit shrink` on the tiny Llama, in-process: ratios, global, target shape, masks (with a
// shape check), --json schema, the --out rules and exit codes.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LlamaModel } from '../lib/index.js';
import { cli } from './cli-helper.js';
import { TINY } from './model-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'sparsekit-shrink-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CALIB = ['--calib', join(TINY, 'calib.tokens.safetensors'), '--samples', '8', '--seq-len', '128'];

describe('sparsekit shrink', () => {
  it('removes heads and MLP channels by FLAP scores, with compensation, and writes a loadable folder', async () => {
    const out = join(dir, 'flap');
    const masks = join(dir, 'masks.safetensors');
    const r = await cli('shrink', TINY, ...CALIB, '--heads', '0.5', '--mlp', '0.3', '--score', 'flap', '--out', out, '--save-masks', masks, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ command: 'shrink', version: 1, score: 'flap', biasCompensation: true, blocksRemoved: 0, attentionGroupsRemoved: 4, mlpChannelsRemoved: 4 * 115 });
    expect(j.shapes).toEqual([0, 1, 2, 3].map(() => ({ heads: 2, kvHeads: 1, intermediate: 269 })));
    // Per layer: one kv group (24576) and 115 channels (384 each) go; the biases come (q 64, k/v 32, o 128, gate/up 269, down 128).
    expect(j.paramsBefore - j.paramsAfter).toBe(4 * (24576 + 115 * 384 - (64 + 32 + 32 + 128 + 269 + 269 + 128)));
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({ num_attention_heads: 2, num_key_value_heads: 1, intermediate_size: 269, attention_bias: true, mlp_bias: true });
    using m = await LlamaModel.load(out);
    expect(m.parameterCount()).toBe(j.paramsAfter);

    // The same structures again from the saved masks, checked against a shape file.
    const shape = join(dir, 'shape.json');
    writeFileSync(shape, JSON.stringify({ num_hidden_layers: 4, num_attention_heads: 2, intermediate_size: 269 }));
    const again = await cli('shrink', TINY, '--masks', masks, '--keep-shape', shape, '--out', join(dir, 'masks'));
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/shrink: masks: removed 0 blocks, 4 attention groups, 460 MLP channels/);
    writeFileSync(shape, JSON.stringify({ layers: 4, heads: 2, intermediate: 300 }));
    const wrong = await cli('shrink', TINY, '--masks', masks, '--keep-shape', shape, '--out', join(dir, 'masks2'));
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/--keep-shape asks intermediate 300/);
  });

  it('plans by a target shape, a global ratio, and removes whole blocks', async () => {
    const shape = join(dir, 'target.json');
    writeFileSync(shape, JSON.stringify({ layers: 3, heads: 2, kvHeads: 1, intermediate: 192 }));
    const t = await cli('shrink', TINY, ...CALIB, '--score', 'wanda-sp', '--keep-shape', shape, '--out', join(dir, 'target'), '--json');
    expect(t.code).toBe(0);
    expect(JSON.parse(t.stdout)).toMatchObject({ blocksRemoved: 1, biasCompensation: false, shapes: [0, 1, 2].map(() => ({ heads: 2, kvHeads: 1, intermediate: 192 })) });
    const g = await cli('shrink', TINY, ...CALIB, '--global', '0.3', '--no-bias-compensation', '--out', join(dir, 'global'));
    expect(g.code).toBe(0);
    expect(g.stdout).toMatch(/shrink: flap: removed/);
    const b = await cli('shrink', TINY, '--score', 'magnitude', '--blocks', '0.25', ...CALIB, '--out', join(dir, 'blocks'), '--json');
    expect(b.code).toBe(0);
    expect(JSON.parse(b.stdout).blocksRemoved).toBe(1);
  });

  it('slices the hidden size with --hidden, alone or after a plan', async () => {
    const a = await cli('shrink', TINY, ...CALIB, '--hidden', '96', '--out', join(dir, 'hidden'), '--json');
    expect(a.code).toBe(0);
    const j = JSON.parse(a.stdout);
    expect(j).toMatchObject({ score: 'none', biasCompensation: false, hidden: { before: 128, after: 96 } });
    expect(j.hidden.energyKept).toBeGreaterThan(0.9);
    expect(JSON.parse(readFileSync(join(dir, 'hidden', 'config.json'), 'utf8')).hidden_size).toBe(96);
    const b = await cli('shrink', TINY, ...CALIB, '--heads', '0.5', '--hidden', '112', '--out', join(dir, 'both'));
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/hidden: 128 -> 112 dims/);
    using m = await LlamaModel.load(join(dir, 'both'));
    expect(m.config).toMatchObject({ hiddenSize: 112, numHeads: 2, numKvHeads: 1 });
    expect((await cli('shrink', TINY, '--hidden', '96', '--out', join(dir, 'x'))).code).toBe(2);
    // A target shape with a smaller hidden size slices after the plan (Sheared-LLaMA's four targets).
    const shape = join(dir, 'sheared.json');
    writeFileSync(shape, JSON.stringify({ hidden: 100, layers: 3, heads: 2, intermediate: 256 }));
    const c = await cli('shrink', TINY, ...CALIB, '--score', 'wanda-sp', '--keep-shape', shape, '--out', join(dir, 'sheared'), '--json');
    expect(c.code).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({ blocksRemoved: 1, hidden: { after: 100 } });
    using s = await LlamaModel.load(join(dir, 'sheared'));
    expect(s.config).toMatchObject({ hiddenSize: 100, numLayers: 3, numHeads: 2, intermediateSize: 256 });
  });

  it('never writes into a non-empty --out without --force, and refuses bad plans with the right exit code', async () => {
    const out = join(dir, 'busy');
    mkdirSync(out);
    writeFileSync(join(out, 'keep.txt'), 'mine');
    const r = await cli('shrink', TINY, '--score', 'magnitude', '--heads', '0.5', '--out', out);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/exists and is not empty/);
    expect(r.stderr).toMatch(/--force/);
    expect((await cli('shrink', TINY, '--score', 'magnitude', '--heads', '0.5', '--out', out, '--force')).code).toBe(0);
    expect(readFileSync(join(out, 'keep.txt'), 'utf8')).toBe('mine');
    expect((await cli('shrink', TINY, '--score', 'magnitude', '--heads', '0.5', '--out', TINY, '--force')).code).toBe(1);

    expect((await cli('shrink', TINY, '--heads', '1', '--out', join(dir, 'x'))).code).toBe(1);
    expect((await cli('shrink', TINY, '--heads', '0.2', '--global', '0.2', '--out', join(dir, 'x'))).code).toBe(1);
    expect((await cli('shrink', TINY, '--score', 'nope', '--heads', '0.2', '--out', join(dir, 'x'))).code).toBe(1);
    const noCalib = await cli('shrink', TINY, '--heads', '0.2', '--out', join(dir, 'x'));
    expect(noCalib.code).toBe(2);
    expect(noCalib.stderr).toMatch(/needs calibration input/);
    expect((await cli('shrink', TINY, '--score', 'taylor', '--heads', '0.2', '--out', join(dir, 'x'))).code).toBe(2);
    const shape = join(dir, 'big.json');
    writeFileSync(shape, JSON.stringify({ layers: 4, heads: 8, intermediate: 100 }));
    const big = await cli('shrink', TINY, '--score', 'magnitude', '--keep-shape', shape, '--out', join(dir, 'x'), '--json');
    expect(big.code).toBe(2);
    expect(JSON.parse(big.stdout).error.message).toMatch(/^targetShape\.heads: 8 is larger than the model's 4 query heads/);
  });
});
