// The correctness suite against the real CUDA kernels (npm run test:gpu; also part of npm test,
// skipped loudly without a GPU). Each kernel's device result must match the fp64 reference and
// its own CPU replay (native/cuda/replay/replay.cpp): a mismatch with the replay but not with the
// reference would point at the warp model, the reverse at the device code. Tolerances follow from
// how tensor cores round (tolerance.ts: alignment and truncation, Fasi et al. 2021), not a flat
// relative epsilon.
import { describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, devices, gpuStatus, linear, spmm, type FloatDType } from '../../lib/index.js';
import { replayAddon } from '../replay-addon.js';
import { rng, valuesOf } from '../reference.js';
import { tensorCoreBound } from './tolerance.js';

const hasGpu = devices().length > 0;
if (!hasGpu) console.warn(`\n*** sparsekit: NO GPU: the GPU kernel suite (test/gpu) is SKIPPED. Reason: ${devices().reason}\n`);

function maskOf(rows: number, cols: number, density: number, seed: number): Uint8Array {
  const r = rng(seed);
  const m = new Uint8Array(rows * cols);
  for (let i = 0; i < m.length; i++) m[i] = r() < density ? 1 : 0;
  return m;
}

type Case = { format: 'tiled-csl' | 'bitmap' | 'nm' | 'dense'; kernel?: 'tiled-csl' | 'bitmap' | 'sp24'; k32?: boolean };
const CASES: Case[] = [
  { format: 'tiled-csl', kernel: 'tiled-csl' },
  { format: 'bitmap', kernel: 'bitmap' },
  { format: 'nm', kernel: 'sp24' },
  { format: 'nm', kernel: 'sp24', k32: true },  // mma.sp m16n8k32 (SPARSEKIT_SP24_K=32)
  { format: 'dense' },
];
const kernelOf = (c: Case) => (c.k32 ? 'sp24-k32' : c.kernel!);
// K columns per tensor-core instruction: mma.sp m16n8k32 covers 32.
const stepOf = (c: Case) => (c.k32 ? 32 : 16);

// Our 2:4 kernel reads SPARSEKIT_SP24_K on every product.
async function withSp24K<T>(k32: boolean | undefined, f: () => Promise<T>): Promise<T> {
  const before = process.env.SPARSEKIT_SP24_K;
  if (k32) process.env.SPARSEKIT_SP24_K = '32';
  else delete process.env.SPARSEKIT_SP24_K;
  try {
    return await f();
  } finally {
    if (before === undefined) delete process.env.SPARSEKIT_SP24_K;
    else process.env.SPARSEKIT_SP24_K = before;
  }
}

describe.skipIf(!hasGpu)('GPU kernels against the fp64 reference', () => {
  for (const c of CASES)
    for (const dtype of ['float16', 'bfloat16'] as FloatDType[])
      it(`${c.format}${c.k32 ? ' (mma.sp m16n8k32)' : ''} ${dtype}`, () => withSp24K(c.k32, async () => {
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
              const dy = await linear(dx, dw, null, { outDtype: 'float32', ...(c.kernel ? { backend: 'ours' as const } : {}) });
              const y = (await dy.to('cpu')).toTypedArray() as Float32Array;
              dw.dispose(); dx.dispose(); dy.dispose();
              const a = valuesOf(s.toDense()), b = valuesOf(x);
              const replay = c.kernel && M * K < 1e6 ? replayAddon.cudaReplay(s.desc(), x.toTypedArray() as Uint16Array, N, kernelOf(c), 0, 0) : null;
              const terms = new Float64Array(K);
              for (let n = 0; n < N; n++)
                for (let m = 0; m < M; m += M > 1000 ? 7 : 1) {
                  let want = 0;
                  for (let k = 0; k < K; k++) { terms[k] = a[m * K + k]! * b[n * K + k]!; want += terms[k]!; }
                  const tol = tensorCoreBound(terms, { step: stepOf(c) });
                  const got = y[n * M + m]!;
                  const label = `${c.format}${c.k32 ? ' k32' : ''} ${dtype} [${M}x${K}] N=${N} d=${density} y[${n},${m}]`;
                  expect(Math.abs(got - want), `${label}: ${got} vs ${want}`).toBeLessThanOrEqual(tol);
                  // The replay is the exact sum rounded per instruction: within the same bound of the device.
                  if (replay) expect(Math.abs(got - replay[n * M + m]!), `${label} vs replay`).toBeLessThanOrEqual(1.1 * tol);
                }
            }
      }));
});

