// The bf16 x bf16 decode kernels at N <= 4 (spmv_bitmap / spmv_nm / gemv_dense_bf16_dpbf16_avx512)
// on both sides of the density where a chunk's values are loaded as 32 bytes instead of 64
// (MaskRows::Narrow): chunks keeping exactly 16 and 17 values, fully kept and empty chunks, empty
// rows, a partial last chunk, row counts that leave 1-3 rows after the 4-row passes (N = 1: four
// rows a quarter of the task apart; N >= 2: four adjacent rows), and the last rows, whose
// whole-vector loads would run past the values buffer (the checked path). Against an fp64
// reference; on machines without AVX512-BF16 the same products run the fp32 kernels (still checked).
import { afterAll, describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, cpuInfo, linear, selectedKernel, setIsa, type Isa } from '../lib/index.js';
import { OUT_RTOL, expectClose, linearRef as ref, rng, valuesOf } from './reference.js';

const info = cpuInfo();
const ISAS = info.supportedIsas as Isa[];
const startIsa = info.isa;
afterAll(() => { setIsa(startIsa); });
const dpOn = (isa: Isa) => isa === 'avx512' && info.features.avx512bf16 === true;

/** linear's y [N, M] = x [N, K] times w [M, K] transposed, in fp64, and the sum of |terms| per output. */
function linearRef(wv: Float64Array, x: Tensor, M: number, K: number, N: number) {
  const { y, mag } = ref(wv, valuesOf(x), M, K, N);
  return { cT: y, magT: mag };
}

/** A keep-mask of the given density with the awkward rows written over the first few. */
function awkwardMask(M: number, K: number, density: number, seed: number): Uint8Array {
  const r = rng(seed);
  const mask = new Uint8Array(M * K).map(() => (r() < density ? 1 : 0));
  const put = (row: number, keep: (k: number) => boolean) => { for (let k = 0; k < K; k++) mask[row * K + k] = keep(k) ? 1 : 0; };
  put(0, () => false);  // empty row
  put(1, (k) => k % 32 < 16);  // every chunk keeps exactly 16
  put(2, (k) => k % 32 < 17);  // every chunk keeps exactly 17: the 64-byte load
  put(3, (k) => (k >> 5) % 2 === 0);  // fully kept and empty chunks in turn
  put(4, (k) => k === K - 1);  // one value, in the partial last chunk
  put(M - 1, (k) => k % 32 === 31 || k % 32 < 16);  // 17 in every chunk, in the last row (checked loads)
  put(M - 2, (k) => k % 32 >= 16);  // 16 in every chunk
  return mask;
}

describe('bf16 decode at N <= 4 (bitmap / n:m, both chunk load widths)', () => {
  const cases: [number, number, number][] = [[23, 1000, 0.1], [30, 1000, 0.5], [21, 1000, 0.51], [26, 999, 0.8], [9, 4096, 0.1], [203, 300, 0.2]];
  it.each(cases)('bitmap [%i, %i], density %f, N = 1..4', (M, K, density) => {
    const w = Tensor.randn([M, K], { seed: M * K, dtype: 'bfloat16' });
    const a = SparseMatrix.fromDense(w, { format: 'bitmap', mask: awkwardMask(M, K, density, M + K) });
    const wv = valuesOf(a.toDense());
    for (const N of [1, 2, 3, 4]) {
      const x = Tensor.randn([N, K], { seed: N + K, dtype: 'bfloat16' });
      const { cT, magT } = linearRef(wv, x, M, K, N);
      for (const isa of ISAS) {
        setIsa(isa);
        const kernel = selectedKernel(a, N, { xDtype: 'bfloat16' });
        if (dpOn(isa)) expect(kernel).toBe('spmv_bitmap_bf16_dpbf16_avx512');
        const y = linear.sync(x, a, null, { outDtype: 'float32' });
        expectClose(valuesOf(y), cT, magT, OUT_RTOL.float32!, K, `${isa} ${kernel} [${M}, ${K}] density ${density} N=${N}`);
      }
    }
    setIsa(startIsa);
  });

  it.each([[2, 4], [1, 8], [4, 8], [3, 6], [5, 8]])('n:m %i:%i, N = 1..4, 4k + 1..3 rows', (n, m) => {
    for (const M of [13, 22, 7]) {
      const K = 1000;
      const a = SparseMatrix.fromDense(Tensor.randn([M, K], { seed: M + n * 10 + m, dtype: 'bfloat16' }), { format: 'nm', n, m, prune: 'magnitude' });
      const wv = valuesOf(a.toDense());
      for (const N of [1, 3, 4]) {
        const x = Tensor.randn([N, K], { seed: N + m, dtype: 'bfloat16' });
        const { cT, magT } = linearRef(wv, x, M, K, N);
        for (const isa of ISAS) {
          setIsa(isa);
          const kernel = selectedKernel(a, N, { xDtype: 'bfloat16' });
          if (dpOn(isa)) expect(kernel).toBe('spmv_nm_bf16_dpbf16_avx512');
          expectClose(valuesOf(linear.sync(x, a, null, { outDtype: 'float32' })), cT, magT, OUT_RTOL.float32!, K, `${isa} ${kernel} ${n}:${m} [${M}, ${K}] N=${N}`);
        }
      }
    }
    setIsa(startIsa);
  });

  it.each([[203, 300], [38, 97], [3, 64]])('dense [%i, %i], N = 1 and 2', (M, K) => {
    const w = Tensor.randn([M, K], { seed: M + K, dtype: 'bfloat16' });
    const wv = valuesOf(w);
    for (const N of [1, 2]) {
      const x = Tensor.randn([N, K], { seed: N * K, dtype: 'bfloat16' });
      const { cT, magT } = linearRef(wv, x, M, K, N);
      for (const isa of ISAS) {
        setIsa(isa);
        const kernel = selectedKernel(w, N, { xDtype: 'bfloat16' });
        if (dpOn(isa)) expect(kernel).toBe('gemv_dense_bf16_dpbf16_avx512');
        expectClose(valuesOf(linear.sync(x, w, null, { outDtype: 'float32' })), cT, magT, OUT_RTOL.float32!, K, `${isa} ${kernel} [${M}, ${K}] N=${N}`);
      }
    }
    setIsa(startIsa);
  });
});
