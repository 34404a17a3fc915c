import { describe, expect, it } from 'vitest';
import { CalibrationStats, Tensor, prune } from '../lib/index.js';
import { SparsekitError } from '../lib/index.js';
import { heavyTailed, hessianRef, llmActivations, outputSquared, randomMatrix, reconstructionError, sparsegptRef, sumsqRef, type Pat } from './solver-reference.js';
import { alpsRef, dsnotRef, riaRef } from './solver-reference-beyond.js';
import { dsnotDefaultCycles } from '../lib/prune-beyond.js';
import { native } from '../lib/native.js';

function statsFor(x: Float32Array, tokens: number, k: number, hessian = true): CalibrationStats {
  return new CalibrationStats(k, { hessian }).add(Tensor.from(x, [tokens, k]));
}

async function rejected(p: Promise<unknown>): Promise<SparsekitError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(SparsekitError);
    return e as SparsekitError;
  }
  throw new Error('expected a rejection');
}

function mismatches(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < want.length; i++) n += got[i] !== want[i] ? 1 : 0;
  return n;
}

function sumsOf(x: Float32Array, tokens: number, k: number): Float64Array {
  const s = new Float64Array(k);
  for (let t = 0; t < tokens; t++) for (let j = 0; j < k; j++) s[j] += x[t * k + j]!;
  return s;
}

/** LLM-like layer: correlated inputs with outlier channels (nonzero mean there), heavy-tailed weights. */
function layer(rows: number, cols: number, tokens: number, seed: number) {
  const x = llmActivations(tokens, cols, seed, [3, Math.floor(cols / 2) + 1]);
  const w = heavyTailed(rows, cols, seed + 1);
  return { x, w, t: Tensor.from(w, [rows, cols]), stats: statsFor(x, tokens, cols) };
}

const label = (p: Pat) => ('m' in p ? `${p.n}:${p.m}` : `${p.sparsity * 100}%`);

describe('CalibrationStats.sums', () => {
  it('is Σx per channel in float64, added up by merge (DSnoT reads the mean from it)', () => {
    const x = randomMatrix(50, 24, 3);
    const a = statsFor(x.subarray(0, 30 * 24), 30, 24, false), b = statsFor(x.subarray(30 * 24), 20, 24, false);
    const want = sumsOf(x, 50, 24);
    a.merge(b);
    const got = a.sums();
    for (let j = 0; j < 24; j++) expect(got[j]).toBeCloseTo(want[j]!, 10);
  });
});

