// The "big layers must fit" check: SparseGPT 50% on Llama-2-70B's down_proj shape
// (M = 8192, K = 28672, float16 weight) from 512 calibration tokens, with progress, wall time and
// the process's peak RSS. `npx tsx bench/sparsegpt-70b.ts` (about 3.5 minutes and 11.4 GiB on the
// 2-core development VM).
import { CalibrationStats, Tensor, prune, setNumThreads } from '../lib/index.js';

setNumThreads(2);
const M = 8192, K = 28672;
const t0 = performance.now();
const stats = new CalibrationStats(K, { hessian: true });
for (let i = 0; i < 2; i++) stats.add(Tensor.randn([256, K], { seed: 10 + i }));
console.log(`CalibrationStats.add of 512 x ${K}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
const w = Tensor.randn([M, K], { seed: 3, std: 0.02, dtype: 'float16' });
const t1 = performance.now();
let shown = -1;
const r = await prune.sparsegpt(w, stats, { sparsity: 0.5 }, {
  onProgress: (p) => {
    const tenth = Math.floor(p * 10);
    if (tenth !== shown) {
      console.log(`  ${(100 * p).toFixed(0)}%`);
      shown = tenth;
    }
  },
});
console.log(`sparsegpt ${M}x${K} 50%: ${((performance.now() - t1) / 1000).toFixed(1)} s, report ${JSON.stringify(r.report)}`);
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2)} GiB`);
