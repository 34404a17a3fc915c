/**
 * AST's Sparse Low-Rank Boosting (SLoRB, docs/adapters.md): a pruned layer y = (W ⊙ M)x plus a
 * cheap term S(Px) that gives back part of what pruning removed. P [K/k, K] sums each group of k
 * consecutive inputs (or is a general matrix), S [M, K/k] holds one scale per row and group. A
 * SparseMatrix carries the term (`slorb` option), saves and loads it, and linear()/spmm() add it.
 */
import { bytesPerElement, describe, isFloatDType, type FloatDType } from './dtype.js';
import type { GpuSlorbTerm } from './gpu-cost-model.js';
import { ArgumentError, DTypeError, NumericError, ShapeError } from './errors.js';
import { fmtShape } from './shape.js';
import { Tensor, checkTensor } from './tensor.js';
import { maskOf, matrixOf } from './training.js';

/** The SLoRB term a SparseMatrix carries. Its tensors are shared, not copied. */
export interface SlorbTerm {
  /** S [rows, cols / groupSize]: any float dtype, or int8 with `rowScales` (slorb.quantize). */
  scales: Tensor;
  /** int8 scales only: [rows] float, S[r, i] = rowScales[r] · scales[r, i]. */
  rowScales?: Tensor;
  /** k: inputs per group; must divide the weight's cols. AST's configs use 16. */
  groupSize: number;
  /** A general P [cols / groupSize, cols] replacing the group sums (AST's trainable projection). */
  projection?: Tensor;
}

export type SlorbInit = 'mean' | 'sum' | 'zero' | 'xavier';

export interface SlorbInitOptions {
  /** Inputs per group; default 16. */
  groupSize?: number;
  /** Default 'mean' (AST's default). */
  init?: SlorbInit;
  /** 'xavier' only: the random seed. */
  seed?: number;
  /** dtype of the returned scales; default float32. */
  dtype?: FloatDType;
}

function checkGroupSize(k: unknown, cols: number, what: string): number {
  if (!Number.isSafeInteger(k) || (k as number) < 1) throw new ArgumentError(`${what}: expected a positive integer, got ${describe(k)}`);
  if (cols % (k as number) !== 0) throw new ShapeError(`${what}: ${String(k)} does not divide the weight's ${cols} columns`);
  return k as number;
}

function checkFinite(t: Tensor, what: string): void {
  const v = t.toFloat32Array();
  for (let i = 0; i < v.length; i++)
    if (!Number.isFinite(v[i]!)) throw new NumericError(`${what}: element ${i} is ${v[i]}`);
}

function floatMatrix(t: unknown, rows: number, cols: number, what: string, int8 = false): Tensor {
  checkTensor(t, what);
  const m = t as Tensor;
  if (!int8 && !isFloatDType(m.dtype)) throw new DTypeError(`${what}: expected a float dtype (or int8 with rowScales), got ${m.dtype}`);
  if (m.ndim !== 2 || m.shape[0] !== rows || m.shape[1] !== cols)
    throw new ShapeError(`${what}: expected [${rows}, ${cols}], got ${fmtShape(m.shape)}`);
  return m;
}

