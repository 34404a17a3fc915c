// Training-side primitives and mask-keeping low-rank merges against independent float64 references
// written from AST (thu-ml/Adaptive-Sparse-Trainer), LoRAPrune and PEFT's LoRA definition.
import { describe, expect, it } from 'vitest';
import {
  AST_LAMBDA_MAX, CalibrationStats, SparseMatrix, Tensor, decayLambda, loraPruneImportance, maskFlipRate, maskedDecay,
  mergeLowRank, refreshMask, sumImportance, type Format, type FloatDType,
} from '../lib/index.js';
import { rng, valuesOf } from './reference.js';
import { normals } from './solver-reference.js';

function randn(n: number, seed: number, scale = 1): Float64Array {
  const g = normals(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * g();
  return out;
}
const f32 = (a: Float64Array, shape: number[]) => Tensor.from(Float32Array.from(a), shape);
function randMask(n: number, density: number, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => (r() < density ? 1 : 0));
}

describe('AST decay schedule and masked decay', () => {
  it('ramps linearly to lambdaMax over increaseSteps, then stays', () => {
    expect(AST_LAMBDA_MAX).toBe(6e-5);
    for (const t of [0, 1, 2500, 9999, 10000, 10001, 40000]) {
      const want = 6e-5 * (t < 10000 ? t / 10000 : 1);
      expect(decayLambda(t, { increaseSteps: 10000 })).toBeCloseTo(want, 18);
    }
    expect(decayLambda(5, { increaseSteps: 10, lambdaMax: 1e-4 })).toBeCloseTo(5e-5, 18);
    expect(decayLambda(0, { increaseSteps: 0 })).toBe(6e-5);
    expect(() => decayLambda(-1, { increaseSteps: 10 })).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringContaining('step') }));
    expect(() => decayLambda(1, { increaseSteps: NaN })).toThrow(/options.increaseSteps/);
    expect(() => decayLambda(1, { increaseSteps: 10, lambdaMax: -1 })).toThrow(/options.lambdaMax/);
  });

  it('is lambda * W on pruned entries and zero on kept ones, every dtype', () => {
    const [M, K] = [7, 13];
    const w = randn(M * K, 1);
    const mask = randMask(M * K, 0.5, 2);
    for (const dtype of ['float32', 'float16', 'bfloat16'] as FloatDType[]) {
      const wt = f32(w, [M, K]).to(dtype);
      const wv = valuesOf(wt);
      const got = maskedDecay(wt, mask, { step: 300, increaseSteps: 1000 }).toFloat32Array();
      const lam = 6e-5 * 0.3;
      for (let i = 0; i < M * K; i++) {
        const want = mask[i] ? 0 : lam * wv[i]!;
        expect(Math.abs(got[i]! - want)).toBeLessThanOrEqual(Math.abs(want) * 1.2e-7);
      }
      expect(maskedDecay(wt, Tensor.from(mask, [M, K], { dtype: 'uint8' }), 2).toFloat32Array()[mask.indexOf(0)]).toBeCloseTo(2 * wv[mask.indexOf(0)]!, 5);
    }
    expect(() => maskedDecay(f32(w, [M, K]), new Uint8Array(3), 1)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringContaining('mask') }));
    expect(() => maskedDecay(f32(w, [M, K]), mask, Infinity)).toThrow(/lambda/);
  });
});

/** AST's refresh, re-implemented: per group keep the top n by score; unstructured: stable ascending sort per row, drop the first floor(s*K). */
function refreshRef(w: Float64Array, M: number, K: number, pat: { n: number; m: number } | { sparsity: number }, colNorm?: Float64Array): Uint8Array {
  const score = (i: number) => Math.abs(w[i]!) * (colNorm ? Math.sqrt(colNorm[i % K]!) : 1);
  const mask = new Uint8Array(M * K);
  if ('n' in pat) {
    for (let g = 0; g < M * K; g += pat.m) {
      const chosen: number[] = [];
      for (let k = 0; k < pat.n; k++) {
        let best = -1;
        for (let j = g; j < g + pat.m; j++) if (!chosen.includes(j) && (best < 0 || score(j) > score(best))) best = j;
        chosen.push(best);
      }
      for (const j of chosen) mask[j] = 1;
    }
  } else {
    for (let r = 0; r < M; r++) {
      const order = Array.from({ length: K }, (_, j) => r * K + j);
      // insertion sort: stable by construction
      for (let a = 1; a < K; a++) for (let b = a; b > 0 && score(order[b - 1]!) > score(order[b]!); b--) [order[b - 1], order[b]] = [order[b]!, order[b - 1]!];
      for (let j = Math.floor(pat.sparsity * K); j < K; j++) mask[order[j]!] = 1;
    }
  }
  return mask;
}

