/**
 * The fuzzer's seed files: one valid safetensors file per packed format x value dtype (odd shapes,
 * tiled-csl crossing tile borders, nm 2:4, 4:8 and 1:3), each next to plain tensors, plus a file of
 * plain tensors of every dtype sparsekit reads and one it only passes through. Deterministic.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SparseMatrix, Tensor, saveSafetensors, type FloatDType, type Format } from '../../lib/index.js';
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