describe('prune.ria', () => {
  for (const [rows, cols] of [[24, 48], [13, 32]] as [number, number][])
    for (const pat of [{ sparsity: 0.5 }, { sparsity: 0.7 }, { n: 2, m: 4 }, { n: 4, m: 8 }] as Pat[])
      for (const permute of 'm' in pat ? [false, true] : [false])
        it(`${rows}x${cols} ${label(pat)}${permute ? ' permuted' : ''}: same mask (and permutation) as the float64 reference`, async () => {
          const { x, w, t, stats } = layer(rows, cols, 64, rows + cols);
          const r = await prune.ria(t, stats, pat, { permute });
          const ref = riaRef(w, rows, cols, sumsqRef(x, 64, cols), pat, 0.5, permute);
          const mask = r.mask.toTypedArray() as Uint8Array;
          expect(mismatches(mask, ref.mask)).toBe(0);
          if (permute) expect([...r.permutation!]).toEqual([...ref.perm]);
          else expect(r.permutation).toBeUndefined();
          const got = r.weight.toTypedArray() as Float32Array;
          for (let i = 0; i < rows; i++)
            for (let c = 0; c < cols; c++) expect(got[i * cols + c]).toBe(mask[i * cols + c] ? w[i * cols + ref.perm[c]!] : 0);
          if ('m' in pat) {
            expect(r.report.retained!.after).toBeCloseTo(ref.kept, 9);
            if (permute) expect(r.report.retained!.after).toBeGreaterThanOrEqual(r.report.retained!.before * 0.999);
          }
        });

  for (const [pat, permute] of [[{ sparsity: 0.5 }, false], [{ sparsity: 0.7 }, false], [{ n: 2, m: 4 }, true]] as [Pat, boolean][])
    it(`${label(pat)}${permute ? ' permuted' : ''} reconstruct: RIA's mask, SparseGPT's update on it, as the float64 references`, async () => {
      const [rows, cols, T] = [20, 64, 128];
      const { x, w, t, stats } = layer(rows, cols, T, 90);
      const r = await prune.ria(t, stats, pat, { permute, reconstruct: true });
      const ref = riaRef(w, rows, cols, sumsqRef(x, T, cols), pat, 0.5, permute);
      const mask = r.mask.toTypedArray() as Uint8Array;
      expect(mismatches(mask, ref.mask)).toBe(0);
      // The mask in the inputs' order, SparseGPT's sweep there, the columns back into perm order.
      const keep = new Uint8Array(rows * cols);
      for (let i = 0; i < rows; i++) for (let c = 0; c < cols; c++) keep[i * cols + ref.perm[c]!] = ref.mask[i * cols + c]!;
      const sg = sparsegptRef(w, rows, cols, stats.hessian(), pat, 128, 0.01, 0, undefined, keep);
      let maxAbs = 0;
      for (const v of sg.weight) maxAbs = Math.max(maxAbs, Math.abs(v));
      const got = r.weight.toTypedArray() as Float32Array;
      for (let i = 0; i < rows; i++)
        for (let c = 0; c < cols; c++) expect(Math.abs(got[i * cols + c]! - sg.weight[i * cols + ref.perm[c]!]!)).toBeLessThanOrEqual(2e-5 * maxAbs);
      // Lower output error than RIA alone on the same mask.
      const plain = await prune.ria(t, stats, pat, { permute });
      const back = (v: Float32Array) => {
        const o = new Float32Array(v.length);
        for (let i = 0; i < rows; i++) for (let c = 0; c < cols; c++) o[i * cols + ref.perm[c]!] = v[i * cols + c]!;
        return o;
      };
      const e = (v: Float32Array) => reconstructionError(x, T, cols, w, back(v), rows);
      expect(e(got)).toBeLessThan(e(plain.weight.toTypedArray() as Float32Array));
      const nohess = statsFor(x, T, cols, false);
      expect((await rejected(prune.ria(t, nohess, pat, { reconstruct: true }))).code).toBe('ERR_ARGUMENT');
    });

  for (const pat of [{ n: 2, m: 4 }, { n: 1, m: 4 }, { n: 4, m: 8 }] as { n: number; m: number }[])
    it(`${label(pat)} permute + refine: the assignment pass matches an exhaustive search and keeps at least the heuristic's score`, async () => {
      const [rows, cols] = [12, pat.m * 7];
      const { x, w, t, stats } = layer(rows, cols, 64, 70 + pat.n);
      const r = await prune.ria(t, stats, pat, { permute: true, refine: true });
      const ref = riaRef(w, rows, cols, sumsqRef(x, 64, cols), pat, 0.5, true, true);
      expect([...r.permutation!]).toEqual([...ref.perm]);
      expect(mismatches(r.mask.toTypedArray() as Uint8Array, ref.mask)).toBe(0);
      const heuristic = await prune.ria(t, stats, pat, { permute: true });
      expect(r.report.retained!.after).toBeGreaterThanOrEqual(heuristic.report.retained!.after * (1 - 1e-12));
    });

  it('the exponent a changes the ranking; permute needs N:M; a must be >= 0', async () => {
    const { x, w, t, stats } = layer(16, 32, 64, 5);
    const r = await prune.ria(t, stats, { sparsity: 0.5 }, { a: 2 });
    expect(mismatches(r.mask.toTypedArray() as Uint8Array, riaRef(w, 16, 32, sumsqRef(x, 64, 32), { sparsity: 0.5 }, 2).mask)).toBe(0);
    expect((await rejected(prune.ria(t, stats, { sparsity: 0.5 }, { permute: true }))).code).toBe('ERR_ARGUMENT');
    expect((await rejected(prune.ria(t, stats, { sparsity: 0.5 }, { a: -1 }))).code).toBe('ERR_ARGUMENT');
    expect((await rejected(prune.ria(t, stats, { n: 2, m: 4 }, { refine: true }))).code).toBe('ERR_ARGUMENT');
  });

  it('counts every step it announces (scores, each refined channel, masks, SparseGPT); abort rejects with ERR_ABORTED', async () => {
    const [rows, cols] = [12, 96];
    const { t, w, stats } = layer(rows, cols, 64, 21);
    const base = { sparsity: 0.5, n: 2, m: 4, a: 0.5, damping: 0.01 };
    const sgSteps = Math.ceil(cols / 128) + 2;
    for (const [o, steps] of [
      [{ permute: false, refine: false, reconstruct: false }, 2],
      [{ permute: true, refine: true, reconstruct: false }, 2 + cols],
      [{ permute: false, refine: false, reconstruct: true }, 2 + sgSteps],
      [{ permute: true, refine: true, reconstruct: true }, 2 + cols + sgSteps],
    ] as const) {
      const control = new Int32Array(3);
      await native.pruneRia(w, 'float32', rows, cols, stats.handle(), { ...base, ...o }, control);
      expect([control[1], control[2]], JSON.stringify(o)).toEqual([steps, steps]);
      // An abort seen at the first check: after the scores, before any refinement or sweep.
      const stop = Int32Array.from([1, 0, 0]);
      const e = await native.pruneRia(w, 'float32', rows, cols, stats.handle(), { ...base, ...o }, stop).catch((err: unknown) => err);
      expect(e, JSON.stringify(o)).toMatchObject({ code: 'ERR_ABORTED' });
      expect(stop[1]).toBe(1);
    }
    const seen: number[] = [];
    await prune.ria(t, stats, { n: 2, m: 4 }, { permute: true, refine: true, reconstruct: true, onProgress: (f) => seen.push(f) });
    expect(seen.at(-1)).toBe(1);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]!);
    const ac = new AbortController();
    ac.abort('stop');
    expect((await rejected(prune.ria(t, stats, { n: 2, m: 4 }, { reconstruct: true, signal: ac.signal }))).code).toBe('ERR_ABORTED');
    expect((await rejected(prune.ria(t, stats, { n: 2, m: 4 }, { onProgress: 3 as never }))).code).toBe('ERR_ARGUMENT');
  });
});

