/**
 * Token input for whole models (lib/model/tokens.ts): token-id files at their size boundaries and
 * calibration windows at exactly seqLen tokens.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SparsekitError, Tensor, saveSafetensors } from '../lib/index.js';
import { calibrationWindows, readTokenFile, readTokensOrText } from '../lib/model/tokens.js';

const dir = mkdtempSync(join(tmpdir(), 'sparsekit-tokens-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function codeOf(p: Promise<unknown>): Promise<[string, string]> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(SparsekitError);
    return [(e as SparsekitError).code, (e as Error).message];
  }
  throw new Error('expected an error');
}

function raw(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

describe('readTokenFile', () => {
  it('reads raw little-endian int32 of exactly 4·n bytes; one byte more or less is ERR_FORMAT', async () => {
    const ids = Int32Array.from([0, 1, -1, 0x7fffffff, 31999]);
    const bytes = new Uint8Array(ids.buffer);
    expect(await readTokenFile(raw('ok.bin', bytes))).toEqual({ ids, shape: [5] });
    expect(await readTokenFile(raw('empty.bin', new Uint8Array(0)))).toEqual({ ids: new Int32Array(0), shape: [0] });
    for (const [name, b] of [['short.bin', bytes.subarray(0, 19)], ['long.bin', Uint8Array.from([...bytes, 7])]] as const) {
      const [code, msg] = await codeOf(readTokenFile(raw(name, b)));
      expect(code).toBe('ERR_FORMAT');
      expect(msg).toMatch(/bytes is not a whole number of int32 token ids/);
    }
    expect((await codeOf(readTokenFile(join(dir, 'missing.bin'))))[0]).toBe('ERR_IO');
  });

  it('reads a safetensors int32 tensor: 1-D or 2-D, the one named tokens / input_ids, else the only one', async () => {
    const t = Tensor.from(Int32Array.from({ length: 12 }, (_, i) => i * 3), [3, 4]);
    const one = join(dir, 'one.safetensors');
    await saveSafetensors(one, { anything: t });
    expect(await readTokenFile(one)).toEqual({ ids: t.toTypedArray(), shape: [3, 4] });
    const named = join(dir, 'named.safetensors');
    await saveSafetensors(named, { other: Tensor.from(new Int32Array(2), [2]), input_ids: Tensor.from(Int32Array.from([9, 8, 7]), [3]) });
    expect(await readTokenFile(named)).toEqual({ ids: Int32Array.from([9, 8, 7]), shape: [3] });

    const bad = async (name: string, tensors: Record<string, Tensor>, re: RegExp) => {
      const p = join(dir, name);
      await saveSafetensors(p, tensors);
      const [code, msg] = await codeOf(readTokenFile(p));
      expect([code, msg]).toEqual(['ERR_FORMAT', expect.stringMatching(re)]);
    };
    await bad('two.safetensors', { a: Tensor.from(new Int32Array(2), [2]), b: Tensor.from(new Int32Array(2), [2]) }, /expected one int32 tensor .* found 2/);
    await bad('float.safetensors', { tokens: Tensor.from(new Float32Array(4), [4]) }, /'tokens' must be a 1-D or 2-D int32 tensor/);
    await bad('3d.safetensors', { tokens: Tensor.from(new Int32Array(8), [2, 2, 2]) }, /'tokens' must be a 1-D or 2-D int32 tensor/);
  });

  it('readTokensOrText: token files by extension or kind, text through the folder\'s tokenizer', async () => {
    const p = raw('ids.tokens', new Uint8Array(Int32Array.from([4, 5]).buffer));
    expect((await readTokensOrText(p, dir)).ids).toEqual(Int32Array.from([4, 5]));
    const t = raw('ids.txt', new Uint8Array(Int32Array.from([6]).buffer));
    expect((await readTokensOrText(t, dir, 'tokens')).ids).toEqual(Int32Array.from([6]));
    // As text, the folder needs a tokenizer.json.
    const [code, msg] = await codeOf(readTokensOrText(t, dir));
    expect([code, msg]).toEqual(['ERR_IO', expect.stringMatching(/no tokenizer\.json/)]);
  });
});

describe('calibrationWindows', () => {
  const stream = (n: number) => ({ ids: Int32Array.from({ length: n }, (_, i) => i), shape: [n] });

  it('2-D files: the first `samples` rows cut to seqLen; rows of exactly seqLen are taken whole', () => {
    const file = { ids: Int32Array.from({ length: 3 * 5 }, (_, i) => i), shape: [3, 5] };
    expect(calibrationWindows(file, 2, 4)).toEqual([Int32Array.from([0, 1, 2, 3]), Int32Array.from([5, 6, 7, 8])]);
    expect(calibrationWindows(file, 10, 5)).toEqual([0, 1, 2].map((r) => Int32Array.from({ length: 5 }, (_, i) => 5 * r + i)));
    expect(() => calibrationWindows(file, 1, 6)).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: 'calibration rows have 5 tokens, fewer than seqLen 6' }));
  });

  it('1-D streams: seeded windows at every offset, the last one included; exactly seqLen tokens is one window', () => {
    const s = stream(9);
    const w = calibrationWindows(s, 400, 6, 7);
    expect(w.length).toBe(400);
    const starts = new Set(w.map((x) => x[0]));
    expect([...starts].sort()).toEqual([0, 1, 2, 3]);  // span = 9 - 6 + 1 offsets, each reached
    for (const x of w) expect(x).toEqual(Int32Array.from({ length: 6 }, (_, i) => x[0]! + i));
    expect(calibrationWindows(s, 400, 6, 7)).toEqual(w);  // same seed, same windows
    expect(calibrationWindows(s, 400, 6, 8)).not.toEqual(w);
    expect(calibrationWindows(stream(6), 3, 6)).toEqual(Array.from({ length: 3 }, () => stream(6).ids));
    expect(() => calibrationWindows(stream(5), 1, 6)).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: 'calibration text has 5 tokens, fewer than seqLen 6' }));
  });
});
