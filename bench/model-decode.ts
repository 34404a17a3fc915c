// The whole-model comparison of #18 on Llama-2-7B layer shapes, in one run:
//   npx tsx bench/model-decode.ts --layers 2 [--dir /tmp/sk-llama7b-2L] [--tokens 16] [--batch 1,8]
//     [--prompt 0] [--samples 8] [--seq-len 512] [--method24 sparsegpt] [--cases dense,bitmap50,bitmap70,nm24]
//     [--keep] [--reuse] [--threads 2]
// 1. writes the random bf16 checkpoint (bench/llama7b-shapes.ts) unless --dir already holds one
//    with that many layers;
// 2. prunes it with `sparsekit prune-model`, one child process per case so each peak RSS is its
//    own: bitmap 50% and 70% by magnitude (the method does not change the decode speed), 2:4 by
//    SparseGPT on the calibration ids (--method24 magnitude to skip it), recording seconds per
//    block and peak RSS;
// 3. loads each checkpoint as saved (packed weights stay packed: nothing is densified) and times
//    decode steps block by block: ms per block, ms of the LM head, the bytes each reads, and the
//    fraction of the measured read bandwidth (the byte limit) that reaches;
// 4. prints one table and writes bench/results/model-decode-latest.json.
// Random weights say nothing about quality; they move the same bytes as the real model's blocks.
// The pruned checkpoints are deleted at the end unless --keep; --reuse (implies --keep) times the
// ones a previous --keep run left instead of pruning again. The dense one stays (delete it yourself).
// "32 layers" extrapolates decode tokens/s to Llama-2-7B's depth from the per-block and head times.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, cpuInfo, linear, setNumThreads } from '../lib/index.js';
import { LlamaModel } from '../lib/model/llama.js';
import { blockForward } from '../lib/model/block.js';
import { native } from '../lib/native.js';
import { SparseMatrix } from '../lib/sparse-matrix.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1]! : dflt; };
const layers = Number(opt('--layers', '2'));
const tokens = Number(opt('--tokens', '16'));
const batches = opt('--batch', '1').split(',').map(Number);
const prompt = Number(opt('--prompt', '0'));
const samples = opt('--samples', '8');
const seqLen = opt('--seq-len', '512');
const method24 = opt('--method24', 'sparsegpt');
const threads = Number(opt('--threads', '2'));
const dir = opt('--dir', join(tmpdir(), `sk-llama7b-${layers}L`));
const keep = args.includes('--keep') || args.includes('--reuse');
const reuse = args.includes('--reuse');
const caseNames = opt('--cases', 'dense,bitmap50,bitmap70,nm24').split(',');
setNumThreads(threads);

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');

interface Case { name: string; label: string; prune: string[] | null }
const CASES: Case[] = [
  { name: 'dense', label: 'dense bf16', prune: null },
  { name: 'bitmap50', label: 'bitmap 50%', prune: ['-m', 'magnitude', '--sparsity', '0.5', '-f', 'bitmap'] },
  { name: 'bitmap70', label: 'bitmap 70%', prune: ['-m', 'magnitude', '--sparsity', '0.7', '-f', 'bitmap'] },
  { name: 'nm24', label: `2:4 (${method24})`, prune: ['-m', method24, '--nm', '2:4', '-f', 'nm'] },
];

