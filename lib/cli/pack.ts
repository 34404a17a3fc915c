/** `sparsekit pack` and `sparsekit unpack`: dense <-> packed weights, file to file, lossless. */
import { chooseFormat } from '../cost-model.js';
import { isFloatDType, type FloatDType } from '../dtype.js';
import type { SafetensorsFile } from '../safetensors.js';
import type { QuantizeOptions } from '../quant.js';
import { slorb as slorbOps, type SlorbTerm } from '../slorb.js';
import { FORMATS, SparseMatrix, formatStoresDType, type Format } from '../sparse-matrix.js';
import type { Tensor } from '../tensor.js';
import { CliError, Context, EXIT, fmtBytes, fmtPct, table } from './context.js';
import { runPipeline, type PipelineReport } from './pipeline.js';
import { followsNM, isLinearWeight, tensorSparsity } from './weights.js';

export type PackFormat = Format | 'auto';
export const PACK_FORMATS: readonly PackFormat[] = ['auto', ...FORMATS];

export interface PackOptions {
  format: PackFormat;
  /** For --format nm: the pattern (default: 2:4 or 4:8, whichever the weight follows). */
  nm?: { n: number; m: number };
  layers?: RegExp;
  /** Convert packed weights' values to this dtype first (tiled-csl needs 16-bit values). */
  dtype?: FloatDType;
  /** --format auto: tokens per product to optimise for (default 1, decoding). */
  expectedN?: number;
  /** --quant: store the values as 4/8-bit codes with per-group fp16 scales (dense, bitmap, nm). */
  quant?: QuantizeOptions;
}

/** The storage label of a packed weight: format, pattern and quantization ('nm 2:4 int4 g128'). */
export function storageLabel(format: Format, n?: number, m?: number, quant?: QuantizeOptions): string {
  const base = format === 'nm' ? `nm ${n}:${m}` : format;
  return quant ? `${base} int${quant.bits} g${quant.groupSize}${quant.symmetric === false ? ' asym' : ''}` : base;
}

export interface PackLayer {
  name: string;
  shape: number[];
  dtype: string;
  storage: string;
  sparsity: number;
  bytesIn: number;
  bytesOut: number;
}

export interface PackReport extends Omit<PipelineReport, 'layers'> {
  command: 'pack' | 'unpack';
  version: 1;
  layers: PackLayer[];
}

/** Whether a pipeline applies to `name`: --layers if given, else every linear weight (and every packed matrix). */
export function selector(layers: RegExp | undefined) {
  return (name: string, f: SafetensorsFile) => {
    if (layers) return layers.test(name);
    const info = f.info(name);
    return info.kind === 'sparse' || isLinearWeight(name, { dtype: info.sparsekitDtype, shape: info.shape });
  };
}

/** The storage label with a SLoRB term's, if any ('bitmap + slorb k=16 int8'). */
function withSlorbLabel(label: string, term: SlorbTerm | undefined): string {
  return term ? `${label} + slorb k=${term.groupSize}${term.rowScales ? ' int8' : ''}` : label;
}

/**
 * Packs one dense weight as `format` asks (never pruning: a weight that does not fit is an input
 * error). `slorb`: the SLoRB term of the matrix the weight came from, carried into the new one
 * (a dense target then stays a `dense`-format matrix, the only dense kind that holds a term).
 */
export async function packWeight(name: string, t: Tensor, options: PackOptions, slorb?: SlorbTerm): Promise<{ value: Tensor | SparseMatrix; report: PackLayer }> {
  if (t.ndim !== 2 || !isFloatDType(t.dtype))
    throw new CliError(EXIT.input, `'${name}' is ${t.dtype} [${t.shape.join(', ')}]: only 2-D float weights can be packed`,
      'narrow the selection with --layers');
  const bytesIn = t.byteLength;
  if (options.dtype && options.dtype !== t.dtype) t = t.to(options.dtype);
  const dtype = t.dtype as FloatDType;
  const [rows, cols] = t.shape as [number, number];
  const stats = tensorSparsity(t);
  let format: Format = options.format === 'auto' ? 'dense' : options.format;
  let n: number | undefined, m: number | undefined;
  if (options.format === 'auto' && options.quant) {
    // Quantized storage exists for dense, bitmap and nm: the N:M pattern if the weight follows one,
    // bitmap from 30% zeros, else dense.
    if (stats.nm) { format = 'nm'; [n, m] = stats.nm === '2:4' ? [2, 4] : [4, 8]; }
    else format = stats.sparsity >= 0.3 ? 'bitmap' : 'dense';
  } else if (options.format === 'auto') {
    ({ format, n, m } = chooseFormat(stats.weight!, options.expectedN ?? 1));
  } else if (format === 'nm') {
    ({ n, m } = options.nm ?? (stats.nm === '2:4' ? { n: 2, m: 4 } : stats.nm === '4:8' ? { n: 4, m: 8 } : { n: 0, m: 0 }));
    if (!n || !followsNM(t, n, m!))
      throw new CliError(EXIT.input, `'${name}' does not follow the ${n ? `${n}:${m}` : '2:4 or 4:8'} pattern (${fmtPct(stats.sparsity)} sparse); pack never prunes`,
        'prune it first: sparsekit prune --nm 2:4 ...');
  } else if (!formatStoresDType(format, dtype)) {
    throw new CliError(EXIT.input, `'${name}' is float32; tiled-csl stores 16-bit values`, 'add --dtype float16 (or bfloat16)');
  }
  const q = options.quant;
  if (q) {
    if (format !== 'dense' && format !== 'bitmap' && format !== 'nm')
      throw new CliError(EXIT.usage, `--quant stores dense, bitmap or nm weights, not ${format}`, 'use --format auto, dense, bitmap or nm');
    if (cols % q.groupSize !== 0)
      throw new CliError(EXIT.input, `'${name}' has ${cols} input columns, not a multiple of --group ${q.groupSize}`, 'choose another --group (32, 64, 128, 256)');
  }
  const base = { name, shape: [rows, cols], dtype, sparsity: stats.sparsity, bytesIn };
  if (format === 'dense' && !q && !slorb) return { value: t, report: { ...base, storage: 'dense', bytesOut: t.byteLength } };
  const sm = await SparseMatrix.fromDenseAsync(t, { format, n, m, ...(q ? { quantize: q } : {}), ...(slorb ? { slorb } : {}) });
  return { value: sm, report: { ...base, storage: withSlorbLabel(storageLabel(format, n, m, q), slorb), bytesOut: sm.byteLength } };
}

