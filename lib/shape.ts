import { ShapeError } from './errors.js';

/**
 * Size limits, the same numbers as native/core/sizes.h (docs/formats.md "Limits"): every size
 * computed from a shape that came from outside goes through checkShape / checkedNumel /
 * checkMatrixShape below, so no product is ever taken of dims that could overflow.
 */
/** Largest matrix dimension: index parts (rowPtr, colIdx, tileOffsets) are int32. */
export const MAX_DIM = 2 ** 31 - 1;
/** Largest element count of one tensor or matrix (2^40). */
export const MAX_ELEMENTS = 2 ** 40;

/**
 * Checks that `shape` is an array of non-negative safe integers whose product is at most
 * MAX_ELEMENTS, and returns a frozen copy.
 */
export function checkShape(shape: unknown, what = 'shape'): readonly number[] {
  if (!Array.isArray(shape)) throw new ShapeError(`${what}: expected an array of dimensions, got ${typeof shape}`);
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
      throw new ShapeError(`${what}[${i}]: expected a non-negative integer, got ${String(d)}`);
  }
  checkedNumel(shape, what);
  return Object.freeze([...shape]);
}

/**
 * The element count of a shape of non-negative safe integers, or ERR_SHAPE when it exceeds
 * MAX_ELEMENTS. A zero dim makes the count 0 whatever the others are; otherwise every partial
 * product is compared with the limit before the next multiplication, so it stays exact.
 */
export function checkedNumel(shape: readonly number[], what = 'shape'): number {
  if (shape.includes(0)) return 0;
  let n = 1;
  for (const d of shape) {
    if (d > MAX_ELEMENTS / n)
      throw new ShapeError(`${what}: ${fmtShape(shape)} has more than ${MAX_ELEMENTS} (2^40) elements, the limit per tensor`);
    n *= d;
  }
  return n;
}

/** A 2-D [rows, cols] weight shape: each dim at most MAX_DIM, at most MAX_ELEMENTS elements. */
export function checkMatrixShape(shape: unknown, what: string): [number, number] {
  if (!Array.isArray(shape) || shape.length !== 2)
    throw new ShapeError(`${what}: a weight matrix must be 2-D [rows, cols], got ${Array.isArray(shape) ? fmtShape(shape) : String(shape)}`);
  for (const d of shape)
    if (!Number.isSafeInteger(d) || d < 0) throw new ShapeError(`${what}: dimensions must be non-negative integers, got ${fmtShape(shape)}`);
  if (shape[0] > MAX_DIM || shape[1] > MAX_DIM)
    throw new ShapeError(`${what}: ${fmtShape(shape)} has a dimension over ${MAX_DIM} (2^31-1), the limit per matrix dimension`);
  checkedNumel(shape, what);
  return [shape[0], shape[1]];
}

/** Element count of a shape already checked by checkShape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