function run(cmd: string, argv: string[]): string {
  const r = spawnSync(cmd, argv, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited with ${r.status ?? r.signal}`);
  return r.stdout;
}

// 1. The dense checkpoint.
const haveLayers = existsSync(join(dir, 'config.json')) ? JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).num_hidden_layers : -1;
if (haveLayers !== layers) {
  console.error(`writing ${layers}-layer checkpoint to ${dir}`);
  rmSync(dir, { recursive: true, force: true });
  run(tsx, [join(here, 'llama7b-shapes.ts'), dir, String(layers)]);
}

// 2. The pruned checkpoints.
interface PruneRow { case: string; method: string; seconds: number; secondsPerBlock: number; peakRssBytes: number; outputBytes: number }
const pruned: PruneRow[] = [];
const dirs = new Map<string, string>([['dense', dir]]);
for (const c of CASES.filter((c) => caseNames.includes(c.name) && c.prune)) {
  const out = `${dir}-${c.name}`;
  dirs.set(c.name, out);
  if (reuse && existsSync(join(out, 'config.json'))) continue;
  rmSync(out, { recursive: true, force: true });
  const calib = c.prune!.includes('magnitude') ? [] : ['--calib', join(dir, 'calib.tokens'), '--samples', samples, '--seq-len', seqLen];
  console.error(`prune-model ${c.prune!.join(' ')} -> ${out}`);
  const r = JSON.parse(run(tsx, [join(root, 'lib', 'cli.ts'), 'prune-model', dir, ...c.prune!, ...calib, '--out', out, '--json']));
  const blocks = r.blockSeconds as number[];
  pruned.push({
    case: c.name, method: r.method, seconds: r.seconds, secondsPerBlock: blocks.reduce((a, b) => a + b, 0) / blocks.length,
    peakRssBytes: r.peakRssBytes, outputBytes: r.outputBytes,
  });
}

// 3. Decode, block by block. Every checkpoint is open at once and the cases take turns step by
// step, so a change in the machine's load hits them alike; CPU time (all threads of the process)
// is recorded next to wall time because other jobs on the same cores inflate wall time.
const bandwidthGBs = native.probeReadBandwidth(1 << 30, 3);
const bytesOf = (w: unknown) => (w as Tensor | SparseMatrix).byteLength;
interface DecodeRow {
  case: string; batch: number; tokensPerSecond: number; msPerStep: number; cpuMsPerStep: number;
  msPerBlock: number; cpuMsPerBlock: number; blockBytes: number; blockFloor: number;
  msHead: number; headBytes: number; headFloor: number;
  bytesPerStep: number; stepFloor: number; formats: string; prefillTokensPerSecond: number | null;
  /** Extrapolated to 32 blocks (Llama-2-7B): batch / (32 · ms per block + ms of the head). */
  tokensPerSecond32: number;
}
const decode: DecodeRow[] = [];
const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1]!;
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const open = CASES.filter((c) => dirs.has(c.name));
const models = new Map<string, LlamaModel>();
for (const c of open) models.set(c.name, await LlamaModel.load(dirs.get(c.name)!));
const prefill = new Map<string, number>();
if (prompt > 0)
  for (const c of open) {
    const model = models.get(c.name)!;
    const ids = Int32Array.from({ length: prompt }, (_, i) => (i * 7919 + 13) % model.config.vocabSize);
    await model.forward(ids.subarray(0, 8), { lastOnly: true });
    const t0 = performance.now();
    await model.forward(ids, { lastOnly: true });
    prefill.set(c.name, prompt / ((performance.now() - t0) / 1000));
  }
type Step = { blocks: number; cpuBlocks: number; head: number; total: number; cpuTotal: number };
async function step(model: LlamaModel, cache: ReturnType<LlamaModel['createCache']>, ids: Int32Array): Promise<Step> {
  const cfg = model.config, batch = cache.batch;
  const t0 = performance.now(), c0 = cpuMs();
  let x = model.embedTokens(ids);
  const positions = new Int32Array(batch).fill(cache.length);
  let tb = 0, cb = 0;
  for (const block of model.blocks) {
    const ctx = {
      config: cfg, batch, tokens: 1, past: cache.length, positions, invFreq: model.invFreq,
      cache: { k: cache.k[block.index]!, v: cache.v[block.index]!, capacity: cache.capacity },
    };
    const b0 = performance.now(), bc0 = cpuMs();
    x = (await blockForward(block, x, ctx))!;
    tb += performance.now() - b0;
    cb += cpuMs() - bc0;
  }
  cache.length += 1;
  const h = new Float32Array(x.length);
  native.modelRmsNorm(x, batch, cfg.hiddenSize, model.norm.toTypedArray(), model.norm.dtype, cfg.rmsNormEps, h);
  const h0 = performance.now();
  await linear(Tensor.from(h, [batch, cfg.hiddenSize]), model.lmHead, null, { outDtype: 'float32' });
  const now = performance.now();
  return { blocks: tb / model.blocks.length, cpuBlocks: cb / model.blocks.length, head: now - h0, total: now - t0, cpuTotal: cpuMs() - c0 };
}
for (const batch of batches) {
  const ids = (salt: number, n: number, vocab: number) => Int32Array.from({ length: n }, (_, i) => (i * 7919 + salt * 104729 + 13) % vocab);
  const caches = new Map<string, ReturnType<LlamaModel['createCache']>>();
  const steps = new Map<string, Step[]>();
  for (const c of open) {
    const model = models.get(c.name)!;
    const cache = model.createCache({ batch, capacity: 8 + tokens + 2 });
    await model.forward(Tensor.from(ids(0, 8 * batch, model.config.vocabSize), [batch, 8]), { cache, lastOnly: true });
    caches.set(c.name, cache);
    steps.set(c.name, []);
  }
  for (let s = 0; s <= tokens; s++)
    for (const c of open) {
      const model = models.get(c.name)!;
      const r = await step(model, caches.get(c.name)!, ids(s + 1, batch, model.config.vocabSize));
      if (s > 0) steps.get(c.name)!.push(r);  // step 0 untimed
    }
  for (const c of open) {
    const model = models.get(c.name)!, st = steps.get(c.name)!;
    const blockBytes = model.blocks.reduce((s, b) => s + Object.values(b.linears).reduce((t, l) => t + bytesOf(l.weight), 0), 0) / model.blocks.length;
    const headBytes = bytesOf(model.lmHead);
    const formats = [...new Set(model.linearSlots().map((s) => (s.weight instanceof SparseMatrix ? s.weight.format : 'dense')))].join('+');
    const msPerBlock = median(st.map((s) => s.blocks)), msHead = median(st.map((s) => s.head)), msPerStep = median(st.map((s) => s.total));
    const floor = (bytes: number, ms: number) => bytes / (bandwidthGBs * 1e6) / ms;
    const bytesPerStep = blockBytes * model.blocks.length + headBytes;
    decode.push({
      case: c.name, batch, tokensPerSecond: (1000 * batch) / msPerStep, msPerStep, cpuMsPerStep: median(st.map((s) => s.cpuTotal)),
      msPerBlock, cpuMsPerBlock: median(st.map((s) => s.cpuBlocks)), blockBytes, blockFloor: floor(blockBytes, msPerBlock),
      msHead, headBytes, headFloor: floor(headBytes, msHead),
      bytesPerStep, stepFloor: floor(bytesPerStep, msPerStep), formats, prefillTokensPerSecond: prefill.get(c.name) ?? null,
      tokensPerSecond32: (1000 * batch) / (32 * msPerBlock + msHead),
    });
  }
}
for (const m of models.values()) m.dispose();

// 4. Report.
const load = loadavg();
const MB = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
const pct = (f: number) => `${(100 * f).toFixed(0)}%`;
console.log(`model-decode: Llama-2-7B shapes, ${layers} layers, isa ${cpuInfo().isa}, ${threads} threads, read bandwidth ${bandwidthGBs.toFixed(1)} GB/s, ` +
  `load ${load.map((l) => l.toFixed(2)).join(' ')}`);
const denseRow = (b: number) => decode.find((d) => d.case === 'dense' && d.batch === b);
const head = ['case', 'storage', 'batch', 'tok/s', 'vs dense', '32 layers tok/s', 'ms/step', 'cpu ms/step', 'ms/block', 'cpu ms/block', 'MB/block', 'block floor', 'ms head', 'head floor', 'MB/step', 'step floor', ...(prompt > 0 ? [`prefill ${prompt} tok/s`] : [])];
const rows = [head, ...decode.map((d) => {
  const base = denseRow(d.batch);
  return [CASES.find((c) => c.name === d.case)!.label, d.formats, String(d.batch), d.tokensPerSecond.toFixed(2), base ? `${(d.tokensPerSecond / base.tokensPerSecond).toFixed(2)}x` : '-',
    d.tokensPerSecond32.toFixed(2), d.msPerStep.toFixed(1), d.cpuMsPerStep.toFixed(1), d.msPerBlock.toFixed(1), d.cpuMsPerBlock.toFixed(1), MB(d.blockBytes), pct(d.blockFloor), d.msHead.toFixed(1), pct(d.headFloor), MB(d.bytesPerStep), pct(d.stepFloor),
    ...(prompt > 0 ? [d.prefillTokensPerSecond!.toFixed(1)] : [])];
})];
const widths = head.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((v, i) => (i < 2 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  '));
if (pruned.length) {
  console.log('\nprune-model (one child process each; peak RSS of that process):');
  for (const p of pruned)
    console.log(`  ${p.case.padEnd(9)} ${p.method.padEnd(9)} ${p.secondsPerBlock.toFixed(1)} s/block, ${p.seconds.toFixed(1)} s, peak RSS ${(p.peakRssBytes / 2 ** 30).toFixed(2)} GiB, output ${MB(p.outputBytes)}`);
}
const resultsDir = join(here, 'results');
mkdirSync(resultsDir, { recursive: true });
writeFileSync(join(resultsDir, 'model-decode-latest.json'), JSON.stringify({
  layers, isa: cpuInfo().isa, threads, bandwidthGBs, load, tokens, samples: Number(samples), seqLen: Number(seqLen), decode, pruned,
}, null, 2) + '\n');
if (!keep) for (const [name, d] of dirs) if (name !== 'dense') rmSync(d, { recursive: true, force: true });
