/**
 * The `sparsekit` command line (docs/cli.md). runCli() is the whole program minus process
 * plumbing: it takes argv and output sinks and resolves to the exit code, so tests run it
 * in-process and lib/cli.ts only connects it to the real process.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { isFloatDType, type FloatDType } from '../dtype.js';
import { QUANT_GROUP_SIZES, type QuantizeOptions } from '../quant.js';
import { packageRoot } from '../native.js';
import { setNumThreads } from '../runtime.js';
import { checkMatrixShape } from '../shape.js';
import { FORMATS, type Format } from '../sparse-matrix.js';
import { runBench, printBench } from './bench.js';
import { CliError, Context, EXIT, classify, parseNM, parseRegex, type CliIO, type GlobalOptions } from './context.js';
import { inspectFile, printInspect } from './inspect.js';
import { mergeLoraFile, printMerge } from './merge-lora.js';
import { PACK_FORMATS, UNPACK_SLORB, packFile, printPack, unpackFile, type PackFormat, type UnpackSlorb } from './pack.js';
import { PRUNE_METHODS, printPrune, pruneFile, type PruneMethod } from './prune.js';
import { BENCH_MODEL_FORMATS, benchModel, printBenchModel, type BenchModelFormat } from './bench-model.js';
import { evalDir, printEval } from './eval.js';
import { ACTIVATIONS, type Activations } from '../ops.js';
import { MODEL_PRUNE_METHODS, printPruneModel, pruneModelDir } from './prune-model.js';
import type { BuiltinMethod } from '../model/prune-model.js';
import { printShrink, shrinkDir, type ShrinkCliOptions } from './shrink.js';
import { SCORE_METHODS, type ScoreMethod } from '../model/structure.js';

/** The package's version, from its package.json. */
export const CLI_VERSION: string = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')).version;

function parseIntOpt(s: string, option: string, min: number, max: number): number {
  const v = Number(s);
  if (!Number.isInteger(v) || v < min || v > max) throw new CliError(EXIT.usage, `${option}: expected an integer in [${min}, ${max}], got '${s}'`);
  return v;
}

/** '5GB', '500MB', '2GiB' or a plain byte count (transformers' max_shard_size spelling: GB = 1e9). */
function parseSize(s: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$/i.exec(s.trim());
  const unit: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30 };
  const v = m ? Math.floor(Number(m[1]) * unit[(m[2] ?? 'b').toLowerCase()]!) : NaN;
  if (!Number.isSafeInteger(v) || v < 1) throw new CliError(EXIT.usage, `${option}: expected a size such as 5GB, 500MB or a byte count, got '${s}'`);
  return v;
}

function parseNumberOpt(s: string, option: string, min: number, max: number, exclusiveMax = false): number {
  const v = Number(s);
  if (!Number.isFinite(v) || v < min || v > max || (exclusiveMax && v === max))
    throw new CliError(EXIT.usage, `${option}: expected a number in [${min}, ${max}${exclusiveMax ? ')' : ']'}, got '${s}'`);
  return v;
}

function parseDType(s: string | undefined, option: string): FloatDType | undefined {
  if (s === undefined) return undefined;
  if (!isFloatDType(s)) throw new CliError(EXIT.usage, `${option}: expected float32, float16 or bfloat16, got '${s}'`);
  return s;
}

export function parseShape(s: string): [number, number] {
  const m = /^(\d+)x(\d+)$/i.exec(s.trim());
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new CliError(EXIT.usage, `--shape: expected ROWSxCOLS such as 11008x4096, got '${s}'`);
  try {
    return checkMatrixShape([Number(m[1]), Number(m[2])], '--shape');
  } catch (e) {
    throw new CliError(EXIT.usage, (e as Error).message);
  }
}

