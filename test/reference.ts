// Independent fp64 references and helpers for the tests (no sparsekit code is used to compute them).
import type { Tensor } from '../lib/index.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function bf16ToNumber(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

export function f16ToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Values of a tensor as float64, decoded independently of the native code. */
export function valuesOf(t: Tensor): Float64Array {
  const d = t.toTypedArray();
  const out = new Float64Array(d.length);
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    out[i] = t.dtype === 'bfloat16' ? bf16ToNumber(v) : t.dtype === 'float16' ? f16ToNumber(v) : v;
  }
  return out;
}

/** C[M,N] = A[M,K] B[K,N] in float64, plus the sum of |terms| per output for error bounds. */
export function matmulRef(a: Float64Array, b: Float64Array, M: number, K: number, N: number) {
  const c = new Float64Array(M * N);
  const mag = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let k = 0; k < K; k++) {
      const av = a[i * K + k]!;
      if (av === 0) continue;
      for (let j = 0; j < N; j++) {
        const t = av * b[k * N + j]!;
        c[i * N + j] += t;
        mag[i * N + j] += Math.abs(t);
      }
    }
  return { c, mag };
}

/** y[n][m] = sum_k a[m][k] x[n][k] (the GPU kernels' nn.Linear orientation) in float64, plus sum |terms|. */
export function linearRef(a: Float64Array, x: Float64Array, M: number, K: number, N: number) {
  const y = new Float64Array(N * M), mag = new Float64Array(N * M);
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      let s = 0, g = 0;
      for (let k = 0; k < K; k++) {
        const t = a[m * K + k]! * x[n * K + k]!;
        s += t;
        g += Math.abs(t);
      }
      y[n * M + m] = s;
      mag[n * M + m] = g;
    }
  return { y, mag };
}

/** fp32 -> bf16 -> number, round to nearest even (NaN kept), written here independently of the addon. */
export function roundBf16(v: number): number {
  f32[0] = v;
  const b = u32[0]!;
  if ((b & 0x7fffffff) > 0x7f800000) return NaN;
  return bf16ToNumber(((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff);
}

/** fp32 -> f16 -> number, round to nearest even (overflow to Inf, gradual underflow). */
export function roundF16(v: number): number {
  const x = Math.fround(v);
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return Math.sign(x) * Infinity;
  const ulp = 2 ** (Math.max(Math.floor(Math.log2(a)), -14) - 10);
  const q = a / ulp, f = Math.floor(q), d = q - f;
  return Math.sign(x) * (d > 0.5 || (d === 0.5 && f % 2 === 1) ? f + 1 : f) * ulp;
}

/** v rounded to a float dtype (float32: to fp32). */
export function roundTo(dtype: 'float32' | 'float16' | 'bfloat16', v: number): number {
  return dtype === 'bfloat16' ? roundBf16(v) : dtype === 'float16' ? roundF16(v) : Math.fround(v);
}

/** Half an ulp of |v| in a 16-bit output (f16's subnormal spacing as the floor; 0 for float32): one rounding. */
export function halfUlp16(out: 'float32' | 'float16' | 'bfloat16', v: number): number {
  if (out === 'float32' || v === 0) return out === 'float16' ? 2 ** -25 : 0;
  const e = Math.floor(Math.log2(Math.abs(v)));
  return out === 'float16' ? 2 ** (Math.max(e, -14) - 11) : 2 ** (e - 8);
}

/** Deterministic xorshift PRNG for test data shapes and masks. */
export function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

/** Relative error bound per output dtype: fp32 accumulation error plus output rounding. */
export const OUT_RTOL: Record<string, number> = { float32: 2e-6, float16: 1e-3, bfloat16: 8e-3 };

export function expectClose(got: Float64Array, want: Float64Array, mag: Float64Array, rtol: number, K: number, label: string) {
  // fp32 accumulation over K terms: |err| <= K * eps32 * sum|terms| (loose, deterministic bound).
  const accum = Math.max(K, 1) * 1.2e-7;
  for (let i = 0; i < want.length; i++) {
    const tol = (accum + rtol) * mag[i]! + rtol * Math.abs(want[i]!) + 1e-30;
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= tol)) throw new Error(`${label}: element ${i}: got ${got[i]}, want ${want[i]} (err ${err}, tol ${tol})`);
  }
}
