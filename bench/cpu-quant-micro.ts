// npx tsx bench/cpu-quant-micro.ts [--threads 1] [--reps 300] [--rows 1024]: the decode kernels'
// compute rate with the weight warm in cache (1024x4096 by default), the minimum over many short
// runs: a number that survives a loaded machine, where the cold bench (cpu-quant.ts) does not.
// Prints logical weights per ns per thread and the ratio to our dense bf16 kernel in the same run.
import { loadavg } from 'node:os';
import { SparseMatrix, Tensor, cpuInfo, linear, selectedKernel, setIsa, setNumThreads, type Isa, type Weight } from '../lib/index.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const threads = opt('--threads', 1), reps = opt('--reps', 300), M = opt('--rows', 1024), K = 4096;
const isa = (args.includes('--isa') ? args[args.indexOf('--isa') + 1] : cpuInfo().isa) as Isa;
setNumThreads(threads);
setIsa(isa);
const w = Tensor.randn([M, K], { seed: 11, dtype: 'float32' }).to('bfloat16');
const u = Tensor.rand([M * K], { seed: 99 }).toTypedArray() as Float32Array;
const keep70 = new Uint8Array(M * K).map((_, i) => (u[i]! >= 0.7 ? 1 : 0));
const q = (bits: 4 | 8, groupSize: number, symmetric = true) => ({ bits, groupSize, symmetric });
const cases: [string, Weight, ('int8' | 'float32')?][] = [
  ['dense bf16', w],
  ['nm 2:4 bf16', SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude' })],
  ['dense int4 g32', SparseMatrix.fromDense(w, { format: 'dense', quantize: q(4, 32) })],
  ['dense int4 g128', SparseMatrix.fromDense(w, { format: 'dense', quantize: q(4, 128) })],
  ['nm 2:4 int4 g128', SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', quantize: q(4, 128) })],
  ['nm 2:4 int4 g128 asym', SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', quantize: q(4, 128, false) })],
  ['bitmap 70% int4 g128', SparseMatrix.fromDense(w, { format: 'bitmap', mask: keep70, quantize: q(4, 128) })],
  ['dense int8 g128', SparseMatrix.fromDense(w, { format: 'dense', quantize: q(8, 128) })],
];
for (const label of ['dense int4 g32', 'nm 2:4 int4 g128', 'bitmap 70% int4 g128'])
  cases.push([`${label} x8`, cases.find((c) => c[0] === label)![1], 'int8']);
const ns = args.includes('--n') ? [opt('--n', 1)] : [1, 16];
console.log(`isa ${isa}, ${threads} thread(s), ${M}x${K} warm, min of ${reps}; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
for (const n of ns) {
  const x = Tensor.randn([n, K], { seed: n, dtype: 'bfloat16' });
  let base = 0;
  for (const [label, a, act] of cases) {
    if (act && n > 1 && !label.startsWith('nm 2:4')) continue;  // int8 activations at N > 1: 2:4 only
    const o = { activations: act ?? 'float32' } as const;
    let best = Infinity;
    for (let i = 0; i < reps; i++) {
      const s = process.hrtime.bigint();
      linear.sync(x, a, null, o);
      best = Math.min(best, Number(process.hrtime.bigint() - s));
    }
    if (!base) base = best;
    console.log(`N=${String(n).padEnd(3)} ${label.padEnd(24)} ${selectedKernel(a, n, { ...o, xDtype: 'bfloat16' }).padEnd(34)} ${(best / 1e3).toFixed(1).padStart(8)} us ${(M * K / best / threads).toFixed(2).padStart(7)} w/ns/thread ${(best / base).toFixed(3).padStart(7)} x bf16`);
  }
}
