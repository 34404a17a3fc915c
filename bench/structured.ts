// Size and decode speed of checkpoint folders side by side (docs/structured.md, "Speed and size"):
// parameters, model.safetensors bytes, weight bytes one decode step reads, and batch-1 decode
// tokens/s, the folders timed in interleaved rounds so that load changes hit them alike.
//   npx tsx bench/structured.ts <dense dir> <other dir>... [--tokens 8] [--prompt 16] [--rounds 3]
import { statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { LlamaModel, SparseMatrix, cpuInfo } from '../lib/index.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  args.splice(i, 2);
  return v;
};
const tokens = opt('--tokens', 8), prompt = opt('--prompt', 16), rounds = opt('--rounds', 3);
if (args.length < 1) {
  console.error('usage: npx tsx bench/structured.ts <dense dir> <other dir>... [--tokens 8] [--prompt 16] [--rounds 3]');
  process.exit(1);
}
const models = await Promise.all(args.map((d) => LlamaModel.load(d)));
const times: number[][] = models.map(() => []);
const vocab = models[0]!.config.vocabSize;
const ids = Int32Array.from({ length: prompt }, (_, i) => (i * 7919 + 13) % vocab);
for (let r = 0; r < rounds; r++) {
  for (let m = 0; m < models.length; m++) {
    const model = models[m]!;
    const cache = model.createCache({ capacity: prompt + tokens + 1 });
    await model.forward(ids, { cache, lastOnly: true });
    const t0 = performance.now();
    for (let t = 0; t < tokens; t++) await model.forward([(t * 31 + 7) % vocab], { cache, lastOnly: true });
    times[m]!.push((performance.now() - t0) / tokens);
  }
}
const median = (x: number[]) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)]!;
const base = median(times[0]!);
console.log(`isa ${cpuInfo().isa}, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ${rounds} interleaved rounds of ${tokens} decode steps after a ${prompt}-token prompt, batch 1`);
// Parameters a packed (unstructured) weight really stores: its non-zeros.
const nonzeros = (model: LlamaModel) => model.parameterCount() - model.linearSlots().reduce((s, l) => s + (l.weight instanceof SparseMatrix ? l.weight.rows * l.weight.cols - l.weight.nnz : 0), 0);
console.log('| folder | parameters (non-zero) | model.safetensors | weight bytes / step | ms / token (median) | tokens/s | speed vs first |');
console.log('|---|---|---|---|---|---|---|');
models.forEach((model, m) => {
  const ms = median(times[m]!);
  const file = statSync(join(args[m]!, 'model.safetensors')).size;
  console.log(`| ${args[m]} | ${model.parameterCount().toLocaleString('en-US')} (${nonzeros(model).toLocaleString('en-US')}) | ${(file / 2 ** 20).toFixed(0)} MiB | ${(model.weightBytes() / 2 ** 20).toFixed(0)} MiB | ${ms.toFixed(0)} | ${(1000 / ms).toFixed(2)} | ${(base / ms).toFixed(2)}x |`);
  model.dispose();
});
