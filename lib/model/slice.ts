/**
 * Width pruning in the manner of SliceGPT, with one rotation for the whole residual stream
 * (docs/structured.md, "Hidden dims"): fold every RMSNorm scale into the linears that read it,
 * rotate the residual stream by the principal directions Q of its calibration states (float64
 * eigenvectors), and keep the first k directions. The result is an ordinary Llama checkpoint with
 * hidden_size k.
 *
 * SliceGPT itself uses a different Q per block and puts Q_ℓᵀQ_{ℓ+1} on each residual connection,
 * which HF's Llama cannot hold; with one Q nothing extra is needed. With k < hidden the RMSNorms
 * see the sliced vector: their weight is set to sqrt(hidden / k), so a token whose energy lies in
 * the kept directions is normalised exactly as before (the approximation SliceGPT makes as well).
 */
import { describe } from '../dtype.js';
import { AbortError, ArgumentError, NumericError } from '../errors.js';
import { linear, type Weight } from '../ops.js';
import { SparseMatrix } from '../sparse-matrix.js';
import { Tensor } from '../tensor.js';
import { LINEARS, blockForward, type LinearName, type LlamaBlock } from './block.js';
import { parseConfig } from './config.js';
import type { LlamaModel } from './llama.js';
import { calibrationChunks, checkSamples } from './prune-model.js';

