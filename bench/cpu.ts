// npm run bench [-- --quick] [-- --threads 2]: CPU kernels on LLM-shaped weights, next to the
// machine's measured floors, our dense kernel and onnxruntime-node's MatMul, in one process.
// Writes bench/results/cpu-<time>.json, cpu-latest.json and cpu-speedup.svg.
import Benchmark from 'benchmark';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import {
  SparseMatrix, Tensor, chooseFormat, cpuInfo, formatBytes, getNumThreads, linear, predictSeconds, selectedKernel,
  setNumThreads, type CpuFormat, type FloatDType, type WeightStats,
} from '../lib/index.js';
import { native } from '../lib/native.js';
import { matmulModel } from './onnx-matmul.js';
import { speedupChart } from './svg.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const threadsArg = args.indexOf('--threads');
const threads = threadsArg >= 0 ? Number(args[threadsArg + 1]) : 2;
// --rounds R: measure every (shape, dtype, N) group R times, variants interleaved, and keep each
// variant's best median: on a shared machine this keeps a burst of load from landing on one variant.
const roundsArg = args.indexOf('--rounds');
const rounds = roundsArg >= 0 ? Math.max(1, Number(args[roundsArg + 1])) : 1;
setNumThreads(threads);

const SHAPES: [number, number][] = quick ? [[11008, 4096]] : [[4096, 4096], [11008, 4096], [4096, 11008], [14336, 4096]];
const NS = quick ? [1, 16, 64] : [1, 8, 16, 64];
const DTYPES: FloatDType[] = quick ? ['bfloat16', 'float32'] : ['float32', 'float16', 'bfloat16'];
interface Variant { label: string; format: CpuFormat; sparsity: number }
const VARIANTS: Variant[] = [
  { label: 'dense', format: 'dense', sparsity: 0 },
  { label: 'bitmap 50%', format: 'bitmap', sparsity: 0.5 },
  { label: 'bitmap 70%', format: 'bitmap', sparsity: 0.7 },
  { label: 'bitmap 90%', format: 'bitmap', sparsity: 0.9 },
  { label: 'nm 2:4', format: 'nm', sparsity: 0.5 },
  { label: 'csr 70%', format: 'csr', sparsity: 0.7 },
  { label: 'csr 90%', format: 'csr', sparsity: 0.9 },
];
const BENCH_OPTS = { minSamples: 5, maxTime: quick ? 0.2 : 0.15, initCount: 1 };

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
}

function timeSync(name: string, fn: () => void): number {
  const b = new Benchmark(name, fn, BENCH_OPTS);
  b.run({ async: false });
  return median(b.stats.sample);
}

function timeAsync(name: string, fn: () => Promise<unknown>): Promise<number> {
  return new Promise((resolve, reject) => {
    const b = new Benchmark(name, {
      ...BENCH_OPTS,
      defer: true,
      fn: (d: { resolve(): void }) => { fn().then(() => d.resolve(), reject); },
      onComplete: () => resolve(median(b.stats.sample)),
      onError: (e: unknown) => reject(e),
    });
    b.run({ async: true });
  });
}

