/**
 * `sparsekit shrink`: structured pruning of a Llama-family checkpoint folder: scores from
 * calibration text (or gradients, or plain magnitudes), a plan (uniform ratios, a global ranking,
 * a target shape, or 0/1 masks made elsewhere), the surgery, and a smaller dense HF-layout folder
 * (docs/structured.md).
 */
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { LlamaModel } from '../model/llama.js';
import type { ShrinkReport } from '../model/shrink.js';
import { blockShape } from '../model/block.js';
import type { ScoreMethod, StructureScores } from '../model/structure.js';
import { planFromMasks, planStructuredPrune, planSummary, saveStructureMasks, type PlanOptions, type StructuredPlan } from '../model/structured-plan.js';
import { calibrationWindows, readTokensOrText } from '../model/tokens.js';
import { CliError, Context, EXIT, fmtBytes, fmtPct } from './context.js';
import { interruptible, saveModelDir } from './model-steps.js';

export interface ShrinkCliOptions {
  score: ScoreMethod;
  /** Exactly one source of the plan. */
  plan: { ratios: { heads?: number; mlp?: number; blocks?: number } } | { global: number } | { shapeFile: string } | { masks: string; shapeFile?: string } | { none: true };
  /** Slice the residual stream to this many dims afterwards (sliceHidden). */
  hidden?: number;
  calib?: string;
  gradients?: string;
  samples: number;
  seqLen: number;
  seed: number;
  biasCompensation: boolean | undefined;
  saveMasks?: string;
  force: boolean;
}

export interface ShrinkCliReport {
  command: 'shrink';
  version: 1;
  input: string;
  output: string;
  score: ScoreMethod | 'masks' | 'none';
  biasCompensation: boolean;
  paramsBefore: number;
  paramsAfter: number;
  blocksRemoved: number;
  attentionGroupsRemoved: number;
  mlpChannelsRemoved: number;
  shapes: ShrinkReport['shapes'];
  /** With --hidden: the new hidden size and the calibration energy its directions keep. */
  hidden: { before: number; after: number; energyKept: number } | null;
  outputBytes: number;
  seconds: number;
}

type TargetShape = Extract<PlanOptions, { targetShape: unknown }>['targetShape'];

