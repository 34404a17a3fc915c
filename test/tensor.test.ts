import { describe, expect, it } from 'vitest';
import { DisposedError, DTypeError, ShapeError, SparsekitError, Tensor } from '../lib/index.js';
import { bf16ToNumber, f16ToNumber } from './reference.js';

describe('Tensor', () => {
  it('wraps typed arrays without copying', () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = Tensor.from(data, [2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.shape).toEqual([2, 3]);
    expect(t.toTypedArray()).toBe(data);
    data[0] = 42;
    expect(t.toFloat32Array()[0]).toBe(42);
    expect(Tensor.from(new Int8Array(4)).dtype).toBe('int8');
    expect(Tensor.from(new Uint8Array(4)).dtype).toBe('uint8');
    expect(Tensor.from(new Int32Array(4)).dtype).toBe('int32');
    expect(Tensor.from(new Uint16Array(4), [4], { dtype: 'bfloat16' }).dtype).toBe('bfloat16');
  });

  it('copies plain arrays into the requested dtype', () => {
    const t = Tensor.from([1, 2.5, -3], [3], { dtype: 'float16' });
    expect(Array.from(t.toTypedArray())).toEqual([0x3c00, 0x4100, 0xc200]);
  });

  it('rounds float32 to float16 and bfloat16 to nearest even, matching an independent decoder', () => {
    const src = Tensor.randn([20000], { seed: 5, std: 1000 });
    const extra = new Float32Array([0, -0, 65504, 65520, 1e-8, 5.960464477539063e-8, 1 + 2 ** -11, 1 + 3 * 2 ** -11, Infinity, -Infinity]);
    const all = new Float32Array(src.size + extra.length);
    all.set(src.toTypedArray() as Float32Array);
    all.set(extra, src.size);
    const t = Tensor.from(all);
    for (const [dtype, decode, ulp] of [['float16', f16ToNumber, 11], ['bfloat16', bf16ToNumber, 8]] as const) {
      const h = t.to(dtype).toTypedArray();
      for (let i = 0; i < all.length; i++) {
        const x = all[i]!;
        const got = decode(h[i]!);
        if (!Number.isFinite(x)) { expect(got).toBe(x); continue; }
        // Nearest representable: neighbours one code up/down must not be closer (ties: even code).
        const up = decode(h[i]! + 1), down = decode(h[i]! - 1);
        const d = Math.abs(got - x);
        if (Number.isFinite(got)) {
          if (Number.isFinite(up)) expect(d).toBeLessThanOrEqual(Math.abs(up - x));
          if (Number.isFinite(down) && (h[i]! & 0x7fff) !== 0) expect(d).toBeLessThanOrEqual(Math.abs(down - x));
          // Half a unit in the last place of `ulp` significant bits: |x - got| <= 2^-ulp·|x| in
          // the normal range (an absolute bound on subnormals), and a tie goes to the even code.
          const normalMin = dtype === 'float16' ? 2 ** -14 : 2 ** -126;
          const bound = Math.abs(x) >= normalMin ? 2 ** -ulp * Math.abs(x) : (dtype === 'float16' ? 2 ** -25 : 2 ** -134);
          expect(d, `${dtype} ${x}`).toBeLessThanOrEqual(bound);
          if (d > 0 && (d === Math.abs(up - x) || d === Math.abs(down - x))) expect(h[i]! & 1, `${dtype} tie ${x}`).toBe(0);
        } else {
          expect(Math.abs(x)).toBeGreaterThanOrEqual(dtype === 'float16' ? 65520 : 3.3961e38);
        }
      }
    }
    // Exact ties.
    expect(Tensor.from([1 + 2 ** -11], [1], {}).to('float16').toTypedArray()[0]).toBe(0x3c00);
    expect(Tensor.from([1 + 3 * 2 ** -11], [1], {}).to('float16').toTypedArray()[0]).toBe(0x3c02);
    expect(Tensor.from([1 + 2 ** -8], [1], {}).to('bfloat16').toTypedArray()[0]).toBe(0x3f80);
    expect(Tensor.from([1 + 3 * 2 ** -8], [1], {}).to('bfloat16').toTypedArray()[0]).toBe(0x3f82);
  });

  it('rounds ties in the subnormal range to even (float16 below 2^-14, bfloat16 below 2^-126)', () => {
    const bits = (v: number[], dtype: 'float16' | 'bfloat16') => Array.from(Tensor.from(v, [v.length]).to(dtype).toTypedArray());
    // float16 subnormals are multiples of 2^-24: k·2^-25 with k odd lies halfway between two.
    expect(bits([2 ** -25, 3 * 2 ** -25, -3 * 2 ** -25, 5 * 2 ** -25, -(2 ** -25), 7 * 2 ** -25], 'float16'))
      .toEqual([0x0000, 0x0002, 0x8002, 0x0002, 0x8000, 0x0004]);
    // Just off the ties: nearest, whichever side.
    expect(bits([2 ** -25 * (1 + 2 ** -20), 3 * 2 ** -25 * (1 - 2 ** -20), 2 ** -14 - 2 ** -25, 1023.5 * 2 ** -24], 'float16'))
      .toEqual([0x0001, 0x0001, 0x0400, 0x0400]);
    // bfloat16 subnormals are multiples of 2^-133 (float32 keeps them exactly).
    expect(bits([2 ** -134, 3 * 2 ** -134, -3 * 2 ** -134, 5 * 2 ** -134, 2 ** -134 + 2 ** -149], 'bfloat16'))
      .toEqual([0x0000, 0x0002, 0x8002, 0x0002, 0x0001]);
  });

  it('converts to integer dtypes with rounding and saturation', () => {
    const t = Tensor.from([-300, -1.5, -0.4, 0.5, 2.5, 300]);
    expect(Array.from(t.to('int8').toTypedArray())).toEqual([-128, -2, 0, 1, 3, 127]);
    expect(Array.from(t.to('uint8').toTypedArray())).toEqual([0, 0, 0, 1, 3, 255]);
    expect(Array.from(t.to('int32').toTypedArray())).toEqual([-300, -2, 0, 1, 3, 300]);
    expect(Array.from(Tensor.from(new Int8Array([-5, 7])).to('float32').toTypedArray())).toEqual([-5, 7]);
  });

  it('round-trips float16/bfloat16 -> float32 -> back bit-exactly', () => {
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const t = Tensor.randn([1000], { seed: 9, dtype });
      expect(t.to('float32').to(dtype).toTypedArray()).toEqual(t.toTypedArray());
    }
  });

  it('makes seeded random tensors that are deterministic and well distributed', () => {
    const a = Tensor.randn([100001], { seed: 123 });
    const b = Tensor.randn([100001], { seed: 123 });
    const c = Tensor.randn([100001], { seed: 124 });
    expect(a.toTypedArray()).toEqual(b.toTypedArray());
    expect(a.toTypedArray()).not.toEqual(c.toTypedArray());
    const v = a.toFloat32Array();
    let s = 0, s2 = 0;
    for (const x of v) { s += x; s2 += x * x; }
    expect(Math.abs(s / v.length)).toBeLessThan(0.01);
    expect(Math.abs(s2 / v.length - 1)).toBeLessThan(0.02);
    const u = Tensor.rand([50000], { seed: 1, low: -2, high: 3 }).toFloat32Array();
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...u)).toBeLessThan(3);
    // Same seed in another dtype gives the rounded values of the float32 draw.
    const bf = Tensor.randn([1000], { seed: 7, dtype: 'bfloat16' });
    expect(bf.toTypedArray()).toEqual(Tensor.randn([1000], { seed: 7 }).to('bfloat16').toTypedArray());
  });

  it('reshapes as a view and clones as a copy', () => {
    const t = Tensor.from(new Float32Array(6), [2, 3]);
    const r = t.reshape([3, 2]);
    expect(r.toTypedArray()).toBe(t.toTypedArray());
    const c = t.clone();
    expect(c.toTypedArray()).not.toBe(t.toTypedArray());
    expect(() => t.reshape([4])).toThrow(ShapeError);
  });

  it('is unusable after dispose, with ERR_DISPOSED', () => {
    const t = Tensor.zeros([2, 2]);
    {
      using u = Tensor.zeros([3]);
      expect(u.disposed).toBe(false);
    }
    t.dispose();
    t.dispose();
    expect(t.disposed).toBe(true);
    expect(() => t.toTypedArray()).toThrow(DisposedError);
    try { t.to('float16'); } catch (e) { expect((e as SparsekitError).code).toBe('ERR_DISPOSED'); }
  });

  it('rejects bad shapes and dtypes with typed errors naming the argument', () => {
    expect(() => Tensor.zeros([2, -1])).toThrow(/shape\[1\]/);
    expect(() => Tensor.zeros([2.5])).toThrow(ShapeError);
    expect(() => Tensor.zeros([2], { dtype: 'float64' as never })).toThrow(DTypeError);
    expect(() => Tensor.from(new Float32Array(5), [2, 3])).toThrow(/has 6 elements but data has 5/);
    expect(() => Tensor.from(new Uint16Array(2))).toThrow(/pass \{ dtype: 'float16' \}/);
    expect(() => Tensor.from(new Float32Array(2), [2], { dtype: 'int8' })).toThrow(DTypeError);
    expect(() => Tensor.from(new Float64Array(2) as never)).toThrow(DTypeError);
    expect(() => Tensor.randn([2], { seed: 1.5 })).toThrow(/seed/);
  });
});
