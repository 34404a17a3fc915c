// Quantized weights (int4 / int8 with per-group fp16 scales): packing against an independent
// round-to-nearest reference, lossless parts / safetensors round trips, validation of every part,
// and every CPU kernel variant against fp64 on the dequantized weight.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  SparseMatrix, Tensor, cpuInfo, linear, loadSafetensors, saveSafetensors, selectedKernel, setIsa, spmm, type FloatDType, type Isa,
} from '../lib/index.js';
import { native } from '../lib/native.js';
import { OUT_RTOL, expectClose, matmulRef, rng, valuesOf } from './reference.js';
import { dequantRef, fitGroup, quantizeValue, roundX8Ref } from './quant-reference.js';

const info = cpuInfo();
const ISAS = info.supportedIsas as Isa[];
const startIsa = info.isa;
afterAll(() => { setIsa(startIsa); });

type Fmt = { format: 'dense' | 'bitmap' | 'nm'; n?: number; m?: number };
const FORMATS: Fmt[] = [{ format: 'dense' }, { format: 'bitmap' }, { format: 'nm', n: 2, m: 4 }, { format: 'nm', n: 1, m: 4 }, { format: 'nm', n: 4, m: 8 }];
const VARIANTS = [
  { bits: 4 as const, symmetric: true }, { bits: 4 as const, symmetric: false },
  { bits: 8 as const, symmetric: true }, { bits: 8 as const, symmetric: false },
];

/** Outlier channels, an empty row, a dense row, an all-zero group, ~60% zeros elsewhere (bitmap). */
function makeWeight(M: number, K: number, seed: number, sparse: boolean): Float32Array {
  const w = Tensor.randn([M, K], { seed }).toFloat32Array();
  const r = rng(seed + 7);
  for (let i = 0; i < M; i++)
    for (let k = 0; k < K; k++) {
      if (k % 17 === 3) w[i * K + k]! *= 20;  // outlier input channels
      if (i === 1 && k < 64) w[i * K + k] = 0;  // an all-zero group (and then some)
      if (sparse && (i % 5 === 2 || (i % 5 !== 4 && r() < 0.6))) w[i * K + k] = 0;  // 2: empty row, 4: dense row
    }
  return w;
}

function pack(w: Float32Array, M: number, K: number, f: Fmt, q: { bits: 4 | 8; groupSize: number; symmetric: boolean }, dtype: FloatDType = 'float32') {
  const t = Tensor.from(w, [M, K]).to(dtype);
  return SparseMatrix.fromDense(t, { ...f, ...(f.format === 'nm' ? { prune: 'magnitude' as const } : {}), quantize: q });
}

function partsOfMatrix(s: SparseMatrix): Record<string, ArrayLike<number>> {
  const out: Record<string, ArrayLike<number>> = {};
  for (const [k, t] of Object.entries(s.parts())) out[k] = k === 'masks' ? new Uint32Array(t.toTypedArray().buffer, t.toTypedArray().byteOffset, t.size) : t.toTypedArray();
  return out;
}

