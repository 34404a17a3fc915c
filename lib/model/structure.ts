/**
 * Structured pruning, part 1: the model's dependency groups (what must be removed together) and
 * importance scores per structure (docs/structured.md).
 *
 * - attention: one unit per kv head, with the query heads that read it (HF's repeat_kv: query head
 *   h reads kv head floor(h / r), r = heads / kv heads): q rows [g·r·d, (g+1)·r·d), k and v rows
 *   [g·d, (g+1)·d), o columns [g·r·d, (g+1)·r·d). Without GQA (r = 1) a unit is one head.
 * - mlp: one unit per intermediate channel c: gate and up row c, down column c.
 * - block: a whole decoder block.
 * - hidden: the residual width; listed, not removable dim by dim (slice.ts removes directions after a rotation).
 *
 * Scores are computed from the dense model's activations, block by block (each block's inputs are
 * the dense outputs of the block before, as FLAP's code does), through blockForward's hook.
 */
import { describe } from '../dtype.js';
import { AbortError, ArgumentError, FormatError, ShapeError } from '../errors.js';
import { loadSafetensors } from '../safetensors.js';
import { SparseMatrix } from '../sparse-matrix.js';
import { Tensor } from '../tensor.js';
import type { Weight } from '../ops.js';
import { LINEARS, blockForward, blockShape, type InputGroup, type LinearName } from './block.js';
import type { LlamaModel } from './llama.js';
import { calibrationChunks, checkSamples } from './prune-model.js';

export interface GroupMember {
  /** Tensor name in the checkpoint. */
  tensor: string;
  linear: LinearName;
  /** Unit u covers [u·width, (u+1)·width) along this axis of the weight (and of the bias, for rows). */
  axis: 'rows' | 'cols';
  width: number;
}

export interface UnitGroup {
  /** Units in this block: kv groups for attention, channels for mlp. */
  units: number;
  /** Parameters one unit removes (weights and biases). */
  paramsPerUnit: number;
  members: GroupMember[];
}

export interface BlockGroups {
  block: number;
  attention: UnitGroup & { queryHeadsPerUnit: number; headDim: number };
  mlp: UnitGroup;
  /** Parameters of the whole block (linears, biases, norms). */
  params: number;
}

export interface DependencyGroups {
  blocks: BlockGroups[];
  /**
   * The residual width and what removing one of its dims would touch (embedding and LM head
   * columns, every norm, the in-projections' columns, the out-projections' rows). Not prunable yet.
   */
  hidden: { size: number; prunable: false; tensors: string[] };
}

export type ScoreMethod = 'flap' | 'wanda-sp' | 'magnitude' | 'taylor' | 'activation';
export const SCORE_METHODS: readonly ScoreMethod[] = ['flap', 'wanda-sp', 'magnitude', 'taylor', 'activation'];

export interface BlockScores {
  /** Per kv group (a kv head and its query heads); higher is more important. */
  attention: Float64Array;
  /** Per query head. */
  heads: Float64Array;
  /** Per MLP channel. */
  mlp: Float64Array;
  /** The whole block: 1 − mean cos(input, output) over calibration tokens (ShortGPT's Block Influence), or Σ|W·G| for taylor; NaN without either. */
  block: number;
}

export interface StructureScores {
  method: ScoreMethod;
  /** FLAP's scores are standardized per layer and kind, so they compare across layers and kinds as they are. */
  standardized: boolean;
  hidden: number;
  headDim: number;
  queryHeadsPerGroup: number;
  blocks: BlockScores[];
  /** Parameters per unit, per block (from dependencyGroups). */
  params: { attention: number; mlp: number; block: number }[];
  /**
   * Per block, the calibration mean of o_proj's input (per channel, heads·headDim) and of
   * down_proj's input: FLAP's bias compensation. Null when no calibration ran.
   */
  means: { attention: Float64Array; mlp: Float64Array }[] | null;
  /** Calibration tokens seen (0 for magnitude / taylor without calibration). */
  tokens: number;
}

