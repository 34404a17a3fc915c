// Independent float64 implementations of RIA, DSnoT and ALPS, written from the papers and their
// public code (biomedical-cybernetics/Relative-importance-and-activation-pruning, zyxxmu/DSnoT,
// mazumder-lab/ALPS). No sparsekit code is used here.
import { cholesky, invertLower, type Pat } from './solver-reference.js';

/** Stable ascending argsort. */
function argsort(v: ArrayLike<number>, idx: number[]): number[] {
  return [...idx].sort((a, b) => v[a]! - v[b]! || a - b);
}

/** In each group of m, the m − n smallest (ties: lower index) -> pruned. */
function nmPrune(score: ArrayLike<number>, cols: number, n: number, m: number, pruned: Uint8Array, off = 0) {
  for (let g = 0; g < cols; g += m) {
    const idx = argsort(score, Array.from({ length: m }, (_, i) => off + g + i));
    for (let i = 0; i < m - n; i++) pruned[idx[i]!] = 1;
  }
}

export function riaScores(w: ArrayLike<number>, rows: number, cols: number, sumsq: ArrayLike<number>, a: number): Float64Array {
  const rs = new Float64Array(rows), cs = new Float64Array(cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      rs[r] += Math.abs(w[r * cols + c]!);
      cs[c] += Math.abs(w[r * cols + c]!);
    }
  const s = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) {
      const v = Math.abs(w[r * cols + c]!);
      s[r * cols + c] = v === 0 ? 0 : (v / cs[c]! + v / rs[r]!) * Math.sqrt(sumsq[c]!) ** a;
    }
  return s;
}

/**
 * RIA: mask (1 kept) in output column order `perm` (identity unless permute), per-row for
 * unstructured. Permutation: channels by summed score ascending, dealt to the m slots in a snake.
 */
export function riaRef(w: ArrayLike<number>, rows: number, cols: number, sumsq: ArrayLike<number>, pat: Pat, a = 0.5, permute = false, refine = false) {
  const s = riaScores(w, rows, cols, sumsq, a);
  let perm = Array.from({ length: cols }, (_, i) => i);
  if (permute && 'm' in pat) {
    const imp = new Float64Array(cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) imp[c] += s[r * cols + c]!;
    const sorted = argsort(imp, perm);
    const band = cols / pat.m;
    const out = new Array<number>(cols);
    for (let slot = 0; slot < pat.m; slot++) {
      const part = sorted.slice(slot * band, (slot + 1) * band);
      if (slot % 2 === 1) part.reverse();
      part.forEach((ch, t) => { out[t * pat.m + slot] = ch; });
    }
    perm = out;
    if (refine) perm = refineRef(s, rows, cols, pat, perm);
  }
  const pruned = new Uint8Array(rows * cols);
  const ps = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) ps[r * cols + c] = s[r * cols + perm[c]!]!;
  for (let r = 0; r < rows; r++) {
    if ('m' in pat) nmPrune(ps, cols, pat.n, pat.m, pruned, r * cols);
    else {
      const idx = argsort(ps, Array.from({ length: cols }, (_, i) => r * cols + i));
      for (let i = 0; i < Math.floor(cols * pat.sparsity); i++) pruned[idx[i]!] = 1;
    }
  }
  let kept = 0;
  for (let i = 0; i < ps.length; i++) if (!pruned[i]) kept += ps[i]!;
  return { mask: pruned.map((v) => 1 - v), perm: Int32Array.from(perm), kept };
}

/** Σ over rows of the kept (top-n) scores of one group of channels. */
function groupValue(s: Float64Array, rows: number, cols: number, chans: number[], n: number): number {
  let t = 0;
  for (let r = 0; r < rows; r++) {
    const v = chans.map((c) => s[r * cols + c]!);
    const idx = argsort(v, v.map((_, i) => i));  // ascending, ties by index: the first m − n are pruned
    for (let i = v.length - n; i < v.length; i++) t += v[idx[i]!]!;
  }
  return t;
}

