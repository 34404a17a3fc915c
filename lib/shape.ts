import { ShapeError } from './errors.js';

/** Checks that `shape` is an array of non-negative safe integers and returns a frozen copy. */
export function checkShape(shape: unknown, what = 'shape'): readonly number[] {
  if (!Array.isArray(shape)) throw new ShapeError(`${what}: expected an array of dimensions, got ${typeof shape}`);
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
      throw new ShapeError(`${what}[${i}]: expected a non-negative integer, got ${String(d)}`);
  }
  return Object.freeze([...shape]);
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
