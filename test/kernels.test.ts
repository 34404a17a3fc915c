// Every CPU kernel variant this machine can run (forced with setIsa) x every format x weight,
// activation and output dtype, on odd shapes with empty rows, all-zero tiles and fully dense rows,
// against an independent fp64 reference.
import { afterAll, describe, expect, it } from 'vitest';
import {
  AVX2_MACHINE, AVX2_ZEN2_MACHINE, AVX512_MACHINE, SparseMatrix, Tensor, chooseFormat, cpuInfo, linear, machineModel, predictSeconds, selectedKernel, setIsa, spmm, weightStats,
  type FloatDType, type Isa,
} from '../lib/index.js';
import { OUT_RTOL, expectClose, matmulRef, rng, valuesOf } from './reference.js';

const DTYPES: FloatDType[] = ['float32', 'float16', 'bfloat16'];
const info = cpuInfo();
const ISAS = info.supportedIsas as Isa[];
const startIsa = info.isa;
afterAll(() => { setIsa(startIsa); });

type Fmt = { format: 'dense' | 'csr' | 'bitmap' | 'nm' | 'tiled-csl'; n?: number; m?: number };
const FORMATS: Fmt[] = [
  { format: 'dense' }, { format: 'csr' }, { format: 'bitmap' }, { format: 'nm', n: 2, m: 4 }, { format: 'nm', n: 4, m: 8 },
  { format: 'nm', n: 1, m: 8 }, { format: 'nm', n: 3, m: 6 }, { format: 'tiled-csl' },
];  // m = 2, 4, 8 (and 16, 32 on AVX-512) take the fixed-step n:m decode; 3:6 the cursor walk

// [M, K, N]: ones, K not a multiple of 32 or 64, N around the register-block sizes (1..6, the bf16
// GEMM's 4-column vectors of N at 5..16: 2, 3 and 4 of them) and above; the last two span more than
// one of the blocked GEMM's K blocks (up to 16384 columns at N = 8).
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [3, 5, 2], [7, 33, 1], [19, 100, 3], [33, 64, 4], [21, 129, 5], [40, 97, 8], [35, 1100, 1], [18, 300, 17],
  [130, 70, 6], [26, 150, 11], [9, 2050, 64], [7, 5000, 16], [5, 16500, 8],
  [3, 16416, 6], [4, 4160, 40],  // whole 32-column chunks: dense rows read in place over several K blocks
];

/** A weight with the awkward cases in it: empty rows, a dense row, an all-zero 32x64 block, ~70% zeros elsewhere. */
function makeWeight(M: number, K: number, dtype: FloatDType, seed: number): Tensor {
  const w = Tensor.randn([M, K], { seed, dtype: 'float32' }).toFloat32Array();
  const r = rng(seed + 1);
  for (let i = 0; i < M; i++) {
    const kind = i % 7;
    for (let k = 0; k < K; k++) {
      const inZeroTile = i < 32 && k >= 64 && k < 128;
      if (kind === 3 || inZeroTile || (kind !== 5 && r() < 0.7)) w[i * K + k] = 0;  // kind 3: empty row, 5: dense row
    }
  }
  return Tensor.from(w, [M, K]).to(dtype);
}

function pack(w: Tensor, f: Fmt): SparseMatrix | Tensor {
  if (f.format === 'dense') return w;
  if (f.format === 'nm') return SparseMatrix.fromDense(w, { format: 'nm', n: f.n, m: f.m, prune: 'magnitude' });
  return SparseMatrix.fromDense(w, { format: f.format });
}

function transpose(v: Float64Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let k = 0; k < cols; k++) t[k * rows + i] = v[i * cols + k]!;
  return t;
}

function check(got: Tensor, want: Float64Array, mag: Float64Array, K: number, label: string) {
  expectClose(valuesOf(got), want, mag, OUT_RTOL[got.dtype]!, K, label);
}

