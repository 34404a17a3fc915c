import { checkFloatDType, describe } from './dtype.js';
import { ArgumentError, DisposedError, ShapeError, fromNativeError } from './errors.js';
import { native, type StatsHandle } from './native.js';
import { fmtShape } from './shape.js';
import { Tensor, checkTensor } from './tensor.js';

export interface CalibrationOptions {
  /** Also accumulate Σ x xᵀ, which SparseGPT needs (K² float64 values). Default false. */
  hessian?: boolean;
}

/**
 * Streaming statistics of one linear layer's input, for the pruning solvers: per-channel sums of
 * squares (Wanda's ‖X_j‖₂²) and, with `{ hessian: true }`, S = Σ x xᵀ from which SparseGPT forms
 * H = (2/n)·S. Each batch's products are computed in float32 over at most 256 tokens and added
 * into float64 accumulators, so precision does not degrade over millions of tokens.
 * One object can serve every layer that reads the same input (q/k/v, gate/up).
 */
export class CalibrationStats {
  /** K, the number of input channels. */
  readonly channels: number;
  readonly keepsHessian: boolean;
  #handle: StatsHandle | null;

  constructor(channels: number, options: CalibrationOptions = {}) {
    if (!Number.isSafeInteger(channels) || channels < 1 || channels > 1 << 20)
      throw new ShapeError(`CalibrationStats: channels must be an integer in [1, 1048576], got ${String(channels)}`);
    if (typeof options !== 'object' || options === null) throw new ArgumentError(`CalibrationStats: options must be an object, got ${describe(options)}`);
    if (options.hessian !== undefined && typeof options.hessian !== 'boolean')
      throw new ArgumentError(`CalibrationStats: options.hessian must be a boolean, got ${describe(options.hessian)}`);
    this.channels = channels;
    this.keepsHessian = options.hessian === true;
    try {
      this.#handle = native.calibCreate(channels, this.keepsHessian);
    } catch (e) {
      throw fromNativeError(e, 'CalibrationStats');
    }
  }

  /** Tokens accumulated so far (over all add() and merge() calls). */
  get tokens(): number { return native.calibInfo(this.handle()).tokens; }
  /** Batches accumulated so far; error messages name a rejected batch by this 0-based count. */
  get batches(): number { return native.calibInfo(this.handle()).batches; }
  get disposed(): boolean { return this.#handle === null; }

  /**
   * Accumulates a batch `x` of shape [tokens, K] (or [..., K]; leading dims are flattened), any
   * float dtype. A batch holding NaN or Inf is rejected with ERR_NUMERIC and changes nothing.
   */
  add(x: Tensor): this {
    const [rows, data, dtype] = this.#batch(x);
    try {
      native.calibAdd(this.handle(), data, dtype, rows);
    } catch (e) {
      throw fromNativeError(e, 'CalibrationStats.add');
    }
    return this;
  }

  /** add() off the event loop. Calls on one object are applied one at a time. */
  async addAsync(x: Tensor): Promise<this> {
    const [rows, data, dtype] = this.#batch(x);
    try {
      await native.calibAddAsync(this.handle(), data, dtype, rows);
    } catch (e) {
      throw fromNativeError(e, 'CalibrationStats.addAsync');
    }
    return this;
  }

  /** Adds `other`'s statistics into this object (same channel count; other keeps a Hessian if this does). */
  merge(other: CalibrationStats): this {
    if (!(other instanceof CalibrationStats)) throw new ArgumentError(`merge: expected a CalibrationStats, got ${describe(other)}`);
    if (other.channels !== this.channels)
      throw new ShapeError(`merge: other has ${other.channels} channels, expected ${this.channels}`);
    if (this.keepsHessian && !other.keepsHessian) throw new ArgumentError('merge: this object keeps a Hessian but other does not');
    if (other === this) throw new ArgumentError('merge: cannot merge an object into itself');
    try {
      native.calibMerge(this.handle(), other.handle());
    } catch (e) {
      throw fromNativeError(e, 'CalibrationStats.merge');
    }
    return this;
  }

  /** Σ_t x_tj² per channel, as float64 (a copy). */
  sumOfSquares(): Float64Array {
    return new Float64Array(native.calibRead(this.handle(), 'sumsq'));
  }

  /** Σ_t x_tj per channel, as float64 (a copy): with sumOfSquares, each channel's mean and variance. */
  sums(): Float64Array {
    return new Float64Array(native.calibRead(this.handle(), 'sum'));
  }

  /** ‖X_j‖₂ per channel (Wanda's activation norm), as float64. */
  channelNorms(): Float64Array {
    return this.sumOfSquares().map(Math.sqrt);
  }

  /** H = (2/n)·Σ x xᵀ as a dense symmetric K×K float64 array (a copy; K² · 8 bytes). */
  hessian(): Float64Array {
    if (!this.keepsHessian) throw new ArgumentError('hessian(): this CalibrationStats was created without { hessian: true }');
    return new Float64Array(native.calibRead(this.handle(), 'hessian'));
  }

  /** Frees the native accumulators now (a running solver finishes first). Idempotent. */
  dispose(): void {
    if (this.#handle === null) return;
    native.calibDispose(this.#handle);
    this.#handle = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `CalibrationStats(${this.channels}${this.keepsHessian ? ', hessian' : ''}${this.disposed ? ', disposed' : `, ${this.tokens} tokens`})`;
  }

  /** @internal the native handle, or ERR_DISPOSED. */
  handle(): StatsHandle {
    if (this.#handle === null) throw new DisposedError(`CalibrationStats(${this.channels}) was disposed`);
    return this.#handle;
  }

  #batch(x: Tensor): [number, ArrayBufferView, ReturnType<typeof checkFloatDType>] {
    this.handle();
    checkTensor(x, 'x');
    const dtype = checkFloatDType(x.dtype, 'x.dtype');
    if (x.ndim < 1 || x.shape[x.ndim - 1] !== this.channels)
      throw new ShapeError(`x: expected [tokens, ${this.channels}] (last dimension = the stats' channels), got ${fmtShape(x.shape)}`);
    return [x.size / this.channels, x.toTypedArray(), dtype];
  }
}
