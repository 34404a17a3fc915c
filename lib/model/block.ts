/**
 * One decoder block of the Llama family (transformers' LlamaDecoderLayer): its weights, and its
 * forward with a hook that sees the input of every group of linears (the seam calibration and
 * pruning use). Every linear goes through linear(), so any stored format or dtype works.
 */
import { ArgumentError } from '../errors.js';
import { native } from '../native.js';
import { activationsFor, linear, type MatmulOptions, type Weight } from '../ops.js';
import { Tensor } from '../tensor.js';
import { SparseMatrix } from '../sparse-matrix.js';
import type { BlockShape, LlamaConfig } from './config.js';

export const LINEARS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LinearName = (typeof LINEARS)[number];

/**
 * Linears that read the same input, in the order the block computes them: one CalibrationStats
 * per group (q/k/v share the normed hidden state, gate/up the second normed state).
 */
export const INPUT_GROUPS = [
  { group: 'qkv', linears: ['q_proj', 'k_proj', 'v_proj'] },
  { group: 'o', linears: ['o_proj'] },
  { group: 'gateUp', linears: ['gate_proj', 'up_proj'] },
  { group: 'down', linears: ['down_proj'] },
] as const satisfies readonly { group: string; linears: readonly LinearName[] }[];
export type InputGroup = (typeof INPUT_GROUPS)[number]['group'];

export interface LinearSlot {
  /** The weight's tensor name in the checkpoint, e.g. `model.layers.0.self_attn.q_proj.weight`. */
  name: string;
  weight: Weight;
  bias: Tensor | null;
}

/** `mlp` or `self_attn`: where transformers keeps each linear. */
export function linearTensorName(layer: number, linear: LinearName, what: 'weight' | 'bias' = 'weight'): string {
  const scope = linear.endsWith('_proj') && ['gate_proj', 'up_proj', 'down_proj'].includes(linear) ? 'mlp' : 'self_attn';
  return `model.layers.${layer}.${scope}.${linear}.${what}`;
}

export interface LlamaBlock {
  readonly index: number;
  inputNorm: Tensor;
  postNorm: Tensor;
  readonly linears: Record<LinearName, LinearSlot>;
}

/** Rows of a linear weight (its output features). */
/**
 * Model operations that rebuild a linear's weight (pruning, shrink, slice) keep no SLoRB term: S
 * was made for the old weight. Refused before any work, naming the linear, rather than dropped.
 */
export function refuseSlorbTerms(blocks: Iterable<LlamaBlock>, action: string): void {
  for (const block of blocks)
    for (const slot of Object.values(block.linears))
      if (slot.weight instanceof SparseMatrix && slot.weight.slorb)
        throw new ArgumentError(`model: ${slot.name} carries an SLoRB term, which ${action} would drop (fold it into the weight first: slorb.fold)`);
}

export function weightRows(w: Weight): number {
  return w instanceof SparseMatrix ? w.rows : w.shape[0]!;
}

/**
 * The block's sizes, read from its weights: structurally pruned models (shrink()) may have fewer
 * heads or MLP channels in some blocks than config.json's standard fields say.
 */
export function blockShape(block: LlamaBlock, headDim: number): BlockShape {
  const L = block.linears;
  return { heads: weightRows(L.q_proj.weight) / headDim, kvHeads: weightRows(L.k_proj.weight) / headDim, intermediate: weightRows(L.gate_proj.weight) };
}

/**
 * What a block forward needs besides its input: the layout of the rows (batch sequences of
 * `tokens` new tokens each, after `past` cached ones), positions, and where keys/values go.
 */
export interface BlockContext {
  config: LlamaConfig;
  batch: number;
  tokens: number;
  past: number;
  /** Int32 position of every row (batch × tokens). */
  positions: Int32Array;
  invFreq: Float32Array;
  /** This layer's cache [batch, capacity, kvHeads·headDim] ×2, or null: keys/values of these tokens only. */
  cache: { k: Float32Array; v: Float32Array; capacity: number } | null;
  /** What the linears may round their float32 inputs to (MatmulOptions.activations; 'int8' reaches quantized weights only). */
  activations?: MatmulOptions['activations'];
}

