// How far a tensor-core product may be from the exact (fp64) value, from how tensor cores add.
//
// Fasi, Higham, Mikaitis and Pranesh ("Numerical behavior of NVIDIA tensor cores", PeerJ Computer
// Science 7:e330, 2021) measured fp16/bf16-input, fp32-accumulate tensor cores: the products are
// exact; each "block FMA" adds c and a block of n_b products (4 on V100/T4, 8 on A100, wider on
// later parts) by aligning every addend to the largest exponent and dropping the bits that fall
// below fp32's 24-bit significand (truncation, no guard bits), then normalizes toward zero. Unlike
// round-to-nearest these errors do not cancel: with same-sign data every block loses a little of
// the running sum, so the error grows like K * mag * 2^-24, not sqrt(K).
//
// Bound used by the GPU tests: an mma instruction covers `step` columns of K (16, or 32 for
// mma.sp m16n8k32), at most `step` products, in blocks of n_b >= 4, so at most step / 4 blocks.
// In a block every addend (c and the products) is aligned to the largest, whose magnitude is at most
// L_s = |c at the step's start| + A_s, A_s the sum of |a_k x_k| over the step; each addend then loses
// < 2^-23 * L_s to truncation and the block's normalization toward zero < 2^-23 * L_s more:
//   |err_s| <= 2^-23 * (step + 2 * step / 4) * L_s.
// |c| is bounded by the exact partial sum plus the error so far. Split-K (the library picks it)
// restarts the partial sum at a stage boundary, so |partial| <= 2 * max_k |S(k)| with S the exact
// running sum in K order; the reduce kernel then adds at most `maxSplits` partials in fp32 (round to
// nearest: < maxSplits * 2^-24 * mag). The rounding to a 16-bit output comes on top.
// For same-sign data L_s ~ 2 * S: the bound is ~1.5 * K * 2^-23 * mag (7e-4 * mag at K = 4096),
// while the flat 1e-5 * mag the tests used before is exceeded from K ~ 1300 on (the emulator test
// test/tensor-core-bound.test.ts shows both). For random signs |S| grows like sqrt(K) and the bound
// stays far tighter, so one dropped product still fails a test.

export const TC_MIN_BLOCK = 4;

/** terms[k] = a_k * x_k in K order (signed, exact): the tolerance of one output element (see above). */
export function tensorCoreBound(terms: ArrayLike<number>, opts: { step?: number; maxSplits?: number } = {}): number {
  const step = opts.step ?? 16, splits = opts.maxSplits ?? 8;
  const perStep = 2 ** -23 * (step + (2 * step) / TC_MIN_BLOCK);
  let sum = 0, maxAbsSum = 0, mag = 0, err = 0;
  for (let k0 = 0; k0 < terms.length; k0 += step) {
    let a = 0;
    for (let k = k0; k < Math.min(k0 + step, terms.length); k++) a += Math.abs(terms[k]!);
    err += perStep * (2 * maxAbsSum + err + a);
    for (let k = k0; k < Math.min(k0 + step, terms.length); k++) {
      sum += terms[k]!;
      maxAbsSum = Math.max(maxAbsSum, Math.abs(sum));
    }
    mag += a;
  }
  return err + splits * 2 ** -24 * mag + 1e-30;
}

/**
 * The block FMA of the paper, emulated exactly: c plus `products` (exact doubles), every addend
 * truncated toward zero at 2^(E - 23) where 2^E <= the largest magnitude, then the sum rounded
 * toward zero to fp32.
 */
export function blockFma(c: number, products: number[]): number {
  let big = Math.abs(c);
  for (const t of products) big = Math.max(big, Math.abs(t));
  if (big === 0) return 0;
  const q = 2 ** (Math.floor(Math.log2(big)) - 23);
  let s = Math.trunc(c / q) * q;
  for (const t of products) s += Math.trunc(t / q) * q;
  return roundTowardZeroF32(s);
}

function roundTowardZeroF32(s: number): number {
  const r = Math.fround(s);
  if (Math.abs(r) <= Math.abs(s)) return r;
  // One fp32 ulp toward zero.
  const buf = new Float32Array([r]);
  const bits = new Uint32Array(buf.buffer);
  bits[0] = bits[0]! - 1;
  return buf[0]!;
}

/** A dot product as a tensor core with block width `block` computes it, starting from c = 0. */
export function tensorCoreDot(a: ArrayLike<number>, x: ArrayLike<number>, block: number): number {
  let c = 0;
  for (let k0 = 0; k0 < a.length; k0 += block) {
    const prods: number[] = [];
    for (let k = k0; k < Math.min(k0 + block, a.length); k++) prods.push(a[k]! * x[k]!);
    c = blockFma(c, prods);
  }
  return c;
}
