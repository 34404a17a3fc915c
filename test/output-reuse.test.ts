// options.out: linear / spmm write into a caller's tensor and return it. The result must be the one
// a fresh output gets, bit for bit (same kernel), every element overwritten; an out of the wrong
// shape or dtype, or sharing memory with what the kernel reads, is a typed error naming options.out.
import { describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, linear, slorb, spmm, type FloatDType } from '../lib/index.js';
import { errorOf } from './errors-helper.js';
import { rng } from './reference.js';

const bits = (t: Tensor) => Array.from(new Uint8Array(t.toTypedArray().buffer, t.toTypedArray().byteOffset, t.toTypedArray().byteLength));
const halfMask = (n: number, seed: number) => { const r = rng(seed); return Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0)); };
const nanFilled = (shape: number[], dtype: FloatDType) => Tensor.from(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(NaN), shape).to(dtype);

describe('options.out', () => {
  const [M, K] = [37, 29];
  const w = Tensor.randn([M, K], { seed: 1 });
  const weights = {
    dense: w,
    csr: SparseMatrix.fromDense(w, { format: 'csr', mask: halfMask(M * K, 2) }),
    bitmap: SparseMatrix.fromDense(w.to('bfloat16'), { format: 'bitmap', mask: halfMask(M * K, 3) }),
    nm: SparseMatrix.fromDense(w.to('bfloat16'), { format: 'nm', n: 2, m: 4, prune: 'magnitude' }),
  };

  it('linear.sync writes the fresh result into out and returns out, for every N, out dtype and weight', () => {
    for (const [name, a] of Object.entries(weights))
      for (const N of [1, 3, 16])
        for (const outDtype of ['float32', 'bfloat16', 'float16'] as FloatDType[]) {
          const x = Tensor.randn([N, K], { seed: N });
          const bias = Tensor.randn([M], { seed: 7 });
          const fresh = linear.sync(x, a, bias, { outDtype });
          const out = nanFilled([N, M], outDtype);
          expect(linear.sync(x, a, bias, { out }), `${name} N=${N} ${outDtype}`).toBe(out);
          expect(bits(out), `${name} N=${N} ${outDtype}`).toEqual(bits(fresh));
        }
  });

  it('out alone sets the output dtype; outDtype may repeat it', () => {
    const x = Tensor.randn([2, K], { seed: 3 });
    const out = Tensor.zeros([2, M]).to('bfloat16');
    expect(linear.sync(x, weights.csr, null, { out, outDtype: 'bfloat16' }).dtype).toBe('bfloat16');
    expect(bits(out)).toEqual(bits(linear.sync(x, weights.csr, null, { outDtype: 'bfloat16' })));
  });

  it('async linear and spmm, and spmm.sync for [K, N] and [K] operands', async () => {
    const x = Tensor.randn([4, K], { seed: 4 });
    const out = nanFilled([4, M], 'float32');
    expect(await linear(x, weights.bitmap, null, { out })).toBe(out);
    expect(bits(out)).toEqual(bits(linear.sync(x, weights.bitmap)));
    const b = Tensor.randn([K, 5], { seed: 5 }), b1 = Tensor.randn([K], { seed: 6 });
    const o2 = nanFilled([M, 5], 'float32'), o1 = nanFilled([M], 'bfloat16');
    expect(await spmm(weights.nm, b, { out: o2 })).toBe(o2);
    expect(bits(o2)).toEqual(bits(spmm.sync(weights.nm, b)));
    expect(spmm.sync(weights.nm, b1, { out: o1 })).toBe(o1);
    expect(bits(o1)).toEqual(bits(spmm.sync(weights.nm, b1, { outDtype: 'bfloat16' })));
  });

  it('a weight with an SLoRB term, float32 and bfloat16 out', () => {
    const keep = Uint8Array.from(weights.csr.toDense().toFloat32Array(), (v) => (v !== 0 ? 1 : 0));
    const S = slorb.init(w, keep, { groupSize: 1 });
    const boosted = SparseMatrix.fromDense(w, { format: 'csr', mask: keep, slorb: { scales: S, groupSize: 1 } });
    for (const N of [1, 3])
      for (const outDtype of ['float32', 'bfloat16'] as FloatDType[]) {
        const x = Tensor.randn([N, K], { seed: 10 + N });
        const out = nanFilled([N, M], outDtype);
        expect(linear.sync(x, boosted, null, { out })).toBe(out);
        expect(bits(out), `N=${N} ${outDtype}`).toEqual(bits(linear.sync(x, boosted, null, { outDtype })));
      }
  });

  it('SLoRB with a 16-bit output (a float32 base underneath), calls of several sizes, sync and async', async () => {
    const keep = halfMask(M * K, 20);
    const S = slorb.init(w, keep, { groupSize: 1 });
    const boosted = SparseMatrix.fromDense(w, { format: 'bitmap', mask: keep, slorb: { scales: S, groupSize: 1 } });
    const want = (x: Tensor) => bits(linear.sync(x, boosted, null, { outDtype: 'float32' }).to('bfloat16'));
    for (const N of [5, 1, 3, 8, 2]) {
      const x = Tensor.randn([N, K], { seed: 30 + N });
      expect(bits(linear.sync(x, boosted, null, { outDtype: 'bfloat16' })), `N=${N}`).toEqual(want(x));
    }
    const xs = [4, 1, 6, 2, 3, 5].map((N) => Tensor.randn([N, K], { seed: 40 + N }));
    const ys = await Promise.all(xs.map((x) => linear(x, boosted, null, { outDtype: 'bfloat16' })));
    ys.forEach((y, i) => expect(bits(y), `async ${i}`).toEqual(want(xs[i]!)));
  });

  it('rejects a wrong shape or dtype, a non-tensor and a disposed tensor', () => {
    const x = Tensor.randn([2, K], { seed: 8 });
    for (const shape of [[2, M - 1], [2, M + 1], [M], [1, 2, M], [3, M]]) {
      const e = errorOf(() => linear.sync(x, weights.csr, null, { out: Tensor.zeros(shape) }));
      expect([e.code, e.message.startsWith('options.out')]).toEqual(['ERR_SHAPE', true]);
    }
    expect(linear.sync(x, weights.csr, null, { out: Tensor.zeros([1, 2, M]).reshape([2, M]) }).shape).toEqual([2, M]);
    const wrong = errorOf(() => linear.sync(x, weights.csr, null, { out: Tensor.zeros([2, M]), outDtype: 'float16' }));
    expect([wrong.code, wrong.message.startsWith('options.out')]).toEqual(['ERR_DTYPE', true]);
    const ints = errorOf(() => linear.sync(x, weights.csr, null, { out: Tensor.from(new Int32Array(2 * M), [2, M]) }));
    expect([ints.code, ints.message.startsWith('options.out.dtype')]).toEqual(['ERR_DTYPE', true]);
    expect(errorOf(() => linear.sync(x, weights.csr, null, { out: new Float32Array(2 * M) as never })).code).toBe('ERR_ARGUMENT');
    const gone = Tensor.zeros([2, M]);
    gone.dispose();
    expect(errorOf(() => linear.sync(x, weights.csr, null, { out: gone })).code).toBe('ERR_DISPOSED');
    expect(errorOf(() => spmm.sync(weights.csr, Tensor.randn([K, 2], { seed: 9 }), { out: Tensor.zeros([2, M]) })).code).toBe('ERR_SHAPE');
  });

  it('rejects an out sharing memory with x, the bias, a dense weight or the SLoRB scales; an adjacent view is fine', () => {
    const S = 24;  // a square weight, so x and out have the same shape
    const sq = Tensor.randn([S, S], { seed: 11 });
    const sparse = SparseMatrix.fromDense(sq, { format: 'csr', mask: halfMask(S * S, 4) });
    const buf = new Float32Array(4 * S + 1);
    buf.set(Tensor.randn([2 * S], { seed: 12 }).toFloat32Array());
    const x = Tensor.from(buf.subarray(0, 2 * S), [2, S]);
    const expectShared = (f: () => unknown, what: string) => {
      const e = errorOf(f);
      expect([e.code, e.message.startsWith('options.out'), e.message.includes(what)]).toEqual(['ERR_ARGUMENT', true, true]);
    };
    expectShared(() => linear.sync(x, sparse, null, { out: x }), 'x');
    // One element of overlap (out's first is x's last) is an overlap; starting right after x is not.
    expectShared(() => linear.sync(x, sparse, null, { out: Tensor.from(buf.subarray(2 * S - 1, 4 * S - 1), [2, S]) }), 'x');
    const after = Tensor.from(buf.subarray(2 * S, 4 * S), [2, S]);
    expect(bits(linear.sync(x, sparse, null, { out: after }))).toEqual(bits(linear.sync(x, sparse)));
    // The same boundary with out before x: one element shared, or none.
    const x2 = Tensor.from(buf.subarray(2 * S, 4 * S), [2, S]);
    expectShared(() => linear.sync(x2, sparse, null, { out: Tensor.from(buf.subarray(1, 2 * S + 1), [2, S]) }), 'x');
    expect(bits(linear.sync(x2, sparse, null, { out: Tensor.from(buf.subarray(0, 2 * S), [2, S]) }))).toEqual(bits(linear.sync(x2, sparse)));
    expectShared(() => spmm.sync(sparse, Tensor.from(buf.subarray(0, 2 * S), [S, 2]), { out: Tensor.from(buf.subarray(S, 3 * S), [S, 2]) }), 'b');
    const bias = Tensor.from(buf.subarray(2 * S, 3 * S), [S]);
    expectShared(() => linear.sync(Tensor.randn([1, S], { seed: 13 }), sparse, bias, { out: Tensor.from(buf.subarray(3 * S - 1, 4 * S - 1), [1, S]) }), 'bias');
    expectShared(() => linear.sync(Tensor.randn([S, S], { seed: 14 }), sq, null, { out: sq }), 'weight');
    const keep = new Uint8Array(S * S).fill(1);
    const scales = Tensor.zeros([S, S]);
    const boosted = SparseMatrix.fromDense(sq, { format: 'csr', mask: keep, slorb: { scales, groupSize: 1 } });
    expectShared(() => linear.sync(Tensor.randn([S, S], { seed: 15 }), boosted, null, { out: scales }), 'SLoRB scales');
  });
});
