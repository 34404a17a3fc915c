// The int8-activation GEMMs for 4-bit weights at N > 1 (dense and bitmap: qspmm_avx512_gemm_x8.cpp;
// 2:4: qspmm_avx512_pick_x8.cpp) against fp64 on the dequantized weight times x rounded as
// documented (docs/kernels.md, numerics): odd row counts (every row-block tail, and the 2:4
// kernel's 16-row groups), column tails of 32 / 64 / 96 past the last 128-column block, every group
// size (the step order changes at G < 128; 2:4 scales per group within a block), symmetric and
// asymmetric zero points, zero rows and groups, outlier channels, N across every vector-pass shape
// (2:4: passes of 16 vectors and a last one of 4, 8 or 12), bias and every output dtype.
import { afterAll, describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, cpuInfo, linear, selectedKernel, setIsa, spmm, type FloatDType } from '../lib/index.js';
import { OUT_RTOL, expectClose, matmulRef, rng, valuesOf } from './reference.js';
import { roundX8Ref } from './quant-reference.js';

const info = cpuInfo();
const startIsa = info.isa;
const VNNI = info.supportedIsas.includes('avx512') && info.features.avx512vnni === true && info.features.avx512vbmi === true && info.features.avx512vbmi2 === true;
afterAll(() => { setIsa(startIsa); });
if (!VNNI) console.warn('quant-x8-gemm: no AVX-512 VNNI + VBMI2 on this CPU, the int8-activation GEMM tests are skipped');

/** Outlier input channels, a zero row, an all-zero 2:4 region, random signs and magnitudes. */
function weight(M: number, K: number, seed: number): Float32Array {
  const w = Tensor.randn([M, K], { seed }).toFloat32Array();
  const r = rng(seed + 1);
  for (let i = 0; i < M; i++)
    for (let k = 0; k < K; k++) {
      if (k % 29 === 5) w[i * K + k]! *= 25;
      if (i === 2 % M) w[i * K + k] = 0;  // a zero row
      if (i === 1 % M && k >= 32 && k < 96) w[i * K + k] = 0;  // zero groups at G = 32 / 64
      if (r() < 0.05) w[i * K + k] = 0;
    }
  return w;
}

type Fmt = 'nm24' | 'dense' | 'bitmap';
function pack(w: Float32Array, M: number, K: number, f: Fmt, G: number, symmetric: boolean) {
  const quantize = { bits: 4 as const, groupSize: G, symmetric };
  if (f === 'bitmap') {
    // ~30% kept at random, an empty row and a fully kept one; odd kept counts start rows mid-byte.
    const r = rng(M * 7919 + K), keep = new Uint8Array(M * K);
    for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) keep[i * K + k] = i === 0 % M ? 0 : i === 3 % M ? 1 : r() < 0.3 ? 1 : 0;
    return SparseMatrix.fromDense(Tensor.from(w, [M, K]), { format: 'bitmap', mask: keep, quantize });
  }
  return SparseMatrix.fromDense(Tensor.from(w, [M, K]), f === 'dense' ? { format: 'dense', quantize } : { format: 'nm', n: 2, m: 4, prune: 'magnitude', quantize });
}

function check(f: Fmt, M: number, K: number, G: number, N: number, symmetric: boolean, seed: number, bias = false) {
  const q = pack(weight(M, K, seed), M, K, f, G, symmetric);
  const label = `${f} [${M}, ${K}] g${G} ${symmetric ? 'sym' : 'asym'} N=${N}${bias ? ' bias' : ''}`;
  const kernel = f === 'nm24' ? 'qspmm_gemm_pick_nm24_int4_x8_vnni' : `qspmm_gemm_bytes_${f}_int4_x8_vnni`;
  expect(selectedKernel(q, N, { activations: 'int8' }), label).toBe(kernel);
  const wq = valuesOf(q.toDense());
  const xv = Tensor.randn([N, K], { seed: seed + 2 }).toFloat32Array();
  for (let i = 0; i < N * K; i += 41) xv[i]! *= 40;  // outlier activations set their group's s_x
  for (let k = 0; k < K && N > 1; k++) xv[K + k] = 0;  // an all-zero vector (s_x = 1 for every group)
  const b = bias ? Tensor.randn([M], { seed: seed + 3 }) : null;
  const { c, mag } = matmulRef(wq, roundX8Ref(xv, N, K, G), M, K, N);
  if (b) {
    const bv = valuesOf(b);
    for (let r = 0; r < M; r++) for (let j = 0; j < N; j++) c[r * N + j]! += bv[r]!;
  }
  for (const out of ['float32', 'bfloat16', 'float16'] as FloatDType[]) {
    const y = valuesOf(linear.sync(Tensor.from(xv, [N, K]), q, b, { activations: 'int8', outDtype: out }));
    const got = new Float64Array(M * N);
    for (let j = 0; j < N; j++) for (let r = 0; r < M; r++) got[r * N + j] = y[j * M + r]!;
    expectClose(got, c, mag, OUT_RTOL[out]! + (out === 'float32' ? 0 : 4e-3), K, `${label} -> ${out}`);
  }
  q.dispose();
}

