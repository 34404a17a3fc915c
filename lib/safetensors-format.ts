/**
 * The mapping between sparsekit values and safetensors entries: dtype names, and how a packed
 * SparseMatrix is spelled on disk (docs/formats.md, "On disk"): one 1-D tensor per part named
 * `<name>.<part>`, plus a `__metadata__` entry `sparsekit:<name>` holding a JSON description.
 */
import { type DType, type FloatDType, isFloatDType } from './dtype.js';
import { FormatError } from './errors.js';
import type { PartName } from './native.js';
import { checkQuantize, isQuantDType, type QuantDType, type QuantInfo } from './quant.js';
import { checkMatrixShape } from './shape.js';
import { FORMATS, partDType, partsOf, type Format } from './sparse-matrix.js';

/**
 * Version of the sparse-matrix-on-disk scheme; readers refuse versions newer than they know.
 * Version 2 adds quantized values (dtype int4/int8 with `quant`) and the SLoRB term; matrices
 * with neither are still written as version 1 so older readers keep reading them.
 */
export const SPARSE_DISK_VERSION = 2;
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
  dtype: FloatDType | QuantDType;
  n?: number;
  m?: number;
  quant?: QuantInfo;
  /** An SLoRB term stored as `<name>.slorbScales` (and `<name>.slorbProjection`, `<name>.slorbRowScales`). */
  slorb?: { groupSize: number; projection: boolean; rowScales?: boolean };
}

/** The tensors holding a matrix's SLoRB term. */
export function slorbTensorNames(name: string): { scales: string; projection: string; rowScales: string } {
  return { scales: `${name}.slorbScales`, projection: `${name}.slorbProjection`, rowScales: `${name}.slorbRowScales` };
}

export function sparseMetaValue(info: Omit<SparseDiskInfo, 'version'>): string {
  const o: Record<string, unknown> = { format: info.format, version: info.quant || info.slorb ? 2 : 1, shape: info.shape, dtype: info.dtype };
  if (info.format === 'nm') { o.n = info.n; o.m = info.m; }
  if (info.quant) o.quant = { bits: info.quant.bits, groupSize: info.quant.groupSize, symmetric: info.quant.symmetric };
  if (info.slorb) {
    o.slorb = { groupSize: info.slorb.groupSize, projection: info.slorb.projection };
    // Only int8 scales have row scales; a reader without this field then refuses int8 scales.
    if (info.slorb.rowScales) (o.slorb as Record<string, unknown>).rowScales = true;
  }
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
  if (!isFloatDType(r.dtype) && !isQuantDType(r.dtype))
    throw bad(`dtype must be float32, float16, bfloat16, int4 or int8, got ${JSON.stringify(r.dtype)}`);
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
  if (r.slorb !== undefined) {
    const sl = r.slorb as Record<string, unknown>;
    if (r.version < 2 || typeof sl !== 'object' || sl === null || !Number.isSafeInteger(sl.groupSize) || (sl.groupSize as number) < 1 ||
        typeof sl.projection !== 'boolean' || (sl.rowScales !== undefined && typeof sl.rowScales !== 'boolean'))
      throw bad(`slorb must be { groupSize: positive integer, projection: boolean, rowScales?: boolean } in a version 2 description, got ${JSON.stringify(r.slorb)}`);
    info.slorb = { groupSize: sl.groupSize as number, projection: sl.projection, rowScales: sl.rowScales === true };
  }
  if (isQuantDType(r.dtype)) {
    const q = r.quant as Record<string, unknown> | undefined;
    const bits = r.dtype === 'int4' ? 4 : 8;
    if (r.version < 2) throw bad(`dtype ${r.dtype} needs a version 2 description, got version ${r.version}`);
    if (typeof q !== 'object' || q === null || q.bits !== bits || typeof q.symmetric !== 'boolean')
      throw bad(`dtype ${r.dtype} needs "quant": { "bits": ${bits}, "groupSize", "symmetric": true|false }, got ${JSON.stringify(r.quant)}`);
    try {
      info.quant = checkQuantize(q, 'quant');
    } catch (e) {
      throw bad((e as Error).message);
    }
  } else if (r.quant !== undefined) {
    throw bad(`"quant" is only for dtype int4 / int8, got dtype ${JSON.stringify(r.dtype)}`);
  }
  return info;
}

/** The part tensors of a stored matrix, in file order, with the dtype each must have. */
export function sparseParts(info: Pick<SparseDiskInfo, 'format' | 'dtype' | 'quant'>): { part: PartName; dtype: DType }[] {
  return partsOf(info.format, info.quant).map((part) => ({ part, dtype: partDType(part, info.dtype) }));
}
