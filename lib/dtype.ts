import { DTypeError, MemoryError } from './errors.js';

/** Storage dtypes. float16/bfloat16 are held as raw bits in a Uint16Array. */
export type DType = 'float32' | 'float16' | 'bfloat16' | 'int8' | 'uint8' | 'int32';
export type FloatDType = 'float32' | 'float16' | 'bfloat16';

export type TypedArray = Float32Array | Uint16Array | Int8Array | Uint8Array | Int32Array;

export const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16', 'int8', 'uint8', 'int32'];
export const FLOAT_DTYPES: readonly FloatDType[] = ['float32', 'float16', 'bfloat16'];

type ArrayCtor = { new (n: number): TypedArray; new (buf: ArrayBufferLike, off: number, len: number): TypedArray; BYTES_PER_ELEMENT: number };

const ctors: Record<DType, ArrayCtor> = {
  float32: Float32Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int32: Int32Array,
};

export function isDType(v: unknown): v is DType {
  return typeof v === 'string' && (DTYPES as readonly string[]).includes(v);
}

export function isFloatDType(v: unknown): v is FloatDType {
  return typeof v === 'string' && (FLOAT_DTYPES as readonly string[]).includes(v);
}

export function checkDType(v: unknown, what: string): DType {
  if (!isDType(v)) throw new DTypeError(`${what}: expected one of ${DTYPES.join(', ')}, got ${JSON.stringify(v)}`);
  return v;
}

export function checkFloatDType(v: unknown, what: string): FloatDType {
  if (!isFloatDType(v)) throw new DTypeError(`${what}: expected one of ${FLOAT_DTYPES.join(', ')}, got ${JSON.stringify(v)}`);
  return v;
}

export function bytesPerElement(d: DType): number {
  return ctors[d].BYTES_PER_ELEMENT;
}

/** A zeroed array of `n` elements; ERR_MEMORY when the runtime cannot allocate it (a plain RangeError otherwise). */
export function allocate(d: DType, n: number): TypedArray {
  try {
    return new ctors[d](n);
  } catch (e) {
    if (e instanceof RangeError)
      throw new MemoryError(`cannot allocate ${n} ${d} elements (${n * ctors[d].BYTES_PER_ELEMENT} bytes): ${e.message}`);
    throw e;
  }
}

export function viewAs(d: DType, buffer: ArrayBufferLike, byteOffset = 0, length?: number): TypedArray {
  const C = ctors[d];
  return new C(buffer, byteOffset, length ?? (buffer.byteLength - byteOffset) / C.BYTES_PER_ELEMENT);
}

/** The dtype a TypedArray implies; Uint16Array is ambiguous and needs an explicit dtype. */
export function dtypeOfArray(a: unknown, explicit?: DType): DType {
  const check = (want: DType[]) => {
    if (explicit !== undefined && !want.includes(explicit))
      throw new DTypeError(`data: a ${(a as object).constructor.name} cannot hold dtype '${explicit}' (it holds ${want.join(' or ')})`);
    return explicit ?? want[0];
  };
  if (a instanceof Float32Array) return check(['float32']);
  if (a instanceof Uint16Array) {
    if (explicit === undefined)
      throw new DTypeError("data: a Uint16Array holds raw 16-bit floats; pass { dtype: 'float16' } or { dtype: 'bfloat16' }");
    return check(['float16', 'bfloat16']);
  }
  if (a instanceof Int8Array) return check(['int8']);
  if (a instanceof Uint8Array) return check(['uint8']);
  if (a instanceof Int32Array) return check(['int32']);
  throw new DTypeError(`data: expected Float32Array, Uint16Array, Int8Array, Uint8Array or Int32Array, got ${describe(a)}`);
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}