describe.skipIf(!VNNI)('int4 GEMMs with int8 activations (qspmm_gemm_bytes_{dense,bitmap}_int4_x8_vnni, qspmm_gemm_pick_nm24_int4_x8_vnni) against fp64', () => {
  it('every group size, symmetric and asymmetric, column tails, row-block tails, N = 2 .. 64', () => {
    setIsa('avx512');
    let seed = 3000;
    // [M, K, G, N]: N sets the vectors of 4 per pass (N = 2: one, 12 rows per block; 5..8: two, 6
    // rows; 9..12: three, 4 rows; from 13: passes of two over 6 rows, 17: two, two and one; 27:
    // three of two and one; 64: eight); K % 128 = 32, 64, 96 leaves a partial last block.
    const shapes: [number, number, number, number][] = [
      [7, 160, 32, 2], [13, 224, 32, 9], [11, 320, 64, 16], [10, 384, 128, 17], [5, 512, 256, 64], [9, 256, 128, 4],
      [1, 128, 32, 5], [6, 256, 64, 27], [14, 416, 32, 16], [25, 96, 32, 3], [4, 192, 64, 12], [8, 640, 128, 8], [17, 1280, 256, 16],
    ];
    for (const f of ['nm24', 'dense', 'bitmap'] as Fmt[])
      for (const [M, K, G, N] of shapes)
        for (const symmetric of [true, false]) check(f, M, K, G, N, symmetric, seed++);
    check('nm24', 6, 256, 64, 16, false, seed++, true);
    // From N = 13, passes of 2 vectors over 6 rows: 2 + 2 at N = 13 and 16 (the last vector
    // partial), 2 + 2 + 1 at 17 (above); row-block tails of 1, 5 and 0.
    for (const [M, K, G, N] of [[23, 384, 32, 16], [13, 256, 64, 13], [31, 512, 128, 14], [12, 1024, 256, 15]] as const)
      for (const f of ['nm24', 'dense', 'bitmap'] as Fmt[]) check(f, M, K, G, N, M === 13, seed++, M === 23);
    // 2:4: three 16-row groups, the last partial (the next group's prefetch stops at the rows
    // there are); 11 and 136 groups per row (the scales staged 16 groups at a time, the last run
    // partial); a 352-column row ends half-way through a 64-column window of x.
    for (const [M, K, G, N, sym] of [[40, 352, 32, 6, true], [37, 4352, 32, 3, false], [18, 192, 64, 33, false], [48, 640, 128, 20, true]] as const)
      check('nm24', M, K, G, N, sym, seed++, M === 37);
    check('dense', 5, 224, 32, 17, true, seed++, true);
    check('bitmap', 7, 352, 32, 16, false, seed++, true);
    setIsa(startIsa);
  });

  it('a long K (several K blocks at N = 64) and spmm (b [K, N]) agree with linear', () => {
    setIsa('avx512');
    // N = 64 and K = 7168: a 560 KiB x panel, two K blocks (51 + 5 of 128 columns).
    check('nm24', 5, 7168, 128, 64, true, 4000);
    check('dense', 3, 7168, 32, 64, false, 4004);
    check('bitmap', 4, 7168, 64, 64, false, 4005);
    check('nm24', 5, 3200, 64, 33, false, 4001);
    const M = 9, K = 384, N = 16;
    const q = pack(weight(M, K, 4002), M, K, 'nm24', 32, false);
    const x = Tensor.randn([N, K], { seed: 4003 });
    const y = valuesOf(linear.sync(x, q, null, { activations: 'int8' }));
    const xv = x.toFloat32Array(), bk = new Float32Array(K * N);
    for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) bk[k * N + j] = xv[j * K + k]!;
    const z = valuesOf(spmm.sync(q, Tensor.from(bk, [K, N]), { activations: 'int8' }));
    for (let r = 0; r < M; r++) for (let j = 0; j < N; j++) expect(z[r * N + j], `${r}, ${j}`).toBe(y[j * M + r]);
    q.dispose();
    setIsa(startIsa);
  });
});