// y[n][m] = sum_k a[m][k] x[n][k] (+ bias[m]) in fp64, and the tensor-core tolerance of each
// element (tolerance.ts) plus the fp32 bias addition of the epilogue.
function reference(a: Float64Array | number[], x: Float64Array | number[], M: number, K: number, N: number, bias?: number[], step = 16) {
  const want = new Float64Array(N * M), tol = new Float64Array(N * M), terms = new Float64Array(K);
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      let s = 0;
      for (let k = 0; k < K; k++) { terms[k] = a[m * K + k]! * x[n * K + k]!; s += terms[k]!; }
      const b = bias ? bias[m]! : 0;
      want[n * M + m] = s + b;
      tol[n * M + m] = tensorCoreBound(terms, { step }) + 2 ** -23 * (Math.abs(b) + Math.abs(s + b));
    }
  return { want, tol };
}

// Half an ulp of |v| in a 16-bit output (f16's subnormal spacing as the floor): the epilogue's one rounding.
function halfUlp(out: 'float32' | 'float16' | 'bfloat16', v: number): number {
  if (out === 'float32') return 0;
  const e = v === 0 ? -126 : Math.floor(Math.log2(Math.abs(v)));
  return out === 'float16' ? 2 ** (Math.max(e, -14) - 11) : 2 ** (e - 8);
}

