/**
 * Progress and cancellation for solvers that run off the event loop: a shared Int32Array(3) the
 * native side polls (control[0] = 1 asks it to stop) and updates (control[1] / control[2]: steps
 * done / in all), polled here every 20 ms for onProgress.
 */
import { describe } from './dtype.js';
import { AbortError, ArgumentError, fromNativeError } from './errors.js';

export interface SolverControl {
  /** Called with the fraction done, in [0, 1]. */
  onProgress?: (fraction: number) => void;
  /** Aborting rejects with AbortError (ERR_ABORTED); no result is produced. */
  signal?: AbortSignal;
}

/** Checks `onProgress` and `signal` (any progress signature; shrink's takes (done, total)). */
export function checkControl(options: { onProgress?: unknown; signal?: AbortSignal }, what: string): void {
  const { onProgress, signal } = options;
  if (onProgress !== undefined && typeof onProgress !== 'function')
    throw new ArgumentError(`options.onProgress: expected a function, got ${describe(onProgress)}`);
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new ArgumentError(`options.signal: expected an AbortSignal, got ${describe(signal)}`);
  if (signal?.aborted) throw new AbortError(`${what}: aborted before it started`, { cause: signal.reason });
}

/** Runs `start(control)`; an exception from onProgress stops the run and is rethrown. */
export async function runControlled<T>(what: string, options: SolverControl, start: (control: Int32Array) => Promise<T>): Promise<T> {
  const { onProgress, signal } = options;
  const control = new Int32Array(3);
  let callbackError: unknown;
  let last = -1;
  const poll = () => {
    const total = control[2]!;
    if (!onProgress || total <= 0) return;
    const f = Math.min(1, control[1]! / total);
    if (f === last) return;
    last = f;
    try {
      onProgress(f);
    } catch (e) {
      callbackError ??= e;
      control[0] = 1;
    }
  };
  const onAbort = () => { control[0] = 1; };
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer = onProgress ? setInterval(poll, 20) : undefined;
  let r: T;
  try {
    r = await start(control);
  } catch (e) {
    if (callbackError !== undefined) throw callbackError;
    const err = fromNativeError(e, what);
    throw err instanceof AbortError && signal?.aborted ? new AbortError(err.message, { cause: signal.reason }) : err;
  } finally {
    if (timer) clearInterval(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  poll();
  if (callbackError !== undefined) throw callbackError;
  return r;
}
