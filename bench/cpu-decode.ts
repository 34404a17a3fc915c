// npx tsx bench/cpu-decode.ts [-- --threads 2] [-- --passes 7] [-- --cold-mb 1024] [-- --n 1] [-- --warm-rounds 15] [-- --no-cold] [-- --dtype bfloat16] [-- --x-dtype float32]:
// decode-step products (N <= 8) on 11008x4096: dense against bitmap 50 / 70 / 90% and 2:4, the same
// weights and activations as bench/cpu.ts (bf16 weights and activations: the vdpbf16ps kernels on
// AVX512-BF16), in one process. --x-dtype gives the activations another dtype than the weights
// (float32 x with bf16 weights: the exact fp32 path).
// - cold: every call reads a different copy of the weight, rotating through --cold-mb MB of copies;
//   a pass times each call of one sweep over the copies and keeps its median call; the passes of
//   each format alternate with passes of dense (speed-up = dense time / format time, per pair, median
//   and min-max over the pairs); dense also as a fraction of the read-bandwidth probe.
// - warm, one thread: the same formats on the first 1376 rows (an eighth: 11 MB dense, in L3), the
//   minimum call over --warm-rounds rounds of 5 calls per format, the formats interleaved in each
//   round; wall and CPU time (the CPU time is steadier on a loaded machine), and per 32-column
//   chunk and row.
import { loadavg } from 'node:os';
import { SparseMatrix, Tensor, cpuInfo, formatBytes, linear, selectedKernel, setNumThreads, type FloatDType, type Weight } from '../lib/index.js';
import { native } from '../lib/native.js';
import { weightCopies } from './copies.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : dflt);
const threads = Number(opt('--threads', '2'));
const passes = Number(opt('--passes', '7'));
const coldBytes = Number(opt('--cold-mb', '1024')) * 2 ** 20;
const NS = opt('--n', '1').split(',').map(Number);
const warmRounds = Number(opt('--warm-rounds', '15'));
const cold = !args.includes('--no-cold');
const dtype = opt('--dtype', 'bfloat16') as FloatDType;
const xDtype = opt('--x-dtype', dtype) as FloatDType;
const M = 11008, K = 4096;

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const fx = (v: number, d = 3) => v.toFixed(d);

