/**
 * `sparsekit merge-lora`: merges a PEFT LoRA adapter (adapter_config.json +
 * adapter_model.safetensors) into a pruned checkpoint without filling its zeros: W + s·B·A is
 * applied at the kept positions only, in each weight's own storage format, so the sparsity after
 * equals the sparsity before. Everything about the adapter is checked before the output is opened.
 */
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readSync, realpathSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { mergeLowRank } from '../lowrank-merge.js';
import { loadSafetensors, type SafetensorsFile } from '../safetensors.js';
import { SparseMatrix } from '../sparse-matrix.js';
import { Tensor } from '../tensor.js';
import { CliError, Context, EXIT, fmtPct, table } from './context.js';
import { runPipeline, type PipelineReport, type PipelineSpec } from './pipeline.js';
import { Checkpoint } from '../model/checkpoint.js';
import { INDEX_FILE, SIDE_FILES, existingCheckpointFiles, installShards, type StagedShard } from '../model/checkpoint-writer.js';

/** What merge-lora reads from adapter_config.json (PEFT's LoraConfig). */
export interface AdapterConfig {
  r: number;
  loraAlpha: number;
  targetModules: string[] | string | null;
  useRslora: boolean;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
}

export interface MergeLayer {
  name: string;
  shape: number[];
  storage: string;
  rank: number;
  scale: number;
  sparsityBefore: number;
  sparsityAfter: number;
}

export interface MergeReport extends Omit<PipelineReport, 'layers'> {
  command: 'merge-lora';
  version: 1;
  adapter: string;
  layers: MergeLayer[];
  sparsityBefore: number;
  sparsityAfter: number;
}

const PEFT_PREFIX = 'base_model.model.';
const inputError = (msg: string, hint?: string) => new CliError(EXIT.input, msg, hint);

/**
 * The model: a .safetensors path, a directory holding model.safetensors, or a sharded directory
 * (model.safetensors.index.json), which is merged shard by shard into an output folder.
 */
export function resolveModel(path: string): { file: string } | { sharded: string } {
  if (!existsSync(path)) throw inputError(`model '${path}' does not exist`);
  if (!statSync(path).isDirectory()) return { file: path };
  const single = join(path, 'model.safetensors');
  if (existsSync(single)) return { file: single };
  if (existsSync(join(path, INDEX_FILE))) return { sharded: path };
  throw inputError(`model directory '${path}' has no model.safetensors or ${INDEX_FILE}`);
}

/** The adapter's safetensors and config paths: a directory, or the .safetensors file with its config beside it. */
export function resolveAdapter(path: string): { weights: string; config: string | null } {
  if (!existsSync(path)) throw inputError(`adapter '${path}' does not exist`);
  const dir = statSync(path).isDirectory() ? path : dirname(path);
  const weights = statSync(path).isDirectory() ? join(path, 'adapter_model.safetensors') : path;
  if (!existsSync(weights))
    throw inputError(`adapter directory '${path}' has no adapter_model.safetensors`,
      existsSync(join(dir, 'adapter_model.bin')) ? 'adapter_model.bin (pickle) is not read; save the adapter with safe_serialization=True' : undefined);
  const config = join(dir, 'adapter_config.json');
  return { weights, config: existsSync(config) ? config : null };
}

function num(o: Record<string, unknown>, key: string, path: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw inputError(`'${path}': ${key} must be a positive number, got ${JSON.stringify(v)}`);
  return v;
}

function numberMap(o: Record<string, unknown>, key: string, path: string): Record<string, number> {
  const v = o[key];
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw inputError(`'${path}': ${key} must be an object of module pattern -> number`);
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'number' || !(x > 0)) throw inputError(`'${path}': ${key}['${k}'] must be a positive number`);
  return v as Record<string, number>;
}

