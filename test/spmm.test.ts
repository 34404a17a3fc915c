import { afterAll, describe, expect, it } from 'vitest';
import {
  SparseMatrix, Tensor, cpuInfo, linear, setIsa, spmm, type FloatDType, type Format,
} from '../lib/index.js';
import { OUT_RTOL, expectClose, matmulRef, rng, valuesOf } from './reference.js';

const FORMATS_ALL: Format[] = ['dense', 'csr', 'bitmap', 'nm', 'tiled-csl'];
const WDTYPES: FloatDType[] = ['float32', 'float16', 'bfloat16'];

function randomMask(rows: number, cols: number, density: number, seed: number, emptyRows = true): Uint8Array {
  const r = rng(seed);
  const m = new Uint8Array(rows * cols);
  for (let i = 0; i < m.length; i++) m[i] = r() < density ? 1 : 0;
  if (emptyRows && rows > 2) m.fill(0, cols, 2 * cols); // row 1 empty
  if (rows > 3) m.fill(1, 3 * cols, 4 * cols); // row 3 fully dense
  return m;
}

function pack(w: Tensor, format: Format, mask: Uint8Array): SparseMatrix {
  return format === 'nm'
    ? SparseMatrix.fromDense(w, { format, n: 2, m: 4, mask, prune: 'magnitude' })
    : SparseMatrix.fromDense(w, { format, mask });
}

const initialIsa = cpuInfo().isa;
afterAll(() => { setIsa(initialIsa); });

describe.each(cpuInfo().supportedIsas)('spmm on %s', (isa) => {
  it('matches the fp64 reference for every format, dtype and odd shape', () => {
    expect(setIsa(isa)).toBe(true);
    const r = rng(1234);
    const shapes: [number, number, number][] = [[1, 1, 1], [5, 7, 1], [33, 65, 3], [130, 100, 8], [67, 257, 17], [200, 64, 2], [3, 300, 64]];
    let seed = 100;
    for (const [M, K, N] of shapes) {
      for (const wd of WDTYPES) {
        const w = Tensor.randn([M, K], { seed: seed++, dtype: wd });
        const xd: FloatDType = WDTYPES[Math.floor(r() * 3)]!;
        const b = Tensor.randn([K, N], { seed: seed++, dtype: xd });
        const mask = randomMask(M, K, [0.05, 0.3, 0.5, 0.9][seed % 4]!, seed++);
        for (const format of FORMATS_ALL) {
          if (format === 'tiled-csl' && wd === 'float32') continue;
          const a = pack(w, format, mask);
          const ref = matmulRef(valuesOf(a.toDense()), valuesOf(b), M, K, N);
          for (const outDtype of WDTYPES) {
            const y = spmm.sync(a, b, { outDtype });
            expect(y.shape).toEqual([M, N]);
            expect(y.dtype).toBe(outDtype);
            expectClose(valuesOf(y), ref.c, ref.mag, OUT_RTOL[outDtype]!, K, `${isa} ${format} w:${wd} x:${xd} out:${outDtype} [${M},${K},${N}]`);
          }
        }
      }
    }
  });

  it('handles all-zero weights, all-zero tiles, fully dense tiles and N = 1 vectors', () => {
    setIsa(isa);
    const M = 257, K = 130;
    const w = Tensor.randn([M, K], { seed: 5, dtype: 'float16' });
    const zeros = new Uint8Array(M * K);
    const ones = new Uint8Array(M * K).fill(1);
    const halfTiles = new Uint8Array(M * K).map((_, i) => (Math.floor(i / K) < 128 ? 1 : 0)); // first tile row dense, rest empty
    const x = Tensor.randn([K], { seed: 6, dtype: 'float16' });
    for (const format of FORMATS_ALL) {
      for (const mask of [zeros, ones, halfTiles]) {
        const a = format === 'nm' ? SparseMatrix.fromDense(w, { format, n: 4, m: 8, mask, prune: 'magnitude' }) : SparseMatrix.fromDense(w, { format, mask });
        const y = spmm.sync(a, x, { outDtype: 'float32' });
        expect(y.shape).toEqual([M]);
        const ref = matmulRef(valuesOf(a.toDense()), valuesOf(x), M, K, 1);
        expectClose(valuesOf(y), ref.c, ref.mag, OUT_RTOL.float32!, K, `${isa} ${format} edge`);
        if (mask === zeros) expect(Array.from(y.toTypedArray()).every((v) => v === 0)).toBe(true);
      }
    }
  });

  it('linear(x, w, bias) is x·wᵀ + bias over any leading dims', async () => {
    setIsa(isa);
    const M = 45, K = 77;
    const w = Tensor.randn([M, K], { seed: 8, dtype: 'bfloat16' });
    const bias = Tensor.randn([M], { seed: 9 });
    const x = Tensor.randn([2, 3, K], { seed: 10 });
    for (const format of FORMATS_ALL) {
      const a = pack(w, format, randomMask(M, K, 0.4, 11));
      const y = await linear(x, a, bias);
      expect(y.shape).toEqual([2, 3, M]);
      // Reference: Y[n, m] = sum_k X[n,k] W[m,k] + bias[m]
      const X = valuesOf(x), W = valuesOf(a.toDense()), B = valuesOf(bias);
      const wT = new Float64Array(K * M);
      for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) wT[k * M + m] = W[m * K + k]!;
      const ref = matmulRef(X, wT, 6, K, M);
      for (let n = 0; n < 6; n++) for (let m = 0; m < M; m++) { ref.c[n * M + m] += B[m]!; ref.mag[n * M + m] += Math.abs(B[m]!); }
      expectClose(valuesOf(y), ref.c, ref.mag, OUT_RTOL.float32!, K, `${isa} linear ${format}`);
      // The sync form and the Promise form agree bit for bit.
      expect(linear.sync(x, a, bias).toTypedArray()).toEqual(y.toTypedArray());
    }
  });
});

describe('dense operands', () => {
  it('a plain 2-D Tensor is accepted as the dense format, with no copy', () => {
    const w = Tensor.randn([20, 30], { seed: 1 });
    const b = Tensor.randn([30, 4], { seed: 2 });
    const viaTensor = spmm.sync(w, b);
    const viaMatrix = spmm.sync(SparseMatrix.fromDense(w, { format: 'dense' }), b);
    expect(viaTensor.toTypedArray()).toEqual(viaMatrix.toTypedArray());
  });

  it('zero-sized products return empty or zero tensors', () => {
    const w = Tensor.zeros([0, 5]);
    expect(spmm.sync(w, Tensor.zeros([5, 3])).shape).toEqual([0, 3]);
    const w2 = Tensor.zeros([4, 0]);
    const y = spmm.sync(SparseMatrix.fromDense(w2, { format: 'bitmap' }), Tensor.zeros([0, 2]));
    expect(Array.from(y.toTypedArray())).toEqual(new Array(8).fill(0));
    expect(spmm.sync(Tensor.randn([3, 4]), Tensor.zeros([4, 0])).shape).toEqual([3, 0]);
  });
});