export async function packFile(input: string, output: string, options: PackOptions, ctx: Context): Promise<PackReport> {
  const r = await runPipeline({
    input, output, select: selector(options.layers),
    transform: async (name, f) => {
      const v = f.get(name);
      if (v instanceof SparseMatrix) {
        // Already packed: keep it unless a different format was asked for.
        const sameQuant = !options.quant ? !v.quant
          : !!v.quant && v.quant.bits === options.quant.bits && v.quant.groupSize === options.quant.groupSize && v.quant.symmetric === (options.quant.symmetric ?? true);
        const same = sameQuant && (options.format === 'auto' || (options.format === v.format && (!options.nm || (options.nm.n === v.n && options.nm.m === v.m))));
        if (same) {
          const report: PackLayer = { name, shape: [...v.shape], dtype: v.dtype, storage: withSlorbLabel(storageLabel(v.format, v.n, v.m, v.quant), v.slorb),
            sparsity: 1 - v.density, bytesIn: v.byteLength, bytesOut: v.byteLength };
          return { value: v, report: { ...report } };
        }
        // Repacked with its SLoRB term: the term does not depend on how W ⊙ M is stored.
        const { value, report } = await packWeight(name, await v.toDenseAsync(), options, v.slorb);
        return { value, report: { ...report, bytesIn: v.byteLength } };
      }
      const { value, report } = await packWeight(name, v, options);
      return { value, report: { ...report } };
    },
  }, ctx);
  return { command: 'pack', version: 1, ...r, layers: r.layers as unknown as PackLayer[] };
}

/**
 * What unpack does with a matrix's SLoRB term, which a plain dense tensor cannot hold: 'fold'
 * writes W ⊙ M + S·P (slorb.fold: the same layer as one dense tensor, no longer sparse), 'keep'
 * writes the dense values as a `dense`-format matrix that carries the term. Without a choice such
 * a matrix is refused (dropping the term would change the layer's output).
 */
export type UnpackSlorb = 'fold' | 'keep';
export const UNPACK_SLORB: readonly UnpackSlorb[] = ['fold', 'keep'];

export async function unpackFile(input: string, output: string, layers: RegExp | undefined, ctx: Context, slorb?: UnpackSlorb): Promise<PackReport> {
  const r = await runPipeline({
    input, output,
    select: (name, f) => f.info(name).kind === 'sparse' && (!layers || layers.test(name)),
    transform: async (name, f) => {
      const v = f.get(name) as SparseMatrix;
      if (v.slorb && !slorb)
        throw new CliError(EXIT.input, `'${name}' carries an SLoRB term (S·P·x), which a dense tensor cannot hold: --slorb says what to do with it`,
          '--slorb fold (W + S·P as one dense tensor) or --slorb keep (dense values with the term), or exclude it with --layers');
      const t = await v.toDenseAsync();
      const value = !v.slorb ? t : slorb === 'fold' ? slorbOps.fold(t, v.slorb) : SparseMatrix.fromDense(t, { format: 'dense', slorb: v.slorb });
      const storage = !v.slorb ? 'dense' : slorb === 'fold' ? 'dense (term folded)' : withSlorbLabel('dense', v.slorb);
      const report: PackLayer = { name, shape: [...v.shape], dtype: v.dtype, storage, sparsity: 1 - v.density, bytesIn: v.byteLength, bytesOut: value.byteLength };
      return { value, report: { ...report } };
    },
  }, ctx);
  return { command: 'unpack', version: 1, ...r, layers: r.layers as unknown as PackLayer[] };
}

export function printPack(r: PackReport, ctx: Context): void {
  const rows = [['name', 'shape', 'dtype', 'storage', '>sparsity', '>before', '>after', '>ratio']];
  for (const l of r.layers)
    rows.push([l.name, `[${l.shape.join(', ')}]`, l.dtype, l.storage, fmtPct(l.sparsity), fmtBytes(l.bytesIn), fmtBytes(l.bytesOut),
      l.bytesIn ? `${(l.bytesOut / l.bytesIn).toFixed(3)}` : '-']);
  if (r.layers.length) ctx.out(table(rows));
  else ctx.out('no tensor matched: the output is a copy of the input');
  ctx.out();
  ctx.out(`${r.command}: ${r.input} (${fmtBytes(r.inputBytes)}) -> ${r.output} (${fmtBytes(r.outputBytes)}), ` +
    `${(r.outputBytes / r.inputBytes).toFixed(3)}x the size, ${r.layers.length} layer(s) in ${r.seconds.toFixed(2)} s`);
}