describe('mask refresh and flip rate', () => {
  const [M, K] = [9, 24];
  const w = randn(M * K, 3);
  w[5] = w[6] = 0.5; w[7] = -0.5; // ties inside a group
  it('top-n of m by |W| and by Wanda score, and unstructured per row', () => {
    const stats = new CalibrationStats(K);
    stats.add(f32(randn(5 * K, 4), [5, K]));
    const norms = Float64Array.from(stats.sumOfSquares());
    // 0.7 · 24 = 16.8: floor(s·cols) drops 16 per row (AST's int(s·numel)), not 17.
    for (const pat of [{ n: 2, m: 4 }, { n: 1, m: 8 }, { n: 4, m: 8 }, { sparsity: 0.5 }, { sparsity: 0.3 }, { sparsity: 0.7 }] as const) {
      expect(refreshMask(f32(w, [M, K]), pat).toTypedArray()).toEqual(refreshRef(w, M, K, pat));
      expect(refreshMask(f32(w, [M, K]), pat, { score: 'wanda', activations: stats }).toTypedArray()).toEqual(refreshRef(w, M, K, pat, norms));
      expect(refreshMask(f32(w, [M, K]), pat, { score: 'wanda', activations: Float32Array.from(norms) }).toTypedArray())
        .toEqual(refreshRef(w, M, K, pat, Float64Array.from(Float32Array.from(norms))));
    }
    expect(() => refreshMask(f32(w, [M, K]), { n: 2, m: 5 })).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringContaining('pattern.m') }));
    expect(() => refreshMask(f32(w, [M, K]), { n: 2, m: 4 }, { score: 'wanda' })).toThrow(/options.activations/);
    expect(() => refreshMask(f32(w, [M, K]), { n: 2, m: 4 }, { score: 'wanda', activations: new Float32Array(3) })).toThrow(/options.activations/);
  });

  it('maskFlipRate counts disagreeing positions over the total', () => {
    const a = randMask(M * K, 0.5, 5), b = Uint8Array.from(a);
    for (const i of [0, 17, 100]) b[i] = b[i] ? 0 : 1;
    expect(maskFlipRate(a, b)).toBe(3 / (M * K));
    expect(maskFlipRate(a, a)).toBe(0);
    const c = Uint8Array.from(a, (v) => v * 7); // nonzero = kept, whatever the byte
    expect(maskFlipRate(a, c)).toBe(0);
    expect(maskFlipRate(Tensor.from(a, [M, K], { dtype: 'uint8' }), Tensor.from(b, [M, K], { dtype: 'uint8' }))).toBe(3 / (M * K));
    expect(() => maskFlipRate(a, new Uint8Array(4))).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringContaining('b') }));
    expect(() => maskFlipRate(Tensor.from(a, [M, K], { dtype: 'uint8' }), Tensor.from(a, [K, M], { dtype: 'uint8' }))).toThrow(/b: shape/);
  });
});

