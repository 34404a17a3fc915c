// The CSR vdpbf16ps kernel at kJ < N <= 16 (spmm_csr_cols_bf16_dpbf16_avx512: pairs of kept values
// times two x columns of the k_major_bf16 layout interleaved word by word, the output tile stored
// 16 rows at a time)
// against fp64, on the rows and shapes its loops and stores split on. Where the CPU has no
// AVX512-BF16 the same products run on the other kernels (and the name checks are skipped).
import { afterAll, describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, cpuInfo, linear, selectedKernel, setIsa, spmm, type FloatDType, type Isa } from '../lib/index.js';
import { OUT_RTOL, expectClose, matmulRef, rng, valuesOf } from './reference.js';

const info = cpuInfo();
const ISAS = info.supportedIsas as Isa[];
const startIsa = info.isa;
afterAll(() => { setIsa(startIsa); });
const dotOn = (isa: Isa) => isa === 'avx512' && info.features.avx512bf16 === true;
const COLS = 'spmm_csr_cols_bf16_dpbf16_avx512';

function transpose(v: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let k = 0; k < cols; k++) t[k * rows + i] = v[i * cols + k]!;
  return t;
}

/**
 * A [M, K] keep-mask: ~30% kept, and rows 0..7: empty, one value (the last column), a fully kept
 * row, two values (one pair), three (a pair and the odd last value), 16 and 17 (the unrolled
 * loop once, with and without the odd value), 35 (the loop, the pair tail and the odd value).
 * Column 7 is kept by no row (an Inf there must never be multiplied).
 */
function keepMask(M: number, K: number, seed: number): Uint8Array {
  const r = rng(seed);
  const mask = new Uint8Array(M * K).map(() => (r() < 0.3 ? 1 : 0));
  const counts = [0, 1, K, 2, 3, 16, 17, 35];
  for (let i = 0; i < Math.min(M, counts.length); i++) {
    mask.fill(0, i * K, (i + 1) * K);
    const cnt = Math.min(counts[i]!, K - 1);
    if (i === 1) mask[i * K + K - 1] = 1;
    else if (cnt === K - 1) mask.fill(1, i * K, (i + 1) * K);
    else for (let t = 0; t < cnt; t++) mask[i * K + Math.floor(((t + 0.5) * K) / cnt)] = 1;
  }
  for (let i = 0; i < M; i++) mask[i * K + 7] = 0;
  return mask;
}

