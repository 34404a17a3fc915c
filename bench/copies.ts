// Distinct copies of a weight (same content, different memory), for the cold-weight benches:
// rotating through them makes each product read its weight from DRAM, as a decode step over a
// model's layers does.
import { SparseMatrix, Tensor } from '../lib/index.js';

/** At least two copies of `a`, and enough of them to exceed `minBytes` together. */
export function weightCopies<W extends SparseMatrix | Tensor>(a: W, minBytes: number): W[] {
  const count = Math.max(2, Math.ceil(minBytes / a.byteLength));
  const out: W[] = [];
  for (let i = 0; i < count; i++) {
    if (a instanceof Tensor) out.push(a.clone() as W);
    else {
      const parts: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(a.parts())) parts[k] = v.clone();
      // The quantization and an SLoRB term travel with the parts (a quantized matrix without its
      // quant is refused; one without its term would time a different layer).
      out.push(SparseMatrix.fromParts(a.format, { shape: a.shape, dtype: a.dtype, n: a.n, m: a.m, parts, quant: a.quant, slorb: a.slorb }) as W);
    }
  }
  return out;
}
