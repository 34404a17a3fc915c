/**
 * Issue #11 item 4: resident memory over create/dispose loops in a synchronous loop (no await, no
 * forced GC), as a server would run them. Prints RSS before and after each loop.
 *   npx tsx bench/dispose-rss.ts [--cycles 10000] [--files 3000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SparseMatrix, Tensor, loadSafetensors, saveSafetensors } from '../lib/index.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
};
const cycles = arg('--cycles', 10_000), files = arg('--files', 3000);
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

const w = Tensor.randn([256, 256], { seed: 1 });
let r0 = process.memoryUsage().rss, peak = r0;
for (let i = 0; i < cycles; i++) {
  SparseMatrix.fromDense(w, { format: 'csr' }).dispose();
  if (i % 100 === 0) peak = Math.max(peak, process.memoryUsage().rss);
}
let r1 = process.memoryUsage().rss;
console.log(`fromDense/dispose x${cycles} (256x256 float32 csr): RSS ${mib(r0)} -> ${mib(r1)}, peak ${mib(Math.max(peak, r1))}`);

const dir = mkdtempSync(join(tmpdir(), 'sparsekit-rss-'));
const path = join(dir, 'm.safetensors');
saveSafetensors.sync(path, { w: SparseMatrix.fromDense(w, { format: 'csr' }), t: w });
r0 = process.memoryUsage().rss;
peak = r0;
for (let i = 0; i < files; i++) {
  const f = loadSafetensors.sync(path);
  (f.get('w') as SparseMatrix).dispose();
  f.dispose();
  if (i % 100 === 0) peak = Math.max(peak, process.memoryUsage().rss);
}
r1 = process.memoryUsage().rss;
console.log(`loadSafetensors/get/dispose x${files} (one 256x256 csr matrix + a 256 KiB tensor): RSS ${mib(r0)} -> ${mib(r1)}, peak ${mib(Math.max(peak, r1))}`);
rmSync(dir, { recursive: true, force: true });
