// format 'auto' for the GPU (lib/gpu-cost-model.ts): the choice is plain arithmetic, so it is
// tested here on the CPU; bench:gpu reports on a GPU whether it picked the fastest format.
import { describe, expect, it } from 'vitest';
import {
  DTypeError, GPU_AUTO_WINDOWS, H100_MODEL, SparseMatrix, Tensor, chooseGpuFormat, devices, gpuFormatBytes, gpuInt4Bytes,
  predictGpuInt4Seconds, predictGpuSeconds, gpuSlorbBytes, predictGpuSlorbSeconds,
  type WeightStats,
} from '../lib/index.js';

const hasGpu = devices().length > 0;
const llm = (sparsity: number, nm?: { n: number; m: number }): WeightStats =>
  ({ rows: 4096, cols: 4096, dtype: 'float16', nnz: Math.round(4096 * 4096 * (1 - sparsity)), ...(nm ? { nm } : {}) });

function masked(rows: number, cols: number, keep: (r: number, c: number) => boolean, seed: number): Tensor {
  const t = Tensor.randn([rows, cols], { seed, dtype: 'float16' });
  const mask = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) mask[r * cols + c] = keep(r, c) ? 1 : 0;
  return SparseMatrix.fromDense(t, { format: 'bitmap', mask }).toDense();
}

