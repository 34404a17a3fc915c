/**
 * Structured pruning, part 2: which structures to keep. A plan holds, per block, whether the block
 * stays and a keep mask over its attention groups (kv heads with their query heads) and its MLP
 * channels. Plans come from scores (uniform ratios, a global ranking, or a target shape) or from
 * 0/1 masks made elsewhere (docs/structured.md names the mask tensors).
 */
import { describe } from '../dtype.js';
import { ArgumentError } from '../errors.js';
import { loadSafetensors, saveSafetensors } from '../safetensors.js';
import { Tensor } from '../tensor.js';
import type { DependencyGroups, StructureScores } from './structure.js';

/** A bad plan or plan option; `field` names it (e.g. `targetShape.heads`, `plan.blocks[2].attention`). */
export class PlanError extends ArgumentError {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

export interface BlockPlan {
  /** False: the whole block is removed (its residual branch vanishes). */
  keep: boolean;
  /** 1 = keep, per kv group (a kv head and the query heads reading it). */
  attention: Uint8Array;
  /** 1 = keep, per MLP channel. */
  mlp: Uint8Array;
}

export interface StructuredPlan {
  blocks: BlockPlan[];
  /** Query heads per kv group and head size, to check against the model. */
  queryHeadsPerGroup: number;
  headDim: number;
  /** FLAP's bias compensation inputs (from the scores); null for plans without calibration. */
  means: StructureScores['means'];
}

export type PlanOptions =
  | { heads?: number; mlp?: number; blocks?: number }
  | { global: number }
  | { targetShape: { hidden?: number; intermediate: number; heads: number; kvHeads?: number; layers: number } };

function ratio(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v >= 1) throw new PlanError(field, `expected a ratio in [0, 1), got ${describe(v)}`);
  return v;
}

function count(v: unknown, field: string, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new PlanError(field, `expected a positive integer, got ${describe(v)}`);
  if (v > max) throw new PlanError(field, `${v} is larger than the model's ${max} ${what}`);
  return v;
}

/** Indices of the `keep` largest scores (ties: the lower index wins), as a 0/1 mask. */
function topMask(scores: Float64Array, keep: number): Uint8Array {
  const order = Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]! || a - b);
  const m = new Uint8Array(scores.length);
  for (let i = 0; i < keep; i++) m[order[i]!] = 1;
  return m;
}

function checkScores(scores: StructureScores): void {
  if (typeof scores !== 'object' || scores === null || !Array.isArray(scores.blocks) || scores.blocks.length === 0)
    throw new ArgumentError(`scores: expected the result of structureScores(), got ${describe(scores)}`);
}

/**
 * A plan from scores:
 * - `{ heads, mlp, blocks? }`: in every block, remove floor(ratio · units) of the lowest-scored
 *   attention groups (heads ratio over kv groups; with GQA a group is r query heads) and MLP
 *   channels; `blocks` removes floor(ratio · layers) whole blocks by block score.
 * - `{ global }`: FLAP's global ranking: every attention group and MLP channel of every block in
 *   one list (FLAP scores as they are; other methods' scores divided by the unit's parameters),
 *   kept from the top until the kept parameters are closest to (1 − global) of all of them; at
 *   least one group and one channel stay in each block.
 * - `{ targetShape }`: Sheared-LLaMA's target: `layers` blocks kept by block score, then `heads`
 *   query heads (`heads / r` kv groups; `kvHeads` if given must match) and `intermediate` channels
 *   per block; `hidden` must equal the model's (plans do not change the width: sliceHidden does).
 */
