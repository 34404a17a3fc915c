// Where the whole-model fixtures live (made by scripts/fixtures/train-tiny-llama.py, committed).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SparseMatrix, slorb, type Tensor } from '../lib/index.js';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
export const TINY = join(FIXTURES, 'tiny-llama');
export const QWEN = join(FIXTURES, 'tiny-qwen2');

/** `w` as a half-kept bitmap matrix carrying an SLoRB term (k = 16): for the tests that such a term is never dropped. */
export function withSlorbTerm(w: Tensor): SparseMatrix {
  const mask = Uint8Array.from({ length: w.size }, (_, i) => i & 1);
  return SparseMatrix.fromDense(w, { format: 'bitmap', mask, slorb: { scales: slorb.init(w, mask, { groupSize: 16 }), groupSize: 16 } });
}
