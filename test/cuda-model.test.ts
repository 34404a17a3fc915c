// The CUDA kernels checked without a GPU: the test-only addon replays every thread block of each
// kernel on the CPU (native/cuda/replay/) with the kernels' own index functions and a PTX-derived
// model of ldmatrix / mma.sync / mma.sp, and the result must match an fp64 reference computed here.
// native/test/cuda_model_test.cpp (ctest) covers more shapes and the model itself.
import { describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, type FloatDType } from '../lib/index.js';
import { replayAddon } from './replay-addon.js';
import { halfUlp16 as halfUlp, linearRef, rng, valuesOf } from './reference.js';

type Kernel = 'tiled-csl' | 'bitmap' | 'sp24' | 'sp24-k32';
type OutDType = 'float32' | 'float16' | 'bfloat16';


function maskOf(rows: number, cols: number, density: number, seed: number): Uint8Array {
  const r = rng(seed);
  const m = new Uint8Array(rows * cols);
  for (let i = 0; i < m.length; i++) m[i] = r() < density ? 1 : 0;
  return m;
}

function check(kernel: Kernel, dtype: FloatDType, M: number, K: number, N: number, density: number, splitK: number, seed: number,
  outDtype: OutDType = 'float32') {
  const w = Tensor.randn([M, K], { seed, dtype });
  const x = Tensor.randn([N, K], { seed: seed + 1, dtype });
  const mask = maskOf(M, K, density, seed + 2);
  const s = kernel.startsWith('sp24')
    ? SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', mask })
    : SparseMatrix.fromDense(w, { format: kernel as 'tiled-csl' | 'bitmap', mask });
  const y = replayAddon.cudaReplay(s.desc(), x.toTypedArray() as Uint16Array, N, kernel, splitK, 0, outDtype);
  const representable = outDtype === 'float32' ? y : Tensor.from(y, [N, M]).to(outDtype).to('float32').toTypedArray() as Float32Array;
  const ref = linearRef(valuesOf(s.toDense()), valuesOf(x), M, K, N);
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      const want = ref.y[n * M + m]!, mag = ref.mag[n * M + m]!;
      const got = y[n * M + m]!;
      if (!(Math.abs(got - want) <= 1e-6 * mag * (splitK + 1) + 1.0001 * halfUlp(outDtype, want) + 1e-30) || representable[n * M + m] !== got)
        throw new Error(`${kernel} ${dtype}->${outDtype} [${M}x${K}] N=${N} density ${density} splitK ${splitK}: y[${n},${m}] = ${got}, want ${want}`);
    }
}

describe('CUDA kernels on the CPU model', () => {
  const shapes: [number, number][] = [[130, 70], [37, 200], [256, 128]];
  for (const kernel of ['tiled-csl', 'bitmap', 'sp24', 'sp24-k32'] as Kernel[]) {
    for (const dtype of ['float16', 'bfloat16'] as FloatDType[]) {
      it(`${kernel} ${dtype}: odd shapes, N = 1/8/16/40, dense to very sparse, split-K`, () => {
        let seed = 100;
        for (const [M, K] of shapes)
          for (const N of [1, 8, 16, 40])
            for (const density of kernel.startsWith('sp24') ? [1, 0.6] : [1, 0.6, 0.25, 0.05])
              check(kernel, dtype, M, K, N, density, density === 0.6 ? 2 : 1, seed++);
      });
    }
  }

  it('split-K over a stage count the splits do not divide: the last split keeps the tail stages', () => {
    // K = 443 is 7 stages of 64 (14 of 32, 28 of 16): 3 splits leave a remainder whatever the width.
    let seed = 900;
    for (const kernel of ['tiled-csl', 'bitmap', 'sp24', 'sp24-k32'] as Kernel[])
      for (const dtype of ['float16', 'bfloat16'] as FloatDType[]) check(kernel, dtype, 40, 443, 8, 0.6, 3, seed++);
  });

  it('every weight x output dtype pair on every kernel: one rounding of the fp32 sum', () => {
    let seed = 500;
    for (const kernel of ['tiled-csl', 'bitmap', 'sp24', 'sp24-k32'] as Kernel[])
      for (const dtype of ['float16', 'bfloat16'] as FloatDType[])
        for (const out of ['float32', 'float16', 'bfloat16'] as OutDType[]) {
          check(kernel, dtype, 130, 70, 8, 0.6, 1, seed++, out);
          check(kernel, dtype, 37, 200, 40, 0.6, 2, seed++, out);
        }
  });

  it('tiled-csl handles 128x64 tiles over 50% dense (Flash-LLM would drop values)', () => {
    // A fully dense tile holds 8192 words: two register rounds in the kernel.
    check('tiled-csl', 'float16', 128, 64, 8, 1, 1, 7);
    check('tiled-csl', 'bfloat16', 256, 192, 16, 0.55, 1, 8);
  });

  it('rejects what the kernels cannot take, with typed errors', () => {
    const w = Tensor.randn([16, 16], { seed: 1, dtype: 'float32' });
    const s = SparseMatrix.fromDense(w, { format: 'bitmap' });
    const x = new Uint16Array(16);
    expect(() => replayAddon.cudaReplay(s.desc(), x, 1, 'bitmap', 1, 0)).toThrow(/float16|bfloat16/);
    const h = SparseMatrix.fromDense(w.to('float16'), { format: 'bitmap' });
    expect(() => replayAddon.cudaReplay(h.desc(), x, 1, 'tiled-csl', 1, 0)).toThrow(/tiled-csl/);
    expect(() => replayAddon.cudaReplay(h.desc(), x, 1, 'bitmap', 1, 12)).toThrow(/bn/);
  });
});
