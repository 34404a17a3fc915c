import type { FloatDType } from '../lib/index.js';
import { roundTo } from './reference.js';

// The float64 reference of AST's SLoRB layer, y = (W ⊙ M)x + S(Px) (+ bias), shared by the CPU
// tests and the GPU replay: wm [M, K] the masked weight, s [M, K/k] the scales (dequantized),
// p [K/k, K] a general projection or null for the group sums, x [N, K] of dtype xDtype: g = P·x is
// rounded to xDtype, as the layer computes it in a 16-bit model (docs/adapters.md, "Numerics").
// Returns y [N, M] and the sum of the magnitudes of every product (the scale of the rounding error).
export function linearRef(wm: Float64Array, s: Float64Array, p: Float64Array | null, x: Float64Array, M: number, K: number, N: number, k: number,
                   bias: Float64Array | null, xDtype: FloatDType) {
  const G = K / k;
  const y = new Float64Array(N * M), mag = new Float64Array(N * M);
  for (let t = 0; t < N; t++) {
    const g = new Float64Array(G), gmag = new Float64Array(G);
    for (let i = 0; i < G; i++) for (let j = 0; j < K; j++) {
      const pij = p ? p[i * K + j]! : Math.floor(j / k) === i ? 1 : 0;
      g[i] += pij * x[t * K + j]!;
      gmag[i] += Math.abs(pij * x[t * K + j]!);
    }
    if (xDtype !== 'float32') for (let i = 0; i < G; i++) g[i] = roundTo(xDtype, g[i]!);
    for (let r = 0; r < M; r++) {
      let acc = bias ? bias[r]! : 0, m = Math.abs(acc);
      for (let j = 0; j < K; j++) { acc += wm[r * K + j]! * x[t * K + j]!; m += Math.abs(wm[r * K + j]! * x[t * K + j]!); }
      for (let i = 0; i < G; i++) { acc += s[r * G + i]! * g[i]!; m += Math.abs(s[r * G + i]!) * gmag[i]!; }
      y[t * M + r] = acc;
      mag[t * M + r] = m;
    }
  }
  return { y, mag };
}
