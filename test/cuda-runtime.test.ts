// The GPU runtime where there may be no GPU: devices() explains an empty list, device transfers
// fail with ERR_DEVICE and that reason, and the GPU-only checks run wherever a GPU is present
// (test/gpu/*.test.ts holds the correctness suite against the real kernels).
import { describe, expect, it } from 'vitest';
import v8 from 'node:v8';
import vm from 'node:vm';
import {
  DeviceError, DeviceSparseMatrix, DeviceTensor, SparseMatrix, Tensor, deviceMemory, devices, gpuStatus, linear, selectedKernel, spmm,
} from '../lib/index.js';
import { native } from '../lib/native.js';

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

// Argument checks of the device paths happen before anything reaches the GPU, so they are tested
// everywhere with stand-in handles (which a real call would reject as "not a device handle").
describe('GPU argument checks (no device needed)', () => {
  const fakeW = (rows = 64, cols = 96, dtype: 'float16' | 'bfloat16' = 'float16', id = 0) =>
    new DeviceSparseMatrix({} as never, 'bitmap', [rows, cols], dtype, id);
  const fakeT = (shape: number[], dtype: 'float16' | 'bfloat16' | 'float32' = 'float16', id = 0) =>
    new DeviceTensor({} as never, shape, dtype, id);

  it('spmm takes b [K] or [K, N] of the weight\'s K, any N', async () => {
    await expect(spmm(fakeW(), fakeT([95, 4]))).rejects.toMatchObject({ code: 'ERR_SHAPE' });
    await expect(spmm(fakeW(), fakeT([96, 4, 2]))).rejects.toMatchObject({ code: 'ERR_SHAPE' });
    await expect(spmm(fakeW(), fakeT([96, 4], 'bfloat16'))).rejects.toMatchObject({ code: 'ERR_DTYPE' });
    await expect(spmm(fakeW(), fakeT([96, 4], 'float16', 1))).rejects.toMatchObject({ code: 'ERR_DEVICE' });
    await expect(spmm(fakeW(), Tensor.zeros([96, 4]) as never)).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
  });

  it('linear checks x, bias and options before running', async () => {
    await expect(linear(fakeT([3, 95]), fakeW())).rejects.toMatchObject({ code: 'ERR_SHAPE' });
    await expect(linear(fakeT([3, 96]), fakeW(), Tensor.zeros([63]))).rejects.toMatchObject({ code: 'ERR_SHAPE' });
    await expect(linear(fakeT([3, 96]), fakeW(), [1, 2] as never)).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
    await expect(linear(fakeT([3, 96]), fakeW(), fakeT([64], 'float16', 2))).rejects.toMatchObject({ code: 'ERR_DEVICE' });
    await expect(linear(fakeT([3, 96]), fakeW(), null, { backend: 'cublas' as 'auto' })).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
    await expect(linear(fakeT([3, 96]), fakeW(), null, { outDtype: 'int8' as 'float16' })).rejects.toMatchObject({ code: 'ERR_DTYPE' });
    // split-K slices are gridDim.z: at most 65535 (launch_grid.h)
    await expect(linear(fakeT([3, 96]), fakeW(), null, { splitK: 65536 })).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
    await expect(linear(fakeT([3, 96]), fakeW(), null, { splitK: -1 })).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
    // A device bias with CPU operands is a mistake, not a silent copy (the types reject it too).
    // @ts-expect-error a DeviceTensor bias with CPU x and w
    await expect(linear(Tensor.zeros([3, 96]), Tensor.zeros([64, 96]), fakeT([64]))).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
    expect(() => selectedKernel(fakeW(), -1)).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }));
  });

  it.skipIf(hasGpu)('deviceMemory() without a GPU is ERR_DEVICE with the reason', () => {
    expect(() => deviceMemory()).toThrow(DeviceError);
  });
});

// The device-memory lifecycle: sizes in out-of-memory errors, V8's external-memory accounting,
// and the finalizer that frees what was never disposed.
describe.skipIf(!hasGpu)('GPU memory', () => {
  it('out of memory is ERR_DEVICE naming the requested and free bytes', () => {
    const huge = 2 ** 50;
    let err: unknown = null;
    try { native.cudaAlloc(0, huge); } catch (e) { err = e; }
    expect(err).toMatchObject({ code: 'ERR_DEVICE' });
    expect((err as Error).message).toContain(String(huge));
    expect((err as Error).message).toMatch(/bytes free/);
  });

  it('device buffers are reported to V8 as external memory', async () => {
    const before = process.memoryUsage().external;
    const t = await Tensor.zeros([64 << 20], { dtype: 'float16' }).to('cuda');  // 128 MiB
    expect(process.memoryUsage().external - before).toBeGreaterThanOrEqual(100 << 20);
    t.dispose();
  });

  it('dispose() while a product or copy is in flight waits for it (no use-after-free)', async () => {
    const wt = Tensor.randn([512, 1024], { seed: 11, dtype: 'float16' });
    const xt = Tensor.randn([64, 1024], { seed: 12, dtype: 'float16' });
    const want = await linear(xt, wt);
    for (const format of ['bitmap', 'tiled-csl', 'dense'] as const) {
      if (format === 'dense' && !gpuStatus().cublasLt) continue;
      const w = await SparseMatrix.fromDense(wt, { format }).to('cuda');
      const x = await xt.to('cuda');
      const pending = linear(x, w);
      w.dispose();  // both still in use by the running product: released when it ends
      x.dispose();
      const y = await pending;
      const got = (await y.to('cpu')).toFloat32Array();
      y.dispose();
      const ref = want.toFloat32Array();
      for (let i = 0; i < ref.length; i += 97) expect(Math.abs(got[i]! - ref[i]!)).toBeLessThan(0.05 + 0.01 * Math.abs(ref[i]!));
      await expect(linear(x, w)).rejects.toThrow(/disposed/);
    }
    const t = await Tensor.zeros([1 << 20], { dtype: 'float16' }).to('cuda');
    const back = t.to('cpu');
    t.dispose();  // the copy back still completes
    expect((await back).size).toBe(1 << 20);
  });

  it('the finalizer frees device memory that was never disposed', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const free0 = deviceMemory().freeBytes;
    for (let i = 0; i < 8; i++) await Tensor.zeros([64 << 20], { dtype: 'float16' }).to('cuda');  // 1 GiB, dropped
    for (let i = 0; i < 5 && deviceMemory().freeBytes < free0 - (256 << 20); i++) {
      gc();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(deviceMemory().freeBytes).toBeGreaterThan(free0 - (256 << 20));
  });
});
