/**
 * Training-side primitives for sparse fine-tuning loops (docs/adapters.md): AST's masked decay and
 * its schedule, the mask refresh, mask flip rates, and LoRAPrune's gradient-based importance.
 * They take exported tensors (any float dtype) and return float32 results, so a training loop in
 * any language can call them between steps.
 */
import { describe } from './dtype.js';
import { ArgumentError, DTypeError, NumericError, ShapeError } from './errors.js';
import { fmtShape } from './shape.js';
import { Tensor, checkTensor } from './tensor.js';
import { CalibrationStats } from './calibration.js';

/** λ_max of AST's LLaMA configuration. */
export const AST_LAMBDA_MAX = 6e-5;

export interface DecayScheduleOptions {
  /** Largest decay factor, reached at `increaseSteps`; default 6e-5 (AST's LLaMA config). */
  lambdaMax?: number;
  /** T_inc: steps of the linear ramp from 0 to lambdaMax. */
  increaseSteps: number;
}

/** A 2-D float weight as float32 values (converted from 16-bit dtypes). */
export function matrixOf(w: unknown, what: string): { rows: number; cols: number; data: Float32Array } {
  if (!(w instanceof Tensor)) throw new ArgumentError(`${what}: expected a Tensor, got ${describe(w)}`);
  checkTensor(w, what);
  if (w.ndim !== 2) throw new ShapeError(`${what}: expected a 2-D [rows, cols] tensor, got ${fmtShape(w.shape)}`);
  if (w.dtype !== 'float32' && w.dtype !== 'float16' && w.dtype !== 'bfloat16')
    throw new DTypeError(`${what}: expected a float dtype, got ${w.dtype}`);
  const data = w.dtype === 'float32' ? (w.toTypedArray() as Float32Array) : w.toFloat32Array();
  return { rows: w.shape[0]!, cols: w.shape[1]!, data };
}

/** A keep-mask (nonzero = kept) as bytes: a Uint8Array or a uint8 / bool-like Tensor of `size` elements. */
export function maskOf(mask: unknown, size: number, what: string): Uint8Array {
  let bytes: Uint8Array;
  if (mask instanceof Tensor) {
    checkTensor(mask, what);
    if (mask.dtype !== 'uint8') throw new DTypeError(`${what}: expected a uint8 mask (1 = kept), got ${mask.dtype}`);
    bytes = mask.toTypedArray() as Uint8Array;
  } else if (mask instanceof Uint8Array) {
    bytes = mask;
  } else {
    throw new ArgumentError(`${what}: expected a uint8 Tensor or a Uint8Array (1 = kept), got ${describe(mask)}`);
  }
  if (bytes.length !== size) throw new ShapeError(`${what}: ${bytes.length} elements, expected ${size}`);
  return bytes;
}

function checkStep(step: unknown, what: string): number {
  if (typeof step !== 'number' || !Number.isFinite(step) || step < 0)
    throw new ArgumentError(`${what}: expected a finite number >= 0, got ${describe(step)}`);
  return step;
}

/** AST's schedule λ(t) = λ_max · min(1, t / T_inc): a linear ramp, then constant. */
export function decayLambda(step: number, options: DecayScheduleOptions): number {
  checkStep(step, 'step');
  if (typeof options !== 'object' || options === null) throw new ArgumentError('options: expected { increaseSteps, lambdaMax? }');
  const lambdaMax = options.lambdaMax ?? AST_LAMBDA_MAX;
  if (typeof lambdaMax !== 'number' || !Number.isFinite(lambdaMax) || lambdaMax < 0)
    throw new ArgumentError(`options.lambdaMax: expected a finite number >= 0, got ${describe(lambdaMax)}`);
  const tInc = options.increaseSteps;
  if (typeof tInc !== 'number' || !Number.isFinite(tInc) || tInc < 0)
    throw new ArgumentError(`options.increaseSteps: expected a finite number >= 0, got ${describe(tInc)}`);
  return tInc === 0 ? lambdaMax : lambdaMax * Math.min(1, step / tInc);
}

/**
 * AST's decay term λ·(¬M ⊙ W): the extra gradient-like term its AdamW adds on pruned weights only
 * (it enters the update and the second moment, not the first moment). `lambda` is a number, or
 * `{ step, increaseSteps, lambdaMax? }` for the schedule. Returns float32 [rows, cols].
 */
