// The CPU kernel table (native/cpu/spmm_kernel_list.inc) drives the dispatch: every entry must be
// reachable on every supported ISA and dtype, and this test needs a case for each entry, so a
// kernel added to the table without a way to select it fails here.
import { describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, cpuInfo, selectedKernel, setIsa, type FloatDType, type Isa } from '../lib/index.js';
import { native } from '../lib/native.js';

const DT: Record<FloatDType, string> = { float32: 'f32', bfloat16: 'bf16', float16: 'f16' };

function cases(dtype: FloatDType): Record<string, [SparseMatrix | Tensor, number]> {
  const w = Tensor.randn([64, 256], { seed: 3, dtype });
  const every = (k: number) => new Uint8Array(64 * 256).map((_, i) => (i % k === 0 ? 1 : 0));
  const half = SparseMatrix.fromDense(w, { format: 'bitmap', mask: every(2) });
  const eighth = SparseMatrix.fromDense(w, { format: 'bitmap', mask: every(8) });
  const nm24 = SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude' });
  const nmSparse = SparseMatrix.fromDense(w, { format: 'nm', n: 1, m: 8, prune: 'magnitude' });
  return {
    gemv_dense: [w, 1],
    gemm_dense: [w, 64],
    spmv_bitmap: [half, 1],
    spmm_bitmap: [half, 64],
    spmv_nm: [nm24, 1],
    spmm_nm: [nm24, 64],
    spmm_csr: [SparseMatrix.fromDense(w, { format: 'csr' }), 8],
    spmm_bitmap_outer: [eighth, 64],
    spmm_nm_outer: [nmSparse, 64],
  };
}

describe('CPU kernel table', () => {
  const ids = native.spmmKernelIds();
  it('lists the kernels once each', () => {
    expect(ids.length).toBeGreaterThanOrEqual(9);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('selects every table entry on every supported ISA and dtype', () => {
    const info = cpuInfo();
    try {
      for (const isa of info.supportedIsas as Isa[]) {
        setIsa(isa);
        for (const dtype of Object.keys(DT) as FloatDType[]) {
          const c = cases(dtype);
          expect(Object.keys(c).sort()).toEqual([...ids].sort());
          for (const id of ids) {
            const [m, n] = c[id]!;
            expect(selectedKernel(m, n), `${id} ${dtype} ${isa}`).toBe(`${id}_${DT[dtype]}_${isa}`);
          }
        }
      }
    } finally {
      setIsa(info.isa as Isa);
    }
  });
});
