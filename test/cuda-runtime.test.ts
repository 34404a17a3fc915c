// The GPU runtime where there may be no GPU: devices() explains an empty list, device transfers
// fail with ERR_DEVICE and that reason, and the GPU-only checks run wherever a GPU is present
// (test/gpu/*.test.ts holds the correctness suite against the real kernels).
import { describe, expect, it } from 'vitest';
import { DeviceError, SparseMatrix, Tensor, devices, gpuStatus, spmm } from '../lib/index.js';

const hasGpu = devices().length > 0;
if (!hasGpu)
  console.warn(`\n*** sparsekit: NO GPU: CUDA runtime tests that need a device are SKIPPED. Reason: ${devices().reason}\n`);

describe('GPU runtime', () => {
  it('devices() is an array with a reason when empty, and never throws', () => {
    const list = devices();
    expect(Array.isArray(list)).toBe(true);
    if (list.length === 0) {
      expect(typeof list.reason).toBe('string');
      expect(list.reason!.length).toBeGreaterThan(10);
    } else {
      for (const d of list) {
        expect(d.computeCapability).toMatch(/^\d+\.\d+$/);
        expect(d.memoryBytes).toBeGreaterThan(0);
      }
    }
    const s = gpuStatus();
    expect(s.library === null || typeof s.library === 'string').toBe(true);
  });

  it.skipIf(hasGpu)('without a GPU, to(\'cuda\') rejects with ERR_DEVICE and the reason', async () => {
    const t = Tensor.randn([4, 4], { seed: 1, dtype: 'float16' });
    const err = await t.to('cuda').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeviceError);
    expect((err as DeviceError).code).toBe('ERR_DEVICE');
    expect((err as Error).message).toContain(devices().reason!.slice(0, 20));
    const w = SparseMatrix.fromDense(t, { format: 'bitmap' });
    await expect(w.to('cuda:1')).rejects.toMatchObject({ code: 'ERR_DEVICE' });
  });

  it('device strings and CPU round trips are checked', async () => {
    const t = Tensor.randn([2, 3], { seed: 2 });
    await expect(t.to('cpu')).resolves.toBe(t);
    await expect(t.to('cuda:x' as 'cuda')).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
    const w = SparseMatrix.fromDense(Tensor.randn([8, 8], { seed: 3 }), { format: 'bitmap' });
    await expect(w.to('cuda')).rejects.toMatchObject({ code: 'ERR_DTYPE' });  // float32 weights stay on the CPU
  });

  it.skipIf(!hasGpu)('a device tensor survives the round trip bit for bit', async () => {
    const t = Tensor.randn([33, 7], { seed: 4, dtype: 'bfloat16' });
    const d = await t.to('cuda');
    const back = await d.to('cpu');
    d.dispose();
    expect(Array.from(back.toTypedArray())).toEqual(Array.from(t.toTypedArray()));
  });

  it.skipIf(!hasGpu)('spmm with device operands returns a device tensor', async () => {
    const w = await SparseMatrix.fromDense(Tensor.randn([64, 96], { seed: 5, dtype: 'float16' }), { format: 'bitmap' }).to('cuda');
    const x = await Tensor.randn([96], { seed: 6, dtype: 'float16' }).to('cuda');
    const y = await spmm(w, x);
    expect(y.device).toBe('cuda:0');
    expect(y.shape).toEqual([64]);
  });
});
