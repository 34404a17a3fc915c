// The int4 tensor-core kernels (spmm_q4.cu: dense on mma.sync m16n8k16, 2:4 on mma.sp m16n8k32, both
// dequantizing 4-bit codes in registers) checked without a GPU: every thread block is replayed on
// the CPU with the kernels' own index and dequantization functions (q4_index.h) and the PTX-derived
// warp model, against an fp64 product with the exactly dequantized weight (toDense()).
import { describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, type FloatDType } from '../lib/index.js';
import { replayAddon } from './replay-addon.js';
import { halfUlp16 as halfUlp, linearRef, rng, valuesOf } from './reference.js';

type Q4Kernel = 'q4-dense' | 'q4-sp24';
type OutDType = 'float32' | 'float16' | 'bfloat16';

/** LLM-like rows: normal weights, a few outlier columns, some all-zero, all-positive and all-negative rows. */
function weight(M: number, K: number, seed: number): Tensor {
  const w = Tensor.randn([M, K], { seed, dtype: 'float32' }).toTypedArray() as Float32Array;
  const r = rng(seed + 7);
  for (let m = 0; m < M; m++) {
    const kind = m % 7;
    for (let k = 0; k < K; k++) {
      const i = m * K + k;
      if (kind === 3) w[i] = 0;
      else if (kind === 4) w[i] = Math.abs(w[i]!);
      else if (kind === 5) w[i] = -Math.abs(w[i]!);
      if (k % 61 === 5) w[i] = w[i]! * 8;  // outlier channel
      if (r() < 0.02) w[i] = 0;
    }
  }
  return Tensor.from(w, [M, K]);
}

function quantized(kernel: Q4Kernel, M: number, K: number, group: number, symmetric: boolean, seed: number): SparseMatrix {
  const w = weight(M, K, seed);
  const quantize = { bits: 4 as const, groupSize: group, symmetric };
  return kernel === 'q4-sp24'
    ? SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', quantize })
    : SparseMatrix.fromDense(w, { format: 'dense', quantize });
}

interface Run { kernel: Q4Kernel; xDtype: FloatDType; N: number; splitK?: number; out?: OutDType; mutation?: number }

/** Replays the kernel and returns the first mismatch against the fp64 reference (null when all match). */
function mismatch(s: SparseMatrix, run: Run, seed: number): string | null {
  const [M, K] = s.shape;
  const { kernel, xDtype, N } = run;
  const splitK = run.splitK ?? 1, out = run.out ?? 'float32';
  const x = Tensor.randn([N, K], { seed, dtype: xDtype });
  const y = replayAddon.cudaReplay(s.desc(), x.toTypedArray() as Uint16Array, N, kernel, splitK, 0, out,
    { xDtype, mutation: run.mutation ?? 0 });
  const ref = linearRef(valuesOf(s.toDense()), valuesOf(x), M, K, N);
  // Per k32 step: the tile's fp32 rounding and the scaled FMA into the accumulator (each at most
  // 2^-24 of the running magnitude), split-K's fp32 sums, the output's one rounding.
  const steps = K / 32;
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      const want = ref.y[n * M + m]!, mag = ref.mag[n * M + m]!;
      const got = y[n * M + m]!;
      const tol = (steps + splitK + 2) * 2 ** -24 * mag + 1.0001 * halfUlp(out, want) + 1e-30;
      if (!(Math.abs(got - want) <= tol))
        return `${kernel} x ${xDtype} -> ${out} [${M}x${K}] g${s.quant!.groupSize}${s.quant!.symmetric ? '' : ' asym'} N=${N} ` +
          `splitK ${splitK}: y[${n},${m}] = ${got}, want ${want} (tol ${tol})`;
    }
  return null;
}

