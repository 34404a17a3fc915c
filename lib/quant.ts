/**
 * Quantized weight values (docs/formats.md "Quantized values"): option checking shared by
 * SparseMatrix, the solvers and the CLI. The layout arithmetic itself lives in
 * native/formats/quant.h.
 */
import { describe, type FloatDType } from './dtype.js';
import { ArgumentError, DTypeError, ShapeError } from './errors.js';
import type { QuantSpecNative } from './native.js';
import { Tensor, checkTensor } from './tensor.js';

/** The dtype of a quantized SparseMatrix: 4- or 8-bit codes with per-group fp16 scales. */
export type QuantDType = 'int4' | 'int8';
export const QUANT_DTYPES: readonly QuantDType[] = ['int4', 'int8'];
/** Group sizes along K (columns, not kept values). */
export const QUANT_GROUP_SIZES: readonly number[] = [32, 64, 128, 256];

/** How to quantize: `bits` 4 or 8, one fp16 scale per `groupSize` columns; symmetric (default) or with zero points. */
export interface QuantizeOptions {
  bits: 4 | 8;
  groupSize: number;
  /** Default true: w = (code - 2^(bits-1))·scale. false: w = (code - zero)·scale with a uint8 zero point per group. */
  symmetric?: boolean;
}

/** A quantized matrix's parameters. */
export interface QuantInfo {
  bits: 4 | 8;
  groupSize: number;
  symmetric: boolean;
}

/**
 * A grid computed elsewhere (prune.sparsegpt's `quant`): the weight's kept values lie on it and
 * packing rounds them to exactly these codes. `scale` float16 [rows, cols / groupSize]; `zero`
 * uint8 of the same shape when not symmetric.
 */
export interface QuantGrid extends QuantInfo {
  scale: Tensor;
  zero?: Tensor;
}

export function isQuantDType(v: unknown): v is QuantDType {
  return v === 'int4' || v === 'int8';
}

export function quantDType(bits: 4 | 8): QuantDType {
  return bits === 4 ? 'int4' : 'int8';
}

/** Checks user quantize options; `what` names the argument in errors. */
export function checkQuantize(q: unknown, what: string): QuantInfo {
  if (typeof q !== 'object' || q === null) throw new ArgumentError(`${what}: expected { bits, groupSize, symmetric? }, got ${describe(q)}`);
  const o = q as Record<string, unknown>;
  if (o.bits !== 4 && o.bits !== 8) throw new ArgumentError(`${what}.bits: expected 4 or 8, got ${JSON.stringify(o.bits)}`);
  if (typeof o.groupSize !== 'number' || !QUANT_GROUP_SIZES.includes(o.groupSize))
    throw new ArgumentError(`${what}.groupSize: expected one of ${QUANT_GROUP_SIZES.join(', ')}, got ${JSON.stringify(o.groupSize)}`);
  if (o.symmetric !== undefined && typeof o.symmetric !== 'boolean')
    throw new ArgumentError(`${what}.symmetric: expected a boolean, got ${describe(o.symmetric)}`);
  return { bits: o.bits, groupSize: o.groupSize, symmetric: o.symmetric ?? true };
}

/** Checks that groups tile the columns (and, for nm, hold whole n:m groups). */
export function checkQuantShape(info: QuantInfo, cols: number, m: number | undefined, what: string): void {
  if (cols % info.groupSize !== 0)
    throw new ShapeError(`${what}.groupSize: ${info.groupSize} does not divide the ${cols} columns (groups run along K and must be whole)`);
  if (m !== undefined && info.groupSize % m !== 0)
    throw new ArgumentError(`${what}.groupSize: ${info.groupSize} is not a multiple of m = ${m}`);
}

/** Checks a solver's grid against the weight it belongs to; returns the native pack options. */
export function checkQuantGrid(g: unknown, rows: number, cols: number, what: string): { spec: QuantSpecNative; scales: Uint16Array; zeros?: Uint8Array } {
  const info = checkQuantize(g, what);
  const grid = g as QuantGrid;
  const groups = rows * (cols / info.groupSize);
  const part = (t: unknown, name: string, dtype: 'float16' | 'uint8') => {
    if (!(t instanceof Tensor)) throw new ArgumentError(`${what}.${name}: expected a ${dtype} Tensor, got ${describe(t)}`);
    checkTensor(t, `${what}.${name}`);
    if (t.dtype !== dtype) throw new DTypeError(`${what}.${name}: expected dtype ${dtype}, got ${t.dtype}`);
    if (t.size !== groups)
      throw new ShapeError(`${what}.${name}: expected ${groups} entries ([${rows}, ${cols / info.groupSize}]), got ${t.size}`);
    return t.toTypedArray();
  };
  const scales = part(grid.scale, 'scale', 'float16') as Uint16Array;
  const zeros = info.symmetric ? undefined : (part(grid.zero, 'zero', 'uint8') as Uint8Array);
  return { spec: { bits: info.bits, groupSize: info.groupSize, symmetric: info.symmetric }, scales, zeros };
}

/** The float dtype toDense() returns for a matrix of this dtype (quantized: float32, exact). */
export function denseDType(dtype: FloatDType | QuantDType): FloatDType {
  return isQuantDType(dtype) ? 'float32' : dtype;
}