describe('LoRAPrune importance', () => {
  const [M, K, r] = [6, 10, 3];
  const w = randn(M * K, 6), A = randn(r * K, 7), B = randn(M * r, 8), gA = randn(r * K, 9), gB = randn(M * r, 10);
  // |(W + s·B·A) ⊙ (∇B·A + B·∇A)|, written with explicit matrix products.
  const mm = (x: Float64Array, y: Float64Array, m: number, k: number, n: number) => {
    const o = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let t = 0; t < k; t++) o[i * n + j] += x[i * k + t]! * y[t * n + j]!;
    return o;
  };
  const ba = mm(B, A, M, r, K), g1 = mm(gB, A, M, r, K), g2 = mm(B, gA, M, r, K);
  const ref = (s: number) => Float64Array.from(w, (v, i) => Math.abs((v + s * ba[i]!) * (g1[i]! + g2[i]!)));
  const lora = { A: f32(A, [r, K]), B: f32(B, [M, r]), gradA: f32(gA, [r, K]), gradB: f32(gB, [M, r]) };
  const close = (got: Float32Array, want: Float64Array) => {
    const scale = Math.max(...want);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-6 * scale);
  };
  it('per weight, and summed per row, column, row group and column group', () => {
    const per = ref(0.5);
    close(loraPruneImportance(f32(w, [M, K]), { ...lora, scale: 0.5 }).importance.toFloat32Array(), per);
    const sum = (n: number, key: (i: number) => number) => {
      const o = new Float64Array(n);
      per.forEach((v, i) => { o[key(i)] += v; });
      return o;
    };
    const imp = (agg: Parameters<typeof loraPruneImportance>[2]) => loraPruneImportance(f32(w, [M, K]), { ...lora, scale: 0.5 }, agg).importance.toFloat32Array();
    close(imp('row'), sum(M, (i) => Math.floor(i / K)));
    close(imp('column'), sum(K, (i) => i % K));
    close(imp({ rows: 2 }), sum(3, (i) => Math.floor(i / K / 2)));
    close(imp({ columns: 5 }), sum(2, (i) => Math.floor((i % K) / 5)));
    const heads = sumImportance([
      loraPruneImportance(f32(w, [M, K]), { ...lora, scale: 0.5 }, { rows: 3 }),
      loraPruneImportance(f32(w, [M, K]), { ...lora, scale: 0.5 }, { columns: 5 }),
    ]).toFloat32Array();
    close(heads, Float64Array.from(sum(2, (i) => Math.floor(i / K / 3)), (v, h) => v + sum(2, (i) => Math.floor((i % K) / 5))[h]!));
    close(loraPruneImportance(f32(w, [M, K]).to('bfloat16'), lora).importance.toFloat32Array(),
      (() => { const wv = valuesOf(f32(w, [M, K]).to('bfloat16')); return Float64Array.from(wv, (v, i) => Math.abs((v + ba[i]!) * (g1[i]! + g2[i]!))); })());
  });
  it('refuses mismatched ranks and shapes, naming the argument', () => {
    expect(() => loraPruneImportance(f32(w, [M, K]), { ...lora, B: f32(randn(M * 2, 1), [M, 2]) }))
      .toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringContaining('lora.B') }));
    expect(() => loraPruneImportance(f32(w, [M, K]), { ...lora, gradA: f32(A, [K, r]) })).toThrow(/lora.gradA/);
    expect(() => loraPruneImportance(f32(w, [M, K]), lora, { rows: 4 })).toThrow(/aggregate.rows/);
    expect(() => sumImportance([f32(randn(2, 1), [2]), f32(randn(3, 1), [3])])).toThrow(/parts\[1\]/);
  });
});

/** A pruned weight's reference merge: W + s·B·A at kept positions, exactly 0 elsewhere (float64). */
function mergeRef(w: Float64Array, keep: (i: number) => boolean, A: Float64Array, B: Float64Array, M: number, K: number, r: number, s: number) {
  const out = new Float64Array(M * K);
  for (let i = 0; i < M; i++) for (let j = 0; j < K; j++) {
    if (!keep(i * K + j)) continue;
    let d = 0;
    for (let t = 0; t < r; t++) d += B[i * r + t]! * A[t * K + j]!;
    out[i * K + j] = w[i * K + j]! + s * d;
  }
  return out;
}
const ULP: Record<FloatDType, number> = { float32: 2 ** -23, float16: 2 ** -10, bfloat16: 2 ** -7 };