export function planStructuredPrune(scores: StructureScores, options: PlanOptions): StructuredPlan {
  checkScores(scores);
  if (typeof options !== 'object' || options === null) throw new PlanError('options', `expected an object, got ${describe(options)}`);
  const modes = ['targetShape', 'global'].filter((k) => k in options);
  const ratios = ['heads', 'mlp', 'blocks'].filter((k) => k in options);
  if (modes.length + (ratios.length ? 1 : 0) !== 1)
    throw new PlanError('options', 'give exactly one of { heads?, mlp?, blocks? }, { global } or { targetShape }');
  const r = scores.queryHeadsPerGroup;
  const nb = scores.blocks.length;
  const plan: StructuredPlan = {
    queryHeadsPerGroup: r, headDim: scores.headDim, means: scores.means,
    blocks: scores.blocks.map((b) => ({ keep: true, attention: new Uint8Array(b.attention.length).fill(1), mlp: new Uint8Array(b.mlp.length).fill(1) })),
  };
  const blockOrder = (remove: number, field: string) => {
    if (remove === 0) return;
    const bs = Float64Array.from(scores.blocks, (b) => b.block);
    if (bs.some(Number.isNaN)) throw new PlanError(field, `the ${scores.method} scores have no block scores (score with calibration samples)`);
    const keep = topMask(bs, nb - remove);
    plan.blocks.forEach((p, i) => { p.keep = keep[i] === 1; });
  };

  if ('targetShape' in options) {
    const t = options.targetShape;
    if (typeof t !== 'object' || t === null) throw new PlanError('targetShape', `expected an object, got ${describe(t)}`);
    const maxHeads = Math.max(...scores.blocks.map((b) => b.heads.length));
    const maxKv = maxHeads / r;
    const maxI = Math.max(...scores.blocks.map((b) => b.mlp.length));
    if (t.hidden !== undefined && t.hidden !== scores.hidden) {
      count(t.hidden, 'targetShape.hidden', scores.hidden, 'hidden dims');
      throw new PlanError('targetShape.hidden', `plans do not change the width (sliceHidden does, after the plan); give ${scores.hidden} or leave it out`);
    }
    const layers = count(t.layers, 'targetShape.layers', nb, 'layers');
    const heads = count(t.heads, 'targetShape.heads', maxHeads, 'query heads');
    if (heads % r !== 0) throw new PlanError('targetShape.heads', `${heads} is not a multiple of ${r} (the query heads per kv head); heads are removed with their kv group`);
    if (t.kvHeads !== undefined) {
      count(t.kvHeads, 'targetShape.kvHeads', maxKv, 'kv heads');
      if (t.kvHeads * r !== heads) throw new PlanError('targetShape.kvHeads', `${t.kvHeads} kv heads with ${heads} query heads changes the query heads per kv head (${r})`);
    }
    const intermediate = count(t.intermediate, 'targetShape.intermediate', maxI, 'MLP channels');
    blockOrder(nb - layers, 'targetShape.layers');
    scores.blocks.forEach((b, i) => {
      plan.blocks[i]!.attention = topMask(b.attention, Math.min(heads / r, b.attention.length));
      plan.blocks[i]!.mlp = topMask(b.mlp, Math.min(intermediate, b.mlp.length));
    });
    return plan;
  }

  if ('global' in options) {
    const g = ratio(options.global, 'global');
    const units: { block: number; kind: 'attention' | 'mlp'; index: number; score: number; params: number }[] = [];
    scores.blocks.forEach((b, i) => {
      const p = scores.params[i]!;
      const norm = (v: number, params: number) => (scores.standardized ? v : v / params);
      b.attention.forEach((v, j) => units.push({ block: i, kind: 'attention', index: j, score: norm(v, p.attention), params: p.attention }));
      b.mlp.forEach((v, j) => units.push({ block: i, kind: 'mlp', index: j, score: norm(v, p.mlp), params: p.mlp }));
    });
    units.sort((a, b) => b.score - a.score || a.block - b.block || a.index - b.index);
    const totalParams = units.reduce((s, u) => s + u.params, 0);
    const target = totalParams * (1 - g);
    let acc = 0, best = -1, bestDiff = target; // keeping nothing is `target` away
    units.forEach((u, k) => {
      acc += u.params;
      if (Math.abs(acc - target) < bestDiff) { bestDiff = Math.abs(acc - target); best = k; }
    });
    for (const p of plan.blocks) { p.attention.fill(0); p.mlp.fill(0); }
    for (let k = 0; k <= best; k++) plan.blocks[units[k]!.block]![units[k]!.kind][units[k]!.index] = 1;
    // Every block keeps its best attention group and MLP channel (an empty kind cannot be written in HF's layout).
    scores.blocks.forEach((b, i) => {
      const p = plan.blocks[i]!;
      if (!p.attention.includes(1)) p.attention[topMask(b.attention, 1).indexOf(1)] = 1;
      if (!p.mlp.includes(1)) p.mlp[topMask(b.mlp, 1).indexOf(1)] = 1;
    });
    return plan;
  }

  const o = options as { heads?: number; mlp?: number; blocks?: number };
  const hr = o.heads === undefined ? 0 : ratio(o.heads, 'heads');
  const mr = o.mlp === undefined ? 0 : ratio(o.mlp, 'mlp');
  const br = o.blocks === undefined ? 0 : ratio(o.blocks, 'blocks');
  blockOrder(Math.floor(br * nb), 'blocks');
  scores.blocks.forEach((b, i) => {
    const ka = b.attention.length - Math.floor(hr * b.attention.length), km = b.mlp.length - Math.floor(mr * b.mlp.length);
    plan.blocks[i]!.attention = topMask(b.attention, Math.max(1, ka));
    plan.blocks[i]!.mlp = topMask(b.mlp, Math.max(1, km));
  });
  return plan;
}

