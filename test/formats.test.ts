import { describe, expect, it } from 'vitest';
import { FORMAT_PARTS, FormatError, SparseMatrix, Tensor, type Format, type FloatDType } from '../lib/index.js';
import { decodeParts, type RawParts } from './format-decoder.js';
import { rng } from './reference.js';

const FORMATS_ALL: Format[] = ['dense', 'csr', 'bitmap', 'nm', 'tiled-csl'];
const DTYPES: FloatDType[] = ['float32', 'float16', 'bfloat16'];

function maskOf(rows: number, cols: number, density: number, seed: number): Uint8Array {
  const r = rng(seed);
  const m = new Uint8Array(rows * cols);
  for (let i = 0; i < m.length; i++) m[i] = r() < density ? 1 : 0;
  return m;
}

/** The dense tensor with masked-out entries zeroed (what toDense must give back). */
function masked(w: Tensor, mask: Uint8Array): Tensor {
  const out = w.clone();
  const d = out.toTypedArray();
  for (let i = 0; i < d.length; i++) if (!mask[i]) d[i] = 0;
  return out;
}

function sameBits(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Raw bits of a float tensor's elements (Uint32Array for float32, Uint16Array otherwise). */
function rawView(t: Tensor): Uint32Array | Uint16Array {
  const a = t.toTypedArray();
  return a instanceof Float32Array ? new Uint32Array(a.buffer, a.byteOffset, a.length) : (a as Uint16Array);
}

function valuesBits(t: Tensor): Uint32Array | Uint16Array {
  return rawView(t);
}

function rawPartsOf(parts: Record<string, Tensor>): RawParts {
  const out: RawParts = {};
  for (const [name, t] of Object.entries(parts)) {
    if (name === 'values') out.values = rawView(t);
    else (out as Record<string, Int32Array>)[name] = t.toTypedArray() as Int32Array;
  }
  return out;
}

function supports(format: Format, dtype: FloatDType) {
  return !(format === 'tiled-csl' && dtype === 'float32');
}

describe('formats', () => {
  const shapes: [number, number][] = [[1, 1], [3, 5], [17, 33], [129, 65], [130, 200], [256, 64]];
  for (const format of FORMATS_ALL) {
    for (const dtype of DTYPES) {
      if (!supports(format, dtype)) continue;
      it(`${format} ${dtype}: pack -> unpack is lossless over shapes and densities`, () => {
        let seed = 1;
        for (const [rows, cols] of shapes) {
          for (const density of [0, 0.1, 0.5, 0.9, 1]) {
            const w = Tensor.randn([rows, cols], { seed: seed++, dtype });
            let mask = maskOf(rows, cols, density, seed++);
            const opts = format === 'nm' ? { format, n: 2, m: 4, prune: 'magnitude' as const, mask } : { format, mask };
            const s = SparseMatrix.fromDense(w, opts);
            expect(s.shape).toEqual([rows, cols]);
            expect(s.dtype).toBe(dtype);
            const back = s.toDense();
            if (format === 'nm') {
              // Kept entries are a subset of the mask with at most 2 per group of 4, values exact.
              const b = back.toTypedArray(), o = w.toTypedArray();
              const problems: string[] = [];
              for (let r = 0; r < rows; r++)
                for (let g = 0; g < cols; g += 4) {
                  let kept = 0;
                  for (let j = g; j < Math.min(g + 4, cols); j++) {
                    const i = r * cols + j;
                    if (b[i] === 0) continue;
                    kept++;
                    if (!mask[i] || b[i] !== o[i]) problems.push(`(${r}, ${j})`);
                  }
                  if (kept > 2) problems.push(`group (${r}, ${g}) keeps ${kept}`);
                }
              expect(problems).toEqual([]);
              mask = new Uint8Array(b.length).map((_, i) => (b[i] !== 0 ? 1 : 0));
            }
            expect(sameBits(back.toTypedArray(), masked(w, mask).toTypedArray())).toBe(true);
            // Re-validating its own parts always passes.
            const again = SparseMatrix.fromParts(format, { shape: [rows, cols], dtype, n: s.n, m: s.m, parts: s.parts() });
            expect(sameBits(again.toDense().toTypedArray(), back.toTypedArray())).toBe(true);
          }
        }
      });
    }
  }

  it('keeps the existing nonzeros when no mask is given', () => {
    const w = Tensor.from([0, 1, 0, -2, 0, 0, 3, 0], [2, 4]);
    const csr = SparseMatrix.fromDense(w, { format: 'csr' });
    expect(csr.nnz).toBe(3);
    expect(Array.from(csr.parts().rowPtr!.toTypedArray())).toEqual([0, 2, 3]);
    expect(Array.from(csr.parts().colIdx!.toTypedArray())).toEqual([1, 3, 2]);
    expect(Array.from(csr.parts().values!.toTypedArray())).toEqual([1, -2, 3]);
    const bm = SparseMatrix.fromDense(w, { format: 'bitmap' });
    expect(Array.from(bm.parts().masks!.toTypedArray())).toEqual([0b1010, 0b0100]);
    expect(bm.density).toBeCloseTo(3 / 8);
  });

  it('byte sizes follow the format table', () => {
    const rows = 256, cols = 1024;
    const w = Tensor.randn([rows, cols], { seed: 3, dtype: 'float16' });
    const mask = maskOf(rows, cols, 0.3, 4);
    const kept = mask.reduce((a, b) => a + b, 0);
    const el = rows * cols;
    expect(SparseMatrix.fromDense(w, { format: 'dense' }).byteLength).toBe(el * 2);
    expect(SparseMatrix.fromDense(w, { format: 'bitmap', mask }).byteLength).toBe(el / 8 + kept * 2 + (rows + 1) * 4);
    expect(SparseMatrix.fromDense(w, { format: 'csr', mask }).byteLength).toBe(kept * 6 + (rows + 1) * 4);
    const nm = SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude' });
    expect(nm.byteLength).toBe(el / 2 * 2 + el / 8);
    expect(nm.bytesPerElement).toBe(1.125);
    const tc = SparseMatrix.fromDense(w, { format: 'tiled-csl', mask });
    expect(tc.byteLength).toBeGreaterThanOrEqual(kept * 4);
    // Words sorted by shared-memory bank, zeros padding the stores that would conflict: at 30%
    // density that is ~0.5% more words (docs/formats.md), plus the offsets.
    expect(tc.byteLength).toBeLessThan(kept * 4 * 1.02 + (el / 8192 + 1) * 4 + 1);
  });

  it('nm refuses a weight that violates n:m, naming the place, unless asked to prune', () => {
    const w = Tensor.from([1, 2, 3, 0, 1, 0, 0, 1], [2, 4]);
    expect(() => SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4 })).toThrow(FormatError);
    expect(() => SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4 })).toThrow(/row 0, columns 0\.\.3 keep 3 values/);
    const p = SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude' });
    expect(Array.from(p.toDense().toTypedArray())).toEqual([0, 2, 3, 0, 1, 0, 0, 1]);
    // 4:8 and odd K (last group partial).
    const w2 = Tensor.randn([5, 13], { seed: 2 });
    const p2 = SparseMatrix.fromDense(w2, { format: 'nm', n: 4, m: 8, prune: 'magnitude' });
    expect(p2.nnz).toBe(5 * 2 * 4);
    const d2 = p2.toDense().toTypedArray();
    for (let r = 0; r < 5; r++) {
      expect(d2.slice(r * 13, r * 13 + 8).filter((v) => v !== 0).length).toBe(4);
      expect(d2.slice(r * 13 + 8, r * 13 + 13).filter((v) => v !== 0).length).toBe(4);
    }
  });

  it('tiled-csl words follow the Flash-LLM layout', () => {
    const w = Tensor.zeros([128, 64], { dtype: 'float16' });
    const d = w.toTypedArray();
    d[9 * 64 + 5] = 0x3c00; // row 9, col 5: position 9*64 + (5 ^ (1 << 3)) = 589
    const s = SparseMatrix.fromDense(w, { format: 'tiled-csl' });
    const words = s.parts().words!.toTypedArray() as Int32Array;
    expect(words.length).toBe(4); // padded to a multiple of 4
    expect(words[0]! >>> 16).toBe(9 * 64 + (5 ^ 8));
    expect(words[0]! & 0xffff).toBe(0x3c00);
    expect(Array.from(s.parts().tileOffsets!.toTypedArray())).toEqual([0, 4]);
  });

  it('fromParts fuzz: accepts exactly what the documented format allows, and decodes it like an independent decoder', () => {
    const r = rng(77);
    for (const format of FORMATS_ALL) {
      const dtype: FloatDType = format === 'tiled-csl' ? 'float16' : 'float32';
      // 90 columns: a partial last N:M group (padding columns 90, 91), a partial 64-wide tile and
      // a partial 32-bit mask word.
      const w = Tensor.randn([70, 90], { seed: 11, dtype });
      const good = SparseMatrix.fromDense(w, format === 'nm'
        ? { format, n: 2, m: 4, prune: 'magnitude' } : { format, mask: maskOf(70, 90, 0.4, 5) });
      let rejected = 0, accepted = 0;
      for (let trial = 0; trial < 300; trial++) {
        const parts: Record<string, Tensor> = {};
        for (const [name, t] of Object.entries(good.parts())) parts[name] = t.clone();
        const names = FORMAT_PARTS[format];
        const name = names[Math.floor(r() * names.length)]!;
        const arr = parts[name]!.toTypedArray();
        if (trial % 10 === 9) {
          parts[name] = Tensor.from(arr.slice(0, Math.max(0, arr.length - 1 - Math.floor(r() * 3))) as Int32Array, undefined, { dtype: parts[name]!.dtype });
        } else if (arr.length > 0) {
          const i = Math.floor(r() * arr.length);
          if (name === 'values') {
            // A value's bits (via its raw view): any bit, so signs, zeros and padding slots change.
            const raw = rawView(parts[name]!);
            raw[i] = (raw[i]! ^ (2 ** Math.floor(r() * (dtype === 'float32' ? 32 : 16)))) >>> 0;
          } else if (trial % 3 === 0 && (name === 'colIdx' || name === 'rowPtr' || name === 'tileOffsets')) {
            arr[i] = (arr[i]! + (r() < 0.5 ? 1 : -1)) | 0;  // off by one: the boundary bugs
          } else {
            arr[i] = (arr[i]! ^ (1 << Math.floor(r() * 32))) | 0;
          }
        }
        const want = decodeParts(format, 70, 90, dtype === 'float32' ? 32 : 16, rawPartsOf(parts), good.n, good.m);
        let got: ArrayBufferView | undefined;
        try {
          got = SparseMatrix.fromParts(format, { shape: [70, 90], dtype, n: good.n, m: good.m, parts }).toDense().toTypedArray();
        } catch (e) {
          expect((e as { code: string }).code).toBe('ERR_FORMAT');
        }
        if (!want.ok) {
          expect(got, `${format} trial ${trial}: accepted, but the document says: ${want.why}`).toBeUndefined();
          rejected++;
        } else {
          expect(got, `${format} trial ${trial}: refused a valid ${name}`).toBeDefined();
          expect(sameBits(got!, want.dense), `${format} trial ${trial}: decodes differently`).toBe(true);
          accepted++;
        }
      }
      if (format !== 'dense') expect(rejected).toBeGreaterThan(60);
      expect(accepted).toBeGreaterThan(30);
    }
  });

  it('column and row boundaries: exactly cols (or rows) is refused, one less is accepted', () => {
    const f16 = (v: number) => Tensor.from([v], [1], { dtype: 'float16' }).toTypedArray()[0]!;
    const i32 = (a: number[]) => Tensor.from(Int32Array.from(a));
    const code = (f: () => unknown) => { try { f(); return 'ok'; } catch (e) { return (e as { code: string }).code; } };
    // csr [2, 5]: one value in row 0 at column c.
    const csr = (c: number) => SparseMatrix.fromParts('csr', {
      shape: [2, 5], dtype: 'float32', parts: { rowPtr: i32([0, 1, 1]), colIdx: i32([c]), values: Tensor.from([7]) },
    });
    expect(code(() => csr(5))).toBe('ERR_FORMAT');
    expect(code(() => csr(-1))).toBe('ERR_FORMAT');
    expect(Array.from(csr(4).toDense().toTypedArray())).toEqual([0, 0, 0, 0, 7, 0, 0, 0, 0, 0]);
    // tiled-csl [130, 70]: tiles (0,0) (0,1) (1,0) (1,1); one word in one tile, padded with 3 repeats.
    const tcsl = (tile: number, row: number, col: number) => {
      const word = ((row * 64 + (col ^ ((row % 8) << 3))) << 16) | f16(3);
      const offs = [0, 0, 0, 0, 0].map((_, t) => (t > tile ? 4 : 0));
      return SparseMatrix.fromParts('tiled-csl', {
        shape: [130, 70], dtype: 'float16', parts: { tileOffsets: i32(offs), words: i32([word, word, word, word]) },
      });
    };
    expect(code(() => tcsl(1, 0, 6))).toBe('ERR_FORMAT');   // column 64 + 6 = cols
    expect(code(() => tcsl(2, 2, 0))).toBe('ERR_FORMAT');   // row 128 + 2 = rows
    expect(code(() => tcsl(3, 2, 6))).toBe('ERR_FORMAT');
    const inside = tcsl(3, 1, 5).toDense().toTypedArray();  // (129, 69): the last element
    expect(inside[129 * 70 + 69]).toBe(f16(3));
    expect(Array.from(inside as ArrayLike<number>).filter((v) => v !== 0).length).toBe(1);
    // Four stored words then four repeats: a multiple of 4 words, but more than 3 padding words.
    const w0 = (0 << 16) | f16(1), w1 = (1 << 16) | f16(2), w2 = ((64 + (0 ^ 8)) << 16) | f16(3), w3 = ((64 + (1 ^ 8)) << 16) | f16(4);  // (1, 0), (1, 1)
    const tile = (words: number[]) => code(() => SparseMatrix.fromParts('tiled-csl', {
      shape: [2, 2], dtype: 'float16', parts: { tileOffsets: i32([0, words.length]), words: i32(words) },
    }));
    expect(tile([w0, w1, w2, w3, w3, w3, w3, w3])).toBe('ERR_FORMAT');
    expect(tile([w0, w1, w2, w3])).toBe('ok');
    expect(tile([w0, w0, w0, w0])).toBe('ok');
    expect(code(() => SparseMatrix.fromParts('tiled-csl', {
      shape: [2, 2], dtype: 'float16', parts: { tileOffsets: i32([0, 4]), words: i32([w0, w1, w1, w1]) },
    }))).toBe('ok');
    // nm 2:4 [1, 6]: groups 0..3 and 4..7, columns 6 and 7 are padding. Group 1 keeps columns 4
    // and c with value v there.
    const nm = (c: number, v: number) => SparseMatrix.fromParts('nm', {
      shape: [1, 6], dtype: 'float32', n: 2, m: 4, parts: { masks: i32([0b11 | (1 << 4) | (1 << c)]), values: Tensor.from([1, 2, 3, v]) },
    });
    expect(code(() => nm(6, 4))).toBe('ERR_FORMAT');         // a nonzero in padding column 6 = cols
    expect(code(() => nm(7, 4))).toBe('ERR_FORMAT');
    expect(Array.from(nm(6, -0).toDense().toTypedArray())).toEqual([1, 2, 0, 0, 3, 0]);  // zeros there are fine
    expect(Array.from(nm(5, 4).toDense().toTypedArray())).toEqual([1, 2, 0, 0, 3, 4]);  // column 5 = cols - 1 is real
    // bitmap [1, 40]: a bit at column 40 (= cols, in the second mask word) is refused.
    const bm = (c: number) => SparseMatrix.fromParts('bitmap', {
      shape: [1, 40], dtype: 'float32', parts: { rowPtr: i32([0, 1]), masks: i32([0, 1 << (c - 32)]), values: Tensor.from([5]) },
    });
    expect(code(() => bm(40))).toBe('ERR_FORMAT');
    expect(bm(39).toDense().toTypedArray()[39]).toBe(5);
  });

  it('nm magnitude ties keep the lower column; short groups mark their lowest free columns', () => {
    // Row 0: |w| all equal; row 1: ties between columns 1 and 3 for the second place, and -0 vs 0;
    // row 2: two equal largest and two equal smaller.
    const w = Tensor.from([
      2, -2, 2, -2, 1, 1, 1, 1,
      5, -3, 1, 3, -0, 0, 0, 0,
      1, 4, 1, -4, 0.5, -0.5, 9, 0.5,
    ], [3, 8]);
    for (const dtype of [...DTYPES.filter((d) => d !== 'float32'), 'float32' as const]) {
      const s = SparseMatrix.fromDense(w.to(dtype), { format: 'nm', n: 2, m: 4, prune: 'magnitude' });
      const keptMask = Array.from(valuesBits(s.toDense()), (v) => (v & 0x7fffffff ? 1 : 0));
      expect(keptMask, dtype).toEqual([
        1, 1, 0, 0, 1, 1, 0, 0,
        1, 1, 0, 0, 0, 0, 0, 0,
        0, 1, 0, 1, 1, 0, 1, 0,
      ]);
      // The masks themselves: an all-zero group stores explicit zeros at its two lowest columns.
      expect(Array.from(s.parts().masks!.toTypedArray(), (x) => x >>> 0), dtype).toEqual([0x33, 0x33, 0x5a]);
    }
    // 3:8 over [1, 11]: the partial group (columns 8..10 + padding 11..15) keeps 8 and 9 plus the
    // lowest free column 10 (the real last column) rather than a padding column.
    const p = SparseMatrix.fromDense(Tensor.from([1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 0], [1, 11]), { format: 'nm', n: 3, m: 8, prune: 'magnitude' });
    expect(Array.from(p.parts().masks!.toTypedArray())).toEqual([0b111 | (0b111 << 8)]);
  });

  it('fromParts checks part names, dtypes and presence', () => {
    const s = SparseMatrix.fromDense(Tensor.randn([4, 8], { seed: 1 }), { format: 'csr' });
    const p = s.parts();
    expect(() => SparseMatrix.fromParts('csr', { shape: [4, 8], dtype: 'float32', parts: { values: p.values!, rowPtr: p.rowPtr! } }))
      .toThrow(/colIdx/);
    expect(() => SparseMatrix.fromParts('csr', { shape: [4, 8], dtype: 'float16', parts: p })).toThrow(/expected dtype float16/);
    expect(() => SparseMatrix.fromParts('csr', { shape: [4, 8], dtype: 'float32', parts: { ...p, masks: p.rowPtr! } })).toThrow(/no such part/);
    expect(() => SparseMatrix.fromParts('csr', { shape: [4, 9], dtype: 'float32', parts: p })).not.toThrow();
    expect(() => SparseMatrix.fromParts('csr', { shape: [5, 8], dtype: 'float32', parts: p })).toThrow(FormatError);
  });

  it('async packing and unpacking give the same result', async () => {
    const w = Tensor.randn([300, 257], { seed: 21, dtype: 'bfloat16' });
    for (const format of FORMATS_ALL) {
      const opts = format === 'nm' ? { format, n: 2, m: 4, prune: 'magnitude' as const } : { format };
      const a = SparseMatrix.fromDense(w, opts);
      const b = await SparseMatrix.fromDenseAsync(w, opts);
      expect((await b.toDenseAsync()).toTypedArray()).toEqual(a.toDense().toTypedArray());
    }
  });
});
