// SLoRB's term on a real GPU (npm run test:gpu; skipped loudly without one): a weight with a term
// uploaded with matrix.to('cuda') runs linear / spmm with the term added on the device, for every
// format's kernel (cuBLASLt dense and int4 included) and every S dtype, against the fp64 layer
// (test/slorb-ref.ts) and against the CPU replay of the same launch sequence
// (test/slorb-gpu-replay.test.ts runs that replay everywhere).
import { describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, devices, gpuStatus, linear, slorb, spmm, type FloatDType } from '../../lib/index.js';
import { slorbTermArgs, type SlorbTerm } from '../../lib/slorb.js';
import { replayAddon } from '../replay-addon.js';
import { halfUlp16, rng, valuesOf } from '../reference.js';
import { linearRef } from '../slorb-ref.js';
import { tensorCoreBound } from './tolerance.js';

const hasGpu = devices().length > 0;
if (!hasGpu) console.warn(`\n*** sparsekit: NO GPU: the SLoRB GPU tests (test/gpu/slorb-gpu.test.ts) are SKIPPED. Reason: ${devices().reason}\n`);

type Kind = FloatDType | 'int8' | 'projection';
function termOf(M: number, K: number, k: number, kind: Kind, seed: number): SlorbTerm {
  const s = Tensor.from((Tensor.randn([M, K / k], { seed }).toTypedArray() as Float32Array).map((v) => v / k), [M, K / k]);
  if (kind === 'int8') return { ...slorb.quantize(s, { scaleDtype: 'bfloat16' }), groupSize: k };
  if (kind === 'projection') return { scales: s, groupSize: k, projection: slorb.projection(K, k, { init: 'xavier', seed }) };
  return { scales: s.to(kind), groupSize: k };
}
function dequant(t: SlorbTerm): Float64Array {
  const s = valuesOf(t.scales);
  if (!t.rowScales) return s;
  const rs = valuesOf(t.rowScales), G = t.scales.shape[1]!;
  return s.map((v, i) => v * rs[Math.floor(i / G)]!);
}

type Format = 'bitmap' | 'tiled-csl' | 'nm' | 'dense' | 'int4-dense' | 'int4-nm';
function weightOf(format: Format, w: Tensor, mask: Uint8Array, term: SlorbTerm): SparseMatrix {
  switch (format) {
    case 'nm': return SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', slorb: term });
    case 'int4-dense': return SparseMatrix.fromDense(w.to('float32'), { format: 'dense', quantize: { bits: 4, groupSize: 64 }, slorb: term });
    case 'int4-nm': return SparseMatrix.fromDense(w.to('float32'), { format: 'nm', n: 2, m: 4, prune: 'magnitude', quantize: { bits: 4, groupSize: 64 }, slorb: term });
    case 'dense': return SparseMatrix.fromDense(w, { format: 'dense', slorb: term });
    default: return SparseMatrix.fromDense(w, { format, mask, slorb: term });
  }
}
const replayKernel = (f: Format) => ({ bitmap: 'bitmap', 'tiled-csl': 'tiled-csl', nm: 'sp24', 'int4-dense': 'q4-dense', 'int4-nm': 'q4-sp24', dense: null } as const)[f];