/**
 * Called with each group's input [rows, features] as the block reaches it; returning true stops
 * the forward there (calibration needs no more of the block).
 */
export type InputHook = (group: InputGroup, x: Tensor) => boolean | void | Promise<boolean | void>;

async function proj(x: Tensor, slot: LinearSlot, ctx: BlockContext): Promise<Float32Array> {
  const options = { outDtype: 'float32' as const, activations: activationsFor(slot.weight, ctx.activations) };
  return (await linear(x, slot.weight, slot.bias, options)).toTypedArray() as Float32Array;
}

function addInto(acc: Float32Array, y: Float32Array): void {
  for (let i = 0; i < acc.length; i++) acc[i]! += y[i]!;
}

/**
 * x [batch·tokens, hidden] (float32) through the block; returns the new hidden state (a fresh
 * array; x is not modified), or null when the hook stopped it.
 */
export async function blockForward(block: LlamaBlock, x: Float32Array, ctx: BlockContext, hook?: InputHook): Promise<Float32Array | null> {
  const c = ctx.config;
  const rows = ctx.batch * ctx.tokens;
  const hidden = c.hiddenSize;
  const { heads, kvHeads, intermediate } = blockShape(block, c.headDim);
  const qDim = heads * c.headDim, kvDim = kvHeads * c.headDim;
  const L = block.linears;

  const h = new Float32Array(rows * hidden);
  native.modelRmsNorm(x, rows, hidden, block.inputNorm.toTypedArray(), block.inputNorm.dtype, c.rmsNormEps, h);
  const hT = Tensor.from(h, [rows, hidden]);
  if (hook && (await hook('qkv', hT))) return null;
  const [q, k, v] = await Promise.all([proj(hT, L.q_proj, ctx), proj(hT, L.k_proj, ctx), proj(hT, L.v_proj, ctx)]);
  native.modelRope(q, rows, heads, c.headDim, ctx.positions, ctx.invFreq);
  native.modelRope(k, rows, kvHeads, c.headDim, ctx.positions, ctx.invFreq);
  let kc = k, vc = v, capacity = ctx.tokens;
  if (ctx.cache) {
    ({ k: kc, v: vc, capacity } = ctx.cache);
    for (let b = 0; b < ctx.batch; b++) {
      const src = b * ctx.tokens * kvDim, dst = (b * capacity + ctx.past) * kvDim, n = ctx.tokens * kvDim;
      kc.set(k.subarray(src, src + n), dst);
      vc.set(v.subarray(src, src + n), dst);
    }
  }
  const att = new Float32Array(rows * qDim);
  const shape = {
    batch: ctx.batch, tokens: ctx.tokens, past: ctx.cache ? ctx.past : 0, capacity, heads, kvHeads,
    headDim: c.headDim, scale: 1 / Math.sqrt(c.headDim),
  };
  // Small problems (decode steps) stay on this thread: a worker round trip costs more than the work.
  if (rows * (shape.past + ctx.tokens) * qDim < 1 << 20) native.modelAttention(q, kc, vc, att, shape);
  else await native.modelAttentionAsync(q, kc, vc, att, shape);
  const attT = Tensor.from(att, [rows, qDim]);
  if (hook && (await hook('o', attT))) return null;
  const out = await proj(attT, L.o_proj, ctx);
  addInto(out, x);

  const h2 = new Float32Array(rows * hidden);
  native.modelRmsNorm(out, rows, hidden, block.postNorm.toTypedArray(), block.postNorm.dtype, c.rmsNormEps, h2);
  const h2T = Tensor.from(h2, [rows, hidden]);
  if (hook && (await hook('gateUp', h2T))) return null;
  const [g, u] = await Promise.all([proj(h2T, L.gate_proj, ctx), proj(h2T, L.up_proj, ctx)]);
  native.modelSwiglu(g, u);
  const gT = Tensor.from(g, [rows, intermediate]);
  if (hook && (await hook('down', gT))) return null;
  const d = await proj(gT, L.down_proj, ctx);
  addInto(out, d);
  return out;
}
