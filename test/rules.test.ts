// Rules stated once in lib/ and used everywhere they apply.
import { describe, expect, it } from 'vitest';
import { FLOAT_DTYPES, FORMATS, SparseMatrix, Tensor } from '../lib/index.js';
import { formatStoresDType } from '../lib/sparse-matrix.js';

describe('one place per rule', () => {
  it('fromDense rejects exactly the format / dtype pairs formatStoresDType names', () => {
    for (const format of FORMATS)
      for (const dtype of FLOAT_DTYPES) {
        const w = Tensor.randn([32, 64], { seed: 1, dtype });
        const opts = format === 'nm' ? { format, n: 2, m: 4, prune: 'magnitude' as const } : { format };
        const ok = (() => {
          try {
            SparseMatrix.fromDense(w, opts).dispose();
            return true;
          } catch (e) {
            expect((e as { code: string }).code).toBe('ERR_DTYPE');
            return false;
          }
        })();
        expect(ok, `${format} ${dtype}`).toBe(formatStoresDType(format, dtype));
      }
  });

  it("the mask is validated once, before format 'auto' looks at it", () => {
    const w = Tensor.randn([8, 16], { seed: 2 });
    const int8 = Tensor.zeros([8, 16], { dtype: 'int8' });
    expect(() => SparseMatrix.fromDense(w, { format: 'auto', mask: int8 })).toThrow(expect.objectContaining({ code: 'ERR_DTYPE' }));
    expect(() => SparseMatrix.fromDense(w, { format: 'auto', mask: new Uint8Array(3) })).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
  });
});
