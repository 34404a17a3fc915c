/**
 * `sparsekit prune`: runs a solver (magnitude, Wanda, SparseGPT, RIA, DSnoT, ALPS) over every selected weight of a
 * checkpoint, layer by layer, reading calibration from a second safetensors file (docs/cli.md).
 */
import { CalibrationStats } from '../calibration.js';
import { isFloatDType } from '../dtype.js';
import { linear } from '../ops.js';
import { prune, type PrunePattern, type PruneResult } from '../prune.js';
import { loadSafetensors, type SafetensorsFile } from '../safetensors.js';
import { SparseMatrix } from '../sparse-matrix.js';
import { Tensor } from '../tensor.js';
import { SparsekitError } from '../errors.js';
import { CliError, Context, EXIT, fmtBytes, fmtPct, table } from './context.js';
import { packWeight, selector, storageLabel, type PackFormat } from './pack.js';
import type { QuantizeOptions } from '../quant.js';
import { runPipeline } from './pipeline.js';

export type PruneMethod = 'magnitude' | 'wanda' | 'sparsegpt' | 'ria' | 'dsnot' | 'alps';
export const PRUNE_METHODS: readonly PruneMethod[] = ['magnitude', 'wanda', 'sparsegpt', 'ria', 'dsnot', 'alps'];

export interface PruneFileOptions {
  method: PruneMethod;
  pattern: PrunePattern;
  calib?: string;
  layers?: RegExp;
  /** Storage of the pruned weights: 'dense' (default) or a packed format as in pack. */
  format?: PackFormat;
  blockSize?: number;
  damping?: number;
  /** Tokens of calibration input used to measure each layer's relative output error (0: skip). */
  evalTokens?: number;
  /** magnitude: rank within each row instead of over the whole matrix. */
  perRow?: boolean;
  /** wanda: the published per-row cumulative-score threshold with alpha search. */
  alphaSearch?: boolean;
  /** --format auto: tokens per product to pick the fastest format for. */
  expectedN?: number;
  /** --quant: quantize the kept weights (sparsegpt: jointly, group-wise; others: round to nearest). */
  quant?: QuantizeOptions;
  /** ria: activation exponent, and SparseGPT's reconstruction on its mask. */
  ria?: { a?: number; reconstruct?: boolean };
  /** dsnot: the start and the cycles per row (default: scaled with the row width). */
  dsnot?: { initial?: 'sparsegpt' | 'wanda' | 'sparsegpt-saliency'; maxCycles?: number };
  /** alps: ADMM iterations at most. */
  alps?: { maxIter?: number };
}

export interface PruneLayer {
  name: string;
  shape: number[];
  sparsity: number;
  loss: number;
  relError: number | null;
  storage: string;
  bytesOut: number;
  seconds: number;
}

export interface PruneFileReport {
  command: 'prune';
  version: 1;
  method: PruneMethod;
  pattern: string;
  input: string;
  output: string;
  calib: string | null;
  inputBytes: number;
  outputBytes: number;
  seconds: number;
  sparsity: number;
  layers: PruneLayer[];
}

/** Rows fed to CalibrationStats per call: bounded memory for the float32 staging of 16-bit inputs. */
const CALIB_CHUNK = 4096;

interface CalibSource {
  kind: 'input' | 'sumsq';
  tensor: string;
}

/** Methods that can work from Wanda's sums of squares alone (no captured inputs). */
function normsOnly(o: PruneFileOptions): boolean {
  return o.method === 'wanda' || (o.method === 'ria' && o.ria?.reconstruct !== true);
}

/** Methods whose statistics keep XᵀX. */
function needsHessian(o: PruneFileOptions): boolean {
  return o.method === 'sparsegpt' || o.method === 'alps' || (o.method === 'ria' && o.ria?.reconstruct === true) ||
    (o.method === 'dsnot' && (o.dsnot?.initial ?? 'sparsegpt') !== 'wanda');
}

