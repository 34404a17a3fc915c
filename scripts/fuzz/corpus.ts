/**
 * The fuzzer's seed files: one valid safetensors file per packed format x value dtype (odd shapes,
 * tiled-csl crossing tile borders, nm 2:4, 4:8 and 1:3), each next to plain tensors, quantized and
 * SLoRB matrices (the version-2 layout), plus a file of
 * plain tensors of every dtype sparsekit reads and one it only passes through. Deterministic.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SparseMatrix, Tensor, saveSafetensors, slorb, type FloatDType, type Format } from '../../lib/index.js';
import { Rng } from './rng.js';

export interface Seed {
  name: string;
  bytes: Buffer;
}

const FLOATS: FloatDType[] = ['float32', 'float16', 'bfloat16'];
const PACKED: [Format, { n?: number; m?: number }][] = [
  ['dense', {}], ['csr', {}], ['bitmap', {}], ['nm', { n: 2, m: 4 }], ['nm', { n: 4, m: 8 }], ['nm', { n: 1, m: 3 }], ['tiled-csl', {}],
];

/** A weight of roughly `density` that also satisfies n:m when asked (magnitude-pruned). */
function weight(rows: number, cols: number, dtype: FloatDType, seed: number, nm?: { n?: number; m?: number }): Tensor {
  const r = new Rng(seed);
  const w = Tensor.randn([rows, cols], { seed, dtype: 'float32' });
  const d = w.toTypedArray() as Float32Array;
  for (let i = 0; i < d.length; i++) if (r.next() < 0.6) d[i] = 0;
  for (let c = 0; c < cols; c++) d[(rows - 1) * cols + c] = 0;  // an empty row
  const t = w.to(dtype);
  if (nm?.n) return SparseMatrix.fromDense(t, { format: 'nm', n: nm.n, m: nm.m, prune: 'magnitude' }).toDense();
  return t;
}

export function buildCorpus(dir: string): Seed[] {
  const seeds: Seed[] = [];
  let k = 0;
  for (const [format, nm] of PACKED)
    for (const dtype of FLOATS) {
      if (format === 'tiled-csl' && dtype === 'float32') continue;
      const [rows, cols] = format === 'tiled-csl' ? [131, 70] : [9 + k % 5, 37 + 3 * (k % 4)];
      const w = weight(rows, cols, dtype, 100 + k, format === 'nm' ? nm : undefined);
      const m = SparseMatrix.fromDense(w, { format, ...nm });
      const name = `${format}${nm.n ? `-${nm.n}of${nm.m}` : ''}-${dtype}`;
      const path = join(dir, `${name}.safetensors`);
      saveSafetensors.sync(path, { w: m, bias: Tensor.randn([rows], { seed: k, dtype }) }, { note: 'seed' });
      seeds.push({ name, bytes: readFileSync(path) });
      k++;
    }
  // Version-2 matrices: quantized values (int4 / int8, symmetric or with zero points, an odd 4-bit
  // count so the unused high nibble exists) and an SLoRB term with a projection. G = 128: the
  // 4-bit matrices that derive code sums when loaded (2:4, symmetric bitmap; quant.h).
  const QUANT: [string, Format, { n?: number; m?: number }, 4 | 8, boolean, number, number, number][] = [
    ['dense-int4-sym', 'dense', {}, 4, true, 7, 64, 32], ['bitmap-int4-asym', 'bitmap', {}, 4, false, 9, 96, 32],
    ['bitmap-int8-sym', 'bitmap', {}, 8, true, 5, 64, 32], ['nm-2of4-int4-asym', 'nm', { n: 2, m: 4 }, 4, false, 6, 64, 32],
    ['nm-4of8-int8-asym', 'nm', { n: 4, m: 8 }, 8, false, 3, 128, 32],
    ['bitmap-int4-sym-g128', 'bitmap', {}, 4, true, 5, 256, 128], ['nm-2of4-int4-sym-g128', 'nm', { n: 2, m: 4 }, 4, true, 9, 256, 128],
  ];
  for (const [name, format, nm, bits, symmetric, rows, cols, groupSize] of QUANT) {
    const w = weight(rows, cols, 'float32', 200 + k++, format === 'nm' ? nm : undefined);
    const m = SparseMatrix.fromDense(w, { format, ...nm, quantize: { bits, groupSize, symmetric } });
    const path = join(dir, `${name}.safetensors`);
    saveSafetensors.sync(path, { w: m, bias: Tensor.randn([rows], { seed: k }) });
    seeds.push({ name, bytes: readFileSync(path) });
  }
  {
    const [rows, cols, g] = [10, 48, 16];
    const w = weight(rows, cols, 'bfloat16', 300);
    const keep = Uint8Array.from(w.toFloat32Array(), (v) => (v !== 0 ? 1 : 0));
    const slorbTerm = { scales: slorb.init(w, keep, { groupSize: g, dtype: 'bfloat16' }), groupSize: g, projection: slorb.projection(cols, g, { init: 'xavier', seed: 1 }) };
    const path = join(dir, 'bitmap-slorb-bfloat16.safetensors');
    saveSafetensors.sync(path, { w: SparseMatrix.fromDense(w, { format: 'bitmap', slorb: slorbTerm }) });
    seeds.push({ name: 'bitmap-slorb-bfloat16', bytes: readFileSync(path) });
    // int8 S with float16 row scales (slorb.quantize): a third term tensor and the rowScales flag.
    const q = slorb.quantize(slorbTerm.scales, { scaleDtype: 'float16' });
    const path8 = join(dir, 'nm-slorb-int8.safetensors');
    saveSafetensors.sync(path8, { w: SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', slorb: { ...q, groupSize: g } }) });
    seeds.push({ name: 'nm-slorb-int8', bytes: readFileSync(path8) });
  }
  const path = join(dir, 'plain.safetensors');
  saveSafetensors.sync(path, {
    f32: Tensor.randn([3, 5], { seed: 1 }), f16: Tensor.randn([4, 3], { seed: 2, dtype: 'float16' }),
    bf16: Tensor.randn([2, 2, 3], { seed: 3, dtype: 'bfloat16' }), i8: Tensor.from(new Int8Array([1, -2, 3])),
    u8: Tensor.from(new Uint8Array([250, 7])), i32: Tensor.from(new Int32Array([-(2 ** 31), 2 ** 31 - 1])),
    f64: { dtype: 'F64', shape: [2], data: new Uint8Array(16) }, scalar: Tensor.from(new Float32Array([1]), []),
  });
  seeds.push({ name: 'plain', bytes: readFileSync(path) });
  return seeds;
}
