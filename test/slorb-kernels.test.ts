// SLoRB's CPU term at every S dtype (float32, float16, bfloat16, int8 with float32/float16 row
// scales) against the float64 reference, on shapes that reach every branch of the row-dots kernel:
// odd row counts (its 2-row blocks), G not a multiple of 16 (the masked tail), N = 1..9 (token
// blocks of 8 and each remainder; from 8 on in spmm's layout only), N = 8..32 in linear's layout
// (the panels: float32 ones with tokens in the lanes for float32 / f16 x, bf16 x's 4-row octs
// panels with 1..4 vectors of 4 tokens per 16-token block (27: a last vector of 3), a partial
// last oct, G past the int8 S's 256-scale chunk), N = 33 (past kSlorbDotTokens: the blocked-GEMM
// path), linear and spmm layouts, every output dtype. Also slorb.quantize against a float64
// re-implementation, the int8 term on disk, and its typed errors.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SparseMatrix, Tensor, cpuInfo, linear, loadSafetensors, saveSafetensors, setIsa, slorb, spmm, type FloatDType, type Isa } from '../lib/index.js';
import { OUT_RTOL, expectClose, rng, valuesOf } from './reference.js';
import { linearRef } from './slorb-ref.js';

const dir = mkdtempSync(join(tmpdir(), 'sparsekit-slorb-k-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type SKind = FloatDType | 'int8/float32' | 'int8/float16';
const KINDS: SKind[] = ['float32', 'float16', 'bfloat16', 'int8/float32', 'int8/float16'];

function termOf(S: Tensor, kind: SKind, k: number) {
  if (!kind.startsWith('int8')) return { scales: S.to(kind as FloatDType), groupSize: k };
  return { ...slorb.quantize(S, { scaleDtype: kind.slice(5) as FloatDType }), groupSize: k };
}

/** The term's S as the kernel must use it: float values, or int8 codes times their row scale. */
function dequant(term: { scales: Tensor; rowScales?: Tensor }): Float64Array {
  const s = valuesOf(term.scales);
  if (!term.rowScales) return s;
  const rs = valuesOf(term.rowScales), G = term.scales.shape[1]!;
  return s.map((v, i) => v * rs[Math.floor(i / G)]!);
}

function randMask(n: number, density: number, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => (r() < density ? 1 : 0));
}

describe('SLoRB term: every S dtype, odd shapes, N across the kernel paths', () => {
  // [M, K, k]: G = 37 (two full 16-steps and a tail of 5), G = 16 exactly, G = 1.
  // [40, 600, 2]: G = 300, past the panels' 256-scale chunk, two 16-row fp32 panels and a tail of
  // 8, the octs panels' last oct half full. [21, 518, 2]: G = 259, odd past the chunk (the fp32
  // panels' last pair of groups has one, the last oct three), five 4-row blocks and one row.
  for (const [M, K, k] of [[23, 111, 3], [9, 256, 16], [6, 5, 5], [40, 600, 2], [21, 518, 2]] as const)
    for (const kind of KINDS) {
      it(`S ${kind} [${M}, ${K}] k=${k}`, () => {
        const w = Tensor.randn([M, K], { seed: M * K, dtype: 'bfloat16' });
        const mask = randMask(M * K, 0.5, K + 1);
        const sm0 = SparseMatrix.fromDense(w, { format: 'bitmap', mask });
        const wm = valuesOf(sm0.toDense());
        const term = termOf(slorb.init(w, mask, { groupSize: k, init: 'xavier', seed: 9 }), kind, k);
        const sm = SparseMatrix.fromParts('bitmap', { shape: [M, K], dtype: 'bfloat16', parts: sm0.parts(), slorb: term });
        const s = dequant(term);
        // 8..32 in linear's layout: the panels (spmm's layout keeps the row dots); 33: the blocked GEMM.
        for (const N of [1, 2, 3, 7, 8, 9, 12, 16, 17, 27, 32, 33]) {
          const x = Tensor.randn([N, K], { seed: N + 40, dtype: 'bfloat16' });
          const xv = valuesOf(x);
          const { y, mag } = linearRef(wm, s, null, xv, M, K, N, k, null, 'bfloat16');
          for (const outDtype of ['float32', 'bfloat16', 'float16'] as FloatDType[])
            expectClose(valuesOf(linear.sync(x, sm, null, { outDtype })), y, mag, OUT_RTOL[outDtype]!, K + K / k, `linear ${outDtype} N=${N}`);
          // spmm's b is float32 here: g stays float32
          const xt = Tensor.from(Float32Array.from({ length: K * N }, (_, i) => xv[(i % N) * K + Math.floor(i / N)]!), [K, N]);
          const ys = valuesOf(spmm.sync(sm, xt, { outDtype: 'float32' }));
          const r32 = linearRef(wm, s, null, xv, M, K, N, k, null, 'float32');
          expectClose(Float64Array.from({ length: M * N }, (_, i) => ys[(i % M) * N + Math.floor(i / M)]!), r32.y, r32.mag, OUT_RTOL.float32!, K + K / k, `spmm N=${N}`);
        }
      });
    }

  // Every ISA the CPU runs (AVX-512's row dots and panels, AVX2's row dots, portable): at N = 1
  // eight-row blocks and the rows after them, at N = 3, 9, 17 token blocks of 8 and their
  // remainders; G past a multiple of 8 (the scalar tail), every S dtype.
  it('the term on every ISA: N = 1, 3, 9, 17, 8-row blocks, leftover rows, G tails, every S dtype', () => {
    const startIsa = cpuInfo().isa;
    try {
      for (const isa of cpuInfo().supportedIsas as Isa[])
        for (const [M, K, k] of [[23, 111, 3], [17, 256, 16], [40, 600, 2], [7, 96, 4]] as const)
          for (const kind of KINDS) {
            setIsa(isa);
            const w = Tensor.randn([M, K], { seed: M + K, dtype: 'bfloat16' });
            const mask = randMask(M * K, 0.5, K + 7);
            const sm0 = SparseMatrix.fromDense(w, { format: 'bitmap', mask });
            const term = termOf(slorb.init(w, mask, { groupSize: k, init: 'xavier', seed: 11 }), kind, k);
            const sm = SparseMatrix.fromParts('bitmap', { shape: [M, K], dtype: 'bfloat16', parts: sm0.parts(), slorb: term });
            for (const N of [1, 3, 9, 17]) {
              const x = Tensor.randn([N, K], { seed: 77 + N, dtype: 'bfloat16' });
              const { y, mag } = linearRef(valuesOf(sm0.toDense()), dequant(term), null, valuesOf(x), M, K, N, k, null, 'bfloat16');
              expectClose(valuesOf(linear.sync(x, sm, null, { outDtype: 'float32' })), y, mag, OUT_RTOL.float32!, K + K / k, `${isa} S ${kind} [${M}, ${K}] k=${k} N=${N}`);
            }
          }
    } finally {
      setIsa(startIsa);
    }
  });

  // At N = 1 the term follows the kernel's whole task range (spmm.h RowEpilogue), at N = 5 its
  // slices: the 4-bit kernels too, with and without a bias of their own.
  it('int4 dense, bitmap and nm weights with a term, N = 1 and 5, with and without bias', () => {
    const [M, K, k] = [45, 160, 16];
    const w = Tensor.randn([M, K], { seed: 11 });
    const S = Tensor.randn([M, K / k], { seed: 12 });
    const bias = Tensor.randn([M], { seed: 13 });
    for (const kind of ['bfloat16', 'int8/float32'] as SKind[])
      for (const format of ['dense', 'bitmap', 'nm'] as const) {
        const shape = format === 'nm' ? { n: 2, m: 4, prune: 'magnitude' as const } : format === 'bitmap' ? { mask: randMask(M * K, 0.4, 14) } : {};
        const term = termOf(S, kind, k);
        const sm = SparseMatrix.fromDense(w, { format, ...shape, quantize: { bits: 4, groupSize: 32 }, slorb: term });
        const wm = valuesOf(sm.toDense());
        for (const N of [1, 5]) {
          const x = Tensor.randn([N, K], { seed: 15 + N });
          for (const b of [null, bias]) {
            const { y, mag } = linearRef(wm, dequant(term), null, valuesOf(x), M, K, N, k, b ? valuesOf(b) : null, 'float32');
            expectClose(valuesOf(linear.sync(x, sm, b)), y, mag, OUT_RTOL.float32!, K + K / k, `${format} ${kind} N=${N} bias ${!!b}`);
          }
        }
      }
  });

  // The panels (N = 8..32) and the N = 1 / N <= 4 paths with the layer's own bias, every output
  // dtype: the kernel adds the bias, the term is added on top (rounded once).
  it('bias with the term: N = 1, 4, 5, 16, 17, every output dtype, bf16 and int8 S', () => {
    const [M, K, k] = [37, 176, 16];
    const w = Tensor.randn([M, K], { seed: 21, dtype: 'bfloat16' });
    const mask = randMask(M * K, 0.5, 22);
    const sm0 = SparseMatrix.fromDense(w, { format: 'bitmap', mask });
    const wm = valuesOf(sm0.toDense());
    const bias = Tensor.randn([M], { seed: 23 });
    for (const kind of ['bfloat16', 'int8/float32'] as SKind[]) {
      const term = termOf(slorb.init(w, mask, { groupSize: k, init: 'xavier', seed: 24 }), kind, k);
      const sm = SparseMatrix.fromParts('bitmap', { shape: [M, K], dtype: 'bfloat16', parts: sm0.parts(), slorb: term });
      for (const N of [1, 4, 5, 16, 17]) {
        const x = Tensor.randn([N, K], { seed: 25 + N, dtype: 'bfloat16' });
        const { y, mag } = linearRef(wm, dequant(term), null, valuesOf(x), M, K, N, k, valuesOf(bias), 'bfloat16');
        for (const outDtype of ['float32', 'bfloat16', 'float16'] as FloatDType[])
          expectClose(valuesOf(linear.sync(x, sm, bias, { outDtype })), y, mag, OUT_RTOL[outDtype]!, K + K / k, `${kind} N=${N} ${outDtype}`);
      }
    }
  });

  // g = P·x takes the activations' dtype (docs/adapters.md, "Numerics"): bf16 x with bf16 or
  // int8 S runs the vdpbf16ps panels at N = 8..32; f16 and float32 x keep the fp32 panels with g
  // in f16 / float32. A sparse mask makes the term most of each output, so g's rounding shows.
  it('g in the activations\' dtype: bf16, f16 and float32 x with bf16 and int8 S, N = 1, 8, 16, 17, 32', () => {
    const [M, K, k] = [35, 160, 16];
    const w = Tensor.randn([M, K], { seed: 31, dtype: 'bfloat16' });
    const mask = randMask(M * K, 0.1, 32);
    const sm0 = SparseMatrix.fromDense(w, { format: 'bitmap', mask });
    const wm = valuesOf(sm0.toDense());
    for (const kind of ['bfloat16', 'int8/float32'] as SKind[]) {
      const term = termOf(slorb.init(w, mask, { groupSize: k, init: 'sum' }), kind, k);
      const sm = SparseMatrix.fromParts('bitmap', { shape: [M, K], dtype: 'bfloat16', parts: sm0.parts(), slorb: term });
      for (const xDtype of ['bfloat16', 'float16', 'float32'] as FloatDType[])
        for (const N of [1, 8, 16, 17, 32]) {
          const x = Tensor.randn([N, K], { seed: 33 + N, dtype: xDtype });
          const { y, mag } = linearRef(wm, dequant(term), null, valuesOf(x), M, K, N, k, null, xDtype);
          expectClose(valuesOf(linear.sync(x, sm, null, { outDtype: 'float32' })), y, mag, OUT_RTOL.float32!, K + K / k, `${kind} x ${xDtype} N=${N}`);
        }
    }
  });

  it('nm and dense weights with an int8 term, async equal to sync', async () => {
    const [M, K, k, N] = [17, 64, 16, 4];
    const w = Tensor.randn([M, K], { seed: 5, dtype: 'float16' });
    const plain = SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude' });
    const wm = valuesOf(plain.toDense());
    const keep = Uint8Array.from(wm, (v) => (v !== 0 ? 1 : 0));
    const term = termOf(slorb.init(w, keep, { groupSize: k }), 'int8/float16', k);
    const x = Tensor.randn([N, K], { seed: 6, dtype: 'float16' });
    const { y, mag } = linearRef(wm, dequant(term), null, valuesOf(x), M, K, N, k, null, 'float16');
    for (const format of ['nm', 'dense'] as const) {
      const sm = SparseMatrix.fromParts(format, { shape: [M, K], dtype: 'float16', n: 2, m: 4,
        parts: format === 'nm' ? plain.parts() : { values: Tensor.from(Float32Array.from(wm), [M * K]).to('float16') }, slorb: term });
      expectClose(valuesOf(linear.sync(x, sm)), y, mag, OUT_RTOL.float16!, K + K / k, format);
      expect(valuesOf(await linear(x, sm))).toEqual(valuesOf(linear.sync(x, sm)));
    }
  });
});

describe('slorb.quantize', () => {
  it('matches a float64 re-implementation: symmetric per row, codes chosen for the stored scale', () => {
    const [M, G] = [7, 21];
    const S = Tensor.randn([M, G], { seed: 3 });
    const sv = valuesOf(S);
    for (let i = 0; i < G; i++) sv[2 * G + i] = 0;  // an all-zero row: scale 0, codes 0
    const S2 = Tensor.from(Float32Array.from(sv), [M, G]);
    for (const scaleDtype of ['float32', 'float16', 'bfloat16'] as FloatDType[]) {
      const { scales, rowScales } = slorb.quantize(S2, { scaleDtype });
      expect(scales.dtype).toBe('int8');
      expect(rowScales.dtype).toBe(scaleDtype);
      expect(rowScales.shape).toEqual([M]);
      const q = valuesOf(scales), rs = valuesOf(rowScales);
      for (let r = 0; r < M; r++) {
        let amax = 0;
        for (let i = 0; i < G; i++) amax = Math.max(amax, Math.abs(sv[r * G + i]!));
        const want = valuesOf(Tensor.from(new Float32Array([amax / 127])).to(scaleDtype))[0]!;
        expect(rs[r]).toBe(want);
        for (let i = 0; i < G; i++) {
          const code = want === 0 ? 0 : Math.max(-127, Math.min(127, Math.round(Math.fround(sv[r * G + i]!) / want)));
          expect(q[r * G + i]).toBe(code + 0);  // (+0: Math.round gives -0 where the code is 0)
          expect(Math.abs(code * want - sv[r * G + i]!)).toBeLessThanOrEqual(want / 2 + Math.abs(sv[r * G + i]!) * 1e-6 + (scaleDtype === 'float32' ? 0 : want));
        }
      }
    }
  });

  it('refuses what it cannot quantize, naming the argument', () => {
    expect(() => slorb.quantize(Tensor.zeros([2, 2], { dtype: 'int8' }))).toThrow(expect.objectContaining({ code: 'ERR_DTYPE', message: expect.stringContaining('scales') }));
    expect(() => slorb.quantize(Tensor.randn([4]))).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => slorb.quantize(Tensor.from(new Float32Array([1, NaN]), [1, 2]))).toThrow(expect.objectContaining({ code: 'ERR_NUMERIC' }));
    expect(() => slorb.quantize(Tensor.randn([1, 2]), { scaleDtype: 'int8' as never })).toThrow(/options.scaleDtype/);
    expect(() => slorb.quantize(Tensor.from(new Float32Array([3e38, 1]), [1, 2]), { scaleDtype: 'float16' }))
      .toThrow(expect.objectContaining({ code: 'ERR_NUMERIC', message: expect.stringContaining('overflows float16') }));
  });
});

