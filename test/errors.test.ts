import { describe, expect, it } from 'vitest';
import {
  ArgumentError, DisposedError, DTypeError, FormatError, ShapeError, SparseMatrix, SparsekitError, Tensor, linear,
  setIsa, setNumThreads, spmm,
} from '../lib/index.js';

function codeOf(fn: () => unknown): string {
  try { fn(); } catch (e) { expect(e).toBeInstanceOf(SparsekitError); return (e as SparsekitError).code; }
  throw new Error('expected a throw');
}

describe('errors', () => {
  const w = Tensor.randn([8, 12], { seed: 1 });
  const a = SparseMatrix.fromDense(w, { format: 'bitmap' });

  it('shape mismatches name both shapes', () => {
    expect(() => spmm.sync(a, Tensor.zeros([11, 2]))).toThrow(/a is \[8, 12\] so b must have 12 rows, got b \[11, 2\]/);
    expect(() => linear.sync(Tensor.zeros([3, 11]), a)).toThrow(ShapeError);
    expect(() => linear.sync(Tensor.zeros([3, 12]), a, Tensor.zeros([7]))).toThrow(/bias: expected \[8\]/);
    expect(() => spmm.sync(a, Tensor.zeros([12, 2, 2]))).toThrow(ShapeError);
    expect(() => spmm.sync(Tensor.zeros([2, 3, 4]), Tensor.zeros([4]))).toThrow(/must be 2-D/);
    expect(() => SparseMatrix.fromDense(Tensor.zeros([12]), {})).toThrow(ShapeError);
    expect(() => SparseMatrix.fromDense(w, { mask: new Uint8Array(5) })).toThrow(/5 bytes, expected 96/);
    expect(() => SparseMatrix.fromDense(w, { mask: Tensor.zeros([8, 11], { dtype: 'uint8' }) })).toThrow(ShapeError);
  });

  it('dtype errors', () => {
    expect(codeOf(() => spmm.sync(a, Tensor.zeros([12, 1], { dtype: 'int8' })))).toBe('ERR_DTYPE');
    expect(codeOf(() => spmm.sync(a, Tensor.zeros([12, 1]), { outDtype: 'int32' as never }))).toBe('ERR_DTYPE');
    expect(codeOf(() => SparseMatrix.fromDense(Tensor.zeros([2, 2], { dtype: 'int32' })))).toBe('ERR_DTYPE');
    expect(codeOf(() => SparseMatrix.fromDense(w, { format: 'tiled-csl' }))).toBe('ERR_DTYPE');
    expect(codeOf(() => SparseMatrix.fromDense(w, { mask: Tensor.zeros([8, 12]) as never }))).toBe('ERR_DTYPE');
  });

  it('invalid n:m and options', () => {
    expect(() => SparseMatrix.fromDense(w, { format: 'nm', n: 5, m: 4 })).toThrow(/1 <= n <= m <= 16, got 5:4/);
    expect(() => SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 32 })).toThrow(ArgumentError);
    expect(() => SparseMatrix.fromDense(w, { format: 'nm', n: 2 } as never)).toThrow(/needs both n and m/);
    expect(() => SparseMatrix.fromDense(w, { format: 'coo' as never })).toThrow(/format: expected one of/);
    expect(() => SparseMatrix.fromDense(w, { format: 'nm', n: 1, m: 4 })).toThrow(FormatError);
    expect(() => SparseMatrix.fromDense(w, { prune: 'random' as never })).toThrow(ArgumentError);
    expect(() => setNumThreads(-1)).toThrow(ArgumentError);
    expect(() => setIsa('sse9' as never)).toThrow(ArgumentError);
    expect(() => spmm.sync({} as never, Tensor.zeros([1]))).toThrow(/a: expected a SparseMatrix or Tensor, got Object/);
  });

  it('disposed operands', () => {
    const t = Tensor.randn([12, 2], { seed: 3 });
    t.dispose();
    expect(() => spmm.sync(a, t)).toThrow(DisposedError);
    expect(() => spmm.sync(a, t)).toThrow(/^b: /);
    const m = SparseMatrix.fromDense(w, { format: 'csr' });
    m.dispose();
    expect(codeOf(() => spmm.sync(m, Tensor.zeros([12, 1])))).toBe('ERR_DISPOSED');
    expect(codeOf(() => m.toDense())).toBe('ERR_DISPOSED');
    expect(codeOf(() => m.parts())).toBe('ERR_DISPOSED');
  });

  it('corrupted parts never reach a kernel', () => {
    const parts = a.parts();
    const short = Tensor.from((parts.values!.toTypedArray() as Float32Array).slice(1));
    expect(codeOf(() => SparseMatrix.fromParts('bitmap', { shape: [8, 12], dtype: 'float32', parts: { ...parts, values: short } }))).toBe('ERR_FORMAT');
    const rp = (parts.rowPtr!.toTypedArray() as Int32Array).slice();
    rp[3] = -5;
    expect(codeOf(() => SparseMatrix.fromParts('bitmap', { shape: [8, 12], dtype: 'float32', parts: { ...parts, rowPtr: Tensor.from(rp) } }))).toBe('ERR_FORMAT');
  });

  it('errors carry their class name and code', () => {
    try {
      spmm.sync(a, Tensor.zeros([3]));
    } catch (e) {
      expect(e).toBeInstanceOf(ShapeError);
      expect((e as Error).name).toBe('ShapeError');
      expect((e as SparsekitError).code).toBe('ERR_SHAPE');
    }
    expect(new DTypeError('x').code).toBe('ERR_DTYPE');
  });
});
