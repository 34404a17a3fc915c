/** `sparsekit eval`: perplexity of a checkpoint folder on a text or token file (docs/models.md). */
import { LlamaModel } from '../model/llama.js';
import type { MatmulOptions } from '../ops.js';
import { readTokensOrText } from '../model/tokens.js';
import { Context } from './context.js';

export interface EvalOptions {
  file: string;
  kind: 'text' | 'tokens';
  seqLen: number;
  batch: number;
  maxWindows?: number;
  /** MatmulOptions.activations for every linear ('int8' reaches quantized weights only). */
  activations?: MatmulOptions['activations'];
}

export interface EvalReport {
  command: 'eval';
  version: 1;
  model: string;
  file: string;
  seqLen: number;
  windows: number;
  tokens: number;
  perplexity: number;
  activations: NonNullable<MatmulOptions['activations']>;
  seconds: number;
  tokensPerSecond: number;
}

export async function evalDir(dir: string, o: EvalOptions, ctx: Context): Promise<EvalReport> {
  using model = await LlamaModel.load(dir);
  const { ids } = await readTokensOrText(o.file, dir, o.kind);
  const windows = Math.min(Math.floor(ids.length / o.seqLen), o.maxWindows ?? Infinity);
  const bar = ctx.progress(1, 'runs');
  bar.item('perplexity');
  const t0 = performance.now();
  let ppl: number;
  try {
    ppl = await model.perplexity(ids, {
      seqLen: o.seqLen, batch: o.batch, maxWindows: o.maxWindows, activations: o.activations, signal: ctx.signal, onProgress: (d, n) => bar.fraction(d / n),
    });
    bar.done();
  } finally {
    bar.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { command: 'eval', version: 1, model: dir, file: o.file, seqLen: o.seqLen, windows, tokens: windows * o.seqLen, perplexity: ppl,
    activations: o.activations ?? 'float32', seconds,
    tokensPerSecond: (windows * o.seqLen) / seconds };
}

export function printEval(r: EvalReport, ctx: Context): void {
  ctx.out(`perplexity ${r.perplexity.toFixed(4)} (${r.windows} windows x ${r.seqLen} tokens of ${r.file}${r.activations === 'float32' ? '' : `, activations ${r.activations}`}; ${r.seconds.toFixed(1)} s, ${r.tokensPerSecond.toFixed(0)} tokens/s)`);
}