/** --quant int4|int8 --group G [--asym] -> quantize options (undefined without --quant). */
function parseQuant(o: { quant?: string; group?: string; asym?: boolean }): QuantizeOptions | undefined {
  if (o.quant === undefined) {
    if (o.group !== undefined || o.asym) throw new CliError(EXIT.usage, '--group and --asym only apply with --quant int4 | int8');
    return undefined;
  }
  if (o.quant !== 'int4' && o.quant !== 'int8') throw new CliError(EXIT.usage, `--quant: expected int4 or int8, got '${o.quant}'`);
  const group = parseIntOpt(o.group ?? '128', '--group', 1, 1 << 20);
  if (!QUANT_GROUP_SIZES.includes(group)) throw new CliError(EXIT.usage, `--group: expected one of ${QUANT_GROUP_SIZES.join(', ')}, got ${group}`);
  return { bits: o.quant === 'int4' ? 4 : 8, groupSize: group, symmetric: !o.asym };
}

const parseActivations = (s: string): Activations => parseFormat(s, ACTIVATIONS, '--activations') as Activations;

function parseFormat(s: string, allowed: readonly string[], option = '--format'): string {
  if (!allowed.includes(s)) throw new CliError(EXIT.usage, `${option}: expected one of ${allowed.join(', ')}, got '${s}'`);
  return s;
}

// Calibration input, shared by the whole-model commands.
const calibOption = () => new Option('--calib <file>', 'calibration: text (needs tokenizer.json) or token ids (.safetensors int32, .bin/.tokens raw int32)');
const samplesOption = () => new Option('--samples <n>', 'calibration windows').default('128');
const seqLenOption = () => new Option('--seq-len <n>', 'tokens per calibration window').default('2048');

