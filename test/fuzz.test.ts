// The fuzzer's mutation strategies (scripts/fuzz/mutate.ts) do what docs/formats.md "Fuzzing" says:
// deterministic per seed, each one changes the file where it aims, and the ones aimed past the
// header keep the header readable so the lie reaches the layer it targets. (The fuzz run itself
// is `npm run fuzz`, in CI with ASan; this checks the generator, in a second.)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCorpus, type Seed } from '../scripts/fuzz/corpus.js';
import { STRATEGIES, mutate } from '../scripts/fuzz/mutate.js';
import { Rng, caseSeed } from '../scripts/fuzz/rng.js';

const dir = mkdtempSync(join(tmpdir(), 'sk-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const corpus = buildCorpus(dir);
const CASES = 60;

function header(f: Buffer): { len: number; json: Record<string, { data_offsets?: [number, number] }> | null } {
  const len = Number(f.readBigUInt64LE(0));
  try {
    return { len, json: JSON.parse(f.subarray(8, 8 + len).toString('utf8')) };
  } catch {
    return { len, json: null };
  }
}

function each(strategy: (typeof STRATEGIES)[number], fn: (out: Buffer, seed: Seed, i: number) => void): void {
  const s = STRATEGIES.indexOf(strategy);
  for (let i = 0; i < CASES; i++) {
    const r = new Rng(caseSeed(1, s, i));
    const seed = r.pick(corpus);
    fn(mutate(strategy, r, seed.bytes), seed, i);
  }
}

describe('fuzzer strategies', () => {
  it('the corpus covers every packed format, quantized and SLoRB matrices', () => {
    const names = corpus.map((c) => c.name).join(' ');
    for (const f of ['dense', 'csr', 'bitmap', 'nm', 'tiled-csl', 'int4', 'int8', 'asym', 'slorb', 'slorb-int8']) expect(names).toContain(f);
  });

  it('are deterministic per case seed', () => {
    for (const [si, strategy] of STRATEGIES.entries()) {
      const a = new Rng(caseSeed(7, si, 3)), b = new Rng(caseSeed(7, si, 3));
      const seed = corpus[a.int(corpus.length)]!;
      expect(b.int(corpus.length)).toBe(corpus.indexOf(seed));
      expect(mutate(strategy, a, seed.bytes).equals(mutate(strategy, b, seed.bytes)), strategy).toBe(true);
    }
  });

  it('different cases are different files', () => {
    for (const strategy of ['bitflip', 'header-fields', 'lying-parts'] as const) {
      const seen = new Set<string>();
      each(strategy, (out) => seen.add(out.toString('base64')));
      expect(seen.size, strategy).toBeGreaterThan(CASES * 0.8);
    }
  });

  it('truncate always cuts the file short', () => {
    each('truncate', (out, seed) => expect(out.length).toBeLessThan(seed.bytes.length));
  });

  it('header-length changes the 8-byte prefix only', () => {
    let changed = 0;
    each('header-length', (out, seed) => {
      expect(out.length).toBe(seed.bytes.length);
      expect(out.subarray(8).equals(seed.bytes.subarray(8))).toBe(true);
      if (!out.subarray(0, 8).equals(seed.bytes.subarray(0, 8))) changed++;
    });
    expect(changed).toBeGreaterThan(CASES * 0.8);
  });

  it('header-fields and lying-metadata keep a parseable header and the data bytes, and change the header', () => {
    for (const strategy of ['header-fields', 'lying-metadata'] as const) {
      let changed = 0;
      each(strategy, (out, seed) => {
        const h = header(out), h0 = header(seed.bytes);
        expect(h.json, `${strategy}: the prefix must match the rewritten header`).not.toBeNull();
        expect(out.subarray(8 + h.len).equals(seed.bytes.subarray(8 + h0.len)), strategy).toBe(true);
        if (JSON.stringify(h.json) !== JSON.stringify(h0.json)) changed++;
      });
      expect(changed, strategy).toBeGreaterThan(CASES * 0.8);
    }
  });

  it('lying-parts rewrites bytes inside the matrix part tensors only', () => {
    let changed = 0;
    each('lying-parts', (out, seed) => {
      const { len, json } = header(seed.bytes);
      if (!Object.keys(json!).some((k) => k.startsWith('w.'))) return;  // no matrix: it falls back to bitflip
      expect(out.length).toBe(seed.bytes.length);
      const inParts = new Uint8Array(out.length);
      for (const [name, e] of Object.entries(json!))
        if (name.startsWith('w.') && e.data_offsets) inParts.fill(1, 8 + len + e.data_offsets[0], 8 + len + e.data_offsets[1]);
      let diff = 0;
      for (let i = 0; i < out.length; i++)
        if (out[i] !== seed.bytes[i]) {
          diff++;
          expect(inParts[i], `byte ${i} of ${seed.name} is outside the parts`).toBe(1);
        }
      if (diff) changed++;
    });
    expect(changed).toBeGreaterThan(CASES * 0.8);
  });
});
