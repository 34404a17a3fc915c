/**
 * Facts about a weight that inspect and pack need: how sparse it is, whether it already follows
 * an N:M pattern, and which packed format stores it in the fewest bytes.
 */
import { bytesPerElement, isFloatDType, type FloatDType } from '../dtype.js';
import type { Format } from '../sparse-matrix.js';
import type { Tensor } from '../tensor.js';

export interface WeightStats {
  numel: number;
  zeros: number;
  sparsity: number;
  /** The tightest standard pattern every row follows along K ('2:4' implies '4:8'), or null. */
  nm: '2:4' | '4:8' | null;
}

/** Counts zeros and checks 2:4 / 4:8 compliance of a [rows, cols] tensor (trailing partial groups count as padded with zeros). */
export function weightStats(t: Tensor): WeightStats {
  const d = t.toTypedArray();
  const numel = d.length;
  const rows = t.ndim >= 2 ? t.shape[0]! : 1;
  const cols = rows === 0 ? 0 : numel / rows;
  // 16-bit floats are raw bits: +0 and -0 are the zeros.
  const mask = t.dtype === 'float16' || t.dtype === 'bfloat16' ? 0x7fff : -1;
  let nonzero = 0;
  let ok24 = true, ok48 = true;
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let g4 = 0, g8 = 0;
    for (let k = 0; k < cols; k++) {
      const v = d[base + k]!;
      const nz = mask === -1 ? v !== 0 : (v & mask) !== 0;
      if (nz) { nonzero++; g4++; g8++; }
      if ((k & 3) === 3 || k === cols - 1) { if (g4 > 2) ok24 = false; g4 = 0; }
      if ((k & 7) === 7 || k === cols - 1) { if (g8 > 4) ok48 = false; g8 = 0; }
    }
  }
  const zeros = numel - nonzero;
  return { numel, zeros, sparsity: numel === 0 ? 0 : zeros / numel, nm: t.ndim !== 2 ? null : ok24 ? '2:4' : ok48 ? '4:8' : null };
}

export interface FormatChoice {
  format: Format;
  n?: number;
  m?: number;
  /** Estimated bytes of the packed parts. */
  bytes: number;
}

/** Bytes each format would take for this weight (docs/formats.md layouts), null where it cannot hold it. */
export function formatSizes(rows: number, cols: number, dtype: FloatDType, s: WeightStats): FormatChoice[] {
  const b = bytesPerElement(dtype);
  const nnz = s.numel - s.zeros;
  const maskWords = rows * Math.ceil(cols / 32);
  const out: FormatChoice[] = [
    { format: 'dense', bytes: rows * cols * b },
    { format: 'bitmap', bytes: (rows + 1) * 4 + maskWords * 4 + nnz * b },
    { format: 'csr', bytes: (rows + 1) * 4 + nnz * (4 + b) },
  ];
  if (s.nm) {
    const [n, m] = s.nm === '2:4' ? [2, 4] : [4, 8];
    const groups = Math.ceil(cols / m);
    out.push({ format: 'nm', n, m, bytes: rows * Math.ceil((groups * m) / 32) * 4 + rows * groups * n * b });
  }
  return out;
}

/**
 * The format `--format auto` picks: the smallest estimate, N:M when it is within 2% of that (it
 * has the structured kernels), and dense unless packing saves at least 10%. Tiled-CSL is a GPU
 * layout and is only used when asked for.
 */
export function chooseFormat(rows: number, cols: number, dtype: FloatDType, s: WeightStats): FormatChoice {
  const sizes = formatSizes(rows, cols, dtype, s);
  const dense = sizes[0]!;
  let best = sizes.reduce((a, c) => (c.bytes < a.bytes ? c : a));
  const nm = sizes.find((c) => c.format === 'nm');
  if (nm && nm.bytes <= best.bytes * 1.02) best = nm;
  return best.bytes <= dense.bytes * 0.9 ? best : dense;
}

/** Which tensors the pipelines treat as linear weights by default: 2-D floats that are not embeddings, heads or norms. */
export function isLinearWeight(name: string, t: { dtype: string | undefined; shape: readonly number[] }): boolean {
  return t.shape.length === 2 && isFloatDType(t.dtype) && !/(embed|lm_head|wte|wpe|norm)/i.test(name);
}

/** Whether every group of m consecutive weights along K (per row) has at most n nonzeros. */
export function followsNM(t: Tensor, n: number, m: number): boolean {
  if (t.ndim !== 2) return false;
  const d = t.toTypedArray();
  const [rows, cols] = t.shape as [number, number];
  const mask = t.dtype === 'float16' || t.dtype === 'bfloat16' ? 0x7fff : -1;
  for (let r = 0; r < rows; r++)
    for (let g = 0; g < cols; g += m) {
      let c = 0;
      for (let k = g; k < Math.min(g + m, cols); k++) {
        const v = d[r * cols + k]!;
        if (mask === -1 ? v !== 0 : (v & mask) !== 0) c++;
      }
      if (c > n) return false;
    }
  return true;
}
