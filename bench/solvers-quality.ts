// Layer-level reconstruction error of every solver on LLM-like data with outlier input channels
// (the generator of test/solver-reference.ts), issue #17's layer target: `npx tsx bench/solvers-quality.ts [--rows 256 --cols 512 --tokens 2048]`.
// Error = ‖XWᵀ − XŴᵀ‖ / ‖XWᵀ‖ over the calibration tokens, all solvers on the same statistics.
import { CalibrationStats, Tensor, prune, type PrunePattern, type PruneResult } from '../lib/index.js';
import { heavyTailed, llmActivations, reconstructionError } from '../test/solver-reference.js';

const args = process.argv.slice(2);
const arg = (name: string, d: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : d);
const [rows, cols, T] = [arg('--rows', 256), arg('--cols', 512), arg('--tokens', 2048)];
const x = llmActivations(T, cols, 11, [5, 77, 200 % cols, 301 % cols]);
const w = heavyTailed(rows, cols, 12);
const t = Tensor.from(w, [rows, cols]);
const stats = new CalibrationStats(cols, { hessian: true }).add(Tensor.from(x, [T, cols]));
const err = (r: PruneResult) => reconstructionError(x, T, cols, w, r.weight.toTypedArray() as Float32Array, rows);
console.log(`${rows}x${cols}, ${T} tokens, outlier channels 5/77/200/301`);
for (const [label, pat] of [['2:4', { n: 2, m: 4 }], ['50%', { sparsity: 0.5 }], ['70%', { sparsity: 0.7 }]] as [string, PrunePattern][]) {
  const rowsOut: [string, number, number][] = [];
  const run = async (name: string, f: () => Promise<PruneResult & { permutation?: Int32Array }> | PruneResult) => {
    const t0 = performance.now();
    const r: PruneResult & { permutation?: Int32Array } = await f();
    const seconds = (performance.now() - t0) / 1000;
    if (r.permutation) {
      // The weight's columns are in permuted order: back to the inputs' order for the error.
      const p = r.permutation, v = r.weight.toTypedArray() as Float32Array, back = new Float32Array(v.length);
      for (let i = 0; i < rows; i++) for (let c = 0; c < cols; c++) back[i * cols + p[c]!] = v[i * cols + c]!;
      r.weight = Tensor.from(back, [rows, cols]);
    }
    rowsOut.push([name, err(r), seconds]);
  };
  await run('magnitude', () => prune.magnitude(t, pat));
  await run('wanda', () => prune.wanda(t, stats, pat));
  await run('sparsegpt', () => prune.sparsegpt(t, stats, pat));
  await run('ria', () => prune.ria(t, stats, pat));
  await run('ria+reconstruct', () => prune.ria(t, stats, pat, { reconstruct: true }));
  if ('n' in pat) await run('ria+permute', () => prune.ria(t, stats, pat, { permute: true }));
  await run('dsnot (wanda)', () => prune.dsnot(t, stats, pat, { initial: 'wanda' }));
  await run('dsnot (saliency)', () => prune.dsnot(t, stats, pat, { initial: 'sparsegpt-saliency' }));
  await run('dsnot (sparsegpt)', () => prune.dsnot(t, stats, pat, { initial: 'sparsegpt' }));
  await run('dsnot (sgpt, 50 cyc)', () => prune.dsnot(t, stats, pat, { initial: 'sparsegpt', maxCycles: 50 }));
  await run('dsnot (sgpt, no check)', () => prune.dsnot(t, stats, pat, { initial: 'sparsegpt', checkError: false }));
  await run('alps', () => prune.alps(t, stats, pat));
  const sg = rowsOut.find((r) => r[0] === 'sparsegpt')![1];
  for (const [name, e, s] of rowsOut) console.log(`${label.padEnd(4)} ${name.padEnd(22)} error ${e.toFixed(5)}  vs sparsegpt ${(e / sg).toFixed(3)}  solve ${s.toFixed(2)} s`);
}