/** All permutations of [0, n) (n <= 8 here). */
function* permutations(n: number): Generator<number[]> {
  const a = Array.from({ length: n }, (_, i) => i);
  const c = new Array<number>(n).fill(0);
  yield a.slice();
  for (let i = 1; i < n; ) {
    if (c[i]! < i) {
      const j = i % 2 ? c[i]! : 0;
      [a[j], a[i]] = [a[i]!, a[j]!];
      yield a.slice();
      c[i]!++;
      i = 1;
    } else c[i++] = 0;
  }
}

/** RIA's linear-sum-assignment refinement, by exhaustive search over the assignments of each slot. */
function refineRef(s: Float64Array, rows: number, cols: number, pat: { n: number; m: number }, perm: number[]): number[] {
  const G = cols / pat.m;
  const out = perm.slice();
  for (let slot = 0; slot < pat.m; slot++) {
    const cand = Array.from({ length: G }, (_, g) => out[g * pat.m + slot]!);
    const value = cand.map((ch) => Array.from({ length: G }, (_, g) =>
      groupValue(s, rows, cols, Array.from({ length: pat.m }, (_, i) => (i === slot ? ch : out[g * pat.m + i]!)), pat.n)));
    let best = -Infinity, bestP: number[] = [];
    for (const p of permutations(G)) {
      let t = 0;
      for (let a = 0; a < G; a++) t += value[a]![p[a]!]!;
      if (t > best) { best = t; bestP = p; }
    }
    for (let a = 0; a < G; a++) out[bestP[a]! * pat.m + slot] = cand[a]!;
  }
  return out;
}

/** diag of the upper Cholesky factor of (H + damping·mean(diag H)·I)⁻¹, squared (dead diagonals set to 1). */
export function saliencyDiag(h0: Float64Array, k: number, damping: number): Float64Array {
  const H = h0.slice();
  for (let j = 0; j < k; j++) if (H[j * k + j] === 0) H[j * k + j] = 1;
  let mean = 0;
  for (let j = 0; j < k; j++) mean += H[j * k + j]!;
  for (let j = 0; j < k; j++) H[j * k + j] += (damping * mean) / k;
  const li = invertLower(cholesky(H, k), k);
  const inv = new Float64Array(k * k);  // H⁻¹ = L⁻ᵀ L⁻¹
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) {
      let v = 0;
      for (let p = Math.max(i, j); p < k; p++) v += li[p * k + i]! * li[p * k + j]!;
      inv[i * k + j] = v;
    }
  // The upper factor U with H⁻¹ = UᵀU is the transpose of H⁻¹'s lower Cholesky factor.
  const lc = cholesky(inv, k);
  return Float64Array.from({ length: k }, (_, i) => lc[i * k + i]! ** 2);
}

export interface DsnotRefOptions {
  initial: 'wanda' | 'sparsegpt-saliency' | 'sparsegpt'; maxCycles: number; threshold: number; powOfVar: number; sameSign: boolean;
  /** Σ x xᵀ (K×K), for the saliency start and checkError. */
  hessian?: Float64Array;
  /** The 'sparsegpt' start: SparseGPT's weight (0 where pruned) and mask (1 kept). */
  start?: { weight: ArrayLike<number>; mask: ArrayLike<number> };
  /** Accept a swap only if it lowers the row's (w − ŵ)ᵀ(XᵀX)(w − ŵ), recomputed in full. */
  checkError?: boolean;
}

/**
 * DSnoT per the published prune_DSnoT (growth candidates: the pruned weights only; a row stops
 * when the next candidate no longer offsets its error), from a Wanda or saliency mask or from
 * SparseGPT's result (a grown weight gets its dense value back; e = Σ (w − ŵ)·E[x]). Returns the
 * mask (1 kept), the weight and the swaps.
 */