describe('GPU format auto', () => {
  it('picks by sparsity window at decode sizes', () => {
    expect(chooseGpuFormat(llm(0.1), 1).format).toBe('dense');
    expect(chooseGpuFormat(llm(0.3), 1).format).toBe('dense');
    for (const s of [0.41, 0.5, 0.7, 0.79]) expect(chooseGpuFormat(llm(s), 1).format, `${s}`).toBe('bitmap');
    for (const s of [0.8, 0.9, 0.97]) expect(chooseGpuFormat(llm(s), 8).format, `${s}`).toBe('tiled-csl');
    const c = chooseGpuFormat(llm(0.5, { n: 2, m: 4 }), 16);
    expect(c).toMatchObject({ format: 'nm', n: 2, m: 4 });
    // A 2:4 weight sparse enough for Tiled-CSL moves fewer bytes there.
    expect(chooseGpuFormat(llm(0.9, { n: 2, m: 4 }), 1).format).toBe('tiled-csl');
    // 4:8 has no GPU kernel: judged by its sparsity like any unstructured weight.
    expect(chooseGpuFormat(llm(0.5, { n: 4, m: 8 }), 1).format).toBe('bitmap');
  });

  it('falls back to dense where the sparse kernel would not beat cuBLASLt (large N)', () => {
    const at70 = [1, 8, 16, 32, 64, 256, 1024, 4096].map((n) => chooseGpuFormat(llm(0.7), n).format);
    expect(at70.slice(0, 4)).toEqual(['bitmap', 'bitmap', 'bitmap', 'bitmap']);  // the N <= 32 target region
    expect(at70[at70.length - 1]).toBe('dense');
    const flip = at70.indexOf('dense');
    expect(at70.slice(flip).every((f) => f === 'dense')).toBe(true);  // one crossover, no flapping
    // 2:4 halves the bytes and the tensor-core work: never predicted slower than dense.
    for (const n of [1, 64, 256, 4096]) expect(chooseGpuFormat(llm(0.5, { n: 2, m: 4 }), n).format).toBe('nm');
    const c = chooseGpuFormat(llm(0.7), 4096);
    expect(c.reason).toMatch(/loses to cuBLASLt dense at N = 4096/);
    expect(c.candidates.bitmap).toBeGreaterThan(c.candidates.dense!);
  });

  it('matches the issue targets in its own model (bitmap 70% N<=32 >= 2x, tiled-csl 80% >= 1.7x, 2:4 N=256 >= 1.3x)', () => {
    for (const n of [1, 8, 16, 32]) {
      const d = predictGpuSeconds('dense', llm(0.7), n);
      expect(d / predictGpuSeconds('bitmap', llm(0.7), n)).toBeGreaterThanOrEqual(2);
      expect(d / predictGpuSeconds('tiled-csl', llm(0.8), n)).toBeGreaterThanOrEqual(1.7);
    }
    const w24 = llm(0.5, { n: 2, m: 4 });
    expect(predictGpuSeconds('dense', w24, 256) / predictGpuSeconds('nm', w24, 256)).toBeGreaterThanOrEqual(1.3);
  });

  it('counts the bytes of each GPU layout', () => {
    const w = llm(0.75);
    const el = 4096 * 4096;
    expect(gpuFormatBytes('dense', w)).toBe(2 * el);
    expect(gpuFormatBytes('nm', w)).toBe(1.125 * el);
    expect(gpuFormatBytes('bitmap', w)).toBeCloseTo(el / 8 + 2 * w.nnz, -6);
    expect(gpuFormatBytes('tiled-csl', w)).toBeCloseTo(4 * w.nnz, -6);
    expect(GPU_AUTO_WINDOWS.tiledCslMinSparsity).toBeGreaterThan(GPU_AUTO_WINDOWS.bitmapMinSparsity);
    expect(H100_MODEL.bandwidth).toBe(3.0e12);
  });

  it("fromDense({ format: 'auto', device: 'cuda' }) packs what the GPU rule picks", () => {
    const M = 64, K = 128;
    const half = masked(M, K, (r, c) => (r * 7 + c * 13) % 100 < 40, 1);    // ~60% sparse
    const sparse = masked(M, K, (r, c) => (r * 7 + c * 13) % 100 < 10, 2);  // ~90% sparse
    const s24 = masked(M, K, (_r, c) => c % 4 < 2, 3);                      // 2:4 (50%)
    const dense = Tensor.randn([M, K], { seed: 4, dtype: 'float16' });
    expect(SparseMatrix.fromDense(half, { format: 'auto', device: 'cuda' }).format).toBe('bitmap');
    expect(SparseMatrix.fromDense(sparse, { format: 'auto', device: 'cuda' }).format).toBe('tiled-csl');
    const m24 = SparseMatrix.fromDense(s24, { format: 'auto', device: 'cuda', expectedN: 64 });
    expect([m24.format, m24.n, m24.m]).toEqual(['nm', 2, 4]);
    expect(SparseMatrix.fromDense(dense, { format: 'auto', device: 'cuda' }).format).toBe('dense');
    expect(SparseMatrix.fromDense(half, { format: 'auto', device: 'cuda', expectedN: 1 << 16 }).format).toBe('dense');
    // The packed weight is the same weight.
    expect(Array.from(SparseMatrix.fromDense(sparse, { format: 'auto', device: 'cuda' }).toDense().toTypedArray()))
      .toEqual(Array.from(sparse.toTypedArray()));
  });

  it('checks its options', () => {
    const w32 = Tensor.randn([8, 8], { seed: 5 });
    expect(() => SparseMatrix.fromDense(w32, { format: 'auto', device: 'cuda' })).toThrow(DTypeError);
    expect(() => SparseMatrix.fromDense(w32.to('float16'), { format: 'auto', device: 'tpu' as 'cuda' }))
      .toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }));
    expect(SparseMatrix.fromDense(w32, { format: 'auto', device: 'cpu' }).format).toBeTypeOf('string');
  });

  it.skipIf(hasGpu)("without a GPU, matrix.to('cuda', { format: 'auto' }) rejects with ERR_DEVICE before repacking", async () => {
    const m = SparseMatrix.fromDense(masked(32, 64, (r, c) => (r + c) % 3 === 0, 6), { format: 'csr' });
    await expect(m.to('cuda', { format: 'auto', expectedN: 8 })).rejects.toMatchObject({ code: 'ERR_DEVICE' });
    await expect(m.to('cuda', null as unknown as object)).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
  });
});