export interface SliceOptions {
  /** The new hidden size, in [1, hidden]. */
  hidden: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface SliceReport {
  hiddenBefore: number;
  hiddenAfter: number;
  /** Fraction of the calibration states' energy (Σ of eigenvalues) in the kept directions. */
  energyKept: number;
}

/**
 * Eigen-decomposition of a symmetric n×n matrix (float64, row-major): Householder reduction to
 * tridiagonal form, then implicit symmetric QR steps with Wilkinson shifts (Golub & Van Loan,
 * 8.3), the rotations accumulated into the vectors. Values descending, vectors as the columns of
 * `vectors` (row-major n×n). O(n³).
 */
export function symmetricEigen(a: Float64Array, n: number, signal?: AbortSignal): { values: Float64Array; vectors: Float64Array } {
  const A = a.slice();
  // Zt holds the transpose of the accumulated orthogonal matrix: row i = column i of Z.
  const Zt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) Zt[i * n + i] = 1;
  const v = new Float64Array(n), p = new Float64Array(n), w = new Float64Array(n), u = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    if (signal?.aborted) throw new AbortError('slice: aborted');
    const m = n - k - 1, o = k + 1;
    let norm = 0;
    for (let i = 0; i < m; i++) norm += A[k * n + o + i]! ** 2;
    norm = Math.sqrt(norm);
    if (norm === 0) continue;
    const x0 = A[k * n + o]!;
    const alpha = x0 > 0 ? -norm : norm;
    for (let i = 0; i < m; i++) v[i] = A[k * n + o + i]!;
    v[0]! -= alpha;
    let vv = 0;
    for (let i = 0; i < m; i++) vv += v[i]! * v[i]!;
    if (vv === 0) continue;
    const beta = 2 / vv;
    // p = beta · S v, S = A[o.., o..]
    for (let i = 0; i < m; i++) {
      let s = 0;
      const row = (o + i) * n + o;
      for (let j = 0; j < m; j++) s += A[row + j]! * v[j]!;
      p[i] = beta * s;
    }
    let pv = 0;
    for (let i = 0; i < m; i++) pv += p[i]! * v[i]!;
    const K = (beta / 2) * pv;
    for (let i = 0; i < m; i++) w[i] = p[i]! - K * v[i]!;
    for (let i = 0; i < m; i++) {
      const row = (o + i) * n + o, vi = v[i]!, wi = w[i]!;
      for (let j = 0; j < m; j++) A[row + j]! -= vi * w[j]! + wi * v[j]!;
    }
    A[k * n + o] = alpha;
    A[o * n + k] = alpha;
    for (let i = 1; i < m; i++) { A[k * n + o + i] = 0; A[(o + i) * n + k] = 0; }
    // Z = Z · H, H = I − beta v vᵀ on indices o..: rows of Zt: Zt[o+i, :] -= beta v_i (Σ_j v_j Zt[o+j, :])
    u.fill(0);
    for (let j = 0; j < m; j++) { const vj = v[j]!; if (vj === 0) continue; const row = (o + j) * n; for (let c = 0; c < n; c++) u[c]! += vj * Zt[row + c]!; }
    for (let i = 0; i < m; i++) { const f = beta * v[i]!; if (f === 0) continue; const row = (o + i) * n; for (let c = 0; c < n; c++) Zt[row + c]! -= f * u[c]!; }
  }
  const d = Float64Array.from({ length: n }, (_, i) => A[i * n + i]!);
  const e = Float64Array.from({ length: n }, (_, i) => (i + 1 < n ? A[i * n + i + 1]! : 0));
  const rotate = (i: number, c: number, s: number) => {
    // Columns i, i+1 of Z ← [c s; -s c] applied as Z·G with G = [[c, s], [-s, c]]
    const r0 = i * n, r1 = (i + 1) * n;
    for (let t = 0; t < n; t++) {
      const z0 = Zt[r0 + t]!, z1 = Zt[r1 + t]!;
      Zt[r0 + t] = c * z0 - s * z1;
      Zt[r1 + t] = s * z0 + c * z1;
    }
  };
  let hi = n - 1;
  let iter = 0;
  while (hi > 0) {
    if (++iter > 100 * n) throw new NumericError('symmetricEigen: the QR iteration did not converge');
    // Deflate converged off-diagonals.
    if (Math.abs(e[hi - 1]!) <= 1e-15 * (Math.abs(d[hi - 1]!) + Math.abs(d[hi]!))) { e[hi - 1] = 0; hi--; continue; }
    let lo = hi - 1;
    while (lo > 0 && Math.abs(e[lo - 1]!) > 1e-15 * (Math.abs(d[lo - 1]!) + Math.abs(d[lo]!))) lo--;
    // Wilkinson shift from the trailing 2×2.
    const dd = (d[hi - 1]! - d[hi]!) / 2, bb = e[hi - 1]!;
    const mu = d[hi]! - (bb * bb) / (dd + (dd >= 0 ? 1 : -1) * Math.hypot(dd, bb));
    let x = d[lo]! - mu, z = e[lo]!;
    for (let k = lo; k < hi; k++) {
      const r = Math.hypot(x, z);
      const c = r === 0 ? 1 : x / r, s = r === 0 ? 0 : -z / r;
      if (k > lo) e[k - 1] = r;
      // T ← Gᵀ T G on rows/cols k, k+1 with G = [[c, s], [-s, c]].
      const ak = d[k]!, ak1 = d[k + 1]!, bk = e[k]!;
      d[k] = c * c * ak - 2 * c * s * bk + s * s * ak1;
      d[k + 1] = s * s * ak + 2 * c * s * bk + c * c * ak1;
      e[k] = c * s * (ak - ak1) + (c * c - s * s) * bk;
      rotate(k, c, s);
      if (k + 1 < hi) {
        x = e[k]!;
        z = -s * e[k + 1]!;
        e[k + 1] = c * e[k + 1]!;
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => d[j]! - d[i]!);
  const values = Float64Array.from(order, (i) => d[i]!);
  const vectors = new Float64Array(n * n);
  for (let r = 0; r < n; r++) order.forEach((src, col) => { vectors[r * n + col] = Zt[src * n + r]!; });
  return { values, vectors };
}

function f32(w: Weight | Tensor): { w: Float32Array; rows: number; cols: number } {
  const t = w instanceof SparseMatrix ? w.toDense() : w;
  return { w: t.toFloat32Array(), rows: t.shape[0]!, cols: t.ndim === 1 ? 1 : t.shape[1]! };
}

function store(x: Float32Array, shape: number[], like: Weight | Tensor): Tensor {
  const t = Tensor.from(x, shape);
  const dtype = like instanceof SparseMatrix ? 'float32' : like.dtype;
  return dtype === 'float32' ? t : t.to(dtype);
}

/**
 * (W · diag(γ)) · Q_k for W [rows, d]: an in-projection reading the normed residual. The product
 * runs through linear() (float32 sums): `QkT` is Q_kᵀ [k, d].
 */
async function inProj(w: Weight | Tensor, gamma: Float64Array | null, QkT: Tensor): Promise<Tensor> {
  const { w: W, rows, cols: d } = f32(w);
  if (gamma) for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) W[r * d + j]! *= gamma[j]!;
  const y = await linear(Tensor.from(W, [rows, d]), QkT, null, { outDtype: 'float32' });
  return store(y.toTypedArray() as Float32Array, [rows, QkT.shape[0]!], w);
}

/** Q_kᵀ · W for W [d, cols]: an out-projection writing to the residual (Q_kᵀ as activations, Wᵀ as the weight). */
async function outProj(w: Weight, QkT: Tensor): Promise<Tensor> {
  const { w: W, rows: d, cols } = f32(w);
  const Wt = new Float32Array(cols * d);
  for (let j = 0; j < d; j++) for (let i = 0; i < cols; i++) Wt[i * d + j] = W[j * cols + i]!;
  const y = await linear(QkT, Tensor.from(Wt, [cols, d]), null, { outDtype: 'float32' });
  return store(y.toTypedArray() as Float32Array, [QkT.shape[0]!, cols], w);
}

/** Q_kᵀ · b for a bias of the residual width (float64). */
function rotateBias(b: Tensor, Q: Float64Array, d: number, k: number): Tensor {
  const v = b.toFloat32Array();
  const out = new Float32Array(k);
  for (let c = 0; c < k; c++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += Q[j * d + c]! * v[j]!;
    out[c] = s;
  }
  return store(out, [k], b);
}