describe.skipIf(!hasGpu)('SLoRB on the GPU against the fp64 layer and the replay', () => {
  const formats: Format[] = ['bitmap', 'tiled-csl', 'nm', 'int4-dense', 'int4-nm', ...(gpuStatus().cublasLt ? ['dense' as const] : [])];
  for (const format of formats)
    it(`${format}: every S dtype, N = 1, 7, 16, linear and spmm`, async () => {
      let seed = 1;
      for (const [M, K, k] of [[70, 256, 16], [4096, 4096, 16], [37, 192, 64]] as [number, number, number][])
        for (const kind of ['float32', 'float16', 'bfloat16', 'int8', 'projection'] as Kind[])
          for (const N of [1, 7, 16]) {
            if (M * K > 1e6 && (N !== 1 || kind === 'projection')) continue;
            const dtype: FloatDType = seed % 2 ? 'float16' : 'bfloat16';
            const out = (['float32', 'float16', 'bfloat16'] as const)[seed % 3]!;
            const term = termOf(M, K, k, kind, seed++);
            const w = Tensor.randn([M, K], { seed: seed++, dtype });
            const r = rng(seed++);
            const s = weightOf(format, w, Uint8Array.from({ length: M * K }, () => (r() < 0.4 ? 1 : 0)), term);
            const x = Tensor.randn([N, K], { seed: seed++, dtype });
            const dw = await s.to('cuda');
            expect(dw.slorb).toMatchObject({ groupSize: k, projection: kind === 'projection', rowScales: kind === 'int8' });
            const dx = await x.to('cuda');
            const spmmLayout = seed % 2 === 0;
            const xt = spmmLayout ? await Tensor.from(transposed(x, N, K), [K, N], { dtype }).to('cuda') : null;
            const dy = spmmLayout ? await spmm(dw, xt!, { outDtype: out }) : await linear(dx, dw, null, { outDtype: out });
            const y = valuesOf(await dy.to('cpu'));
            expect(dw.lastKernelNote).toContain('SLoRB term');
            dw.dispose(); dx.dispose(); dy.dispose(); xt?.dispose();
            const a = valuesOf(s.toDense()), b = valuesOf(x);
            const ref = linearRef(a, dequant(term), term.projection ? valuesOf(term.projection) : null, b, M, K, N, k, null, dtype);
            const rk = replayKernel(format);
            const replay = rk && M * K < 1e6 ? replayAddon.cudaReplay(s.desc(), x.toTypedArray() as Uint16Array, N, rk, 0, 0, out,
              { xDtype: dtype, slorb: slorbTermArgs(term) }) : null;
            const terms = new Float64Array(K);
            for (let n = 0; n < N; n++)
              for (let m = 0; m < M; m += M > 1000 ? 7 : 1) {
                for (let j = 0; j < K; j++) terms[j] = a[m * K + j]! * b[n * K + j]!;
                const want = ref.y[n * M + m]!;
                const tol = tensorCoreBound(terms, { step: format.endsWith('nm') ? 32 : 16 }) +
                  (K + 16) * 2 ** -24 * ref.mag[n * M + m]! + 1.0001 * halfUlp16(out, want);
                const got = spmmLayout ? y[m * N + n]! : y[n * M + m]!;
                const label = `${format} ${dtype} S ${kind} -> ${out} [${M}x${K}] k=${k} N=${N} y[${n},${m}]`;
                expect(Math.abs(got - want), `${label}: ${got} vs ${want}`).toBeLessThanOrEqual(tol);
                if (replay) expect(Math.abs(got - replay[n * M + m]!), `${label} vs replay`).toBeLessThanOrEqual(1.1 * tol);
              }
          }
    });

  it('counts the term in the device bytes, frees it with the weight, keeps 2:4 off cuSPARSELt', async () => {
    const w = Tensor.randn([256, 512], { seed: 5, dtype: 'float16' });
    const term = termOf(256, 512, 16, 'bfloat16', 6);
    const plain = await SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude' }).to('cuda');
    const withTerm = await SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', slorb: term }).to('cuda');
    // A weight with a term keeps no cuSPARSELt copy (it never runs there): without cuSPARSELt the
    // two differ by S's bytes exactly.
    if (!gpuStatus().cusparseLt) expect(withTerm.deviceBytes).toBe(plain.deviceBytes + term.scales.byteLength);
    else expect(withTerm.deviceBytes).toBeLessThan(plain.deviceBytes + term.scales.byteLength);
    expect(withTerm.selectedKernel(64).kernel).toBe('sp24-mma.sp');
    expect(withTerm.selectedKernel(64).note).toMatch(/SLoRB term/);
    const x = await Tensor.randn([64, 512], { seed: 7, dtype: 'float16' }).to('cuda');
    await expect(linear(x, withTerm, null, { backend: 'library' })).rejects.toMatchObject({ code: 'ERR_DEVICE' });
    plain.dispose(); withTerm.dispose(); x.dispose();
    expect(withTerm.disposed).toBe(true);
  });
});

function transposed(x: Tensor, N: number, K: number): Float32Array {
  const v = valuesOf(x), t = new Float32Array(N * K);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) t[k * N + n] = v[n * K + k]!;
  return t;
}
