// An independent validator and decoder of the packed formats, written from docs/formats.md (not
// from native/formats): given a matrix's parts it returns the dense matrix's raw value bits, or the
// first rule of the document the parts break. The fromParts fuzz checks the native validator and
// toDense() against it, so a validator that becomes looser (or stricter) than the document fails.
import type { Format } from '../lib/index.js';

export interface RawParts {
  /** Raw value bits: Uint32Array for float32 values, Uint16Array for float16 / bfloat16. */
  values?: Uint32Array | Uint16Array;
  rowPtr?: Int32Array;
  colIdx?: Int32Array;
  masks?: Int32Array;
  tileOffsets?: Int32Array;
  words?: Int32Array;
}

export type Decoded = { ok: true; dense: Uint32Array | Uint16Array } | { ok: false; why: string };

const TILE_ROWS = 128, TILE_COLS = 64;

function fail(why: string): Decoded {
  return { ok: false, why };
}

/** ±0 in the value's own encoding (the sign bit is the top bit). */
function isZero(bits: number, valueBits: 16 | 32): boolean {
  return valueBits === 32 ? (bits & 0x7fffffff) === 0 : (bits & 0x7fff) === 0;
}

function popcount(x: number): number {
  x >>>= 0;
  let n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}

/** rowPtr[rows + 1]: starts at 0, never decreases. Returns the total or an error text. */
function checkRowPtr(rp: Int32Array | undefined, rows: number): number | string {
  if (!rp || rp.length !== rows + 1) return `rowPtr must have ${rows + 1} entries`;
  if (rp[0] !== 0) return 'rowPtr[0] must be 0';
  for (let r = 0; r < rows; r++) if (rp[r + 1]! < rp[r]!) return `rowPtr decreases at row ${r}`;
  return rp[rows]!;
}

export function decodeParts(format: Format, rows: number, cols: number, valueBits: 16 | 32, p: RawParts, n = 0, m = 0): Decoded {
  const dense = valueBits === 32 ? new Uint32Array(rows * cols) : new Uint16Array(rows * cols);
  const vals = p.values;
  switch (format) {
    case 'dense': {
      if (!vals || vals.length !== rows * cols) return fail('values must hold rows * cols');
      dense.set(vals);
      return { ok: true, dense };
    }
    case 'csr': {
      const total = checkRowPtr(p.rowPtr, rows);
      if (typeof total === 'string') return fail(total);
      const ci = p.colIdx;
      if (!ci || ci.length !== total || !vals || vals.length !== total) return fail('colIdx and values must hold rowPtr[rows] entries');
      for (let r = 0; r < rows; r++)
        for (let i = p.rowPtr![r]!; i < p.rowPtr![r + 1]!; i++) {
          const c = ci[i]!;
          if (c < 0 || c >= cols) return fail(`colIdx[${i}] = ${c} outside [0, cols)`);
          if (i > p.rowPtr![r]! && c <= ci[i - 1]!) return fail(`colIdx not strictly increasing in row ${r}`);
          dense[r * cols + c] = vals[i]!;
        }
      return { ok: true, dense };
    }
    case 'bitmap': {
      const W = Math.ceil(cols / 32);
      const total = checkRowPtr(p.rowPtr, rows);
      if (typeof total === 'string') return fail(total);
      const masks = p.masks;
      if (!masks || masks.length !== rows * W || !vals || vals.length !== total) return fail('masks / values have the wrong length');
      for (let r = 0; r < rows; r++) {
        let vi = p.rowPtr![r]!, count = 0;
        for (let w = 0; w < W; w++) count += popcount(masks[r * W + w]!);
        if (count !== p.rowPtr![r + 1]! - p.rowPtr![r]!) return fail(`row ${r}: popcount differs from rowPtr`);
        for (let c = 0; c < W * 32; c++) {
          if (!((masks[r * W + (c >> 5)]! >>> (c & 31)) & 1)) continue;
          if (c >= cols) return fail(`row ${r}: mask bit set at column ${c} >= cols`);
          dense[r * cols + c] = vals[vi++]!;
        }
      }
      return { ok: true, dense };
    }
    case 'nm': {
      const G = Math.ceil(cols / m), W = Math.ceil((G * m) / 32);
      const masks = p.masks;
      if (!masks || masks.length !== rows * W || !vals || vals.length !== rows * G * n) return fail('masks / values have the wrong length');
      for (let r = 0; r < rows; r++) {
        for (let c = G * m; c < W * 32; c++)
          if ((masks[r * W + (c >> 5)]! >>> (c & 31)) & 1) return fail(`row ${r}: mask bit set past the padded width at ${c}`);
        for (let g = 0; g < G; g++) {
          let k = 0;
          for (let j = 0; j < m; j++) {
            const c = g * m + j;
            if (!((masks[r * W + (c >> 5)]! >>> (c & 31)) & 1)) continue;
            if (k >= n) return fail(`row ${r}, group ${g} has more than n bits`);
            const v = vals[(r * G + g) * n + k]!;
            k++;
            if (c >= cols) {
              if (!isZero(v, valueBits)) return fail(`row ${r}: nonzero value in padding column ${c}`);
            } else dense[r * cols + c] = v;
          }
          if (k !== n) return fail(`row ${r}, group ${g} has ${k} bits, not n`);
        }
      }
      return { ok: true, dense };
    }
    case 'tiled-csl': {
      if (valueBits !== 16) return fail('tiled-csl holds 16-bit values only');
      const tx = Math.ceil(cols / TILE_COLS), tiles = Math.ceil(rows / TILE_ROWS) * tx;
      const offs = p.tileOffsets, words = p.words;
      if (!offs || offs.length !== tiles + 1) return fail('tileOffsets must have tiles + 1 entries');
      if (offs[0] !== 0) return fail('tileOffsets[0] must be 0');
      for (let t = 0; t < tiles; t++) {
        const count = offs[t + 1]! - offs[t]!;
        // Each tile: its stored elements plus at most 3 repeats of its last word, a multiple of 4.
        if (count < 0 || count % 4 !== 0 || count > TILE_ROWS * TILE_COLS + 4) return fail(`tile ${t} has ${count} words`);
      }
      if (!words || words.length !== offs[tiles]!) return fail('words must hold tileOffsets[tiles] entries');
      for (let t = 0; t < tiles; t++) {
        const r0 = Math.floor(t / tx) * TILE_ROWS, c0 = (t % tx) * TILE_COLS;
        // Any order within a tile (packers sort words by shared-memory bank), each position once.
        const seen = new Set<number>();
        let repeats = 0;
        for (let i = offs[t]!; i < offs[t + 1]!; i++) {
          if (i > offs[t]! && words[i] === words[i - 1]) {
            if (++repeats > 3) return fail(`tile ${t}: more than 3 padding words`);
            continue;
          }
          if (repeats) return fail(`tile ${t}: a stored word after the padding`);
          const pos = words[i]! >>> 16;
          if (pos >= TILE_ROWS * TILE_COLS) return fail(`word ${i}: position ${pos} outside the tile`);
          const row = Math.floor(pos / TILE_COLS);
          const col = (pos % TILE_COLS) ^ ((row % 8) << 3);  // undo pos = row*64 + (col ^ ((row % 8) << 3))
          if (r0 + row >= rows || c0 + col >= cols) return fail(`word ${i}: outside the matrix`);
          const key = row * TILE_COLS + col;
          if (seen.has(key)) return fail(`tile ${t}: a position stored twice`);
          seen.add(key);
          dense[(r0 + row) * cols + c0 + col] = words[i]! & 0xffff;
        }
      }
      return { ok: true, dense };
    }
  }
}
