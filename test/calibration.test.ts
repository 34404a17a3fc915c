import { describe, expect, it } from 'vitest';
import { CalibrationStats, Tensor } from '../lib/index.js';
import { valuesOf } from './reference.js';
import { hessianRef, randomMatrix, sumsqRef } from './solver-reference.js';

function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let scale = 0, err = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
  return err / scale;
}

describe('CalibrationStats', () => {
  for (const dtype of ['float32', 'float16', 'bfloat16'] as const) {
    it(`accumulates Σx² and H = (2/n)Σxxᵀ in batches (${dtype})`, () => {
      const K = 37;
      const sizes = [300, 7, 1, 260];
      const stats = new CalibrationStats(K, { hessian: true });
      const all: number[] = [];
      sizes.forEach((n, b) => {
        const x = Tensor.from(randomMatrix(n, K, 100 + b), [n, K]).to(dtype);
        stats.add(x);
        all.push(...valuesOf(x));
      });
      const n = sizes.reduce((a, b) => a + b);
      expect(stats.tokens).toBe(n);
      expect(stats.batches).toBe(sizes.length);
      // float32 products over <= 256 tokens, float64 totals: a few float32 ulps at most.
      expect(maxRelErr(stats.sumOfSquares(), sumsqRef(all, n, K))).toBeLessThan(1e-6);
      const h = stats.hessian();
      expect(maxRelErr(h, hessianRef(all, n, K))).toBeLessThan(2e-6);
      for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) expect(h[i * K + j]).toBe(h[j * K + i]);
      stats.dispose();
    });
  }

  it('merge equals accumulating everything in one object; addAsync matches add', async () => {
    const K = 24;
    const a = new CalibrationStats(K, { hessian: true }), b = new CalibrationStats(K, { hessian: true });
    const c = new CalibrationStats(K, { hessian: true });
    const x1 = Tensor.from(randomMatrix(50, K, 1), [50, K]), x2 = Tensor.zeros([0, K]);
    const x3 = Tensor.from(randomMatrix(10, K, 2), [2, 5, K]);  // leading dims flatten to 10 tokens
    a.add(x1);
    await b.addAsync(x3);
    b.add(x2);
    a.merge(b);
    c.add(x1).add(x3);
    expect(a.tokens).toBe(60);
    expect(maxRelErr(a.hessian(), c.hessian())).toBeLessThan(1e-12);
    expect(maxRelErr(a.channelNorms(), c.channelNorms())).toBeLessThan(1e-12);
    const plain = new CalibrationStats(K);
    expect(() => a.merge(plain)).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }));
    expect(() => a.merge(new CalibrationStats(K + 1))).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => plain.hessian()).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }));
    plain.merge(a);  // a Hessian-less object can take another's sums of squares
    expect(plain.tokens).toBe(60);
  });

  it('rejects a NaN/Inf batch with ERR_NUMERIC naming the batch, and keeps the previous sums', () => {
    const K = 16;
    const stats = new CalibrationStats(K, { hessian: true });
    stats.add(Tensor.from(randomMatrix(8, K, 3), [8, K]));
    const before = stats.hessian();
    const bad = randomMatrix(8, K, 4);
    bad[5 * K + 3] = NaN;
    expect(() => stats.add(Tensor.from(bad, [8, K]))).toThrow(/batch 1 .*NaN.*\[5, 3\]/);
    expect(() => stats.add(Tensor.from(bad, [8, K]))).toThrow(expect.objectContaining({ code: 'ERR_NUMERIC' }));
    bad[5 * K + 3] = Infinity;
    expect(() => stats.add(Tensor.from(bad, [8, K]).to('bfloat16'))).toThrow(expect.objectContaining({ code: 'ERR_NUMERIC' }));
    expect(stats.tokens).toBe(8);
    expect(stats.hessian()).toEqual(before);
  });

  it('checks its arguments and disposal', async () => {
    expect(() => new CalibrationStats(0)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => new CalibrationStats(2.5)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    const s = new CalibrationStats(8);
    expect(() => s.add(Tensor.zeros([4, 9]))).toThrow(/expected \[tokens, 8\].*\[4, 9\]/);
    expect(() => s.add(Tensor.zeros([4, 8], { dtype: 'int32' }))).toThrow(expect.objectContaining({ code: 'ERR_DTYPE' }));
    s.dispose();
    s.dispose();
    expect(s.disposed).toBe(true);
    expect(() => s.add(Tensor.zeros([4, 8]))).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
    await expect(s.addAsync(Tensor.zeros([4, 8]))).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
  });
});
