// npm run bench:quant [-- --threads 2] [-- --reps 15] [-- --n 1,16] [-- --only 'nm 2:4']: quantized weights (int4 / int8 with per-group
// fp16 scales) on 11008x4096 next to our dense bf16 kernel in the same process, cold (rotating
// through copies of each weight totalling more than the LLC) and warm (one copy, repeated), with
// bytes per weight and the targets of issue #20. Writes bench/results/cpu-quant-latest.json and
// cpu-quant.svg (the N = 1 rows against their byte limits and targets). --n: only these N (default
// 1, 16, 64; --decode: 1); --only: only the variants whose labels contain one of the
// comma-separated strings (dense bf16, the reference, always runs). A filtered run prints its
// rows and the targets it has rows for, and writes no result files. Cold, each variant's calls
// alternate with dense bf16's (its own copies), so every cold ratio compares times taken in the
// same seconds; warm, the variant's calls and then dense's run back to back.
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SparseMatrix, Tensor, cpuInfo, getNumThreads, linear, selectedKernel, setNumThreads, type Weight } from '../lib/index.js';
import { native } from '../lib/native.js';
import { quantChart } from './svg-quant.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
setNumThreads(opt('--threads', 2));
const reps = opt('--reps', 15);
const M = 11008, K = 4096;
const COLD_BYTES = 256 << 20;  // rotate through at least this many weight bytes (LLC here: 32 MiB)