describe('CPU kernels against an fp64 reference', () => {
  let seed = 100;
  for (const [M, K, N] of SHAPES) {
    it(`[${M}, ${K}] x N=${N}: every ISA x format x dtype`, () => {
      for (const wd of DTYPES) {
        const dense = makeWeight(M, K, wd, seed++);
        for (const f of FORMATS) {
          if (f.format === 'tiled-csl' && wd === 'float32') continue;  // tiled-csl stores 16-bit values only
          const a = pack(dense, f);
          const wv = valuesOf(a instanceof SparseMatrix ? a.toDense() : a);
          for (const xd of DTYPES) {
            const x = Tensor.randn([N, K], { seed: seed++, dtype: xd });  // linear's x [N, K]
            const xv = valuesOf(x);
            const xT = new Float64Array(K * N);  // b [K, N] for the reference and for spmm
            for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) xT[k * N + j] = xv[j * K + k]!;
            const { c, mag } = matmulRef(wv, xT, M, K, N);  // c [M, N]
            const bias = Tensor.randn([M], { seed: seed++, dtype: xd });
            const bv = valuesOf(bias);
            const cT = new Float64Array(N * M), magT = new Float64Array(N * M);  // linear output [N, M] with bias
            for (let i = 0; i < M; i++)
              for (let j = 0; j < N; j++) {
                cT[j * M + i] = c[i * N + j]! + bv[i]!;
                magT[j * M + i] = mag[i * N + j]! + Math.abs(bv[i]!);
              }
            const b = Tensor.from(new Float32Array(xT), [K, N]).to(xd);
            for (const isa of ISAS) {
              expect(setIsa(isa)).toBe(true);
              const outDtype = DTYPES[(seed + ISAS.indexOf(isa)) % 3]!;
              const label = `${isa} ${f.format}${f.n ? `${f.n}:${f.m}` : ''} w=${wd} x=${xd} out=${outDtype} [${M},${K}]xN=${N}`;
              check(linear.sync(x, a, bias, { outDtype }), cT, magT, K, `linear ${label}`);
              check(spmm.sync(a, b, { outDtype: 'float32' }), c, mag, K, `spmm ${label}`);
            }
          }
        }
      }
    });
  }
});

describe('bitmap at N > 4 on both sides of the outer-product density', () => {
  it.each([[37, 200, 5, 0.6], [50, 1030, 17, 0.6], [13, 96, 64, 0.6], [37, 200, 5, 0.1], [50, 1030, 17, 0.1], [13, 96, 64, 0.15]])(
    '[%i, %i] x N=%i, density %f', (M, K, N, density) => {
    const path = density < 0.25 ? 'bitmap_outer' : 'bitmap';
    for (const wd of DTYPES) {
      const w = Tensor.randn([M, K], { seed: M + K, dtype: wd });
      const r = rng(N);
      const mask = new Uint8Array(M * K).map(() => (r() < density ? 1 : 0));
      const a = SparseMatrix.fromDense(w, { format: 'bitmap', mask });
      const wv = valuesOf(a.toDense());
      const x = Tensor.randn([N, K], { seed: N, dtype: wd });
      const xv = valuesOf(x);
      const xT = new Float64Array(K * N);
      for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) xT[k * N + j] = xv[j * K + k]!;
      const { c, mag } = matmulRef(wv, xT, M, K, N);
      const b = Tensor.from(new Float32Array(xT), [K, N]).to(wd);
      for (const isa of ISAS) {
        setIsa(isa);
        expect(selectedKernel(a, N)).toBe(`spmm_${path}_${wd === 'float32' ? 'f32' : wd === 'float16' ? 'f16' : 'bf16'}_${isa}`);
        check(spmm.sync(a, b, { outDtype: 'float32' }), c, mag, K, `${isa} bitmap ${density} ${wd} [${M},${K}]xN=${N}`);
      }
    }
    setIsa(startIsa);
  });
});

