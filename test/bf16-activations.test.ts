// MatmulOptions.activations = 'bfloat16': float activations may be rounded to bf16 (nearest even)
// so bf16 weights (and 2:4 int4 weights at N > 8) run the vdpbf16ps kernels. Pinned: which kernel
// runs on every ISA, that the result is the product of the rounded activations (fp64 reference on
// x rounded here, independently), how far that is from the un-rounded product (the documented
// bound), and that nothing changes where no bf16 kernel applies.
import { afterAll, describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, cpuInfo, linear, selectedKernel, setIsa, setNumThreads, spmm, type FloatDType, type Isa, type Weight } from '../lib/index.js';
import { cli } from './cli-helper.js';
import { errorOf } from './errors-helper.js';
import { OUT_RTOL, expectClose, matmulRef, rng, roundBf16, valuesOf } from './reference.js';

const info = cpuInfo();
const ISAS = info.supportedIsas as Isa[];
const startIsa = info.isa;
afterAll(() => {
  setIsa(startIsa);
  setNumThreads(0);  // bench --threads 1 ran in this process
});
/** Where the vdpbf16ps kernels exist: the avx512 ISA on a CPU with AVX512-BF16. */
const dotOn = (isa: Isa) => isa === 'avx512' && info.features.avx512bf16 === true;
const BF16 = { activations: 'bfloat16' as const };

function transpose(v: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let k = 0; k < cols; k++) t[k * rows + i] = v[i * cols + k]!;
  return t;
}

/** A bf16 weight with empty rows, a dense row and ~60% zeros elsewhere (odd shapes come from the callers). */
function weight(M: number, K: number, seed: number): Tensor {
  const w = Tensor.randn([M, K], { seed }).toFloat32Array();
  const r = rng(seed + 1);
  for (let i = 0; i < M; i++)
    for (let k = 0; k < K; k++) if (i % 5 === 2 || (i % 5 !== 4 && r() < 0.6)) w[i * K + k] = 0;
  return Tensor.from(w, [M, K]).to('bfloat16');
}

