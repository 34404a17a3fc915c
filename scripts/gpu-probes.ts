// gpu:first-run's hardware probes (prints one JSON object): which reading of the 2:4 metadata
// figure the tensor cores follow (SPARSEKIT_SP24_META_PAIRING 0 = ours, 1 = halves swapped, 2 =
// one byte per group), with mma.sp m16n8k16 and m16n8k32; and which of two equivalent cuSPARSELt
// descriptions of the activations it accepts and gets right (SPARSEKIT_LT_B_ORDER row / col).
// Each case runs one product of a 2:4 weight against the fp64 reference and the tensor-core bound.
import { SparseMatrix, Tensor, devices, gpuStatus, linear, type FloatDType } from '../lib/index.js';
import { tensorCoreBound } from '../test/gpu/tolerance.js';
import { valuesOf } from '../test/reference.js';

type Probe = { name: string; env: Record<string, string>; backend: 'ours' | 'library'; dtype: FloatDType; step: number };

async function runProbe(p: Probe) {
  const M = 128, K = 256, N = 16;
  for (const [k, v] of Object.entries(p.env)) process.env[k] = v;
  const t0 = performance.now();
  try {
    const s = SparseMatrix.fromDense(Tensor.randn([M, K], { seed: 61, dtype: p.dtype }), { format: 'nm', n: 2, m: 4, prune: 'magnitude' });
    const x = Tensor.randn([N, K], { seed: 62, dtype: p.dtype });
    const dw = await s.to('cuda');  // the metadata pairing is read at upload
    const dx = await x.to('cuda');
    const dy = await linear(dx, dw, null, { backend: p.backend, outDtype: p.backend === 'library' ? p.dtype : 'float32' });
    const y = (await dy.to('cpu')).to('float32').toTypedArray() as Float32Array;
    const kernel = dw.lastKernel, note = dw.lastKernelNote;
    dw.dispose(); dx.dispose(); dy.dispose();
    const a = valuesOf(s.toDense()), b = valuesOf(x);
    let worst = 0, bad = 0;
    const terms = new Float64Array(K);
    for (let n = 0; n < N; n++)
      for (let m = 0; m < M; m++) {
        let want = 0;
        for (let k = 0; k < K; k++) { terms[k] = a[m * K + k]! * b[n * K + k]!; want += terms[k]!; }
        // A 16-bit output (cuSPARSELt) adds one rounding: half an ulp, 2^-9 relative for bf16.
        const tol = tensorCoreBound(terms, { step: p.step }) + (p.backend === 'library' ? Math.abs(want) * 2 ** -8 : 0);
        const err = Math.abs(y[n * M + m]! - want);
        worst = Math.max(worst, err / tol);
        if (!(err <= tol)) bad++;
      }
    return { ...p, ok: bad === 0, wrongOutputs: bad, worstErrorOverTolerance: worst, kernel, note, ms: performance.now() - t0 };
  } catch (e) {
    return { ...p, ok: false, error: (e as Error).message, ms: performance.now() - t0 };
  } finally {
    for (const k of Object.keys(p.env)) delete process.env[k];
  }
}

const out: Record<string, unknown> = { devices: devices(), reason: devices().reason, status: gpuStatus() };
if (devices().length > 0) {
  const probes: Probe[] = [];
  for (const pairing of ['0', '1', '2'])
    for (const k32 of [false, true])
      probes.push({ name: `2:4 metadata pairing ${pairing}${pairing === '0' ? ' (ours)' : ''}, mma.sp m16n8k${k32 ? 32 : 16}`,
        env: { SPARSEKIT_SP24_META_PAIRING: pairing, ...(k32 ? { SPARSEKIT_SP24_K: '32' } : {}) }, backend: 'ours', dtype: 'float16', step: k32 ? 32 : 16 });
  if (gpuStatus().cusparseLt)
    for (const order of ['row', 'col'])
      for (const dtype of ['float16', 'bfloat16'] as FloatDType[])
        probes.push({ name: `cuSPARSELt x as ${order === 'row' ? 'row-major N x K, op T (ours)' : 'column-major K x N, op N'}, ${dtype}`,
          env: { SPARSEKIT_LT_B_ORDER: order }, backend: 'library', dtype, step: 16 });
  const results = [];
  for (const p of probes) results.push(await runProbe(p));
  out.probes = results;
  out.cusparseLtAbsent = gpuStatus().cusparseLt ? null : gpuStatus().cusparseLtReason;
}
console.log(JSON.stringify(out));
