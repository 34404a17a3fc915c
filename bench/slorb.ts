// npm run bench:slorb [-- --quick] [-- --threads 2] [-- --pairs P] [-- --ns 1,16] [-- --cases int8]: the cost of AST's SLoRB term
// (k = 16, S in the weight's dtype or int8 with row scales) on top of the sparse product alone, as a ratio measured in
// the same process: each pair times the plain matrix and the same matrix (same parts) with the
// term back to back, alternating which goes first, on copies rotated so the weights are read cold
// (more bytes than the last-level cache). Prints the median and quartiles of the per-pair ratio,
// next to the ratio of the fastest calls (min ratio), the ratio of bytes read and to the ratio of the term run as a second pass after the
// product (native.slorbAdd: what linear did before the term joined the kernel's row loop), all with
// float32 output, and writes bench/results/slorb-latest.json. --cpu-time measures
// the process's CPU time instead of wall time: on a loaded machine (other jobs on the same cores)
// wall time charges each extra parallel region a scheduling delay that is not work.
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SparseMatrix, Tensor, cpuInfo, linear, selectedKernel, setNumThreads, slorb, type FloatDType } from '../lib/index.js';
import { native } from '../lib/native.js';
import { slorbCall } from '../lib/slorb.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const opt = (name: string, dflt: number) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };
const threads = opt('--threads', 2);
const pairs = opt('--pairs', quick ? 15 : 40);
const cpuTime = args.includes('--cpu-time');
setNumThreads(threads);

const K_GROUP = 16;
const ROTATE_BYTES = 96 << 20;  // > the L3 of the machines we run on
const SHAPES: [number, number][] = quick ? [[4096, 4096]] : [[4096, 4096], [11008, 4096]];
const listOpt = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]!.split(',') : undefined; };
const NS = listOpt('--ns')?.map(Number) ?? (quick ? [1, 16] : [1, 8, 16, 64]);
// --cases nm,int8: only the cases whose label contains every one of these words
const caseWords = listOpt('--cases') ?? [];
// int8: S as int8 codes with a float32 scale per row (slorb.quantize), half the bytes of bf16 S.
const CASES: { label: string; format: 'nm' | 'bitmap'; dtype: FloatDType; int8?: boolean }[] = [
  { label: 'nm 2:4 bf16', format: 'nm', dtype: 'bfloat16' },
  { label: 'nm 2:4 bf16, int8 S', format: 'nm', dtype: 'bfloat16', int8: true },
  { label: 'bitmap 50% bf16', format: 'bitmap', dtype: 'bfloat16' },
  { label: 'bitmap 50% bf16, int8 S', format: 'bitmap', dtype: 'bfloat16', int8: true },
  ...(quick ? [] : [{ label: 'nm 2:4 f32', format: 'nm' as const, dtype: 'float32' as FloatDType }]),
];

function quantile(a: number[], q: number): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