describe('GPU cost model: int4 weights', () => {
  it('the int4 layouts\' bytes are the host bytes for aligned symmetric weights, plus padding and 16-bit zero points', () => {
    for (const format of ['dense', 'nm'] as const)
      for (const groupSize of [32, 128]) {
        const w = Tensor.randn([64, 256], { seed: 3 });
        const s = SparseMatrix.fromDense(w, { format, ...(format === 'nm' ? { n: 2, m: 4, prune: 'magnitude' as const } : {}),
          quantize: { bits: 4, groupSize } });
        expect(gpuInt4Bytes({ format, rows: 64, cols: 256, groupSize, symmetric: true })).toBe(s.byteLength);
      }
    // 2:4 g128 on 11008 x 4096: 3.125 bits per weight; asymmetric adds 2 bytes per group.
    const w = { format: 'nm' as const, rows: 11008, cols: 4096, groupSize: 128, symmetric: true };
    expect(gpuInt4Bytes(w) * 8 / (11008 * 4096)).toBeCloseTo(3.125, 6);
    expect(gpuInt4Bytes({ ...w, symmetric: false }) - gpuInt4Bytes(w)).toBe(11008 * 32 * 2);
    expect(gpuInt4Bytes({ ...w, rows: 11001, cols: 4064, groupSize: 32 })).toBe(11008 * 4096 * 3 / 8 + 11008 * 127 * 2);
  });

  it('decode is memory-bound: int4 2:4 predicted faster than int4 dense, both far faster than fp16 dense', () => {
    const shape = { rows: 11008, cols: 4096, groupSize: 128, symmetric: true };
    const dense16 = predictGpuSeconds('dense', { rows: 11008, cols: 4096, dtype: 'float16', nnz: 11008 * 4096 }, 1);
    const d4 = predictGpuInt4Seconds({ ...shape, format: 'dense' }, 1), s4 = predictGpuInt4Seconds({ ...shape, format: 'nm' }, 1);
    expect(s4).toBeLessThan(d4);
    expect(d4).toBeLessThan(0.35 * dense16);
    // At large N the tensor cores bound it: 2:4 halves the flops.
    expect(predictGpuInt4Seconds({ ...shape, format: 'nm' }, 4096)).toBeLessThan(predictGpuInt4Seconds({ ...shape, format: 'dense' }, 4096));
  });
});

describe('GPU cost model: an SLoRB term', () => {
  const k16 = { groupSize: 16, scaleBytes: 2 };
  it('counts the bytes of its two kernels: S, row scales, P, x again, g, the fp32 partial', () => {
    const G = 4096 / 16;
    expect(gpuSlorbBytes(4096, 4096, 1, k16)).toBe(4096 * G * 2 + 2 * 4096 + 8 * G + 8 * 4096);
    expect(gpuSlorbBytes(4096, 4096, 1, { groupSize: 16, scaleBytes: 1, rowScaleBytes: 4 }))
      .toBe(4096 * G + 4 * 4096 + 2 * 4096 + 8 * G + 8 * 4096);
    expect(gpuSlorbBytes(100, 64, 3, { groupSize: 16, scaleBytes: 4, projectionBytes: 2 })).toBe(100 * 4 * 4 + 4 * 64 * 2 + 2 * 3 * 64 + 8 * 3 * 4 + 8 * 3 * 100);
  });

  it('adds its time to every candidate and prices 2:4 on our kernel (no cuSPARSELt epilogue for it)', () => {
    const w = llm(0.5, { n: 2, m: 4 });
    const term = predictGpuSlorbSeconds(4096, 4096, 1, k16);
    // decode: bf16 S is 1/16 of the dense weight's elements, so about 1/8 of 2:4's bytes at kernel bandwidth
    expect(term).toBeCloseTo(gpuSlorbBytes(4096, 4096, 1, k16) / (H100_MODEL.bandwidth * H100_MODEL.kernelMemEfficiency), 12);
    expect(predictGpuSeconds('dense', { ...w, slorb: k16 }, 1)).toBeCloseTo(predictGpuSeconds('dense', w, 1) + term, 12);
    expect(predictGpuSeconds('bitmap', { ...w, slorb: k16 }, 1)).toBeCloseTo(predictGpuSeconds('bitmap', w, 1) + term, 12);
    expect(predictGpuSeconds('nm', { ...w, slorb: k16 }, 1)).toBeGreaterThan(predictGpuSeconds('nm', w, 1) + term);
    expect(predictGpuInt4Seconds({ format: 'nm', rows: 4096, cols: 4096, groupSize: 128, symmetric: true, slorb: k16 }, 1))
      .toBeCloseTo(predictGpuInt4Seconds({ format: 'nm', rows: 4096, cols: 4096, groupSize: 128, symmetric: true }, 1) + term, 12);
    // at large N the row dots' flops on CUDA cores dominate
    expect(predictGpuSlorbSeconds(4096, 4096, 4096, k16)).toBeCloseTo(2 * 4096 * 256 * 4096 / (67e12 * H100_MODEL.kernelComputeEfficiency), 12);
    const c = chooseGpuFormat({ ...w, slorb: k16 }, 1);
    expect(c.predictedSeconds).toBeCloseTo(c.candidates[c.format]!, 12);
  });
});