setNumThreads(threads);
console.log(`sparsekit decode benchmark, ${M}x${K} ${dtype} weights, ${xDtype} activations, ${threads} threads, isa ${cpuInfo().isa}, ` +
  `load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const bandwidth = Math.max(native.probeReadBandwidth(1 << 30, 3), native.probeReadBandwidth(1 << 30, 3));
console.log(`read bandwidth probe ${fx(bandwidth, 1)} GB/s; cold: rotating through ${(coldBytes / 2 ** 20).toFixed(0)} MB of copies, ${passes} passes per format\n`);

// The weights of bench/cpu.ts (same seeds).
const base = Tensor.randn([M, K], { seed: M * 7 + K, dtype: 'float32' });
const w = dtype === 'float32' ? base : base.to(dtype);
const u = Tensor.rand([M * K], { seed: 99 }).toTypedArray() as Float32Array;
const keep = (s: number) => { const m = new Uint8Array(M * K); for (let i = 0; i < u.length; i++) m[i] = u[i]! >= s ? 1 : 0; return m; };
const MW = M / 8;
const wWarm = Tensor.from(w.toFloat32Array().subarray(0, MW * K), [MW, K]).to(dtype);
const variants: [string, (a: Tensor, rows: number) => Weight][] = [
  ['dense', (a) => a.clone()],
  ['bitmap 50%', (a, rows) => SparseMatrix.fromDense(a, { format: 'bitmap', mask: keep(0.5).subarray(0, rows * K) })],
  ['bitmap 70%', (a, rows) => SparseMatrix.fromDense(a, { format: 'bitmap', mask: keep(0.7).subarray(0, rows * K) })],
  ['bitmap 90%', (a, rows) => SparseMatrix.fromDense(a, { format: 'bitmap', mask: keep(0.9).subarray(0, rows * K) })],
  ['nm 2:4', (a) => SparseMatrix.fromDense(a, { format: 'nm', n: 2, m: 4, prune: 'magnitude' })],
];
const bytesOf = (a: Weight) => (a instanceof SparseMatrix ? a.byteLength : formatBytes('dense', { rows: M, cols: K, dtype, nnz: M * K }));
const pass = (ws: Weight[], x: Tensor) => {
  const t: number[] = [];
  for (const a of ws) {
    const s = process.hrtime.bigint();
    linear.sync(x, a);
    t.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  return median(t);
};

// Warm, one thread, the formats interleaved round by round: the minimum call (wall and CPU time).
const warm = new Map<string, { wall: number; cpu: number }>();
setNumThreads(1);
{
  const smalls = variants.map(([label, make]) => [label, make(wWarm, MW)] as const);
  for (const n of NS) {
    const x = Tensor.randn([n, K], { seed: n + 1, dtype: xDtype });
    for (let r = 0; r < warmRounds; r++)
      for (const [label, a] of smalls)
        for (let i = 0; i < 5; i++) {
          const s = process.hrtime.bigint(), c = process.cpuUsage();
          linear.sync(x, a);
          const du = process.cpuUsage(c);
          const e = warm.get(`${label} ${n}`) ?? { wall: Infinity, cpu: Infinity };
          warm.set(`${label} ${n}`, { wall: Math.min(e.wall, Number(process.hrtime.bigint() - s) / 1e6), cpu: Math.min(e.cpu, (du.user + du.system) / 1e3) });
        }
  }
  for (const [, a] of smalls) if (a instanceof SparseMatrix) a.dispose();
}
setNumThreads(threads);
const denseCopies = cold ? weightCopies(variants[0]![1](w, M), coldBytes) : [];
const head = ['variant', 'N', 'kernel', 'MB', 'cold ms', 'cold speed-up [min-max]', 'GB/s', 'of probe', 'warm 1T ms', 'cpu ms', 'ns/chunk'];
console.log(head[0]!.padEnd(11) + head[1]!.padStart(2) + ' ' + head[2]!.padEnd(32) + head.slice(3).map((h, i) => h.padStart(i === 2 ? 24 : 10)).join(''));
for (const n of NS) {
  const x = Tensor.randn([n, K], { seed: n + 1, dtype: xDtype });
  for (const cp of denseCopies) linear.sync(x, cp);  // page in
  for (const [label, make] of variants) {
    const ws = !cold ? [] : label === 'dense' ? denseCopies : weightCopies(make(w, M), coldBytes);
    if (ws !== denseCopies) for (const a of ws) linear.sync(x, a);
    const mine: number[] = [], dense: number[] = [];
    for (let p = 0; p < (cold ? passes : 0); p++) {
      dense.push(pass(denseCopies, x));
      mine.push(ws === denseCopies ? dense[dense.length - 1]! : pass(ws, x));
    }
    const ratios = mine.map((t, i) => dense[i]! / t);
    const { wall, cpu } = warm.get(`${label} ${n}`)!;
    const first = ws[0] ?? make(w, M);
    const coldMs = cold ? median(mine) : NaN, bytes = bytesOf(first);
    const perChunk = fx((wall * 1e6) / (MW * Math.ceil(K / 32)), 3);
    console.log(label.padEnd(11) + String(n).padStart(2) + ' ' + selectedKernel(first, n, { xDtype }).padEnd(32) +
      [fx(bytes / 2 ** 20, 1), ...(cold ? [fx(coldMs), `${fx(median(ratios), 2)} [${fx(Math.min(...ratios), 2)}-${fx(Math.max(...ratios), 2)}]`,
        fx(bytes / coldMs / 1e6, 1), fx(bytes / (bandwidth * 1e9) / (coldMs * 1e-3), 2)] : ['', '', '', '']), fx(wall), fx(cpu), perChunk]
        .map((c, i) => c.padStart(i === 2 ? 24 : 10)).join(''));
    if (ws !== denseCopies) for (const a of ws) if (a instanceof SparseMatrix) a.dispose();
    if (!cold && first instanceof SparseMatrix) first.dispose();
  }
}
console.log(`\nload ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
