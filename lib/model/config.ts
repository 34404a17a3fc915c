/**
 * config.json of a Llama-family checkpoint, as transformers reads it: the fields the forward
 * needs, checked, and the rotary inverse frequencies (default and Llama-3 `rope_scaling`).
 */
import { FormatError } from '../errors.js';

/** Architectures whose forward is LlamaForCausalLM's (Qwen2 adds q/k/v biases, found from the tensors). */
export const ARCHITECTURES = ['LlamaForCausalLM', 'Qwen2ForCausalLM', 'MistralForCausalLM'] as const;

export interface RopeScaling {
  ropeType: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/** One decoder block's sizes; they differ between blocks only in structurally pruned models (docs/structured.md). */
export interface BlockShape {
  heads: number;
  kvHeads: number;
  intermediate: number;
}

export interface LlamaConfig {
  architecture: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /**
   * Per-block sizes from `sparsekit_layer_shapes` (written by shrink() when blocks differ), or null
   * when every block has the standard fields' sizes.
   */
  layerShapes: BlockShape[] | null;
  /** The parsed config.json, every key (written back unchanged by save()). */
  raw: Record<string, unknown>;
}

function bad(path: string, msg: string): FormatError {
  return new FormatError(`${path}: ${msg}`);
}

function int(raw: Record<string, unknown>, key: string, path: string, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > 2 ** 31)
    throw bad(path, `'${key}' must be a positive integer, got ${JSON.stringify(raw[key])}`);
  return v;
}

function num(raw: Record<string, unknown>, key: string, path: string, fallback?: number): number {
  const v = raw[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw bad(path, `'${key}' must be a positive number, got ${JSON.stringify(raw[key])}`);
  return v;
}

/** Parses and checks a config.json text (`path` names it in errors). */
export function parseConfig(text: string, path = 'config.json'): LlamaConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw bad(path, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad(path, 'expected a JSON object');
  const r = raw as Record<string, unknown>;
  const archs = r.architectures;
  const arch = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined;
  if (!arch || !(ARCHITECTURES as readonly string[]).includes(arch))
    throw bad(path, `architecture ${JSON.stringify(arch ?? r.model_type ?? null)} is not supported (supported: ${ARCHITECTURES.join(', ')})`);
  if (r.hidden_act !== undefined && r.hidden_act !== 'silu') throw bad(path, `hidden_act ${JSON.stringify(r.hidden_act)} is not supported (silu only)`);
  if (r.use_sliding_window === true) throw bad(path, 'use_sliding_window: sliding-window attention is not supported');
  const hiddenSize = int(r, 'hidden_size', path);
  const numHeads = int(r, 'num_attention_heads', path);
  const numKvHeads = int(r, 'num_key_value_heads', path, numHeads);
  if (numHeads % numKvHeads !== 0) throw bad(path, `num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  const headDim = r.head_dim === undefined || r.head_dim === null ? hiddenSize / numHeads : int(r, 'head_dim', path);
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw bad(path, `head dimension ${headDim} must be an even integer`);
  let ropeScaling: RopeScaling | null = null;
  const rs = r.rope_scaling;
  if (rs !== undefined && rs !== null) {
    if (typeof rs !== 'object' || Array.isArray(rs)) throw bad(path, 'rope_scaling must be an object or null');
    const o = rs as Record<string, unknown>;
    const type = o.rope_type ?? o.type;
    if (type === 'default') {
      ropeScaling = null;
    } else if (type === 'llama3') {
      ropeScaling = {
        ropeType: 'llama3', factor: num(o, 'factor', path), lowFreqFactor: num(o, 'low_freq_factor', path),
        highFreqFactor: num(o, 'high_freq_factor', path), originalMaxPositionEmbeddings: int(o, 'original_max_position_embeddings', path),
      };
      if (ropeScaling.highFreqFactor <= ropeScaling.lowFreqFactor) throw bad(path, 'rope_scaling: high_freq_factor must exceed low_freq_factor');
    } else {
      throw bad(path, `rope_scaling type ${JSON.stringify(type)} is not supported (llama3 or none)`);
    }
  }
  const numLayers = int(r, 'num_hidden_layers', path);
  const intermediateSize = int(r, 'intermediate_size', path);
  const layerShapes = parseLayerShapes(r.sparsekit_layer_shapes, path, numLayers, { heads: numHeads, kvHeads: numKvHeads, intermediate: intermediateSize });
  return {
    architecture: arch,
    vocabSize: int(r, 'vocab_size', path),
    hiddenSize,
    intermediateSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    rmsNormEps: num(r, 'rms_norm_eps', path, 1e-6),
    ropeTheta: num(r, 'rope_theta', path, 10000),
    ropeScaling,
    maxPositionEmbeddings: int(r, 'max_position_embeddings', path, 2048),
    tieWordEmbeddings: r.tie_word_embeddings === true,
    layerShapes,
    raw: r,
  };
}

/**
 * `sparsekit_layer_shapes`: one `{ num_attention_heads, num_key_value_heads, intermediate_size }`
 * per layer, each at most the standard field (which holds the maximum) and keeping the query heads
 * per kv head of the standard fields, so GQA's grouping is the same in every layer.
 */
function parseLayerShapes(v: unknown, path: string, layers: number, max: BlockShape): BlockShape[] | null {
  if (v === undefined || v === null) return null;
  const key = 'sparsekit_layer_shapes';
  if (!Array.isArray(v) || v.length !== layers) throw bad(path, `'${key}' must be an array of ${layers} objects (one per layer)`);
  const perKv = max.heads / max.kvHeads;
  return v.map((e, i) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw bad(path, `'${key}[${i}]' must be an object`);
    const o = e as Record<string, unknown>;
    const at = `${path}: ${key}[${i}]`;
    const shape = {
      heads: int(o, 'num_attention_heads', at), kvHeads: int(o, 'num_key_value_heads', at), intermediate: int(o, 'intermediate_size', at),
    };
    if (shape.heads > max.heads || shape.kvHeads > max.kvHeads || shape.intermediate > max.intermediate)
      throw bad(path, `'${key}[${i}]' exceeds the standard fields (which must hold the largest layer)`);
    if (shape.heads !== shape.kvHeads * perKv)
      throw bad(path, `'${key}[${i}]': num_attention_heads must be ${perKv} x num_key_value_heads, as in the standard fields`);
    return shape;
  });
}

/** Sizes of block `i` (its entry of sparsekit_layer_shapes, else the standard fields). */
export function blockShapeOf(c: LlamaConfig, i: number): BlockShape {
  return c.layerShapes?.[i] ?? { heads: c.numHeads, kvHeads: c.numKvHeads, intermediate: c.intermediateSize };
}

/**
 * The rotary inverse frequencies, float32 like transformers: 1 / theta^(2i/d), then for llama3
 * scaling divided by `factor` below the low-frequency cut-off and blended between the two cut-offs.
 */
export function ropeInvFreq(c: LlamaConfig): Float32Array {
  const half = c.headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / c.ropeTheta ** ((2 * i) / c.headDim);
  const s = c.ropeScaling;
  if (!s) return inv;
  const lowWave = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWave = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const f = inv[i]!;
    const wave = (2 * Math.PI) / f;
    if (wave < highWave) continue;
    if (wave > lowWave) {
      inv[i] = f / s.factor;
      continue;
    }
    const smooth = (s.originalMaxPositionEmbeddings / wave - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    inv[i] = (1 - smooth) * (f / s.factor) + smooth * f;
  }
  return inv;
}