/** shape.json: `{ layers, heads, kvHeads?, intermediate, hidden? }`, or the config.json names of the same fields. */
export function readShapeFile(path: string): TargetShape {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CliError(EXIT.input, `--keep-shape: cannot read '${path}' as JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CliError(EXIT.input, `--keep-shape: '${path}' must hold a JSON object`);
  const o = raw as Record<string, unknown>;
  const pick = (a: string, b: string) => (o[a] ?? o[b]) as number;
  const shape: TargetShape = {
    layers: pick('layers', 'num_hidden_layers'), heads: pick('heads', 'num_attention_heads'), intermediate: pick('intermediate', 'intermediate_size'),
  };
  const kv = pick('kvHeads', 'num_key_value_heads'), hidden = pick('hidden', 'hidden_size');
  if (kv !== undefined) shape.kvHeads = kv;
  if (hidden !== undefined) shape.hidden = hidden;
  return shape;
}

/** Refuses an --out that holds anything unless --force (a folder, never the input). */
function checkOut(input: string, output: string, force: boolean): void {
  if (!existsSync(output)) return;
  if (!statSync(output).isDirectory()) throw new CliError(EXIT.output, `--out '${output}' exists and is not a folder`);
  if (existsSync(input) && realpathSync(output) === realpathSync(input)) throw new CliError(EXIT.usage, `--out '${output}' is the input folder`);
  if (!force && readdirSync(output).length > 0) throw new CliError(EXIT.output, `--out '${output}' exists and is not empty`, 'pass --force to replace the files shrink writes there');
}

export async function shrinkDir(input: string, output: string, o: ShrinkCliOptions, ctx: Context): Promise<ShrinkCliReport> {
  const t0 = performance.now();
  checkOut(input, output, o.force);
  using model = await LlamaModel.load(input);
  const fromMasks = 'masks' in o.plan, planned = !('none' in o.plan);
  // A target shape with a smaller hidden size: the plan does heads / channels / layers, then slicing the width.
  const shape = 'shapeFile' in o.plan && o.plan.shapeFile ? readShapeFile(o.plan.shapeFile) : null;
  let sliceTo = o.hidden;
  if (shape?.hidden !== undefined && shape.hidden !== model.config.hiddenSize) {
    if (sliceTo !== undefined && sliceTo !== shape.hidden) throw new CliError(EXIT.usage, `--hidden ${sliceTo} disagrees with the shape file's hidden ${shape.hidden}`);
    sliceTo = shape.hidden;
    delete shape.hidden;
  }
  const comp = planned && (o.biasCompensation ?? (o.score === 'flap' && !fromMasks));
  const needCalib = (planned && !fromMasks && (o.score === 'flap' || o.score === 'wanda-sp' || o.score === 'activation')) || comp || sliceTo !== undefined
    || ('ratios' in o.plan && o.plan.ratios.blocks !== undefined);
  if (needCalib && !o.calib)
    throw new CliError(EXIT.input, `--score ${o.score}${comp ? ' with bias compensation' : ''} needs calibration input`, 'add --calib <text file or token file>');
  if (o.score === 'taylor' && !o.gradients && !fromMasks && planned) throw new CliError(EXIT.input, '--score taylor needs --gradients <file.safetensors> of <weight name>.grad tensors');
  const samples = o.calib ? calibrationWindows(await readTokensOrText(o.calib, input), o.samples, o.seqLen, o.seed) : [];

  let scores: StructureScores | null = null;
  if ((planned && !fromMasks) || comp) {
    ctx.note(`${model}: ${o.score} scores on ${samples.length} samples x ${o.seqLen} tokens`);
    const bar = ctx.progress(model.blocks.length, 'blocks');
    let last = 0;
    bar.item('block 0');
    scores = await interruptible(ctx, bar, (signal) => model.structureScores(samples, {
      method: o.score, gradients: o.gradients, signal,
      onProgress: (done, total) => {
        for (; last < done; last++) {
          bar.done();
          if (last + 1 < total) bar.item(`block ${last + 1}`);
        }
      },
    }));
  }
  ctx.checkAborted();

  let plan: StructuredPlan | null = null;
  if ('none' in o.plan) {
    // --hidden alone: no structures removed.
  } else if ('masks' in o.plan) {
    plan = await planFromMasks(o.plan.masks, model.dependencyGroups(), scores?.means ?? null);
    if (shape) checkShape(plan, shape, model);
  } else if (shape) {
    plan = planStructuredPrune(scores!, { targetShape: shape });
  } else if ('global' in o.plan) {
    plan = planStructuredPrune(scores!, { global: o.plan.global });
  } else if ('ratios' in o.plan) {
    plan = planStructuredPrune(scores!, o.plan.ratios);
  }
  if (o.saveMasks && plan) await saveStructureMasks(plan, o.saveMasks);
  const summary = plan ? planSummary(plan) : { attentionGroupsRemoved: 0, mlpChannelsRemoved: 0 };
  const paramsBefore = model.parameterCount();
  let report: ShrinkReport | null = null;
  if (plan) {
    ctx.note('removing the planned structures');
    const blocks = model.blocks.length;
    const bar = ctx.progress(blocks, 'blocks');
    const onProgress = (done: number) => {
      if (done > 0) bar.done();
      if (done < blocks) bar.item(`block ${done}`);
    };
    report = await interruptible(ctx, bar, (signal) => model.shrink(plan, { biasCompensation: comp, signal, onProgress }));
  }
  ctx.checkAborted();
  let hidden: ShrinkCliReport['hidden'] = null;
  if (sliceTo !== undefined) {
    ctx.note(`slicing the residual stream to ${sliceTo} dims`);
    const bar = ctx.progress(model.blocks.length + 2, 'steps');
    const r = await interruptible(ctx, bar, (signal) => model.sliceHidden(samples, { hidden: sliceTo!, signal, onProgress: () => bar.done() }));
    hidden = { before: r.hiddenBefore, after: r.hiddenAfter, energyKept: r.energyKept };
  }
  const bytes = (await saveModelDir(model, output, { format: 'dense', overwrite: o.force })).bytes;
  return {
    command: 'shrink', version: 1, input: resolve(input), output: resolve(output), score: !planned ? 'none' : fromMasks ? 'masks' : o.score, biasCompensation: comp,
    paramsBefore, paramsAfter: model.parameterCount(), blocksRemoved: report?.blocksRemoved ?? 0,
    attentionGroupsRemoved: summary.attentionGroupsRemoved, mlpChannelsRemoved: summary.mlpChannelsRemoved,
    shapes: report?.shapes ?? model.blocks.map((b) => blockShape(b, model.config.headDim)), hidden,
    outputBytes: bytes, seconds: (performance.now() - t0) / 1000,
  };
}