interface Variant { label: string; make: (w: Tensor, keep70: Uint8Array) => Weight; act?: 'int8' }
const q = (bits: 4 | 8, groupSize: number, symmetric = true) => ({ bits, groupSize, symmetric });
const VARIANTS: Variant[] = [
  // Distinct copies, as every other variant and bench/cpu.ts (it was `w` itself, repeated).
  { label: 'dense bf16', make: (w) => w.clone() },
  { label: 'dense int8 g128', make: (w) => SparseMatrix.fromDense(w, { format: 'dense', quantize: q(8, 128) }) },
  { label: 'dense int4 g32', make: (w) => SparseMatrix.fromDense(w, { format: 'dense', quantize: q(4, 32) }) },
  { label: 'dense int4 g128', make: (w) => SparseMatrix.fromDense(w, { format: 'dense', quantize: q(4, 128) }) },
  { label: 'nm 2:4 bf16', make: (w) => SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude' }) },
  { label: 'nm 2:4 int4 g128', make: (w) => SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', quantize: q(4, 128) }) },
  { label: 'nm 2:4 int4 g128 asym', make: (w) => SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', quantize: q(4, 128, false) }) },
  { label: 'nm 2:4 int8 g128', make: (w) => SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', quantize: q(8, 128) }) },
  { label: 'bitmap 70% int4 g128', make: (w, keep) => SparseMatrix.fromDense(w, { format: 'bitmap', mask: keep, quantize: q(4, 128) }) },
  { label: 'bitmap 70% int8 g128', make: (w, keep) => SparseMatrix.fromDense(w, { format: 'bitmap', mask: keep, quantize: q(8, 128) }) },
];
// The same weights with int8 activations allowed (the VNNI kernels: N = 1, and 4-bit dense / bitmap / 2:4 up to N = 64).
for (const label of ['dense int4 g32', 'dense int4 g128', 'nm 2:4 int4 g128', 'bitmap 70% int4 g128', 'dense int8 g128'])
  VARIANTS.push({ ...VARIANTS.find((v) => v.label === label)!, label: `${label} x8`, act: 'int8' });
const NS = args.includes('--n') ? args[args.indexOf('--n') + 1]!.split(',').map(Number) : args.includes('--decode') ? [1] : [1, 16, 64];
const only = args.includes('--only') ? args[args.indexOf('--only') + 1]!.split(',') : null;
const filtered = only !== null || args.includes('--n');
if (only) VARIANTS.splice(0, VARIANTS.length, ...VARIANTS.filter((v) => v.label === 'dense bf16' || only.some((o) => v.label.includes(o))));

const bytesOf = (a: Weight) => (a instanceof SparseMatrix ? a.byteLength : a.size * 2);
// What the kernel reads: the parts and the data derived from them (the 2:4 / bitmap code sums).
const readBytesOf = (a: Weight) => (a instanceof SparseMatrix ? a.residentBytes : a.size * 2);
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

console.log(`sparsekit quantized CPU benchmark, ${getNumThreads()} threads, isa ${cpuInfo().isa}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
// The better of two probes, as bench/cpu.ts takes it (one probe here read 49.7-51.9 GB/s where
// bench/cpu.ts read 53.0 minutes apart, quiet machine: docs/kernels.md "Measured").
const bandwidth = Math.max(native.probeReadBandwidth(1 << 30, 3), native.probeReadBandwidth(1 << 30, 3));
console.log(`measured read bandwidth ${bandwidth.toFixed(1)} GB/s\n`);

const w = Tensor.randn([M, K], { seed: 11, dtype: 'float32' }).to('bfloat16');
const u = Tensor.rand([M * K], { seed: 99 }).toTypedArray() as Float32Array;
const keep70 = new Uint8Array(M * K);
for (let i = 0; i < u.length; i++) keep70[i] = u[i]! >= 0.7 ? 1 : 0;

interface Row {
  variant: string; n: number; kernel: string; bytesPerWeight: number; coldMs: number; warmMs: number; coldGBs: number; floor: number;
  coldVsDense: number; warmVsDense: number; coldPairSpread: [number, number]; denseColdMs: number; denseWarmMs: number;
}
const rows: Row[] = [];
const line = (c: string[]) => console.log(c[0]!.padEnd(24) + c[1]!.padStart(4) + ' ' + c[2]!.padEnd(37) + c.slice(3).map((x) => x.padStart(10)).join(''));
line(['variant', 'N', 'kernel', 'B/weight', 'cold ms', 'warm ms', 'GB/s', 'floor', 'cold/bf16', 'warm/bf16', 'cold pairs q25-q75'.padStart(20)]);
// Every variant's calls alternate with dense bf16's (its own rotation of copies, order swapped
// every call), and its ratios are the medians of the two interleaved series: dense timed once,
// minutes before a variant, had moved the ratio by up to 1.3x on this VM (docs/kernels.md).
const quantile = (a: number[], q: number) => [...a].sort((x, y) => x - y)[Math.floor(q * (a.length - 1))]!;
const denseCopies: Weight[] = [];
while (denseCopies.length * M * K * 2 < COLD_BYTES) denseCopies.push(w.clone());
for (const v of VARIANTS) {
  const isDense = v.label === 'dense bf16';
  const first = isDense ? denseCopies[0]! : v.make(w, keep70);
  const copies = isDense ? denseCopies : [first];
  while (copies.length * bytesOf(first) < COLD_BYTES) copies.push(v.make(w, keep70));
  for (const n of NS) {
    if (v.act && n > 1 && !v.label.includes('int4')) continue;
    const x = Tensor.randn([n, K], { seed: n, dtype: 'bfloat16' });
    // One output for every call, as a server keeps one per layer (a fresh one costs page faults).
    const out = Tensor.zeros([n, M], { dtype: 'bfloat16' });
    const o = { activations: v.act ?? 'float32', out } as const;
    const call = (a: Weight, opts: { activations: 'float32' | 'int8' }) => {
      const s = process.hrtime.bigint();
      linear.sync(x, a, null, { ...opts, out });
      return Number(process.hrtime.bigint() - s) / 1e6;
    };
    // Cold: [variant, dense] per call, the first two dropped. Warm: the variant's calls, then
    // dense's, back to back (alternating, dense's 90 MB would evict the variant's one copy).
    const time = (pick: (i: number) => Weight, pickDense: (i: number) => Weight, paired: boolean) => {
      const tv: number[] = [], td: number[] = [];
      const dense = (i: number) => call(pickDense(i), { activations: 'float32' });
      for (let i = 0; i < reps + 2; i++) {
        let a: number, d: number;
        if (isDense) a = d = call(pick(i), o);
        else if (!paired) { a = call(pick(i), o); d = NaN; }
        else if (i % 2) { d = dense(i); a = call(pick(i), o); }
        else { a = call(pick(i), o); d = dense(i); }
        if (i >= 2) { tv.push(a); td.push(d); }
      }
      if (!paired && !isDense) for (let i = 0; i < reps + 2; i++) { const d = dense(i); if (i >= 2) td[i - 2] = d; }
      const ratios = tv.map((t, i) => t / td[i]!);
      return { ms: median(tv), dense: median(td), ratio: median(tv) / median(td), spread: [quantile(ratios, 0.25), quantile(ratios, 0.75)] as [number, number] };
    };
    // Page in every copy first, untimed, as bench/cpu.ts does: on the VMs we measure on, the first
    // read of memory left idle for a while is much slower than the next (docs/kernels.md), and the
    // copies are minutes old by now; a model's weights, read every token, never sit that long.
    for (const c of copies) linear.sync(x, c, null, o);
    for (const c of denseCopies) linear.sync(x, c, null, { activations: 'float32', out });
    const cold = time((i) => copies[i % copies.length]!, (i) => denseCopies[i % denseCopies.length]!, true);
    const warm = time(() => first, () => denseCopies[0]!, false);
    const bytes = bytesOf(first), read = readBytesOf(first);
    const r: Row = {
      variant: v.label, n, kernel: selectedKernel(first, n, { ...o, xDtype: 'bfloat16' }), bytesPerWeight: bytes / (M * K), coldMs: cold.ms, warmMs: warm.ms,
      coldGBs: read / cold.ms / 1e6, floor: read / (bandwidth * 1e9) / (cold.ms * 1e-3), coldVsDense: cold.ratio, warmVsDense: warm.ratio,
      coldPairSpread: cold.spread, denseColdMs: cold.dense, denseWarmMs: warm.dense,
    };
    rows.push(r);
    line([v.label, String(n), r.kernel, r.bytesPerWeight.toFixed(4), cold.ms.toFixed(3), warm.ms.toFixed(3), r.coldGBs.toFixed(1), r.floor.toFixed(2),
      r.coldVsDense.toFixed(3), r.warmVsDense.toFixed(3), isDense ? '' : `${cold.spread[0].toFixed(3)}-${cold.spread[1].toFixed(3)}`.padStart(20)]);
  }
  if (!isDense) for (const c of copies) if (c instanceof SparseMatrix) c.dispose();
}

// A filtered run has rows for some targets only: the others are NaN and left out.
const get = (variant: string, n: number) => rows.find((r) => r.variant === variant && r.n === n) ?? ({ coldMs: NaN, coldVsDense: NaN } as Row);
// A format's best ratio to dense bf16: with fp32 x or with int8 x (x8), each paired with dense.
const best = (a: string, n: number) => {
  const t = [get(a, n).coldVsDense, get(`${a} x8`, n).coldVsDense].filter((v) => !Number.isNaN(v));
  return t.length ? Math.min(...t) : NaN;
};
const targets = [
  { what: 'N=1 2:4+int4 g128 (x8) / dense bf16', value: best('nm 2:4 int4 g128', 1), goal: 0.3 },
  { what: 'N=1 dense int4 g32 (x8) / dense bf16', value: best('dense int4 g32', 1), goal: 0.33 },
  { what: 'N=1 2:4+int4 (x8) / dense int4 g32 (x8)', value: best('nm 2:4 int4 g128', 1) / best('dense int4 g32', 1), goal: 0.75 },
  { what: 'N=1 bitmap 70%+int4 (x8) / dense bf16', value: best('bitmap 70% int4 g128', 1), goal: 0.25 },
  { what: 'N=1 2:4+int4 g128 fp32 x / dense bf16', value: get('nm 2:4 int4 g128', 1).coldVsDense, goal: 0.3 },
  { what: 'N=1 dense int4 g32 fp32 x / dense bf16', value: get('dense int4 g32', 1).coldVsDense, goal: 0.33 },
  ...(NS.includes(16) ? [{ what: 'N=16 2:4+int4 g128 (x8) / dense bf16', value: best('nm 2:4 int4 g128', 16), goal: 0.7 }] : []),
];
console.log(`\ntargets (11008x4096, ${getNumThreads()} threads, cold):`);
for (const t of targets.filter((t) => !Number.isNaN(t.value))) console.log(`  ${t.what.padEnd(40)} ${t.value.toFixed(3)}  <= ${t.goal}  ${t.value <= t.goal ? 'met' : 'MISSED'}`);
console.log(`load after ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
if (filtered) {
  console.log('(filtered run: no result files written)');
  process.exit(0);
}
const outDir = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(outDir, { recursive: true });
const TARGETS: Record<string, number> = { 'nm 2:4 int4 g128': 0.3, 'dense int4 g32': 0.33, 'bitmap 70% int4 g128': 0.25,
  'nm 2:4 int4 g128 x8': 0.3, 'dense int4 g32 x8': 0.33, 'bitmap 70% int4 g128 x8': 0.25 };
const n1 = rows.filter((r) => r.n === 1 && r.variant !== 'dense bf16');
writeFileSync(join(outDir, 'cpu-quant.svg'), quantChart(n1.map((r) => ({ label: r.variant, ratio: r.coldVsDense, limit: r.floor * r.coldVsDense, target: TARGETS[r.variant] })),
  `Quantized weights, 11008x4096, N = 1, ${getNumThreads()} threads, cold (read bandwidth ${bandwidth.toFixed(0)} GB/s)`));
writeFileSync(join(outDir, 'cpu-quant-latest.json'), JSON.stringify({ date: new Date().toISOString(), cpu: cpuInfo(), threads: getNumThreads(), bandwidthGBs: bandwidth, loadAfter: loadavg(), rows, targets }, null, 1));