export function dsnotRef(w: ArrayLike<number>, rows: number, cols: number, sumsq: ArrayLike<number>, sum: ArrayLike<number>, tokens: number,
                         pat: Pat, o: DsnotRefOptions) {
  const mean = Array.from(sum, (v) => v / tokens);
  const vp = Array.from(sumsq, (v, j) => o.powOfVar === 0 ? 1 : Math.max(0, v / tokens - mean[j]! ** 2) ** o.powOfVar);
  const d2 = o.initial === 'sparsegpt-saliency' ? saliencyDiag(o.hessian!, cols, 0.01) : null;
  const H = o.hessian;
  const mask = new Uint8Array(rows * cols);
  const weight = new Float64Array(rows * cols);
  let swaps = 0;
  for (let r = 0; r < rows; r++) {
    const wr = Array.from({ length: cols }, (_, c) => w[r * cols + c]!);
    const cur = o.start ? Array.from({ length: cols }, (_, c) => o.start!.weight[r * cols + c]!) : wr.slice();
    const wanda = cur.map((v, c) => Math.abs(v) * Math.sqrt(sumsq[c]!));
    const init = d2 ? wr.map((v, c) => (sumsq[c] === 0 ? 0 : (v * v) / d2[c]!)) : wanda.slice();
    const dm = wr.map((v, c) => v * mean[c]!);
    const pruned = new Uint8Array(cols);
    if (o.start) for (let c = 0; c < cols; c++) pruned[c] = 1 - o.start.mask[r * cols + c]!;
    else if ('m' in pat) nmPrune(init, cols, pat.n, pat.m, pruned);
    else argsort(init, Array.from({ length: cols }, (_, i) => i)).slice(0, Math.floor(cols * pat.sparsity)).forEach((i) => { pruned[i] = 1; });
    const value = cur.map((v, c) => (pruned[c] ? 0 : v));
    const dc = value.map((v, c) => v * mean[c]!);
    const rowError = () => {
      const d = wr.map((v, c) => v - value[c]!);
      let s = 0;
      for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) s += d[i]! * H![i > j ? i * cols + j : j * cols + i]! * d[j]!;
      return s;
    };
    const prunedIdx = [...pruned.keys()].filter((c) => pruned[c]);
    let err = wr.reduce((s, v, c) => s + (v - value[c]!) * mean[c]!, 0);
    const sign0 = Math.sign(err);
    const mr = dm.map((v, c) => (v === 0 ? 0 : v / vp[c]!));
    const grow = argsort(mr, prunedIdx);
    let glo = 0, ghi = grow.length - 1;
    let pruneList: number[] = [];
    let plo = 0, phi = -1;
    if (!('m' in pat)) {
      const kept = argsort(wanda, [...pruned.keys()].filter((c) => !pruned[c]));
      const v = kept.map((c) => dc[c]!);
      const pos = v.map((x, t) => (x > 0 ? t : -1)).filter((t) => t >= 0);
      const neg = v.map((x, t) => (x < 0 ? t : -1)).filter((t) => t >= 0);
      const L = v.length;
      const flipped = [...new Array<number>(L - pos.length).fill(0), ...pos.reverse()];
      const negs = [...neg, ...new Array<number>(L - neg.length).fill(0)];
      pruneList = flipped.map((a, t) => kept[a + negs[t]!]!);
      phi = L - 1;
    } else for (let c = 0; c < cols; c++) if (pruned[c]) init[c] = Infinity;
    for (let cycle = 0; cycle < o.maxCycles && glo <= ghi; cycle++) {
      const g = err > 0 ? grow[ghi--]! : grow[glo++]!;
      if (err > 0 ? dm[g]! <= 0 : dm[g]! >= 0) break;
      let p: number;
      if ('m' in pat) {
        const g0 = g - (g % pat.m);
        p = g0;
        for (let c = g0 + 1; c < g0 + pat.m; c++) if (init[c]! < init[p]!) p = c;
        if (init[p] === Infinity) break;
      } else {
        if (plo > phi) break;
        p = err < 0 ? pruneList[phi--]! : pruneList[plo++]!;
        if (err < 0 ? dc[p]! <= 0 : dc[p]! >= 0) break;
      }
      const after = err + dc[p]! - dm[g]!;
      if (!(Math.abs(err) > o.threshold)) break;
      if ((o.sameSign || 'm' in pat) && Math.sign(after) !== sign0) break;
      if (o.checkError) {
        const before = rowError();
        const [vp0, vg0] = [value[p]!, value[g]!];
        value[p] = 0;
        value[g] = wr[g]!;
        if (!(rowError() < before)) {
          value[p] = vp0;
          value[g] = vg0;
          continue;
        }
      } else {
        value[p] = 0;
        value[g] = wr[g]!;
      }
      if ('m' in pat) init[p] = Infinity;
      pruned[p] = 1;
      pruned[g] = 0;
      err = after;
      swaps++;
    }
    for (let c = 0; c < cols; c++) {
      mask[r * cols + c] = 1 - pruned[c]!;
      weight[r * cols + c] = value[c]!;
    }
  }
  return { mask, weight, swaps };
}

