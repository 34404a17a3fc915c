/**
 * `sparsekit prune-model`: loads a Llama-family checkpoint folder, prunes every block's linears
 * sequentially on calibration text or tokens (lib/model/prune-model.ts), and saves the result as
 * an HF-layout folder (docs/models.md).
 */
import { existsSync, realpathSync } from 'node:fs';
import { ArgumentError } from '../errors.js';
import { existingCheckpointFiles } from '../model/checkpoint-writer.js';
import { LlamaModel } from '../model/llama.js';
import type { BuiltinMethod, CalibrationMode, ModelPruneOptions, ModelPruneReport } from '../model/prune-model.js';
import { calibrationWindows, readTokensOrText } from '../model/tokens.js';
import type { PrunePattern } from '../prune.js';
import type { Format } from '../sparse-matrix.js';
import { CliError, Context, EXIT, fmtBytes, fmtPct, table } from './context.js';
import { interruptible, saveModelDir } from './model-steps.js';

/** Every whole-model method (the layer-level `prune` command has the first three). */
export const MODEL_PRUNE_METHODS: readonly BuiltinMethod[] = ['magnitude', 'wanda', 'sparsegpt', 'ria', 'dsnot', 'alps'];

export interface PruneModelOptions {
  method: BuiltinMethod;
  /** Method options beyond the pattern: layerwise/owl, ria, dsnot, alps (ModelPruneOptions). */
  extra?: Pick<ModelPruneOptions, 'layerwise' | 'owl' | 'ria' | 'dsnot' | 'alps'>;
  pattern: PrunePattern;
  calib?: string;
  samples: number;
  seqLen: number;
  calibration: CalibrationMode;
  format: 'keep' | 'auto' | Format;
  blockSize: number;
  damping: number;
  seed: number;
  /** Largest weight file of the output (past it: shards and an index). */
  maxShardBytes?: number;
  /** Replace a checkpoint already in the output folder. */
  force?: boolean;
}

export interface PruneModelReport extends ModelPruneReport {
  command: 'prune-model';
  version: 1;
  input: string;
  output: string;
  outputBytes: number;
  /** The weight files written (model.safetensors, or the shards and the index). */
  outputFiles: string[];
  peakRssBytes: number;
}

export async function pruneModelDir(input: string, output: string, o: PruneModelOptions, ctx: Context): Promise<PruneModelReport> {
  // Before any pruning: never the input folder, and an output folder that holds a checkpoint is replaced only with --force.
  if (existsSync(output) && existsSync(input) && realpathSync(output) === realpathSync(input))
    throw new ArgumentError(`dir: '${output}' is the folder the model was loaded from; save elsewhere`);
  if (!o.force && existingCheckpointFiles(output).length > 0)
    throw new CliError(EXIT.usage, `--out '${output}' already holds a checkpoint`, 'add --force to replace it, or choose another folder');
  using model = await LlamaModel.load(input);
  let samples: Int32Array[] = [];
  if (o.method !== 'magnitude') {
    if (!o.calib) throw new CliError(EXIT.input, `--method ${o.method} needs calibration input`, 'add --calib <text file or token file>');
    samples = calibrationWindows(await readTokensOrText(o.calib, input), o.samples, o.seqLen, o.seed);
  }
  ctx.note(`${model}: ${o.extra?.layerwise === 'owl' ? 'owl + ' : ''}${o.method} ${o.pattern.sparsity !== undefined ? `${fmtPct(o.pattern.sparsity)}` : `${o.pattern.n}:${o.pattern.m}`}, ` +
    `${samples.length} samples x ${o.seqLen} tokens, ${o.calibration} calibration`);
  const bar = ctx.progress(model.blocks.length, 'blocks');
  let current = -1;
  let rss = process.memoryUsage().rss;
  const report = await interruptible(ctx, bar, async (signal) => {
    const r = await model.prune(samples, { method: o.method, ...o.pattern, ...o.extra, calibration: o.calibration, blockSize: o.blockSize, damping: o.damping } as never, {
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
  const saved = await saveModelDir(model, output, { format: o.format, maxShardBytes: o.maxShardBytes, overwrite: o.force });
  // The kernel's high-water mark also sees peaks between progress callbacks (a Hessian's factorisation).
  rss = Math.max(rss, process.memoryUsage().rss, process.resourceUsage().maxRSS * 1024);
  return { command: 'prune-model', version: 1, input, output, outputBytes: saved.bytes, outputFiles: saved.files, peakRssBytes: rss, ...report };
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
  const files = r.outputFiles.length === 1 ? r.outputFiles[0] : `${r.outputFiles.length - 1} shards + index`;
  ctx.out(`wrote ${r.output} (${files}, ${fmtBytes(r.outputBytes)}); peak RSS ${fmtBytes(r.peakRssBytes)}`);
}