export function buildProgram(io: CliIO, run: (action: (ctx: Context) => Promise<number>) => Promise<void>): Command {
  const program = new Command('sparsekit')
    .description('Sparse LLM weights: inspect, prune, pack and benchmark safetensors checkpoints')
    .version(CLI_VERSION, '-V, --version')
    .option('--json', 'print one machine-readable JSON document on stdout', false)
    .option('-v, --verbose', 'more detail, and stack traces on errors', false)
    .option('-q, --quiet', 'no progress bars or notes', false)
    .option('--threads <n>', 'native worker threads (default: all cores or SPARSEKIT_NUM_THREADS)')
    .showHelpAfterError('(run sparsekit --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  program.hook('preAction', (cmd) => {
    const t = cmd.opts().threads as string | undefined;
    if (t !== undefined) setNumThreads(parseIntOpt(t, '--threads', 1, 1024));
  });

  program.command('inspect')
    .description('list tensors with dtype, shape, storage format, size, sparsity and N:M compliance')
    .argument('<file>', 'a .safetensors file')
    .option('--no-stats', 'read the header only (instant; no sparsity or N:M columns)')
    .option('--layers <regex>', 'only tensors whose name matches')
    .option('--expect-nm <n:m>', 'exit 5 unless every selected linear weight follows this N:M pattern')
    .action((file: string, o: { stats: boolean; layers?: string; expectNm?: string }) => run(async (ctx) => {
      const expectNM = o.expectNm === undefined ? undefined : parseNM(o.expectNm, '--expect-nm');
      const r = await inspectFile(file, { stats: o.stats, layers: parseRegex(o.layers, '--layers'), expectNM }, ctx);
      if (ctx.opts.json) ctx.json(r);
      else printInspect(r, ctx);
      return r.check && !r.check.passed ? EXIT.check : EXIT.ok;
    }));

  program.command('pack')
    .description('store weights in a packed sparse format (lossless; never prunes)')
    .argument('<file>', 'input .safetensors (dense or packed)')
    .requiredOption('-o, --out <file>', 'output .safetensors')
    .option('-f, --format <format>', `${PACK_FORMATS.join(' | ')}`, 'auto')
    .option('--nm <n:m>', 'pattern for --format nm (default: 2:4 or 4:8, whichever the weight follows)')
    .option('--layers <regex>', 'tensors to pack (default: 2-D float weights except embeddings, heads and norms)')
    .option('--dtype <dtype>', 'convert packed values first: float32 | float16 | bfloat16')
    .option('--expected-n <n>', 'with --format auto: tokens per product to pick the fastest format for', '1')
    .option('--quant <bits>', 'store values as int4 | int8 codes with per-group fp16 scales (dense, bitmap, nm)')
    .option('--group <n>', 'with --quant: columns per scale, 32 | 64 | 128 | 256 (default 128)')
    .option('--asym', 'with --quant: asymmetric grids (a zero point per group)', false)
    .action((file: string, o: { out: string; format: string; nm?: string; layers?: string; dtype?: string; expectedN: string; quant?: string; group?: string; asym: boolean }) => run(async (ctx) => {
      const format = parseFormat(o.format, PACK_FORMATS) as PackFormat;
      const nm = o.nm === undefined ? undefined : parseNM(o.nm, '--nm');
      if (nm && format !== 'nm') throw new CliError(EXIT.usage, '--nm only applies with --format nm');
      const r = await packFile(file, o.out, {
        format, nm, layers: parseRegex(o.layers, '--layers'), dtype: parseDType(o.dtype, '--dtype'),
        expectedN: parseIntOpt(o.expectedN, '--expected-n', 1, 65536), quant: parseQuant(o),
      }, ctx);
      if (ctx.opts.json) ctx.json(r);
      else printPack(r, ctx);
      return EXIT.ok;
    }));

  program.command('unpack')
    .description('turn packed matrices back into dense tensors (bit-exact)')
    .argument('<file>', 'input .safetensors with packed matrices')
    .requiredOption('-o, --out <file>', 'output .safetensors')
    .option('--layers <regex>', 'only matrices whose name matches')
    .option('--slorb <mode>', `matrices with an SLoRB term: ${UNPACK_SLORB.join(' | ')} (fold: W + S·P as one dense tensor; keep: dense values with the term)`)
    .action((file: string, o: { out: string; layers?: string; slorb?: string }) => run(async (ctx) => {
      if (o.slorb !== undefined && !UNPACK_SLORB.includes(o.slorb as UnpackSlorb))
        throw new CliError(EXIT.usage, `--slorb: expected ${UNPACK_SLORB.join(' or ')}, got '${o.slorb}'`);
      const r = await unpackFile(file, o.out, parseRegex(o.layers, '--layers'), ctx, o.slorb as UnpackSlorb | undefined);
      if (ctx.opts.json) ctx.json(r);
      else printPack(r, ctx);
      return EXIT.ok;
    }));

  program.command('prune')
    .description('prune linear weights with magnitude, Wanda, SparseGPT, RIA, DSnoT or ALPS, layer by layer')
    .argument('<file>', 'input .safetensors checkpoint')
    .requiredOption('-o, --out <file>', 'output .safetensors')
    .requiredOption('-m, --method <method>', PRUNE_METHODS.join(' | '))
    .option('--sparsity <s>', 'fraction of each weight to prune (unstructured), e.g. 0.5')
    .option('--nm <n:m>', 'keep n of every m consecutive weights along K, e.g. 2:4')
    .option('--calib <file>', 'calibration inputs (docs/cli.md); needed by every method but magnitude')
    .option('--layers <regex>', 'weights to prune (default: 2-D float weights except embeddings, heads and norms)')
    .option('-f, --format <format>', `storage of the pruned weights: ${['dense', ...PACK_FORMATS.filter((f) => f !== 'dense')].join(' | ')} (default dense; auto with --quant)`)
    .option('--quant <bits>', 'quantize the kept weights: int4 | int8 with per-group fp16 scales (sparsegpt: jointly)')
    .option('--group <n>', 'with --quant: columns per scale, 32 | 64 | 128 | 256 (default 128)')
    .option('--asym', 'with --quant: asymmetric grids (a zero point per group)', false)
    .option('--expected-n <n>', 'with --format auto: tokens per product to pick the fastest format for', '1')
    .option('--block-size <n>', 'sparsegpt: columns per block', '128')
    .option('--damping <d>', 'sparsegpt: fraction of the mean Hessian diagonal added to it', '0.01')
    .option('--per-row', 'magnitude: rank |w| within each row instead of over the whole matrix', false)
    .option('--alpha-search', 'wanda (unstructured): the published per-row threshold with alpha search', false)
    .option('--ria-a <a>', 'ria: exponent of the activation norm', '0.5')
    .option('--ria-reconstruct', "ria: reconstruct the kept weights with SparseGPT's update on RIA's mask", false)
    .option('--dsnot-initial <m>', "dsnot: start, sparsegpt (SparseGPT's result) | wanda | sparsegpt-saliency", 'sparsegpt')
    .option('--dsnot-cycles <n>', 'dsnot: prune-and-grow cycles per row (default: 50 for rows >= 4096 wide, scaled down with the width)')
    .option('--alps-iters <n>', 'alps: ADMM iterations at most', '300')
    .option('--eval-tokens <n>', 'calibration tokens used to measure each layer\'s relative output error (0: skip)', '16')
    .action((file: string, o: Record<string, string | undefined> & { perRow: boolean; alphaSearch: boolean; asym: boolean; riaReconstruct: boolean }) => run(async (ctx) => {
      const method = o.method as PruneMethod;
      if (!PRUNE_METHODS.includes(method)) throw new CliError(EXIT.usage, `--method: expected one of ${PRUNE_METHODS.join(', ')}, got '${o.method}'`);
      if ((o.sparsity === undefined) === (o.nm === undefined)) throw new CliError(EXIT.usage, 'give exactly one of --sparsity <s> or --nm <n:m>');
      const pattern = o.nm !== undefined ? parseNM(o.nm, '--nm') : { sparsity: parseNumberOpt(o.sparsity!, '--sparsity', 0, 1, true) };
      const r = await pruneFile(file, o.out!, {
        method, pattern, calib: o.calib, layers: parseRegex(o.layers, '--layers'),
        format: o.format === undefined ? undefined : parseFormat(o.format, PACK_FORMATS) as PackFormat, quant: parseQuant(o),
        blockSize: parseIntOpt(o.blockSize!, '--block-size', 1, 1 << 20), damping: parseNumberOpt(o.damping!, '--damping', 0, 1e6),
        evalTokens: parseIntOpt(o.evalTokens!, '--eval-tokens', 0, 1 << 20), perRow: o.perRow, alphaSearch: o.alphaSearch,
        expectedN: parseIntOpt(o.expectedN!, '--expected-n', 1, 65536),
        ria: { a: parseNumberOpt(o.riaA!, '--ria-a', 0, 1e3), reconstruct: o.riaReconstruct },
        dsnot: { initial: parseFormat(o.dsnotInitial!, ['sparsegpt', 'wanda', 'sparsegpt-saliency'], '--dsnot-initial') as 'sparsegpt' | 'wanda' | 'sparsegpt-saliency',
          ...(o.dsnotCycles !== undefined ? { maxCycles: parseIntOpt(o.dsnotCycles, '--dsnot-cycles', 0, 1 << 20) } : {}) },
        alps: { maxIter: parseIntOpt(o.alpsIters!, '--alps-iters', 0, 1 << 20) },
      }, ctx);
      if (ctx.opts.json) ctx.json(r);
      else printPrune(r, ctx);
      return EXIT.ok;
    }));

  program.command('merge-lora')
    .description('merge a PEFT LoRA adapter into a pruned model, keeping every pruned weight zero')
    .argument('<model>', 'model .safetensors (dense or packed), or a folder holding model.safetensors or shards with model.safetensors.index.json')
    .argument('<adapter>', 'PEFT adapter directory (adapter_config.json + adapter_model.safetensors), or its .safetensors')
    .requiredOption('-o, --out <path>', 'output .safetensors (an output folder for a sharded model)')
    .option('--scale <s>', 'override lora_alpha / r (needed when there is no adapter_config.json)')
    .option('--force', 'sharded model: replace a checkpoint already in the output folder', false)
    .action((model: string, adapter: string, o: { out: string; scale?: string; force: boolean }) => run(async (ctx) => {
      const scale = o.scale === undefined ? undefined : parseNumberOpt(o.scale, '--scale', -1e6, 1e6);
      const r = await mergeLoraFile(model, adapter, o.out, { scale, force: o.force }, ctx);
      if (ctx.opts.json) ctx.json(r);
      else printMerge(r, ctx);
      return EXIT.ok;
    }));

  program.command('bench')
    .description('time the kernels on this host: each format against dense, same weight, same run')
    .option('--shape <MxK>', 'weight shape (rows x cols)', '11008x4096')
    .option('--sparsity <s>', 'fraction of zero weights', '0.7')
    .option('--dtype <dtype>', 'weight and activation dtype', 'float16')
    .option('--batch <list>', 'tokens per product, comma-separated', '1,8')
    .option('--activations <a>', "float32 activations, exact (float32) or rounded to bf16 (bfloat16); default: the weight's dtype")
    .option('--formats <list>', `comma-separated, from ${FORMATS.filter((f) => f !== 'dense').join(', ')}`, 'bitmap,csr,nm')
    .option('--seconds <s>', 'time budget per case', '0.3')
    .option('--seed <n>', 'random seed', '1')
    .action((o: Record<string, string>) => run(async (ctx) => {
      const [rows, cols] = parseShape(o.shape!);
      const formats = o.formats!.split(',').map((f) => parseFormat(f.trim(), FORMATS) as Format);
      const batch = o.batch!.split(',').map((b) => parseIntOpt(b.trim(), '--batch', 1, 65536));
      const r = await runBench({
        rows, cols, formats, batch, sparsity: parseNumberOpt(o.sparsity!, '--sparsity', 0, 1, true),
        dtype: parseDType(o.dtype, '--dtype')!, activations: o.activations === undefined ? undefined : parseFormat(o.activations, ['float32', 'bfloat16'], '--activations') as 'float32' | 'bfloat16', seconds: parseNumberOpt(o.seconds!, '--seconds', 0, 60), seed: parseIntOpt(o.seed!, '--seed', 0, 2 ** 31),
      }, ctx);
      if (ctx.opts.json) ctx.json(r);
      else printBench(r, ctx);
      return EXIT.ok;
    }));
  program.command('prune-model')
    .description('prune a Llama-family checkpoint folder block by block on calibration text (docs/models.md)')
    .argument('<dir>', 'checkpoint folder: config.json + model.safetensors (or sharded)')
    .requiredOption('-o, --out <dir>', 'output folder (HF layout; config and tokenizer copied)')
    .requiredOption('-m, --method <method>', MODEL_PRUNE_METHODS.join(' | '))
    .option('--sparsity <s>', 'fraction of each linear to prune (unstructured), e.g. 0.5')
    .option('--nm <n:m>', 'keep n of every m consecutive weights along K, e.g. 2:4')
    .option('--layerwise <mode>', "uniform | owl (per-block sparsity from outlier ratios; unstructured only)", 'uniform')
    .option('--owl-m <M>', 'owl: outlier threshold as a multiple of the mean score', '5')
    .option('--owl-lambda <l>', 'owl: per-block sparsities span target ± l', '0.08')
    .option('--permute', 'ria with --nm: permute down_proj input channels (folded into gate/up)')
    .option('--refine', 'ria --permute: add the linear-sum-assignment refinement')
    .option('--dsnot-initial <m>', "dsnot: start, sparsegpt (SparseGPT's result) | wanda | sparsegpt-saliency", 'sparsegpt')
    .option('--dsnot-cycles <n>', 'dsnot: prune-and-grow cycles per row (default: 50 for rows >= 4096 wide, scaled down with the width)')
    .option('--alps-iters <n>', 'alps: ADMM iterations at most', '300')
    .addOption(calibOption()).addOption(samplesOption()).addOption(seqLenOption())
    .option('--calibration <mode>', 'sequential | block | one-pass', 'sequential')
    .option('-f, --format <format>', 'storage of the pruned linears: auto | keep | dense | bitmap | csr | nm', 'auto')
    .option('--block-size <n>', 'sparsegpt: columns per block', '128')
    .option('--damping <d>', 'sparsegpt: fraction of the mean Hessian diagonal added to it', '0.01')
    .option('--seed <n>', 'seed for the calibration window offsets', '0')
    .option('--max-shard-size <size>', 'largest weight file, e.g. 5GB, 500MB or bytes; past it the output is sharded', '5GB')
    .option('--force', 'replace a checkpoint already in the output folder', false)
    .action((dir: string, o: Record<string, string | undefined>) => run(async (ctx) => {
      const method = o.method as BuiltinMethod;
      if (!MODEL_PRUNE_METHODS.includes(method)) throw new CliError(EXIT.usage, `--method: expected one of ${MODEL_PRUNE_METHODS.join(', ')}, got '${o.method}'`);
      if ((o.sparsity === undefined) === (o.nm === undefined)) throw new CliError(EXIT.usage, 'give exactly one of --sparsity <s> or --nm <n:m>');
      const pattern = o.nm !== undefined ? parseNM(o.nm, '--nm') : { sparsity: parseNumberOpt(o.sparsity!, '--sparsity', 0, 1, true) };
      const layerwise = parseFormat(o.layerwise!, ['uniform', 'owl'], '--layerwise') as 'uniform' | 'owl';
      if (layerwise === 'owl' && o.nm !== undefined) throw new CliError(EXIT.usage, '--layerwise owl applies to --sparsity only');
      if (o.permute && (method !== 'ria' || o.nm === undefined)) throw new CliError(EXIT.usage, '--permute applies to --method ria with --nm');
      if (o.refine && !o.permute) throw new CliError(EXIT.usage, '--refine needs --permute');
      const extra = {
        layerwise,
        owl: { M: parseNumberOpt(o.owlM!, '--owl-m', 1e-6, 1e6), lambda: parseNumberOpt(o.owlLambda!, '--owl-lambda', 0, 0.5) },
        ria: { permute: o.permute !== undefined, refine: o.refine !== undefined },
        dsnot: { initial: parseFormat(o.dsnotInitial!, ['wanda', 'sparsegpt', 'sparsegpt-saliency'], '--dsnot-initial') as 'wanda' | 'sparsegpt' | 'sparsegpt-saliency',
          ...(o.dsnotCycles !== undefined ? { maxCycles: parseIntOpt(o.dsnotCycles, '--dsnot-cycles', 0, 1 << 20) } : {}) },
        alps: { maxIter: parseIntOpt(o.alpsIters!, '--alps-iters', 0, 1 << 20) },
      };
      const calibration = parseFormat(o.calibration!, ['sequential', 'block', 'one-pass'], '--calibration') as 'sequential' | 'block' | 'one-pass';
      const r = await pruneModelDir(dir, o.out!, {
        method, extra, pattern, calib: o.calib, samples: parseIntOpt(o.samples!, '--samples', 1, 1 << 20), seqLen: parseIntOpt(o.seqLen!, '--seq-len', 2, 1 << 20),
        calibration, format: parseFormat(o.format!, ['auto', 'keep', 'dense', 'bitmap', 'csr', 'nm']) as never,
        blockSize: parseIntOpt(o.blockSize!, '--block-size', 1, 1 << 20), damping: parseNumberOpt(o.damping!, '--damping', 0, 1e6),
        seed: parseIntOpt(o.seed!, '--seed', 0, 2 ** 31), maxShardBytes: parseSize(o.maxShardSize!, '--max-shard-size'), force: Boolean(o.force),
      }, ctx);
      if (ctx.opts.json) ctx.json(r);
      else printPruneModel(r, ctx);
      return EXIT.ok;
    }));

  program.command('shrink')
    .description('structured pruning: remove attention heads, MLP channels and blocks; writes a smaller dense checkpoint (docs/structured.md)')
    .argument('<dir>', 'checkpoint folder: config.json + model.safetensors (or sharded)')
    .requiredOption('-o, --out <dir>', 'output folder (HF layout); must not exist or be empty, unless --force')
    .option('--score <method>', SCORE_METHODS.join(' | '), 'flap')
    .option('--heads <r>', 'fraction of each layer\'s attention groups (kv heads with their query heads) to remove')
    .option('--mlp <r>', 'fraction of each layer\'s MLP channels to remove')
    .option('--blocks <r>', 'fraction of whole blocks to remove (lowest block influence)')
    .option('--global <r>', 'FLAP\'s global ranking: fraction of the attention + MLP parameters to remove, sizes free per layer')
    .option('--keep-shape <file>', 'target shape JSON: { layers, heads, kvHeads?, intermediate, hidden? }')
    .option('--masks <file>', '0/1 masks (safetensors) made elsewhere, applied as they are')
    .option('--hidden <n>', 'then slice the residual stream to n dims (SliceGPT-style rotation; needs --calib)')
    .option('--gradients <file>', 'taylor: safetensors of <weight name>.grad tensors')
    .addOption(calibOption()).addOption(samplesOption()).addOption(seqLenOption())
    .option('--seed <n>', 'seed for the calibration window offsets', '0')
    .option('--bias-compensation', 'fold FLAP\'s bias compensation into o_proj / down_proj biases (default with --score flap)')
    .option('--no-bias-compensation', 'no compensation biases')
    .option('--save-masks <file>', 'also write the plan as 0/1 masks (safetensors)')
    .option('--force', 'write into a non-empty --out folder (replacing the files shrink writes)', false)
    .action((dir: string, o: Record<string, string | boolean | undefined>) => run(async (ctx) => {
      const score = o.score as ScoreMethod;
      if (!SCORE_METHODS.includes(score)) throw new CliError(EXIT.usage, `--score: expected one of ${SCORE_METHODS.join(', ')}, got '${o.score}'`);
      const ratio = (k: string, name: string) => (o[k] === undefined ? undefined : parseNumberOpt(o[k] as string, name, 0, 1, true));
      const ratios = { heads: ratio('heads', '--heads'), mlp: ratio('mlp', '--mlp'), blocks: ratio('blocks', '--blocks') };
      const hasRatios = Object.values(ratios).some((v) => v !== undefined);
      const sources = [hasRatios, o.global !== undefined, o.keepShape !== undefined && o.masks === undefined, o.masks !== undefined].filter(Boolean).length;
      if (sources > 1 || (sources === 0 && o.hidden === undefined))
        throw new CliError(EXIT.usage, 'give one plan (--heads/--mlp/--blocks, --global, --keep-shape, or --masks with an optional --keep-shape to check), --hidden, or both');
      const plan: ShrinkCliOptions['plan'] = sources === 0 ? { none: true } : o.masks !== undefined ? { masks: o.masks as string, shapeFile: o.keepShape as string | undefined }
        : o.keepShape !== undefined ? { shapeFile: o.keepShape as string }
        : o.global !== undefined ? { global: parseNumberOpt(o.global as string, '--global', 0, 1, true) }
        : { ratios: Object.fromEntries(Object.entries(ratios).filter(([, v]) => v !== undefined)) };
      const r = await shrinkDir(dir, o.out as string, {
        score, plan, calib: o.calib as string | undefined, gradients: o.gradients as string | undefined,
        samples: parseIntOpt(o.samples as string, '--samples', 1, 1 << 20), seqLen: parseIntOpt(o.seqLen as string, '--seq-len', 2, 1 << 20),
        seed: parseIntOpt(o.seed as string, '--seed', 0, 2 ** 31), biasCompensation: o.biasCompensation as boolean | undefined,
        saveMasks: o.saveMasks as string | undefined, force: o.force === true,
        hidden: o.hidden === undefined ? undefined : parseIntOpt(o.hidden as string, '--hidden', 1, 1 << 20),
      }, ctx);
      if (ctx.opts.json) ctx.json(r);
      else printShrink(r, ctx);
      return EXIT.ok;
    }));

  program.command('eval')
    .description('perplexity of a checkpoint folder on text or token ids (non-overlapping windows)')
    .argument('<dir>', 'checkpoint folder')
    .option('--text <file>', 'text, encoded with the folder\'s tokenizer.json')
    .option('--tokens <file>', 'token ids: .safetensors int32, or raw little-endian int32')
    .option('--seq-len <n>', 'tokens per window', '2048')
    .option('--batch <n>', 'windows per forward', '1')
    .option('--max-windows <n>', 'use at most this many windows')
    .option('--activations <a>', `what the linears may round float32 inputs to: ${ACTIVATIONS.join(', ')} (int8: quantized weights only)`, 'float32')
    .action((dir: string, o: Record<string, string | undefined>) => run(async (ctx) => {
      if ((o.text === undefined) === (o.tokens === undefined)) throw new CliError(EXIT.usage, 'give exactly one of --text <file> or --tokens <file>');
      const r = await evalDir(dir, {
        file: (o.text ?? o.tokens)!, kind: o.text !== undefined ? 'text' : 'tokens', seqLen: parseIntOpt(o.seqLen!, '--seq-len', 2, 1 << 20),
        batch: parseIntOpt(o.batch!, '--batch', 1, 4096),
        maxWindows: o.maxWindows === undefined ? undefined : parseIntOpt(o.maxWindows, '--max-windows', 1, 1 << 30),
        activations: parseActivations(o.activations!),
      }, ctx);
      if (ctx.opts.json) ctx.json(r);
      else printEval(r, ctx);
      return EXIT.ok;
    }));

  program.command('bench-model')
    .description('prefill and decode tokens/s of a checkpoint folder, linears dense vs packed, against the bandwidth floor')
    .argument('<dir>', 'checkpoint folder')
    .option('--tokens <n>', 'decode steps timed per batch size', '64')
    .option('--prompt <n>', 'prefill length in tokens', '128')
    .option('--batch <list>', 'sequences decoded together, comma-separated', '1,8')
    .option('--formats <list>', `comma-separated, from ${BENCH_MODEL_FORMATS.join(', ')}`, 'dense,bitmap,nm')
    .option('--activations <a>', `what the linears may round float32 inputs to: ${ACTIVATIONS.join(', ')} (int8: quantized weights only)`, 'float32')
    .action((dir: string, o: Record<string, string>) => run(async (ctx) => {
      const formats = o.formats!.split(',').map((f) => parseFormat(f.trim(), BENCH_MODEL_FORMATS, '--formats') as BenchModelFormat);
      const batch = o.batch!.split(',').map((b) => parseIntOpt(b.trim(), '--batch', 1, 4096));
      const r = await benchModel(dir, {
        tokens: parseIntOpt(o.tokens!, '--tokens', 1, 1 << 16), prompt: parseIntOpt(o.prompt!, '--prompt', 1, 1 << 20), batch, formats,
        activations: parseActivations(o.activations!),
      }, ctx);
      if (ctx.opts.json) ctx.json(r);
      else printBenchModel(r, ctx);
      return EXIT.ok;
    }));
  return program;
}

