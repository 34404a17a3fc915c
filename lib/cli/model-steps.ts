/**
 * Steps the whole-model commands (prune-model, shrink) share: long work that Ctrl-C interrupts
 * through an AbortSignal, and saving the model folder with write failures as exit 3.
 */
import type { LlamaModel, SaveOptions } from '../model/llama.js';
import { CliError, Context, EXIT, type Progress } from './context.js';

/** Runs `work` with a signal that follows the CLI's; stops `bar` at the end; an interrupt is exit 130. */
export async function interruptible<T>(ctx: Context, bar: Progress, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await work(abort.signal);
  } catch (e) {
    if (ctx.signal.aborted) throw new CliError(EXIT.interrupted, 'interrupted');
    throw e;
  } finally {
    bar.stop();
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

/** model.save(), a failed write being exit 3 naming the folder. */
export async function saveModelDir(model: LlamaModel, output: string, options: SaveOptions): ReturnType<LlamaModel['save']> {
  try {
    return await model.save(output, options);
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_IO' || (e as NodeJS.ErrnoException).errno !== undefined)
      throw new CliError(EXIT.output, `cannot write '${output}': ${(e as Error).message}`);
    throw e;
  }
}