/** Validates a SLoRB term for a [rows, cols] weight (shapes, group size, dtypes, NaN/Inf). */
export function checkSlorb(v: unknown, rows: number, cols: number, what: string): SlorbTerm {
  if (typeof v !== 'object' || v === null) throw new ArgumentError(`${what}: expected { scales, groupSize, projection? }, got ${describe(v)}`);
  const o = v as Record<string, unknown>;
  for (const key of Object.keys(o))
    if (!['scales', 'groupSize', 'projection', 'rowScales'].includes(key))
      throw new ArgumentError(`${what}.${key}: unknown field (expected scales, groupSize, projection, rowScales)`);
  const groupSize = checkGroupSize(o.groupSize, cols, `${what}.groupSize`);
  const groups = cols / groupSize;
  const int8 = o.scales instanceof Tensor && o.scales.dtype === 'int8';
  const scales = floatMatrix(o.scales, rows, groups, `${what}.scales`, int8);
  const term: SlorbTerm = { scales, groupSize };
  if (int8) {
    if (o.rowScales === undefined || o.rowScales === null)
      throw new ArgumentError(`${what}.rowScales: int8 scales need a float tensor [${rows}] of row scales (slorb.quantize makes both)`);
    checkTensor(o.rowScales, `${what}.rowScales`);
    const rs = o.rowScales as Tensor;
    if (!isFloatDType(rs.dtype)) throw new DTypeError(`${what}.rowScales: expected a float dtype, got ${rs.dtype}`);
    if (rs.ndim !== 1 || rs.shape[0] !== rows) throw new ShapeError(`${what}.rowScales: expected [${rows}], got ${fmtShape(rs.shape)}`);
    checkFinite(rs, `${what}.rowScales`);
    term.rowScales = rs;
  } else {
    if (o.rowScales !== undefined && o.rowScales !== null)
      throw new ArgumentError(`${what}.rowScales: only int8 scales take row scales, these are ${scales.dtype}`);
    checkFinite(scales, `${what}.scales`);
  }
  if (o.projection !== undefined && o.projection !== null) {
    term.projection = floatMatrix(o.projection, groups, cols, `${what}.projection`);
    checkFinite(term.projection, `${what}.projection`);
  }
  return term;
}

/** A uniform [0, 1) stream from a seed (splitmix64 in 53-bit arithmetic), for the xavier draws. */
function uniform(seed: number): () => number {
  let s = BigInt.asUintN(64, BigInt(seed));
  return () => {
    s = BigInt.asUintN(64, s + 0x9e3779b97f4a7c15n);
    let z = s;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    z ^= z >> 31n;
    return Number(z >> 11n) / 2 ** 53;
  };
}

function xavier(rows: number, cols: number, seed: number): Float32Array {
  const a = Math.sqrt(6 / (rows + cols));
  const u = uniform(seed);
  return Float32Array.from({ length: rows * cols }, () => (2 * u() - 1) * a);
}

function seedOf(seed: unknown): number {
  if (seed === undefined) return 0;
  if (!Number.isSafeInteger(seed)) throw new ArgumentError(`options.seed: expected an integer, got ${describe(seed)}`);
  return seed as number;
}

