// The N = 1 int8-activation GEMVs for bitmap 4-bit weights (qspmm_gemv_bitmap_int4_x8_vnni, and
// qspmm_gemv_bitmap_int4_sums_x8_vnni where the matrix has code sums: symmetric, G >= 128) against
// fp64 on the dequantized weight times x rounded as documented (docs/kernels.md, numerics), on
// masks built to reach every path of its 64-column step: passes of 4 rows and single rows, each
// either Narrow (at most a third of the columns kept: one 32-byte code load per step unless the
// step keeps more than 32) or not; inside Narrow passes, steps keeping 31 / 32 / 33 / 64 columns
// and none; empty and full rows; rows starting mid-byte; every group size, symmetric and
// asymmetric zero points, a lone 32-column group at the end of a row (G = 32, K % 64 = 32).
import { afterAll, describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, cpuInfo, linear, selectedKernel, setIsa } from '../lib/index.js';
import { OUT_RTOL, expectClose, matmulRef, rng, valuesOf } from './reference.js';
import { roundX8Ref } from './quant-reference.js';

const info = cpuInfo();
const startIsa = info.isa;
const VNNI = info.supportedIsas.includes('avx512') && info.features.avx512vnni === true && info.features.avx512vbmi === true;
afterAll(() => { setIsa(startIsa); });
if (!VNNI) console.warn('quant-x8-gemv: no AVX-512 VNNI + VBMI on this CPU, the int8-activation GEMV tests are skipped');

type RowKind = 'sparse' | 'burst' | 'edges' | 'half' | 'empty' | 'full' | 'odd';
/** One row's mask: 'sparse' ~25% kept; 'burst' the same with whole 64-column steps kept (and one
 *  with none); 'edges' ~25% with steps keeping exactly 31, 32 and 33; 'half' ~50%; 'odd' ~25%
 *  with an odd count (the next row starts mid-byte). */
function rowMask(kind: RowKind, K: number, r: () => number): Uint8Array {
  const m = new Uint8Array(K);
  const fill = (p: number) => { for (let k = 0; k < K; k++) m[k] = r() < p ? 1 : 0; };
  const exact = (s: number, n: number) => {  // step s keeps its first n columns
    for (let k = 0; k < 64 && 64 * s + k < K; k++) m[64 * s + k] = k < n ? 1 : 0;
  };
  if (kind === 'full') m.fill(1);
  else if (kind === 'half') fill(0.5);
  else if (kind !== 'empty') fill(0.25);
  const steps = Math.floor(K / 64);
  if (kind === 'burst' && steps > 0) {
    exact(0, 64);
    if (steps > 2) {
      exact(steps - 1, 64);
      exact(1, 0);
    }
  }
  if (kind === 'edges' && steps > 0) for (let s = 0; s < steps; s++) exact(s, [31, 32, 33][s % 3]!);
  if (kind === 'odd') {
    let n = 0;
    for (let k = 0; k < K; k++) n += m[k]!;
    if (n % 2 === 0) m[K - 1] ^= 1;
  }
  return m;
}

function check(M: number, K: number, G: number, symmetric: boolean, kinds: RowKind[], seed: number) {
  const w = Tensor.randn([M, K], { seed }).toFloat32Array();
  for (let k = 0; k < M * K; k += 29) w[k]! *= 20;  // outlier weights set their group's scale
  const r = rng(seed + 1), keep = new Uint8Array(M * K);
  for (let i = 0; i < M; i++) keep.set(rowMask(kinds[i % kinds.length]!, K, r), i * K);
  const q = SparseMatrix.fromDense(Tensor.from(w, [M, K]), { format: 'bitmap', mask: keep, quantize: { bits: 4, groupSize: G, symmetric } });
  const label = `bitmap [${M}, ${K}] g${G} ${symmetric ? 'sym' : 'asym'} ${kinds.join('/')}`;
  const sums = symmetric && G >= 128;
  expect(selectedKernel(q, 1, { activations: 'int8' }), label).toBe(sums ? 'qspmm_gemv_bitmap_int4_sums_x8_vnni' : 'qspmm_gemv_bitmap_int4_x8_vnni');
  const xv = Tensor.randn([1, K], { seed: seed + 2 }).toFloat32Array();
  for (let k = 0; k < K; k += 37) xv[k]! *= 30;  // outlier channels
  const { c, mag } = matmulRef(valuesOf(q.toDense()), roundX8Ref(xv, 1, K, G), M, K, 1);
  const y = valuesOf(linear.sync(Tensor.from(xv, [1, K]), q, null, { activations: 'int8', outDtype: 'float32' }));
  expectClose(Float64Array.from(y), c, mag, OUT_RTOL.float32!, K, label);
  q.dispose();
}

describe.skipIf(!VNNI)('bitmap int4 GEMVs with int8 activations (qspmm_gemv_bitmap_int4_x8_vnni, _sums_x8_vnni) against fp64', () => {
  it('Narrow and wide passes, steps keeping 0 / 31 / 32 / 33 / 64, every group size, both zero points', () => {
    setIsa('avx512');
    let seed = 5000;
    // Row mixes: all Narrow; a Narrow pass holding a dense step (burst); 31/32/33 per step; a pass
    // over the third (half rows: wide); a pass whose average is Narrow while one row is full; odd
    // counts; then single rows of each kind (M % 4).
    const mixes: RowKind[][] = [
      ['sparse'], ['burst', 'sparse', 'sparse', 'odd'], ['edges'], ['half', 'sparse', 'half', 'half'],
      ['full', 'empty', 'sparse', 'empty'], ['odd', 'empty', 'odd', 'burst'], ['sparse', 'half', 'edges', 'full', 'burst', 'odd', 'empty'],
    ];
    // [M, K, G]: K % 64 = 32 leaves a lone 32-column group at G = 32; 1056 / 32 = 33 groups span
    // three runs of the 16-group scale register; 2176 / 128 = 17 groups, two runs of the code
    // sums' correction (the second of one group).
    const shapes: [number, number, number][] = [[7, 352, 32], [9, 384, 128], [11, 320, 64], [6, 512, 256], [5, 224, 32], [13, 1024, 128], [3, 96, 32], [5, 1056, 32], [6, 2176, 128]];
    for (const [M, K, G] of shapes)
      for (const kinds of mixes)
        for (const symmetric of [true, false]) check(M, K, G, symmetric, kinds, seed++);
    setIsa(startIsa);
  });
});