/** Mask tensor names (docs/structured.md). */
export const MASK_NAMES = {
  heads: (l: number) => `model.layers.${l}.self_attn.head_mask`,
  mlp: (l: number) => `model.layers.${l}.mlp.channel_mask`,
  layer: (l: number) => `model.layers.${l}.layer_mask`,
  hidden: 'model.hidden_mask',
} as const;

function maskValues(t: Tensor, name: string, length: number): Uint8Array {
  if (!(t instanceof Tensor)) throw new PlanError(`masks['${name}']`, `expected a dense tensor, got ${describe(t)}`);
  if (t.size !== length) throw new PlanError(`masks['${name}']`, `expected ${length} values, got shape [${t.shape.join(', ')}]`);
  const v = t.dtype === 'int32' || t.dtype === 'int8' || t.dtype === 'uint8' ? Array.from(t.toTypedArray() as ArrayLike<number>) : Array.from(t.toFloat32Array());
  const out = new Uint8Array(length);
  v.forEach((x, i) => {
    if (x !== 0 && x !== 1) throw new PlanError(`masks['${name}']`, `value [${i}] is ${x}; masks hold 0 (remove) or 1 (keep)`);
    out[i] = x;
  });
  return out;
}

/**
 * A plan from 0/1 masks made elsewhere (a training framework's learned masks), taken as they are:
 * per layer `head_mask` [query heads] (with GQA every query head of a kv group must agree: the
 * group goes as a whole), `channel_mask` [intermediate], `layer_mask` [1]; `model.hidden_mask`
 * must keep everything. Missing masks keep their structures. `means` from structureScores() allow
 * bias compensation.
 */
