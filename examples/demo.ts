// npm run demo: packs a 4096x4096 bfloat16 weight at 50%, 2:4 and 90% sparsity in every format,
// prints the sizes, and checks spmm on each against the dense product of the same pruned weight;
// then a checkpoint through the CLI's code path, and a whole tiny Llama pruned block by block.
import { SparseMatrix, Tensor, cpuInfo, spmm, type Format } from '../lib/index.js';
import { checkpointDemo } from './demo-checkpoint.js';
import { modelDemo } from './demo-model.js';

const M = 4096, K = 4096, N = 8;

function fmtBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

function maxRelErr(got: Float32Array, want: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    num = Math.max(num, Math.abs(got[i]! - want[i]!));
    den = Math.max(den, Math.abs(want[i]!));
  }
  return den === 0 ? num : num / den;
}

async function timeIt<T>(fn: () => Promise<T>, reps = 5): Promise<{ ms: number; out: T }> {
  // Two warm-up calls (first calls fault in the kernels' per-thread buffers), then the best of reps.
  let out = await fn();
  out = await fn();
  let ms = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    out = await fn();
    ms = Math.min(ms, performance.now() - t0);
  }
  return { ms, out };
}

async function main() {
  const info = cpuInfo();
  console.log(`sparsekit demo: weight [${M}, ${K}] bfloat16, activations [${K}, ${N}], ISA ${info.isa}, ${info.threads} threads\n`);
  const w = Tensor.randn([M, K], { seed: 1, dtype: 'bfloat16' });
  const x = Tensor.randn([K, N], { seed: 2, dtype: 'bfloat16' });
  const u = Tensor.rand([M, K], { seed: 3 }).toFloat32Array();

  const cases: { name: string; formats: Format[]; build: (f: Format) => Promise<SparseMatrix> }[] = [
    {
      name: '50% unstructured',
      formats: ['bitmap', 'csr', 'tiled-csl'],
      build: (format) => SparseMatrix.fromDenseAsync(w, { format, mask: Uint8Array.from(u, (v) => (v >= 0.5 ? 1 : 0)) }),
    },
    {
      name: '2:4 (magnitude)',
      formats: ['nm', 'bitmap', 'csr'],
      build: async (format) => {
        const nm = await SparseMatrix.fromDenseAsync(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude' });
        return format === 'nm' ? nm : SparseMatrix.fromDenseAsync(await nm.toDenseAsync(), { format });
      },
    },
    {
      name: '90% unstructured',
      formats: ['bitmap', 'csr', 'tiled-csl'],
      build: (format) => SparseMatrix.fromDenseAsync(w, { format, mask: Uint8Array.from(u, (v) => (v >= 0.9 ? 1 : 0)) }),
    },
  ];

  const denseBytes = M * K * 2;
  let ok = true;
  for (const c of cases) {
    console.log(`== ${c.name}`);
    let reference: { dense: Tensor; y: Float32Array; ms: number } | null = null;
    for (const format of c.formats) {
      const a = await c.build(format);
      if (!reference) {
        const dense = await a.toDenseAsync();
        const r = await timeIt(() => spmm(dense, x, { outDtype: 'float32' }));
        reference = { dense, y: r.out.toTypedArray() as Float32Array, ms: r.ms };
        console.log(`  ${'dense'.padEnd(10)} ${fmtBytes(denseBytes).padStart(10)}  ${'2.000'.padStart(6)} B/elem  spmm ${r.ms.toFixed(1).padStart(7)} ms`);
      }
      const r = await timeIt(() => spmm(a, x, { outDtype: 'float32' }));
      const err = maxRelErr(r.out.toTypedArray() as Float32Array, reference.y);
      ok &&= err < 1e-5;
      console.log(`  ${format.padEnd(10)} ${fmtBytes(a.byteLength).padStart(10)}  ${a.bytesPerElement.toFixed(3).padStart(6)} B/elem  spmm ${r.ms.toFixed(1).padStart(7)} ms` +
        `  (speed-up ${(reference.ms / r.ms).toFixed(2)}x = dense time / this)  density ${a.density.toFixed(3)}  max rel err vs dense ${err.toExponential(1)}`);
    }
    console.log('');
  }
  console.log(ok ? 'All sparse products match the dense product.' : 'MISMATCH: a sparse product differs from dense.');
  console.log('');
  // Part 2 (examples/demo-checkpoint.ts): a checkpoint through sparsekit prune / pack / load.
  ok = (await checkpointDemo()) && ok;
  console.log('');
  // Part 3 (examples/demo-model.ts): a whole (tiny, trained) Llama pruned block by block.
  ok = (await modelDemo()) && ok;
  if (!ok) process.exitCode = 1;
}

await main();