describe('prune.dsnot', () => {
  for (const initial of ['wanda', 'sparsegpt-saliency'] as const)
    for (const pat of [{ sparsity: 0.5 }, { sparsity: 0.7 }, { n: 2, m: 4 }] as Pat[])
      for (const sameSign of 'm' in pat ? [false] : [false, true])
        it(`${initial} ${label(pat)}${sameSign ? ' sameSign' : ''}: same mask and swap count as the float64 reference; weights untouched`, async () => {
          const [rows, cols, T] = [20, 64, 128];
          const { x, w, t, stats } = layer(rows, cols, T, 40);
          const o = { maxCycles: 20, updateThreshold: 1e-4, powOfVar: 1, sameSign };
          const r = await prune.dsnot(t, stats, pat, { initial, ...o });
          const ref = dsnotRef(w, rows, cols, sumsqRef(x, T, cols), sumsOf(x, T, cols), T, pat,
            { initial, maxCycles: 20, threshold: 1e-4, powOfVar: 1, sameSign, hessian: hessianRef(x, T, cols) });
          const mask = r.mask.toTypedArray() as Uint8Array;
          expect(mismatches(mask, ref.mask)).toBe(0);
          expect(r.report.swaps).toBe(ref.swaps);
          expect(r.report.swaps).toBeGreaterThan(0);
          const got = r.weight.toTypedArray() as Float32Array;
          for (let i = 0; i < w.length; i++) expect(got[i]).toBe(mask[i] ? w[i] : 0);
          const per = 'm' in pat ? cols / 2 : Math.floor(cols * pat.sparsity);
          for (let i = 0; i < rows; i++) expect(mask.subarray(i * cols, (i + 1) * cols).reduce((s, v) => s + v, 0)).toBe(cols - per);
        });

  it('maxCycles 0 is the initial Wanda mask; progress ends at 1; abort rejects with ERR_ABORTED', async () => {
    const { t, stats } = layer(32, 64, 128, 7);
    const r0 = await prune.dsnot(t, stats, { sparsity: 0.5 }, { initial: 'wanda', maxCycles: 0 });
    expect(mismatches(r0.mask.toTypedArray() as Uint8Array, prune.wanda(t, stats, { sparsity: 0.5 }).mask.toTypedArray() as Uint8Array)).toBe(0);
    expect(r0.report.swaps).toBe(0);
    const seen: number[] = [];
    await prune.dsnot(t, stats, { n: 2, m: 4 }, { onProgress: (f) => seen.push(f) });  // the SparseGPT start, then the swaps
    expect(seen.at(-1)).toBe(1);
    const ac = new AbortController();
    ac.abort('stop');
    expect((await rejected(prune.dsnot(t, stats, { sparsity: 0.5 }, { signal: ac.signal }))).code).toBe('ERR_ABORTED');
    const nohess = statsFor(randomMatrix(16, 64, 1), 16, 64, false);
    for (const o of [{ initial: 'sparsegpt' }, { initial: 'sparsegpt-saliency' }, { initial: 'wanda', checkError: true }] as const)
      expect((await rejected(prune.dsnot(t, nohess, { sparsity: 0.5 }, o))).code).toBe('ERR_ARGUMENT');
    expect((await rejected(prune.dsnot(t, stats, { sparsity: 0.5 }, { initial: 'sgpt' as never }))).code).toBe('ERR_ARGUMENT');
    expect((await rejected(prune.dsnot(t, stats, { sparsity: 0.5 }, { checkError: 1 as never }))).code).toBe('ERR_ARGUMENT');
  });

  for (const pat of [{ sparsity: 0.5 }, { sparsity: 0.7 }, { n: 2, m: 4 }] as Pat[])
    for (const checkError of [true, false])
      it(`SparseGPT start ${label(pat)}${checkError ? '' : ' without checkError'}: mask, weights and swaps agree with the float64 reference`, async () => {
        const [rows, cols, T] = [24, 64, 160];
        const { x, w, t, stats } = layer(rows, cols, T, 60);
        const H = hessianRef(x, T, cols);
        const start = sparsegptRef(w, rows, cols, stats.hessian(), pat, 128, 0.01);
        const o = { maxCycles: 20, updateThreshold: 1e-4, powOfVar: 1, sameSign: false };
        const r = await prune.dsnot(t, stats, pat, { ...o, checkError });  // 'sparsegpt' is the default with a Hessian
        const ref = dsnotRef(w, rows, cols, sumsqRef(x, T, cols), sumsOf(x, T, cols), T, pat,
          { initial: 'sparsegpt', maxCycles: 20, threshold: 1e-4, powOfVar: 1, sameSign: false, hessian: H, start, checkError });
        const mask = r.mask.toTypedArray() as Uint8Array;
        expect(mismatches(mask, ref.mask)).toBe(0);
        expect(r.report.swaps).toBe(ref.swaps);
        expect(r.report.swaps).toBeGreaterThan(0);
        let maxAbs = 0;
        for (const v of ref.weight) maxAbs = Math.max(maxAbs, Math.abs(v));
        const got = r.weight.toTypedArray() as Float32Array;
        for (let i = 0; i < w.length; i++) expect(Math.abs(got[i]! - ref.weight[i]!)).toBeLessThanOrEqual(2e-5 * maxAbs);
        const sg = await prune.sparsegpt(t, stats, pat);
        const e = (v: Float32Array) => reconstructionError(x, T, cols, w, v, rows);
        if (checkError) {
          // Every accepted swap lowers the exact error: below SparseGPT's, and report.loss is it.
          expect(e(got)).toBeLessThan(e(sg.weight.toTypedArray() as Float32Array));
          const d = new Float64Array(w.length).map((_, i) => w[i]! - got[i]!);
          const exact = outputSquared(x, T, cols, d, rows) / T;
          expect(Math.abs(r.report.loss - exact)).toBeLessThan(1e-3 * exact);
        }
      });

  it('default maxCycles scales with the row width: 50 at 4096 and above, the same share below', () => {
    expect([64, 128, 384, 2048, 4096, 11008].map(dsnotDefaultCycles)).toEqual([1, 2, 5, 25, 50, 50]);
  });
});

