// npx tsx bench/slorb-parts.ts [--n 1] [--threads 2] [--reps 400] [--warm] [--cpu] [--int8] [--bitmap] [--only a,b]
// Where a SLoRB layer's call goes at small N (4096x4096 bf16, k = 16, nm 2:4 or 50% bitmap, bf16 or
// int8 S): many interleaved calls of linear.sync without / with the term, the same through
// native.spmm with arguments built once (so the difference to linear is the JS wrapper), the term
// alone (native.slorbAdd), its argument parsing (n = 0) and prepare (16 rows), building its JS
// arguments (slorbCall), and an empty native.spmm call; minimum and median of each. Weights and S
// rotated through 96 MiB of copies (cold; --warm: one copy), wall time (--cpu: process CPU time).
// With exactly two cases (--only), also the median of the per-pair ratio second / first.
import { loadavg } from 'node:os';
import { SparseMatrix, Tensor, linear, setNumThreads, slorb, type FloatDType } from '../lib/index.js';
import { native } from '../lib/native.js';
import { slorbCall } from '../lib/slorb.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };
const threads = opt('--threads', 2), reps = opt('--reps', 400), N = opt('--n', 1);
const warm = args.includes('--warm');
const cpu = args.includes('--cpu');
const fmt = args.includes('--bitmap') ? 'bitmap' : 'nm';
const int8 = args.includes('--int8');
setNumThreads(threads);
const M = 4096, K = 4096, k = 16, dtype: FloatDType = 'bfloat16';
const w = Tensor.randn([M, K], { seed: 1, dtype });
const plain0 = fmt === 'nm' ? SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude' })
  : SparseMatrix.fromDense(w, { format: 'bitmap', mask: Uint8Array.from({ length: M * K }, (_, i) => ((i * 2654435761) >>> 31) & 1) });
const keep = Uint8Array.from(plain0.toDense().toFloat32Array(), (v) => (v !== 0 ? 1 : 0));
const S = slorb.init(w, keep, { groupSize: k, dtype });
const copies = warm ? 1 : Math.ceil((96 << 20) / plain0.byteLength);
const plain: SparseMatrix[] = [], boosted: SparseMatrix[] = [];
for (let i = 0; i < copies; i++) {
  const parts = Object.fromEntries(Object.entries(plain0.parts()).map(([n, t]) => [n, t.clone()]));
  const base = { shape: [M, K], dtype, n: plain0.n, m: plain0.m, parts };
  plain.push(SparseMatrix.fromParts(fmt, base));
  const t = int8 ? { ...slorb.quantize(S.clone()), groupSize: k } : { scales: S.clone(), groupSize: k };
  boosted.push(SparseMatrix.fromParts(fmt, { ...base, slorb: t }));
}
const x = Tensor.randn([N, K], { seed: 2, dtype });
const f32 = { outDtype: 'float32' } as const;
const out = new Float32Array(N * M);
const spmmArgs = { b: x.toTypedArray(), bDtype: dtype, bIsKn: false, n: N, activations: 'float32' as const, bias: null, biasDtype: 'float32' as const,
  out, outDtype: 'float32' as const, rowStride: 1, colStride: M };
const layout = { n: N, xTokStride: K, xFeatStride: 1, outTokStride: M, outRowStride: 1 };
const sargs = boosted.map((m) => slorbCall(m.slorb!, M, K, x.toTypedArray(), dtype, layout, out, out, 'float32'));
const descP = plain.map((m) => m.desc()), descB = boosted.map((m) => m.desc());
const sargsEmpty = sargs.map((a) => Object.assign({}, a, { n: 0 })), sargs16 = sargs.map((a) => Object.assign({}, a, { rows: 16 }));
const cases: [string, (i: number) => void][] = [
  ['linear plain', (i) => linear.sync(x, plain[i]!, null, f32)],
  ['linear +term', (i) => linear.sync(x, boosted[i]!, null, f32)],
  ['native plain', (i) => native.spmm(descP[i]!, spmmArgs)],
  ['native +term', (i) => native.spmm(descB[i]!, spmmArgs, sargs[i]!)],
  ['term alone', (i) => native.slorbAdd(sargs[i]!)],
  ['js slorbCall', (i) => slorbCall(boosted[i]!.slorb!, M, K, x.toTypedArray(), dtype, layout, out, out, 'float32')],
  ['term n=0', (i) => native.slorbAdd(sargsEmpty[i]!)],
  ['term 16 rows', (i) => native.slorbAdd(sargs16[i]!)],
  ['empty spmm(n=0)', (i) => native.spmm(descP[i]!, { ...spmmArgs, n: 0 })],
];
const only = args.includes('--only') ? args[args.indexOf('--only') + 1]!.split(',') : null;
if (only) cases.splice(0, cases.length, ...cases.filter(([n]) => only.some((o) => n.includes(o))));
const best = cases.map(() => Infinity), all: number[][] = cases.map(() => []);
for (let r = 0; r < reps; r++)
  for (let c = 0; c < cases.length; c++) {
    const ci = (c + r) % cases.length, i = (r * cases.length + c) % copies;
    let t: number;
    if (cpu) { const c0 = process.cpuUsage(); cases[ci]![1](i); const d = process.cpuUsage(c0); t = (d.user + d.system) / 1000; }
    else { const t0 = performance.now(); cases[ci]![1](i); t = performance.now() - t0; }
    if (r >= 5) { best[ci] = Math.min(best[ci]!, t); all[ci]!.push(t); }
  }
const med = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1]!;
console.log(`${fmt} bf16 ${int8 ? 'int8 S' : 'bf16 S'} N=${N} threads ${threads} ${warm ? 'warm' : 'cold'} load ${loadavg()[0]!.toFixed(1)}`);
if (cases.length === 2) {
  const r = all[1]!.map((v, i) => v / all[0]![i]!).sort((p, q) => p - q);
  console.log(`pair ratio ${cases[1]![0]} / ${cases[0]![0]}: median ${r[r.length >> 1]!.toFixed(3)} q25 ${r[r.length >> 2]!.toFixed(3)} q75 ${r[(3 * r.length) >> 2]!.toFixed(3)} min-ratio ${(best[1]! / best[0]!).toFixed(3)}`);
}
for (let c = 0; c < cases.length; c++) console.log(`${cases[c]![0].padEnd(16)} min ${(best[c]! * 1000).toFixed(1).padStart(7)} us  median ${(med(all[c]!) * 1000).toFixed(1).padStart(7)} us`);
