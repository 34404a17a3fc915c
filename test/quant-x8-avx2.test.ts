// The AVX2 int8-activation kernels, against fp64 on the dequantized weight times x rounded as
// documented (docs/kernels.md, numerics): the GEMVs (qspmm_gemv_{dense,nm24,nm,bitmap}_int4_x8_avx2,
// qspmm_gemv_{dense,nm,bitmap}_int8_x8_avx2)
// at row counts around the 4-row passes, widths whose last 128-column unit holds 32 / 64 / 96
// columns (a lone 32-column window at G = 32), every group size (units of 128 columns paired by
// vphaddw below G = 128, of G columns above), short last runs of scales, both zero points, every
// 2:4 mask pattern, 1:4, 4:8 and 8:16 (half kept, but not of every 8 columns), bitmap rows from
// empty to full (some starting mid-byte); the GEMMs
// (qspmm_gemm_{dense,nm,bitmap}_int4_x8_avx2) at N around their 8-vector groups and 6-row panels;
// and the largest int16 sums the kernels can reach (every code 15 against every xq at ±127).
import { afterAll, describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, cpuInfo, linear, selectedKernel, setIsa } from '../lib/index.js';
import { OUT_RTOL, expectClose, matmulRef, valuesOf } from './reference.js';
import { roundX8Ref } from './quant-reference.js';

const info = cpuInfo();
const startIsa = info.isa;
const AVX2 = info.supportedIsas.includes('avx2');
afterAll(() => { setIsa(startIsa); });
if (!AVX2) console.warn('quant-x8-avx2: no AVX2 on this CPU, the AVX2 int8-activation GEMV tests are skipped');

// The six 2:4 patterns in turn along each row, shifted per row.
function patternMask(M: number, K: number): Uint8Array {
  const pats = [0b0011, 0b0101, 0b1001, 0b0110, 0b1010, 0b1100];
  const m = new Uint8Array(M * K);
  for (let r = 0; r < M; r++)
    for (let g = 0; g < K / 4; g++) {
      const p = pats[(g + r) % 6]!;
      for (let k = 0; k < 4; k++) m[r * K + 4 * g + k] = (p >> k) & 1;
    }
  return m;
}

// Bitmap rows of every density in turn: ~10% kept, ~60%, none, all, ~30% with an odd count (the
// next row's codes start mid-byte).
function mixedMask(M: number, K: number, seed: number): Uint8Array {
  const u = Tensor.rand([M * K], { seed }).toFloat32Array();
  const keep = new Uint8Array(M * K);
  for (let r = 0; r < M; r++) {
    let n = 0;
    for (let k = 0; k < K; k++) n += keep[r * K + k] = [u[r * K + k]! < 0.1, u[r * K + k]! < 0.6, false, true, u[r * K + k]! < 0.3][r % 5]! ? 1 : 0;
    if (r % 5 === 4 && n % 2 === 0) keep[r * K] ^= 1;
  }
  return keep;
}

function check(q: SparseMatrix, xv: Float32Array, G: number, kernel: string, label: string) {
  const [M, K] = q.shape as [number, number];
  expect(selectedKernel(q, 1, { activations: 'int8' }), label).toBe(kernel);
  const { c, mag } = matmulRef(valuesOf(q.toDense()), roundX8Ref(xv, 1, K, G), M, K, 1);
  const y = valuesOf(linear.sync(Tensor.from(xv, [1, K]), q, null, { activations: 'int8', outDtype: 'float32' }));
  expectClose(y, c, mag, OUT_RTOL.float32!, K, label);
}

