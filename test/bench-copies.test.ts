// bench/copies.ts: the cold-weight benches rotate through copies of each weight, so a copy must be
// the same layer (quantization, SLoRB term and all) in different memory.
import { describe, expect, it } from 'vitest';
import { weightCopies } from '../bench/copies.js';
import { SparseMatrix, Tensor, linear, slorb } from '../lib/index.js';

describe('weightCopies', () => {
  const M = 24, K = 256;
  const w = Tensor.randn([M, K], { seed: 5 });
  const x = Tensor.randn([2, K], { seed: 6 });
  const mask = new Uint8Array(M * K).map((_, i) => ((i * 7) % 3 ? 1 : 0));
  const cases: [string, () => SparseMatrix | Tensor][] = [
    ['a tensor', () => w],
    ['2:4 int4 asym', () => SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', quantize: { bits: 4, groupSize: 128, symmetric: false } })],
    ['dense int8', () => SparseMatrix.fromDense(w, { format: 'dense', quantize: { bits: 8, groupSize: 32 } })],
    ['bitmap with an SLoRB term', () => SparseMatrix.fromDense(w, { format: 'bitmap', mask, slorb: { scales: slorb.init(w, mask), groupSize: 16 } })],
  ];
  for (const [what, make] of cases)
    it(`copies ${what}: enough of them, the same layer`, () => {
      const a = make();
      const copies = weightCopies(a, 3 * a.byteLength + 1);
      expect(copies.length).toBe(4);
      const want = linear.sync(x, a).toFloat32Array();
      for (const c of copies) {
        expect(c).not.toBe(a);
        expect(c.byteLength).toBe(a.byteLength);
        if (a instanceof SparseMatrix && c instanceof SparseMatrix) {
          expect(c.quant).toEqual(a.quant);
          expect(c.slorb?.groupSize).toBe(a.slorb?.groupSize);
        }
        expect(linear.sync(x, c).toFloat32Array()).toEqual(want);
      }
      expect(weightCopies(a, 1).length).toBe(2);
    });
});