/** Keeps the largest |B| (layer-wide: the (1−s)·size largest; ties: lower index in [row][col] order pruned first) or per N:M group of a row. */
function projectRef(Bt: Float64Array, rows: number, cols: number, pat: Pat): Float64Array {
  const out = Bt.slice();
  const pruned = new Uint8Array(rows * cols);
  if ('m' in pat) for (let r = 0; r < rows; r++) nmPrune(Bt.map(Math.abs), cols, pat.n, pat.m, pruned, r * cols);
  else {
    const total = rows * cols;
    const keep = Math.round((1 - pat.sparsity) * total);
    argsort(Bt.map(Math.abs), Array.from({ length: total }, (_, i) => i)).slice(0, total - keep).forEach((i) => { pruned[i] = 1; });
  }
  for (let i = 0; i < out.length; i++) if (pruned[i]) out[i] = 0;
  return out;
}

/**
 * ALPS per the published ALPS_admm + cg_batch, in float64, with B held as [cols(K) x rows] like
 * the paper's code (here transposed on the way in and out). xtx = Σ x xᵀ (K×K).
 */
export function alpsRef(w: ArrayLike<number>, rows: number, K: number, xtx: Float64Array, pat: Pat,
                        o: { rho?: number; maxIter?: number; cgIter?: number } = {}) {
  const maxIter = o.maxIter ?? 300, cgIter = o.cgIter ?? 10;
  let rho = o.rho ?? 0.1;
  let mean = 0;
  for (let j = 0; j < K; j++) mean += xtx[j * K + j]!;
  const damp = (0.01 * mean) / K;
  const G = xtx.slice();
  for (let j = 0; j < K; j++) G[j * K + j] += damp;
  const xn = Float64Array.from({ length: K }, (_, j) => Math.sqrt(G[j * K + j]!) + 1e-8);
  for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) G[i * K + j] /= xn[i]! * xn[j]!;
  // Bt[r][c] = W[r][c]·xn[c] (the paper's B is its transpose); YtXᵀ as Gt = Bo·G.
  const n = rows * K;
  const Bo = Float64Array.from({ length: n }, (_, i) => w[i]! * xn[i % K]!);
  const mulG = (A: Float64Array, M: Float64Array) => {
    const C = new Float64Array(n);
    for (let r = 0; r < rows; r++)
      for (let p = 0; p < K; p++) {
        const a = A[r * K + p]!;
        if (a === 0) continue;
        for (let c = 0; c < K; c++) C[r * K + c] += a * M[p * K + c]!;
      }
    return C;
  };
  const inverse = (rh: number) => {
    const M = G.slice();
    for (let j = 0; j < K; j++) M[j * K + j] += rh;
    const li = invertLower(cholesky(M, K), K);
    const inv = new Float64Array(K * K);
    for (let i = 0; i < K; i++)
      for (let j = 0; j < K; j++) {
        let v = 0;
        for (let p = Math.max(i, j); p < K; p++) v += li[p * K + i]! * li[p * K + j]!;
        inv[i * K + j] = v;
      }
    return inv;
  };
  const Gt = mulG(Bo, G);
  let Xinv = inverse(rho);
  const kSpar = 'm' in pat ? (n * pat.n) / pat.m : Math.round((1 - pat.sparsity) * n);
  let D = projectRef(Bo, rows, K, pat);
  const Dinit = D.slice();
  let B = Bo.slice();
  let V = new Float64Array(n);
  let suppp = D.map((v) => (v === 0 ? 1 : 0));
  let initRho = false;
  let it = 0;
  for (; it < maxIter; it++) {
    B = mulG(Gt.map((g, i) => g - V[i]! + rho * D[i]!), Xinv);
    D = projectRef(B.map((b, i) => (V[i]! + rho * b) / rho), rows, K, pat);
    V = V.map((v, i) => v + rho * (B[i]! - D[i]!));
    if ((it + 1) % 3 !== 0) continue;
    const supp = D.map((v) => (v === 0 ? 1 : 0));
    let change = 0;
    for (let i = 0; i < n; i++) change += (supp[i]! - suppp[i]!) ** 2;
    const frac = change / kSpar;
    if (frac > 0.1) { initRho = true; rho *= 1.3; }
    else if (frac > 0.005) { initRho = true; rho *= 1.2; }
    else if (change > 0.5) {
      if (initRho) rho *= 1.1;
      else { rho /= 5; B = Bo.slice(); D = Dinit.slice(); V = new Float64Array(n); }
    } else if (initRho) break;
    else rho /= 5;
    suppp = supp;
    rho = Math.min(rho, 1e6);
    Xinv = inverse(rho);
    if (it >= 30 && frac < 0.0003) break;
  }
  // PCG on the support of Π(B), rows independent.
  let X = projectRef(B, rows, K, pat);
  const supp = X.map((v) => (v !== 0 ? 1 : 0));
  let AX = mulG(X, G);
  let R = Gt.map((g, i) => (g - AX[i]!) * supp[i]!);
  let P = R.slice();
  const dot = (a: Float64Array, b: Float64Array, r: number) => { let s = 0; for (let c = 0; c < K; c++) s += a[r * K + c]! * b[r * K + c]!; return s; };
  const bn = Float64Array.from({ length: K }, (_, c) => { let s = 0; for (let r = 0; r < rows; r++) s += Gt[r * K + c]! ** 2; return 1e-4 * Math.sqrt(s); });
  for (let k = 0; k < cgIter; k++) {
    const AP = mulG(P, G);
    const Rn = R.slice(), Pn = P.slice();
    for (let r = 0; r < rows; r++) {
      const rz = dot(R, R, r);
      const pap = dot(P, AP, r) || 1e-8;
      const alpha = rz / pap;
      for (let c = 0; c < K; c++) {
        const i = r * K + c;
        X[i] += alpha * P[i]!;
        Rn[i] = (R[i]! - alpha * AP[i]!) * supp[i]!;
      }
      const beta = dot(Rn, Rn, r) / (rz || 1e-8);
      for (let c = 0; c < K; c++) Pn[r * K + c] = Rn[r * K + c]! + beta * P[r * K + c]!;
    }
    R = Rn;
    P = Pn;
    AX = mulG(X, G);
    let done = true;
    for (let c = 0; c < K && done; c++) {
      let s = 0;
      for (let r = 0; r < rows; r++) s += (AX[r * K + c]! - Gt[r * K + c]!) ** 2;
      done = Math.sqrt(s) <= bn[c]!;
    }
    if (done) break;
  }
  X = X.map((v, i) => v / xn[i % K]!);
  return { weight: X, mask: Uint8Array.from(supp), iterations: Math.min(it + 1, maxIter), rho };
}
