// Independent float64 implementations of the published pruning algorithms, written from the papers
// and their public code (magnitude, Wanda, SparseGPT), plus synthetic data generators. No sparsekit
// code is used here.
import { rng } from './reference.js';
import { fitGroup, quantizeValue, type RefGrid } from './quant-reference.js';

export type Pat = { sparsity: number } | { n: number; m: number };

export function normals(seed: number) {
  const u = rng(seed);
  return () => {
    const a = Math.max(u(), 1e-300), b = u();
    return Math.sqrt(-2 * Math.log(a)) * Math.cos(2 * Math.PI * b);
  };
}

export function randomMatrix(rows: number, cols: number, seed: number): Float32Array {
  const g = normals(seed);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < out.length; i++) out[i] = g();
  return out;
}

/** Heavy-tailed weights (Student-t with 3 degrees of freedom, scaled). */
export function heavyTailed(rows: number, cols: number, seed: number): Float32Array {
  const g = normals(seed);
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < out.length; i++) {
    const chi = (g() ** 2 + g() ** 2 + g() ** 2) / 3;
    out[i] = (0.02 * g()) / Math.sqrt(chi);
  }
  return out;
}

/** LLM-like activations: a low-rank correlated part, noise, and a few channels with large scale. */
export function llmActivations(tokens: number, k: number, seed: number, outliers: number[]): Float32Array {
  const g = normals(seed);
  const r = Math.max(4, k >> 3);
  const mix = new Float64Array(r * k);
  for (let i = 0; i < mix.length; i++) mix[i] = g() / Math.sqrt(r);
  const out = new Float32Array(tokens * k);
  const z = new Float64Array(r);
  for (let t = 0; t < tokens; t++) {
    for (let i = 0; i < r; i++) z[i] = g();
    for (let j = 0; j < k; j++) {
      let v = 0.3 * g();
      for (let i = 0; i < r; i++) v += z[i]! * mix[i * k + j]!;
      out[t * k + j] = v;
    }
    for (const j of outliers) out[t * k + j] = out[t * k + j]! * 25 + 5;
  }
  return out;
}

export function sumsqRef(x: ArrayLike<number>, tokens: number, k: number): Float64Array {
  const s = new Float64Array(k);
  for (let t = 0; t < tokens; t++) for (let j = 0; j < k; j++) s[j] += x[t * k + j]! ** 2;
  return s;
}

/** H = (2/n)·Σ x xᵀ. */
export function hessianRef(x: ArrayLike<number>, tokens: number, k: number): Float64Array {
  const h = new Float64Array(k * k);
  for (let t = 0; t < tokens; t++)
    for (let i = 0; i < k; i++) {
      const xi = x[t * k + i]!;
      if (xi === 0) continue;
      for (let j = 0; j < k; j++) h[i * k + j] += xi * x[t * k + j]!;
    }
  for (let i = 0; i < h.length; i++) h[i] = (2 * h[i]!) / tokens;
  return h;
}

/** Indices of the `count` smallest scores (ties: lower index first, as a stable sort gives). */
function smallest(score: ArrayLike<number>, idx: number[], count: number): number[] {
  return [...idx].sort((a, b) => score[a]! - score[b]! || a - b).slice(0, count);
}

/** mask[i] = 1 kept, 0 pruned, from per-element scores (larger = more important). */
export function maskFromScores(score: ArrayLike<number>, rows: number, cols: number, pat: Pat, scope: 'row' | 'global'): Uint8Array {
  const mask = new Uint8Array(rows * cols).fill(1);
  if ('n' in pat) {
    for (let r = 0; r < rows; r++)
      for (let g = 0; g < cols; g += pat.m) {
        const idx = Array.from({ length: pat.m }, (_, i) => r * cols + g + i);
        for (const i of smallest(score, idx, pat.m - pat.n)) mask[i] = 0;
      }
  } else if (scope === 'global') {
    const idx = Array.from({ length: rows * cols }, (_, i) => i);
    for (const i of smallest(score, idx, Math.floor(rows * cols * pat.sparsity))) mask[i] = 0;
  } else {
    for (let r = 0; r < rows; r++) {
      const idx = Array.from({ length: cols }, (_, i) => r * cols + i);
      for (const i of smallest(score, idx, Math.floor(cols * pat.sparsity))) mask[i] = 0;
    }
  }
  return mask;
}

export function magnitudeRef(w: ArrayLike<number>, rows: number, cols: number, pat: Pat, perRow = false): Uint8Array {
  const s = Float64Array.from(w, Math.abs);
  return maskFromScores(s, rows, cols, pat, perRow ? 'row' : 'global');
}

export function wandaScores(w: ArrayLike<number>, rows: number, cols: number, sumsq: ArrayLike<number>): Float64Array {
  const s = new Float64Array(rows * cols);
  for (let i = 0; i < s.length; i++) s[i] = Math.abs(w[i]!) * Math.sqrt(sumsq[i % cols]!);
  return s;
}

export function wandaRef(w: ArrayLike<number>, rows: number, cols: number, sumsq: ArrayLike<number>, pat: Pat): Uint8Array {
  return maskFromScores(wandaScores(w, rows, cols, sumsq), rows, cols, pat, 'row');
}