export function maskedDecay(w: Tensor, mask: Tensor | Uint8Array, lambda: number | ({ step: number } & DecayScheduleOptions)): Tensor {
  const { rows, cols, data } = matrixOf(w, 'w');
  const keep = maskOf(mask, rows * cols, 'mask');
  let lam: number;
  if (typeof lambda === 'number') {
    if (!Number.isFinite(lambda)) throw new ArgumentError(`lambda: expected a finite number, got ${lambda}`);
    lam = lambda;
  } else if (typeof lambda === 'object' && lambda !== null) {
    lam = decayLambda(lambda.step, lambda);
  } else {
    throw new ArgumentError(`lambda: expected a number or { step, increaseSteps, lambdaMax? }, got ${describe(lambda)}`);
  }
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < out.length; i++) out[i] = keep[i] ? 0 : lam * data[i]!;
  return Tensor.from(out, [rows, cols]);
}

export type MaskPattern = { sparsity: number } | { n: number; m: number };

export interface RefreshMaskOptions {
  /** 'magnitude' ranks |W|; 'wanda' ranks |W|·√s_j with s_j the squared norm of input feature j. Default 'magnitude'. */
  score?: 'magnitude' | 'wanda';
  /** With score 'wanda': s_j per input feature (cols values), or the CalibrationStats that collected them. */
  activations?: CalibrationStats | Float32Array | Float64Array;
}

function checkPattern(p: unknown, cols: number): MaskPattern {
  if (typeof p !== 'object' || p === null) throw new ArgumentError(`pattern: expected { sparsity } or { n, m }, got ${describe(p)}`);
  const r = p as Record<string, unknown>;
  if ('sparsity' in r) {
    const s = r.sparsity;
    if (typeof s !== 'number' || !(s >= 0 && s < 1)) throw new ArgumentError(`pattern.sparsity: expected a number in [0, 1), got ${describe(s)}`);
    return { sparsity: s };
  }
  const { n, m } = r;
  if (!Number.isInteger(n) || !Number.isInteger(m) || (n as number) < 1 || (n as number) > (m as number) || (m as number) > 16)
    throw new ArgumentError(`pattern: n:m must be integers with 1 <= n <= m <= 16, got ${String(n)}:${String(m)}`);
  if (cols % (m as number) !== 0) throw new ShapeError(`pattern.m: ${String(m)} does not divide the weight's ${cols} columns`);
  return { n: n as number, m: m as number };
}

/** The score each weight is ranked by. */
function scores(data: Float32Array, rows: number, cols: number, options: RefreshMaskOptions): Float64Array {
  const score = options.score ?? 'magnitude';
  if (score !== 'magnitude' && score !== 'wanda') throw new ArgumentError(`options.score: expected 'magnitude' or 'wanda', got ${describe(score)}`);
  let colScale: Float64Array | null = null;
  if (score === 'wanda') {
    const a = options.activations;
    const s = a instanceof CalibrationStats ? a.sumOfSquares() : a;
    if (!(s instanceof Float32Array) && !(s instanceof Float64Array))
      throw new ArgumentError("options.activations: score 'wanda' needs the per-input-feature squared norms (CalibrationStats or a Float32Array)");
    if (s.length !== cols) throw new ShapeError(`options.activations: ${s.length} values, expected ${cols} (one per input feature)`);
    colScale = new Float64Array(cols);
    for (let j = 0; j < cols; j++) {
      if (!(s[j]! >= 0) || !Number.isFinite(s[j]!)) throw new NumericError(`options.activations[${j}]: expected a finite value >= 0, got ${s[j]}`);
      colScale[j] = Math.sqrt(s[j]!);
    }
  }
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < out.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) throw new NumericError(`w: element [${Math.floor(i / cols)}, ${i % cols}] is ${v}`);
    out[i] = colScale ? Math.abs(v) * colScale[i % cols]! : Math.abs(v);
  }
  return out;
}

/**
 * AST's mask refresh: recomputes the keep-mask from the current (dense) weight. For n:m, each
 * group of m consecutive inputs keeps its n highest scores (ties keep the lower column, as the
 * nm packer does); for a sparsity s, each row drops its floor(s·cols) lowest scores (ties drop the
 * lower column first, AST's stable ascending sort). Returns a [rows, cols] uint8 mask, 1 = kept.
 */