describe('prune.alps', () => {
  for (const pat of [{ sparsity: 0.6 }, { n: 2, m: 4 }] as Pat[])
    it(`${label(pat)}: mask and weights agree with the float64 reference (ADMM + ρ schedule + PCG)`, async () => {
      const [rows, cols, T] = [12, 32, 96];
      const { x, w, t, stats } = layer(rows, cols, T, 60);
      const xtx = hessianRef(x, T, cols).map((v) => (v * T) / 2);
      const r = await prune.alps(t, stats, pat, { maxIter: 60 });
      const ref = alpsRef(w, rows, cols, xtx, pat, { maxIter: 60 });
      const mask = r.mask.toTypedArray() as Uint8Array;
      expect(mismatches(mask, ref.mask)).toBe(0);
      expect(r.report.iterations).toBe(ref.iterations);
      const got = r.weight.toTypedArray() as Float32Array;
      let scale = 0;
      for (const v of ref.weight) scale = Math.max(scale, Math.abs(v));
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - ref.weight[i]!)).toBeLessThan(2e-3 * scale);
      // The reported loss is the exact ‖XΔWᵀ‖²/tokens.
      const e = reconstructionError(x, T, cols, w, got, rows);
      const out2 = outputSquared(x, T, cols, w, rows);
      expect(r.report.loss / ((e * e * out2) / T)).toBeCloseTo(1, 3);
    });

  it('progress ends at 1; abort rejects; stats without a Hessian are refused', async () => {
    const { t, stats } = layer(16, 32, 64, 9);
    const seen: number[] = [];
    await prune.alps(t, stats, { sparsity: 0.5 }, { maxIter: 9, onProgress: (f) => seen.push(f) });
    expect(seen.at(-1)).toBe(1);
    const ac = new AbortController();
    ac.abort('stop');
    expect((await rejected(prune.alps(t, stats, { sparsity: 0.5 }, { signal: ac.signal }))).code).toBe('ERR_ABORTED');
    expect((await rejected(prune.alps(t, statsFor(randomMatrix(8, 32, 2), 8, 32, false), { sparsity: 0.5 }))).code).toBe('ERR_ARGUMENT');
    expect((await rejected(prune.alps(t, stats, { sparsity: 0.5 }, { rho: 0 }))).code).toBe('ERR_ARGUMENT');
  });
});

