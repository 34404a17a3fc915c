// Whole-model comparison of every solver on the tiny trained Llama (test/fixtures/tiny-llama), the
// numbers in docs/solvers.md: `npx tsx bench/prune-tiny.ts [--samples 16] [--windows 64] [--only 'ria;alps'] [--patterns 2:4,50%,70%]`.
// Sequential (true-sequential) calibration; perplexity on 128-token held-out windows; seconds of
// model.prune next to each (wall, and process CPU: the steadier number on a shared machine).
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { LlamaModel, cpuInfo, type ModelPruneOptions } from '../lib/index.js';
import { readTokenFile } from '../lib/model/tokens.js';

const args = process.argv.slice(2);
const arg = (name: string, d: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : d);
const TINY = join(import.meta.dirname, '../test/fixtures/tiny-llama');
const samples = Number(arg('--samples', '16')), windows = Number(arg('--windows', '64'));
const c = await readTokenFile(join(TINY, 'calib.tokens.safetensors'));
const calib = Array.from({ length: samples }, (_, i) => c.ids.slice(i * 128, (i + 1) * 128));
const evalIds = (await readTokenFile(join(TINY, 'eval.tokens.bin'))).ids;
const ppl = (m: LlamaModel) => m.perplexity(evalIds, { seqLen: 128, batch: 16, maxWindows: windows });

type Row = { label: string; options: Omit<ModelPruneOptions, 'sparsity' | 'n' | 'm'>; unstructuredOnly?: boolean };
const rows: Row[] = [
  { label: 'magnitude', options: { method: 'magnitude' } },
  { label: 'wanda', options: { method: 'wanda' } },
  { label: 'sparsegpt', options: { method: 'sparsegpt' } },
  { label: 'ria', options: { method: 'ria' } },
  { label: 'ria+reconstruct', options: { method: 'ria', ria: { reconstruct: true } } },
  { label: 'ria+permute', options: { method: 'ria', ria: { permute: true } } },
  { label: 'ria+permute+lsa', options: { method: 'ria', ria: { permute: true, refine: true } } },
  { label: 'dsnot (wanda)', options: { method: 'dsnot', dsnot: { initial: 'wanda' } } },
  { label: 'dsnot (saliency)', options: { method: 'dsnot', dsnot: { initial: 'sparsegpt-saliency' } } },
  { label: 'dsnot (sparsegpt)', options: { method: 'dsnot' } },
  { label: 'dsnot (sgpt, 50 cyc)', options: { method: 'dsnot', dsnot: { maxCycles: 50 } } },
  { label: 'dsnot (wanda, all)', options: { method: 'dsnot', dsnot: { initial: 'wanda', skip: 'none' } } },
  { label: 'alps', options: { method: 'alps' } },
  { label: 'owl+wanda', options: { method: 'wanda', layerwise: 'owl' }, unstructuredOnly: true },
  { label: 'owl+sparsegpt', options: { method: 'sparsegpt', layerwise: 'owl' }, unstructuredOnly: true },
  { label: 'owl+sparsegpt search', options: { method: 'sparsegpt', layerwise: 'owl', owl: { search: true } }, unstructuredOnly: true },
  { label: 'owl+wanda search', options: { method: 'wanda', layerwise: 'owl', owl: { search: true } }, unstructuredOnly: true },
  { label: 'owl+alps', options: { method: 'alps', layerwise: 'owl' }, unstructuredOnly: true },
];
const only = arg('--only', '').split(';').filter(Boolean);
const patterns = arg('--patterns', '2:4,50%,70%').split(',');
console.log(`isa ${cpuInfo().isa}, ${samples} calibration samples x 128, ${windows} eval windows x 128, load ${loadavg().map((v) => v.toFixed(1)).join(' ')}`);
{
  using dense = await LlamaModel.load(TINY);
  console.log(`dense ppl ${(await ppl(dense)).toFixed(4)}`);
}
for (const pat of patterns) {
  const p = pat.includes(':') ? { n: Number(pat.split(':')[0]), m: Number(pat.split(':')[1]) } : { sparsity: Number(pat.replace('%', '')) / 100 };
  for (const r of rows) {
    if (only.length && !only.includes(r.label)) continue;
    if (r.unstructuredOnly && 'n' in p) continue;
    using m = await LlamaModel.load(TINY);
    const c0 = process.cpuUsage(), t0 = performance.now();
    const rep = await m.prune(calib, { ...r.options, ...p } as ModelPruneOptions);
    const wall = (performance.now() - t0) / 1000, cu = process.cpuUsage(c0);
    const extra = (rep.blockSparsity ? `  blocks ${rep.blockSparsity.map((s) => s.toFixed(3)).join('/')}` : '') + (rep.owlSearch ? `  chose M ${rep.owlSearch.M} λ ${rep.owlSearch.lambda}` : '');
    console.log(`${pat.padEnd(4)} ${r.label.padEnd(20)} ppl ${(await ppl(m)).toFixed(4)}  prune wall ${wall.toFixed(2)} s cpu ${((cu.user + cu.system) / 1e6).toFixed(2)} s${extra}`);
  }
}
console.log(`load after ${loadavg().map((v) => v.toFixed(1)).join(' ')}`);