export function readAdapterConfig(path: string): AdapterConfig {
  let o: unknown;
  try {
    o = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw inputError(`'${path}': not readable JSON (${(e as Error).message})`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw inputError(`'${path}': expected a JSON object`);
  const c = o as Record<string, unknown>;
  if (c.peft_type !== undefined && c.peft_type !== 'LORA') throw inputError(`'${path}': peft_type ${JSON.stringify(c.peft_type)} is not a LoRA adapter`);
  if (c.use_dora === true) throw inputError(`'${path}': DoRA adapters (use_dora) rescale whole columns and cannot keep a sparse mask; not supported`);
  if (c.fan_in_fan_out === true) throw inputError(`'${path}': fan_in_fan_out adapters (GPT-2 Conv1D weights) are not supported`);
  if (c.bias !== undefined && c.bias !== 'none') throw inputError(`'${path}': bias '${String(c.bias)}' trains biases that merge-lora would drop; only bias 'none' is supported`);
  const t = c.target_modules;
  if (t !== undefined && t !== null && typeof t !== 'string' && !(Array.isArray(t) && t.every((x) => typeof x === 'string')))
    throw inputError(`'${path}': target_modules must be a list of names or a regular expression`);
  return {
    r: num(c, 'r', path), loraAlpha: num(c, 'lora_alpha', path), targetModules: (t as string[] | string | undefined) ?? null,
    useRslora: c.use_rslora === true, rankPattern: numberMap(c, 'rank_pattern', path), alphaPattern: numberMap(c, 'alpha_pattern', path),
  };
}

/** PEFT's pattern rule: a key matches a module whose name is the key or ends with '.key' (keys may be regular expressions). */
function patternValue(patterns: Record<string, number>, module: string, fallback: number): number {
  for (const [k, v] of Object.entries(patterns)) {
    let re: RegExp;
    try { re = new RegExp(`^(?:.*\\.)?(?:${k})$`); } catch { continue; }
    if (re.test(module)) return v;
  }
  return fallback;
}

interface AdapterPair { module: string; weight: string; a: string; b: string; rank: number; scale: number }

/** Pairs lora_A / lora_B tensors by module and maps each to the model weight it adapts. */
export function adapterPairs(adapter: SafetensorsFile, config: AdapterConfig | null, model: Pick<SafetensorsFile, 'has' | 'info'>, scaleOverride?: number): AdapterPair[] {
  const mods = new Map<string, { a?: string; b?: string }>();
  const stray: string[] = [];
  for (const name of adapter.names) {
    const m = /^(.*)\.lora_([AB])(?:\.default)?\.weight$/.exec(name);
    if (!m) { stray.push(name); continue; }
    const module = m[1]!.startsWith(PEFT_PREFIX) ? m[1]!.slice(PEFT_PREFIX.length) : m[1]!;
    const e = mods.get(module) ?? {};
    e[m[2] === 'A' ? 'a' : 'b'] = name;
    mods.set(module, e);
  }
  if (stray.length)
    throw inputError(`adapter '${adapter.path}' holds tensors that are not LoRA factors (${stray.slice(0, 3).join(', ')}${stray.length > 3 ? ', ...' : ''}); merging would drop them`,
      'modules_to_save and lora bias tensors are not merged by merge-lora');
  if (mods.size === 0) throw inputError(`adapter '${adapter.path}' has no lora_A / lora_B tensors`);
  if (config === null && scaleOverride === undefined)
    throw inputError(`adapter '${adapter.path}' has no adapter_config.json beside it, so lora_alpha / r is unknown`, 'pass --scale <s> (lora_alpha / r)');
  const pairs: AdapterPair[] = [];
  const missing: string[] = [];
  for (const [module, { a, b }] of mods) {
    if (!a || !b) throw inputError(`adapter '${adapter.path}': module '${module}' has lora_${a ? 'A' : 'B'} but no lora_${a ? 'B' : 'A'}`);
    const ia = adapter.info(a), ib = adapter.info(b);
    if (ia.shape.length !== 2 || ib.shape.length !== 2)
      throw inputError(`adapter '${adapter.path}': '${module}' factors must be 2-D, got lora_A [${ia.shape.join(', ')}], lora_B [${ib.shape.join(', ')}]`);
    const rank = ia.shape[0]!;
    if (ib.shape[1] !== rank)
      throw inputError(`adapter '${adapter.path}': '${module}' ranks do not match: lora_A [${ia.shape.join(', ')}] has rank ${rank}, lora_B [${ib.shape.join(', ')}] has ${ib.shape[1]}`);
    if (config) {
      const want = patternValue(config.rankPattern, module, config.r);
      if (rank !== want) throw inputError(`adapter '${adapter.path}': '${module}' has rank ${rank} but adapter_config.json says r = ${want}`);
    }
    const weight = `${module}.weight`;
    if (!model.has(weight)) { missing.push(weight); continue; }
    const ws = model.info(weight).shape;
    if (ws.length !== 2 || ws[0] !== ib.shape[0] || ws[1] !== ia.shape[1])
      throw inputError(`'${module}': the model's weight is [${ws.join(', ')}] but the adapter's B·A is [${ib.shape[0]}, ${ia.shape[1]}]`);
    let scale = scaleOverride;
    if (scale === undefined) {
      const alpha = patternValue(config!.alphaPattern, module, config!.loraAlpha);
      scale = config!.useRslora ? alpha / Math.sqrt(rank) : alpha / rank;
    }
    pairs.push({ module, weight, a, b, rank, scale });
  }
  if (missing.length)
    throw inputError(`the adapter targets ${missing.length} module(s) the model does not have: ${missing.slice(0, 3).map((m) => `'${m}'`).join(', ')}${missing.length > 3 ? ', ...' : ''}`,
      'check that the adapter was trained on this model (names are matched after removing the base_model.model. prefix)');
  return pairs;
}

/** Fraction of positions not kept: unstored for packed formats, zero for dense tensors. */
function sparsityOf(v: Tensor | SparseMatrix): number {
  const t = v instanceof SparseMatrix ? (v.format === 'dense' ? v.toDense() : null) : v;
  if (t === null) { const sm = v as SparseMatrix; return 1 - sm.density; }
  const d = t.toTypedArray();
  let zeros = 0;
  // +0 and -0 are both pruned; 16-bit dtypes store them as 0x0000 / 0x8000.
  if (t.dtype === 'float32') for (let i = 0; i < d.length; i++) { if (d[i] === 0) zeros++; }
  else for (let i = 0; i < d.length; i++) { if ((d[i]! & 0x7fff) === 0) zeros++; }
  return d.length ? zeros / d.length : 0;
}

export interface MergeOptions {
  scale?: number;
  /** Sharded models: replace a checkpoint already in the output folder. */
  force?: boolean;
}

export async function mergeLoraFile(modelPath: string, adapterPath: string, output: string, options: MergeOptions, ctx: Context): Promise<MergeReport> {
  const input = resolveModel(modelPath);
  const ad = resolveAdapter(adapterPath);
  const config = ad.config ? readAdapterConfig(ad.config) : null;
  using adapter = await loadSafetensors(ad.weights);
  // Every adapter module is matched (and every check made) before the output is created.
  let pairs: Map<string, AdapterPair>;
  {
    using model = 'file' in input ? await loadSafetensors(input.file) : await Checkpoint.open(input.sharded);
    pairs = new Map(adapterPairs(adapter, config, model, options.scale).map((p) => [p.weight, p]));
  }
  let before = 0, after = 0, total = 0;
  const spec = (file: string, out: string) => ({
    input: file, output: out,
    select: (name: string) => pairs.has(name),
    transform: async (name: string, f: SafetensorsFile) => {
      const p = pairs.get(name)!;
      const w = f.get(name);
      const A = adapter.getTensor(p.a), B = adapter.getTensor(p.b);
      const merged = w instanceof SparseMatrix ? mergeLowRank(w, A, B, { scale: p.scale }) : mergeLowRank(w, A, B, { scale: p.scale });
      const sb = sparsityOf(w), sa = sparsityOf(merged);
      const n = w.shape[0]! * w.shape[1]!;
      before += sb * n; after += sa * n; total += n;
      if (sa !== sb) ctx.note(`${name}: a merged value rounded to exactly zero (sparsity ${fmtPct(sb)} -> ${fmtPct(sa)})`);
      const storage = w instanceof SparseMatrix ? (w.format === 'nm' ? `nm ${w.n}:${w.m}` : w.format) : 'dense';
      const layer: MergeLayer = { name, shape: [...w.shape], storage, rank: p.rank, scale: p.scale, sparsityBefore: sb, sparsityAfter: sa };
      return { value: merged, report: { ...layer } };
    },
    metadata: { merged_lora_adapter: basename(adapterPath) },
  });
  const r = 'file' in input ? await runPipeline(spec(input.file, output), ctx) : await mergeShards(input.sharded, output, spec, options.force ?? false, ctx);
  return {
    command: 'merge-lora', version: 1, ...r, adapter: adapterPath, layers: r.layers as unknown as MergeLayer[],
    sparsityBefore: total ? before / total : 0, sparsityAfter: total ? after / total : 0,
  };
}

/** The header length a safetensors file starts with (8 bytes, little-endian). */
function headerLength(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(8);
    readSync(fd, b, 0, 8, 0);
    return Number(b.readBigUInt64LE(0));
  } finally {
    closeSync(fd);
  }
}

/**
 * A sharded model into the folder `output`: each shard through the pipeline to a temporary file,
 * then all of them moved into place with a fresh index (lib/model/checkpoint-writer.ts), and
 * config.json and the tokenizer files copied. Nothing appears in `output` unless every shard merged.
 */
async function mergeShards(dir: string, output: string, spec: (file: string, out: string) => PipelineSpec, force: boolean, ctx: Context): Promise<PipelineReport> {
  const t0 = performance.now();
  if (existsSync(output) && realpathSync(output) === realpathSync(dir))
    throw new CliError(EXIT.usage, `--out must differ from the model folder ('${output}')`, 'write to a new folder');
  if (existsSync(output) && !statSync(output).isDirectory())
    throw new CliError(EXIT.usage, `--out '${output}' is a file; a sharded model is merged into a folder`);
  if (!force && existingCheckpointFiles(output).length > 0)
    throw new CliError(EXIT.usage, `--out '${output}' already holds a checkpoint`, 'add --force to replace it, or choose another folder');
  const shards: string[] = [];
  {
    using ck = await Checkpoint.open(dir);
    for (const f of ck.files) shards.push(basename(f.path));
  }
  mkdirSync(output, { recursive: true });
  const old = existingCheckpointFiles(output).filter((f) => f !== 'config.json');
  const stamp = `${process.pid}-${Date.now().toString(36)}`;
  const staged: StagedShard[] = [];
  const layers: Record<string, unknown>[] = [];
  let inputBytes = 0;
  try {
    for (const [i, shard] of shards.entries()) {
      const path = join(output, `.sparsekit-merge-${stamp}-${i}.safetensors`);
      const r = await runPipeline(spec(join(dir, shard), path), ctx);
      layers.push(...r.layers);
      inputBytes += r.inputBytes;
      using f = await loadSafetensors(path);
      staged.push({ path, tensorNames: [...f.tensorNames], dataBytes: f.fileSize - 8 - headerLength(path) });
    }
  } catch (e) {
    for (const s of staged) rmSync(s.path, { force: true });
    throw e;
  }
  const written = installShards(output, staged, old, stamp);
  for (const f of ['config.json', ...SIDE_FILES]) if (existsSync(join(dir, f))) copyFileSync(join(dir, f), join(output, f));
  return { input: dir, output, inputBytes, outputBytes: written.bytes, seconds: (performance.now() - t0) / 1000, layers };
}

export function printMerge(r: MergeReport, ctx: Context): void {
  const rows = [['name', 'shape', 'storage', '>rank', '>scale', '>sparsity before', '>after']];
  for (const l of r.layers)
    rows.push([l.name, `[${l.shape.join(', ')}]`, l.storage, String(l.rank), String(+l.scale.toPrecision(4)), fmtPct(l.sparsityBefore), fmtPct(l.sparsityAfter)]);
  ctx.out(table(rows));
  ctx.out();
  ctx.out(`merge-lora: ${r.adapter} into ${r.input} -> ${r.output}: ${r.layers.length} layer(s), ` +
    `sparsity ${fmtPct(r.sparsityBefore)} before, ${fmtPct(r.sparsityAfter)} after, ${r.seconds.toFixed(2)} s`);
}