export const slorb = {
  /**
   * The initial S [rows, cols/k] for weight w and keep-mask (1 = kept): 'mean' is the mean over
   * each group's k slots of W ⊙ (1 − M) (kept slots count as zero), 'sum' the sum, 'zero' zeros,
   * 'xavier' Xavier-uniform draws on S's own shape (AST's code applies xavier to its trainable P
   * and starts S at zero: use init 'zero' with slorb.projection(cols, k, { init: 'xavier' }) for that).
   */
  init(w: Tensor, mask: Tensor | Uint8Array, options: SlorbInitOptions = {}): Tensor {
    const { rows, cols, data } = matrixOf(w, 'w');
    if (typeof options !== 'object' || options === null) throw new ArgumentError('options: expected an object');
    const keep = maskOf(mask, rows * cols, 'mask');
    const k = checkGroupSize(options.groupSize ?? 16, cols, 'options.groupSize');
    const init = options.init ?? 'mean';
    if (!['mean', 'sum', 'zero', 'xavier'].includes(init)) throw new ArgumentError(`options.init: expected 'mean', 'sum', 'zero' or 'xavier', got ${describe(init)}`);
    const dtype = options.dtype ?? 'float32';
    if (!isFloatDType(dtype)) throw new DTypeError(`options.dtype: expected a float dtype, got ${describe(dtype)}`);
    const groups = cols / k;
    let s: Float32Array;
    if (init === 'xavier') s = xavier(rows, groups, seedOf(options.seed));
    else {
      s = new Float32Array(rows * groups);
      if (init !== 'zero') {
        for (let r = 0; r < rows; r++) for (let g = 0; g < groups; g++) {
          let acc = 0;
          for (let j = g * k; j < (g + 1) * k; j++) {
            const v = data[r * cols + j]!;
            if (!Number.isFinite(v)) throw new NumericError(`w: element [${r}, ${j}] is ${v}`);
            if (!keep[r * cols + j]) acc += v;
          }
          s[r * groups + g] = init === 'mean' ? acc / k : acc;
        }
      }
    }
    const t = Tensor.from(s, [rows, groups]);
    return dtype === 'float32' ? t : t.to(dtype);
  },

  /**
   * S as int8 with one scale per row (symmetric: rowScales[r] = max_i |S[r, i]| / 127, rounded to
   * `scaleDtype` first, then q = round(S / rowScale) clamped to ±127), for
   * `slorb: { ...slorb.quantize(S), groupSize }`. At k = 16 the term then reads 1/16 byte per
   * weight instead of 1/8 (bf16). Errors are at most half a step, rowScales[r] / 2, per scale.
   */
  quantize(scales: Tensor, options: { scaleDtype?: FloatDType } = {}): { scales: Tensor; rowScales: Tensor } {
    checkTensor(scales, 'scales');
    if (!isFloatDType(scales.dtype)) throw new DTypeError(`scales: expected a float dtype, got ${scales.dtype}`);
    if (scales.ndim !== 2) throw new ShapeError(`scales: expected [rows, groups], got ${fmtShape(scales.shape)}`);
    if (typeof options !== 'object' || options === null) throw new ArgumentError('options: expected an object');
    const scaleDtype = options.scaleDtype ?? 'float32';
    if (!isFloatDType(scaleDtype)) throw new DTypeError(`options.scaleDtype: expected a float dtype, got ${describe(scaleDtype)}`);
    const [rows, G] = [scales.shape[0]!, scales.shape[1]!];
    const s = scales.toFloat32Array();
    checkFinite(scales, 'scales');
    const amax = new Float32Array(rows);
    for (let r = 0; r < rows; r++) for (let i = 0; i < G; i++) amax[r] = Math.max(amax[r]!, Math.abs(s[r * G + i]!));
    // The row scales as stored (rounded to their dtype), so the codes are chosen for the scale used.
    const rsT = Tensor.from(amax.map((a) => a / 127), [rows]).to(scaleDtype);
    const rs = rsT.toFloat32Array();
    const q = new Int8Array(rows * G);
    for (let r = 0; r < rows; r++) {
      if (!Number.isFinite(rs[r]!)) throw new NumericError(`scales: row ${r}'s scale ${amax[r]! / 127} overflows ${scaleDtype}`);
      if (rs[r] === 0) continue;
      for (let i = 0; i < G; i++) q[r * G + i] = Math.max(-127, Math.min(127, Math.round(s[r * G + i]! / rs[r]!)));
    }
    return { scales: Tensor.from(q, [rows, G], { dtype: 'int8' }), rowScales: rsT };
  },

  /**
   * The dense weight that computes the same layer: W' = W + S·P (in float64, rounded to float32 and
   * then to w's dtype), w being the matrix's toDense() (W ⊙ M) and `term` its SLoRB term. Every
   * column of a group gets that row's scale, so W' has no zeros where S does not: this is the
   * layer's dense spelling (`sparsekit unpack --slorb fold`), not a sparse weight. A value that
   * overflows w's dtype is ERR_NUMERIC.
   */
  fold(w: Tensor, term: SlorbTerm): Tensor {
    const { rows, cols, data } = matrixOf(w, 'w');
    const t = checkSlorb(term, rows, cols, 'term');
    const G = cols / t.groupSize, k = t.groupSize;
    const sv = t.scales.toFloat32Array(), rs = t.rowScales?.toFloat32Array(), p = t.projection?.toFloat32Array();
    const out = new Float32Array(rows * cols);
    const srow = new Float64Array(G);
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < G; i++) srow[i] = sv[r * G + i]! * (rs ? rs[r]! : 1);
      for (let j = 0; j < cols; j++) {
        let add = 0;
        if (!p) add = srow[Math.floor(j / k)]!;
        else for (let i = 0; i < G; i++) add += srow[i]! * p[i * cols + j]!;
        out[r * cols + j] = data[r * cols + j]! + add;
      }
    }
    const y = Tensor.from(out, [rows, cols]);
    const res = w.dtype === 'float32' ? y : y.to(w.dtype);
    const back = res === y ? out : res.toFloat32Array();
    for (let i = 0; i < back.length; i++)
      if (!Number.isFinite(back[i]!)) throw new NumericError(`w: element [${Math.floor(i / cols)}, ${i % cols}] plus the term overflows ${w.dtype}`);
    return res;
  },

  /** P [cols/k, cols]: 'sum' (default) is the fixed 0/1 group-sum matrix, 'xavier' Xavier-uniform draws (AST's trainable P). */
  projection(cols: number, groupSize: number, options: { init?: 'sum' | 'xavier'; seed?: number } = {}): Tensor {
    if (!Number.isSafeInteger(cols) || cols < 0) throw new ShapeError(`cols: expected a non-negative integer, got ${describe(cols)}`);
    const k = checkGroupSize(groupSize, cols, 'groupSize');
    const groups = cols / k;
    const init = options.init ?? 'sum';
    if (init !== 'sum' && init !== 'xavier') throw new ArgumentError(`options.init: expected 'sum' or 'xavier', got ${describe(init)}`);
    if (init === 'xavier') return Tensor.from(xavier(groups, cols, seedOf(options.seed)), [groups, cols]);
    const p = new Float32Array(groups * cols);
    for (let g = 0; g < groups; g++) p.fill(1, g * cols + g * k, g * cols + (g + 1) * k);
    return Tensor.from(p, [groups, cols]);
  },
};