function findCalib(calib: SafetensorsFile, name: string, cols: number, sumsqOk: boolean): CalibSource | string {
  const input = `${name}.input`, sumsq = `${name}.sumsq`;
  if (calib.has(input)) {
    const i = calib.info(input);
    if (i.kind !== 'tensor' || i.shape.length !== 2 || i.shape[1] !== cols || !isFloatDType(i.sparsekitDtype))
      return `'${input}' must be a float tensor [tokens, ${cols}], got ${i.kind === 'tensor' ? `${i.dtype} [${i.shape.join(', ')}]` : 'a packed matrix'}`;
    if (i.shape[0] === 0) return `'${input}' has no tokens`;
    return { kind: 'input', tensor: input };
  }
  if (sumsqOk && calib.has(sumsq)) {
    const i = calib.info(sumsq);
    if (i.kind !== 'tensor' || i.shape.length !== 1 || i.shape[0] !== cols || !['F32', 'F64'].includes(i.dtype))
      return `'${sumsq}' must be F32 or F64 [${cols}], got ${i.kind === 'tensor' ? `${i.dtype} [${i.shape.join(', ')}]` : 'a packed matrix'}`;
    return { kind: 'sumsq', tensor: sumsq };
  }
  return sumsqOk ? `no '${input}' or '${sumsq}'` : `no '${input}'`;
}

/** Statistics from captured inputs, or Wanda's sums of squares turned into an exact equivalent batch. */
async function statsFor(calib: SafetensorsFile, src: CalibSource, cols: number, hessian: boolean): Promise<CalibrationStats> {
  const stats = new CalibrationStats(cols, { hessian });
  if (src.kind === 'input') {
    const x = calib.getTensor(src.tensor);
    const d = x.toTypedArray();
    const rows = x.shape[0]!;
    for (let r = 0; r < rows; r += CALIB_CHUNK) {
      const n = Math.min(CALIB_CHUNK, rows - r);
      await stats.addAsync(Tensor.from(d.subarray(r * cols, (r + n) * cols), [n, cols], { dtype: x.dtype }));
    }
    return stats;
  }
  // Σ_t x_tj² = s_j is reproduced exactly by the K "tokens" sqrt(s_j)·e_j (rows of a diagonal).
  const raw = calib.getRaw(src.tensor);
  const s = raw.dtype === 'F64' ? new Float64Array(raw.data.slice().buffer) : new Float32Array(raw.data.slice().buffer);
  for (let r = 0; r < cols; r += 256) {
    const n = Math.min(256, cols - r);
    const x = new Float32Array(n * cols);
    for (let i = 0; i < n; i++) x[i * cols + r + i] = Math.sqrt(Math.max(0, s[r + i]!));
    stats.add(Tensor.from(x, [n, cols]));
  }
  return stats;
}

/** ‖X(W − Ŵ)ᵀ‖ / ‖XWᵀ‖ over the first `tokens` rows of the calibration input. */
async function relativeError(calib: SafetensorsFile, src: CalibSource, w: Tensor, pruned: Tensor, tokens: number): Promise<number | null> {
  if (src.kind !== 'input' || tokens <= 0) return null;
  const x = calib.getTensor(src.tensor);
  const cols = x.shape[1]!;
  const n = Math.min(tokens, x.shape[0]!);
  const xs = Tensor.from(x.toTypedArray().subarray(0, n * cols), [n, cols], { dtype: x.dtype });
  const y = (await linear(xs, w, null, { outDtype: 'float32' })).toTypedArray() as Float32Array;
  const yp = (await linear(xs, pruned, null, { outDtype: 'float32' })).toTypedArray() as Float32Array;
  let num = 0, den = 0;
  for (let i = 0; i < y.length; i++) {
    num += (y[i]! - yp[i]!) ** 2;
    den += y[i]! ** 2;
  }
  return den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
}

