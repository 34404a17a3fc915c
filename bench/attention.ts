// Prefill attention on Llama-2-7B's head shapes (32 heads of 128), side by side in one run:
//   npx tsx bench/attention.ts [--tokens 512] [--reps 3] [--threads 2]
// - "blocked GEMM": one call with all the prompt's tokens (the path prefill takes from
//   kAttentionGemmTokens tokens on);
// - "per row": the same causal work as per-row dot products, one query at a time against the keys
//   before it (what prefill ran before the GEMM path: the same code decode steps use);
// - and one block's seven linears at that many tokens (dense bf16), to show attention's share.
// Prints the best of --reps for each, with the load average.
import { loadavg } from 'node:os';
import { Tensor, cpuInfo, linear, setNumThreads } from '../lib/index.js';
import { native } from '../lib/native.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };
const T = opt('--tokens', 512), reps = opt('--reps', 3), threads = opt('--threads', 2);
setNumThreads(threads);
const heads = 32, hd = 128, dim = heads * hd, I = 11008;
const rand = (n: number, seed: number) => Tensor.randn([n], { seed }).toTypedArray() as Float32Array;
const q = rand(T * dim, 1), k = rand(T * dim, 2), v = rand(T * dim, 3), out = new Float32Array(T * dim);
const shape = { batch: 1, tokens: T, past: 0, capacity: T, heads, kvHeads: heads, headDim: hd, scale: 1 / Math.sqrt(hd) };
const best = (f: () => void | Promise<void>) => async () => {
  let b = Infinity;
  for (let r = 0; r < reps; r++) { const t0 = performance.now(); await f(); b = Math.min(b, performance.now() - t0); }
  return b;
};
const gemmMs = await best(() => native.modelAttention(q, k, v, out, shape))();
const rowsMs = await best(() => {
  for (let t = 0; t < T; t++)
    native.modelAttention(q.subarray(t * dim, (t + 1) * dim), k, v, out.subarray(t * dim, (t + 1) * dim), { ...shape, tokens: 1, past: t });
})();
const x = Tensor.randn([T, dim], { seed: 4 }), xi = Tensor.randn([T, I], { seed: 5 });
const ws = [[dim, dim], [dim, dim], [dim, dim], [dim, dim], [I, dim], [I, dim], [dim, I]].map(([m, kk], i) => Tensor.randn([m!, kk!], { seed: 10 + i, dtype: 'bfloat16' }));
const linMs = await best(async () => { for (const [i, w] of ws.entries()) await linear(i === 6 ? xi : x, w, null, { outDtype: 'float32' }); })();
const flops = 2 * 2 * heads * hd * (T * (T + 1)) / 2;
console.log(`prefill attention, ${T} tokens, ${heads} heads x ${hd}, isa ${cpuInfo().isa}, ${threads} threads, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(`  blocked GEMM   ${gemmMs.toFixed(1)} ms (${(flops / gemmMs / 1e6).toFixed(1)} GFLOP/s)`);
console.log(`  per row        ${rowsMs.toFixed(1)} ms (${(flops / rowsMs / 1e6).toFixed(1)} GFLOP/s), ${(rowsMs / gemmMs).toFixed(1)}x the GEMM path`);
console.log(`  block linears  ${linMs.toFixed(1)} ms (dense bf16): attention is ${(100 * gemmMs / (gemmMs + linMs)).toFixed(0)}% of the block with the GEMM path, ` +
  `${(100 * rowsMs / (rowsMs + linMs)).toFixed(0)}% per row`);