describe.skipIf(!AVX2)('AVX2 int8-activation GEMVs (dense and 2:4 4-bit) against fp64', () => {
  it('every group size and width tail, rows around the 4-row passes, both zero points, all six 2:4 patterns', () => {
    setIsa('avx2');
    let seed = 4100;
    // [K, G]: K % 128 = 32 / 64 / 96 at G = 32, 64 at G = 64; runs of scales cut short (gpr % 8 at
    // G = 32, gpr % 4 above); exactly one unit; G = 256 with 4 windows per unit.
    const widths: [number, number][] = [[32, 32], [96, 32], [160, 32], [224, 32], [288, 32], [1056, 32], [64, 64], [192, 64], [448, 64],
      [128, 128], [640, 128], [1152, 128], [256, 256], [768, 256], [2304, 256]];
    for (const [K, G] of widths)
      for (const M of [1, 3, 4, 7, 9, 13])
        for (const symmetric of [true, false]) {
          const w = Tensor.randn([M, K], { seed: seed++ }).toFloat32Array();
          for (let k = 0; k < M * K; k += 29) w[k]! *= 20;  // outliers set their group's scale
          const xv = Tensor.randn([1, K], { seed: seed++ }).toFloat32Array();
          for (let k = 0; k < K; k += 37) xv[k]! *= 30;  // outlier channels set theirs
          const quantize = { bits: 4 as const, groupSize: G, symmetric };
          const tag = `[${M}, ${K}] g${G} ${symmetric ? 'sym' : 'asym'}`;
          const dense = SparseMatrix.fromDense(Tensor.from(w, [M, K]), { format: 'dense', quantize });
          check(dense, xv, G, 'qspmm_gemv_dense_int4_x8_avx2', `dense ${tag}`);
          const nm = SparseMatrix.fromDense(Tensor.from(w, [M, K]), { format: 'nm', n: 2, m: 4, mask: patternMask(M, K), quantize });
          check(nm, xv, G, 'qspmm_gemv_nm24_int4_x8_avx2', `2:4 ${tag}`);
          const nm14 = SparseMatrix.fromDense(Tensor.from(w, [M, K]), { format: 'nm', n: 1, m: 4, prune: 'magnitude', quantize });
          check(nm14, xv, G, 'qspmm_gemv_nm_int4_x8_avx2', `1:4 ${tag}`);
          const nm816 = SparseMatrix.fromDense(Tensor.from(w, [M, K]), { format: 'nm', n: 8, m: 16, prune: 'magnitude', quantize });
          check(nm816, xv, G, 'qspmm_gemv_nm_int4_x8_avx2', `8:16 ${tag}`);
          check(SparseMatrix.fromDense(Tensor.from(w, [M, K]), { format: 'bitmap', mask: mixedMask(M, K, seed++), quantize }), xv, G, 'qspmm_gemv_bitmap_int4_x8_avx2', `bitmap ${tag}`);
          // 8-bit codes: dense read in place, 2:4 and bitmap expanded as bytes.
          const q8 = { ...quantize, bits: 8 as const };
          check(SparseMatrix.fromDense(Tensor.from(w, [M, K]), { format: 'dense', quantize: q8 }), xv, G, 'qspmm_gemv_dense_int8_x8_avx2', `dense int8 ${tag}`);
          check(SparseMatrix.fromDense(Tensor.from(w, [M, K]), { format: 'nm', n: 2, m: 4, mask: patternMask(M, K), quantize: q8 }), xv, G, 'qspmm_gemv_nm_int8_x8_avx2', `2:4 int8 ${tag}`);
          check(SparseMatrix.fromDense(Tensor.from(w, [M, K]), { format: 'bitmap', mask: mixedMask(M, K, seed++), quantize: q8 }), xv, G, 'qspmm_gemv_bitmap_int8_x8_avx2', `bitmap int8 ${tag}`);
        }
  });

  it('GEMM at 1 < N <= 64, every 4-bit format: N = 2 / 3-4 / 5+ (lanes holding 4 / 2 / 1 quads of a vector), N around the 8-vector groups, rows around the 6-row panels', () => {
    setIsa('avx2');
    let seed = 4500;
    const cases: [number, number, number, number][] = [  // [M, K, G, N]
      [1, 32, 32, 2], [11, 160, 32, 3], [5, 256, 64, 4], [7, 1536, 256, 2], [5, 96, 32, 7], [6, 128, 64, 8], [7, 256, 128, 9], [13, 320, 64, 16],
      [12, 512, 256, 17], [4, 224, 32, 64], [9, 1024, 128, 23]];
    for (const [M, K, G, N] of cases)
      for (const symmetric of [true, false]) {
        const w = Tensor.randn([M, K], { seed: seed++ }).toFloat32Array();
        for (let k = 0; k < M * K; k += 29) w[k]! *= 20;
        const xv = Tensor.randn([N, K], { seed: seed++ }).toFloat32Array();
        for (let k = 0; k < N * K; k += 37) xv[k]! *= 30;
        const keep = mixedMask(M, K, seed++);
        const quantize = { bits: 4 as const, groupSize: G, symmetric };
        const W = Tensor.from(w, [M, K]);
        const ws: [SparseMatrix, string][] = [
          [SparseMatrix.fromDense(W, { format: 'dense', quantize }), 'qspmm_gemm_dense_int4_x8_avx2'],
          [SparseMatrix.fromDense(W, { format: 'nm', n: 2, m: 4, mask: patternMask(M, K), quantize }), 'qspmm_gemm_nm_int4_x8_avx2'],
          [SparseMatrix.fromDense(W, { format: 'nm', n: 1, m: 4, prune: 'magnitude', quantize }), 'qspmm_gemm_nm_int4_x8_avx2'],
          // Half of each group kept: 4:8 keeps 4 of every mask byte, 8:16 does not (its bytes keep 0 to 8).
          [SparseMatrix.fromDense(W, { format: 'nm', n: 4, m: 8, prune: 'magnitude', quantize }), 'qspmm_gemm_nm_int4_x8_avx2'],
          [SparseMatrix.fromDense(W, { format: 'nm', n: 8, m: 16, prune: 'magnitude', quantize }), 'qspmm_gemm_nm_int4_x8_avx2'],
          [SparseMatrix.fromDense(W, { format: 'bitmap', mask: keep, quantize }), 'qspmm_gemm_bitmap_int4_x8_avx2'],
        ];
        for (const [q, kernel] of ws) {
          const label = `${kernel} [${M}, ${K}] g${G} N=${N} ${symmetric ? 'sym' : 'asym'}`;
          expect(selectedKernel(q, N, { activations: 'int8' }), label).toBe(kernel);
          const xt = roundX8Ref(xv, N, K, G);
          const { c, mag } = matmulRef(valuesOf(q.toDense()), xt, M, K, N);
          const y = valuesOf(linear.sync(Tensor.from(xv, [N, K]), q, null, { activations: 'int8', outDtype: 'float32' }));
          const got = new Float64Array(M * N);
          for (let j = 0; j < N; j++) for (let r = 0; r < M; r++) got[r * N + j] = y[j * M + r]!;
          expectClose(got, c, mag, OUT_RTOL.float32!, K, label);
        }
      }
  });

  it('above N = 64 x stays fp32 and every activation vector is computed', () => {
    setIsa('avx2');
    const M = 6, K = 256, N = 65;
    const w = Tensor.randn([M, K], { seed: 4300 });
    const x = Tensor.randn([N, K], { seed: 4301 });
    for (const q of [SparseMatrix.fromDense(w, { format: 'dense', quantize: { bits: 4, groupSize: 64 } }),
      SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', quantize: { bits: 4, groupSize: 64 } })]) {
      expect(selectedKernel(q, N, { activations: 'int8' })).not.toContain('_x8_');
      expect(valuesOf(linear.sync(x, q, null, { activations: 'int8' }))).toEqual(valuesOf(linear.sync(x, q)));
    }
  });

  it('reaches the largest int16 sums without wrapping: every code 15 against every xq at +127 or -127', () => {
    setIsa('avx2');
    for (const [K, G] of [[1024, 256], [512, 128], [256, 64], [256, 32]] as const)
      for (const sign of [1, -1]) {
        const M = 5;
        // Equal positive weights: each group's scale is about w / 7 (symmetric) or w / 15
        // (asymmetric, zero 0), so every code is 15; equal x rounds to ±127 everywhere. A wrapped
        // int16 sum would be off by 65536 units of scale·s_x, far past the tolerance.
        const w = new Float32Array(M * K).fill(0.5);
        const xv = new Float32Array(K).fill(sign * 0.75);
        for (const symmetric of [true, false]) {
          const quantize = { bits: 4 as const, groupSize: G, symmetric };
          const dense = SparseMatrix.fromDense(Tensor.from(w, [M, K]), { format: 'dense', quantize });
          const nm = SparseMatrix.fromDense(Tensor.from(w, [M, K]), { format: 'nm', n: 2, m: 4, mask: patternMask(M, K), quantize });
          for (const [q, kernel] of [[dense, 'qspmm_gemv_dense_int4_x8_avx2'], [nm, 'qspmm_gemv_nm24_int4_x8_avx2']] as const)
            check(q, xv, G, kernel, `${kernel} [${M}, ${K}] g${G} ${symmetric ? 'sym' : 'asym'} x = ${sign * 0.75}`);
          // 8-bit: every code 255, each nibble 15 against ±127 (the nibbles' int16 sums at their largest).
          const dense8 = SparseMatrix.fromDense(Tensor.from(w, [M, K]), { format: 'dense', quantize: { ...quantize, bits: 8 } });
          check(dense8, xv, G, 'qspmm_gemv_dense_int8_x8_avx2', `int8 [${M}, ${K}] g${G} ${symmetric ? 'sym' : 'asym'} x = ${sign * 0.75}`);
          // The GEMM (N = 9): its int16 sums run over 32 columns, at most 8 · 2 · 15 · 127.
          const N = 9, xn = new Float32Array(N * K).fill(sign * 0.75);
          const { c, mag } = matmulRef(valuesOf(dense.toDense()), roundX8Ref(xn, N, K, G), M, K, N);
          const y = valuesOf(linear.sync(Tensor.from(xn, [N, K]), dense, null, { activations: 'int8', outDtype: 'float32' }));
          const got = new Float64Array(M * N);
          for (let j = 0; j < N; j++) for (let r = 0; r < M; r++) got[r * N + j] = y[j * M + r]!;
          expectClose(got, c, mag, OUT_RTOL.float32!, K, `GEMM g${G} ${symmetric ? 'sym' : 'asym'} x = ${sign * 0.75}`);
        }
      }
  });
});