async function runSolver(method: PruneMethod, w: Tensor, stats: CalibrationStats | null, o: PruneFileOptions,
                         onProgress: (f: number) => void, signal: AbortSignal): Promise<PruneResult> {
  if (method === 'magnitude') return prune.magnitudeAsync(w, o.pattern, { perRow: o.perRow });
  if (method === 'wanda') return prune.wandaAsync(w, stats!, o.pattern, { alphaSearch: o.alphaSearch });
  if (method === 'ria') return prune.ria(w, stats!, o.pattern, { ...o.ria, damping: o.damping, onProgress, signal });
  if (method === 'dsnot') return prune.dsnot(w, stats!, o.pattern, { initial: 'sparsegpt', ...o.dsnot, damping: o.damping, onProgress, signal });
  if (method === 'alps') return prune.alps(w, stats!, o.pattern, { ...o.alps, onProgress, signal });
  return prune.sparsegpt(w, stats!, o.pattern, { blockSize: o.blockSize, damping: o.damping, onProgress, signal, ...(o.quant ? { quantize: o.quant } : {}) });
}

export async function pruneFile(input: string, output: string, o: PruneFileOptions, ctx: Context): Promise<PruneFileReport> {
  const needsCalib = o.method !== 'magnitude';
  if (needsCalib && !o.calib)
    throw new CliError(EXIT.usage, `--method ${o.method} needs calibration data: --calib <file>`, 'see docs/cli.md, "Calibration input"; or use --method magnitude');
  using calib = o.calib ? await loadSafetensors(o.calib) : null;
  const sources = new Map<string, CalibSource>();
  const label = o.pattern.n !== undefined ? `${o.pattern.n}:${o.pattern.m}` : `unstructured ${fmtPct(o.pattern.sparsity)}`;
  const r = await runPipeline({
    input, output, select: selector(o.layers),
    metadata: { 'sparsekit.pruned': JSON.stringify({ method: o.method, pattern: label }) },
    prepare: (f, selected) => {
      if (selected.length === 0)
        throw new CliError(EXIT.input, o.layers ? `--layers ${o.layers.source} matches no tensor in '${input}'` : `'${input}' has no linear weights to prune`);
      const problems: string[] = [];
      for (const name of selected) {
        const info = f.info(name);
        if (info.shape.length !== 2 || (info.kind === 'tensor' && !isFloatDType(info.sparsekitDtype))) {
          problems.push(`'${name}' is not a 2-D float weight (${info.kind === 'tensor' ? info.dtype : info.format} [${info.shape.join(', ')}])`);
          continue;
        }
        // Re-pruning keeps no SLoRB term (S was made for the old mask): refused rather than dropped.
        if (info.kind === 'sparse' && info.slorb)
          problems.push(`'${name}' carries an SLoRB term, which pruning would drop (fold it into the weight first: sparsekit unpack --slorb fold)`);
        if (o.pattern.m !== undefined && info.shape[1]! % o.pattern.m !== 0)
          problems.push(`'${name}' has ${info.shape[1]} input columns, not a multiple of m = ${o.pattern.m}`);
        if (o.quant && info.shape[1]! % o.quant.groupSize !== 0)
          problems.push(`'${name}' has ${info.shape[1]} input columns, not a multiple of --group ${o.quant.groupSize}`);
        if (!calib) continue;
        const src = findCalib(calib, name, info.shape[1]!, normsOnly(o));
        if (typeof src === 'string') problems.push(`calibration for '${name}': ${src}`);
        else sources.set(name, src);
      }
      if (problems.length)
        throw new CliError(EXIT.input, `${problems.length} layer(s) cannot be pruned:\n  ${problems.slice(0, 8).join('\n  ')}${problems.length > 8 ? `\n  ... and ${problems.length - 8} more` : ''}`,
          calib ? `'${o.calib}' must hold <weight name>.input [tokens, K]${normsOnly(o) ? ' or <weight name>.sumsq [K]' : ''} for every pruned layer (docs/cli.md)` : undefined);
    },
    transform: async (name, f, onFraction) => {
      const t0 = performance.now();
      const v = f.get(name);
      const w = v instanceof SparseMatrix ? await v.toDenseAsync() : (v as Tensor);
      const src = sources.get(name);
      let stats: CalibrationStats | null = null;
      try {
        stats = calib && src ? await statsFor(calib, src, w.shape[1]!, needsHessian(o)) : null;
      } catch (e) {
        // NaN/Inf in the calibration data is a problem of the input, not of a solver.
        if (e instanceof SparsekitError && e.code === 'ERR_NUMERIC') throw new CliError(EXIT.input, `calibration for '${name}' ('${src!.tensor}'): ${e.message}`);
        throw e;
      }
      let res: PruneResult;
      try {
        res = await runSolver(o.method, w, stats, o, onFraction, ctx.signal);
      } finally {
        stats?.dispose();
      }
      const relError = calib && src ? await relativeError(calib, src, w, res.weight, o.evalTokens ?? 16) : null;
      let value: Tensor | SparseMatrix = res.weight;
      let storage = 'dense';
      const format = o.format ?? (o.quant ? 'auto' : 'dense');
      if (o.quant && res.quant) {
        // SparseGPT's joint grid: the kept weights already lie on it; pack them with their mask.
        const f = format === 'auto' ? (o.pattern.n !== undefined ? 'nm' : 'bitmap') : format;
        if (f !== 'dense' && f !== 'bitmap' && f !== 'nm') throw new CliError(EXIT.usage, `--quant stores dense, bitmap or nm weights, not ${f}`);
        const nm = f === 'nm' ? { n: o.pattern.n ?? 2, m: o.pattern.m ?? 4 } : {};
        value = await SparseMatrix.fromDenseAsync(res.weight, { format: f, ...nm, mask: res.mask, quant: res.quant });
        storage = storageLabel(f, nm.n, nm.m, o.quant);
      } else if (format !== 'dense' || o.quant) {
        const packed = await packWeight(name, res.weight, {
          format, nm: o.pattern.n !== undefined && (format === 'nm' || format === 'auto') ? { n: o.pattern.n, m: o.pattern.m } : undefined,
          expectedN: o.expectedN, quant: o.quant,
        });
        value = packed.value;
        storage = packed.report.storage;
      }
      const layer: PruneLayer = {
        name, shape: [...w.shape], sparsity: res.report.sparsity, loss: res.report.loss, relError, storage,
        bytesOut: value instanceof SparseMatrix ? value.byteLength : value.byteLength, seconds: (performance.now() - t0) / 1000,
      };
      return { value, report: { ...layer } };
    },
  }, ctx);
  const layers = r.layers as unknown as PruneLayer[];
  const total = layers.reduce((a, l) => a + l.shape[0]! * l.shape[1]!, 0);
  const sparsity = total ? layers.reduce((a, l) => a + l.sparsity * l.shape[0]! * l.shape[1]!, 0) / total : 0;
  return { command: 'prune', version: 1, method: o.method, pattern: label, calib: o.calib ?? null, ...r, sparsity, layers };
}

export function printPrune(r: PruneFileReport, ctx: Context): void {
  const rows = [['layer', 'shape', '>sparsity', '>loss', '>rel err', 'storage', '>size', '>time']];
  for (const l of r.layers)
    rows.push([l.name, `[${l.shape.join(', ')}]`, fmtPct(l.sparsity), l.loss.toExponential(2), l.relError === null ? '-' : l.relError.toExponential(2),
      l.storage, fmtBytes(l.bytesOut), `${l.seconds.toFixed(2)} s`]);
  ctx.out(table(rows));
  ctx.out();
  ctx.out(`prune (${r.method}, ${r.pattern}): ${r.layers.length} layer(s), ${fmtPct(r.sparsity)} of their weights pruned, ` +
    `${r.input} (${fmtBytes(r.inputBytes)}) -> ${r.output} (${fmtBytes(r.outputBytes)}) in ${r.seconds.toFixed(1)} s`);
}