// ---- machine floors ---------------------------------------------------------------------------
const loadBefore = loadavg();
console.log(`sparsekit CPU benchmark (${quick ? 'quick' : 'full'}, ${rounds} round${rounds > 1 ? 's' : ''}), ${threads} threads, isa ${cpuInfo().isa}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const bandwidth = Math.max(native.probeReadBandwidth(1 << 30, 3), native.probeReadBandwidth(1 << 30, 3));
const fmaPeak = native.probeFmaPeak(5e7, 3);
console.log(`measured read bandwidth ${bandwidth.toFixed(1)} GB/s, fp32 FMA peak ${fmaPeak.toFixed(0)} GFLOP/s\n`);

interface Row {
  shape: [number, number]; dtype: FloatDType; n: number; variant: string; format: CpuFormat | 'onnxruntime';
  sparsity: number; kernel: string; ms: number; bytes: number; gbs: number; floorFraction: number;
  gflops: number; vsDense: number; vsOrt: number | null; predictedMs: number | null; autoPick: string | null;
}
const rows: Row[] = [];
const header = ['shape', 'dtype', 'N', 'variant', 'kernel', 'ms', 'GB/s', 'floor', 'GFLOP/s', 'vs dense', 'vs ORT', 'model ms', 'auto'];
const widths = [11, 8, 3, 11, 25, 8, 6, 6, 7, 8, 7, 8, 10];
const fmt = (cells: string[]) => cells.map((c, i) => (i < 5 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' ');
console.log(fmt(header));

function keepMask(u: Float32Array, sparsity: number): Uint8Array {
  const m = new Uint8Array(u.length);
  for (let i = 0; i < u.length; i++) m[i] = u[i]! >= sparsity ? 1 : 0;
  return m;
}

const start = Date.now();
for (const [M, K] of SHAPES) {
  const base = Tensor.randn([M, K], { seed: M * 7 + K, dtype: 'float32' });
  const u = Tensor.rand([M * K], { seed: 99 }).toTypedArray() as Float32Array;
  const masks = new Map<number, Uint8Array>();
  for (const v of VARIANTS) if (v.format !== 'dense' && v.format !== 'nm' && !masks.has(v.sparsity)) masks.set(v.sparsity, keepMask(u, v.sparsity));

  // The peer: fp32 MatMul with the transposed weight as a constant.
  const wf = base.toTypedArray() as Float32Array;
  const wt = new Float32Array(K * M);
  for (let r = 0; r < M; r++) for (let k = 0; k < K; k++) wt[k * M + r] = wf[r * K + k]!;
  const session = await ort.InferenceSession.create(matmulModel(wt, K, M), {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const ortMs = new Map<number, number>();
  for (const n of NS) {
    const x = Tensor.randn([n, K], { seed: n });
    const feeds = { X: new ort.Tensor('float32', x.toTypedArray() as Float32Array, [n, K]) };
    let t = Infinity;
    for (let round = 0; round < rounds; round++)
      t = Math.min(t, (await timeAsync(`ort ${M}x${K} N=${n}`, () => session.run(feeds))) * 1e3);
    ortMs.set(n, t);
    const bytes = M * K * 4;
    const row: Row = {
      shape: [M, K], dtype: 'float32', n, variant: 'onnxruntime', format: 'onnxruntime', sparsity: 0, kernel: 'ort MatMul',
      ms: t, bytes, gbs: bytes / t / 1e6, floorFraction: bytes / (bandwidth * 1e9) / (t * 1e-3), gflops: (2 * M * K * n) / t / 1e6,
      vsDense: NaN, vsOrt: 1, predictedMs: null, autoPick: null,
    };
    rows.push(row);
    console.log(fmt([`${M}x${K}`, 'float32', String(n), 'onnxruntime', 'ort MatMul', t.toFixed(3), row.gbs.toFixed(1),
      row.floorFraction.toFixed(2), row.gflops.toFixed(0), '', '1.00', '', '']));
  }
  await session.release();

  for (const dtype of DTYPES) {
    const w = dtype === 'float32' ? base : base.to(dtype);
    const mats = new Map<string, SparseMatrix | Tensor>();
    for (const v of VARIANTS) {
      if (v.format === 'dense') mats.set(v.label, w);
      else if (v.format === 'nm') mats.set(v.label, SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude' }));
      else mats.set(v.label, SparseMatrix.fromDense(w, { format: v.format, mask: masks.get(v.sparsity)! }));
    }
    for (const n of NS) {
      const x = Tensor.randn([n, K], { seed: n + 1, dtype });
      const best = new Map<string, number>();
      for (let round = 0; round < rounds; round++)
        for (const v of VARIANTS) {
          const a = mats.get(v.label)!;
          const t = timeSync(`${v.label} ${dtype} ${M}x${K} N=${n}`, () => { linear.sync(x, a); }) * 1e3;
          best.set(v.label, Math.min(best.get(v.label) ?? Infinity, t));
        }
      const denseMs = best.get('dense')!;
      for (const v of VARIANTS) {
        const a = mats.get(v.label)!;
        const t = best.get(v.label)!;
        const nnz = a instanceof SparseMatrix ? a.nnz : M * K;
        const stats: WeightStats = { rows: M, cols: K, dtype, nnz, ...(v.format === 'nm' ? { nm: { n: 2, m: 4 } } : {}) };
        const bytes = a instanceof SparseMatrix ? a.byteLength : formatBytes('dense', stats);
        const ort = ortMs.get(n)!;
        const row: Row = {
          shape: [M, K], dtype, n, variant: v.label, format: v.format, sparsity: v.sparsity, kernel: selectedKernel(a, n), ms: t,
          bytes, gbs: bytes / t / 1e6, floorFraction: bytes / (bandwidth * 1e9) / (t * 1e-3), gflops: (2 * M * K * n) / t / 1e6,
          vsDense: t / denseMs, vsOrt: ort / t, predictedMs: predictSeconds(v.format, stats, n) * 1e3,
          autoPick: v.format === 'dense' ? null : chooseFormat(stats, n).format,
        };
        rows.push(row);
        console.log(fmt([`${M}x${K}`, dtype, String(n), v.label, row.kernel, t.toFixed(3), row.gbs.toFixed(1),
          row.floorFraction.toFixed(2), row.gflops.toFixed(0), row.vsDense.toFixed(3), row.vsOrt!.toFixed(2),
          row.predictedMs!.toFixed(3), row.autoPick ?? '']));
      }
    }
  }
}

// ---- does the cost model pick the fastest format? -------------------------------------------
// For each sparse case, the measured candidates are dense and every variant of the same sparsity
// (a 2:4 weight may also be stored as bitmap or csr; an unstructured one not as nm). 'auto' is
// right when its pick was measured and is within 5% of the fastest candidate.
let right = 0, total = 0;
const misses: string[] = [];
for (const r of rows) {
  if (!r.autoPick) continue;
  const group = rows.filter((o) => o.format !== 'onnxruntime' && o.shape[0] === r.shape[0] && o.shape[1] === r.shape[1] && o.dtype === r.dtype && o.n === r.n &&
    (o.format === 'dense' || (o.sparsity === r.sparsity && (o.format !== 'nm' || r.format === 'nm'))));
  const fastest = group.reduce((a, b) => (b.ms < a.ms ? b : a));
  const pick = group.find((o) => o.format === r.autoPick);
  total++;
  if (pick && pick.ms <= fastest.ms * 1.05) right++;
  else misses.push(`${r.shape.join('x')} ${r.dtype} N=${r.n} ${r.variant}: auto -> ${r.autoPick}${pick ? ` ${pick.ms.toFixed(2)} ms` : ' (not measured)'}, fastest ${fastest.variant} ${fastest.ms.toFixed(2)} ms`);
}

// ---- targets (issue #3), on 11008x4096 ------------------------------------------------------
const find = (dtype: FloatDType | 'float32', n: number, variant: string) =>
  rows.find((r) => r.shape[0] === 11008 && r.shape[1] === 4096 && r.dtype === dtype && r.n === n && r.variant === variant);
const targets: { what: string; value: number | undefined; ok: (v: number) => boolean; goal: string }[] = [];
for (const d of ['bfloat16', 'float16'] as FloatDType[])
  targets.push({ what: `dense ${d} N=1 fraction of read bandwidth`, value: find(d, 1, 'dense')?.floorFraction, ok: (v) => v >= 0.8, goal: '>= 0.80' });
for (const [variant, goal] of [['bitmap 50%', 0.65], ['bitmap 70%', 0.45], ['bitmap 90%', 0.25], ['csr 90%', 0.25], ['nm 2:4', 0.65]] as const)
  targets.push({ what: `${variant} bf16 N=1 / dense`, value: find('bfloat16', 1, variant)?.vsDense, ok: (v) => v <= goal, goal: `<= ${goal}` });
// The issue's "N=16, 70% sparse" names no format: take the one 'auto' picks for that weight.
const auto70 = find('bfloat16', 16, 'bitmap 70%')?.autoPick;
targets.push({ what: `70% bf16 N=16 (auto: ${auto70}) / dense`, value: find('bfloat16', 16, `${auto70} 70%`)?.vsDense, ok: (v) => v <= 0.6, goal: '<= 0.6' });
const g64 = find('float32', 64, 'dense');
targets.push({ what: 'dense fp32 N=64 fraction of FMA peak', value: g64 ? g64.gflops / fmaPeak : undefined, ok: (v) => v >= 0.6, goal: '>= 0.60' });
for (const n of NS)
  targets.push({ what: `dense fp32 N=${n} speed vs onnxruntime`, value: find('float32', n, 'dense')?.vsOrt ?? undefined, ok: (v) => v >= 1, goal: '>= 1.00' });

console.log(`\ntargets (11008x4096, ${threads} threads):`);
for (const t of targets)
  console.log(`  ${t.what.padEnd(44)} ${t.value === undefined ? '   n/a' : t.value.toFixed(3).padStart(6)}  ${t.goal.padEnd(8)} ${t.value === undefined ? '' : t.ok(t.value) ? 'met' : 'MISSED'}`);
console.log(`\ncost model: 'auto' picked a format within 5% of the fastest in ${right}/${total} cases`);
for (const m of misses) console.log(`  miss: ${m}`);
const seconds = (Date.now() - start) / 1000;
console.log(`\n${seconds.toFixed(0)} s, load after ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

const outDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(outDir, { recursive: true });
const report = {
  date: new Date().toISOString(), quick, rounds, threads: getNumThreads(), cpu: cpuInfo(), loadBefore,
  loadAfter: loadavg(), bandwidthGBs: bandwidth, fmaPeakGflops: fmaPeak, rows,
  targets: targets.map((t) => ({ what: t.what, value: t.value ?? null, goal: t.goal, met: t.value === undefined ? null : t.ok(t.value) })),
  costModel: { right, total, misses },
};
const stamp = report.date.replace(/[:.]/g, '-');
writeFileSync(join(outDir, `cpu-${stamp}.json`), JSON.stringify(report, null, 1));
writeFileSync(join(outDir, 'cpu-latest.json'), JSON.stringify(report, null, 1));
writeFileSync(join(outDir, 'cpu-speedup.svg'), speedupChart(rows.filter((r) => r.shape[0] === 11008 && r.shape[1] === 4096 && (r.n === 1 || r.n === 16)), bandwidth));
console.log(`wrote ${join('bench/results', `cpu-${stamp}.json`)}, cpu-latest.json and cpu-speedup.svg`);