export interface StructureScoreOptions {
  method: ScoreMethod;
  /** taylor: a safetensors file (or name → Tensor record) holding `<weight name>.grad` for every block linear. */
  gradients?: string | Record<string, Tensor>;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

function dims(w: Weight): [number, number] {
  return w instanceof SparseMatrix ? [w.rows, w.cols] : [w.shape[0]!, w.shape[1]!];
}

/** The weight as float32 [rows, cols] (a copy). */
export function weightF32(w: Weight): Float32Array {
  return (w instanceof SparseMatrix ? w.toDense() : w).toFloat32Array();
}

export function dependencyGroups(model: LlamaModel): DependencyGroups {
  const c = model.config;
  const hd = c.headDim, H = c.hiddenSize;
  const blocks = model.blocks.map((b): BlockGroups => {
    const s = blockShape(b, hd);
    const r = s.heads / s.kvHeads;
    const L = b.linears;
    const m = (linear: LinearName, axis: 'rows' | 'cols', width: number): GroupMember => ({ tensor: L[linear].name, linear, axis, width });
    const biasRows = (names: LinearName[], width: number) => names.reduce((n, l) => n + (L[l].bias ? width : 0), 0);
    const attention = {
      units: s.kvHeads, queryHeadsPerUnit: r, headDim: hd,
      paramsPerUnit: 2 * r * hd * H + 2 * hd * H + biasRows(['q_proj'], r * hd) + biasRows(['k_proj', 'v_proj'], hd),
      members: [m('q_proj', 'rows', r * hd), m('k_proj', 'rows', hd), m('v_proj', 'rows', hd), m('o_proj', 'cols', r * hd)],
    };
    const mlp = {
      units: s.intermediate, paramsPerUnit: 3 * H + biasRows(['gate_proj', 'up_proj'], 1),
      members: [m('gate_proj', 'rows', 1), m('up_proj', 'rows', 1), m('down_proj', 'cols', 1)],
    };
    let params = 2 * H;
    for (const l of LINEARS) {
      const [rows, cols] = dims(L[l].weight);
      params += rows * cols + (L[l].bias ? rows : 0);
    }
    return { block: b.index, attention, mlp, params };
  });
  const tensors = ['model.embed_tokens.weight', 'model.norm.weight', ...(model.lmHead === model.embed ? [] : ['lm_head.weight'])];
  for (const b of model.blocks) {
    tensors.push(`model.layers.${b.index}.input_layernorm.weight`, `model.layers.${b.index}.post_attention_layernorm.weight`);
    for (const l of LINEARS) tensors.push(b.linears[l].name);
  }
  return { blocks, hidden: { size: H, prunable: false, tensors } };
}

/** Per-channel statistics of one linear input over calibration tokens (float64, merged per chunk). */
class ChannelStats {
  n = 0;
  readonly mean: Float64Array;
  /** Σ (x − mean)² */
  readonly m2: Float64Array;
  /** Σ x² */
  readonly sq: Float64Array;
  constructor(readonly k: number) {
    this.mean = new Float64Array(k);
    this.m2 = new Float64Array(k);
    this.sq = new Float64Array(k);
  }

  add(x: Float32Array, rows: number): void {
    const k = this.k;
    const mean = new Float64Array(k), m2 = new Float64Array(k);
    for (let r = 0; r < rows; r++) for (let j = 0; j < k; j++) mean[j]! += x[r * k + j]!;
    for (let j = 0; j < k; j++) mean[j]! /= rows;
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < k; j++) {
        const v = x[r * k + j]!, d = v - mean[j]!;
        m2[j]! += d * d;
        this.sq[j]! += v * v;
      }
    }
    // Chan et al.'s pairwise merge of (n, mean, M2).
    const n = this.n + rows;
    for (let j = 0; j < k; j++) {
      const delta = mean[j]! - this.mean[j]!;
      this.m2[j]! += m2[j]! + (delta * delta * this.n * rows) / n;
      this.mean[j]! += (delta * rows) / n;
    }
    this.n = n;
  }

  /** Sample variance (n − 1) per channel. */
  variance(): Float64Array {
    return this.m2.map((v) => v / Math.max(1, this.n - 1));
  }
}