/** How the activations and the output are laid out: linear's x [N, K] / y [N, M], or spmm's b [K, N] / y [M, N]. */
export interface SlorbLayout {
  n: number;
  xTokStride: number;
  xFeatStride: number;
  outTokStride: number;
  outRowStride: number;
}

/** What the GPU cost model needs of a term: k and the bytes per element of S, its row scales, P. */
export function slorbCost(term: SlorbTerm): GpuSlorbTerm {
  return {
    groupSize: term.groupSize, scaleBytes: bytesPerElement(term.scales.dtype),
    ...(term.rowScales ? { rowScaleBytes: bytesPerElement(term.rowScales.dtype) } : {}),
    ...(term.projection ? { projectionBytes: bytesPerElement(term.projection.dtype) } : {}),
  };
}

/** The term's tensors as the native layer takes them (the CPU call below, the GPU upload, its replay). */
export function slorbTermArgs(term: SlorbTerm) {
  return {
    groupSize: term.groupSize,
    scales: term.scales.toTypedArray(), scalesDtype: term.scales.dtype,
    rowScales: term.rowScales ? term.rowScales.toTypedArray() : null, rowScalesDtype: term.rowScales?.dtype ?? 'float32',
    proj: term.projection ? term.projection.toTypedArray() : null, projDtype: term.projection?.dtype ?? 'float32',
  };
}

/** The native call that adds S(Px) to `base` (float32, from the sparse kernel) into `out`. */
export function slorbCall(term: SlorbTerm, rows: number, cols: number, x: ArrayBufferView, xDtype: FloatDType, layout: SlorbLayout,
                          base: Float32Array, out: ArrayBufferView, outDtype: FloatDType) {
  const t = slorbTermArgs(term);
  // Field by field: V8 copied a spread of t into this 19-key object on its slow path, 10-40 us a
  // call (a tenth of a 4096x4096 product at one token).
  return {
    groupSize: t.groupSize, scales: t.scales, scalesDtype: t.scalesDtype, rowScales: t.rowScales, rowScalesDtype: t.rowScalesDtype,
    proj: t.proj, projDtype: t.projDtype, rows, cols, groups: cols / term.groupSize, n: layout.n,
    x, xDtype, xTokStride: layout.xTokStride, xFeatStride: layout.xFeatStride,
    base, out, outDtype, outTokStride: layout.outTokStride, outRowStride: layout.outRowStride,
  };
}

export type SlorbNativeArgs = ReturnType<typeof slorbCall>;