export function refreshMask(w: Tensor, pattern: MaskPattern, options: RefreshMaskOptions = {}): Tensor {
  const { rows, cols, data } = matrixOf(w, 'w');
  if (typeof options !== 'object' || options === null) throw new ArgumentError('options: expected an object');
  const p = checkPattern(pattern, cols);
  const sc = scores(data, rows, cols, options);
  const mask = new Uint8Array(rows * cols);
  if ('n' in p) {
    const idx: number[] = [];
    for (let g = 0; g < rows * cols; g += p.m) {
      idx.length = 0;
      for (let j = 0; j < p.m; j++) idx.push(g + j);
      idx.sort((a, b) => sc[b]! - sc[a]! || a - b);
      for (let j = 0; j < p.n; j++) mask[idx[j]!] = 1;
    }
  } else {
    const drop = Math.floor(p.sparsity * cols);
    const idx = new Array<number>(cols);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      for (let j = 0; j < cols; j++) idx[j] = base + j;
      idx.sort((a, b) => sc[a]! - sc[b]! || a - b);
      for (let j = drop; j < cols; j++) mask[idx[j]!] = 1;
    }
  }
  return Tensor.from(mask, [rows, cols], { dtype: 'uint8' });
}

/**
 * The fraction of positions where two keep-masks disagree (nonzero = kept): AST's `flip` (against
 * the mask of 10 steps before) and `init_flip` (against the first mask).
 */
export function maskFlipRate(a: Tensor | Uint8Array, b: Tensor | Uint8Array): number {
  const size = a instanceof Tensor ? a.size : a instanceof Uint8Array ? a.length : -1;
  const x = maskOf(a, Math.max(size, 0), 'a');
  if (b instanceof Tensor && a instanceof Tensor && fmtShape(a.shape) !== fmtShape(b.shape))
    throw new ShapeError(`b: shape ${fmtShape(b.shape)} differs from a's ${fmtShape(a.shape)}`);
  const y = maskOf(b, x.length, 'b');
  if (x.length === 0) return 0;
  let diff = 0;
  for (let i = 0; i < x.length; i++) if ((x[i] !== 0) !== (y[i] !== 0)) diff++;
  return diff / x.length;
}

export interface LoraTensors {
  /** lora_A [r, cols]. */
  A: Tensor;
  /** lora_B [rows, r]. */
  B: Tensor;
  /** ∂L/∂A [r, cols]. */
  gradA: Tensor;
  /** ∂L/∂B [rows, r]. */
  gradB: Tensor;
  /** The adapter's scale s in W + s·B·A (PEFT: lora_alpha / r); default 1. */
  scale?: number;
}

export type ImportanceAggregate =
  | 'weight'
  | 'row'
  | 'column'
  | { rows: number }
  | { columns: number };

export interface ImportanceResult {
  /** Per weight [rows, cols], or the sums per row / column / group of rows or columns. */
  importance: Tensor;
  /** Which aggregation produced it. */
  aggregate: 'weight' | 'row' | 'column' | 'rowGroup' | 'columnGroup';
}

/**
 * LoRAPrune's importance of every weight, estimated from the adapter and its gradients without the
 * gradient of W itself: I = |(W + s·B·A) ⊙ (∇B·A + B·∇A)|. `aggregate` sums it per output row,
 * per input column, or per group of `rows` consecutive rows (e.g. one attention head of q/k/v) or
 * `columns` consecutive columns (the same head seen by o_proj); see `sumImportance` to add the
 * groups of coupled weights into one score per structure (LLM-Pruner's dependency groups).
 */
