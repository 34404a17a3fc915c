/** `sparsekit pack` and `sparsekit unpack`: dense <-> packed weights, file to file, lossless. */
import { chooseFormat } from '../cost-model.js';
import { isFloatDType, type FloatDType } from '../dtype.js';
import type { SafetensorsFile } from '../safetensors.js';
import { FORMATS, SparseMatrix, type Format } from '../sparse-matrix.js';
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

/** Packs one dense weight as `format` asks (never pruning: a weight that does not fit is an input error). */
export async function packWeight(name: string, t: Tensor, options: PackOptions): Promise<{ value: Tensor | SparseMatrix; report: PackLayer }> {
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
  if (options.format === 'auto') {
    ({ format, n, m } = chooseFormat(stats.weight!, options.expectedN ?? 1));
  } else if (format === 'nm') {
    ({ n, m } = options.nm ?? (stats.nm === '2:4' ? { n: 2, m: 4 } : stats.nm === '4:8' ? { n: 4, m: 8 } : { n: 0, m: 0 }));
    if (!n || !followsNM(t, n, m!))
      throw new CliError(EXIT.input, `'${name}' does not follow the ${n ? `${n}:${m}` : '2:4 or 4:8'} pattern (${fmtPct(stats.sparsity)} sparse); pack never prunes`,
        'prune it first: sparsekit prune --nm 2:4 ...');
  } else if (format === 'tiled-csl' && dtype === 'float32') {
    throw new CliError(EXIT.input, `'${name}' is float32; tiled-csl stores 16-bit values`, 'add --dtype float16 (or bfloat16)');
  }
  const base = { name, shape: [rows, cols], dtype, sparsity: stats.sparsity, bytesIn };
  if (format === 'dense') return { value: t, report: { ...base, storage: 'dense', bytesOut: t.byteLength } };
  const sm = await SparseMatrix.fromDenseAsync(t, { format, n, m });
  return { value: sm, report: { ...base, storage: format === 'nm' ? `nm ${n}:${m}` : format, bytesOut: sm.byteLength } };
}

export async function packFile(input: string, output: string, options: PackOptions, ctx: Context): Promise<PackReport> {
  const r = await runPipeline({
    input, output, select: selector(options.layers),
    transform: async (name, f) => {
      const v = f.get(name);
      if (v instanceof SparseMatrix) {
        // Already packed: keep it unless a different format was asked for.
        const same = options.format === 'auto' || (options.format === v.format && (!options.nm || (options.nm.n === v.n && options.nm.m === v.m)));
        if (same) {
          const report: PackLayer = { name, shape: [...v.shape], dtype: v.dtype, storage: v.format === 'nm' ? `nm ${v.n}:${v.m}` : v.format,
            sparsity: 1 - v.density, bytesIn: v.byteLength, bytesOut: v.byteLength };
          return { value: v, report: { ...report } };
        }
        const { value, report } = await packWeight(name, await v.toDenseAsync(), options);
        return { value, report: { ...report, bytesIn: v.byteLength } };
      }
      const { value, report } = await packWeight(name, v, options);
      return { value, report: { ...report } };
    },
  }, ctx);
  return { command: 'pack', version: 1, ...r, layers: r.layers as unknown as PackLayer[] };
}

export async function unpackFile(input: string, output: string, layers: RegExp | undefined, ctx: Context): Promise<PackReport> {
  const r = await runPipeline({
    input, output,
    select: (name, f) => f.info(name).kind === 'sparse' && (!layers || layers.test(name)),
    transform: async (name, f) => {
      const v = f.get(name) as SparseMatrix;
      const t = await v.toDenseAsync();
      const report: PackLayer = { name, shape: [...v.shape], dtype: v.dtype, storage: 'dense', sparsity: 1 - v.density, bytesIn: v.byteLength, bytesOut: t.byteLength };
      return { value: t, report: { ...report } };
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

