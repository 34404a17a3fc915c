// The GPU tests' tolerance (test/gpu/tolerance.ts) checked without a GPU: a tensor core's block FMA
// as Fasi, Higham, Mikaitis and Pranesh (2021) measured it (exact products, alignment to the
// largest addend, truncation, normalization toward zero), emulated exactly, must stay within the
// bound for block widths 4, 8 and 16 on random-sign and same-sign data; and same-sign data at
// large K must exceed the flat 1e-5 * mag the GPU tests used before, which is why it was replaced.
import { describe, expect, it } from 'vitest';
import { Tensor } from '../lib/index.js';
import { blockFma, tensorCoreBound, tensorCoreDot } from './gpu/tolerance.js';
import { valuesOf } from './reference.js';

function halves(n: number, seed: number, sameSign: boolean): Float64Array {
  const v = valuesOf(Tensor.randn([n], { seed, dtype: 'float16' }));
  return sameSign ? v.map(Math.abs) : v;
}

function worst(K: number, block: number, sameSign: boolean, seed: number) {
  let ratio = 0, oldRatio = 0;
  for (let r = 0; r < 6; r++) {
    const a = halves(K, seed + 2 * r, sameSign), x = halves(K, seed + 2 * r + 1, sameSign);
    let exact = 0, mag = 0;
    const terms: number[] = [];
    for (let k = 0; k < K; k++) { exact += a[k]! * x[k]!; mag += Math.abs(a[k]! * x[k]!); terms.push(a[k]! * x[k]!); }
    const err = Math.abs(tensorCoreDot(a, x, block) - exact);
    ratio = Math.max(ratio, err / tensorCoreBound(terms));
    oldRatio = Math.max(oldRatio, err / (1e-5 * mag));
  }
  return { ratio, oldRatio };
}

describe('tensor-core accumulation bound', () => {
  it('the block FMA truncates: same-sign sums lose, never gain', () => {
    expect(blockFma(1, [2 ** -30])).toBe(1);             // below the aligned significand: dropped
    expect(blockFma(2 ** 23, [1, 1, 1, 1])).toBe(2 ** 23 + 4);
    expect(blockFma(2 ** 24, [1, 1, 1, 1])).toBe(2 ** 24);  // fp32 spacing 2 at 2^24: each 1 is cut
    expect(blockFma(2 ** 25, [1, 1, 1])).toBe(2 ** 25);  // each 1 falls below 2^(25-23) = 4
    expect(blockFma(-(2 ** 25), [-1, -1, -1])).toBe(-(2 ** 25));
  });

  for (const block of [4, 8, 16])
    it(`block width ${block}: the emulated error stays within the bound (K = 64 .. 4096)`, () => {
      for (const K of [64, 300, 1300, 4096])
        for (const sameSign of [false, true]) expect(worst(K, block, sameSign, K + block).ratio).toBeLessThanOrEqual(1);
    });

  it('same-sign data at K = 4096 exceeds the old flat 1e-5 * mag tolerance, and the bound grows with K', () => {
    const big = worst(4096, 8, true, 77);
    expect(big.oldRatio).toBeGreaterThan(1);
    expect(big.ratio).toBeLessThanOrEqual(1);
    expect(big.ratio).toBeGreaterThan(0.05);  // the bound is not vacuous: within 20x of the emulated error
    const ones = new Array(4096).fill(1);
    expect(tensorCoreBound(ones) / 4096).toBeGreaterThan(tensorCoreBound(ones.slice(0, 1024)) / 1024 * 3);
  });

  it('with random signs the bound stays tight enough that one dropped product fails', () => {
    const K = 4096;
    const a = halves(K, 91, false), x = halves(K, 92, false);
    const terms = Array.from(a, (v, k) => v * x[k]!);
    let mag = 0;
    for (const t of terms) mag += Math.abs(t);
    const typical = mag / K;  // the size of one product
    expect(tensorCoreBound(terms)).toBeLessThan(typical / 2);
  });
});