/**
 * Slices the residual stream of `model` to `options.hidden` dims in place (see the file comment);
 * `calibration` are token windows, as for structureScores.
 */
export async function sliceHidden(model: LlamaModel, calibration: Int32Array[] | Tensor, options: SliceOptions): Promise<SliceReport> {
  if (typeof options !== 'object' || options === null) throw new ArgumentError(`options: expected an object, got ${describe(options)}`);
  const c = model.config;
  const d = c.hiddenSize;
  const k = options.hidden;
  if (!Number.isSafeInteger(k) || k < 1 || k > d) throw new ArgumentError(`options.hidden: expected an integer in [1, ${d}], got ${describe(k)}`);
  const { signal, onProgress } = options;
  const samples = checkSamples(calibration, c.vocabSize);
  if (samples.length === 0) throw new ArgumentError('calibration: slicing needs calibration samples');

  // Σ of the RMS-normalised residual states at every block input and at the final norm.
  const C = new Float64Array(d * d);
  const add = (x: Float32Array) => {
    for (let t = 0; t < x.length / d; t++) {
      const row = x.subarray(t * d, (t + 1) * d);
      let ss = 0;
      for (let j = 0; j < d; j++) ss += row[j]! * row[j]!;
      const inv = ss > 0 ? d / ss : 0;
      for (let i = 0; i < d; i++) {
        const a = row[i]! * inv;
        if (a === 0) continue;
        for (let j = i; j < d; j++) C[i * d + j]! += a * row[j]!;
      }
    }
  };
  const { chunks, contexts } = calibrationChunks(model, samples);
  let xs = chunks.map((ch) => model.embedTokens(ch.length === 1 ? ch[0]! : Int32Array.from(ch.flatMap((x) => [...x]))));
  const total = model.blocks.length + 2;
  for (const block of model.blocks) {
    const next: Float32Array[] = [];
    for (let i = 0; i < xs.length; i++) {
      if (signal?.aborted) throw new AbortError('slice: aborted');
      add(xs[i]!);
      next.push((await blockForward(block, xs[i]!, contexts[i]!))!);
    }
    xs = next;
    onProgress?.(block.index + 1, total);
  }
  for (const x of xs) add(x);
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) C[i * d + j] = C[j * d + i]!;
  const { values, vectors: Q } = symmetricEigen(C, d, signal);
  onProgress?.(model.blocks.length + 1, total);
  let all = 0, kept = 0;
  values.forEach((v, i) => { all += v; if (i < k) kept += v; });

  const gammaOf = (t: Tensor) => Float64Array.from(t.toFloat32Array());
  const qkt = new Float32Array(k * d);
  for (let c = 0; c < k; c++) for (let j = 0; j < d; j++) qkt[c * d + j] = Q[j * d + c]!;
  const QkT = Tensor.from(qkt, [k, d]);
  const norm = (like: Tensor) => store(new Float32Array(k).fill(Math.sqrt(d / k)), [k], like);
  const ins: LinearName[] = ['q_proj', 'k_proj', 'v_proj'], mlpIns: LinearName[] = ['gate_proj', 'up_proj'];
  const blocks: LlamaBlock[] = [];
  for (const b of model.blocks) {
    if (signal?.aborted) throw new AbortError('slice: aborted');
    const g1 = gammaOf(b.inputNorm), g2 = gammaOf(b.postNorm);
    const linears = { ...b.linears };
    for (const l of LINEARS) {
      const slot = b.linears[l];
      let weight: Tensor, bias = slot.bias;
      if (ins.includes(l)) weight = await inProj(slot.weight, g1, QkT);
      else if (mlpIns.includes(l)) weight = await inProj(slot.weight, g2, QkT);
      else {
        weight = await outProj(slot.weight, QkT);
        if (bias) bias = rotateBias(bias, Q, d, k);
      }
      linears[l] = { name: slot.name, weight, bias };
    }
    blocks.push({ index: b.index, inputNorm: norm(b.inputNorm), postNorm: norm(b.postNorm), linears });
  }
  const tied = model.lmHead === model.embed;
  const lmHead = await inProj(model.lmHead, gammaOf(model.norm), QkT);
  const embed = await inProj(model.embed, null, QkT);
  const raw: Record<string, unknown> = { ...c.raw, hidden_size: k, head_dim: c.headDim };
  // The LM head has the final norm's scale folded in: it is no longer the embedding.
  if (tied) raw.tie_word_embeddings = false;
  model.replaceStructure(parseConfig(JSON.stringify(raw), 'slice: config'), blocks, blocks.map((_, i) => i));
  model.embed = embed;
  model.norm = norm(model.norm);
  model.lmHead = lmHead;
  onProgress?.(total, total);
  return { hiddenBefore: d, hiddenAfter: k, energyKept: all > 0 ? kept / all : 1 };
}
