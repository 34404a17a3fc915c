import { describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, linear, spmm } from '../lib/index.js';

describe('async execution', () => {
  it('keeps the event loop turning while a large spmm runs', async () => {
    const w = Tensor.randn([2048, 2048], { seed: 1 });
    const a = SparseMatrix.fromDense(w, { format: 'csr' });
    const x = Tensor.randn([2048, 64], { seed: 2 });
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 1);
    // Only ticks that fire while a call is in flight count; calls repeat until 150 ms of them
    // have run, so the check holds however fast the kernels get.
    let inFlightMs = 0, inFlightTicks = 0, calls = 0;
    while (inFlightMs < 150) {
      const t0 = performance.now(), k0 = ticks;
      const y = await spmm(a, x);
      inFlightMs += performance.now() - t0;
      inFlightTicks += ticks - k0;
      calls++;
      expect(y.shape).toEqual([2048, 64]);
    }
    clearInterval(timer);
    // A blocked loop gives no tick inside a call; require a fair share of the elapsed milliseconds.
    expect(inFlightTicks).toBeGreaterThan(Math.min(10, inFlightMs / 15));
    expect(calls).toBeGreaterThan(0);
  });

  it('runs 50 concurrent calls, each with its own correct result', async () => {
    const w = Tensor.randn([300, 200], { seed: 3, dtype: 'bfloat16' });
    const mask = Uint8Array.from(Tensor.rand([300, 200], { seed: 4 }).toFloat32Array(), (v) => (v < 0.3 ? 1 : 0));
    const a = SparseMatrix.fromDense(w, { format: 'bitmap', mask });
    const xs = Array.from({ length: 50 }, (_, i) => Tensor.randn([i % 7 + 1, 200], { seed: 100 + i }));
    const results = await Promise.all(xs.map((x, i) => (i % 2 ? linear(x, a) : spmm(a, Tensor.from(transpose(x), [200, x.shape[0]!])))));
    results.forEach((y, i) => {
      const want = linear.sync(xs[i]!, a).toTypedArray();
      const got = i % 2 ? y.toTypedArray() : transposeBack(y);
      expect(got).toEqual(want);
    });
  });

  it('keeps its inputs alive even if the caller drops and disposes them', async () => {
    let w: Tensor | null = Tensor.randn([512, 512], { seed: 5 });
    const expected = spmm.sync(w, Tensor.randn([512, 3], { seed: 6 })).toTypedArray();
    let x: Tensor | null = Tensor.randn([512, 3], { seed: 6 });
    const p = spmm(w, x);
    w.dispose();
    x.dispose();
    w = x = null;
    (globalThis as { gc?: () => void }).gc?.();
    expect((await p).toTypedArray()).toEqual(expected);
  });

  it('rejects (not throws) on bad arguments in the Promise form', async () => {
    const p = spmm(Tensor.zeros([2, 3]), Tensor.zeros([4, 1]));
    expect(p).toBeInstanceOf(Promise);
    await expect(p).rejects.toMatchObject({ code: 'ERR_SHAPE' });
  });
});

function transpose(x: Tensor): Float32Array {
  const [n, k] = x.shape as [number, number];
  const d = x.toTypedArray() as Float32Array;
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) out[j * n + i] = d[i * k + j]!;
  return out;
}

function transposeBack(y: Tensor): Float32Array {
  const [m, n] = y.shape as [number, number];
  const d = y.toTypedArray() as Float32Array;
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j * m + i] = d[i * n + j]!;
  return out;
}
