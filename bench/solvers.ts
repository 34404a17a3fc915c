// Solver timings for the issue's targets: `npx tsx bench/solvers.ts [--threads N] [--quick] [--no-beyond | --no-alps] [--alps-rss]`.
// Prints wall times (best of a few runs) and the process CPU time of that run (user + sys: on a
// shared, loaded machine CPU time / threads is closer to what an idle machine would show), the
// GEMM micro-kernel in use, and the load average before and after.
import { loadavg } from 'node:os';
import { CalibrationStats, Tensor, cpuInfo, prune, setNumThreads } from '../lib/index.js';
import { native } from '../lib/native.js';

const args = process.argv.slice(2);
const threads = Number(args[args.indexOf('--threads') + 1] ?? 2) || 2;
const quick = args.includes('--quick');
setNumThreads(threads);

// setup() runs before each timed call, untimed; fn gets what it returns.
async function best<T>(label: string, runs: number, fn: (arg: T) => unknown | Promise<unknown>, target?: number, setup?: () => T) {
  const times: number[] = [], cpus: number[] = [];
  for (let i = 0; i < runs; i++) {
    const arg = setup?.() as T;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn(arg);
    times.push((performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1e6);
  }
  const i = times.indexOf(Math.min(...times));
  const b = times[i]!;
  const flag = target === undefined ? '' : b <= target ? `  (target <= ${target} s: ok)` : `  (target <= ${target} s: missed)`;
  console.log(`${label.padEnd(46)} wall ${b.toFixed(3)} s  cpu ${cpus[i]!.toFixed(3)} s  ` +
    `runs [${times.map((t) => t.toFixed(3)).join(', ')}]${flag}`);
  return b;
}

console.log(`threads ${threads}, isa ${cpuInfo().isa}, gemm kernel ${native.solverKernelName()}, load ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
const K = 4096;
const x = Tensor.randn([2048, K], { seed: 1 });
const stats = new CalibrationStats(K, { hessian: true });
await best('CalibrationStats.add 2048x4096 (Hessian)', quick ? 1 : 3, () => stats.add(x), 0.5);
const w = Tensor.randn([K, K], { seed: 2, std: 0.02 });
if (args.includes('--alps-rss')) {
  // ALPS alone in this process: its peak RSS growth over the loaded weight and statistics.
  const rss0 = process.memoryUsage().rss, c0 = process.cpuUsage(), t0 = performance.now();
  const r = await prune.alps(w, stats, { sparsity: 0.7 });
  const c = process.cpuUsage(c0);
  const peak = process.resourceUsage().maxRSS * 1024 - rss0;
  console.log(`alps 4096x4096 70%: wall ${((performance.now() - t0) / 1000).toFixed(1)} s cpu ${((c.user + c.system) / 1e6).toFixed(1)} s, ` +
    `${r.report.iterations} ADMM iterations, peak RSS growth ${(peak / 2 ** 20).toFixed(0)} MiB (K×K float32 = ${(4 * K * K / 2 ** 20).toFixed(0)} MiB)`);
  process.exit(0);
}
// Peak memory of one SparseGPT call, next to the size of H (float32) plus W (the issue's yardstick).
{
  const rss0 = process.memoryUsage().rss;
  const r = await prune.sparsegpt(w, stats, { sparsity: 0.5 });
  const peak = process.resourceUsage().maxRSS * 1024 - rss0;
  const hw = 4 * K * K + w.byteLength;
  console.log(`sparsegpt 4096x4096 peak RSS growth ${(peak / 2 ** 20).toFixed(0)} MiB = ${(peak / hw).toFixed(2)}x size of H (float32) + W ` +
    `(${(hw / 2 ** 20).toFixed(0)} MiB; includes the result it returns)`);
  r.weight.dispose();
}
await best('sparsegpt 4096x4096 50%', quick ? 1 : 2, () => prune.sparsegpt(w, stats, { sparsity: 0.5 }), 2.5);
await best('sparsegpt 4096x4096 2:4', quick ? 1 : 2, () => prune.sparsegpt(w, stats, { n: 2, m: 4 }), 2.5);
const w2 = Tensor.randn([11008, K], { seed: 3, std: 0.02 });
await best('wanda 11008x4096 50%', quick ? 1 : 3, () => prune.wanda(w2, stats, { sparsity: 0.5 }), 0.3);
await best('wanda 11008x4096 2:4', quick ? 1 : 3, () => prune.wanda(w2, stats, { n: 2, m: 4 }));
// inPlace prunes a copy made before each (untimed) call; bfloat16 halves the bytes read and written.
await best('wanda 11008x4096 50% inPlace', quick ? 1 : 3, (c: Tensor) => prune.wanda(c, stats, { sparsity: 0.5 }, { inPlace: true }),
  undefined, () => Tensor.from(w2.toFloat32Array(), w2.shape));
const w2b = w2.to('bfloat16');
await best('wanda 11008x4096 50% bfloat16', quick ? 1 : 3, () => prune.wanda(w2b, stats, { sparsity: 0.5 }));
await best('magnitude 11008x4096 50% (global threshold)', quick ? 1 : 2, () => prune.magnitude(w2, { sparsity: 0.5 }));
// The solvers beyond SparseGPT on the same 4096x4096 layer (issue #17's cost table).
if (!args.includes('--no-beyond')) {
  await best('ria 4096x4096 2:4', 1, () => prune.ria(w, stats, { n: 2, m: 4 }));
  await best('ria 4096x4096 2:4 + permute', 1, () => prune.ria(w, stats, { n: 2, m: 4 }, { permute: true }));
  await best('ria 4096x4096 2:4 + reconstruct', 1, () => prune.ria(w, stats, { n: 2, m: 4 }, { reconstruct: true }));
  await best('dsnot 4096x4096 2:4 (wanda start)', 1, () => prune.dsnot(w, stats, { n: 2, m: 4 }, { initial: 'wanda' }));
  await best('dsnot 4096x4096 2:4 (sparsegpt start)', 1, () => prune.dsnot(w, stats, { n: 2, m: 4 }));
  await best('dsnot 4096x4096 70% (sparsegpt start)', 1, () => prune.dsnot(w, stats, { sparsity: 0.7 }));
  await best('sparsegpt 4096x4096 70%', 1, () => prune.sparsegpt(w, stats, { sparsity: 0.7 }));
  for (const pat of args.includes('--no-alps') ? [] : [{ n: 2, m: 4 }, { sparsity: 0.7 }] as const) {
    const c0 = process.cpuUsage(), t0 = performance.now();
    const r = await prune.alps(w, stats, pat);
    const c = process.cpuUsage(c0);
    console.log(`${`alps 4096x4096 ${'n' in pat ? '2:4' : '70%'}`.padEnd(46)} wall ${((performance.now() - t0) / 1000).toFixed(3)} s  cpu ${((c.user + c.system) / 1e6).toFixed(3)} s  ` +
      `(${r.report.iterations} ADMM iterations, final rho ${r.report.rho!.toFixed(3)})`);
  }
}
console.log(`load after: ${loadavg().map((v) => v.toFixed(2)).join(' ')}`);