describe('kernel dispatch', () => {
  it('names the ISA-specific kernel for each format and falls back to the gather kernel for tiled-csl', () => {
    const w = makeWeight(64, 256, 'bfloat16', 7);
    const bm = SparseMatrix.fromDense(w, { format: 'bitmap', mask: new Uint8Array(64 * 256).map((_, i) => i % 2) });
    const sparse = SparseMatrix.fromDense(w, { format: 'bitmap', mask: new Uint8Array(64 * 256).map((_, i) => (i % 8 === 0 ? 1 : 0)) });
    const csr = SparseMatrix.fromDense(w, { format: 'csr' });
    const tc = SparseMatrix.fromDense(w, { format: 'tiled-csl' });
    const nm = SparseMatrix.fromDense(Tensor.randn([64, 256], { seed: 8, dtype: 'bfloat16' }), { format: 'nm', n: 2, m: 4, prune: 'magnitude' });
    for (const isa of ISAS) {
      setIsa(isa);
      expect(selectedKernel(bm, 1)).toBe(`spmv_bitmap_bf16_${isa}`);
      expect(selectedKernel(sparse, 64)).toBe(`spmm_bitmap_outer_bf16_${isa}`);  // 12% dense: skip the zeros
      expect(selectedKernel(bm, 64)).toBe(`spmm_bitmap_bf16_${isa}`);  // 50% dense: decode to dense, GEMM
      expect(selectedKernel(nm, 64)).toBe(`spmm_nm_bf16_${isa}`);  // 50% dense: decode to dense, GEMM
      expect(selectedKernel(w, 1)).toBe(`gemv_dense_bf16_${isa}`);
      expect(selectedKernel(csr, 8)).toBe(`spmm_csr_bf16_${isa}`);
      expect(selectedKernel(tc, 8)).toBe('spmm_gather_portable');
    }
    setIsa(startIsa);
  });

  it('runs bf16 weights times bf16 activations on the vdpbf16ps kernels only where the CPU has AVX512-BF16', () => {
    const w = makeWeight(64, 256, 'bfloat16', 7);
    const bm = SparseMatrix.fromDense(w, { format: 'bitmap', mask: new Uint8Array(64 * 256).map((_, i) => i % 2) });
    const sparse = SparseMatrix.fromDense(w, { format: 'bitmap', mask: new Uint8Array(64 * 256).map((_, i) => (i % 8 === 0 ? 1 : 0)) });
    const nm = SparseMatrix.fromDense(Tensor.randn([64, 256], { seed: 8, dtype: 'bfloat16' }), { format: 'nm', n: 2, m: 4, prune: 'magnitude' });
    const csr = SparseMatrix.fromDense(w, { format: 'csr' });
    const f16 = w.to('float16');
    const bf16 = { xDtype: 'bfloat16' as const };
    for (const isa of ISAS) {
      setIsa(isa);
      const dp = isa === 'avx512' && info.features.avx512bf16 ? '_dpbf16' : '';
      expect(selectedKernel(w, 1, bf16)).toBe(`gemv_dense_bf16${dp}_${isa}`);
      expect(selectedKernel(w, 16, bf16)).toBe(`gemm_dense_bf16${dp}_${isa}`);
      expect(selectedKernel(bm, 3, bf16)).toBe(`spmv_bitmap_bf16${dp}_${isa}`);
      expect(selectedKernel(bm, 64, bf16)).toBe(`spmm_bitmap_bf16${dp}_${isa}`);
      expect(selectedKernel(nm, 1, bf16)).toBe(`spmv_nm_bf16${dp}_${isa}`);
      expect(selectedKernel(nm, 8, bf16)).toBe(`spmm_nm_bf16${dp}_${isa}`);
      // Below 25% density bitmap skips its zeros: the vdpbf16ps pairs kernel, else the fp32 outer product.
      expect(selectedKernel(sparse, 64, bf16)).toBe(dp ? 'spmm_bitmap_pairs_bf16_dpbf16_avx512' : `spmm_bitmap_outer_bf16_${isa}`);
      expect(selectedKernel(sparse, 2049, bf16)).toBe(`spmm_bitmap_outer_bf16_${isa}`);  // past the pairs kernel's 16-bit offsets
      // 20% dense: the eight-k GEMM decoding in registers up to N = 16, the pairs kernel above.
      const fifth = SparseMatrix.fromDense(w, { format: 'bitmap', mask: new Uint8Array(64 * 256).map((_, i) => (i % 5 === 0 ? 1 : 0)) });
      expect(selectedKernel(fifth, 16, bf16)).toBe(dp ? 'spmm_bitmap_bf16_dpbf16_avx512' : `spmm_bitmap_outer_bf16_${isa}`);
      expect(selectedKernel(fifth, 17, bf16)).toBe(dp ? 'spmm_bitmap_pairs_bf16_dpbf16_avx512' : `spmm_bitmap_outer_bf16_${isa}`);
      // Unchanged: fp32 activations, f16 weights, CSR above N = 16.
      expect(selectedKernel(w, 1)).toBe(`gemv_dense_bf16_${isa}`);
      expect(selectedKernel(f16, 1, bf16)).toBe(`gemv_dense_f16_${isa}`);
      expect(selectedKernel(csr, 8, bf16)).toBe(dp ? 'spmm_csr_cols_bf16_dpbf16_avx512' : `spmm_csr_bf16_${isa}`);
      expect(selectedKernel(csr, 17, bf16)).toBe(`spmm_csr_bf16_${isa}`);
      expect(selectedKernel(sparse, 64)).toBe(`spmm_bitmap_outer_bf16_${isa}`);
    }
    setIsa(startIsa);
  });

  it('vdpbf16ps pairs kernel (bitmap / N:M below 25% density at N > 16, 15% at 4 < N <= 16) against fp64', () => {
    // Odd K (partial last chunk), K past one K block at N = 16 (4096 columns) and at N = 2048 (32),
    // N = 5 / 17 / 33 / 80 (partial vectors, 1-4 vectors per pass and a tail pass); rows: empty,
    // one kept value, odd and even kept counts, one fully kept 32-column chunk; an Inf activation
    // in a column no row keeps (skipped, so never 0 x Inf) and NaN-free results.
    const dp = info.features.avx512bf16 === true && ISAS.includes('avx512');
    for (const [M, K, N] of [[37, 201, 5], [21, 4130, 16], [9, 300, 17], [6, 1000, 33], [5, 333, 80], [3, 97, 2048]] as const) {
      const w = Tensor.randn([M, K], { seed: M * K + N, dtype: 'bfloat16' });
      const r = rng(K + N);
      const mask = new Uint8Array(M * K).map(() => (r() < 0.12 ? 1 : 0));
      for (let k = 0; k < K; k++) {
        mask[k] = 0;  // row 0 empty
        mask[K + k] = k === K - 1 ? 1 : 0;  // row 1: one value, in the last column
        if (k < 32) mask[2 * K + k] = 1;  // row 2: a fully kept chunk
        if (k % 3 === 0) mask[(M - 1) * K + k] = 1;  // last row: every third column too
      }
      for (let i = 0; i < M; i++) mask[i * K + 7] = 0;  // column 7: no row keeps it
      const fmts: [string, SparseMatrix][] = [['bitmap', SparseMatrix.fromDense(w, { format: 'bitmap', mask })]];
      fmts.push(['nm', SparseMatrix.fromDense(w, { format: 'nm', n: 1, m: 8, prune: 'magnitude' })]);  // fixed-step decode
      fmts.push(['nm', SparseMatrix.fromDense(w, { format: 'nm', n: 1, m: 7, prune: 'magnitude' })]);  // cursor decode (below 15%: pairs at N <= 16 too)
      const xf = Tensor.randn([N, K], { seed: N + 3 }).toFloat32Array();
      for (let j = 0; j < N; j++) xf[j * K + 7] = j % 2 ? Infinity : -Infinity;
      const x = Tensor.from(xf, [N, K]).to('bfloat16');
      const xT = transpose(valuesOf(x), N, K);
      for (const [name, a] of fmts) {
        const wv = valuesOf(a.toDense());
        if (name === 'nm') for (let i = 0; i < M; i++) wv[i * K + 7] = 0;  // (n:m may keep column 7; zero x there instead)
        const xs = name === 'nm' ? Tensor.from(xf.map((v) => (Number.isFinite(v) ? v : 0)), [N, K]).to('bfloat16') : x;
        const xsT = name === 'nm' ? transpose(valuesOf(xs), N, K) : xT;
        const { c, mag } = matmulRef(wv, xsT, M, K, N);
        for (const isa of ISAS) {
          setIsa(isa);
          const kernel = selectedKernel(a, N, { xDtype: 'bfloat16' });
          if (isa === 'avx512' && dp) expect(kernel).toBe(`spmm_${name}_pairs_bf16_dpbf16_avx512`);
          const y = linear.sync(xs, a, null, { outDtype: 'float32' });
          expectClose(valuesOf(y), transpose(c, M, N), transpose(mag, M, N), OUT_RTOL.float32!, K, `${isa} ${kernel} [${M}, ${K}] N=${N}`);
        }
      }
    }
    setIsa(startIsa);
  });

  it('vdpbf16ps numerics: exact bf16 products, fp32 sums (the fp32 bound), denormal products flushed to zero', () => {
    // [3, 4096]: K blocks and 12 x 1 / 6 x 4 register blocks at N = 1, 5, 16, 64; one row of
    // huge-by-tiny pairs whose exact products (~1e-39) are fp32 denormals: the fp32 path keeps them,
    // the dot-product path flushes them (its documented difference).
    const K = 4096;
    for (const N of [1, 5, 16, 64]) {
      const w = Tensor.randn([3, K], { seed: 70 + N, dtype: 'bfloat16' });
      const x = Tensor.randn([N, K], { seed: 80 + N, dtype: 'bfloat16' });
      const { c, mag } = matmulRef(valuesOf(w), transpose(valuesOf(x), N, K), 3, K, N);
      for (const isa of ISAS) {
        setIsa(isa);
        const y = linear.sync(x, w, null, { outDtype: 'float32' });
        const want = new Float64Array(N * 3), m = new Float64Array(N * 3);
        for (let i = 0; i < 3; i++) for (let j = 0; j < N; j++) { want[j * 3 + i] = c[i * N + j]!; m[j * 3 + i] = mag[i * N + j]!; }
        expectClose(valuesOf(y), want, m, OUT_RTOL.float32!, K, `${isa} bf16 x bf16 [3, ${K}] N=${N}`);
      }
    }
    const tiny = Tensor.from(new Float32Array(64).fill(1e-20), [1, 64]).to('bfloat16');
    const small = Tensor.from(new Float32Array(64).fill(1e-19), [1, 64]).to('bfloat16');
    for (const isa of ISAS) {
      setIsa(isa);
      const y = linear.sync(small, tiny, null, { outDtype: 'float32' }).toFloat32Array()[0]!;
      const dp = isa === 'avx512' && info.features.avx512bf16;
      if (dp) expect(y).toBe(0);
      else expect(y).toBeGreaterThan(0);  // 64 products of ~1e-39 (denormal) kept by fp32 FMAs
      // fp32 activations keep the exact path on every ISA.
      expect(linear.sync(small.to('float32'), tiny, null, { outDtype: 'float32' }).toFloat32Array()[0]!).toBeGreaterThan(0);
    }
    setIsa(startIsa);
  });

  it('runs concurrent async calls on one pool with the same results as sync calls', async () => {
    const ws = [0, 1, 2, 3].map((i) => SparseMatrix.fromDense(makeWeight(300, 515, DTYPES[i % 3]!, 50 + i), { format: i % 2 ? 'bitmap' : 'csr' }));
    const xs = [0, 1, 2, 3].map((i) => Tensor.randn([1 + 3 * i, 515], { seed: 60 + i }));
    const want = ws.map((w, i) => linear.sync(xs[i]!, w).toFloat32Array());
    for (let round = 0; round < 3; round++) {
      const got = await Promise.all(ws.map((w, i) => linear(xs[i]!, w)));
      got.forEach((g, i) => expect(g.toFloat32Array()).toEqual(want[i]));
    }
  });
});

