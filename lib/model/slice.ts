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
import { CalibrationStats } from '../calibration.js';
import { AbortError, ArgumentError, NumericError, ShapeError } from '../errors.js';
import { native } from '../native.js';
import { checkControl, runControlled, type SolverControl } from '../solver-control.js';
import { linear, type Weight } from '../ops.js';
import { SparseMatrix } from '../sparse-matrix.js';
import { Tensor } from '../tensor.js';
import { LINEARS, blockForward, refuseSlorbTerms, type LinearName, type LlamaBlock } from './block.js';
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
 * Eigen-decomposition of a symmetric n×n matrix (float64, row-major; both triangles are read and
 * must agree): native/solvers/eigen.cpp, Householder tridiagonalization and implicit symmetric QR
 * with Wilkinson shifts (Golub & Van Loan 8.3), off the event loop. Values descending, vectors as
 * the columns of `vectors` (row-major n×n). O(n³): about a minute at n = 4096 on 2 cores.
 */
export async function symmetricEigen(a: Float64Array, n: number, options: SolverControl = {}): Promise<{ values: Float64Array; vectors: Float64Array }> {
  if (!(a instanceof Float64Array)) throw new ArgumentError(`a: expected a Float64Array, got ${describe(a)}`);
  if (!Number.isSafeInteger(n) || n < 0 || n > 1 << 20) throw new ArgumentError(`n: expected an integer in [0, 2^20], got ${describe(n)}`);
  if (a.length !== n * n) throw new ShapeError(`a: expected n·n = ${n * n} values, got ${a.length}`);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      const x = a[i * n + j]!;
      if (!Number.isFinite(x)) throw new NumericError(`a[${i}, ${j}] is ${x}`);
      if (x !== a[j * n + i]) throw new ArgumentError(`a: not symmetric at [${i}, ${j}] (${x} vs ${a[j * n + i]})`);
    }
  checkControl(options, 'symmetricEigen');
  return runControlled('symmetricEigen', options, async (control) => {
    const r = await native.symmetricEigen(a, n, control);
    return { values: new Float64Array(r.values), vectors: new Float64Array(r.vectors) };
  });
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
  refuseSlorbTerms(model.blocks, 'slicing');
  const { signal, onProgress } = options;
  const samples = checkSamples(calibration, c.vocabSize);
  if (samples.length === 0) throw new ArgumentError('calibration: slicing needs calibration samples');

  // Σ of the RMS-normalised residual states at every block input and at the final norm:
  // Σ_t (d / ‖x_t‖²) x_t x_tᵀ, accumulated natively (float64) from the rows scaled by sqrt(d / ‖x_t‖²).
  const stats = new CalibrationStats(d, { hessian: true });
  const add = async (x: Float32Array) => {
    const y = new Float32Array(x.length);
    for (let t = 0; t < x.length / d; t++) {
      let ss = 0;
      for (let j = 0; j < d; j++) ss += x[t * d + j]! * x[t * d + j]!;
      const f = ss > 0 ? Math.sqrt(d / ss) : 0;
      for (let j = 0; j < d; j++) y[t * d + j] = x[t * d + j]! * f;
    }
    await stats.addAsync(Tensor.from(y, [x.length / d, d]));
  };
  const { chunks, contexts } = calibrationChunks(model, samples);
  let xs = chunks.map((ch) => model.embedTokens(ch.length === 1 ? ch[0]! : Int32Array.from(ch.flatMap((x) => [...x]))));
  const total = model.blocks.length + 2;
  let C: Float64Array;
  try {
    for (const block of model.blocks) {
      const next: Float32Array[] = [];
      for (let i = 0; i < xs.length; i++) {
        if (signal?.aborted) throw new AbortError('slice: aborted');
        await add(xs[i]!);
        next.push((await blockForward(block, xs[i]!, contexts[i]!))!);
      }
      xs = next;
      onProgress?.(block.index + 1, total);
    }
    for (const x of xs) await add(x);
    C = stats.hessian();  // symmetric as read (both triangles written from the lower one)
  } finally {
    stats.dispose();
  }
  const { values, vectors: Q } = await symmetricEigen(C, d, { signal });
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
