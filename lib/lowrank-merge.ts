/**
 * Merging a low-rank update (a LoRA adapter: W' = W + s·B·A) into a pruned weight without filling
 * its zeros. With keepMask (the default) only the stored positions change, computed straight on
 * each format's parts (nothing is densified), so the sparsity before and after is identical.
 */
import type { FloatDType, TypedArray } from './dtype.js';
import { ArgumentError, DTypeError, FormatError, NumericError, ShapeError, fromNativeError } from './errors.js';
import type { PartName } from './native.js';
import { SparseMatrix } from './sparse-matrix.js';
import { Tensor, checkTensor, convertArray } from './tensor.js';
import { maskOf, matrixOf } from './training.js';
import { fmtShape } from './shape.js';

export interface MergeLowRankOptions {
  /** s in W + s·B·A (PEFT: lora_alpha / r, or lora_alpha / √r with rsLoRA); default 1. */
  scale?: number;
  /**
   * true (default): only stored (kept) positions change; false: the full W + s·B·A, repacked in
   * the same format (an nm weight cannot hold it: ERR_FORMAT).
   */
  keepMask?: boolean;
  /** Dense Tensor weights only: the keep-mask (1 = kept); default: the nonzeros of w. */
  mask?: Tensor | Uint8Array;
}

const F16_MAX = 65504;

/** The low-rank factors as float64: A transposed to [cols, r] so each (row, col) dot product is contiguous. */
function factors(A: Tensor, B: Tensor, rows: number, cols: number) {
  const a = matrixOf(A, 'A'), b = matrixOf(B, 'B');
  const r = a.rows;
  if (a.cols !== cols) throw new ShapeError(`A: expected [r, ${cols}] (w has ${cols} columns), got ${fmtShape(A.shape)}`);
  if (b.rows !== rows) throw new ShapeError(`B: expected [${rows}, r] (w has ${rows} rows), got ${fmtShape(B.shape)}`);
  if (b.cols !== r) throw new ShapeError(`B: rank ${b.cols} does not match A's rank ${r} (A ${fmtShape(A.shape)}, B ${fmtShape(B.shape)})`);
  const at = new Float64Array(cols * r);
  for (let t = 0; t < r; t++) for (let j = 0; j < cols; j++) {
    const v = a.data[t * cols + j]!;
    if (!Number.isFinite(v)) throw new NumericError(`A: element [${t}, ${j}] is ${v}`);
    at[j * r + t] = v;
  }
  for (let i = 0; i < b.data.length; i++)
    if (!Number.isFinite(b.data[i]!)) throw new NumericError(`B: element [${Math.floor(i / r)}, ${i % r}] is ${b.data[i]}`);
  const bd = Float64Array.from(b.data);
  /** (B·A)[i, j]. */
  return (i: number, j: number) => {
    let s = 0;
    const bi = i * r, aj = j * r;
    for (let t = 0; t < r; t++) s += bd[bi + t]! * at[aj + t]!;
    return s;
  };
}

/** Decodes values to float32, applies f(index, value), encodes back to the dtype. */
function mapValues(values: TypedArray, dtype: FloatDType, f: (k: number, v: number) => number): TypedArray {
  const f32 = dtype === 'float32' ? Float32Array.from(values as Float32Array) : (convertArray(values, dtype, 'float32') as Float32Array);
  for (let k = 0; k < f32.length; k++) {
    const v = f(k, f32[k]!);
    if (v !== f32[k]) f32[k] = v;
  }
  for (let k = 0; k < f32.length; k++)
    if (!Number.isFinite(f32[k]!) || (dtype === 'float16' && Math.abs(f32[k]!) > F16_MAX))
      throw new NumericError(`mergeLowRank: merged value ${f32[k]} does not fit ${dtype}`);
  return dtype === 'float32' ? f32 : convertArray(f32, 'float32', dtype);
}