/** Wanda's published variant: per-row cumulative threshold alpha·rowsum, alpha bisected. */
export function wandaAlphaRef(w: ArrayLike<number>, rows: number, cols: number, sumsq: ArrayLike<number>, target: number) {
  const s = wandaScores(w, rows, cols, sumsq);
  const sorted: number[][] = [], cum: number[][] = [];
  for (let r = 0; r < rows; r++) {
    const row = Array.from(s.subarray(r * cols, (r + 1) * cols)).sort((a, b) => a - b);
    sorted.push(row);
    let acc = 0;
    cum.push(row.map((v) => (acc += v)));
  }
  const given = (alpha: number) => {
    const thres = sorted.map((row, r) => {
      const lim = cum[r]![cols - 1]! * alpha;
      const k = cum[r]!.filter((c) => c <= lim).length;
      return k > 0 ? row[k - 1]! : -1;
    });
    const mask = new Uint8Array(rows * cols);
    let pruned = 0;
    for (let i = 0; i < s.length; i++) {
      const p = s[i]! <= thres[Math.floor(i / cols)]!;
      mask[i] = p ? 0 : 1;
      pruned += p ? 1 : 0;
    }
    return { mask, sparsity: pruned / s.length };
  };
  let alpha = 0.4, lo = 0, hi = 0.8;
  let cur = given(alpha);
  while (Math.abs(cur.sparsity - target) > 0.001 && hi - lo >= 0.001) {
    let next;
    if (cur.sparsity > target) { next = (alpha + lo) / 2; hi = alpha; } else { next = (alpha + hi) / 2; lo = alpha; }
    alpha = next;
    cur = given(alpha);
  }
  return { mask: cur.mask, alpha };
}

export function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j]!;
    for (let p = 0; p < j; p++) d -= l[j * n + p]! ** 2;
    if (!(d > 0)) throw new Error(`reference Cholesky failed at ${j}`);
    const s = Math.sqrt(d);
    l[j * n + j] = s;
    for (let i = j + 1; i < n; i++) {
      let v = a[i * n + j]!;
      for (let p = 0; p < j; p++) v -= l[i * n + p]! * l[j * n + p]!;
      l[i * n + j] = v / s;
    }
  }
  return l;
}

export function invertLower(l: Float64Array, n: number): Float64Array {
  const x = new Float64Array(n * n);
  for (let c = 0; c < n; c++) {
    x[c * n + c] = 1 / l[c * n + c]!;
    for (let r = c + 1; r < n; r++) {
      let v = 0;
      for (let p = c; p < r; p++) v += l[r * n + p]! * x[p * n + c]!;
      x[r * n + c] = -v / l[r * n + r]!;
    }
  }
  return x;
}

const roundEven = (v: number) => {
  const f = Math.floor(v), d = v - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
};

/**
 * SparseGPT as published (IST-DASLab/sparsegpt fasterprune), in float64: H -> dead columns ->
 * damping -> chol -> cholesky_inverse -> chol(upper) -> blocks with the mask chosen once per block
 * (exactly ⌊rows·count·s⌋ pruned), N:M every m columns, in-block error propagation, lazy update.
 */