describe('outer-product threshold', () => {
  it("switches bitmap to the skip-zeros kernel at the cost model's outerDensity on every ISA", () => {
    const w = makeWeight(64, 256, 'bfloat16', 9);
    const masked = (density: number) => SparseMatrix.fromDense(w, {
      format: 'bitmap', mask: new Uint8Array(64 * 256).map((_, i) => ((i * 2654435761) % 1000 < density * 1000 ? 1 : 0)),
    });
    for (const isa of ISAS) {
      setIsa(isa);
      const d = machineModel(isa).outerDensity;
      expect(selectedKernel(masked(d - 0.03), 64)).toBe(`spmm_bitmap_outer_bf16_${isa}`);
      expect(selectedKernel(masked(d + 0.03), 64)).toBe(`spmm_bitmap_bf16_${isa}`);
    }
    setIsa(startIsa);
  });
});

describe("format: 'auto' (cost model)", () => {
  const stats = (density: number, nm?: { n: number; m: number }) =>
    ({ rows: 11008, cols: 4096, dtype: 'bfloat16' as const, nnz: Math.round(11008 * 4096 * density), ...(nm ? { nm } : {}) });
  // Both calibrated models must agree on these clear-cut cases; the bench checks the close ones.
  // At N = 64 and 50% a 16-bit bitmap decodes into the GEMM's scratch: free against dense's widening
  // on AVX-512 (so the smaller format wins the tie), a measured ~10% extra on AVX2.
  for (const [name, mc, half64] of [['avx512', AVX512_MACHINE, 'bitmap'], ['avx2', AVX2_MACHINE, 'dense']] as const) {
    it(`${name}: picks dense for dense weights, bitmap in the middle, csr when very sparse, nm for 2:4 at N = 1`, () => {
      expect(chooseFormat(stats(1), 1, mc).format).toBe('dense');
      expect(chooseFormat(stats(0.97), 1, mc).format).toBe('dense');  // bitmap would read more bytes
      expect(chooseFormat(stats(0.5), 1, mc).format).toBe('bitmap');
      expect(chooseFormat(stats(0.3), 1, mc).format).toBe('bitmap');
      expect(chooseFormat(stats(0.02), 1, mc).format).toBe('csr');
      expect(chooseFormat(stats(0.5, { n: 2, m: 4 }), 1, mc).format).toBe('nm');
    });
    it(`${name}: at large N 16-bit 50% goes ${half64}, fp32 dense wins, very sparse goes csr`, () => {
      expect(chooseFormat(stats(0.5), 64, mc).format).toBe(half64);
      expect(chooseFormat({ ...stats(0.5), dtype: 'float32' }, 64, mc).format).toBe('dense');
      expect(chooseFormat(stats(0.05), 64, mc).format).toBe('csr');
    });
  }
  it('avx512 with bf16 activations: at 90% CSR (the cols kernel) wins at N = 16, bitmap (pairs) at N = 64; dense stays at 70%', () => {
    const bf = (density: number) => ({ ...stats(density), activations: 'bfloat16' as const });
    for (const n of [16, 64]) {
      const at90 = chooseFormat(bf(0.1), n, AVX512_MACHINE);
      expect(at90.format).toBe(n === 16 ? 'csr' : 'bitmap');
      if (n === 16) expect(at90.candidates.csr!).toBeLessThan(0.8 * at90.candidates.bitmap!);
      // (by ~15% at N = 16 since the dense GEMM broadcasts eight k at a time there)
      expect(at90.predictedSeconds).toBeLessThan(0.9 * at90.candidates.dense!);
      expect(chooseFormat(bf(0.3), n, AVX512_MACHINE).format).toBe('dense');
    }
    // Past the pairs kernel's N the fp32 outer product's cost applies again.
    const wide = AVX512_MACHINE.bf16Dot!.pairsMaxN + 16;
    expect(predictSeconds('bitmap', bf(0.1), wide, AVX512_MACHINE)).toBeCloseTo(predictSeconds('bitmap', stats(0.1), wide, AVX512_MACHINE), 12);
    // At N <= octsMaxN bitmap decodes into the eight-k GEMM down to octsSkipDensity (cost independent
    // of the density there), below it the pairs kernel.
    const octsN = AVX512_MACHINE.bf16Dot!.octsMaxN;
    expect(predictSeconds('bitmap', bf(0.2), octsN, AVX512_MACHINE)).toBeCloseTo(predictSeconds('bitmap', bf(0.4), octsN, AVX512_MACHINE), 12);
    expect(predictSeconds('bitmap', bf(0.2), octsN + 1, AVX512_MACHINE)).not.toBeCloseTo(predictSeconds('bitmap', bf(0.4), octsN + 1, AVX512_MACHINE), 6);
    // CSR: the cols kernel's cost only at 4 < N <= colsMaxN with bf16 activations.
    const colsMax = AVX512_MACHINE.bf16Dot!.colsMaxN;
    for (const n of [1, 4, colsMax + 1, 64])
      expect(predictSeconds('csr', bf(0.1), n, AVX512_MACHINE)).toBeCloseTo(predictSeconds('csr', stats(0.1), n, AVX512_MACHINE), 12);
    expect(predictSeconds('csr', bf(0.1), colsMax, AVX512_MACHINE)).toBeLessThan(0.7 * predictSeconds('csr', stats(0.1), colsMax, AVX512_MACHINE));
  });
  it('uses the model of the ISA the kernels dispatch to', () => {
    for (const isa of ISAS) {
      setIsa(isa);
      expect(machineModel()).toBe(machineModel(isa));
      expect(chooseFormat(stats(0.3), 16)).toEqual(chooseFormat(stats(0.3), 16, machineModel(isa)));
    }
    setIsa(startIsa);
    // Without AVX512-BF16 the AVX-512 model drops the bf16 dot-product kernels (a copy).
    if (info.features.avx512bf16) expect(machineModel('avx512')).toBe(AVX512_MACHINE);
    else expect(machineModel('avx512')).toEqual({ ...AVX512_MACHINE, bf16Dot: undefined });
    // AVX2 on AMD family 17h (Zen 2 and earlier) has its own constants.
    expect(machineModel('avx2')).toBe(info.vendor === 'amd' && info.family === 0x17 ? AVX2_ZEN2_MACHINE : AVX2_MACHINE);
  });
  it('packs with the chosen format and keeps the values', () => {
    const w = Tensor.randn([40, 96], { seed: 3, dtype: 'bfloat16' });
    const nm = SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude' }).toDense();
    const a = SparseMatrix.fromDense(nm, { format: 'auto' });
    // The model of this machine decides; 2:4 beats dense bf16 at N = 1 on AVX-512 and on Zen 3's
    // AVX2, not on Zen 2's (its bitmap / n:m decode is slower: docs/kernels.md).
    const stats = weightStats(nm.toTypedArray() as Uint16Array, 40, 96, 'bfloat16', null);
    expect(a.format).toBe(chooseFormat(stats, 1).format);
    expect(chooseFormat(stats, 1, AVX512_MACHINE).format).toBe('nm');
    expect(chooseFormat(stats, 1, AVX2_MACHINE).format).toBe('nm');
    expect(chooseFormat(stats, 1, AVX2_ZEN2_MACHINE).format).toBe('dense');
    expect(a.toDense().toTypedArray()).toEqual(nm.toTypedArray());
    const r = rng(4);
    const sparse = Tensor.from(new Float32Array(40 * 96).map(() => (r() < 0.01 ? 1 + r() : 0)), [40, 96]);
    expect(SparseMatrix.fromDense(sparse, { format: 'auto' }).format).toBe('csr');
    expect(SparseMatrix.fromDense(Tensor.randn([40, 96], { seed: 5 }), { format: 'auto' }).format).toBe('dense');
    expect(() => SparseMatrix.fromDense(w, { format: 'auto', expectedN: 0 })).toThrow(/expectedN/);
  });
});