/** Calls visit(valueIndex, row, col) for every stored value of a bitmap/nm-style mask layout; -1 col for padding. */
function forEachMaskBit(masks: Int32Array, rows: number, words: number, cols: number, start: (r: number) => number,
                        visit: (k: number, r: number, c: number) => void): void {
  for (let r = 0; r < rows; r++) {
    let k = start(r);
    for (let w = 0; w < words; w++) {
      let bits = masks[r * words + w]! >>> 0;
      while (bits !== 0) {
        const j = 31 - Math.clz32(bits & -bits);
        bits = (bits & (bits - 1)) >>> 0;
        const c = 32 * w + j;
        visit(k++, r, c < cols ? c : -1);
      }
    }
  }
}

/** New value parts for `w` with s·(B·A)[r, c] added at every stored position. */
function mergeParts(w: SparseMatrix, delta: (i: number, j: number) => number, scale: number): Partial<Record<PartName, TypedArray>> {
  const parts = w.parts();
  const get = (name: string) => parts[name]!.toTypedArray();
  const { rows, cols } = w;
  const dtype = w.dtype as FloatDType;  // quantized weights are refused by mergeLowRank
  const add = (v: number, r: number, c: number) => v + scale * delta(r, c);
  switch (w.format) {
    case 'dense':  // stores every position: its pruned ones are the zeros
      return { values: mapValues(get('values'), dtype, (k, v) => (v === 0 ? 0 : add(v, Math.floor(k / cols), k % cols))) };
    case 'csr': {
      const rowPtr = get('rowPtr') as Int32Array, colIdx = get('colIdx') as Int32Array;
      const rowOf = new Int32Array(colIdx.length);
      for (let r = 0; r < rows; r++) rowOf.fill(r, rowPtr[r]!, rowPtr[r + 1]!);
      return { rowPtr, colIdx, values: mapValues(get('values'), dtype, (k, v) => add(v, rowOf[k]!, colIdx[k]!)) };
    }
    case 'bitmap':
    case 'nm': {
      const masks = get('masks') as Int32Array;
      const words = masks.length / Math.max(rows, 1);
      const rc = new Int32Array(2 * get('values').length).fill(-1);
      const groups = w.format === 'nm' ? Math.ceil(cols / w.m!) : 0;
      const rowPtr = w.format === 'bitmap' ? (get('rowPtr') as Int32Array) : null;
      forEachMaskBit(masks, rows, rows ? words : 0, cols, (r) => (rowPtr ? rowPtr[r]! : r * groups * w.n!), (k, r, c) => {
        rc[2 * k] = r;
        rc[2 * k + 1] = c;
      });
      // Padding columns of an nm weight (c = -1) hold zeros and must stay zero.
      const values = mapValues(get('values'), dtype, (k, v) => (rc[2 * k + 1]! < 0 ? v : add(v, rc[2 * k]!, rc[2 * k + 1]!)));
      return w.format === 'bitmap' ? { rowPtr: rowPtr!, masks, values } : { masks, values };
    }
    case 'tiled-csl': {
      const offsets = get('tileOffsets') as Int32Array, words = get('words') as Int32Array;
      const tilesX = Math.ceil(cols / 64);
      const low = new Uint16Array(words.length);
      const rc = new Int32Array(2 * words.length);
      for (let t = 0; t + 1 < offsets.length; t++) {
        const ty = Math.floor(t / tilesX), tx = t % tilesX;
        for (let k = offsets[t]!; k < offsets[t + 1]!; k++) {
          const word = words[k]! >>> 0;
          const pos = word >>> 16, lr = pos >>> 6;
          low[k] = word & 0xffff;
          rc[2 * k] = 128 * ty + lr;
          rc[2 * k + 1] = 64 * tx + ((pos & 63) ^ ((lr & 7) << 3));
        }
      }
      // Padding words repeat a tile's last word, so they get the same merged value; zero words are
      // padding at unstored positions (the packer's bank order, docs/formats.md) and stay zero.
      const merged = mapValues(low, dtype, (k, v) => (v === 0 ? v : add(v, rc[2 * k]!, rc[2 * k + 1]!))) as Uint16Array;
      const out = new Int32Array(words.length);
      for (let k = 0; k < words.length; k++) out[k] = ((words[k]! & ~0xffff) | merged[k]!) | 0;
      return { tileOffsets: offsets, words: out };
    }
  }
}

