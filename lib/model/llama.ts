/**
 * LlamaModel: a Llama-family checkpoint (transformers' LlamaForCausalLM, Qwen2's q/k/v biases,
 * tied or untied embeddings) loaded from its Hugging Face folder, memory-mapped; forward with an
 * optional KV cache, perplexity, sequential pruning (prune-model.ts) and save. Activations are
 * float32; weights stay in their stored dtype and format and go through linear().
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, isFloatDType, type FloatDType } from '../dtype.js';
import { weightStats } from '../cost-model.js';
import { AbortError, ArgumentError, DisposedError, FormatError, IOError, ShapeError } from '../errors.js';
import { native } from '../native.js';
import { activationsFor, linear, type MatmulOptions, type Weight } from '../ops.js';
import type { SaveValue } from '../safetensors.js';
import { SparseMatrix, type Format } from '../sparse-matrix.js';
import { Tensor } from '../tensor.js';
import { Checkpoint } from './checkpoint.js';
import { INDEX_FILE, SIDE_FILES, checkMaxShardBytes, checkOutputFolder, writeCheckpoint } from './checkpoint-writer.js';
import { blockShapeOf, parseConfig, ropeInvFreq, type LlamaConfig } from './config.js';
import { LINEARS, blockForward, blockShape, linearTensorName, type InputHook, type LlamaBlock, type LinearSlot } from './block.js';
import { pruneModel, type ModelPruneOptions, type ModelPruneProgress, type ModelPruneReport } from './prune-model.js';
import { dependencyGroups, structureScores, type DependencyGroups, type StructureScoreOptions, type StructureScores } from './structure.js';
import type { StructuredPlan } from './structured-plan.js';
import { parameterCount, shrinkModel, type ShrinkOptions, type ShrinkReport } from './shrink.js';
import { sliceHidden, type SliceOptions, type SliceReport } from './slice.js';

export interface KvCache {
  readonly batch: number;
  readonly capacity: number;
  /** Positions filled so far (the same for every sequence of the batch). */
  length: number;
  /** Per layer: keys and values [batch, capacity, kvHeads·headDim], float32. */
  readonly k: Float32Array[];
  readonly v: Float32Array[];
}

/** What the linears may round their float32 inputs to: MatmulOptions.activations, per weight ('int8' reaches quantized weights only; the others stay float32). */
export interface ActivationOptions {
  activations?: MatmulOptions['activations'];
}

export interface ForwardOptions extends ActivationOptions {
  /** Append the tokens to this cache (incremental decoding); without it, the tokens are a whole sequence. */
  cache?: KvCache;
  /** Logits of each sequence's last token only ([batch, vocab]): what decoding needs. */
  lastOnly?: boolean;
}

export interface PerplexityOptions extends ActivationOptions {
  /** Tokens per window (non-overlapping; a trailing partial window is dropped, as the reference scripts do). */
  seqLen: number;
  /** Windows per forward (default 1). */
  batch?: number;
  /** Use at most this many windows. */
  maxWindows?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface SaveOptions {
  /**
   * Storage of the linear weights: 'keep' (as held: pruned weights packed), 'auto' (the CPU cost
   * model's pick per weight at expectedN, default), or one format for all ('dense' unpacks).
   * Embeddings, norms and the LM head stay dense.
   */
  format?: 'keep' | 'auto' | Format;
  /** With 'auto': tokens per product to optimise for (default 1, decoding). */
  expectedN?: number;
  /**
   * Largest weight file in bytes: past it the weights go into shards `model-0000i-of-0000n.safetensors`
   * with `model.safetensors.index.json`, as transformers writes them. Default 5e9 (transformers' "5GB").
   */
  maxShardBytes?: number;
  /** Replace a checkpoint already in the folder (default false: ERR_ARGUMENT). */
  overwrite?: boolean;
}

function checkTokens(ids: unknown, vocab: number, what = 'tokenIds'): Int32Array {
  let out: Int32Array;
  if (ids instanceof Int32Array) out = ids;
  else if (ids instanceof Tensor && ids.dtype === 'int32') out = ids.toTypedArray() as Int32Array;
  else if (Array.isArray(ids) || ids instanceof Uint32Array || ids instanceof Uint16Array || ids instanceof Uint8Array) out = Int32Array.from(ids as ArrayLike<number>);
  else throw new ArgumentError(`${what}: expected an Int32Array, an int32 Tensor or an array of token ids, got ${describe(ids)}`);
  for (let i = 0; i < out.length; i++)
    if (!(out[i]! >= 0 && out[i]! < vocab)) throw new ArgumentError(`${what}[${i}] = ${out[i]} is outside the vocabulary [0, ${vocab})`);
  return out;
}

export class LlamaModel {
  /** Replaced (not edited) by shrink(); save() writes it back as config.json when it changed. */
  config: LlamaConfig;
  /** The folder it was loaded from. */
  readonly dir: string;
  readonly blocks: LlamaBlock[];
  embed: Tensor;
  norm: Tensor;
  /** The output projection (the embedding itself when tied). */
  lmHead: Weight;
  readonly invFreq: Float32Array;
  #ckpt: Checkpoint | null;
  /** Block i's layer index in the source checkpoint (they differ once shrink() removed blocks). */
  #sourceLayer: number[];
  #configChanged = false;
  /** The embedding and final norm as loaded: save() passes them through unless replaced (sliceHidden). */
  readonly #loaded: { embed: Tensor; norm: Tensor };

