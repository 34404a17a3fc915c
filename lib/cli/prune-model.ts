/**
 * `sparsekit prune-model`: loads a Llama-family checkpoint folder, prunes every block's linears
 * sequentially on calibration text or tokens (lib/model/prune-model.ts), and saves the result as
 * an HF-layout folder (docs/models.md).
 */
import { LlamaModel } from '../model/llama.js';
import type { CalibrationMode, ModelPruneReport } from '../model/prune-model.js';
import { calibrationWindows, readTokensOrText } from '../model/tokens.js';
import type { PrunePattern } from '../prune.js';
import type { Format } from '../sparse-matrix.js';
import { CliError, Context, EXIT, fmtBytes, fmtPct, table } from './context.js';
import { interruptible, saveModelDir } from './model-steps.js';

export interface PruneModelOptions {
  method: 'magnitude' | 'wanda' | 'sparsegpt';
  pattern: PrunePattern;
  calib?: string;
  samples: number;
  seqLen: number;
  calibration: CalibrationMode;
  format: 'keep' | 'auto' | Format;
  blockSize: number;
  damping: number;
  seed: number;
}

export interface PruneModelReport extends ModelPruneReport {
  command: 'prune-model';
  version: 1;
  input: string;
  output: string;
  outputBytes: number;
  peakRssBytes: number;
}

export async function pruneModelDir(input: string, output: string, o: PruneModelOptions, ctx: Context): Promise<PruneModelReport> {
  using model = await LlamaModel.load(input);
  let samples: Int32Array[] = [];
  if (o.method !== 'magnitude') {
    if (!o.calib) throw new CliError(EXIT.input, `--method ${o.method} needs calibration input`, 'add --calib <text file or token file>');
    samples = calibrationWindows(await readTokensOrText(o.calib, input), o.samples, o.seqLen, o.seed);
  }
  ctx.note(`${model}: ${o.method} ${o.pattern.sparsity !== undefined ? `${fmtPct(o.pattern.sparsity)}` : `${o.pattern.n}:${o.pattern.m}`}, ` +
    `${samples.length} samples x ${o.seqLen} tokens, ${o.calibration} calibration`);
  const bar = ctx.progress(model.blocks.length, 'blocks');
  let current = -1;
  let rss = process.memoryUsage().rss;
  const report = await interruptible(ctx, bar, async (signal) => {
    const r = await model.prune(samples, { method: o.method, ...o.pattern, calibration: o.calibration, blockSize: o.blockSize, damping: o.damping } as never, {
      signal,
      onProgress: (p) => {
        rss = Math.max(rss, process.memoryUsage().rss);
        if (p.stage === 'done') return;
        if (p.block !== current) {
          if (current >= 0) bar.done();
          current = p.block;
          bar.item(`block ${p.block}`);
        }
        bar.fraction(p.fraction * p.blocks - p.block);
      },
    });
    if (current >= 0) bar.done();
    return r;
  });
  ctx.checkAborted();
  const saved = await saveModelDir(model, output, { format: o.format });
  rss = Math.max(rss, process.memoryUsage().rss);
  return { command: 'prune-model', version: 1, input, output, outputBytes: saved.bytes, peakRssBytes: rss, ...report };
}

export function printPruneModel(r: PruneModelReport, ctx: Context): void {
  if (ctx.opts.verbose) {
    const rows = [['name', '>sparsity', '>loss', '>seconds']];
    for (const l of r.linears) rows.push([l.name, fmtPct(l.sparsity), l.loss.toPrecision(4), l.seconds.toFixed(2)]);
    ctx.out(table(rows));
    ctx.out();
  }
  const perBlock = r.blockSeconds.length ? r.blockSeconds.reduce((a, b) => a + b, 0) / r.blockSeconds.length : 0;
  ctx.out(`prune-model: ${r.method} ${r.pattern} (${r.calibration}) on ${r.samples} samples / ${r.tokens} tokens: ` +
    `${r.linears.length} linears, ${fmtPct(r.sparsity)} sparse, ${perBlock.toFixed(2)} s per block, ${r.seconds.toFixed(1)} s in all`);
  ctx.out(`wrote ${r.output} (model.safetensors ${fmtBytes(r.outputBytes)}); peak RSS ${fmtBytes(r.peakRssBytes)}`);
}
