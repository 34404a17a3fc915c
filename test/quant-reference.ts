// Independent references for quantized weights: float32 -> float16 rounding, round-to-nearest
// group quantization and dequantization from the raw parts, written without sparsekit code.
import { f16ToNumber } from './reference.js';

/** Nearest float16 (ties to even) of a finite number, as bits. */
export function toF16Bits(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  const e = Math.max(-14, Math.floor(Math.log2(a || 2 ** -30)));
  const ulp = 2 ** (e - 10);
  let q = a / ulp;
  const fl = Math.floor(q), frac = q - fl;
  q = frac > 0.5 || (frac === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  const v = q * ulp;
  // Re-encode v (may have rounded up into the next binade).
  if (v === 0) return sign;
  const e2 = Math.max(-14, Math.floor(Math.log2(v)));
  if (v < 2 ** -14) return sign | Math.round(v / 2 ** -24);
  return sign | ((e2 + 15) << 10) | Math.round((v / 2 ** e2 - 1) * 1024);
}

function roundEven(x: number): number {
  const f = Math.floor(x), d = x - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

export interface RefGrid { scale: number; zero: number }

/** The grid of one group from its kept values (0 always representable), as docs/formats.md specifies. */
export function fitGroup(values: number[], bits: number, symmetric: boolean): RefGrid {
  const lo = Math.min(0, ...values), hi = Math.max(0, ...values);
  let s = symmetric ? Math.max(-lo, hi) / (2 ** (bits - 1) - 1) : Math.fround(hi - lo) / (2 ** bits - 1);
  if (!(s > 0)) s = 1;
  let h = toF16Bits(Math.fround(s));
  if ((h & 0x7fff) === 0) h = 1;
  const scale = f16ToNumber(h);
  const zero = symmetric ? 2 ** (bits - 1) : Math.min(Math.max(roundEven(Math.fround(-lo / scale)), 0), 2 ** bits - 1);
  return { scale, zero };
}

export function quantizeValue(w: number, g: RefGrid, bits: number): number {
  const q = Math.min(Math.max(roundEven(Math.fround(w / g.scale)) + g.zero, 0), 2 ** bits - 1);
  return (q - g.zero) * g.scale;
}

/**
 * Dequantizes a matrix from its raw parts: dense (values only), nm or bitmap (masks, rowPtr).
 * Returns rows*cols float64.
 */
export function dequantRef(format: string, rows: number, cols: number, bits: number, groupSize: number,
                           parts: Record<string, ArrayLike<number>>, nm?: { n: number; m: number }): Float64Array {
  const out = new Float64Array(rows * cols);
  const codes = parts.values!, scales = parts.scales!, zeros = parts.zeros;
  const code = (i: number) => (bits === 4 ? (codes[i >> 1]! >> ((i & 1) * 4)) & 15 : codes[i]!);
  const gpr = cols / groupSize;
  const wpr = Math.ceil(cols / 32);
  let vi = 0;
  for (let r = 0; r < rows; r++) {
    if (format === 'bitmap') vi = parts.rowPtr![r]!;
    if (format === 'nm') vi = r * (cols / nm!.m) * nm!.n;
    for (let c = 0; c < cols; c++) {
      const kept = format === 'dense' || ((parts.masks![r * wpr + (c >> 5)]! >>> (c & 31)) & 1) === 1;
      if (!kept) continue;
      const g = r * gpr + Math.floor(c / groupSize);
      const z = zeros ? zeros[g]! : 2 ** (bits - 1);
      out[r * cols + c] = (code(vi++) - z) * f16ToNumber(scales[g]!);
    }
  }
  return out;
}

/**
 * x [N, K] (row-major) rounded as `activations: 'int8'` documents it, per vector and group of G
 * columns: s = fp32(max|x| / 127) (1 for an all-zero group), xq = round-half-even(fp32(x / s))
 * clamped to ±127. Returns xq·s k-major (element (k, j) at k·N + j), for matmulRef.
 */
export function roundX8Ref(xv: Float32Array, N: number, K: number, G: number): Float64Array {
  const xd = new Float64Array(K * N);
  for (let j = 0; j < N; j++)
    for (let g = 0; g < K / G; g++) {
      let amax = 0;
      for (let k = g * G; k < (g + 1) * G; k++) amax = Math.max(amax, Math.abs(xv[j * K + k]!));
      const sx = amax > 0 ? Math.fround(amax / 127) : 1;
      for (let k = g * G; k < (g + 1) * G; k++) xd[k * N + j] = Math.max(-127, Math.min(127, roundEven(Math.fround(xv[j * K + k]! / sx)))) * sx;
    }
  return xd;
}