describe('quality on LLM-like data (outlier input channels)', () => {
  const [rows, cols, T] = [64, 128, 512];
  const { x, w, t, stats } = layer(rows, cols, T, 90);
  const err = (r: { weight: Tensor }) => reconstructionError(x, T, cols, w, r.weight.toTypedArray() as Float32Array, rows);
  for (const pat of [{ n: 2, m: 4 }, { sparsity: 0.7 }] as Pat[])
    it(`${label(pat)}: ALPS below SparseGPT; DSnoT shrinks the expected error |Σ pruned w·E[x]| it targets`, async () => {
      const sg = err(await prune.sparsegpt(t, stats, pat, { blockSize: 64 }));
      const al = err(await prune.alps(t, stats, pat));
      expect(al).toBeLessThan(sg);
      const mean = sumsOf(x, T, cols).map((v) => v / T);
      const expected = (mask: Uint8Array) => {
        let s = 0;
        for (let r = 0; r < rows; r++) {
          let e = 0;
          for (let c = 0; c < cols; c++) if (!mask[r * cols + c]) e += w[r * cols + c]! * mean[c]!;
          s += Math.abs(e);
        }
        return s;
      };
      const before = expected(prune.wanda(t, stats, pat).mask.toTypedArray() as Uint8Array);
      const after = expected((await prune.dsnot(t, stats, pat, { maxCycles: 5 })).mask.toTypedArray() as Uint8Array);
      expect(after).toBeLessThan(before);
    });
});