describe('mergeLowRank keeps the mask', () => {
  const FORMATS: Format[] = ['dense', 'csr', 'bitmap', 'nm', 'tiled-csl'];
  for (const [M, K, r] of [[7, 40, 3], [130, 69, 4], [1, 16, 1]] as const) {
    for (const format of FORMATS) for (const dtype of ['float32', 'float16', 'bfloat16'] as FloatDType[]) {
      if (format === 'tiled-csl' && dtype === 'float32') continue;
      it(`${format} ${dtype} [${M}, ${K}] rank ${r}`, () => {
        const w0 = f32(randn(M * K, M + K), [M, K]).to(dtype);
        const mask = randMask(M * K, 0.45, K);
        if (format !== 'nm') { mask.fill(0, 0, Math.min(K, M * K)); mask.fill(1, (M - 1) * K); } // an empty row and a full row
        // nm: 2 of every 4 by magnitude, a last partial group when K % 4 != 0 (padding must stay zero)
        const sm = format === 'nm' ? SparseMatrix.fromDense(w0, { format, n: 2, m: 4, prune: 'magnitude' }) : SparseMatrix.fromDense(w0, { format, mask });
        if (format === 'nm') valuesOf(sm.toDense()).forEach((v, i) => { mask[i] = v !== 0 ? 1 : 0; });
        const A = randn(r * K, 11, 0.1), B = randn(M * r, 12, 0.1);
        const merged = mergeLowRank(sm, f32(A, [r, K]), f32(B, [M, r]).to('bfloat16'), { scale: 2 });
        expect(merged.format).toBe(format);
        expect(merged.nnz).toBe(sm.nnz);
        for (const [name, part] of Object.entries(merged.parts()))
          if (name !== 'values' && name !== 'words') expect(part.toTypedArray()).toEqual(sm.parts()[name]!.toTypedArray());
        const Bq = valuesOf(f32(B, [M, r]).to('bfloat16'));
        const want = mergeRef(valuesOf(w0), (i) => mask[i] === 1, A.map((v) => Math.fround(v)), Bq, M, K, r, 2);
        const got = valuesOf(merged.toDense());
        for (let i = 0; i < M * K; i++) {
          if (!mask[i]) { expect(got[i]).toBe(0); continue; }
          expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(ULP[dtype] * Math.abs(want[i]!) + 1e-30);
        }
      });
    }
  }

  it('dense Tensor: kept = nonzeros, or an explicit mask; keepMask false fills everything', () => {
    const [M, K, r] = [5, 9, 2];
    const w = randn(M * K, 1).map(Math.fround);
    const mask = randMask(M * K, 0.5, 3);
    const wz = Float64Array.from(w, (v, i) => (mask[i] ? v : 0));
    const A = randn(r * K, 2).map(Math.fround), B = randn(M * r, 3).map(Math.fround);
    const close = (got: Float64Array, want: Float64Array) => want.forEach((v, i) => expect(Math.abs(got[i]! - v)).toBeLessThanOrEqual(2e-7 * Math.abs(v) + 1e-30));
    close(valuesOf(mergeLowRank(f32(wz, [M, K]), f32(A, [r, K]), f32(B, [M, r]), { scale: 0.25 })), mergeRef(wz, (i) => mask[i] === 1, A, B, M, K, r, 0.25));
    close(valuesOf(mergeLowRank(f32(w, [M, K]), f32(A, [r, K]), f32(B, [M, r]), { mask })), mergeRef(w, (i) => mask[i] === 1, A, B, M, K, r, 1));
    close(valuesOf(mergeLowRank(f32(wz, [M, K]), f32(A, [r, K]), f32(B, [M, r]), { keepMask: false })), mergeRef(wz, () => true, A, B, M, K, r, 1));
    const bm = mergeLowRank(SparseMatrix.fromDense(f32(wz, [M, K]), { format: 'csr' }), f32(A, [r, K]), f32(B, [M, r]), { keepMask: false });
    expect(bm.nnz).toBe(M * K);
    close(valuesOf(bm.toDense()), mergeRef(wz, () => true, A, B, M, K, r, 1));
  });

  it('bad input: ranks, shapes, non-finite factors, nm without keepMask, mask with a SparseMatrix', () => {
    const [M, K] = [4, 8];
    const w = f32(randn(M * K, 1), [M, K]);
    const A = f32(randn(2 * K, 2), [2, K]), B = f32(randn(M * 2, 3), [M, 2]);
    expect(() => mergeLowRank(w, A, f32(randn(M * 3, 3), [M, 3]))).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringMatching(/^B: rank 3/) }));
    expect(() => mergeLowRank(w, f32(randn(2 * 7, 2), [2, 7]), B)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringMatching(/^A:/) }));
    expect(() => mergeLowRank(w, A, f32(randn(5 * 2, 3), [5, 2]))).toThrow(/^B: expected \[4, r\]/);
    const bad = randn(2 * K, 2); bad[3] = NaN;
    expect(() => mergeLowRank(w, f32(bad, [2, K]), B)).toThrow(expect.objectContaining({ code: 'ERR_NUMERIC', message: expect.stringContaining('A: element [0, 3]') }));
    const nm = SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude' });
    expect(() => mergeLowRank(nm, A, B, { keepMask: false })).toThrow(expect.objectContaining({ code: 'ERR_FORMAT', message: expect.stringContaining('options.keepMask') }));
    expect(() => mergeLowRank(nm, A, B, { mask: new Uint8Array(M * K) })).toThrow(/options.mask/);
    expect(() => mergeLowRank(w, A, B, { scale: NaN })).toThrow(/options.scale/);
    const big = f32(new Float64Array(M * K).fill(60000), [M, K]).to('float16');
    expect(() => mergeLowRank(big, f32(new Float64Array(K).fill(100), [1, K]), f32(new Float64Array(M).fill(100), [M, 1])))
      .toThrow(expect.objectContaining({ code: 'ERR_NUMERIC', message: expect.stringContaining('float16') }));
  });
});