function checkOptions(options: unknown): { scale: number; keepMask: boolean; mask?: Tensor | Uint8Array } {
  if (typeof options !== 'object' || options === null) throw new ArgumentError('options: expected an object');
  const o = options as MergeLowRankOptions;
  const scale = o.scale ?? 1;
  if (typeof scale !== 'number' || !Number.isFinite(scale)) throw new ArgumentError(`options.scale: expected a finite number, got ${String(scale)}`);
  const keepMask = o.keepMask ?? true;
  if (typeof keepMask !== 'boolean') throw new ArgumentError(`options.keepMask: expected a boolean, got ${String(keepMask)}`);
  return { scale, keepMask, mask: o.mask };
}

/**
 * W + scale·B·A for A [r, cols] and B [rows, r] (LoRA's lora_A and lora_B), in w's format and
 * dtype. With keepMask (default) pruned positions stay exactly zero and the stored structure is
 * unchanged; arithmetic is float64, rounded once to the weight's dtype.
 */
export function mergeLowRank(w: Tensor, A: Tensor, B: Tensor, options?: MergeLowRankOptions): Tensor;
export function mergeLowRank(w: SparseMatrix, A: Tensor, B: Tensor, options?: MergeLowRankOptions): SparseMatrix;
export function mergeLowRank(w: Tensor | SparseMatrix, A: Tensor, B: Tensor, options: MergeLowRankOptions = {}): Tensor | SparseMatrix {
  const o = checkOptions(options);
  if (w instanceof Tensor) {
    const { rows, cols, data } = matrixOf(w, 'w');
    const delta = factors(A, B, rows, cols);
    const keep = o.mask !== undefined ? maskOf(o.mask, rows * cols, 'options.mask') : null;
    const values = mapValues(w.toTypedArray(), w.dtype as FloatDType, (k, v) => {
      const kept = keep ? keep[k] !== 0 : data[k] !== 0;
      return !o.keepMask || kept ? v + o.scale * delta(Math.floor(k / cols), k % cols) : keep ? 0 : v;
    });
    return Tensor.from(values, [rows, cols], { dtype: w.dtype });
  }
  if (!(w instanceof SparseMatrix)) throw new ArgumentError(`w: expected a Tensor or SparseMatrix, got ${String(w)}`);
  if (o.mask !== undefined) throw new ArgumentError('options.mask: a SparseMatrix keeps its own stored positions; the mask is for dense Tensor weights');
  if (w.quant)
    throw new DTypeError(`w: ${w.dtype} values sit on a quantization grid that a merge would leave; merge into the float weight, then quantize`);
  const delta = factors(A, B, w.rows, w.cols);
  if (!o.keepMask) {
    const dense = mergeLowRank(w.toDense(), A, B, { scale: o.scale, keepMask: false });
    if (w.format === 'dense') return rebuild(w, { values: dense.toTypedArray() });
    if (w.format === 'nm')
      throw new FormatError(`options.keepMask: false fills pruned positions, which an nm ${w.n}:${w.m} weight cannot hold; ` +
                            "merge with keepMask: true, or convert w to 'bitmap' or 'csr' first");
    try {
      return SparseMatrix.fromDense(dense, { format: w.format, slorb: w.slorb });
    } catch (e) {
      throw new FormatError(`options.keepMask: the merged weight cannot be stored as ${w.format}: ${fromNativeError(e).message}`);
    }
  }
  return rebuild(w, mergeParts(w, delta, o.scale));
}

function rebuild(w: SparseMatrix, parts: Partial<Record<PartName, TypedArray>>): SparseMatrix {
  return SparseMatrix.fromParts(w.format, { shape: w.shape, dtype: w.dtype, n: w.n, m: w.m, parts, slorb: w.slorb });
}

/** The number of stored positions that are nonzero (the sparsity a user sees), for before/after checks. */
export function nonzeroCount(w: Tensor | SparseMatrix): number {
  const t = w instanceof SparseMatrix ? w.toDense() : (checkTensor(w, 'w'), w);
  const d = t.toFloat32Array();
  let n = 0;
  for (let i = 0; i < d.length; i++) if (d[i] !== 0) n++;
  return n;
}
