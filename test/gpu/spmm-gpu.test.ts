// The correctness suite against the real CUDA kernels (npm run test:gpu; also part of npm test,
// skipped loudly without a GPU). Each kernel's device result must match the fp64 reference and
// its own CPU replay (native/cuda/replay/replay.cpp): a mismatch with the replay but not with the
// reference would point at the warp model, the reverse at the device code.
import { describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, devices, gpuStatus, linear, spmm, type FloatDType } from '../../lib/index.js';
import { replayAddon } from '../replay-addon.js';
import { rng, valuesOf } from '../reference.js';

const hasGpu = devices().length > 0;
if (!hasGpu) console.warn(`\n*** sparsekit: NO GPU: the GPU kernel suite (test/gpu) is SKIPPED. Reason: ${devices().reason}\n`);

function maskOf(rows: number, cols: number, density: number, seed: number): Uint8Array {
  const r = rng(seed);
  const m = new Uint8Array(rows * cols);
  for (let i = 0; i < m.length; i++) m[i] = r() < density ? 1 : 0;
  return m;
}

type Case = { format: 'tiled-csl' | 'bitmap' | 'nm' | 'dense'; kernel?: 'tiled-csl' | 'bitmap' | 'sp24' };
const CASES: Case[] = [
  { format: 'tiled-csl', kernel: 'tiled-csl' },
  { format: 'bitmap', kernel: 'bitmap' },
  { format: 'nm', kernel: 'sp24' },
  { format: 'dense' },
];

describe.skipIf(!hasGpu)('GPU kernels against the fp64 reference', () => {
  for (const c of CASES)
    for (const dtype of ['float16', 'bfloat16'] as FloatDType[])
      it(`${c.format} ${dtype}`, async () => {
        if (c.format === 'dense' && !gpuStatus().cublasLt) {
          console.warn(`*** dense on the GPU skipped: ${gpuStatus().cublasLtReason}`);
          return;
        }
        let seed = 1;
        for (const [M, K] of [[130, 70], [4096, 4096], [37, 300], [11008, 4096]] as [number, number][])
          for (const N of [1, 8, 16, 40, 64, 100])
            for (const density of c.format === 'nm' || c.format === 'dense' ? [1] : [1, 0.3, 0.1]) {
              if (M * K > 2e7 && N > 16) continue;
              const w = Tensor.randn([M, K], { seed: seed++, dtype });
              const x = Tensor.randn([N, K], { seed: seed++, dtype });
              const mask = maskOf(M, K, density, seed++);
              const s = c.format === 'nm'
                ? SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', mask })
                : SparseMatrix.fromDense(w, { format: c.format, mask });
              const dw = await s.to('cuda');
              const dx = await x.to('cuda');
              const dy = await linear(dx, dw, null, { outDtype: 'float32' });
              const y = (await dy.to('cpu')).toTypedArray() as Float32Array;
              dw.dispose(); dx.dispose(); dy.dispose();
              const a = valuesOf(s.toDense()), b = valuesOf(x);
              const replay = c.kernel && M * K < 1e6 ? replayAddon.cudaReplay(s.desc(), x.toTypedArray() as Uint16Array, N, c.kernel, 0, 0) : null;
              for (let n = 0; n < N; n++)
                for (let m = 0; m < M; m += M > 1000 ? 7 : 1) {
                  let want = 0, mag = 0;
                  for (let k = 0; k < K; k++) { const t = a[m * K + k]! * b[n * K + k]!; want += t; mag += Math.abs(t); }
                  const got = y[n * M + m]!;
                  const label = `${c.format} ${dtype} [${M}x${K}] N=${N} d=${density} y[${n},${m}]`;
                  expect(Math.abs(got - want), `${label}: ${got} vs ${want}`).toBeLessThanOrEqual(1e-5 * mag + 1e-30);
                  if (replay) expect(Math.abs(got - replay[n * M + m]!), `${label} vs replay`).toBeLessThanOrEqual(1e-5 * mag + 1e-30);
                }
            }
      });
});

// y[n][m] = sum_k a[m][k] x[n][k] (+ bias[m]) in fp64, and the tolerance of one fp32 accumulation.
function reference(a: Float64Array | number[], x: Float64Array | number[], M: number, K: number, N: number, bias?: number[]) {
  const want = new Float64Array(N * M), mag = new Float64Array(N * M);
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      let s = bias ? bias[m]! : 0, g = Math.abs(s);
      for (let k = 0; k < K; k++) { const t = a[m * K + k]! * x[n * K + k]!; s += t; g += Math.abs(t); }
      want[n * M + m] = s;
      mag[n * M + m] = g;
    }
  return { want, mag };
}