/** The weights the opt-in can route: dense, bitmap above and below 25% density, fixed and cursor n:m. */
function weights(w: Tensor): [string, Weight][] {
  const [M, K] = w.shape as [number, number];
  const r = rng(M + K);
  const sparse = new Uint8Array(M * K).map(() => (r() < 0.1 ? 1 : 0));
  return [
    ['dense', w],
    ['bitmap', SparseMatrix.fromDense(w, { format: 'bitmap' })],
    ['bitmap 10%', SparseMatrix.fromDense(w, { format: 'bitmap', mask: sparse })],
    ['nm 2:4', SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude' })],
    ['nm 3:6', SparseMatrix.fromDense(w, { format: 'nm', n: 3, m: 6, prune: 'magnitude' })],
    ['nm 1:8', SparseMatrix.fromDense(w, { format: 'nm', n: 1, m: 8, prune: 'magnitude' })],
  ];
}

const bits = (t: Tensor) => Array.from(new Uint32Array(t.toFloat32Array().buffer));

describe("activations: 'bfloat16'", () => {
  it('routes bf16 weights with float32 activations to the vdpbf16ps kernels where the CPU has them, and nothing else', () => {
    const w = weight(64, 256, 3);
    const [, , [, sparse], [, nm]] = weights(w) as [string, SparseMatrix][];
    const bm = SparseMatrix.fromDense(w, { format: 'bitmap' });
    const csr = SparseMatrix.fromDense(w, { format: 'csr' });
    for (const isa of ISAS) {
      setIsa(isa);
      const dp = dotOn(isa) ? '_dpbf16' : '';
      for (const x of ['float32', 'float16', 'bfloat16'] as FloatDType[]) {
        const o = { ...BF16, xDtype: x };
        expect(selectedKernel(w, 1, o)).toBe(`gemv_dense_bf16${dp}_${isa}`);
        expect(selectedKernel(w, 4, o)).toBe(`gemv_dense_bf16${dp}_${isa}`);
        expect(selectedKernel(w, 16, o)).toBe(`gemm_dense_bf16${dp}_${isa}`);
        expect(selectedKernel(bm, 1, o)).toBe(`spmv_bitmap_bf16${dp}_${isa}`);
        expect(selectedKernel(bm, 64, o)).toBe(`spmm_bitmap_bf16${dp}_${isa}`);
        expect(selectedKernel(nm, 2, o)).toBe(`spmv_nm_bf16${dp}_${isa}`);
        expect(selectedKernel(sparse, 16, o)).toBe(dp ? 'spmm_bitmap_pairs_bf16_dpbf16_avx512' : `spmm_bitmap_outer_bf16_${isa}`);
        // CSR at 4 < N <= 16: the cols kernel (test/bf16-csr-cols.test.ts); above it, f16 and fp32 weights keep their kernels.
        expect(selectedKernel(csr, 16, o)).toBe(dp ? 'spmm_csr_cols_bf16_dpbf16_avx512' : `spmm_csr_bf16_${isa}`);
        expect(selectedKernel(csr, 17, o)).toBe(`spmm_csr_bf16_${isa}`);
        expect(selectedKernel(w.to('float16'), 16, o)).toBe(`gemm_dense_f16_${isa}`);
        expect(selectedKernel(w.to('float32'), 1, o)).toBe(`gemv_dense_f32_${isa}`);
      }
      // Without the option float32 activations keep the fp32 kernels.
      expect(selectedKernel(w, 16)).toBe(`gemm_dense_bf16_${isa}`);
      expect(selectedKernel(w, 16, { activations: 'float32' })).toBe(`gemm_dense_bf16_${isa}`);
    }
    setIsa(startIsa);
  });

  it('multiplies the bf16-rounded activations: fp64 on the rounded x within the fp32 bound, bit-equal to passing bf16 x', () => {
    // N = 1, 3 (the gemv kernels), 5, 12, 16 (the GEMM / pairs kernels on k_octs / k_major_bf16 x;
    // K past the pairs kernel's 4096-column block), 17 (k_pairs x; partial vectors of N), K odd.
    for (const [M, K, N] of [[23, 301, 1], [18, 97, 3], [21, 200, 5], [9, 1100, 17], [14, 333, 12], [7, 4130, 16]] as const) {
      const w = weight(M, K, M * K);
      const xf = Tensor.randn([N, K], { seed: N + K }).toFloat32Array();
      xf[0] = 1e-39;  // an fp32 denormal: rounds to a bf16 denormal, which vdpbf16ps treats as 0
      const x = Tensor.from(xf, [N, K]);
      const xr = Float64Array.from(xf, roundBf16);
      for (const [name, a] of weights(w)) {
        const wv = valuesOf(a instanceof SparseMatrix ? a.toDense() : a);
        const rounded = matmulRef(wv, transpose(xr, N, K), M, K, N);
        const exact = matmulRef(wv, transpose(Float64Array.from(xf), N, K), M, K, N);
        for (const isa of ISAS) {
          setIsa(isa);
          const label = `${isa} ${name} [${M}, ${K}] N=${N} ${selectedKernel(a, N, BF16)}`;
          const y = linear.sync(x, a, null, BF16);
          expect(y.dtype).toBe('float32');
          const ref = dotOn(isa) ? rounded : exact;  // elsewhere activations stay fp32
          expectClose(valuesOf(y), transpose(ref.c, M, N), transpose(ref.mag, M, N), OUT_RTOL.float32!, K, label);
          expect(bits(y), label).toEqual(bits(linear.sync(dotOn(isa) ? x.to('bfloat16') : x, a, null, { outDtype: 'float32' })));
          // spmm (b [K, N]) stages the same rounded values.
          const ys = spmm.sync(a, Tensor.from(Float32Array.from(transpose(Float64Array.from(xf), N, K)), [K, N]), BF16);
          expect(bits(ys), label).toEqual(bits(Tensor.from(Float32Array.from(transpose(valuesOf(y), N, M)), [M, N])));
        }
      }
    }
    setIsa(startIsa);
  });

  it('stays within 2^-9 · Σ|w·x| (plus the fp32 bound) of the un-rounded product, and the rounding is visible', () => {
    const M = 40, K = 4096, N = 16;
    const w = Tensor.randn([M, K], { seed: 5 }).to('bfloat16');
    const xf = Tensor.randn([N, K], { seed: 6 }).toFloat32Array();
    const exact = matmulRef(valuesOf(w), transpose(Float64Array.from(xf), N, K), M, K, N);
    for (const isa of ISAS) {
      setIsa(isa);
      const y = valuesOf(linear.sync(Tensor.from(xf, [N, K]), w, null, BF16));
      let worst = 0;
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) {
          const mag = exact.mag[i * N + j]!, err = Math.abs(y[j * M + i]! - exact.c[i * N + j]!);
          expect(err).toBeLessThanOrEqual((2 ** -9 + K * 1.2e-7 + OUT_RTOL.float32!) * mag);
          worst = Math.max(worst, err / mag);
        }
      // With the bf16 kernels the error is the rounding's (~1e-4 of Σ|w·x| here), far above the fp32
      // path's (~1e-7); elsewhere it is the fp32 path's.
      if (dotOn(isa)) expect(worst).toBeGreaterThan(1e-5);
      else expect(worst).toBeLessThan(1e-6);
    }
    setIsa(startIsa);
  });

  it('f16 activations round through fp32 to bf16; f16 and fp32 weights give the same bits as without the option', () => {
    const M = 19, K = 300, N = 9;
    const w = weight(M, K, 11);
    const x16 = Tensor.randn([N, K], { seed: 12 }).to('float16');
    const x32 = x16.to('float32');
    for (const isa of ISAS) {
      setIsa(isa);
      // f16 -> bf16 is the same rounding as f16 -> fp32 (exact) -> bf16.
      expect(bits(linear.sync(x16, w, null, { ...BF16, outDtype: 'float32' }))).toEqual(bits(linear.sync(x32, w, null, BF16)));
      for (const a of [w.to('float16'), w.to('float32'), SparseMatrix.fromDense(w.to('float16'), { format: 'bitmap' }), SparseMatrix.fromDense(w.to('float16'), { format: 'csr' })])
        for (const x of [x16, x32])
          expect(bits(linear.sync(x, a, null, { ...BF16, outDtype: 'float32' }))).toEqual(bits(linear.sync(x, a, null, { outDtype: 'float32' })));
    }
    setIsa(startIsa);
  });

  it('routes 2:4 int4 weights at N > 8 to the bf16 pairs kernel: the same bits as bf16 activations', () => {
    const M = 16, K = 512;
    const w = Tensor.randn([M, K], { seed: 21 });
    const q = SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', quantize: { bits: 4, groupSize: 64, symmetric: true } });
    for (const isa of ISAS) {
      setIsa(isa);
      for (const N of [8, 9, 16, 33]) {
        const xf = Tensor.randn([N, K], { seed: 30 + N });
        const kernel = selectedKernel(q, N, BF16);
        expect(kernel).toBe(selectedKernel(q, N, { xDtype: 'bfloat16' }));
        if (dotOn(isa)) expect(kernel).toBe(N > 8 ? 'qspmm_pairs_nm24_int4_bf16_avx512' : 'qspmm_gemm_nm_int4_avx512');
        const y = linear.sync(xf, q, null, BF16);
        const same = kernel === 'qspmm_pairs_nm24_int4_bf16_avx512' ? xf.to('bfloat16') : xf;
        expect(bits(y), `${isa} ${kernel} N=${N}`).toEqual(bits(linear.sync(same, q, null, { outDtype: 'float32' })));
        const xr = Float64Array.from(xf.toFloat32Array(), kernel.includes('bf16') ? roundBf16 : (v) => v);
        const ref = matmulRef(valuesOf(q.toDense()), transpose(xr, N, K), M, K, N);
        expectClose(valuesOf(y), transpose(ref.c, M, N), transpose(ref.mag, M, N), 1e-5, K, `${isa} ${kernel} N=${N}`);
      }
    }
    setIsa(startIsa);
  });

  it("rejects values other than 'float32', 'bfloat16' and 'int8' with a typed error naming the option", () => {
    const w = weight(4, 64, 1), x = Tensor.randn([1, 64], { seed: 2 });
    for (const bad of ['bf16', 'float16', 'BFLOAT16', 1, null]) {
      const e = errorOf(() => linear.sync(x, w, null, { activations: bad as 'bfloat16' }));
      expect(e.code).toBe('ERR_ARGUMENT');
      expect(e.message).toMatch(/options\.activations: expected 'float32', 'bfloat16' or 'int8'/);
      expect(() => selectedKernel(w, 1, { activations: bad as 'bfloat16' })).toThrow(/options\.activations/);
    }
    expect(() => linear.sync(x, w, null, { activations: 'int8' })).toThrow(/applies to quantized weights/);
  });
});

describe("sparsekit bench --activations", () => {
  it("times float32 activations rounded to bf16 ('bfloat16') or exact ('float32'), and rejects other values", async () => {
    const run = (a: string) => cli('--threads', '1', 'bench', '--shape', '48x160', '--dtype', 'bfloat16', '--batch', '1,16', '--formats', 'bitmap', '--seconds', '0.01', '--activations', a, '--json');
    const dp = dotOn(startIsa as Isa);
    for (const [a, label] of [['bfloat16', 'float32 rounded to bfloat16'], ['float32', 'float32']] as const) {
      const r = await run(a);
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.activations).toBe(label);
      expect(j.results).toHaveLength(4);
      for (const x of j.results) expect(x.kernel.includes('_dpbf16_')).toBe(dp && a === 'bfloat16');
    }
    const bad = await run('int8');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--activations: expected one of float32, bfloat16/);
  });
});
