/**
 * Structured pruning, part 3: the surgery. Removes the planned attention groups (q/k/v rows, o
 * columns), MLP channels (gate/up rows, down columns) and whole blocks from the model's weights,
 * optionally folds FLAP's bias compensation into o_proj / down_proj biases, and rewrites the
 * config (docs/structured.md says exactly what config.json gets).
 */
import { describe, isFloatDType, type DType } from '../dtype.js';
import { AbortError, ArgumentError } from '../errors.js';
import { checkControl } from '../solver-control.js';
import type { Weight } from '../ops.js';
import { SparseMatrix } from '../sparse-matrix.js';
import { Tensor } from '../tensor.js';
import { LINEARS, blockShape, linearTensorName, refuseSlorbTerms, type LinearName, type LinearSlot, type LlamaBlock } from './block.js';
import { parseConfig, type BlockShape } from './config.js';
import type { LlamaModel } from './llama.js';
import { PlanError, type StructuredPlan } from './structured-plan.js';
import { weightF32 } from './structure.js';

export interface ShrinkOptions {
  /**
   * FLAP's bias compensation: each removed o_proj / down_proj input channel is replaced by its
   * calibration mean, folded into a bias on o_proj / down_proj (needs a plan made from scores with
   * calibration). Default false.
   */
  biasCompensation?: boolean;
  /** Called after each block's surgery with (blocks done, blocks in all). */
  onProgress?: (done: number, total: number) => void;
  /** Checked between blocks; an abort rejects with ERR_ABORTED and leaves the model as it was. */
  signal?: AbortSignal;
}

export interface ShrinkReport {
  paramsBefore: number;
  paramsAfter: number;
  blocksRemoved: number;
  /** Per kept block (new index): its sizes. */
  shapes: BlockShape[];
  /** True when biases were added (config.json then sets attention_bias / mlp_bias). */
  addedBiases: { attention: boolean; mlp: boolean };
}

/** The dtype new biases get: the weight's (float32 for quantized weights, which shrink dequantizes). */
function weightDType(w: Weight): DType {
  return w instanceof SparseMatrix ? (isFloatDType(w.dtype) ? w.dtype : 'float32') : w.dtype;
}

/** Rows `keep` (ascending indices) of a [rows, cols] weight, in its dtype. */
function takeRows(w: Weight, keep: number[]): Tensor {
  const t = w instanceof SparseMatrix ? w.toDense() : w;
  const cols = t.shape[1]!;
  const src = t.toTypedArray();
  const out = new (src.constructor as new (n: number) => typeof src)(keep.length * cols);
  keep.forEach((r, i) => out.set(src.subarray(r * cols, (r + 1) * cols), i * cols));
  return Tensor.from(out, [keep.length, cols], { dtype: t.dtype });
}

function takeCols(w: Weight, keep: number[]): Tensor {
  const t = w instanceof SparseMatrix ? w.toDense() : w;
  const [rows, cols] = t.shape as [number, number];
  const src = t.toTypedArray();
  const out = new (src.constructor as new (n: number) => typeof src)(rows * keep.length);
  for (let r = 0; r < rows; r++) for (let j = 0; j < keep.length; j++) out[r * keep.length + j] = src[r * cols + keep[j]!]!;
  return Tensor.from(out, [rows, keep.length], { dtype: t.dtype });
}

function takeVec(b: Tensor, keep: number[]): Tensor {
  const src = b.toTypedArray();
  const out = new (src.constructor as new (n: number) => typeof src)(keep.length);
  keep.forEach((r, i) => { out[i] = src[r]!; });
  return Tensor.from(out, [keep.length], { dtype: b.dtype });
}

function asDType(x: Float64Array, dtype: DType): Tensor {
  const t = Tensor.from(Float32Array.from(x), [x.length]);
  return dtype === 'float32' ? t : t.to(dtype);
}

/** Indices covered by the kept units (unit u covers [u·width, (u+1)·width)). */
function expand(mask: Uint8Array, width: number): number[] {
  const out: number[] = [];
  mask.forEach((k, u) => { if (k) for (let i = 0; i < width; i++) out.push(u * width + i); });
  return out;
}

/** Σ over removed input channels c of W[:, c] · mean[c]: the bias that stands in for them. */
function compensation(w: Weight, mask: number[], mean: Float64Array): Float64Array {
  const [rows, cols] = w instanceof SparseMatrix ? [w.rows, w.cols] : [w.shape[0]!, w.shape[1]!];
  const kept = new Uint8Array(cols);
  for (const j of mask) kept[j] = 1;
  const W = weightF32(w);
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) if (!kept[j]) s += W[r * cols + j]! * mean[j]!;
    out[r] = s;
  }
  return out;
}

