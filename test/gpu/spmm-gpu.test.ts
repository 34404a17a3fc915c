// The correctness suite against the real CUDA kernels (npm run test:gpu; also part of npm test,
// skipped loudly without a GPU). Each kernel's device result must match the fp64 reference and
// its own CPU replay (native/cuda/replay.cpp): a mismatch with the replay but not with the
// reference would point at the warp model, the reverse at the device code.
import { describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, devices, gpuStatus, linear, type FloatDType } from '../../lib/index.js';
import { native } from '../../lib/native.js';
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
              const replay = c.kernel && M * K < 1e6 ? native.cudaReplay(s.desc(), x.toTypedArray() as Uint16Array, N, c.kernel, 0, 0) : null;
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