/** Runs the CLI on `argv` (without the node and script paths) and resolves to the exit code. */
export async function runCli(argv: string[], io: CliIO, signal: AbortSignal = new AbortController().signal): Promise<number> {
  let code: number = EXIT.ok;
  let ctx: Context | undefined;
  let command = '';
  const wantsJson = argv.includes('--json');
  const program = buildProgram(io, async (action) => {
    const opts = program.opts<GlobalOptions>();
    ctx = new Context(io, { json: !!opts.json, verbose: !!opts.verbose, quiet: !!opts.quiet }, signal);
    code = await action(ctx);
  });
  program.hook('preAction', (_p, cmd) => { command = cmd.name(); });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.ok;
      if (wantsJson) io.stdout(JSON.stringify({ command, error: { code: 'ERR_USAGE', exitCode: EXIT.usage, message: err.message } }, null, 2) + '\n');
      return EXIT.usage;
    }
    const c = classify(err);
    const verbose = ctx?.opts.verbose ?? (argv.includes('--verbose') || argv.includes('-v'));
    if (wantsJson) io.stdout(JSON.stringify({ command, error: { code: c.code, exitCode: c.exitCode, message: c.message } }, null, 2) + '\n');
    io.stderr(`sparsekit${command ? ' ' + command : ''}: error: ${c.message}\n`);
    if (c.hint) io.stderr(`hint: ${c.hint}\n`);
    if (c.exitCode === EXIT.internal && !verbose) io.stderr('this looks like a bug in sparsekit; run again with --verbose for the stack trace\n');
    if (verbose && err instanceof Error && err.stack) io.stderr(err.stack + '\n');
    return c.exitCode;
  }
}