const rows: Record<string, unknown>[] = [];
console.log(`SLoRB overhead (${cpuTime ? 'CPU time' : 'wall time'}), k = ${K_GROUP}, ${threads} thread(s), ISA ${cpuInfo().isa}, load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log('case                      shape         N   sparse ms  +slorb ms  ratio (q25..q75)      min ratio  separate pass  bytes ratio  kernel');
for (const [M, K] of SHAPES) for (const c of CASES.filter((c) => caseWords.every((w) => c.label.includes(w)))) {
  const w = Tensor.randn([M, K], { seed: 1, dtype: c.dtype });
  const plain0 = c.format === 'nm'
    ? SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude' })
    : SparseMatrix.fromDense(w, { format: 'bitmap', mask: Uint8Array.from({ length: M * K }, (_, i) => ((i * 2654435761) >>> 31) & 1) });
  const keep = Uint8Array.from(plain0.toDense().toFloat32Array(), (v) => (v !== 0 ? 1 : 0));
  const copies = Math.max(2, Math.ceil(ROTATE_BYTES / plain0.byteLength));
  const plain: SparseMatrix[] = [], boosted: SparseMatrix[] = [];
  for (let i = 0; i < copies; i++) {
    const parts = Object.fromEntries(Object.entries(plain0.parts()).map(([k, t]) => [k, t.clone()]));
    const base = { shape: [M, K], dtype: c.dtype, n: plain0.n, m: plain0.m, parts };
    plain.push(SparseMatrix.fromParts(c.format, base));
    const S = slorb.init(w, keep, { groupSize: K_GROUP, dtype: c.dtype });
    const term = c.int8 ? { ...slorb.quantize(S), groupSize: K_GROUP } : { scales: S, groupSize: K_GROUP };
    boosted.push(SparseMatrix.fromParts(c.format, { ...base, slorb: term }));
  }
  for (const N of NS) {
    const x = Tensor.randn([N, K], { seed: 2, dtype: c.dtype });
    // float32 output for all three, so the separate pass can add into the product in place.
    // One output reused by every call, as a server keeps one per layer (a fresh one costs page faults).
    const f32 = { outDtype: 'float32', out: Tensor.zeros([N, M]) } as const;
    // The term as a second pass after the product (what linear did before the fused row loop).
    const separate = (i: number) => {
      const m = boosted[i]!;
      const y = linear.sync(x, plain[i]!, null, f32).toTypedArray() as Float32Array;
      native.slorbAdd(slorbCall(m.slorb!, M, K, x.toTypedArray(), c.dtype, { n: N, xTokStride: K, xFeatStride: 1, outTokStride: M, outRowStride: 1 }, y, y, 'float32'));
    };
    const clock = (f: () => void) => {
      if (cpuTime) { const c0 = process.cpuUsage(); f(); const c = process.cpuUsage(c0); return (c.user + c.system) / 1000; }
      const t0 = performance.now(); f(); return performance.now() - t0;
    };
    const time = (m: SparseMatrix) => clock(() => linear.sync(x, m, null, f32));
    for (let i = 0; i < copies; i++) { time(plain[i]!); time(boosted[i]!); clock(() => separate(i)); }  // warm-up
    const ratios: number[] = [], sepRatios: number[] = [], tp: number[] = [], tb: number[] = [];
    for (let p = 0; p < pairs; p++) {
      const i = p % copies, j = (i + 1) % copies, k = (i + 2) % copies;
      let a: number, b: number, d: number;
      if (p % 2 === 0) { a = time(plain[i]!); b = time(boosted[j]!); d = clock(() => separate(k)); }
      else { d = clock(() => separate(k)); b = time(boosted[j]!); a = time(plain[i]!); }
      tp.push(a); tb.push(b); ratios.push(b / a); sepRatios.push(d / a);
    }
    const bytesRatio = boosted[0]!.byteLength / plain[0]!.byteLength;
    const row = {
      case: c.label, shape: [M, K], n: N, threads, sparseMs: quantile(tp, 0.5), slorbMs: quantile(tb, 0.5),
      ratio: quantile(ratios, 0.5),
      // the fastest call of each: what is left when other jobs' interference is least
      minRatio: Math.min(...tb) / Math.min(...tp), ratioQ25: quantile(ratios, 0.25), ratioQ75: quantile(ratios, 0.75), bytesRatio,
      separateRatio: quantile(sepRatios, 0.5),
      kernel: selectedKernel(plain[0]!, N, { ...f32, xDtype: c.dtype }), load: loadavg()[0],
    };
    rows.push(row);
    console.log(`${c.label.padEnd(25)} ${`${M}x${K}`.padEnd(12)} ${String(N).padStart(3)}  ${row.sparseMs.toFixed(3).padStart(9)}  ${row.slorbMs.toFixed(3).padStart(9)}  ` +
      `${row.ratio.toFixed(3)} (${row.ratioQ25.toFixed(3)}..${row.ratioQ75.toFixed(3)})  ${row.minRatio.toFixed(3).padStart(9)}  ${row.separateRatio.toFixed(3).padStart(14)}  ${bytesRatio.toFixed(3).padStart(11)}  ${row.kernel}`);
  }
}
const out = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'slorb-latest.json'), JSON.stringify({ date: new Date().toISOString(), cpu: cpuInfo(), threads, pairs, clock: cpuTime ? 'cpu' : 'wall', rows }, null, 2));