describe.skipIf(!hasGpu)('GPU API: bias, spmm with b [K, N], 2:4 through cuSPARSELt and mma.sp', () => {
  it('linear adds the bias on the device (fp32, one rounding), for every format', async () => {
    const M = 96, K = 128, N = 5;
    const w = Tensor.randn([M, K], { seed: 11, dtype: 'float16' });
    const x = Tensor.randn([N, K], { seed: 12, dtype: 'float16' });
    const bias = Tensor.randn([M], { seed: 13, dtype: 'float32' });
    for (const format of ['bitmap', 'tiled-csl', 'nm', ...(gpuStatus().cublasLt ? ['dense'] : [])] as const) {
      const s = format === 'nm' ? SparseMatrix.fromDense(w, { format, n: 2, m: 4, prune: 'magnitude' }) : SparseMatrix.fromDense(w, { format });
      const dw = await s.to('cuda');
      const dx = await x.to('cuda');
      const y = (await (await linear(dx, dw, bias, { outDtype: 'float32' })).to('cpu')).toTypedArray() as Float32Array;
      const { want, mag } = reference(valuesOf(s.toDense()), valuesOf(x), M, K, N, Array.from(valuesOf(bias)));
      for (let i = 0; i < want.length; i++) expect(Math.abs(y[i]! - want[i]!), `${format} bias y[${i}]`).toBeLessThanOrEqual(1e-5 * mag[i]! + 1e-6);
      dw.dispose(); dx.dispose();
    }
  });

  it('spmm(w, b [K, N]) gives [M, N] for any N >= 1', async () => {
    const M = 70, K = 136;
    const w = SparseMatrix.fromDense(Tensor.randn([M, K], { seed: 21, dtype: 'bfloat16' }), { format: 'bitmap' });
    const dw = await w.to('cuda');
    for (const N of [1, 2, 3, 17, 64]) {
      const b = Tensor.randn([K, N], { seed: 22 + N, dtype: 'bfloat16' });
      const y = await spmm(dw, await b.to('cuda'), { outDtype: 'float32' });
      expect(y.shape).toEqual([M, N]);
      const got = (await y.to('cpu')).toTypedArray() as Float32Array;
      const bv = valuesOf(b), xt = new Float64Array(N * K);
      for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) xt[n * K + k] = bv[k * N + n]!;
      const { want, mag } = reference(valuesOf(w.toDense()), xt, M, K, N);
      for (let m = 0; m < M; m++)
        for (let n = 0; n < N; n++)
          expect(Math.abs(got[m * N + n]! - want[n * M + m]!), `N=${N} y[${m},${n}]`).toBeLessThanOrEqual(1e-5 * mag[n * M + m]! + 1e-6);
    }
    dw.dispose();
  });

  it('2:4: mma.sp and cuSPARSELt (when present) both match the reference; auto reports which ran', async () => {
    const M = 256, K = 512;
    for (const dtype of ['float16', 'bfloat16'] as FloatDType[]) {
      const s = SparseMatrix.fromDense(Tensor.randn([M, K], { seed: 31, dtype }), { format: 'nm', n: 2, m: 4, prune: 'magnitude' });
      const dw = await s.to('cuda');
      const a = valuesOf(s.toDense());
      const backends = gpuStatus().cusparseLt ? (['ours', 'library', 'auto'] as const) : (['ours', 'auto'] as const);
      if (!gpuStatus().cusparseLt) console.warn(`*** cuSPARSELt absent, only mma.sp checked: ${gpuStatus().cusparseLtReason}`);
      for (const N of [8, 16, 64, 256])
        for (const backend of backends) {
          const x = Tensor.randn([N, K], { seed: 32 + N, dtype });
          const dx = await x.to('cuda');
          const y = (await (await linear(dx, dw, null, { backend })).to('cpu')).toTypedArray();
          const yf = Tensor.from(y, [N, M], { dtype }).to('float32').toTypedArray() as Float32Array;
          const { want, mag } = reference(a, valuesOf(x), M, K, N);
          const want16 = Tensor.from(Float32Array.from(want), [N, M]).to(dtype).to('float32').toTypedArray() as Float32Array;
          for (let i = 0; i < want.length; i++)
            expect(Math.abs(yf[i]! - want16[i]!), `${dtype} ${backend} N=${N} y[${i}] (${dw.lastKernel})`)
              .toBeLessThanOrEqual(1e-5 * mag[i]! + 2 * Math.abs(want16[i]!) * (dtype === 'float16' ? 2 ** -10 : 2 ** -7));
          expect(dw.lastKernel).toBe(backend === 'ours' ? 'sp24-mma.sp' : backend === 'library' ? 'sp24-cusparselt' : dw.lastKernel);
          expect(['sp24-mma.sp', 'sp24-cusparselt']).toContain(dw.lastKernel);
          dx.dispose();
        }
      console.log(`2:4 ${dtype}: auto at N=256 ran ${dw.lastKernel} (${dw.lastKernelNote})`);
      dw.dispose();
    }
  });
});
