/**
 * The mapping between sparsekit values and safetensors entries: dtype names, and how a packed
 * SparseMatrix is spelled on disk (docs/formats.md, "On disk"): one 1-D tensor per part named
 * `<name>.<part>`, plus a `__metadata__` entry `sparsekit:<name>` holding a JSON description.
 */
import { type DType, type FloatDType, isFloatDType } from './dtype.js';
import { FormatError } from './errors.js';
import type { PartName } from './native.js';
import { checkMatrixShape } from './shape.js';
import { FORMAT_PARTS, FORMATS, type Format } from './sparse-matrix.js';

/** Version of the sparse-matrix-on-disk scheme; readers refuse versions newer than they know. */
export const SPARSE_DISK_VERSION = 1;
export const SPARSE_META_PREFIX = 'sparsekit:';

const TO_ST: Record<DType, string> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', int8: 'I8', uint8: 'U8', int32: 'I32' };
const FROM_ST: Record<string, DType> = Object.fromEntries(Object.entries(TO_ST).map(([k, v]) => [v, k as DType]));

/** Bytes per element of every safetensors dtype (sub-byte formats round up to 1 for alignment). */
const ST_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8, C64: 8, F4: 1, F6_E2M3: 1, F6_E3M2: 1,
};

export function toStDType(d: DType): string {
  return TO_ST[d];
}
/** The sparsekit dtype of a safetensors dtype name, or undefined if sparsekit cannot compute with it. */
export function fromStDType(name: string): DType | undefined {
  return FROM_ST[name];
}
export function stAlignment(name: string): number {
  return ST_BYTES[name] ?? 1;
}

/** What `sparsekit:<name>` holds. */
export interface SparseDiskInfo {
  format: Format;
  version: number;
  shape: [number, number];
  dtype: FloatDType;
  n?: number;
  m?: number;
}

export function sparseMetaValue(info: Omit<SparseDiskInfo, 'version'>): string {
  const o: Record<string, unknown> = { format: info.format, version: SPARSE_DISK_VERSION, shape: info.shape, dtype: info.dtype };
  if (info.format === 'nm') { o.n = info.n; o.m = info.m; }
  return JSON.stringify(o);
}

export function partTensorName(name: string, part: PartName): string {
  return `${name}.${part}`;
}

/** Parses and checks one `sparsekit:<name>` value; anything off is ERR_FORMAT naming the matrix. */
export function parseSparseMeta(name: string, value: string): SparseDiskInfo {
  const bad = (why: string) => new FormatError(`safetensors: sparse matrix '${name}' (__metadata__ '${SPARSE_META_PREFIX}${name}'): ${why}`);
  let o: unknown;
  try {
    o = JSON.parse(value);
  } catch {
    throw bad('value is not valid JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw bad('value must be a JSON object');
  const r = o as Record<string, unknown>;
  if (typeof r.version !== 'number' || !Number.isInteger(r.version) || r.version < 1)
    throw bad(`version must be a positive integer, got ${JSON.stringify(r.version)}`);
  if (r.version > SPARSE_DISK_VERSION)
    throw bad(`written with layout version ${r.version}; this sparsekit reads up to ${SPARSE_DISK_VERSION} (upgrade sparsekit)`);
  if (typeof r.format !== 'string' || !(FORMATS as readonly string[]).includes(r.format))
    throw bad(`format must be one of ${FORMATS.join(', ')}, got ${JSON.stringify(r.format)}`);
  if (!isFloatDType(r.dtype)) throw bad(`dtype must be float32, float16 or bfloat16, got ${JSON.stringify(r.dtype)}`);
  const shape = r.shape;
  if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
    throw bad(`shape must be [rows, cols] of non-negative integers, got ${JSON.stringify(shape)}`);
  try {
    checkMatrixShape(shape, 'shape');
  } catch (e) {
    throw bad((e as Error).message);
  }
  const info: SparseDiskInfo = { format: r.format as Format, version: r.version, shape: [shape[0], shape[1]], dtype: r.dtype };
  if (info.format === 'nm') {
    if (!Number.isInteger(r.n) || !Number.isInteger(r.m)) throw bad('format nm needs integer n and m');
    info.n = r.n as number;
    info.m = r.m as number;
  }
  return info;
}

export function sparseParts(format: Format): readonly PartName[] {
  return FORMAT_PARTS[format];
}