/** Parameters held by the model (embedding, LM head when untied, norms, linears, biases). */
export function parameterCount(model: LlamaModel): number {
  const c = model.config;
  let n = c.vocabSize * c.hiddenSize * (model.lmHead === model.embed ? 1 : 2) + c.hiddenSize;
  for (const b of model.blocks) {
    n += 2 * c.hiddenSize;
    for (const l of LINEARS) {
      const w = b.linears[l].weight;
      n += (w instanceof SparseMatrix ? w.rows * w.cols : w.size) + (b.linears[l].bias?.size ?? 0);
    }
  }
  return n;
}

/** Checks that `plan` fits `model` (one entry per block, one mask value per unit). */
export function checkPlan(model: LlamaModel, plan: StructuredPlan): void {
  if (typeof plan !== 'object' || plan === null || !Array.isArray(plan.blocks)) throw new PlanError('plan', `expected a StructuredPlan, got ${describe(plan)}`);
  const hd = model.config.headDim;
  if (plan.blocks.length !== model.blocks.length) throw new PlanError('plan.blocks', `has ${plan.blocks.length} entries, the model ${model.blocks.length} blocks`);
  if (plan.headDim !== hd) throw new PlanError('plan.headDim', `is ${plan.headDim}, the model's head_dim ${hd}`);
  model.blocks.forEach((b, i) => {
    const s = blockShape(b, hd);
    const p = plan.blocks[i]!;
    if (s.heads / s.kvHeads !== plan.queryHeadsPerGroup) throw new PlanError('plan.queryHeadsPerGroup', `is ${plan.queryHeadsPerGroup}, block ${i} has ${s.heads / s.kvHeads}`);
    if (!(p.attention instanceof Uint8Array) || p.attention.length !== s.kvHeads || p.attention.some((x) => x > 1))
      throw new PlanError(`plan.blocks[${i}].attention`, `expected a 0/1 Uint8Array of ${s.kvHeads} kv groups`);
    if (!(p.mlp instanceof Uint8Array) || p.mlp.length !== s.intermediate || p.mlp.some((x) => x > 1))
      throw new PlanError(`plan.blocks[${i}].mlp`, `expected a 0/1 Uint8Array of ${s.intermediate} channels`);
    if (p.keep && !p.attention.includes(1)) throw new PlanError(`plan.blocks[${i}].attention`, 'removes every attention group of a kept block (remove the block instead)');
    if (p.keep && !p.mlp.includes(1)) throw new PlanError(`plan.blocks[${i}].mlp`, 'removes every MLP channel of a kept block (remove the block instead)');
  });
  if (!plan.blocks.some((b) => b.keep)) throw new PlanError('plan.blocks', 'removes every block');
}

/**
 * Applies `plan` to the model in place (its weights become smaller dense tensors; removed blocks
 * are dropped and the rest renumbered) and updates its config; model.save() then writes the
 * smaller checkpoint.
 */
