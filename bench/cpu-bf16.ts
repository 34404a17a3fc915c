// npx tsx bench/cpu-bf16.ts [-- --threads 2] [-- --reps 9] [-- --n 16,64] [-- --sparsity 50,70,90]:
// bf16 weights times bf16 activations at N > 4 (the vdpbf16ps kernels) on 11008x4096: dense against
// bitmap / CSR at each sparsity and 2:4, in one process, the variants interleaved within every
// repetition (so load from other processes hits them alike). Speed-up = dense time / format time
// (higher is better), median over repetitions with the min-max spread; dense also as a fraction of
// the bf16 dot-product peak (native.probeBf16DotPeak). --cpu times process CPU time instead of wall
// time (steadier when other processes load the machine; use --threads 1 then). Warm weights: N > 4 is compute-bound.
// --round: float32 activations passed with { activations: 'bfloat16' } (rounded to bf16 by the
// driver) instead of bf16 activations, each call next to the same product on the exact fp32 path
// (its time and exact / rounded printed too); --n 1,4 times the N <= 4 kernels.
// --cold: every repetition reads a different copy of each weight (copies of at least 256 MB per
// variant), so no call finds its weight in the last-level cache, as a model's batched step over
// its layers does; without it the same weight is reused (partly cached: 11008x4096 bf16 is 90 MB).
import { loadavg } from 'node:os';
import { SparseMatrix, Tensor, cpuInfo, getNumThreads, linear, selectedKernel, setNumThreads, type FloatDType, type Weight } from '../lib/index.js';
import { native } from '../lib/native.js';
import { weightCopies } from './copies.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
setNumThreads(Number(opt('--threads', '2')));
const reps = Number(opt('--reps', '9'));
const NS = opt('--n', '16,64').split(',').map(Number);
const SPARSITIES = opt('--sparsity', '50,70,90').split(',').map(Number);
// --cpu: process CPU time (all threads) instead of wall time: steadier on a loaded machine.
const cpuTime = args.includes('--cpu');
const M = Number(opt('--rows', '11008')), K = Number(opt('--cols', '4096'));
const round = args.includes('--round');
const cold = args.includes('--cold');
const callOptions = round ? { activations: 'bfloat16' as const } : {};

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const peak = native.probeBf16DotPeak(5e7, 3);
console.log(`sparsekit bf16 x bf16 N > 4 benchmark, ${M}x${K}, ${getNumThreads()} threads, isa ${cpuInfo().isa}, ` +
  `bf16 dot peak ${peak.toFixed(0)} GFLOP/s, x ${round ? "float32 with activations: 'bfloat16'" : 'bfloat16'}, ${cold ? 'cold' : 'warm'} weights, ` +
  `load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

const w = Tensor.randn([M, K], { seed: 11 }).to('bfloat16');
const u = Tensor.rand([M * K], { seed: 99 }).toTypedArray() as Float32Array;
const variants: [string, Weight][] = [['dense', w]];
for (const s of SPARSITIES) {
  const keep = new Uint8Array(M * K);
  for (let i = 0; i < u.length; i++) keep[i] = u[i]! >= s / 100 ? 1 : 0;
  variants.push([`bitmap ${s}%`, SparseMatrix.fromDense(w, { format: 'bitmap', mask: keep })]);
  variants.push([`csr ${s}%`, SparseMatrix.fromDense(w, { format: 'csr', mask: keep })]);
}
variants.push(['nm 2:4', SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude' })]);
const copies: Weight[][] = variants.map(([, a]) => (cold ? weightCopies(a, 256 * 2 ** 20) : [a]));

for (const n of NS) {
  const x = round ? Tensor.randn([n, K], { seed: n }) : Tensor.randn([n, K], { seed: n }).to('bfloat16');
  const t: number[][] = variants.map(() => []), exact: number[][] = variants.map(() => []);
  const out = Tensor.zeros([n, M], { dtype: x.dtype });  // reused, as a server keeps one per layer
  const time = (f: () => void) => {
    const s = process.hrtime.bigint(), c = process.cpuUsage();
    f();
    const cpu = process.cpuUsage(c);
    return cpuTime ? (cpu.user + cpu.system) / 1e3 : Number(process.hrtime.bigint() - s) / 1e6;
  };
  for (let r = 0; r < reps + 1; r++) {
    variants.forEach((_, i) => {
      const a = copies[i]![r % copies[i]!.length]!;
      const ms = time(() => linear.sync(x, a, null, { ...callOptions, out }));
      const ex = round ? time(() => linear.sync(x, a, null, { out })) : 0;
      if (r > 0) {
        t[i]!.push(ms);
        exact[i]!.push(ex);
      }
    });
  }
  const d = median(t[0]!);
  console.log(`\nN = ${n}: dense ${d.toFixed(2)} ms = ${peak ? ((2 * M * K * n) / (d * 1e-3) / 1e9 / peak).toFixed(2) : '?'} of the bf16 dot peak`);
  variants.forEach(([label, a], i) => {
    const ratios = t[i]!.map((v, r) => t[0]![r]! / v);
    console.log(`  ${label.padEnd(12)} ${selectedKernel(a, n, { xDtype: x.dtype as FloatDType, ...callOptions }).padEnd(40)} ${median(t[i]!).toFixed(2).padStart(7)} ms` +
      `  speed-up ${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})` +
      (round ? `  | exact fp32 ${median(exact[i]!).toFixed(2)} ms (${selectedKernel(a, n)}), exact / rounded ` +
        `${median(exact[i]!.map((v, r) => v / t[i]![r]!)).toFixed(2)}` : ''));
  });
}
console.log(`\nload after ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
