// int4 weights on the device: what to('cuda') and the device products accept, checked before
// anything reaches a GPU (so everywhere), and the upload refusal without one.
import { describe, expect, it } from 'vitest';
import { DeviceSparseMatrix, DeviceTensor, SparseMatrix, Tensor, devices, linear, selectedKernel } from '../lib/index.js';

const hasGpu = devices().length > 0;

describe('int4 weights and the GPU (no device needed)', () => {
  const w = Tensor.randn([32, 128], { seed: 1 });
  const q = (format: 'dense' | 'nm' | 'bitmap', bits: 4 | 8 = 4, nm = { n: 2, m: 4 }) =>
    SparseMatrix.fromDense(w, { format, ...(format === 'nm' ? { ...nm, prune: 'magnitude' as const } : {}), quantize: { bits, groupSize: 32 } });

  it('to(\'cuda\') refuses what no GPU kernel reads, naming it, before looking for a device', async () => {
    await expect(q('dense', 8).to('cuda')).rejects.toMatchObject({ code: 'ERR_DTYPE', message: expect.stringMatching(/int8/) });
    await expect(q('nm', 8).to('cuda')).rejects.toMatchObject({ code: 'ERR_DTYPE', message: expect.stringMatching(/int8/) });
    await expect(q('bitmap').to('cuda')).rejects.toMatchObject({ code: 'ERR_FORMAT', message: expect.stringMatching(/bitmap/) });
    await expect(q('nm', 4, { n: 2, m: 8 }).to('cuda')).rejects.toMatchObject({ code: 'ERR_FORMAT', message: expect.stringMatching(/2:8/) });
    await expect(q('dense').to('cuda', { format: 'nm' })).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/format/) });
    await expect(q('nm').to('cuda', { format: 'auto' })).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
  });

  it.skipIf(hasGpu)('without a GPU, int4 dense and 2:4 weights reject with ERR_DEVICE and the reason', async () => {
    for (const m of [q('dense'), q('nm')]) await expect(m.to('cuda')).rejects.toMatchObject({ code: 'ERR_DEVICE' });
  });

  it('an int4 device weight takes float16 or bfloat16 activations, nothing else', async () => {
    const fakeW = new DeviceSparseMatrix({} as never, 'nm', [32, 128], 'int4', 0, { bits: 4, groupSize: 32, symmetric: true });
    const fakeT = (dtype: 'float16' | 'bfloat16' | 'float32') => new DeviceTensor({} as never, [2, 128], dtype, 0);
    await expect(linear(fakeT('float32'), fakeW)).rejects.toMatchObject({ code: 'ERR_DTYPE', message: expect.stringMatching(/int4/) });
    // f16 and bf16 pass the checks and reach the native call, which refuses the stand-in handle.
    for (const dt of ['float16', 'bfloat16'] as const) {
      const err = await linear(fakeT(dt), fakeW).catch((e: unknown) => e);
      expect((err as { code: string }).code).not.toBe('ERR_DTYPE');
    }
    expect(() => selectedKernel(fakeW, -1)).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }));
  });
});
