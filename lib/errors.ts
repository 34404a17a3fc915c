/**
 * Every error sparsekit throws is a SparsekitError with a stable `code`; subclasses exist so
 * callers can use `instanceof` as well as `err.code`.
 */
export type ErrorCode =
  | 'ERR_SHAPE'
  | 'ERR_DTYPE'
  | 'ERR_FORMAT'
  | 'ERR_DEVICE'
  | 'ERR_NUMERIC'
  | 'ERR_DISPOSED'
  | 'ERR_ARGUMENT'
  | 'ERR_ABORTED'
  | 'ERR_MEMORY'
  | 'ERR_INTERNAL'
  | 'ERR_IO'
  | 'ERR_NATIVE';

export class SparsekitError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Dims that do not match, are negative, non-integer or out of range; buffers of the wrong length. */
export class ShapeError extends SparsekitError {
  constructor(message: string) { super('ERR_SHAPE', message); }
}
/** A dtype the operation does not accept. */
export class DTypeError extends SparsekitError {
  constructor(message: string) { super('ERR_DTYPE', message); }
}
/** Malformed or inconsistent packed data, or a weight that violates the requested structure. */
export class FormatError extends SparsekitError {
  constructor(message: string) { super('ERR_FORMAT', message); }
}
/** GPU, driver or device-memory problems. */
export class DeviceError extends SparsekitError {
  constructor(message: string) { super('ERR_DEVICE', message); }
}
/** NaN/Inf input or a numerical failure (e.g. a Cholesky factorization). */
export class NumericError extends SparsekitError {
  constructor(message: string) { super('ERR_NUMERIC', message); }
}
/** Use of a tensor or matrix after dispose(). */
export class DisposedError extends SparsekitError {
  constructor(message: string) { super('ERR_DISPOSED', message); }
}
/** Any other invalid argument (unknown option value, wrong type). */
export class ArgumentError extends SparsekitError {
  constructor(message: string) { super('ERR_ARGUMENT', message); }
}
/** The caller aborted the operation through its AbortSignal. */
export class AbortError extends SparsekitError {
  constructor(message: string) { super('ERR_ABORTED', message); }
}
/** Host memory could not be allocated. */
export class MemoryError extends SparsekitError {
  constructor(message: string) { super('ERR_MEMORY', message); }
}
/** A bug in sparsekit: please report it. */
export class InternalError extends SparsekitError {
  constructor(message: string) { super('ERR_INTERNAL', message); }
}

/** A file could not be opened, read, written or renamed (the message names the path and the OS error). */
export class IOError extends SparsekitError {
  constructor(message: string) { super('ERR_IO', message); }
}

/** The native addon could not be loaded (the message lists the paths tried and how to fix it). */
export class NativeError extends SparsekitError {
  constructor(message: string) { super('ERR_NATIVE', message); }
}

const classes: Record<ErrorCode, new (message: string) => SparsekitError> = {
  ERR_SHAPE: ShapeError,
  ERR_DTYPE: DTypeError,
  ERR_FORMAT: FormatError,
  ERR_DEVICE: DeviceError,
  ERR_NUMERIC: NumericError,
  ERR_DISPOSED: DisposedError,
  ERR_ARGUMENT: ArgumentError,
  ERR_ABORTED: AbortError,
  ERR_MEMORY: MemoryError,
  ERR_INTERNAL: InternalError,
  ERR_IO: IOError,
  ERR_NATIVE: NativeError,
};

/** Turns an error from the native addon (a plain Error with `code`) into its typed class. */
export function fromNativeError(err: unknown, context?: string): SparsekitError {
  if (err instanceof SparsekitError) return err;
  const e = err as { code?: string; message?: string };
  const Cls = (e && typeof e.code === 'string' && classes[e.code as ErrorCode]) || InternalError;
  const msg = `${context ? context + ': ' : ''}${e?.message ?? String(err)}`;
  return new Cls(msg);
}
