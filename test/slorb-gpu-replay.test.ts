// SLoRB's term on the GPU, checked without a GPU: the launcher's whole sequence for a weight with
// a term (launcher.cu run_nk: the format's kernel into the fp32 partial, split-K included, then
// slorb_group_sums or the projection kernel and slorb_add into split 0's partial, then the
// reduction with the bias and the one rounding) replayed on the CPU thread by thread
// (native/cuda/replay/: replay.cpp + replay_slorb.cpp), against the float64 reference of the
// layer (test/slorb-ref.ts linearRef). Every GPU kernel (tiled-csl, bitmap, 2:4 k16 / k32, int4
// dense / 2:4), every S dtype (float32/16, bfloat16, int8 with float32/bfloat16 row scales), a
// general P, odd shapes, N = 1 and N > 1, split-K 1 and 3, every output dtype.
import { describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, slorb, type FloatDType } from '../lib/index.js';
import { slorbTermArgs, type SlorbTerm } from '../lib/slorb.js';
import { replayAddon } from './replay-addon.js';
import { halfUlp16, rng, valuesOf } from './reference.js';
import { linearRef } from './slorb-ref.js';

type Kernel = 'tiled-csl' | 'bitmap' | 'sp24' | 'sp24-k32' | 'q4-dense' | 'q4-sp24';
type OutDType = 'float32' | 'float16' | 'bfloat16';
type SKind = FloatDType | 'int8/float32' | 'int8/bfloat16' | 'projection';

function termOf(M: number, K: number, k: number, kind: SKind, seed: number): SlorbTerm {
  const S = Tensor.randn([M, K / k], { seed }).toTypedArray() as Float32Array;
  const s = Tensor.from(S.map((v) => v / k), [M, K / k]);  // the size of a 'mean' init's entries
  if (kind === 'projection')
    return { scales: s.to('bfloat16'), groupSize: k, projection: slorb.projection(K, k, { init: 'xavier', seed: seed + 1 }).to('float16') };
  if (kind.startsWith('int8')) return { ...slorb.quantize(s, { scaleDtype: kind.slice(5) as FloatDType }), groupSize: k };
  return { scales: s.to(kind as FloatDType), groupSize: k };
}

function weightOf(kernel: Kernel, M: number, K: number, dtype: FloatDType, seed: number, term: SlorbTerm): SparseMatrix {
  const w = Tensor.randn([M, K], { seed, dtype });
  const r = rng(seed + 3);
  const mask = Uint8Array.from({ length: M * K }, () => (r() < 0.45 ? 1 : 0));
  switch (kernel) {
    case 'tiled-csl': return SparseMatrix.fromDense(w, { format: 'tiled-csl', mask, slorb: term });
    case 'bitmap': return SparseMatrix.fromDense(w, { format: 'bitmap', mask, slorb: term });
    case 'sp24': case 'sp24-k32': return SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', slorb: term });
    case 'q4-dense': return SparseMatrix.fromDense(w.to('float32'), { format: 'dense', quantize: { bits: 4, groupSize: 32 }, slorb: term });
    case 'q4-sp24':
      return SparseMatrix.fromDense(w.to('float32'), { format: 'nm', n: 2, m: 4, prune: 'magnitude', quantize: { bits: 4, groupSize: 32, symmetric: false }, slorb: term });
  }
}

/** S as the kernels use it: float values, or int8 codes times their row scale. */
function dequant(t: SlorbTerm): Float64Array {
  const s = valuesOf(t.scales);
  if (!t.rowScales) return s;
  const rs = valuesOf(t.rowScales), G = t.scales.shape[1]!;
  return s.map((v, i) => v * rs[Math.floor(i / G)]!);
}

interface Run { kernel: Kernel; dtype: FloatDType; kind: SKind; M: number; K: number; k: number; N: number; splitK: number; out: OutDType; bias?: boolean }

