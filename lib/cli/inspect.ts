/** `sparsekit inspect`: what a safetensors file holds, how sparse each weight is, and its N:M compliance. */
import { loadSafetensors } from '../safetensors.js';
import { SPARSE_META_PREFIX } from '../safetensors-format.js';
import { SparseMatrix } from '../sparse-matrix.js';
import type { Tensor } from '../tensor.js';
import { CliError, Context, EXIT, fmtBytes, fmtPct, table } from './context.js';
import { followsNM, isLinearWeight, tensorSparsity } from './weights.js';

export interface InspectOptions {
  /** Read every tensor to count zeros and check N:M (default true); false reads the header only. */
  stats?: boolean;
  layers?: RegExp;
  /** Fail (exit 5) unless every selected linear weight follows this pattern. */
  expectNM?: { n: number; m: number };
}

export interface InspectEntry {
  name: string;
  /** 'dense' for plain tensors, else the packed format. */
  storage: string;
  /** float32 / float16 / ... for what sparsekit computes with, else the safetensors dtype (F64, I64, ...). */
  dtype: string;
  shape: number[];
  bytes: number;
  /** Fraction of zero entries (null without --stats or for dtypes sparsekit cannot read). */
  sparsity: number | null;
  /** Tightest of 2:4 / 4:8 the weight follows (null if none or unknown). */
  nm: string | null;
  linear: boolean;
}

export interface InspectReport {
  command: 'inspect';
  version: 1;
  file: string;
  fileSize: number;
  metadata: Record<string, string>;
  tensors: InspectEntry[];
  totals: { tensors: number; bytes: number; params: number; sparsity: number | null };
  check?: { nm: string; passed: boolean; failing: string[] };
}

export async function inspectFile(path: string, options: InspectOptions, ctx: Context): Promise<InspectReport> {
  const stats = options.stats ?? true;
  using f = await loadSafetensors(path);
  const names = f.names.filter((n) => !options.layers || options.layers.test(n));
  if (options.layers && names.length === 0)
    throw new CliError(EXIT.input, `--layers ${options.layers.source} matches none of the ${f.names.length} tensors in '${path}'`);
  const entries: InspectEntry[] = [];
  const failing: string[] = [];
  const size = (name: string) => f.info(name).shape.reduce((a, b) => a * b, 1);
  const progress = stats ? ctx.progress(names.length, 'tensors', names.reduce((a, n) => a + size(n), 0)) : null;
  try {
    for (const name of names) {
      ctx.checkAborted();
      const info = f.info(name);
      const e: InspectEntry = info.kind === 'sparse'
        ? { name, storage: info.format === 'nm' ? `nm ${info.n}:${info.m}` : info.format, dtype: info.dtype, shape: [...info.shape],
            bytes: info.byteLength, sparsity: null, nm: null, linear: true }
        : { name, storage: 'dense', dtype: info.sparsekitDtype ?? info.dtype, shape: info.shape, bytes: info.byteLength,
            sparsity: null, nm: null, linear: isLinearWeight(name, { dtype: info.sparsekitDtype, shape: info.shape }) };
      const readable = info.kind === 'sparse' || info.sparsekitDtype !== undefined;
      if ((stats || (options.expectNM && e.linear)) && readable) {
        progress?.item(name, size(name));
        const v = f.get(name);
        const t: Tensor = v instanceof SparseMatrix ? await v.toDenseAsync() : v;
        const s = tensorSparsity(t);
        e.sparsity = s.sparsity;
        e.nm = s.nm;
        if (options.expectNM && e.linear && !followsNM(t, options.expectNM.n, options.expectNM.m)) failing.push(name);
        progress?.done();
        await new Promise((r) => setImmediate(r));  // let the progress bar draw
      }
      entries.push(e);
    }
  } finally {
    progress?.stop();
  }
  const params = entries.reduce((a, e) => a + e.shape.reduce((x, y) => x * y, 1), 0);
  const withStats = entries.filter((e) => e.sparsity !== null);
  const zeros = withStats.reduce((a, e) => a + e.sparsity! * e.shape.reduce((x, y) => x * y, 1), 0);
  const statParams = withStats.reduce((a, e) => a + e.shape.reduce((x, y) => x * y, 1), 0);
  const metadata = Object.fromEntries(Object.entries(f.metadata).filter(([k]) => !k.startsWith(SPARSE_META_PREFIX)));
  const report: InspectReport = {
    command: 'inspect', version: 1, file: path, fileSize: f.fileSize, metadata, tensors: entries,
    totals: { tensors: entries.length, bytes: entries.reduce((a, e) => a + e.bytes, 0), params, sparsity: statParams ? zeros / statParams : null },
  };
  if (options.expectNM) report.check = { nm: `${options.expectNM.n}:${options.expectNM.m}`, passed: failing.length === 0, failing };
  return report;
}

export function printInspect(r: InspectReport, ctx: Context): void {
  ctx.out(`${r.file}: ${fmtBytes(r.fileSize)}, ${r.totals.tensors} tensors, ${(r.totals.params / 1e6).toFixed(2)} M parameters`);
  if (Object.keys(r.metadata).length) ctx.out(`metadata: ${Object.entries(r.metadata).map(([k, v]) => `${k}=${v.length > 40 ? v.slice(0, 40) + '…' : v}`).join(', ')}`);
  ctx.out();
  const rows = [['name', 'dtype', 'shape', 'storage', '>size', '>sparsity', 'N:M']];
  for (const e of r.tensors)
    rows.push([e.name, e.dtype, `[${e.shape.join(', ')}]`, e.storage, fmtBytes(e.bytes), fmtPct(e.sparsity), e.nm ?? '-']);
  ctx.out(table(rows));
  ctx.out();
  ctx.out(`total ${fmtBytes(r.totals.bytes)}${r.totals.sparsity !== null ? `, overall sparsity ${fmtPct(r.totals.sparsity)}` : ''}`);
  if (r.check)
    ctx.out(r.check.passed ? `check: every linear weight follows ${r.check.nm}`
      : `check FAILED: ${r.check.failing.length} weight(s) do not follow ${r.check.nm}: ${r.check.failing.slice(0, 5).join(', ')}${r.check.failing.length > 5 ? ', …' : ''}`);
}