export function loraPruneImportance(w: Tensor, lora: LoraTensors, aggregate: ImportanceAggregate = 'weight'): ImportanceResult {
  const { rows, cols, data } = matrixOf(w, 'w');
  if (typeof lora !== 'object' || lora === null) throw new ArgumentError('lora: expected { A, B, gradA, gradB, scale? }');
  const A = matrixOf(lora.A, 'lora.A');
  const B = matrixOf(lora.B, 'lora.B');
  const gA = matrixOf(lora.gradA, 'lora.gradA');
  const gB = matrixOf(lora.gradB, 'lora.gradB');
  const r = A.rows;
  if (A.cols !== cols) throw new ShapeError(`lora.A: expected [r, ${cols}] (w has ${cols} columns), got [${A.rows}, ${A.cols}]`);
  if (B.rows !== rows || B.cols !== r)
    throw new ShapeError(`lora.B: expected [${rows}, ${r}] (w's rows, A's rank ${r}), got [${B.rows}, ${B.cols}]`);
  if (gA.rows !== r || gA.cols !== cols) throw new ShapeError(`lora.gradA: expected [${r}, ${cols}] like lora.A, got [${gA.rows}, ${gA.cols}]`);
  if (gB.rows !== rows || gB.cols !== r) throw new ShapeError(`lora.gradB: expected [${rows}, ${r}] like lora.B, got [${gB.rows}, ${gB.cols}]`);
  const scale = lora.scale ?? 1;
  if (typeof scale !== 'number' || !Number.isFinite(scale)) throw new ArgumentError(`lora.scale: expected a finite number, got ${describe(scale)}`);
  const agg = checkAggregate(aggregate, rows, cols);

  const per = agg.kind === 'weight' ? new Float32Array(rows * cols) : null;
  const size = 'size' in agg ? agg.size : 1;
  const sums = new Float64Array(agg.kind === 'row' ? rows : agg.kind === 'column' ? cols
    : agg.kind === 'rowGroup' ? rows / size : agg.kind === 'columnGroup' ? cols / size : 0);
  // Row i of B and ∇B are reused across the row; A and ∇A are read column-wise through their
  // transposes so the inner loop over the rank is contiguous.
  const At = transpose(A.data, r, cols), gAt = transpose(gA.data, r, cols);
  for (let i = 0; i < rows; i++) {
    const bi = i * r;
    for (let j = 0; j < cols; j++) {
      const aj = j * r;
      let ba = 0, g = 0;
      for (let t = 0; t < r; t++) {
        const b = B.data[bi + t]!, a = At[aj + t]!;
        ba += b * a;
        g += gB.data[bi + t]! * a + b * gAt[aj + t]!;
      }
      const v = Math.abs((data[i * cols + j]! + scale * ba) * g);
      if (per) per[i * cols + j] = v;
      else if (agg.kind === 'row') sums[i] += v;
      else if (agg.kind === 'column') sums[j] += v;
      else if (agg.kind === 'rowGroup') sums[Math.floor(i / size)] += v;
      else sums[Math.floor(j / size)] += v;
    }
  }
  if (per) return { importance: Tensor.from(per, [rows, cols]), aggregate: 'weight' };
  return { importance: Tensor.from(Float32Array.from(sums)), aggregate: agg.kind };
}

function transpose(a: Float32Array, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j]!;
  return t;
}

function checkAggregate(a: unknown, rows: number, cols: number):
    { kind: 'weight' | 'row' | 'column' } | { kind: 'rowGroup' | 'columnGroup'; size: number } {
  if (a === 'weight' || a === 'row' || a === 'column') return { kind: a };
  if (typeof a === 'object' && a !== null) {
    const o = a as Record<string, unknown>;
    const [key, dim, kind] = 'rows' in o ? ['rows', rows, 'rowGroup' as const] : ['columns', cols, 'columnGroup' as const];
    const size = o[key];
    if (!Number.isInteger(size) || (size as number) < 1) throw new ArgumentError(`aggregate.${key}: expected a positive integer, got ${describe(size)}`);
    if (dim % (size as number) !== 0) throw new ShapeError(`aggregate.${key}: ${String(size)} does not divide the weight's ${dim} ${key}`);
    return { kind, size: size as number };
  }
  throw new ArgumentError(`aggregate: expected 'weight', 'row', 'column', { rows } or { columns }, got ${describe(a)}`);
}

/**
 * One score per structure from the aggregated importances of coupled weights (e.g. head h's rows
 * of q/k/v and its columns of o_proj): the element-wise sum. All inputs must have the same length.
 */
export function sumImportance(parts: readonly (Tensor | ImportanceResult)[]): Tensor {
  if (!Array.isArray(parts) || parts.length === 0) throw new ArgumentError('parts: expected a non-empty array of importances');
  let out: Float64Array | null = null;
  parts.forEach((p, i) => {
    const t = p instanceof Tensor ? p : (p as ImportanceResult)?.importance;
    if (!(t instanceof Tensor) || t.ndim !== 1) throw new ArgumentError(`parts[${i}]: expected a 1-D aggregated importance, got ${describe(p)}`);
    const v = t.toFloat32Array();
    if (out === null) out = new Float64Array(v.length);
    if (v.length !== out.length) throw new ShapeError(`parts[${i}]: ${v.length} groups, expected ${out.length} like parts[0]`);
    for (let k = 0; k < v.length; k++) out[k] += v[k]!;
  });
  return Tensor.from(Float32Array.from(out!));
}
