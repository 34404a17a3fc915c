/**
 * `sparsekit bench-model`: prefill and decode tokens/s of a checkpoint folder, its linears stored
 * dense and in each packed format, side by side in one run, with the weight bytes one decode step
 * reads and the fraction of the measured read-bandwidth floor reached (docs/models.md).
 */
import { loadavg } from 'node:os';
import { LlamaModel } from '../model/llama.js';
import { native } from '../native.js';
import type { MatmulOptions } from '../ops.js';
import { cpuInfo, getNumThreads } from '../runtime.js';
import type { Format } from '../sparse-matrix.js';
import { Tensor } from '../tensor.js';
import { Context, fmtBytes, table } from './context.js';

export const BENCH_MODEL_FORMATS = ['dense', 'bitmap', 'csr', 'nm', 'auto'] as const;
export type BenchModelFormat = (typeof BENCH_MODEL_FORMATS)[number];

export interface BenchModelOptions {
  /** Decode steps timed per batch size. */
  tokens: number;
  /** Prefill length (tokens). */
  prompt: number;
  batch: number[];
  formats: BenchModelFormat[];
  /** MatmulOptions.activations for every linear ('int8' reaches quantized weights only). */
  activations?: MatmulOptions['activations'];
}

export interface BenchModelRow {
  format: BenchModelFormat;
  /** Bytes of every linear weight plus the LM head (read once per decode step). */
  weightBytes: number;
  prefillTokensPerSecond: number;
  decode: { batch: number; tokensPerSecond: number; msPerStep: number; bytesPerToken: number; floorFraction: number }[];
  /** Decode tokens/s at the first batch size, relative to dense (when dense ran). */
  vsDense: number | null;
}

export interface BenchModelReport {
  command: 'bench-model';
  version: 1;
  model: string;
  isa: string;
  activations: NonNullable<MatmulOptions['activations']>;
  threads: number;
  load: number[];
  bandwidthGBs: number;
  rows: BenchModelRow[];
  skipped: { format: string; reason: string }[];
}

function ids(n: number, vocab: number, salt: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => (i * 7919 + salt * 104729 + 13) % vocab);
}

export async function benchModel(dir: string, o: BenchModelOptions, ctx: Context): Promise<BenchModelReport> {
  let bandwidth = 0;
  const report: BenchModelReport = {
    command: 'bench-model', version: 1, model: dir, isa: cpuInfo().isa, activations: o.activations ?? 'float32', threads: getNumThreads(), load: loadavg(), bandwidthGBs: 0,
    rows: [], skipped: [],
  };
  const bar = ctx.progress(o.formats.length, 'formats');
  try {
    for (const format of o.formats) {
      ctx.checkAborted();
      bar.item(format);
      using model = await LlamaModel.load(dir);
      try {
        await model.convertLinears(format as Format | 'auto');
      } catch (e) {
        report.skipped.push({ format, reason: (e as Error).message });
        bar.done();
        continue;
      }
      const V = model.config.vocabSize;
      const weightBytes = model.weightBytes();
      if (bandwidth === 0) {
        // The floor: a streaming read of twice the model's weight bytes (64 MiB to 1 GiB, beyond the LLC), best of 3.
        const probe = Math.min(1 << 30, Math.max(1 << 26, 2 * weightBytes));
        bandwidth = report.bandwidthGBs = native.probeReadBandwidth(probe, 3);
      }
      await model.forward(ids(Math.min(8, o.prompt), V, 0), { lastOnly: true, activations: o.activations });  // warm-up
      let t0 = performance.now();
      await model.forward(ids(o.prompt, V, 1), { lastOnly: true, activations: o.activations });
      const prefill = o.prompt / ((performance.now() - t0) / 1000);
      const decode: BenchModelRow['decode'] = [];
      for (const b of o.batch) {
        ctx.checkAborted();
        const cache = model.createCache({ batch: b, capacity: 8 + o.tokens + 1 });
        await model.forward(Tensor.from(ids(8 * b, V, 2), [b, 8]), { cache, lastOnly: true, activations: o.activations });
        let step = Tensor.from(ids(b, V, 3), [b, 1]);
        await model.forward(step, { cache, lastOnly: true, activations: o.activations });  // first step untimed
        t0 = performance.now();
        for (let i = 0; i < o.tokens; i++) {
          step = Tensor.from(ids(b, V, 4 + i), [b, 1]);
          await model.forward(step, { cache, lastOnly: true, activations: o.activations });
        }
        const s = (performance.now() - t0) / 1000 / o.tokens;
        decode.push({ batch: b, tokensPerSecond: b / s, msPerStep: s * 1000, bytesPerToken: weightBytes / b, floorFraction: weightBytes / (bandwidth * 1e9) / s });
        bar.fraction(decode.length / o.batch.length);
      }
      report.rows.push({ format, weightBytes, prefillTokensPerSecond: prefill, decode, vsDense: null });
      bar.done();
    }
  } finally {
    bar.stop();
  }
  const dense = report.rows.find((r) => r.format === 'dense');
  if (dense) for (const r of report.rows) r.vsDense = r.decode[0]!.tokensPerSecond / dense.decode[0]!.tokensPerSecond;
  return report;
}

export function printBenchModel(r: BenchModelReport, ctx: Context): void {
  ctx.out(`bench-model ${r.model}: isa ${r.isa}, activations ${r.activations}, ${r.threads} threads, load ${r.load.map((l) => l.toFixed(2)).join(' ')}, ` +
    `read bandwidth ${r.bandwidthGBs.toFixed(1)} GB/s`);
  const batches = r.rows[0]?.decode.map((d) => d.batch) ?? [];
  const head = ['format', '>weights', '>prefill tok/s', ...batches.flatMap((b) => [`>decode b=${b} tok/s`, `>bytes/token`, `>floor`]), '>vs dense'];
  const rows = [head];
  for (const row of r.rows)
    rows.push([row.format, fmtBytes(row.weightBytes), row.prefillTokensPerSecond.toFixed(0),
      ...row.decode.flatMap((d) => [d.tokensPerSecond.toFixed(1), fmtBytes(d.bytesPerToken), `${(100 * d.floorFraction).toFixed(0)}%`]),
      row.vsDense === null ? '-' : `${row.vsDense.toFixed(2)}x`]);
  ctx.out(table(rows));
  for (const s of r.skipped) ctx.note(`skipped ${s.format}: ${s.reason}`);
}