describe.skipIf(!hasGpu)('GPU API: bias, spmm with b [K, N], 2:4 through cuSPARSELt and mma.sp', () => {
  it('linear adds the bias on the device (fp32, one rounding), for every format', async () => {
    const M = 96, K = 128, N = 5;
    const w = Tensor.randn([M, K], { seed: 11, dtype: 'float16' });
    const x = Tensor.randn([N, K], { seed: 12, dtype: 'float16' });
    const bias = Tensor.randn([M], { seed: 13, dtype: 'float32' });
    for (const format of ['bitmap', 'tiled-csl', 'nm', ...(gpuStatus().cublasLt ? ['dense' as const] : [])] as const) {
      const s = format === 'nm' ? SparseMatrix.fromDense(w, { format, n: 2, m: 4, prune: 'magnitude' }) : SparseMatrix.fromDense(w, { format });
      const dw = await s.to('cuda');
      const dx = await x.to('cuda');
      const y = (await (await linear(dx, dw, bias, { outDtype: 'float32' })).to('cpu')).toTypedArray() as Float32Array;
      const { want, tol } = reference(valuesOf(s.toDense()), valuesOf(x), M, K, N, Array.from(valuesOf(bias)));
      for (let i = 0; i < want.length; i++) expect(Math.abs(y[i]! - want[i]!), `${format} bias y[${i}]`).toBeLessThanOrEqual(tol[i]!);
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
      const { want, tol } = reference(valuesOf(w.toDense()), xt, M, K, N);
      for (let m = 0; m < M; m++)
        for (let n = 0; n < N; n++)
          expect(Math.abs(got[m * N + n]! - want[n * M + m]!), `N=${N} y[${m},${n}]`).toBeLessThanOrEqual(tol[n * M + m]!);
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
          const { want, tol } = reference(a, valuesOf(x), M, K, N);
          const want16 = Tensor.from(Float32Array.from(want), [N, M]).to(dtype).to('float32').toTypedArray() as Float32Array;
          for (let i = 0; i < want.length; i++)
            expect(Math.abs(yf[i]! - want16[i]!), `${dtype} ${backend} N=${N} y[${i}] (${dw.lastKernel})`)
              .toBeLessThanOrEqual(tol[i]! + 2 * Math.abs(want16[i]!) * (dtype === 'float16' ? 2 ** -10 : 2 ** -7));
          expect(dw.lastKernel).toBe(backend === 'ours' ? 'sp24-mma.sp' : backend === 'library' ? 'sp24-cusparselt' : dw.lastKernel);
          expect(['sp24-mma.sp', 'sp24-cusparselt']).toContain(dw.lastKernel);
          dx.dispose();
        }
      console.log(`2:4 ${dtype}: auto at N=256 ran ${dw.lastKernel} (${dw.lastKernelNote})`);
      dw.dispose();
    }
  });

  it('every weight x output dtype pair on every backend (mixed 16-bit dense output goes through fp32 + the reduce kernel)', async () => {
    const M = 128, K = 256, N = 16;
    const formats = ['tiled-csl', 'bitmap', 'nm', ...(gpuStatus().cublasLt ? ['dense'] as const : [])] as const;
    if (!gpuStatus().cublasLt) console.warn(`*** dense pairs skipped: ${gpuStatus().cublasLtReason}`);
    for (const dtype of ['float16', 'bfloat16'] as FloatDType[]) {
      const w = Tensor.randn([M, K], { seed: 41, dtype });
      const x = Tensor.randn([N, K], { seed: 42, dtype });
      const dx = await x.to('cuda');
      for (const format of formats) {
        const s = format === 'nm' ? SparseMatrix.fromDense(w, { format, n: 2, m: 4, prune: 'magnitude' }) : SparseMatrix.fromDense(w, { format });
        const dw = await s.to('cuda');
        const { want, tol } = reference(valuesOf(s.toDense()), valuesOf(x), M, K, N);
        const backends = format === 'nm' ? (gpuStatus().cusparseLt ? ['ours', 'library', 'auto'] : ['ours', 'auto'])
          : format === 'dense' ? ['library', 'auto'] : ['ours', 'auto'];
        for (const backend of backends as ('ours' | 'library' | 'auto')[])
          for (const outDtype of ['float32', 'float16', 'bfloat16'] as const) {
            const label = `${format} ${dtype} -> ${outDtype} backend ${backend}`;
            // cuSPARSELt writes only the weight's dtype (or nothing for fp32): pinned to it, other outputs are refused.
            if (format === 'nm' && backend === 'library' && outDtype !== dtype) {
              await expect(linear(dx, dw, null, { backend, outDtype }), label).rejects.toThrow(/cuSPARSELt/);
              continue;
            }
            const dy = await linear(dx, dw, null, { backend, outDtype });
            expect(dy.dtype, label).toBe(outDtype);
            const y = (await dy.to('cpu')).to('float32').toTypedArray() as Float32Array;
            dy.dispose();
            for (let i = 0; i < want.length; i++)
              expect(Math.abs(y[i]! - want[i]!), `${label} y[${i}] (${dw.lastKernel})`).toBeLessThanOrEqual(tol[i]! + 1.0001 * halfUlp(outDtype, want[i]! + tol[i]!));
          }
        dw.dispose();
      }
      dx.dispose();
    }
  });

  it('same-sign data at large K stays within the tensor-core bound (where a flat 1e-5 relative tolerance does not hold)', async () => {
    const M = 64, K = 8192, N = 8;
    const pos = (t: Tensor) => Tensor.from(Float32Array.from(valuesOf(t), Math.abs), t.shape).to('float16');
    const w = pos(Tensor.randn([M, K], { seed: 51 })), x = pos(Tensor.randn([N, K], { seed: 52 }));
    const dx = await x.to('cuda');
    let worstOld = 0;
    for (const [format, k32] of [['bitmap', false], ['tiled-csl', false], ['nm', false], ['nm', true]] as const) {
      const s = format === 'nm' ? SparseMatrix.fromDense(w, { format, n: 2, m: 4, prune: 'magnitude' }) : SparseMatrix.fromDense(w, { format });
      const { want, tol } = reference(valuesOf(s.toDense()), valuesOf(x), M, K, N, undefined, k32 ? 32 : 16);
      const dw = await s.to('cuda');
      const y = await withSp24K(k32, async () => (await (await linear(dx, dw, null, { outDtype: 'float32', backend: 'ours' })).to('cpu')).toTypedArray() as Float32Array);
      for (let i = 0; i < want.length; i++) {
        expect(Math.abs(y[i]! - want[i]!), `${format}${k32 ? ' k32' : ''} y[${i}]`).toBeLessThanOrEqual(tol[i]!);
        worstOld = Math.max(worstOld, Math.abs(y[i]! - want[i]!) / (1e-5 * want[i]!));
      }
      dw.dispose();
    }
    console.log(`same-sign K=${K}: worst error / (1e-5 * |y|) = ${worstOld.toFixed(2)} (above 1 the old tolerance would have failed)`);
    dx.dispose();
  });
});