describe('CSR x bf16 activations, kJ < N <= 16 (the cols kernel)', () => {
  it('matches fp64 for odd shapes, row tails, every output dtype and a bias; bf16 output is the rounded fp32 one', () => {
    // M: under 16 rows (the element-wise store only), 16-row blocks with and without a tail, and
    // tasks of several 16-row blocks (300 rows); K: odd, under 32, past 4096 (the staging's
    // 16-column blocks with a tail); N = 5, 8 (16-byte x columns), 9, 12, 15, 16 (32-byte columns;
    // partial and whole vectors of N: every word of the pair interleave).
    for (const [M, K, N] of [[13, 201, 5], [48, 300, 9], [37, 1000, 16], [21, 97, 12], [35, 4130, 16], [16, 20, 16], [300, 97, 16], [29, 263, 15], [33, 4099, 8], [300, 64, 8]] as const) {
      const w = Tensor.randn([M, K], { seed: M * K + N, dtype: 'bfloat16' });
      const a = SparseMatrix.fromDense(w, { format: 'csr', mask: keepMask(M, K, M + K + N) });
      const xf = Tensor.randn([N, K], { seed: N + 3 }).toFloat32Array();
      for (let j = 0; j < N; j++) xf[j * K + 7] = j % 2 ? Infinity : -Infinity;
      const x = Tensor.from(xf, [N, K]).to('bfloat16');
      const bias = Tensor.randn([M], { seed: M });
      const { c, mag } = matmulRef(valuesOf(a.toDense()), transpose(valuesOf(x), N, K), M, K, N);
      const b = valuesOf(bias);
      const cb = c.map((v, i) => v + b[Math.floor(i / N)]!);
      const magb = mag.map((v, i) => v + Math.abs(b[Math.floor(i / N)]!));
      for (const isa of ISAS) {
        setIsa(isa);
        const kernel = selectedKernel(a, N, { xDtype: 'bfloat16' });
        if (dotOn(isa)) expect(kernel).toBe(COLS);
        const label = `${isa} ${kernel} [${M}, ${K}] N=${N}`;
        const y0 = linear.sync(x, a, null, { outDtype: 'float32' });
        expectClose(valuesOf(y0), transpose(c, M, N), transpose(mag, M, N), OUT_RTOL.float32!, K, label);
        const y32 = linear.sync(x, a, bias, { outDtype: 'float32' });
        expectClose(valuesOf(y32), transpose(cb, M, N), transpose(magb, M, N), OUT_RTOL.float32!, K, `${label} bias`);
        for (const outDtype of ['bfloat16', 'float16'] as FloatDType[]) {
          const y = linear.sync(x, a, bias, { outDtype });
          expect(Array.from(y.toTypedArray()), `${label} ${outDtype}`).toEqual(Array.from(y32.to(outDtype).toTypedArray()));
        }
        // spmm's x [K, N] goes through the portable staging of the same layout: the same bits.
        if (dotOn(isa)) {
          const ys = spmm.sync(a, Tensor.from(Float32Array.from(transpose(valuesOf(x), N, K)), [K, N]).to('bfloat16'), { outDtype: 'float32' });
          expect(Array.from(ys.toFloat32Array()), `${label} spmm`).toEqual(Array.from(transpose(valuesOf(y0), N, M)));
        }
      }
    }
    setIsa(startIsa);
  });

  it('rounds bf16 outputs to nearest even like the fp32 result rounded (exact ties)', () => {
    // Row i keeps w[i, 0] = 1 and w[i, 1] = (2 (i % 4) + 1) 2^-8; x = 1: y = 1 + (2t + 1) 2^-8
    // exactly, halfway between two bf16 values: the even one wins (down for t = 0, 2, up for 1, 3).
    const M = 70, K = 40, N = 16;
    const wf = new Float32Array(M * K);
    for (let i = 0; i < M; i++) { wf[i * K] = 1; wf[i * K + 1] = (2 * (i % 4) + 1) / 256; }
    const a = SparseMatrix.fromDense(Tensor.from(wf, [M, K]).to('bfloat16'), { format: 'csr' });
    const x = Tensor.from(new Float32Array(N * K).fill(1), [N, K]).to('bfloat16');
    for (const isa of ISAS) {
      setIsa(isa);
      const y = linear.sync(x, a, null, { outDtype: 'bfloat16' });
      const got = valuesOf(y);
      for (let j = 0; j < N; j++)
        for (let i = 0; i < M; i++) {
          const t = i % 4;
          expect(got[j * M + i], `${isa} row ${i}`).toBe(t % 2 === 0 ? 1 + (2 * t) / 256 : 1 + (2 * t + 2) / 256);
        }
    }
    setIsa(startIsa);
  });

  it('takes float32 activations only with the bf16 opt-in, and leaves N <= 4, N > 16 and other weights alone', () => {
    const w = Tensor.randn([40, 300], { seed: 5, dtype: 'bfloat16' });
    const a = SparseMatrix.fromDense(w, { format: 'csr', mask: keepMask(40, 300, 9) });
    for (const isa of ISAS) {
      setIsa(isa);
      const want = dotOn(isa) ? COLS : `spmm_csr_bf16_${isa}`;
      for (const N of [5, 8, 16]) {
        expect(selectedKernel(a, N, { xDtype: 'bfloat16' })).toBe(want);
        expect(selectedKernel(a, N, { xDtype: 'float32', activations: 'bfloat16' })).toBe(want);
        expect(selectedKernel(a, N)).toBe(`spmm_csr_bf16_${isa}`);
      }
      for (const N of [1, 4, 17, 64]) expect(selectedKernel(a, N, { xDtype: 'bfloat16' })).not.toBe(COLS);
      expect(selectedKernel(SparseMatrix.fromDense(w.to('float16'), { format: 'csr' }), 16, { xDtype: 'bfloat16' })).toBe(`spmm_csr_f16_${isa}`);
      // The opt-in multiplies x rounded to bf16: the same bits as passing the rounded x.
      const xf = Tensor.randn([11, 300], { seed: 4 });
      if (dotOn(isa))
        expect(Array.from(linear.sync(xf, a, null, { activations: 'bfloat16', outDtype: 'float32' }).toFloat32Array()))
          .toEqual(Array.from(linear.sync(xf.to('bfloat16'), a, null, { outDtype: 'float32' }).toFloat32Array()));
    }
    setIsa(startIsa);
  });
});