  private constructor(dir: string, config: LlamaConfig, ckpt: Checkpoint, blocks: LlamaBlock[], embed: Tensor, norm: Tensor, lmHead: Weight) {
    this.dir = dir;
    this.config = config;
    this.#ckpt = ckpt;
    this.blocks = blocks;
    this.embed = embed;
    this.norm = norm;
    this.lmHead = lmHead;
    this.invFreq = ropeInvFreq(config);
    this.#sourceLayer = blocks.map((b) => b.index);
    this.#loaded = { embed, norm };
  }

  /**
   * @internal shrink()'s hand-over: the new config and blocks (indexed 0..n-1), and for each block
   * the source layer it came from.
   */
  replaceStructure(config: LlamaConfig, blocks: LlamaBlock[], sourceLayer: number[]): void {
    this.config = config;
    this.blocks.splice(0, this.blocks.length, ...blocks);
    this.#sourceLayer = sourceLayer.map((l) => this.#sourceLayer[l]!);
    this.#configChanged = true;
  }

  /**
   * Opens `dir` (config.json + model.safetensors or sharded model.safetensors.index.json); nothing
   * is copied: tensors are views of the mapped files. Unknown architectures, missing tensors and
   * shape mismatches are ERR_FORMAT / ERR_SHAPE errors naming the tensor.
   */
  static async load(dir: string): Promise<LlamaModel> {
    if (typeof dir !== 'string' || dir.length === 0) throw new ArgumentError(`dir: expected a folder path, got ${describe(dir)}`);
    const cfgPath = join(dir, 'config.json');
    let text: string;
    try {
      text = readFileSync(cfgPath, 'utf8');
    } catch (e) {
      throw new IOError(`${cfgPath}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const config = parseConfig(text, cfgPath);
    const ckpt = await Checkpoint.open(dir);
    try {
      const c = config;
      const dense = (name: string, shape: number[]): Tensor => {
        if (!ckpt.has(name)) throw new FormatError(`${dir}: missing tensor '${name}'`);
        const v = ckpt.get(name);
        // toDense() leaves an SLoRB term out, and only a linear's product can add it.
        if (v instanceof SparseMatrix && v.slorb) throw new FormatError(`${dir}: tensor '${name}' carries an SLoRB term, which only a linear weight can use`);
        const t = v instanceof SparseMatrix ? v.toDense() : v;
        if (!isFloatDType(t.dtype)) throw new FormatError(`${dir}: tensor '${name}' has dtype ${t.dtype}, expected a float dtype`);
        if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
          throw new ShapeError(`${dir}: tensor '${name}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
        return t;
      };
      const weight = (name: string, rows: number, cols: number): Weight => {
        if (!ckpt.has(name)) throw new FormatError(`${dir}: missing tensor '${name}'`);
        const v = ckpt.get(name);
        if (v instanceof SparseMatrix) {
          if (v.rows !== rows || v.cols !== cols)
            throw new ShapeError(`${dir}: tensor '${name}' has shape [${v.rows}, ${v.cols}], expected [${rows}, ${cols}]`);
          return v;
        }
        return dense(name, [rows, cols]);
      };
      const bias = (name: string, rows: number): Tensor | null => (ckpt.has(name) ? dense(name, [rows]) : null);
      const blocks: LlamaBlock[] = [];
      for (let i = 0; i < c.numLayers; i++) {
        const shape = blockShapeOf(c, i);
        const qDim = shape.heads * c.headDim, kvDim = shape.kvHeads * c.headDim;
        const dims: Record<(typeof LINEARS)[number], [number, number]> = {
          q_proj: [qDim, c.hiddenSize], k_proj: [kvDim, c.hiddenSize], v_proj: [kvDim, c.hiddenSize], o_proj: [c.hiddenSize, qDim],
          gate_proj: [shape.intermediate, c.hiddenSize], up_proj: [shape.intermediate, c.hiddenSize], down_proj: [c.hiddenSize, shape.intermediate],
        };
        const linears = {} as Record<(typeof LINEARS)[number], LinearSlot>;
        for (const l of LINEARS) {
          const name = linearTensorName(i, l);
          const [rows, cols] = dims[l];
          linears[l] = { name, weight: weight(name, rows, cols), bias: bias(linearTensorName(i, l, 'bias'), rows) };
        }
        blocks.push({
          index: i,
          inputNorm: dense(`model.layers.${i}.input_layernorm.weight`, [c.hiddenSize]),
          postNorm: dense(`model.layers.${i}.post_attention_layernorm.weight`, [c.hiddenSize]),
          linears,
        });
      }
      const embed = dense('model.embed_tokens.weight', [c.vocabSize, c.hiddenSize]);
      const norm = dense('model.norm.weight', [c.hiddenSize]);
      // Some tied checkpoints store lm_head anyway; an untied one must.
      const lmHead = !c.tieWordEmbeddings || ckpt.has('lm_head.weight') ? weight('lm_head.weight', c.vocabSize, c.hiddenSize) : embed;
      return new LlamaModel(dir, config, ckpt, blocks, embed, norm, lmHead);
    } catch (e) {
      ckpt.dispose();
      throw e;
    }
  }