export function sparsegptRef(w0: ArrayLike<number>, rows: number, k: number, h0: Float64Array, pat: Pat,
                             blockSize: number, damping: number, bits = 0,
                             group?: { bits: number; groupSize: number; symmetric: boolean }, fixedMask?: ArrayLike<number>) {
  const H = h0.slice();
  const W = Float64Array.from(w0);
  for (let j = 0; j < k; j++)
    if (H[j * k + j] === 0) {
      H[j * k + j] = 1;
      for (let r = 0; r < rows; r++) W[r * k + j] = 0;
    }
  let mean = 0;
  for (let j = 0; j < k; j++) mean += H[j * k + j]!;
  mean /= k;
  for (let j = 0; j < k; j++) H[j * k + j] += damping * mean;
  const li = invertLower(cholesky(H, k), k);
  const hinv = new Float64Array(k * k);  // L⁻ᵀ L⁻¹
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) {
      let v = 0;
      for (let p = Math.max(i, j); p < k; p++) v += li[p * k + i]! * li[p * k + j]!;
      hinv[i * k + j] = v;
    }
  const lt = cholesky(hinv, k);
  const U = (i: number, j: number) => lt[j * k + i]!;  // upper factor = Lᵀ
  const maxq = 2 ** bits - 1;
  const scale = new Float64Array(rows), zero = new Float64Array(rows);
  if (bits) {
    for (let r = 0; r < rows; r++) {
      let lo = 0, hi = 0;
      for (let c = 0; c < k; c++) { lo = Math.min(lo, W[r * k + c]!); hi = Math.max(hi, W[r * k + c]!); }
      if (lo === 0 && hi === 0) { lo = -1; hi = 1; }
      scale[r] = (hi - lo) / maxq;
      zero[r] = roundEven(-lo / scale[r]!);
    }
  }
  const quant = (x: number, r: number) =>
    scale[r]! * (Math.min(Math.max(roundEven(x / scale[r]!) + zero[r]!, 0), maxq) - zero[r]!);
  const mask = new Uint8Array(rows * k).fill(1);
  // Group-wise joint quantization (sparsekit's extension, docs/solvers.md): each row's group grid
  // is fitted when the sweep reaches the group, on its current weights not marked pruned.
  const grids: RefGrid[] = new Array(group ? rows * (k / group.groupSize) : 0);
  let loss = 0;
  for (let i1 = 0; i1 < k; i1 += blockSize) {
    const i2 = Math.min(i1 + blockSize, k), cnt = i2 - i1;
    const W1 = new Float64Array(rows * cnt), Err = new Float64Array(rows * cnt);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cnt; c++) W1[r * cnt + c] = W[r * k + i1 + c]!;
    const pruned = new Uint8Array(rows * cnt);
    // A given mask (1 kept): only the weights are reconstructed (fasterprune(mask=...)).
    if (fixedMask) for (let r = 0; r < rows; r++) for (let c = 0; c < cnt; c++) pruned[r * cnt + c] = 1 - fixedMask[r * k + i1 + c]!;
    else if (!('n' in pat)) {
      const tmp = new Float64Array(rows * cnt);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cnt; c++) tmp[r * cnt + c] = W1[r * cnt + c]! ** 2 / U(i1 + c, i1 + c) ** 2;
      const idx = Array.from({ length: rows * cnt }, (_, i) => i);
      for (const i of smallest(tmp, idx, Math.floor(rows * cnt * pat.sparsity))) pruned[i] = 1;
    }
    for (let i = 0; i < cnt; i++) {
      const d = U(i1 + i, i1 + i);
      for (let r = 0; r < rows; r++) {
        if ('n' in pat && !fixedMask && i % pat.m === 0) {
          const tmp = new Float64Array(cnt);
          for (let c = i; c < i + pat.m; c++) tmp[c] = W1[r * cnt + c]! ** 2 / U(i1 + c, i1 + c) ** 2;
          const idx = Array.from({ length: pat.m }, (_, c) => i + c);
          for (const c of smallest(tmp, idx, pat.m - pat.n)) pruned[r * cnt + c] = 1;
        }
        if (group && (i1 + i) % group.groupSize === 0) {
          const vals: number[] = [];
          for (let c = i; c < i + group.groupSize; c++) if (!pruned[r * cnt + c]) vals.push(Math.fround(W1[r * cnt + c]!));
          grids[r * (k / group.groupSize) + (i1 + i) / group.groupSize] = fitGroup(vals, group.bits, group.symmetric);
        }
        const wv = W1[r * cnt + i]!;
        let q = pruned[r * cnt + i] ? 0 : wv;
        if (group) {
          if (!pruned[r * cnt + i]) q = quantizeValue(Math.fround(wv), grids[r * (k / group.groupSize) + Math.floor((i1 + i) / group.groupSize)]!, group.bits);
        } else if (bits) q = quant(q, r);
        loss += (wv - q) ** 2 / d ** 2 / 2;
        const e = (wv - q) / d;
        for (let c = i; c < cnt; c++) W1[r * cnt + c] -= e * U(i1 + i, i1 + c);
        W1[r * cnt + i] = q;
        Err[r * cnt + i] = e;
      }
    }
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cnt; c++) {
        W[r * k + i1 + c] = W1[r * cnt + c]!;
        mask[r * k + i1 + c] = pruned[r * cnt + c] ? 0 : 1;
      }
    for (let r = 0; r < rows; r++)
      for (let j = i2; j < k; j++) {
        let v = 0;
        for (let c = 0; c < cnt; c++) v += Err[r * cnt + c]! * U(i1 + c, j);
        W[r * k + j] -= v;
      }
  }
  return { weight: W, mask, loss, grids };
}

/** ‖X Wᵀ‖² over the calibration tokens. */
export function outputSquared(x: ArrayLike<number>, tokens: number, k: number, w: ArrayLike<number>, rows: number): number {
  let s = 0;
  for (let t = 0; t < tokens; t++)
    for (let r = 0; r < rows; r++) {
      let a = 0;
      for (let j = 0; j < k; j++) a += x[t * k + j]! * w[r * k + j]!;
      s += a * a;
    }
  return s;
}

/** ‖X Wᵀ − X Ŵᵀ‖ / ‖X Wᵀ‖ over the calibration tokens. */
export function reconstructionError(x: ArrayLike<number>, tokens: number, k: number, w: ArrayLike<number>, wh: ArrayLike<number>, rows: number): number {
  let num = 0, den = 0;
  const d = new Float64Array(rows * k);
  for (let i = 0; i < d.length; i++) d[i] = w[i]! - wh[i]!;
  for (let t = 0; t < tokens; t++) {
    const xo = t * k;
    for (let r = 0; r < rows; r++) {
      let a = 0, b = 0;
      const ro = r * k;
      for (let j = 0; j < k; j++) {
        const xv = x[xo + j]!;
        a += xv * w[ro + j]!;
        b += xv * d[ro + j]!;
      }
      den += a * a;
      num += b * b;
    }
  }
  return Math.sqrt(num / den);
}