describe('int4 GPU kernels on the CPU model', () => {
  // K per group size: G = 32 gets a K with a half stage at the end (K % 64 == 32).
  const shapes: Record<number, [number, number][]> = {
    32: [[37, 96], [130, 160]], 64: [[37, 192], [16, 320]], 128: [[33, 384], [70, 256]], 256: [[21, 512], [64, 768]],
  };
  for (const kernel of ['q4-dense', 'q4-sp24'] as Q4Kernel[])
    for (const xDtype of ['float16', 'bfloat16'] as FloatDType[])
      it(`${kernel}, ${xDtype} activations: every group size, symmetric and zero points, N = 1..100, split-K`, () => {
        let seed = kernel === 'q4-dense' ? 10 : 2000;
        for (const group of [32, 64, 128, 256])
          for (const [M, K] of shapes[group]!)
            for (const symmetric of [true, false]) {
              const s = quantized(kernel, M, K, group, symmetric, seed++);
              for (const N of [1, 3, 8, 16, 40, 64, 100]) {
                if (M * K * N > 2e6) continue;
                const bad = mismatch(s, { kernel, xDtype, N, splitK: N % 2 ? 3 : 1 }, seed++);
                expect(bad).toBeNull();
              }
            }
      });

  it('every activation x output dtype pair: one rounding of the fp32 sum', () => {
    let seed = 4000;
    for (const kernel of ['q4-dense', 'q4-sp24'] as Q4Kernel[])
      for (const xDtype of ['float16', 'bfloat16'] as FloatDType[])
        for (const out of ['float32', 'float16', 'bfloat16'] as OutDType[]) {
          const s = quantized(kernel, 45, 192, 64, false, seed++);
          expect(mismatch(s, { kernel, xDtype, N: 9, out, splitK: 2 }, seed++)).toBeNull();
        }
  });

  it('a wrong nibble order or metadata row pairing in the GPU layout fails the replay', () => {
    // Q4Mutation 1: the two nibbles of every register swapped; 2: rows g and g + 8 swapped in the
    // 2:4 metadata. The same data with the real layout passes (above); each mutation must not.
    let seed = 6000;
    for (const kernel of ['q4-dense', 'q4-sp24'] as Q4Kernel[])
      for (const mutation of kernel === 'q4-sp24' ? [1, 2] : [1]) {
        const s = quantized(kernel, 40, 128, 32, true, seed++);
        expect(mismatch(s, { kernel, xDtype: 'float16', N: 8 }, seed)).toBeNull();
        expect(mismatch(s, { kernel, xDtype: 'float16', N: 8, mutation }, seed++)).toMatch(/want/);
      }
  });

  it('rejects what the int4 kernels cannot take, with typed errors', () => {
    const w = Tensor.randn([16, 64], { seed: 1, dtype: 'float32' });
    const x = new Uint16Array(64);
    const int8 = SparseMatrix.fromDense(w, { format: 'dense', quantize: { bits: 8, groupSize: 32 } });
    expect(() => replayAddon.cudaReplay(int8.desc(), x, 1, 'q4-dense', 1, 0)).toThrow(/int8/);
    const bitmap = SparseMatrix.fromDense(w, { format: 'bitmap', quantize: { bits: 4, groupSize: 32 } });
    expect(() => replayAddon.cudaReplay(bitmap.desc(), x, 1, 'q4-dense', 1, 0)).toThrow(/bitmap/);
    const nm = SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 8, prune: 'magnitude', quantize: { bits: 4, groupSize: 32 } });
    expect(() => replayAddon.cudaReplay(nm.desc(), x, 1, 'q4-sp24', 1, 0)).toThrow(/2:4/);
    const d = SparseMatrix.fromDense(w, { format: 'dense', quantize: { bits: 4, groupSize: 32 } });
    expect(() => replayAddon.cudaReplay(d.desc(), x, 1, 'q4-sp24', 1, 0)).toThrow(/nm/);
    expect(() => replayAddon.cudaReplay(d.desc(), x, 1, 'sp24', 1, 0)).toThrow(/float16/);
    expect(() => replayAddon.cudaReplay(d.desc(), x, 1, 'q4-dense', 1, 0, 'float32', { xDtype: 'float32' })).toThrow(/activations/);
  });
});