  get disposed(): boolean { return this.#ckpt === null; }

  /** @internal the mapped checkpoint (for pruning's page release and save's pass-through). */
  checkpoint(): Checkpoint {
    if (this.#ckpt === null) throw new DisposedError(`LlamaModel(${this.dir}) was disposed`);
    return this.#ckpt;
  }

  /** An empty KV cache for `batch` sequences of up to `capacity` positions (float32: 2·layers·batch·capacity·kvDim·4 bytes). */
  createCache(options: { batch?: number; capacity: number }): KvCache {
    this.checkpoint();
    const batch = options?.batch ?? 1, capacity = options?.capacity;
    if (!Number.isSafeInteger(batch) || batch < 1 || batch > 4096) throw new ArgumentError(`batch: expected an integer in [1, 4096], got ${String(batch)}`);
    if (!Number.isSafeInteger(capacity) || capacity! < 1 || capacity! > 1 << 20)
      throw new ArgumentError(`capacity: expected an integer in [1, 1048576], got ${String(capacity)}`);
    const hd = this.config.headDim;
    const n = (b: LlamaBlock) => batch * capacity! * blockShape(b, hd).kvHeads * hd;
    const k = this.blocks.map((b) => new Float32Array(n(b)));
    const v = this.blocks.map((b) => new Float32Array(n(b)));
    return { batch, capacity: capacity!, length: 0, k, v };
  }

  /** The LM head's linear options for these activations. */
  #headOptions(activations: MatmulOptions['activations']): MatmulOptions {
    return { outDtype: 'float32', activations: activationsFor(this.lmHead, activations) };
  }

  /**
   * Logits [tokens, vocab] for one sequence of token ids, or [batch, tokens, vocab] for an int32
   * Tensor [batch, tokens]; with `cache`, the tokens continue the cached sequences.
   */
  async forward(tokenIds: Int32Array | number[] | Tensor, options: ForwardOptions = {}): Promise<Tensor> {
    this.checkpoint();
    const ids = checkTokens(tokenIds, this.config.vocabSize);
    const batch = tokenIds instanceof Tensor && tokenIds.ndim === 2 ? tokenIds.shape[0]! : options.cache?.batch ?? 1;
    if (ids.length === 0 || ids.length % batch !== 0) throw new ShapeError(`tokenIds: expected [batch = ${batch}, tokens >= 1], got ${ids.length} ids`);
    const tokens = ids.length / batch;
    const hidden = await this.hiddenStates(ids, batch, tokens, options.cache ?? null, undefined, options.activations);
    const H = this.config.hiddenSize;
    let rows = batch * tokens;
    let x = hidden;
    if (options.lastOnly) {
      x = new Float32Array(batch * H);
      for (let b = 0; b < batch; b++) x.set(hidden.subarray(((b + 1) * tokens - 1) * H, (b + 1) * tokens * H), b * H);
      rows = batch;
    }
    const logits = await linear(Tensor.from(x, [rows, H]), this.lmHead, null, this.#headOptions(options.activations));
    const V = this.config.vocabSize;
    if (options.lastOnly) return logits.reshape([batch, V]);
    return tokenIds instanceof Tensor && tokenIds.ndim === 2 ? logits.reshape([batch, tokens, V]) : logits;
  }

  /**
   * The final-normed hidden states [batch·tokens, hidden] (float32). `hook` sees every block's
   * linear inputs (see blockForward); the cache, if any, advances by `tokens`; `activations` as
   * ForwardOptions.activations.
   */
  async hiddenStates(ids: Int32Array, batch: number, tokens: number, cache: KvCache | null, hook?: (block: number) => InputHook | undefined,
    activations?: MatmulOptions['activations']): Promise<Float32Array> {
    const c = this.config;
    const past = cache ? cache.length : 0;
    if (cache && (cache.batch !== batch || past + tokens > cache.capacity))
      throw new ShapeError(`cache: holds ${cache.batch} sequences with ${cache.capacity - past} free positions, got ${batch} x ${tokens} tokens`);
    let x = this.embedTokens(ids);
    const positions = new Int32Array(batch * tokens);
    for (let i = 0; i < positions.length; i++) positions[i] = past + (i % tokens);
    for (const block of this.blocks) {
      const ctx = {
        config: c, batch, tokens, past, positions, invFreq: this.invFreq,
        cache: cache ? { k: cache.k[block.index]!, v: cache.v[block.index]!, capacity: cache.capacity } : null, activations,
      };
      x = (await blockForward(block, x, ctx, hook?.(block.index)))!;
    }
    if (cache) cache.length = past + tokens;
    const out = new Float32Array(x.length);
    native.modelRmsNorm(x, batch * tokens, c.hiddenSize, this.norm.toTypedArray(), this.norm.dtype, c.rmsNormEps, out);
    return out;
  }

  /** Embedding rows of `ids` as float32 [ids.length, hidden]. */
  embedTokens(ids: Int32Array): Float32Array {
    const out = new Float32Array(ids.length * this.config.hiddenSize);
    native.modelEmbed(ids, this.embed.toTypedArray(), this.embed.dtype, this.config.vocabSize, this.config.hiddenSize, out);
    return out;
  }

  /**
   * exp(mean negative log-likelihood) of next-token prediction over non-overlapping windows of
   * `seqLen` tokens (each window's first token is context only), as the SparseGPT/Wanda scripts report.
   */
  async perplexity(tokens: Int32Array | number[] | Tensor, options: PerplexityOptions): Promise<number> {
    this.checkpoint();
    const ids = checkTokens(tokens, this.config.vocabSize, 'tokens');
    const seqLen = options?.seqLen;
    if (!Number.isSafeInteger(seqLen) || seqLen < 2) throw new ArgumentError(`options.seqLen: expected an integer >= 2, got ${String(seqLen)}`);
    const batch = options.batch ?? 1;
    if (!Number.isSafeInteger(batch) || batch < 1) throw new ArgumentError(`options.batch: expected a positive integer, got ${String(batch)}`);
    let windows = Math.floor(ids.length / seqLen);
    if (options.maxWindows !== undefined) windows = Math.min(windows, options.maxWindows);
    if (windows < 1) throw new ArgumentError(`tokens: ${ids.length} tokens make no window of seqLen ${seqLen}`);
    const { signal, onProgress } = options;
    const H = this.config.hiddenSize, V = this.config.vocabSize;
    let sum = 0, count = 0;
    for (let w0 = 0; w0 < windows; w0 += batch) {
      if (signal?.aborted) throw new AbortError('perplexity: aborted');
      const nb = Math.min(batch, windows - w0);
      const chunk = ids.subarray(w0 * seqLen, (w0 + nb) * seqLen);
      const hidden = await this.hiddenStates(chunk, nb, seqLen, null, undefined, options.activations);
      const targets = new Int32Array(nb * seqLen);
      for (let b = 0; b < nb; b++)
        for (let t = 0; t < seqLen; t++) targets[b * seqLen + t] = t + 1 < seqLen ? chunk[b * seqLen + t + 1]! : -1;
      // The LM head in slices of rows keeps the logits small for large vocabularies.
      const slice = Math.max(1, Math.floor((1 << 24) / V));
      for (let r = 0; r < nb * seqLen; r += slice) {
        const n = Math.min(slice, nb * seqLen - r);
        const logits = await linear(Tensor.from(hidden.subarray(r * H, (r + n) * H), [n, H]), this.lmHead, null, this.#headOptions(options.activations));
        const [s, k] = native.modelNll(logits.toTypedArray() as Float32Array, n, V, targets.subarray(r, r + n));
        sum += s;
        count += k;
      }
      onProgress?.(Math.min(windows, w0 + nb), windows);
    }
    return Math.exp(sum / count);
  }

  /**
   * Greedy decoding: `prompt` then `maxTokens` tokens, each the argmax of the last logits.
   * Returns the new tokens (batch 1).
   */
  async generate(prompt: Int32Array | number[], options: { maxTokens: number; stopAt?: number } & ActivationOptions): Promise<Int32Array> {
    const ids = checkTokens(prompt, this.config.vocabSize, 'prompt');
    const cache = this.createCache({ capacity: ids.length + options.maxTokens });
    const out: number[] = [];
    const { activations } = options;
    let logits = await this.forward(ids, { cache, lastOnly: true, activations });
    for (let i = 0; i < options.maxTokens; i++) {
      const l = logits.toTypedArray() as Float32Array;
      let best = 0;
      for (let j = 1; j < l.length; j++) if (l[j]! > l[best]!) best = j;
      out.push(best);
      if (best === options.stopAt || i + 1 === options.maxTokens) break;
      logits = await this.forward([best], { cache, lastOnly: true, activations });
    }
    return Int32Array.from(out);
  }

  /** Sequential (or one-pass) pruning of every block's linears; see prune-model.ts and docs/models.md. */
  prune(calibration: Int32Array[] | Tensor, options: ModelPruneOptions, control: { onProgress?: (p: ModelPruneProgress) => void; signal?: AbortSignal } = {}): Promise<ModelPruneReport> {
    this.checkpoint();
    return pruneModel(this, calibration, options, control);
  }

  /** What structured pruning removes together: attention groups, MLP channels, blocks (docs/structured.md). */
  dependencyGroups(): DependencyGroups {
    this.checkpoint();
    return dependencyGroups(this);
  }

  /** Importance of every attention group, head, MLP channel and block from calibration samples (docs/structured.md). */
  structureScores(calibration: Int32Array[] | Tensor, options: StructureScoreOptions): Promise<StructureScores> {
    this.checkpoint();
    return structureScores(this, calibration, options);
  }

  /**
   * Removes the plan's structures in place (smaller dense weights, fewer blocks, config updated;
   * save() writes the smaller checkpoint). Resolves to what changed.
   */
  async shrink(plan: StructuredPlan, options: ShrinkOptions = {}): Promise<ShrinkReport> {
    return shrinkModel(this, plan, options);
  }

  /**
   * Width pruning (SliceGPT-style, one rotation for the whole residual stream): hidden_size becomes
   * `options.hidden`, in place (docs/structured.md, "Hidden dims").
   */
  sliceHidden(calibration: Int32Array[] | Tensor, options: SliceOptions): Promise<SliceReport> {
    this.checkpoint();
    return sliceHidden(this, calibration, options);
  }

  /** Parameters held (embedding, LM head when untied, norms, linears, biases). */
  parameterCount(): number {
    this.checkpoint();
    return parameterCount(this);
  }

  /**
   * Re-stores every block linear in memory ('dense' unpacks; 'nm' needs weights that follow 2:4 or
   * 4:8; 'auto' asks the cost model per weight). The LM head and embeddings are not touched.
   */
  async convertLinears(format: 'auto' | Format, options: { expectedN?: number } = {}): Promise<void> {
    this.checkpoint();
    for (const slot of this.linearSlots()) slot.weight = (await storeAs(slot.weight, format, options.expectedN ?? 1)) as Weight;
  }

  /** Every linear weight slot, block by block (the LM head is not included). */
  linearSlots(): LinearSlot[] {
    return this.blocks.flatMap((b) => LINEARS.map((l) => b.linears[l]));
  }

  /** Bytes of all linear weights plus the LM head: what one decode step reads. */
  weightBytes(): number {
    const bytes = (w: Weight) => (w instanceof SparseMatrix ? w.byteLength : w.byteLength);
    return this.linearSlots().reduce((s, l) => s + bytes(l.weight), 0) + bytes(this.lmHead);
  }

  /**
   * Writes an HF-layout folder: config.json (copied), the weights (every tensor of the source
   * checkpoint, linears in the asked storage) as model.safetensors or, past `maxShardBytes`,
   * shards with model.safetensors.index.json, and the tokenizer / generation files if present.
   * `dir` must not be the folder the model was loaded from, and a folder that already holds a
   * checkpoint is refused unless `overwrite`. Nothing in `dir` changes if writing fails.
   */
  async save(dir: string, options: SaveOptions = {}): Promise<{ bytes: number; files: string[] }> {
    const ckpt = this.checkpoint();
    if (typeof dir !== 'string' || dir.length === 0) throw new ArgumentError(`dir: expected a folder path, got ${describe(dir)}`);
    const format = options.format ?? 'auto';
    const maxShardBytes = checkMaxShardBytes(options.maxShardBytes);
    if (existsSync(dir) && realpathSync(dir) === realpathSync(this.dir)) throw new ArgumentError(`dir: '${dir}' is the folder the model was loaded from; save elsewhere`);
    checkOutputFolder(dir, options.overwrite ?? false);
    mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) throw new IOError(`${dir}: not a folder`);
    const values: [string, () => Promise<SaveValue>][] = [];
    // Block tensors come from the blocks as held (shrink() may have resized, renumbered or removed
    // them); other tensors of a source layer (buffers some checkpoints store) follow their block.
    const layerOf = /^model\.layers\.(\d+)\.(.*)$/;
    const newIndex = new Map(this.#sourceLayer.map((src, i) => [src, i]));
    const own = new Set<string>();
    const blockValues: [string, () => Promise<SaveValue>][] = [];
    for (const b of this.blocks) {
      const i = b.index;
      const add = (name: string, make: () => Promise<SaveValue>) => { own.add(name); blockValues.push([name, make]); };
      add(`model.layers.${i}.input_layernorm.weight`, async () => b.inputNorm);
      add(`model.layers.${i}.post_attention_layernorm.weight`, async () => b.postNorm);
      for (const l of LINEARS) {
        const slot = b.linears[l];
        add(linearTensorName(i, l), () => storeAs(slot.weight, format, options.expectedN ?? 1));
        const bias = slot.bias;
        if (bias) add(linearTensorName(i, l, 'bias'), async () => bias);
      }
    }
    for (const name of ckpt.names) {
      const m = layerOf.exec(name);
      if (m) {
        const i = newIndex.get(Number(m[1]));
        const renamed = `model.layers.${i}.${m[2]}`;
        // A source tensor the blocks hold (or dropped: a removed bias or block) is not passed through.
        if (i === undefined || own.has(renamed) || /^(input_layernorm|post_attention_layernorm|self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)\./.test(m[2]!)) continue;
        values.push([renamed, async () => ckpt.fileOf(name).get(name) as SaveValue]);
      } else if (name === 'lm_head.weight' && this.lmHead !== this.embed) values.push([name, async () => this.lmHead as SaveValue]);
      else if (name === 'model.embed_tokens.weight' && this.embed !== this.#loaded.embed) values.push([name, async () => this.embed]);
      else if (name === 'model.norm.weight' && this.norm !== this.#loaded.norm) values.push([name, async () => this.norm]);
      else values.push([name, async () => ckpt.fileOf(name).get(name) as SaveValue]);
    }
    // A tied checkpoint whose head became its own tensor (sliceHidden folds the final norm into it).
    if (!ckpt.has('lm_head.weight') && this.lmHead !== this.embed) values.push(['lm_head.weight', async () => this.lmHead as SaveValue]);
    values.push(...blockValues);
    const written = await writeCheckpoint(dir, values, { maxShardBytes, overwrite: options.overwrite ?? false });
    if (this.#configChanged) writeFileSync(join(dir, 'config.json'), JSON.stringify(this.config.raw, null, 2) + '\n');
    else copyFileSync(join(this.dir, 'config.json'), join(dir, 'config.json'));
    for (const f of SIDE_FILES) if (existsSync(join(this.dir, f)) && resolve(this.dir, f) !== resolve(dir, f)) copyFileSync(join(this.dir, f), join(dir, f));
    return { bytes: written.bytes, files: written.index ? [...written.files, INDEX_FILE] : written.files };
  }

  /** Releases the mapped files now (tensors already handed out keep their mapping until collected). Idempotent. */
  dispose(): void {
    this.#ckpt?.dispose();
    this.#ckpt = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    const c = this.config;
    return `LlamaModel(${this.dir}: ${c.architecture}, ${c.numLayers} layers, hidden ${c.hiddenSize}, ${c.numHeads}/${c.numKvHeads} heads${this.disposed ? ', disposed' : ''})`;
  }
}

/** A linear weight as save() stores it. */
async function storeAs(w: Weight, format: SaveOptions['format'], expectedN: number): Promise<SaveValue> {
  if (format === 'keep') return w;
  const current = w instanceof SparseMatrix ? w.format : 'dense';
  if (format === current && format !== 'nm') return w;
  const dense = w instanceof SparseMatrix ? await w.toDenseAsync() : w;
  // A SLoRB term goes with the weight into its new format (a dense one stays a 'dense' matrix to hold it).
  const slorb = w instanceof SparseMatrix && w.slorb ? { slorb: w.slorb } : {};
  if (format === 'dense') return w instanceof SparseMatrix && w.slorb ? SparseMatrix.fromDenseAsync(dense, { format: 'dense', ...slorb }) : dense;
  if (format === 'nm') {
    if (w instanceof SparseMatrix && w.format === 'nm') return w;
    const nm = fitsNM(dense);
    if (!nm) throw new FormatError(`save: a weight does not follow a 2:4 or 4:8 pattern; use format 'auto' or 'bitmap'`);
    return SparseMatrix.fromDenseAsync(dense, { format: 'nm', ...nm, ...slorb });
  }
  const sm = await SparseMatrix.fromDenseAsync(dense, { format: format as Format | 'auto', expectedN, ...slorb });
  return sm.format === 'dense' && !sm.slorb ? dense : sm;
}

/** The 2:4 or 4:8 pattern every row of `t` follows (the cost model's count), or null. */
function fitsNM(t: Tensor): { n: number; m: number } | null {
  const [rows, cols] = t.shape as [number, number];
  return weightStats(t.toTypedArray() as Float32Array | Uint16Array, rows, cols, t.dtype as FloatDType, null).nm ?? null;
}