describe('int8 SLoRB terms: validation and disk', () => {
  const [M, K, k] = [8, 32, 16];
  const w = Tensor.randn([M, K], { seed: 1 });
  const q = slorb.quantize(Tensor.randn([M, K / k], { seed: 2 }), { scaleDtype: 'float16' });

  it('fromDense/fromParts refuse int8 scales without row scales, row scales on float scales, bad row scales', () => {
    const pack = (sl: unknown) => () => SparseMatrix.fromDense(w, { format: 'csr', slorb: sl as never });
    expect(pack({ scales: q.scales, groupSize: k })).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringContaining('options.slorb.rowScales') }));
    expect(pack({ scales: q.rowScales.reshape([M, 1]).to('float32'), rowScales: q.rowScales, groupSize: 32 }))
      .toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringContaining('only int8 scales take row scales') }));
    expect(pack({ ...q, rowScales: Tensor.randn([M - 1]), groupSize: k })).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringContaining('options.slorb.rowScales: expected [8]') }));
    expect(pack({ ...q, rowScales: Tensor.zeros([M], { dtype: 'int32' }), groupSize: k })).toThrow(expect.objectContaining({ code: 'ERR_DTYPE', message: expect.stringContaining('options.slorb.rowScales') }));
    const inf = new Float32Array(M).fill(1);
    inf[3] = Infinity;
    expect(pack({ ...q, rowScales: Tensor.from(inf), groupSize: k })).toThrow(expect.objectContaining({ code: 'ERR_NUMERIC', message: expect.stringContaining('options.slorb.rowScales: element 3') }));
    expect(pack({ scales: Tensor.zeros([M, 2], { dtype: 'uint8' }), groupSize: k })).toThrow(expect.objectContaining({ code: 'ERR_DTYPE' }));
    const sm = SparseMatrix.fromDense(w, { format: 'csr', slorb: { ...q, groupSize: k } });
    expect(String(sm)).toContain('slorb k=16 int8');
    expect(sm.byteLength).toBe(SparseMatrix.fromDense(w, { format: 'csr' }).byteLength + M * (K / k) + 2 * M);
  });

  it('round-trips through safetensors bit for bit', async () => {
    const sm = SparseMatrix.fromDense(w, { format: 'bitmap', mask: randMask(M * K, 0.5, 3), slorb: { ...q, groupSize: k } });
    const path = join(dir, 'int8.safetensors');
    await saveSafetensors(path, { layer: sm });
    using f = await loadSafetensors(path);
    expect(JSON.parse(f.metadata['sparsekit:layer']!).slorb).toEqual({ groupSize: k, projection: false, rowScales: true });
    const back = f.get('layer') as SparseMatrix;
    expect(back.slorb!.scales.dtype).toBe('int8');
    expect([...back.slorb!.scales.toTypedArray()]).toEqual([...q.scales.toTypedArray()]);
    expect(back.slorb!.rowScales!.dtype).toBe('float16');
    expect([...back.slorb!.rowScales!.toTypedArray()]).toEqual([...q.rowScales.toTypedArray()]);
    const x = Tensor.randn([3, K], { seed: 4 });
    expect(valuesOf(linear.sync(x, back))).toEqual(valuesOf(linear.sync(x, sm)));
  });
});