/** (x − mean) / std over the values, std with n − 1 as torch.std: FLAP's per-layer standardization. */
export function standardize(x: Float64Array): Float64Array {
  const n = x.length;
  let mean = 0;
  for (const v of x) mean += v;
  mean /= n;
  let ss = 0;
  for (const v of x) ss += (v - mean) ** 2;
  const std = Math.sqrt(ss / Math.max(1, n - 1));
  return x.map((v) => (std > 0 ? (v - mean) / std : 0));
}

/** Σ over column j of W² (rows × cols, float32). */
function colSq(w: Float32Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) out[j]! += w[r * cols + j]! ** 2;
  return out;
}

/** Per-element importance e(W) [rows × cols] summed over row ranges or column ranges of width w. */
function sumRows(e: (i: number) => number, rows: number, cols: number, width: number): Float64Array {
  const out = new Float64Array(rows / width);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += e(r * cols + j);
    out[Math.floor(r / width)]! += s;
  }
  return out;
}

function sumCols(e: (i: number) => number, rows: number, cols: number, width: number): Float64Array {
  const out = new Float64Array(cols / width);
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) out[Math.floor(j / width)]! += e(r * cols + j);
  return out;
}

function addInto(acc: Float64Array, x: Float64Array): void {
  for (let i = 0; i < acc.length; i++) acc[i]! += x[i]!;
}

/** Mean over consecutive runs of `width` values. */
function meanRuns(x: Float64Array, width: number): Float64Array {
  const out = new Float64Array(x.length / width);
  for (let i = 0; i < x.length; i++) out[Math.floor(i / width)]! += x[i]! / width;
  return out;
}

/**
 * Importance scores of every attention group, query head, MLP channel and block (docs/structured.md):
 * - flap: FLAP's fluctuation metric. For down_proj's input channel c, the sample variance of x_c
 *   over calibration tokens times ‖W_down[:, c]‖²; for o_proj's input channel, the same product
 *   squared (as FLAP's code does). Each layer's vector is standardized ((v − mean) / std) per kind,
 *   then averaged over a head's (or kv group's) channels.
 * - wanda-sp: Σ |W_ij| · ‖X_j‖₂ over every weight of the structure (q/k/v/gate/up rows with their
 *   shared input's norms; o/down columns with their input's norms).
 * - magnitude: Σ |W_ij| over the structure.
 * - taylor: Σ |W_ij · G_ij| over the structure (LLM-Pruner's first-order term), G from `gradients`.
 * - activation: Minitron's activation importance: the RMS over calibration tokens of a head's
 *   attention output (its o_proj input slice) or of an MLP channel's value (down_proj's input).
 */