export async function planFromMasks(masks: string | Record<string, Tensor>, groups: DependencyGroups, means: StructureScores['means'] = null): Promise<StructuredPlan> {
  let get: (n: string) => Tensor | undefined, names: readonly string[], dispose = () => {};
  if (typeof masks === 'string') {
    const f = await loadSafetensors(masks);
    get = (n) => (f.has(n) ? (f.get(n) as Tensor) : undefined);
    names = f.names;
    dispose = () => f.dispose();
  } else if (typeof masks === 'object' && masks !== null) {
    get = (n) => masks[n];
    names = Object.keys(masks);
  } else {
    throw new ArgumentError(`masks: expected a safetensors path or a record of Tensors, got ${describe(masks)}`);
  }
  try {
    const known = new Set<string>([MASK_NAMES.hidden]);
    const first = groups.blocks[0]!.attention;
    const plan: StructuredPlan = { queryHeadsPerGroup: first.queryHeadsPerUnit, headDim: first.headDim, means, blocks: [] };
    for (const b of groups.blocks) {
      const l = b.block, r = b.attention.queryHeadsPerUnit;
      for (const n of [MASK_NAMES.heads(l), MASK_NAMES.mlp(l), MASK_NAMES.layer(l)]) known.add(n);
      const bp: BlockPlan = { keep: true, attention: new Uint8Array(b.attention.units).fill(1), mlp: new Uint8Array(b.mlp.units).fill(1) };
      const hm = get(MASK_NAMES.heads(l));
      if (hm) {
        const v = maskValues(hm, MASK_NAMES.heads(l), b.attention.units * r);
        for (let g = 0; g < b.attention.units; g++) {
          const part = v.subarray(g * r, (g + 1) * r);
          if (part.some((x) => x !== part[0]))
            throw new PlanError(`masks['${MASK_NAMES.heads(l)}']`, `query heads ${g * r}..${(g + 1) * r - 1} share kv head ${g} and must be kept or removed together (got ${Array.from(part).join(',')})`);
          bp.attention[g] = part[0]!;
        }
      }
      const cm = get(MASK_NAMES.mlp(l));
      if (cm) bp.mlp = maskValues(cm, MASK_NAMES.mlp(l), b.mlp.units);
      const lm = get(MASK_NAMES.layer(l));
      if (lm) bp.keep = maskValues(lm, MASK_NAMES.layer(l), 1)[0] === 1;
      if (bp.keep && !bp.attention.includes(1)) throw new PlanError(`masks['${MASK_NAMES.heads(l)}']`, 'removes every head of a kept layer; remove the layer (layer_mask) instead');
      if (bp.keep && !bp.mlp.includes(1)) throw new PlanError(`masks['${MASK_NAMES.mlp(l)}']`, 'removes every channel of a kept layer; remove the layer (layer_mask) instead');
      plan.blocks.push(bp);
    }
    const hidden = get(MASK_NAMES.hidden);
    if (hidden && maskValues(hidden, MASK_NAMES.hidden, groups.hidden.size).includes(0))
      throw new PlanError(`masks['${MASK_NAMES.hidden}']`, 'masks cannot remove single hidden dims (sliceHidden reduces the width): the mask must keep every dim');
    const unknown = names.filter((n) => !known.has(n));
    if (unknown.length) throw new PlanError('masks', `unknown tensor '${unknown[0]}' (names: docs/structured.md)`);
    if (!plan.blocks.some((b) => b.keep)) throw new PlanError('masks', 'removes every layer');
    return plan;
  } finally {
    dispose();
  }
}

/** Writes a plan as the 0/1 masks planFromMasks() reads (uint8). */
export async function saveStructureMasks(plan: StructuredPlan, path: string): Promise<void> {
  const r = plan.queryHeadsPerGroup;
  const entries: Record<string, Tensor> = {};
  plan.blocks.forEach((b, l) => {
    const heads = new Uint8Array(b.attention.length * r);
    b.attention.forEach((k, g) => heads.fill(k, g * r, (g + 1) * r));
    entries[MASK_NAMES.heads(l)] = Tensor.from(heads, [heads.length]);
    entries[MASK_NAMES.mlp(l)] = Tensor.from(b.mlp.slice(), [b.mlp.length]);
    entries[MASK_NAMES.layer(l)] = Tensor.from(Uint8Array.of(b.keep ? 1 : 0), [1]);
  });
  await saveSafetensors(path, entries);
}

/** Fractions of the model's attention groups, MLP channels and blocks the plan removes. */
export function planSummary(plan: StructuredPlan): { blocksRemoved: number; attentionGroupsRemoved: number; mlpChannelsRemoved: number; attentionGroups: number; mlpChannels: number } {
  let ag = 0, agr = 0, mc = 0, mcr = 0, br = 0;
  for (const b of plan.blocks) {
    ag += b.attention.length;
    mc += b.mlp.length;
    if (!b.keep) { br++; agr += b.attention.length; mcr += b.mlp.length; continue; }
    agr += b.attention.length - b.attention.reduce((s, x) => s + x, 0);
    mcr += b.mlp.length - b.mlp.reduce((s, x) => s + x, 0);
  }
  return { blocksRemoved: br, attentionGroupsRemoved: agr, mlpChannelsRemoved: mcr, attentionGroups: ag, mlpChannels: mc };
}
