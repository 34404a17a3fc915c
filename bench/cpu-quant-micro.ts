// npx tsx bench/cpu-quant-micro.ts [--threads 1] [--reps 300] [--rows 1024] [--n 1] [--isa avx2]
// [--cold] [--only a,b]: the decode kernels' compute rate with the weight warm in cache (1024x4096
// by default), the minimum over many short runs: a number that survives a loaded machine, where
// the cold bench (cpu-quant.ts) does not. Prints logical weights per ns per thread and the ratio to
// our dense bf16 kernel in the same run.
// --cold: 11008x4096 (unless --rows), each call on the next of copies totalling more than the LLC
// (256 MiB), still the minimum over reps: the cost of the weight stream, less sensitive to the
// other processes than the cold bench's medians. --only: the cases whose labels contain one of
// the comma-separated strings (dense bf16, the reference, always runs).
import { loadavg } from 'node:os';
import { SparseMatrix, Tensor, cpuInfo, linear, selectedKernel, setIsa, setNumThreads, type Isa, type Weight } from '../lib/index.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const cold = args.includes('--cold');
const threads = opt('--threads', 1), reps = opt('--reps', cold ? 40 : 300), M = opt('--rows', cold ? 11008 : 1024), K = 4096;
const isa = (args.includes('--isa') ? args[args.indexOf('--isa') + 1] : cpuInfo().isa) as Isa;
const only = args.includes('--only') ? args[args.indexOf('--only') + 1]!.split(',') : null;
setNumThreads(threads);
setIsa(isa);
const w = Tensor.randn([M, K], { seed: 11, dtype: 'float32' }).to('bfloat16');
const u = Tensor.rand([M * K], { seed: 99 }).toTypedArray() as Float32Array;
const keep70 = new Uint8Array(M * K).map((_, i) => (u[i]! >= 0.7 ? 1 : 0));
const q = (bits: 4 | 8, groupSize: number, symmetric = true) => ({ bits, groupSize, symmetric });
type Case = [label: string, make: () => Weight, act?: 'int8' | 'float32'];
const cases: Case[] = [
  ['dense bf16', () => w.clone()],
  ['nm 2:4 bf16', () => SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude' })],
  ['dense int4 g32', () => SparseMatrix.fromDense(w, { format: 'dense', quantize: q(4, 32) })],
  ['dense int4 g128', () => SparseMatrix.fromDense(w, { format: 'dense', quantize: q(4, 128) })],
  ['nm 2:4 int4 g128', () => SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', quantize: q(4, 128) })],
  ['nm 2:4 int4 g128 asym', () => SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', quantize: q(4, 128, false) })],
  ['bitmap 70% int4 g128', () => SparseMatrix.fromDense(w, { format: 'bitmap', mask: keep70, quantize: q(4, 128) })],
  ['dense int8 g128', () => SparseMatrix.fromDense(w, { format: 'dense', quantize: q(8, 128) })],
  ['nm 2:4 int8 g128', () => SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', quantize: q(8, 128) })],
];
for (const label of ['dense int4 g32', 'dense int4 g128', 'nm 2:4 int4 g128', 'bitmap 70% int4 g128'])
  cases.push([`${label} x8`, cases.find((c) => c[0] === label)![1], 'int8']);
const picked = cases.filter(([label], i) => i === 0 || !only || only.some((o) => label.includes(o)));
const bytesOf = (a: Weight) => (a instanceof SparseMatrix ? a.byteLength : a.size * 2);
const ns = args.includes('--n') ? [opt('--n', 1)] : [1, 16];
console.log(`isa ${isa}, ${threads} thread(s), ${M}x${K} ${cold ? 'cold' : 'warm'}, min of ${reps}; load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
for (const n of ns) {
  const x = Tensor.randn([n, K], { seed: n, dtype: 'bfloat16' });
  let base = 0;
  for (const [label, make, act] of picked) {
    if (act && n > 1 && !label.includes('int4')) continue;  // int8 activations at N > 1: 4-bit weights only
    const o = { activations: act ?? 'float32', out: Tensor.zeros([n, M], { dtype: 'bfloat16' }) } as const;
    const copies = [make()];
    while (cold && copies.length * bytesOf(copies[0]!) < 256 << 20) copies.push(make());
    let best = Infinity;
    for (let i = 0; i < reps + copies.length; i++) {  // one round over the copies to warm up
      const a = copies[i % copies.length]!;
      const s = process.hrtime.bigint();
      linear.sync(x, a, null, o);
      if (i >= copies.length) best = Math.min(best, Number(process.hrtime.bigint() - s));
    }
    if (!base) base = best;
    const gbs = bytesOf(copies[0]!) / best;
    console.log(`N=${String(n).padEnd(3)} ${label.padEnd(24)} ${selectedKernel(copies[0]!, n, { ...o, xDtype: 'bfloat16' }).padEnd(37)} ${(best / 1e3).toFixed(1).padStart(8)} us ${(M * K / best / threads).toFixed(2).padStart(7)} w/ns/thread ${gbs.toFixed(1).padStart(6)} GB/s ${(best / base).toFixed(3).padStart(7)} x bf16`);
    for (const c of copies) if (c instanceof SparseMatrix) c.dispose();
  }
}