/** Replays the launch sequence; the first element off the fp64 layer, or null. */
function mismatch(run: Run, seed: number, options: { dropTerm?: boolean } = {}): string | null {
  const { kernel, dtype, kind, M, K, k, N, splitK, out } = run;
  const term = termOf(M, K, k, kind, seed);
  const w = weightOf(kernel, M, K, dtype, seed + 1, term);
  const x = Tensor.randn([N, K], { seed: seed + 2, dtype });
  const bias = run.bias ? Tensor.randn([M], { seed: seed + 4, dtype: 'bfloat16' }) : null;
  const y = replayAddon.cudaReplay(w.desc(), x.toTypedArray() as Uint16Array, N, kernel, splitK, 0, out, {
    xDtype: dtype, slorb: options.dropTerm ? null : slorbTermArgs(term), ...(bias ? { bias: bias.toTypedArray(), biasDtype: 'bfloat16' as const } : {}),
  });
  const ref = linearRef(valuesOf(w.toDense()), dequant(term), term.projection ? valuesOf(term.projection) : null, valuesOf(x), M, K, N, k,
    bias ? valuesOf(bias) : null, dtype);
  // fp32 rounding steps per output: one per mma instruction (K/16), the group sums (k) or the
  // projection's dot (K), the row dot (G/32 lane terms + 5 butterfly steps), split-K's sums, the
  // bias; then the output's one rounding.
  const steps = K / 16 + (term.projection ? K : k) + K / k + splitK + 8;
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      const want = ref.y[n * M + m]!, got = y[n * M + m]!;
      const tol = steps * 2 ** -24 * ref.mag[n * M + m]! + 1.0001 * halfUlp16(out, want) + 1e-30;
      if (!(Math.abs(got - want) <= tol))
        return `${kernel} ${dtype} S ${kind} -> ${out} [${M}x${K}] k=${k} N=${N} splitK ${splitK}${run.bias ? ' bias' : ''}: ` +
          `y[${n},${m}] = ${got}, want ${want} (tol ${tol})`;
    }
  return null;
}

const KERNELS: Kernel[] = ['tiled-csl', 'bitmap', 'sp24', 'sp24-k32', 'q4-dense', 'q4-sp24'];
const KINDS: SKind[] = ['float32', 'float16', 'bfloat16', 'int8/float32', 'int8/bfloat16', 'projection'];

describe('SLoRB on the GPU: the launch sequence replayed against the fp64 layer', () => {
  for (const kernel of KERNELS)
    it(`${kernel}: every S dtype and a general P, N = 1 and N > 1, split-K, every output dtype`, () => {
      let seed = 100;
      const q4 = kernel.startsWith('q4');
      // [M, K, k]: odd rows, G = 37 (a lane tail in slorb_add), G = 1, k = 16 at 4 stages.
      const shapes: [number, number, number][] = q4 ? [[37, 128, 16], [21, 96, 32], [18, 64, 64]] : [[37, 111, 3], [21, 96, 96], [70, 256, 16]];
      for (const [M, K, k] of shapes)
        for (const kind of KINDS)
          for (const N of [1, 5]) {
            const dtype: FloatDType = seed % 2 ? 'float16' : 'bfloat16';
            const out: OutDType = (['float32', 'float16', 'bfloat16'] as const)[seed % 3]!;
            const splitK = N === 1 ? 1 : 3;
            const bad = mismatch({ kernel, dtype, kind, M, K, k, N, splitK, out, bias: seed % 4 === 0 }, seed++);
            expect(bad).toBeNull();
          }
    });

  it('fails when the term is left out (the check can fail)', () => {
    const run: Run = { kernel: 'bitmap', dtype: 'float16', kind: 'bfloat16', M: 21, K: 96, k: 16, N: 2, splitK: 1, out: 'float32' };
    expect(mismatch(run, 7)).toBeNull();
    expect(mismatch(run, 7, { dropTerm: true })).toMatch(/bitmap float16 S bfloat16/);
  });

  it('rejects a term whose buffers do not match the weight', () => {
    const term = termOf(21, 96, 16, 'float32', 1);
    const w = weightOf('bitmap', 21, 96, 'float16', 2, term);
    const x = new Uint16Array(96);
    const args = slorbTermArgs(term);
    expect(() => replayAddon.cudaReplay(w.desc(), x, 1, 'bitmap', 1, 0, 'float32', { slorb: { ...args, groupSize: 7 } }))
      .toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => replayAddon.cudaReplay(w.desc(), x, 1, 'bitmap', 1, 0, 'float32', { slorb: { ...args, scales: args.scales.subarray(1) } }))
      .toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => replayAddon.cudaReplay(w.desc(), x, 1, 'bitmap', 1, 0, 'float32', { slorb: { ...args, rowScales: new Float32Array(21) } }))
      .toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }));
  });
});