export async function structureScores(model: LlamaModel, calibration: Int32Array[] | Tensor, options: StructureScoreOptions): Promise<StructureScores> {
  if (typeof options !== 'object' || options === null) throw new ArgumentError(`options: expected an object, got ${describe(options)}`);
  const method = options.method;
  if (!SCORE_METHODS.includes(method)) throw new ArgumentError(`options.method: expected one of ${SCORE_METHODS.join(', ')}, got ${describe(method)}`);
  const { signal, onProgress } = options;
  const checkAbort = () => { if (signal?.aborted) throw new AbortError('structureScores: aborted'); };
  checkAbort();
  const c = model.config;
  const hd = c.headDim, H = c.hiddenSize;
  const needsCalib = method === 'flap' || method === 'wanda-sp' || method === 'activation';
  const empty = Array.isArray(calibration) && calibration.length === 0;
  if (needsCalib && empty) throw new ArgumentError(`calibration: method '${method}' needs calibration samples`);
  const samples = empty ? [] : checkSamples(calibration, c.vocabSize);

  let grads: { get(name: string): Tensor | undefined; dispose(): void } | null = null;
  if (method === 'taylor') {
    const g = options.gradients;
    if (g === undefined) throw new ArgumentError("options.gradients: method 'taylor' needs gradients (a safetensors file of '<weight name>.grad' tensors)");
    if (typeof g === 'string') {
      const f = await loadSafetensors(g);
      grads = { get: (n) => (f.has(n) ? (f.get(n) as Tensor) : undefined), dispose: () => f.dispose() };
    } else if (typeof g === 'object' && g !== null) {
      grads = { get: (n) => g[n], dispose: () => {} };
    } else {
      throw new ArgumentError(`options.gradients: expected a safetensors path or a record of Tensors, got ${describe(g)}`);
    }
  }

  const groups = dependencyGroups(model);
  const { chunks, contexts } = calibrationChunks(model, samples);
  let xs = chunks.map((ch) => model.embedTokens(ch.length === 1 ? ch[0]! : Int32Array.from(ch.flatMap((x) => [...x]))));
  const tokens = samples.reduce((s, x) => s + x.length, 0);
  const blocks: BlockScores[] = [];
  const means: { attention: Float64Array; mlp: Float64Array }[] = [];
  const flapRaw: { attention: Float64Array; mlp: Float64Array }[] = [];
  const total = model.blocks.length;
  try {
    for (const block of model.blocks) {
      checkAbort();
      const s = blockShape(block, hd);
      const r = s.heads / s.kvHeads;
      const L = block.linears;
      // Calibration: the four inputs' statistics and the block's Block Influence.
      const stats = new Map<InputGroup, ChannelStats>();
      let cosSum = 0;
      if (tokens > 0) {
        stats.set('qkv', new ChannelStats(H)).set('o', new ChannelStats(s.heads * hd)).set('gateUp', new ChannelStats(H)).set('down', new ChannelStats(s.intermediate));
        const outs: Float32Array[] = [];
        for (let i = 0; i < chunks.length; i++) {
          checkAbort();
          const x = xs[i]!;
          const y = (await blockForward(block, x, contexts[i]!, (group, t) => {
            stats.get(group)!.add(t.toTypedArray() as Float32Array, t.shape[0]!);
          }))!;
          const rows = x.length / H;
          for (let t = 0; t < rows; t++) {
            let dot = 0, nx = 0, ny = 0;
            for (let j = 0; j < H; j++) {
              const a = x[t * H + j]!, b = y[t * H + j]!;
              dot += a * b;
              nx += a * a;
              ny += b * b;
            }
            cosSum += nx > 0 && ny > 0 ? dot / Math.sqrt(nx * ny) : 1;
          }
          outs.push(y);
        }
        xs = outs;
        means.push({ attention: stats.get('o')!.mean.slice(), mlp: stats.get('down')!.mean.slice() });
      }
      const influence = tokens > 0 ? 1 - cosSum / tokens : NaN;

      const attention = new Float64Array(s.kvHeads), heads = new Float64Array(s.heads), mlp = new Float64Array(s.intermediate);
      let blockScore = influence;
      if (method === 'activation') {
        // Minitron: the RMS over calibration tokens of what the structure outputs (a head's slice of
        // the attention output, a channel of silu(gate)·up); a kv group sums its heads.
        const oSq = stats.get('o')!.sq, dSq = stats.get('down')!.sq, n = stats.get('o')!.n;
        for (let h = 0; h < s.heads; h++) {
          let ss = 0;
          for (let j = h * hd; j < (h + 1) * hd; j++) ss += oSq[j]!;
          heads[h] = Math.sqrt(ss / n);
        }
        for (let g = 0; g < s.kvHeads; g++) for (let j = 0; j < r; j++) attention[g]! += heads[g * r + j]!;
        for (let ch = 0; ch < s.intermediate; ch++) mlp[ch] = Math.sqrt(dSq[ch]! / n);
      } else if (method === 'flap') {
        const o = weightF32(L.o_proj.weight), d = weightF32(L.down_proj.weight);
        const oVar = stats.get('o')!.variance(), dVar = stats.get('down')!.variance();
        const oCol = colSq(o, H, s.heads * hd), dCol = colSq(d, H, s.intermediate);
        flapRaw.push({ attention: oVar.map((v, j) => (v * oCol[j]!) ** 2), mlp: dVar.map((v, j) => v * dCol[j]!) });
      } else {
        // Element importances, summed over each structure's rows and columns.
        const per = (l: LinearName, norms: Float64Array | null, g: Float32Array | null): ((i: number) => number) & { w: Float32Array } => {
          const w = weightF32(L[l].weight);
          const cols = dims(L[l].weight)[1];
          const f = method === 'magnitude' ? (i: number) => Math.abs(w[i]!)
            : method === 'wanda-sp' ? (i: number) => Math.abs(w[i]!) * norms![i % cols]!
            : (i: number) => Math.abs(w[i]! * g![i]!);
          return Object.assign(f, { w });
        };
        const gradOf = (l: LinearName): Float32Array | null => {
          if (!grads) return null;
          const name = `${L[l].name}.grad`;
          const g = grads.get(name);
          if (!g) throw new FormatError(`options.gradients: no tensor '${name}'`);
          const [rows, cols] = dims(L[l].weight);
          if (!(g instanceof Tensor) || g.ndim !== 2 || g.shape[0] !== rows || g.shape[1] !== cols)
            throw new ShapeError(`options.gradients: '${name}' must be [${rows}, ${cols}], got ${g instanceof Tensor ? `[${g.shape.join(', ')}]` : describe(g)}`);
          return g.toFloat32Array();
        };
        const norm = (g: InputGroup) => (method === 'wanda-sp' ? stats.get(g)!.sq.map(Math.sqrt) : null);
        const nQkv = norm('qkv'), nO = norm('o'), nGU = norm('gateUp'), nD = norm('down');
        const qE = per('q_proj', nQkv, gradOf('q_proj')), kE = per('k_proj', nQkv, gradOf('k_proj')), vE = per('v_proj', nQkv, gradOf('v_proj'));
        const oE = per('o_proj', nO, gradOf('o_proj'));
        const qHead = sumRows(qE, s.heads * hd, H, hd), oHead = sumCols(oE, H, s.heads * hd, hd);
        for (let h = 0; h < s.heads; h++) heads[h] = qHead[h]! + oHead[h]!;
        const kv = sumRows(kE, s.kvHeads * hd, H, hd);
        addInto(kv, sumRows(vE, s.kvHeads * hd, H, hd));
        for (let g = 0; g < s.kvHeads; g++) {
          attention[g] = kv[g]!;
          for (let j = 0; j < r; j++) attention[g]! += heads[g * r + j]!;
        }
        const gE = per('gate_proj', nGU, gradOf('gate_proj')), uE = per('up_proj', nGU, gradOf('up_proj')), dE = per('down_proj', nD, gradOf('down_proj'));
        mlp.set(sumRows(gE, s.intermediate, H, 1));
        addInto(mlp, sumRows(uE, s.intermediate, H, 1));
        addInto(mlp, sumCols(dE, H, s.intermediate, 1));
        if (method === 'taylor') {
          blockScore = 0;
          for (const l of LINEARS) {
            const g = gradOf(l)!, w = weightF32(L[l].weight);
            for (let i = 0; i < w.length; i++) blockScore += Math.abs(w[i]! * g[i]!);
          }
        }
      }
      blocks.push({ attention, heads, mlp, block: blockScore });
      onProgress?.(blocks.length, total);
    }
  } finally {
    grads?.dispose();
  }
  if (method === 'flap') {
    blocks.forEach((b, i) => {
      const r = b.heads.length / b.attention.length;
      const a = standardize(flapRaw[i]!.attention);
      b.heads.set(meanRuns(a, hd));
      b.attention.set(meanRuns(a, r * hd));
      b.mlp.set(standardize(flapRaw[i]!.mlp));
    });
  }
  return {
    method, standardized: method === 'flap', hidden: H, headDim: hd,
    queryHeadsPerGroup: c.numHeads / c.numKvHeads, blocks,
    params: groups.blocks.map((g) => ({ attention: g.attention.paramsPerUnit, mlp: g.mlp.paramsPerUnit, block: g.params })),
    means: tokens > 0 ? means : null, tokens,
  };
}