export async function shrinkModel(model: LlamaModel, plan: StructuredPlan, options: ShrinkOptions = {}): Promise<ShrinkReport> {
  model.checkpoint();
  if (typeof options !== 'object' || options === null) throw new ArgumentError(`options: expected an object, got ${describe(options)}`);
  const { signal, onProgress } = options;
  checkControl(options, 'shrink');
  const checkAbort = () => { if (signal?.aborted) throw new AbortError('shrink: aborted (the model is unchanged)', { cause: signal.reason }); };
  const total = model.blocks.length;
  checkPlan(model, plan);
  refuseSlorbTerms(model.blocks, 'shrinking');
  const comp = options.biasCompensation === true;
  if (comp && !plan.means) throw new PlanError('options.biasCompensation', 'the plan carries no calibration means (make it from scores computed with calibration samples)');
  if (comp && plan.means!.length !== model.blocks.length) throw new PlanError('plan.means', `has ${plan.means!.length} entries, the model ${model.blocks.length} blocks`);
  const c = model.config;
  const hd = c.headDim;
  const paramsBefore = parameterCount(model);
  const kept: LlamaBlock[] = [], source: number[] = [], shapes: BlockShape[] = [];
  let attnBias = false, mlpBias = false;
  // A bias flag in config.json applies to every layer, so it is set when any block had or gets one.
  for (const b of model.blocks) {
    if (b.linears.o_proj.bias || b.linears.q_proj.bias) attnBias = true;
    if (b.linears.down_proj.bias || b.linears.gate_proj.bias) mlpBias = true;
  }
  const hadAttnBias = attnBias, hadMlpBias = mlpBias;
  for (const b of model.blocks) {
    // Between blocks: let the event loop run (Ctrl-C, progress bars) and honour an abort. The
    // model itself changes only in replaceStructure() below, so stopping here leaves it as it was.
    if (b.index > 0) await new Promise((r) => setImmediate(r));
    checkAbort();
    onProgress?.(b.index, total);
    const p = plan.blocks[b.index]!;
    if (!p.keep) continue;
    const s = blockShape(b, hd);
    const r = s.heads / s.kvHeads;
    const qKeep = expand(p.attention, r * hd), kvKeep = expand(p.attention, hd), mKeep = expand(p.mlp, 1);
    const L = b.linears;
    const i = kept.length;
    const slot = (l: LinearName, weight: Weight, bias: Tensor | null): LinearSlot => ({ name: linearTensorName(i, l), weight, bias });
    const rowsOf = (l: LinearName, keep: number[]) => slot(l, takeRows(L[l].weight, keep), L[l].bias ? takeVec(L[l].bias!, keep) : null);
    const outBias = (l: 'o_proj' | 'down_proj', keep: number[], mean: Float64Array | undefined): Tensor | null => {
      const old = L[l].bias;
      if (!comp || keep.length === (l === 'o_proj' ? s.heads * hd : s.intermediate)) return old;
      const add = compensation(L[l].weight, keep, mean!);
      if (old) {
        const o = old.toFloat32Array();
        for (let j = 0; j < add.length; j++) add[j]! += o[j]!;
      }
      return asDType(add, old?.dtype ?? weightDType(L[l].weight));
    };
    const linears = {
      q_proj: rowsOf('q_proj', qKeep), k_proj: rowsOf('k_proj', kvKeep), v_proj: rowsOf('v_proj', kvKeep),
      o_proj: slot('o_proj', takeCols(L.o_proj.weight, qKeep), outBias('o_proj', qKeep, plan.means?.[b.index]?.attention)),
      gate_proj: rowsOf('gate_proj', mKeep), up_proj: rowsOf('up_proj', mKeep),
      down_proj: slot('down_proj', takeCols(L.down_proj.weight, mKeep), outBias('down_proj', mKeep, plan.means?.[b.index]?.mlp)),
    } as Record<LinearName, LinearSlot>;
    if (linears.o_proj.bias) attnBias = true;
    if (linears.down_proj.bias) mlpBias = true;
    kept.push({ index: i, inputNorm: b.inputNorm, postNorm: b.postNorm, linears });
    source.push(b.index);
    shapes.push({ heads: qKeep.length / hd, kvHeads: kvKeep.length / hd, intermediate: mKeep.length });
  }
  const raw: Record<string, unknown> = { ...c.raw };
  const max = (k: keyof BlockShape) => Math.max(...shapes.map((s) => s[k]));
  raw.num_hidden_layers = kept.length;
  raw.num_attention_heads = max('heads');
  raw.num_key_value_heads = max('kvHeads');
  raw.intermediate_size = max('intermediate');
  // hidden / heads no longer gives the head size once heads are removed.
  raw.head_dim = hd;
  const uniform = shapes.every((s) => s.heads === shapes[0]!.heads && s.intermediate === shapes[0]!.intermediate);
  if (uniform) delete raw.sparsekit_layer_shapes;
  else raw.sparsekit_layer_shapes = shapes.map((s) => ({ num_attention_heads: s.heads, num_key_value_heads: s.kvHeads, intermediate_size: s.intermediate }));
  // Only LlamaForCausalLM expresses biases on every linear (attention_bias: q/k/v/o, mlp_bias:
  // gate/up/down). Qwen2 (q/k/v biases only) and Mistral (none) without a sliding window compute
  // the same forward, so they are written as Llama when shrinking added a bias they cannot hold.
  const oBias = kept.some((b) => b.linears.o_proj.bias !== null);
  const asLlama = c.architecture === 'LlamaForCausalLM' || mlpBias || (c.architecture === 'Qwen2ForCausalLM' ? oBias : attnBias);
  if (asLlama) {
    if (c.architecture !== 'LlamaForCausalLM') {
      raw.architectures = ['LlamaForCausalLM'];
      raw.model_type = 'llama';
    }
    raw.attention_bias = attnBias;
    raw.mlp_bias = mlpBias;
    // HF's flags put a bias on every linear of the kind: zero biases where none is held.
    const zeros = (rows: number, w: Weight) => asDType(new Float64Array(rows), weightDType(w));
    for (const b of kept) {
      const kinds: [boolean, LinearName[]][] = [[attnBias, ['q_proj', 'k_proj', 'v_proj', 'o_proj']], [mlpBias, ['gate_proj', 'up_proj', 'down_proj']]];
      for (const [on, names] of kinds) {
        if (!on) continue;
        for (const l of names) {
          const sl = b.linears[l];
          if (!sl.bias) sl.bias = zeros(sl.weight instanceof SparseMatrix ? sl.weight.rows : sl.weight.shape[0]!, sl.weight);
        }
      }
    }
  }
  const config = parseConfig(JSON.stringify(raw), 'shrink: config');
  checkAbort();
  model.replaceStructure(config, kept, source);
  onProgress?.(total, total);
  return {
    paramsBefore, paramsAfter: parameterCount(model), blocksRemoved: plan.blocks.length - kept.length, shapes,
    addedBiases: { attention: attnBias && !hadAttnBias, mlp: mlpBias && !hadMlpBias },
  };
}