/** With --masks and --keep-shape: the masks must give exactly that shape. */
function checkShape(plan: StructuredPlan, t: TargetShape, model: LlamaModel): void {
  const kept = plan.blocks.filter((b) => b.keep);
  const r = plan.queryHeadsPerGroup;
  const bad = (field: string, got: string) => new CliError(EXIT.input, `--masks give ${got}, --keep-shape asks ${field}`);
  if (kept.length !== t.layers) throw bad(`layers ${t.layers}`, `${kept.length} layers`);
  if (t.hidden !== undefined && t.hidden !== model.config.hiddenSize) throw bad(`hidden ${t.hidden}`, `hidden ${model.config.hiddenSize}`);
  kept.forEach((b) => {
    const heads = b.attention.reduce((s, x) => s + x, 0) * r, inter = b.mlp.reduce((s, x) => s + x, 0);
    if (heads !== t.heads) throw bad(`heads ${t.heads}`, `a layer with ${heads} heads`);
    if (t.kvHeads !== undefined && heads / r !== t.kvHeads) throw bad(`kvHeads ${t.kvHeads}`, `a layer with ${heads / r} kv heads`);
    if (inter !== t.intermediate) throw bad(`intermediate ${t.intermediate}`, `a layer with ${inter} MLP channels`);
  });
}

export function printShrink(r: ShrinkCliReport, ctx: Context): void {
  const removed = 1 - r.paramsAfter / r.paramsBefore;
  const shapes = new Set(r.shapes.map((s) => `${s.heads}/${s.kvHeads} heads, ${s.intermediate} channels`));
  ctx.out(`shrink: ${r.score}${r.biasCompensation ? ' + bias compensation' : ''}: removed ${r.blocksRemoved} blocks, ${r.attentionGroupsRemoved} attention groups, ` +
    `${r.mlpChannelsRemoved} MLP channels; ${r.paramsBefore.toLocaleString('en-US')} -> ${r.paramsAfter.toLocaleString('en-US')} parameters (${fmtPct(removed)} fewer)`);
  if (r.hidden) ctx.out(`hidden: ${r.hidden.before} -> ${r.hidden.after} dims (rotated; ${fmtPct(r.hidden.energyKept)} of the calibration energy kept)`);
  ctx.out(`blocks: ${r.shapes.length}, ${shapes.size === 1 ? [...shapes][0] : `sizes differ per block (sparsekit_layer_shapes in config.json)`}`);
  ctx.out(`wrote ${r.output} (model.safetensors ${fmtBytes(r.outputBytes)}) in ${r.seconds.toFixed(1)} s`);
}