describe('quantized storage', () => {
  it('round-to-nearest matches an independent reference for every format, bits, symmetry and group size', () => {
    let seed = 1;
    for (const f of FORMATS)
      for (const v of VARIANTS)
        for (const groupSize of [32, 64, 128]) {
          const M = 9, K = 256;
          const w = makeWeight(M, K, seed++, f.format === 'bitmap');
          const q = pack(w, M, K, f, { ...v, groupSize });
          expect(q.dtype).toBe(v.bits === 4 ? 'int4' : 'int8');
          expect(q.quant).toEqual({ bits: v.bits, groupSize, symmetric: v.symmetric });
          // The kept set is the float format's; each group's grid is fitted on its kept values.
          const kept = SparseMatrix.fromDense(Tensor.from(w, [M, K]), { ...f, ...(f.format === 'nm' ? { prune: 'magnitude' as const } : {}) }).toDense().toFloat32Array();
          const keptMask = f.format === 'dense' ? null : (SparseMatrix.fromDense(Tensor.from(w, [M, K]), { ...f, ...(f.format === 'nm' ? { prune: 'magnitude' as const } : {}) }));
          const maskParts = keptMask ? partsOfMatrix(keptMask) : null;
          const isKept = (r: number, c: number) => !maskParts || ((maskParts.masks![r * (K / 32) + (c >> 5)]! >>> (c & 31)) & 1) === 1;
          const want = new Float64Array(M * K);
          for (let r = 0; r < M; r++)
            for (let g = 0; g < K / groupSize; g++) {
              const vals: number[] = [];
              for (let c = g * groupSize; c < (g + 1) * groupSize; c++) if (isKept(r, c)) vals.push(kept[r * K + c]!);
              const grid = fitGroup(vals, v.bits, v.symmetric);
              for (let c = g * groupSize; c < (g + 1) * groupSize; c++)
                if (isKept(r, c)) want[r * K + c] = quantizeValue(kept[r * K + c]!, grid, v.bits);
            }
          const got = q.toDense();
          expect(got.dtype).toBe('float32');
          const gv = got.toFloat32Array();
          const label = `${f.format}${f.n ?? ''}:${f.m ?? ''} ${v.bits}b ${v.symmetric ? 'sym' : 'asym'} g${groupSize}`;
          for (let i = 0; i < M * K; i++) if (gv[i] !== want[i]) throw new Error(`${label}: element ${i}: got ${gv[i]}, want ${want[i]}`);
          // And from the raw parts, decoded independently.
          const fromParts = dequantRef(f.format, M, K, v.bits, groupSize, partsOfMatrix(q), f.format === 'nm' ? { n: f.n!, m: f.m! } : undefined);
          for (let i = 0; i < M * K; i++) if (gv[i] !== fromParts[i]) throw new Error(`${label}: parts decode differs at ${i}`);
        }
  });

  it('reports bytes per weight: 2:4 + int4 g128 is 0.39 (3.125 bits)', () => {
    const w = makeWeight(64, 4096, 3, false);
    const q = pack(w, 64, 4096, { format: 'nm', n: 2, m: 4 }, { bits: 4, groupSize: 128, symmetric: true });
    expect(q.bytesPerElement).toBeCloseTo(0.25 + 0.125 + 2 / 128, 10);
    expect(q.bitsPerWeight).toBeCloseTo(3.125, 10);
    const d = pack(w, 64, 4096, { format: 'dense' }, { bits: 4, groupSize: 32, symmetric: true });
    expect(d.bytesPerElement).toBeCloseTo(0.5 + 2 / 32, 10);  // llama.cpp Q4_0's 4.5 bits
    const a = pack(w, 64, 4096, { format: 'dense' }, { bits: 8, groupSize: 64, symmetric: false });
    expect(a.bytesPerElement).toBeCloseTo(1 + 3 / 64, 10);
    expect(String(q)).toContain('int4 g128');
  });

  it('round-trips through fromParts and safetensors losslessly (every part byte-equal)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sk-quant-'));
    try {
      const mats: Record<string, SparseMatrix> = {};
      let seed = 40;
      for (const f of FORMATS.slice(0, 3))
        for (const v of VARIANTS) mats[`${f.format}.${v.bits}.${v.symmetric}`] = pack(makeWeight(7, 192, seed++, true), 7, 192, f, { ...v, groupSize: 64 }, 'bfloat16');
      const path = join(dir, 'q.safetensors');
      await saveSafetensors(path, mats);
      const file = await loadSafetensors(path);
      for (const [name, m] of Object.entries(mats)) {
        const back = file.get(name) as SparseMatrix;
        const again = SparseMatrix.fromParts(m.format, { shape: m.shape, dtype: m.dtype, n: m.n, m: m.m, quant: m.quant, parts: m.parts() });
        for (const r of [back, again]) {
          expect(r.dtype).toBe(m.dtype);
          expect(r.quant).toEqual(m.quant);
          const a = m.parts(), b = r.parts();
          expect(Object.keys(b)).toEqual(Object.keys(a));
          for (const k of Object.keys(a)) expect(Buffer.from(b[k]!.toTypedArray().buffer, b[k]!.toTypedArray().byteOffset, b[k]!.toTypedArray().byteLength))
            .toEqual(Buffer.from(a[k]!.toTypedArray().buffer, a[k]!.toTypedArray().byteOffset, a[k]!.toTypedArray().byteLength));
        }
        const meta = JSON.parse(file.metadata[`sparsekit:${name}`]!);
        expect(meta).toMatchObject({ version: 2, dtype: m.dtype, quant: m.quant });
      }
      file.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('quantized storage: bad input is a typed error naming the argument', () => {
  const w = Tensor.from(makeWeight(4, 128, 9, false), [4, 128]);
  const code = (f: () => unknown) => { try { f(); } catch (e) { return `${(e as { code: string }).code}: ${(e as Error).message}`; } return 'no error'; };

  it('refuses bad quantize options', () => {
    expect(code(() => SparseMatrix.fromDense(w, { format: 'dense', quantize: { bits: 3 as 4, groupSize: 32 } }))).toMatch(/ERR_ARGUMENT: .*quantize\.bits/);
    expect(code(() => SparseMatrix.fromDense(w, { format: 'dense', quantize: { bits: 4, groupSize: 48 } }))).toMatch(/ERR_ARGUMENT: .*quantize\.groupSize/);
    expect(code(() => SparseMatrix.fromDense(Tensor.from(new Float32Array(4 * 96), [4, 96]), { format: 'dense', quantize: { bits: 4, groupSize: 64 } })))
      .toMatch(/ERR_SHAPE: .*groupSize.*does not divide the 96 columns/);
    expect(code(() => SparseMatrix.fromDense(w, { format: 'csr', quantize: { bits: 4, groupSize: 32 } }))).toMatch(/ERR_ARGUMENT: .*csr format has no quantized form/);
    expect(code(() => SparseMatrix.fromDense(w, { format: 'nm', n: 3, m: 6, prune: 'magnitude', quantize: { bits: 4, groupSize: 32 } })))
      .toMatch(/ERR_ARGUMENT: .*not a multiple of m = 6/);
    const bad = w.toFloat32Array().slice();
    bad[77] = NaN;
    expect(code(() => SparseMatrix.fromDense(Tensor.from(bad, [4, 128]), { format: 'dense', quantize: { bits: 4, groupSize: 32 } })))
      .toMatch(/ERR_NUMERIC: .*row 0, column 77 is not finite/);
    expect(code(() => SparseMatrix.fromDense(Tensor.from(new Float32Array(128).fill(1e7), [1, 128]), { format: 'dense', quantize: { bits: 4, groupSize: 32 } })))
      .toMatch(/ERR_NUMERIC: .*beyond float16/);
  });

  it('validates every part in fromParts', () => {
    const q = SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', quantize: { bits: 4, groupSize: 32, symmetric: false } });
    const parts = () => Object.fromEntries(Object.entries(q.parts()).map(([k, t]) => [k, t.toTypedArray().slice()]));
    const build = (p: Record<string, unknown>, over: Record<string, unknown> = {}) =>
      code(() => SparseMatrix.fromParts('nm', { shape: [4, 128], dtype: 'int4', n: 2, m: 4, quant: { groupSize: 32, symmetric: false }, parts: p as never, ...over }));
    expect(build(parts())).toBe('no error');
    for (const [bits, why] of [[0x7c00, 'not finite'], [0xfc00, 'not finite'], [0x7e00, 'not finite'], [0x0000, 'zero'], [0x8000, 'zero'], [0xbc00, 'negative']] as const) {
      const p = parts();
      (p.scales as Uint16Array)[5] = bits;
      expect(build(p)).toMatch(new RegExp(`ERR_FORMAT: .*scales\\[5\\] is ${why}`));
    }
    const pz = parts();
    (pz.zeros as Uint8Array)[3] = 16;
    expect(build(pz)).toMatch(/ERR_FORMAT: .*zeros\[3\] = 16 does not fit in 4 bits/);
    // 15 is the largest zero point that fits (a group of weights all <= 0 has its zero at the top).
    (pz.zeros as Uint8Array)[3] = 15;
    expect(build(pz)).toBe('no error');
    const pzs = parts();
    pzs.zeros = (pzs.zeros as Uint8Array).slice(1);
    expect(build(pzs)).toMatch(/ERR_FORMAT: .*'zeros' must hold 16 bytes, got 15/);
    const pm = parts();
    (pm.masks as Int32Array)[0] = 0x7;  // three kept in the first group of four
    expect(build(pm)).toMatch(/ERR_FORMAT: .*row 0, group 0 has 3 mask bits/);
    const ps = parts();
    ps.scales = (ps.scales as Uint16Array).slice(1);
    expect(build(ps)).toMatch(/ERR_FORMAT: .*'scales' must hold 32 bytes/);
    const pv = parts();
    (pv as Record<string, unknown>).values = Tensor.from(new Uint16Array(64), [64], { dtype: 'float16' });
    expect(build(pv)).toMatch(/ERR_DTYPE: options\.parts\.values: expected dtype uint8, got float16/);
    expect(build(parts(), { quant: { groupSize: 32, symmetric: false, bits: 8 } })).toMatch(/ERR_ARGUMENT: options\.quant\.bits: 8 contradicts dtype 'int4'/);
    expect(build(parts(), { quant: { groupSize: 48, symmetric: false } })).toMatch(/ERR_ARGUMENT: options\.quant\.groupSize/);
    expect(build(parts(), { quant: undefined })).toMatch(/ERR_ARGUMENT: options\.quant: a int4 matrix needs/);
    const sym = parts();
    expect(build(sym, { quant: { groupSize: 32, symmetric: true } })).toMatch(/ERR_ARGUMENT: options\.parts\.zeros: .*no such part/);
    expect(code(() => SparseMatrix.fromParts('csr', { shape: [4, 128], dtype: 'int4', quant: { groupSize: 32 }, parts: {} })))
      .toMatch(/ERR_ARGUMENT: .*csr format has no quantized form/);
    // An odd number of 4-bit codes leaves a high nibble unused: it must be zero.
    const b = SparseMatrix.fromDense(Tensor.from(new Float32Array([1, 0, 2, 3, ...new Array(28).fill(0)]), [1, 32]), { format: 'bitmap', quantize: { bits: 4, groupSize: 32 } });
    const bp = Object.fromEntries(Object.entries(b.parts()).map(([k, t]) => [k, t.toTypedArray().slice()]));
    expect((bp.values as Uint8Array).length).toBe(2);
    for (const bit of [0x10, 0x20, 0x40, 0x80]) {
      const v = Uint8Array.from(bp.values as Uint8Array);
      v[1]! |= bit;
      expect(code(() => SparseMatrix.fromParts('bitmap', { shape: [1, 32], dtype: 'int4', quant: { groupSize: 32 }, parts: { ...bp, values: v } as never })))
        .toMatch(/ERR_FORMAT: .*high nibble/);
    }
    expect(code(() => SparseMatrix.fromParts('bitmap', { shape: [1, 32], dtype: 'int4', quant: { groupSize: 32 }, parts: bp as never }))).toBe('no error');
  });
});

describe('quantized storage: the checks behind the JS ones, and what files say', () => {
  const w = Tensor.from(makeWeight(4, 128, 9, false), [4, 128]);
  const code = (f: () => unknown) => { try { f(); } catch (e) { return `${(e as { code: string }).code}: ${(e as Error).message}`; } return 'no error'; };

  it('a solver grid (options.quant) must have exactly one scale (and zero) per group', () => {
    const grid = (n: number, extra: Record<string, unknown> = {}) => ({
      bits: 4 as const, groupSize: 32, symmetric: true, scale: Tensor.from(new Uint16Array(n).fill(0x3c00), [n], { dtype: 'float16' }), ...extra,
    });
    const q = SparseMatrix.fromDense(w, { format: 'dense', quant: grid(16) });
    expect(q.dtype).toBe('int4');
    for (const n of [15, 17, 32])
      expect(code(() => SparseMatrix.fromDense(w, { format: 'dense', quant: grid(n) }))).toMatch(/ERR_SHAPE: options\.quant\.scale: expected 16 entries/);
    const zero = (n: number) => Tensor.from(new Uint8Array(n).fill(8), [n], { dtype: 'uint8' });
    expect(code(() => SparseMatrix.fromDense(w, { format: 'dense', quant: grid(16, { symmetric: false, zero: zero(16) }) }))).toBe('no error');
    expect(code(() => SparseMatrix.fromDense(w, { format: 'dense', quant: grid(16, { symmetric: false, zero: zero(17) }) }))).toMatch(/ERR_SHAPE: options\.quant\.zero/);
  });

  it('the native layer refuses a group size that does not divide the columns even when the JS checks are bypassed', () => {
    const e = (() => {
      try {
        native.matrixFromParts({ format: 'dense', dtype: 'uint8', rows: 1, cols: 48, quant: { bits: 8, groupSize: 32, symmetric: true },
          parts: { values: new Uint8Array(48), scales: new Uint16Array(2).fill(0x3c00) } });
      } catch (err) {
        return err as { code: string; message: string };
      }
      return null;
    })();
    expect(e).toMatchObject({ code: 'ERR_SHAPE', message: expect.stringContaining('does not divide the 48 columns') });
  });

  it('reads the quant metadata of a file strictly (dtype, bits, symmetric)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sk-quant-meta-'));
    try {
      const q = SparseMatrix.fromDense(w, { format: 'dense', quantize: { bits: 4, groupSize: 32 } });
      const parts = q.parts();
      const load = async (meta: Record<string, unknown>) => {
        const path = join(dir, 'm.safetensors');
        await saveSafetensors(path, { 'w.values': parts.values!, 'w.scales': parts.scales! }, {
          'sparsekit:w': JSON.stringify({ format: 'dense', version: 2, shape: [4, 128], dtype: 'int4', quant: { bits: 4, groupSize: 32, symmetric: true }, ...meta }),
        });
        try {
          using f = await loadSafetensors(path);
          return (f.get('w') as SparseMatrix).toDense().toFloat32Array();
        } catch (err) {
          return `${(err as { code: string }).code}: ${(err as Error).message}`;
        }
      };
      expect(await load({})).toEqual(q.toDense().toFloat32Array());
      expect(await load({ quant: { bits: 8, groupSize: 32, symmetric: true } })).toMatch(/ERR_FORMAT: .*dtype int4 needs "quant": \{ "bits": 4/);
      expect(await load({ quant: { bits: 4, groupSize: 32 } })).toMatch(/ERR_FORMAT: .*needs "quant"/);
      expect(await load({ quant: undefined })).toMatch(/ERR_FORMAT: .*needs "quant"/);
      expect(await load({ version: 1 })).toMatch(/ERR_FORMAT: .*dtype int4 needs a version 2 description, got version 1/);
      expect(await load({ dtype: 'float32' })).toMatch(/ERR_FORMAT: .*"quant" is only for dtype int4 \/ int8/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const SHAPES: [number, number, number, number][] = [
  // [M, K, N, groupSize]
  [1, 32, 1, 32], [37, 96, 1, 32], [19, 256, 2, 128], [33, 192, 3, 64], [21, 128, 16, 32], [40, 512, 17, 128], [9, 256, 64, 64], [5, 160, 70, 32], [23, 1280, 16, 128], [6, 2304, 5, 64],
  // N = 1 for every group size (the table kernels: 2:4 with G >= 64 has its own), odd 64-column block counts
  [29, 320, 1, 64], [11, 768, 1, 128], [7, 1536, 1, 256], [4, 4160, 1, 64], [9, 512, 1, 32],
];

describe('quantized CPU kernels against fp64 on the dequantized weight', () => {
  let seed = 500;
  for (const [M, K, N, groupSize] of SHAPES) {
    it(`[${M}, ${K}] x N=${N}, g${groupSize}: every ISA x format x bits x symmetry x output dtype`, () => {
      for (const f of FORMATS)
        for (const v of VARIANTS) {
          const q = pack(makeWeight(M, K, seed++, f.format === 'bitmap'), M, K, f, { ...v, groupSize });
          const wq = valuesOf(q.toDense());
          const b = Tensor.randn([K, N], { seed: seed++ });
          const { c, mag } = matmulRef(wq, valuesOf(b), M, K, N);
          for (const isa of ISAS) {
            setIsa(isa);
            for (const out of ['float32', 'float16', 'bfloat16'] as FloatDType[]) {
              const label = `${isa} ${selectedKernel(q, N)} ${f.format}${f.n ?? ''}:${f.m ?? ''} ${v.bits}b ${v.symmetric ? 'sym' : 'asym'} -> ${out}`;
              expectClose(valuesOf(spmm.sync(q, b.to(out === 'float32' ? 'float32' : out), { outDtype: out })), c, mag, OUT_RTOL[out]! + (out === 'float32' ? 0 : 4e-3), K, label);
            }
            // linear: x [N, K] times w transposed, bf16 activations rounded by the caller
            const x = Tensor.randn([N, K], { seed: seed + 3 }).to('bfloat16');
            const xr = valuesOf(x);
            const xt = new Float64Array(K * N);
            for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) xt[k * N + j] = xr[j * K + k]!;
            const ref = matmulRef(wq, xt, M, K, N);
            const y = valuesOf(linear.sync(x, q, null, { outDtype: 'float32' }));
            const yt = new Float64Array(M * N);
            for (let j = 0; j < N; j++) for (let r = 0; r < M; r++) yt[r * N + j] = y[j * M + r]!;
            expectClose(yt, ref.c, ref.mag, OUT_RTOL.float32!, K, `${isa} linear ${f.format} ${v.bits}b`);
          }
        }
    });
  }

  it("activations: 'int8' rounds x per weight group exactly as documented (AVX-512 VNNI, AVX2), fp32 elsewhere", () => {
    let seed = 900;
    const vnni = ISAS.includes('avx512') && info.features.avx512vnni === true && info.features.avx512vbmi === true;
    // 128-column tails of 32, 64, 96 and a lone partial block (the dense and 2:4 kernels run 128
    // columns x 4 rows per step), every group size, row counts off the 4-row step; rows past the
    // first 16 groups (the GEMVs reload their rows' scales per run of 16 groups); N > 1 (AVX-512:
    // dense, bitmap and 2:4 4-bit have int8 kernels up to N = 64; AVX2: every 4-bit format;
    // everything else stays fp32 there; at N = 1 both ISAs round x for every format and width).
    for (const [M, K, G, N] of [[37, 256, 32, 1], [21, 384, 128, 1], [9, 512, 64, 1], [5, 256, 256, 1], [13, 160, 32, 1], [7, 320, 64, 1],
      [11, 224, 32, 1], [6, 32, 32, 1], [10, 64, 64, 1], [3, 1408, 128, 1], [19, 2432, 128, 1], [9, 4352, 256, 1], [9, 224, 32, 3],
      [5, 384, 128, 16], [4, 512, 256, 2], [3, 320, 64, 64]] as const)
      for (const f of FORMATS)
        for (const v of VARIANTS) {
          const q = pack(makeWeight(M, K, seed++, f.format === 'bitmap'), M, K, f, { ...v, groupSize: G });
          const wq = valuesOf(q.toDense());
          const xv = Tensor.randn([N, K], { seed: seed++ }).toFloat32Array();
          for (let k = 0; k < N * K; k += 37) xv[k]! *= 30;  // outlier channels
          const x = Tensor.from(xv, [N, K]);
          const xd = roundX8Ref(xv, N, K, G), xt = new Float64Array(K * N);  // k-major for matmulRef
          for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) xt[k * N + j] = xv[j * K + k]!;
          const label = `${f.format}${f.n ?? ''}:${f.m ?? ''} ${v.bits}b ${v.symmetric ? 'sym' : 'asym'} g${G} N=${N}`;
          const int8Kernel = N === 1 || (v.bits === 4 && (f.format !== 'nm' || (f.n === 2 && f.m === 4)));
          for (const isa of ISAS) {
            setIsa(isa);
            const kernel = selectedKernel(q, N, { activations: 'int8' });
            const rounds = kernel.includes('_x8_');
            // AVX2: every 4-bit format up to N = 64, every 8-bit one at N = 1.
            const avx2Kernel = v.bits === 4 || N === 1;
            expect(rounds, `${isa} ${kernel} ${label}`).toBe((vnni && isa === 'avx512' && int8Kernel) || (isa === 'avx2' && avx2Kernel));
            const want = matmulRef(wq, rounds ? xd : xt, M, K, N);
            const y = valuesOf(linear.sync(x, q, null, { activations: 'int8' }));
            const got = new Float64Array(M * N);
            for (let j = 0; j < N; j++) for (let r = 0; r < M; r++) got[r * N + j] = y[j * M + r]!;
            expectClose(got, want.c, want.mag, OUT_RTOL.float32!, K, `${isa} ${kernel} ${label}`);
          }
        }
    setIsa(startIsa);
    const dense = Tensor.randn([4, 64], { seed: 1 });
    expect(() => linear.sync(Tensor.randn([1, 64], { seed: 2 }), dense, null, { activations: 'int8' })).toThrow(/applies to quantized weights/);
    expect(() => linear.sync(Tensor.randn([1, 64], { seed: 2 }), dense, null, { activations: 'int4' as 'int8' })).toThrow(/expected 'float32', 'bfloat16' or 'int8'/);
  });

  it("activations: 'int8' is a per-call choice: spmm, linear and async agree, and the matrix keeps no trace of it", async () => {
    const vnni = ISAS.includes('avx512') && info.features.avx512vnni === true && info.features.avx512vbmi === true;
    const M = 19, K = 256;
    const q = pack(makeWeight(M, K, 77, false), M, K, { format: 'nm', n: 2, m: 4 }, { bits: 4, groupSize: 64, symmetric: false });
    const x = Tensor.randn([1, K], { seed: 78 });
    const plain = valuesOf(linear.sync(x, q));
    const rounded = valuesOf(linear.sync(x, q, null, { activations: 'int8' }));
    // Rounding x to int8 changes the result wherever an int8 kernel runs, never elsewhere.
    expect(Array.from(rounded).some((v, i) => v !== plain[i])).toBe((vnni && startIsa === 'avx512') || startIsa === 'avx2');
    expect(valuesOf(await linear(x, q, null, { activations: 'int8' }))).toEqual(rounded);
    const b = Tensor.from(x.toFloat32Array(), [K, 1]);
    expect(valuesOf(spmm.sync(q, b, { activations: 'int8' }))).toEqual(rounded);
    // The next call without the option runs the float kernel again, bit for bit as before.
    expect(valuesOf(linear.sync(x, q))).toEqual(plain);
    expect(selectedKernel(q, 1)).not.toContain('_x8_');
  });

  it('2:4 and symmetric bitmap 4-bit at G >= 128 derive their code sums wherever the matrix comes from: the int8 GEMVs run on them and agree', async () => {
    // The 2:4 and bitmap int8-activation GEMVs take each row's 128 · Σ (code − zero) per group from
    // data the native matrix derives from its parts (quant.h): fromDense, fromParts and a
    // safetensors load must each carry it, or that source silently falls back to the general
    // kernel. Asymmetric bitmap has none and keeps the general kernel.
    const vnni = ISAS.includes('avx512') && info.features.avx512vnni === true && info.features.avx512vbmi === true;
    if (!vnni) { console.warn('quant: no AVX-512 VNNI + VBMI, the code sums test only checks results'); }
    const dir = mkdtempSync(join(tmpdir(), 'sk-sums-'));
    let seed = 1200;
    const formats: [Fmt, boolean, string, string][] = [
      [{ format: 'nm', n: 2, m: 4 }, true, 'qspmm_gemv_nm24_int4_x8_vnni', '2:4'],
      [{ format: 'nm', n: 2, m: 4 }, false, 'qspmm_gemv_nm24_int4_x8_vnni', '2:4'],
      [{ format: 'bitmap' }, true, 'qspmm_gemv_bitmap_int4_sums_x8_vnni', 'bitmap'],
      [{ format: 'bitmap' }, false, 'qspmm_gemv_bitmap_int4_x8_vnni', 'bitmap'],
    ];
    try {
      // 13 rows: 2:4 passes of 8, 4 and 1, bitmap 3 of 4 and 1; K = 768 is 6 groups at G = 128, 3 at 256.
      for (const G of [128, 256])
        for (const [fmt, symmetric, kernel, name] of formats) {
          const M = 13, K = 768;
          const w = makeWeight(M, K, seed++, fmt.format === 'bitmap');
          for (let k = 0; k < K; k++) w[5 * K + k] = k % 4 < 2 ? 3 : 0;  // a row at one end of the code range
          const q = pack(w, M, K, fmt, { bits: 4, groupSize: G, symmetric });
          const path = join(dir, `q${name}${G}${symmetric}.safetensors`);
          await saveSafetensors(path, { w: q });
          using file = await loadSafetensors(path);
          const sources = [q, SparseMatrix.fromParts(fmt.format, { shape: q.shape, dtype: q.dtype, n: q.n, m: q.m, quant: q.quant, parts: q.parts() }),
            file.get('w') as SparseMatrix];
          const xv = Tensor.randn([1, K], { seed: seed++ }).toFloat32Array();
          const x = Tensor.from(xv, [1, K]);
          const want = matmulRef(valuesOf(q.toDense()), roundX8Ref(xv, 1, K, G), M, K, 1);
          const label = `${name} int4 g${G} ${symmetric ? 'sym' : 'asym'}`;
          // int16 per row and group, where the matrix has them; residentBytes counts them, byteLength not.
          const derived = fmt.format === 'nm' || symmetric ? 2 * M * (K / G) : 0;
          const ys = sources.map((src, i) => {
            expect(src.byteLength, `${label} source ${i}`).toBe(q.byteLength);
            expect(src.residentBytes, `${label} source ${i}`).toBe(q.byteLength + derived);
            if (vnni) {
              setIsa('avx512');
              expect(selectedKernel(src, 1, { activations: 'int8' }), `${label} source ${i}`).toBe(kernel);
            }
            const y = valuesOf(linear.sync(x, src, null, { activations: 'int8' }));
            if (vnni) expectClose(Float64Array.from(y), want.c, want.mag, OUT_RTOL.float32!, K, `${label} source ${i}`);
            return y;
          });
          expect(ys[1]).toEqual(ys[0]);
          expect(ys[2]).toEqual(ys[0]);
          setIsa(startIsa);
        }
      const plain = SparseMatrix.fromDense(Tensor.randn([13, 768], { seed: seed++ }), { format: 'nm', n: 2, m: 4, prune: 'magnitude' });
      expect(plain.residentBytes).toBe(plain.byteLength);  // float values: nothing derived
    } finally {
      setIsa(startIsa);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('selects every kernel of the quantized kernel list on each ISA that has it, and nothing off the list', () => {
    const names = native.qspmmKernelNames();
    expect(new Set(names).size).toBe(names.length);
    const f = info.features as Record<string, boolean>;
    type Case = { w: SparseMatrix; n: number; o?: { xDtype?: FloatDType; activations?: 'int8' }; isa: Isa; needs?: string };
    const mk = (fmt: Fmt, bits: 4 | 8, K = 256, groupSize = 64) => pack(makeWeight(16, K, 7, fmt.format === 'bitmap'), 16, K, fmt, { bits, groupSize, symmetric: true });
    const FMT: Record<string, Fmt> = { dense: { format: 'dense' }, nm: { format: 'nm', n: 1, m: 4 }, bitmap: { format: 'bitmap' } };
    const cases: Record<string, Case> = {
      qspmm_portable: { w: mk(FMT.dense!, 4), n: 1, isa: 'portable' },
      qspmm_gemv_dense_int4_avx2: { w: mk(FMT.dense!, 4), n: 1, isa: 'avx2' },
      qspmm_gemv_nm_int4_avx2: { w: mk(FMT.nm!, 4), n: 1, isa: 'avx2' },
      qspmm_gemv_nm24_int4_avx2: { w: mk({ format: 'nm', n: 2, m: 4 }, 4), n: 1, isa: 'avx2' },
      qspmm_gemv_nm24_int8_avx2: { w: mk({ format: 'nm', n: 2, m: 4 }, 8), n: 1, isa: 'avx2' },
      qspmm_gemv_nm24_int8_avx512: { w: mk({ format: 'nm', n: 2, m: 4 }, 8), n: 1, isa: 'avx512' },
      qspmm_gemv_bitmap_int4_avx2: { w: mk(FMT.bitmap!, 4), n: 1, isa: 'avx2' },
      qspmm_gemv_nm24_b256_int4_avx512: { w: mk({ format: 'nm', n: 2, m: 4 }, 4, 256, 32), n: 1, isa: 'avx512' },
      qspmm_gemv_nm24_b64_int4_avx512: { w: mk({ format: 'nm', n: 2, m: 4 }, 4, 320, 64), n: 1, isa: 'avx512' },
      qspmm_pairs_nm24_int4_bf16_avx512: { w: mk({ format: 'nm', n: 2, m: 4 }, 4), n: 16, o: { xDtype: 'bfloat16' }, isa: 'avx512', needs: 'avx512bf16' },
    };
    for (const [name, fmt] of Object.entries(FMT))
      for (const bits of [4, 8] as const) {
        const b = `int${bits}`;
        cases[`qspmm_gemv_${name}_${b}_avx512`] = { w: mk(fmt, bits), n: 1, isa: 'avx512' };
        cases[`qspmm_gemm_${name}_${b}_avx512`] = { w: mk(fmt, bits), n: 16, isa: 'avx512' };
        cases[`qspmm_gemv_${name}_${b}_x8_vnni`] = { w: mk(fmt, bits), n: 1, o: { activations: 'int8' }, isa: 'avx512', needs: 'avx512vnni' };
        cases[`qspmm_gemm_${name}_${b}_avx2`] = { w: mk(fmt, bits), n: 2, isa: 'avx2' };
        if (bits === 8) cases[`qspmm_gemv_${name}_${b}_avx2`] = { w: mk(fmt, bits), n: 1, isa: 'avx2' };
      }
    // Sparse bitmap rows (density < 0.35) with N > 32: the outer products.
    for (const bits of [4, 8] as const) {
      const w = makeWeight(16, 256, 8, true);
      for (let i = 0; i < w.length; i += 2) w[i] = 0;
      cases[`qspmm_outer_bitmap_int${bits}_avx512`] = { w: pack(w, 16, 256, FMT.bitmap!, { bits, groupSize: 64, symmetric: true }), n: 33, isa: 'avx512' };
    }
    if (ISAS.includes('avx512')) {  // the same sparse rows at N <= 32: the panel GEMM
      setIsa('avx512');
      expect(selectedKernel(cases.qspmm_outer_bitmap_int4_avx512!.w, 32)).toBe('qspmm_gemm_bitmap_int4_avx512');
      expect(selectedKernel(cases.qspmm_outer_bitmap_int4_avx512!.w, 2)).toBe('qspmm_gemm_bitmap_int4_avx512');
      setIsa(startIsa);
    }
    cases.qspmm_gemv_nm24_int4_x8_vnni = { w: mk({ format: 'nm', n: 2, m: 4 }, 4), n: 1, o: { activations: 'int8' }, isa: 'avx512', needs: 'avx512vnni' };
    cases.qspmm_gemm_bytes_bitmap_int4_x8_vnni = { w: mk(FMT.bitmap!, 4), n: 16, o: { activations: 'int8' }, isa: 'avx512', needs: 'avx512vnni' };
    cases.qspmm_gemv_bitmap_int4_sums_x8_vnni = { w: mk(FMT.bitmap!, 4, 256, 128), n: 1, o: { activations: 'int8' }, isa: 'avx512', needs: 'avx512vnni' };
    cases.qspmm_gemm_bytes_dense_int4_x8_vnni = { w: mk(FMT.dense!, 4), n: 16, o: { activations: 'int8' }, isa: 'avx512', needs: 'avx512vnni' };
    cases.qspmm_gemv_dense_int4_x8_avx2 = { w: mk(FMT.dense!, 4), n: 1, o: { activations: 'int8' }, isa: 'avx2' };
    for (const [name, fmt] of Object.entries(FMT)) cases[`qspmm_gemv_${name}_int8_x8_avx2`] = { w: mk(fmt, 8), n: 1, o: { activations: 'int8' }, isa: 'avx2' };
    cases.qspmm_gemv_bitmap_int4_x8_avx2 = { w: mk(FMT.bitmap!, 4), n: 1, o: { activations: 'int8' }, isa: 'avx2' };
    cases.qspmm_gemv_nm_int4_x8_avx2 = { w: mk(FMT.nm!, 4), n: 1, o: { activations: 'int8' }, isa: 'avx2' };
    cases.qspmm_gemm_dense_int4_x8_avx2 = { w: mk(FMT.dense!, 4), n: 2, o: { activations: 'int8' }, isa: 'avx2' };
    cases.qspmm_gemm_nm_int4_x8_avx2 = { w: mk(FMT.nm!, 4), n: 16, o: { activations: 'int8' }, isa: 'avx2' };
    cases.qspmm_gemm_bitmap_int4_x8_avx2 = { w: mk(FMT.bitmap!, 4), n: 64, o: { activations: 'int8' }, isa: 'avx2' };
    cases.qspmm_gemv_nm24_int4_x8_avx2 = { w: mk({ format: 'nm', n: 2, m: 4 }, 4), n: 1, o: { activations: 'int8' }, isa: 'avx2' };
    cases.qspmm_gemm_pick_nm24_int4_x8_vnni = { w: mk({ format: 'nm', n: 2, m: 4 }, 4), n: 16, o: { activations: 'int8' }, isa: 'avx512', needs: 'avx512vnni' };
    expect(Object.keys(cases).sort()).toEqual([...names].sort());
    try {
      for (const [name, c] of Object.entries(cases)) {
        if (!ISAS.includes(c.isa) || (c.needs && !f[c.needs])) { console.warn(`quantized kernel list: ${name} not selectable on this CPU`); continue; }
        setIsa(c.isa);
        expect(selectedKernel(c.w, c.n, c.o), name).toBe(name);
        if (c.o) continue;  // rounded activations: their own tests
        // Each kernel once against fp64 here too: some (the sparse outer products) are reached by no grid shape.
        const [M, K] = c.w.shape;
        const b = Tensor.randn([K!, c.n], { seed: 41 });
        const { c: want, mag } = matmulRef(valuesOf(c.w.toDense()), valuesOf(b), M!, K!, c.n);
        expectClose(valuesOf(spmm.sync(c.w, b)), want, mag, OUT_RTOL.float32!, K!, name);
      }
      // Every selection over a grid of cases is on the list.
      for (const isa of ISAS) {
        setIsa(isa);
        for (const fmt of [...Object.values(FMT), { format: 'nm', n: 2, m: 4 } as Fmt])
          for (const bits of [4, 8] as const)
            for (const [K, G] of [[256, 32], [320, 64], [512, 256]])
              for (const n of [1, 2, 9, 16, 64])
                for (const o of [{}, { xDtype: 'bfloat16' as const }, { activations: 'int8' as const }])
                  expect(names).toContain(selectedKernel(mk(fmt, bits, K, G), n, o));
      }
    } finally {
      setIsa(startIsa);
    }
  });

  it('picks the AVX-512 quantized kernels where the CPU has them, portable elsewhere', () => {
    const q = pack(makeWeight(16, 128, 3, false), 16, 128, { format: 'nm', n: 2, m: 4 }, { bits: 4, groupSize: 128, symmetric: true });
    setIsa('portable');
    expect(selectedKernel(q, 1)).toBe('qspmm_portable');
    if (ISAS.includes('avx512')) {
      setIsa('avx512');
      expect(selectedKernel(q, 1)).toBe('qspmm_gemv_nm24_b64_int4_avx512');
      const q256 = pack(makeWeight(16, 256, 4, false), 16, 256, { format: 'nm', n: 2, m: 4 }, { bits: 4, groupSize: 32, symmetric: false });
      expect(selectedKernel(q256, 1)).toBe('qspmm_gemv_nm24_b256_int4_avx512');
      expect(selectedKernel(q, 16)).toBe('qspmm_gemm_nm_int4_avx512');
      expect(selectedKernel(q, 16, { xDtype: 'bfloat16' })).toBe(info.features.avx512bf16 ? 'qspmm_pairs_nm24_int4_bf16_avx512' : 'qspmm_gemm_nm_int4_avx512');
      expect(selectedKernel(q, 8, { xDtype: 'bfloat16' })).toBe('qspmm_gemm_nm_int4_avx512');
      // int8 activations: the x8 GEMMs from N = 2 up to exactly N = 64, x stays fp32 beyond.
      if (info.features.avx512vnni && info.features.avx512vbmi && info.features.avx512vbmi2) {
        const d = pack(makeWeight(16, 128, 5, false), 16, 128, { format: 'dense' }, { bits: 4, groupSize: 128, symmetric: true });
        for (const [w, name] of [[q, 'qspmm_gemm_pick_nm24_int4_x8_vnni'], [d, 'qspmm_gemm_bytes_dense_int4_x8_vnni']] as const) {
          expect(selectedKernel(w, 2, { activations: 'int8' })).toBe(name);
          expect(selectedKernel(w, 64, { activations: 'int8' })).toBe(name);
          expect(selectedKernel(w, 65, { activations: 'int8' })).not.toContain('_x8_');
        }
      }
    }
    setIsa(startIsa);
  });
});
