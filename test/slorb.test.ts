// AST's SLoRB (sparse + low-rank boosting): init against a float64 re-implementation of the
// official code's init, linear()/spmm() with the term against y = (W ⊙ M)x + S(Px) in float64 for
// every format and dtype, and the term's save/load with every byte of it validated.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  SparseMatrix, Tensor, devices, linear, loadSafetensors, mergeLowRank, saveSafetensors, slorb, spmm, type Format, type FloatDType,
} from '../lib/index.js';
import { runCli } from '../lib/cli/main.js';
import { OUT_RTOL, expectClose, rng, valuesOf } from './reference.js';
import { linearRef } from './slorb-ref.js';

const dir = mkdtempSync(join(tmpdir(), 'sparsekit-slorb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const a16 = (t: Tensor) => t.to('float16');

function randMask(n: number, density: number, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => (r() < density ? 1 : 0));
}

/** AST's init: S[r, i] = mean (or sum) over group i's k slots of W ⊙ (1 − M). */
function initRef(w: Float64Array, mask: Uint8Array, M: number, K: number, k: number, how: 'mean' | 'sum'): Float64Array {
  const s = new Float64Array(M * (K / k));
  for (let r = 0; r < M; r++) for (let i = 0; i < K / k; i++) {
    let acc = 0;
    for (let j = 0; j < k; j++) acc += w[r * K + i * k + j]! * (1 - mask[r * K + i * k + j]!);
    s[r * (K / k) + i] = how === 'mean' ? acc / k : acc;
  }
  return s;
}

describe('slorb.init and slorb.projection', () => {
  const [M, K] = [5, 48];
  const mask = randMask(M * K, 0.5, 1);
  it('mean / sum / zero match the float64 reference for every dtype', () => {
    for (const dtype of ['float32', 'float16', 'bfloat16'] as FloatDType[]) {
      const w = Tensor.randn([M, K], { seed: 2, dtype });
      const wv = valuesOf(w);
      for (const k of [16, 8, 48]) for (const how of ['mean', 'sum'] as const) {
        const got = slorb.init(w, mask, { groupSize: k, init: how });
        expect(got.shape).toEqual([M, K / k]);
        const want = initRef(wv, mask, M, K, k, how);
        got.toFloat32Array().forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(want[i]!))));
      }
      expect([...slorb.init(w, mask, { init: 'zero' }).toFloat32Array()]).toEqual(new Array(M * 3).fill(0));
    }
    expect(slorb.init(Tensor.randn([M, K], { seed: 2 }), mask, { dtype: 'bfloat16' }).dtype).toBe('bfloat16');
  });
  it('xavier draws are bounded, seeded and deterministic; the projection sums groups', () => {
    const w = Tensor.randn([M, K], { seed: 2 });
    const a = slorb.init(w, mask, { init: 'xavier', seed: 7 }).toFloat32Array();
    const bound = Math.sqrt(6 / (M + K / 16));
    expect(a.every((v) => Math.abs(v) <= bound)).toBe(true);
    expect(new Set(a).size).toBe(a.length);
    expect(slorb.init(w, mask, { init: 'xavier', seed: 7 }).toFloat32Array()).toEqual(a);
    expect(slorb.init(w, mask, { init: 'xavier', seed: 8 }).toFloat32Array()).not.toEqual(a);
    const p = slorb.projection(12, 4).toFloat32Array();
    expect([...p]).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
    expect(slorb.projection(12, 4, { init: 'xavier', seed: 1 }).shape).toEqual([3, 12]);
  });
  it('refuses group sizes that do not divide K, bad masks and inits, naming the argument', () => {
    const w = Tensor.randn([M, K], { seed: 2 });
    expect(() => slorb.init(w, mask, { groupSize: 10 })).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringContaining('options.groupSize: 10 does not divide') }));
    expect(() => slorb.init(w, mask, { groupSize: 0 })).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringContaining('options.groupSize') }));
    expect(() => slorb.init(w, new Uint8Array(3))).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringContaining('mask') }));
    expect(() => slorb.init(w, mask, { init: 'kaiming' as never })).toThrow(/options.init/);
    expect(() => slorb.projection(12, 5)).toThrow(/groupSize: 5 does not divide/);
  });
});

/** y[t, r] = Σ_j Wm[r, j] x[t, j] + Σ_i S[r, i] (P x_t)_i (+ bias), and Σ|terms| for the error bound. */
describe('linear() and spmm() with an SLoRB term', () => {
  const FORMATS: Format[] = ['dense', 'csr', 'bitmap', 'nm', 'tiled-csl'];
  for (const [M, K, k] of [[37, 64, 16], [130, 96, 32], [1, 16, 16]] as const)
    for (const format of FORMATS) for (const dtype of ['float32', 'float16', 'bfloat16'] as FloatDType[]) {
      if (format === 'tiled-csl' && dtype === 'float32') continue;
      it(`${format} ${dtype} [${M}, ${K}] k=${k}`, async () => {
        const w = Tensor.randn([M, K], { seed: M + K, dtype });
        const mask = randMask(M * K, 0.5, K);
        const sm0 = format === 'nm' ? SparseMatrix.fromDense(w, { format, n: 2, m: 4, prune: 'magnitude' }) : SparseMatrix.fromDense(w, { format, mask });
        const wm = valuesOf(sm0.toDense());
        const keep = Uint8Array.from(wm, (v) => (v !== 0 ? 1 : 0));
        const S = slorb.init(w, keep, { groupSize: k, dtype });
        const sm = SparseMatrix.fromParts(format, { shape: [M, K], dtype, n: sm0.n, m: sm0.m, parts: sm0.parts(), slorb: { scales: S, groupSize: k } });
        const sv = valuesOf(S);
        for (const N of [1, 5]) {
          const x = Tensor.randn([N, K], { seed: N, dtype });
          const bias = Tensor.randn([M], { seed: 3 });
          const { y, mag } = linearRef(wm, sv, null, valuesOf(x), M, K, N, k, valuesOf(bias), dtype);
          for (const outDtype of [dtype, 'float32'] as FloatDType[]) {
            const got = linear.sync(x, sm, bias, { outDtype });
            expect(got.shape).toEqual([N, M]);
            expectClose(valuesOf(got), y, mag, OUT_RTOL[outDtype]!, K + K / k, `linear ${outDtype} N=${N}`);
          }
          expect(valuesOf(await linear(x, sm, bias))).toEqual(valuesOf(linear.sync(x, sm, bias)));
          // spmm: b [K, N] is x transposed; out [M, N]
          const xt = Tensor.from(Float32Array.from({ length: K * N }, (_, i) => valuesOf(x)[(i % N) * K + Math.floor(i / N)]!), [K, N]).to(dtype);
          const { y: y0, mag: m0 } = linearRef(wm, sv, null, valuesOf(x), M, K, N, k, null, dtype);
          const ys = valuesOf(spmm.sync(sm, xt, { outDtype: 'float32' }));
          expectClose(Float64Array.from({ length: M * N }, (_, i) => ys[(i % M) * N + Math.floor(i / M)]!), y0, m0, OUT_RTOL.float32!, K + K / k, `spmm N=${N}`);
        }
      });
    }

  it('a general projection P, and the sparse product alone is unchanged without the term', () => {
    const [M, K, k, N] = [20, 32, 8, 3];
    const w = Tensor.randn([M, K], { seed: 1 });
    const mask = randMask(M * K, 0.4, 2);
    const S = slorb.init(w, mask, { groupSize: k, init: 'xavier', seed: 3 });
    const P = slorb.projection(K, k, { init: 'xavier', seed: 4 }).to('bfloat16');
    const sm = SparseMatrix.fromDense(w, { format: 'bitmap', mask, slorb: { scales: S, groupSize: k, projection: P } });
    const x = Tensor.randn([N, K], { seed: 5 });
    const wm = valuesOf(SparseMatrix.fromDense(w, { format: 'bitmap', mask }).toDense());
    const { y, mag } = linearRef(wm, valuesOf(S), valuesOf(P), valuesOf(x), M, K, N, k, null, 'float32');
    expectClose(valuesOf(linear.sync(x, sm)), y, mag, OUT_RTOL.float32!, 2 * K, 'projection');
    const plain = SparseMatrix.fromDense(w, { format: 'bitmap', mask });
    const { y: y0, mag: m0 } = linearRef(wm, new Float64Array(M * K / k), null, valuesOf(x), M, K, N, k, null, 'float32');
    expectClose(valuesOf(linear.sync(x, plain)), y0, m0, OUT_RTOL.float32!, K, 'no term');
  });

  it('bad terms: shapes, group sizes, NaN/Inf, unknown fields; merges keep the term', async () => {
    const [M, K] = [8, 32];
    const w = Tensor.randn([M, K], { seed: 1 });
    const S = Tensor.randn([M, 2], { seed: 2 });
    const pack = (sl: unknown) => () => SparseMatrix.fromDense(w, { format: 'csr', slorb: sl as never });
    expect(pack({ scales: S, groupSize: 12 })).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringContaining('options.slorb.groupSize: 12 does not divide') }));
    expect(pack({ scales: S, groupSize: 8 })).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringContaining('options.slorb.scales: expected [8, 4]') }));
    expect(pack({ scales: Tensor.from(new Float32Array(16).fill(NaN), [8, 2]), groupSize: 16 })).toThrow(expect.objectContaining({ code: 'ERR_NUMERIC', message: expect.stringContaining('options.slorb.scales') }));
    expect(pack({ scales: S, groupSize: 16, projection: Tensor.randn([2, 31], { seed: 1 }) })).toThrow(/options.slorb.projection: expected \[2, 32\]/);
    for (const bad of [NaN, Infinity, -Infinity]) {
      const p = new Float32Array(2 * K).fill(0.5);
      p[K + 7] = bad;
      expect(pack({ scales: S, groupSize: 16, projection: Tensor.from(p, [2, K]) }))
        .toThrow(expect.objectContaining({ code: 'ERR_NUMERIC', message: expect.stringContaining(`options.slorb.projection: element ${K + 7} is ${bad}`) }));
    }
    expect(pack({ scales: S, groupSize: 16, extra: 1 })).toThrow(/options.slorb.extra/);
    expect(pack({ scales: Tensor.zeros([8, 2], { dtype: 'int32' }), groupSize: 16 })).toThrow(expect.objectContaining({ code: 'ERR_DTYPE' }));
    const sm = SparseMatrix.fromDense(w, { format: 'bitmap', slorb: { scales: S.to('float16'), groupSize: 16 } });
    // The term goes to the GPU with the weight (test/gpu/slorb-gpu.test.ts); here only the device check can refuse.
    const sm16 = SparseMatrix.fromDense(w.to('float16'), { format: 'bitmap', slorb: { scales: S.to('float16'), groupSize: 16 } });
    if (devices().length === 0) await expect(sm16.to('cuda')).rejects.toMatchObject({ code: 'ERR_DEVICE' });
    expect(String(sm)).toContain('slorb k=16');
    // merges keep the term
    const merged = mergeLowRank(sm, Tensor.randn([2, K], { seed: 3 }), Tensor.randn([M, 2], { seed: 4 }));
    expect(merged.slorb?.scales).toBe(sm.slorb!.scales);
  });
});

describe('SLoRB on disk', () => {
  const [M, K, k] = [24, 64, 16];
  const w = Tensor.randn([M, K], { seed: 1, dtype: 'bfloat16' });
  const mask = randMask(M * K, 0.5, 2);
  const S = slorb.init(w, mask, { groupSize: k, dtype: 'bfloat16' });
  const P = slorb.projection(K, k, { init: 'xavier', seed: 1 });

  it('round-trips the term with and without a projection; plain matrices stay version 1', async () => {
    const path = join(dir, 'slorb.safetensors');
    const a = SparseMatrix.fromDense(w, { format: 'bitmap', mask, slorb: { scales: S, groupSize: k } });
    const b = SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', slorb: { scales: S, groupSize: k, projection: P } });
    await saveSafetensors(path, { a, b, c: SparseMatrix.fromDense(w, { format: 'csr', mask }) });
    using f = await loadSafetensors(path);
    expect(f.names.length).toBe(3);
    expect(JSON.parse(f.metadata['sparsekit:a']!)).toMatchObject({ version: 2, slorb: { groupSize: 16, projection: false } });
    expect(JSON.parse(f.metadata['sparsekit:b']!)).toMatchObject({ version: 2, slorb: { groupSize: 16, projection: true } });
    expect(JSON.parse(f.metadata['sparsekit:c']!)).toMatchObject({ version: 1 });
    expect(JSON.parse(f.metadata['sparsekit:c']!).slorb).toBeUndefined();
    const x = Tensor.randn([3, K], { seed: 9, dtype: 'bfloat16' });
    for (const [name, orig] of [['a', a], ['b', b]] as const) {
      const got = f.get(name) as SparseMatrix;
      expect(got.slorb?.groupSize).toBe(k);
      expect(valuesOf(got.slorb!.scales)).toEqual(valuesOf(S));
      expect(valuesOf(linear.sync(x, got))).toEqual(valuesOf(linear.sync(x, orig)));
    }
    expect((f.get('b') as SparseMatrix).slorb!.projection!.toFloat32Array()).toEqual(P.toFloat32Array());
    // The term is the file's bytes at get(), not a view of them (npm run fuzz's post-validation found this).
    const held = f.get('b') as SparseMatrix;
    const y0 = valuesOf(linear.sync(x, held));
    for (const t of ['b.slorbScales', 'b.slorbProjection']) (f.getTensor(t).toTypedArray() as Uint16Array).fill(0x7fc0);
    expect(valuesOf(linear.sync(x, held))).toEqual(y0);
    expect((f.info('a') as { partTensors: string[] }).partTensors).toContain('a.slorbScales');
  });

  const run = async (...argv: string[]) => {
    let err = '';
    const code = await runCli(argv, { stdout: () => {}, stderr: (t) => { err += t; }, isTTY: false });
    return { code, err };
  };

  it('pack carries the term into every format (dense ones as a dense matrix), quantized too', async () => {
    const path = join(dir, 'cli-in.safetensors');
    const P2 = slorb.projection(K, k, { init: 'xavier', seed: 3 });
    const q8 = { ...slorb.quantize(S), groupSize: k };
    const orig = {
      'a.weight': SparseMatrix.fromDense(w, { format: 'bitmap', mask, slorb: { scales: S, groupSize: k } }),
      'b.weight': SparseMatrix.fromDense(w, { format: 'csr', mask, slorb: { scales: S, groupSize: k, projection: P2 } }),
      'c.weight': SparseMatrix.fromDense(w, { format: 'bitmap', mask, slorb: q8 }),
    };
    await saveSafetensors(path, orig);
    const x = Tensor.randn([3, K], { seed: 8, dtype: 'bfloat16' });
    for (const [format, extra] of [['csr', []], ['dense', []], ['tiled-csl', []], ['bitmap', ['--quant', 'int8', '--group', '32']], ['auto', []], ['bitmap', []]] as const) {
      const out = join(dir, `cli-p-${format}-${extra.length}.safetensors`);
      expect(await run('pack', path, '--format', format, ...extra, '--out', out)).toEqual({ code: 0, err: '' });
      using f = await loadSafetensors(out);
      for (const [name, m] of Object.entries(orig)) {
        const got = f.get(name) as SparseMatrix;
        expect(got).toBeInstanceOf(SparseMatrix);
        if (format !== 'auto') expect(got.format).toBe(format);
        expect(got.slorb?.groupSize).toBe(k);
        expect(valuesOf(got.slorb!.scales)).toEqual(valuesOf(m.slorb!.scales));
        expect(!!got.slorb!.projection).toBe(!!m.slorb!.projection);
        expect(!!got.slorb!.rowScales).toBe(!!m.slorb!.rowScales);
        // Unquantized: the same layer bit for bit up to the kernels' summation order.
        const y0 = valuesOf(linear.sync(x, m)), y1 = valuesOf(linear.sync(x, got));
        if (!extra.length) for (let i = 0; i < y0.length; i++) expect(Math.abs(y1[i]! - y0[i]!)).toBeLessThan(1e-4 * (1 + Math.abs(y0[i]!)));
        else expect(got.quant?.bits).toBe(8);
      }
    }
  });

  it('unpack asks what to do with the term: --slorb fold (W + S·P) or keep; never drops it', async () => {
    const path = join(dir, 'cli-un.safetensors');
    const P2 = slorb.projection(K, k, { init: 'xavier', seed: 4 });
    const a = SparseMatrix.fromDense(w, { format: 'bitmap', mask, slorb: { scales: S, groupSize: k } });
    const b = SparseMatrix.fromDense(w, { format: 'nm', n: 2, m: 4, prune: 'magnitude', slorb: { ...slorb.quantize(S), groupSize: k, projection: P2 } });
    const c = SparseMatrix.fromDense(w, { format: 'csr', mask });
    await saveSafetensors(path, { 'a.weight': a, 'b.weight': b, 'c.weight': c });
    const refused = await run('unpack', path, '--out', join(dir, 'cli-u0.safetensors'));
    expect(refused).toEqual({ code: 2, err: expect.stringMatching(/SLoRB[^]*--slorb/) });
    expect(await run('unpack', path, '--slorb', 'drop', '--out', join(dir, 'cli-u1.safetensors'))).toEqual({ code: 1, err: expect.stringContaining('--slorb') });
    // Only matrices without a term: no --slorb needed.
    expect((await run('unpack', path, '--layers', '^c', '--out', join(dir, 'cli-u2.safetensors'))).code).toBe(0);

    const x = Tensor.randn([2, K], { seed: 10, dtype: 'bfloat16' });
    expect((await run('unpack', path, '--slorb', 'fold', '--out', join(dir, 'cli-fold.safetensors'))).code).toBe(0);
    {
      using f = await loadSafetensors(join(dir, 'cli-fold.safetensors'));
      for (const [name, m] of [['a.weight', a], ['b.weight', b]] as const) {
        const t = f.get(name) as Tensor;
        expect(t).toBeInstanceOf(Tensor);
        expect(t.dtype).toBe('bfloat16');
        // Folded: W ⊙ M + S·P, in float64 then rounded; so the layer computes the same y.
        const wm = valuesOf(m.toDense()), sv = valuesOf(m.slorb!.scales), rs = m.slorb!.rowScales ? valuesOf(m.slorb!.rowScales) : null;
        const pv = m.slorb!.projection ? valuesOf(m.slorb!.projection) : null, G = K / k;
        const want = Tensor.from(Float32Array.from({ length: M * K }, (_, i) => {
          const r = Math.floor(i / K), j = i % K;
          let add = 0;
          for (let g = 0; g < G; g++) add += sv[r * G + g]! * (rs ? rs[r]! : 1) * (pv ? pv[g * K + j]! : Math.floor(j / k) === g ? 1 : 0);
          return wm[i]! + add;
        }), [M, K]).to('bfloat16');
        expect(valuesOf(t)).toEqual(valuesOf(want));
        const y0 = valuesOf(linear.sync(x, m)), y1 = valuesOf(linear.sync(x, t));
        for (let i = 0; i < y0.length; i++) expect(Math.abs(y1[i]! - y0[i]!)).toBeLessThan(0.05 * (1 + Math.abs(y0[i]!)));
      }
      expect(f.get('c.weight')).toBeInstanceOf(Tensor);
    }
    expect((await run('unpack', path, '--slorb', 'keep', '--out', join(dir, 'cli-keep.safetensors'))).code).toBe(0);
    using f = await loadSafetensors(join(dir, 'cli-keep.safetensors'));
    for (const [name, m] of [['a.weight', a], ['b.weight', b]] as const) {
      const got = f.get(name) as SparseMatrix;
      expect(got.format).toBe('dense');
      expect(valuesOf(got.toDense())).toEqual(valuesOf(m.toDense()));
      expect(valuesOf(got.slorb!.scales)).toEqual(valuesOf(m.slorb!.scales));
      const y0 = valuesOf(linear.sync(x, m)), y1 = valuesOf(linear.sync(x, got));
      for (let i = 0; i < y0.length; i++) expect(Math.abs(y1[i]! - y0[i]!)).toBeLessThan(1e-4 * (1 + Math.abs(y0[i]!)));
    }
  });

  it('prune refuses a matrix with a term (it would drop it), and prunes its folded weight', async () => {
    const path = join(dir, 'cli-prune.safetensors');
    await saveSafetensors(path, { 'l.weight': SparseMatrix.fromDense(w, { format: 'bitmap', mask, slorb: { scales: S, groupSize: k } }) });
    const out = join(dir, 'cli-pruned.safetensors');
    expect(await run('prune', path, '--method', 'magnitude', '--sparsity', '0.75', '-o', out))
      .toEqual({ code: 2, err: expect.stringMatching(/'l\.weight' carries an SLoRB term[^]*--slorb fold/) });
    const folded = join(dir, 'cli-prune-folded.safetensors');
    expect((await run('unpack', path, '--slorb', 'fold', '-o', folded)).code).toBe(0);
    expect((await run('prune', folded, '--method', 'magnitude', '--sparsity', '0.75', '--layers', 'l', '-o', out)).code).toBe(0);
  });

  it('slorb.fold: typed errors, and a sum that overflows the dtype is ERR_NUMERIC', () => {
    const dense = a16(Tensor.from(Float32Array.from({ length: 2 * 4 }, () => 60000), [2, 4]));
    expect(() => slorb.fold(dense, { scales: Tensor.from(new Float32Array([10000, 0, 0, 0]), [2, 2]), groupSize: 2 }))
      .toThrow(expect.objectContaining({ code: 'ERR_NUMERIC', message: expect.stringContaining('[0, 0]') }));
    expect(() => slorb.fold(dense, { scales: Tensor.from(new Float32Array(3), [1, 3]), groupSize: 2 })).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(valuesOf(slorb.fold(dense, { scales: Tensor.from(new Float32Array([1, 2, 3, 4]), [2, 2]), groupSize: 2 })))
      .toEqual(valuesOf(Tensor.from(Float32Array.from([60001, 60001, 60002, 60002, 60003, 60003, 60004, 60004]), [2, 4]).to('float16')));
  });

  it('validates every byte of a stored term', async () => {
    const base = SparseMatrix.fromDense(w, { format: 'csr', mask });
    const parts = base.parts();
    const write = async (name: string, meta: Record<string, unknown>, extra: Record<string, Tensor>) => {
      const path = join(dir, `${name}.safetensors`);
      const tensors: Record<string, Tensor> = { 'w.rowPtr': parts.rowPtr!, 'w.colIdx': parts.colIdx!, 'w.values': parts.values!, ...extra };
      await saveSafetensors(path, tensors, { 'sparsekit:w': JSON.stringify({ format: 'csr', version: 2, shape: [M, K], dtype: 'bfloat16', ...meta }) });
      return path;
    };
    const load = async (path: string) => { using f = await loadSafetensors(path); return f.get('w'); };
    const q8 = slorb.quantize(S);
    const ok = await write('ok', { slorb: { groupSize: 16, projection: false } }, { 'w.slorbScales': S });
    const ok8 = await write('ok8', { slorb: { groupSize: 16, projection: false, rowScales: true } }, { 'w.slorbScales': q8.scales, 'w.slorbRowScales': q8.rowScales });
    expect(((await load(ok8)) as SparseMatrix).slorb?.rowScales?.shape).toEqual([M]);
    expect(((await load(ok)) as SparseMatrix).slorb?.groupSize).toBe(16);
    const cases: [string, Record<string, unknown>, Record<string, Tensor>, RegExp][] = [
      ['k-not-dividing', { slorb: { groupSize: 24, projection: false } }, { 'w.slorbScales': S }, /groupSize: 24 does not divide/],
      ['k-zero', { slorb: { groupSize: 0, projection: false } }, { 'w.slorbScales': S }, /slorb must be/],
      ['no-scales', { slorb: { groupSize: 16, projection: false } }, {}, /no tensor 'w.slorbScales'/],
      ['no-proj', { slorb: { groupSize: 16, projection: true } }, { 'w.slorbScales': S }, /no tensor 'w.slorbProjection'/],
      ['shape', { slorb: { groupSize: 16, projection: false } }, { 'w.slorbScales': Tensor.randn([M, 3], { seed: 1 }) }, /scales: expected \[24, 4\]/],
      ['nan', { slorb: { groupSize: 16, projection: false } }, { 'w.slorbScales': Tensor.from(new Float32Array(M * 4).fill(Infinity), [M, 4]) }, /scales: element 0 is Infinity/],
      ['v1', { version: 1, slorb: { groupSize: 16, projection: false } }, { 'w.slorbScales': S }, /version 2 description/],
      ['bad-type', { slorb: { groupSize: 16, projection: 'yes' } }, { 'w.slorbScales': S }, /slorb must be/],
      // int8 scales (slorb.quantize) and their row scales
      ['rs-missing', { slorb: { groupSize: 16, projection: false, rowScales: true } }, { 'w.slorbScales': q8.scales }, /no tensor 'w.slorbRowScales'/],
      ['rs-not-declared', { slorb: { groupSize: 16, projection: false } }, { 'w.slorbScales': q8.scales }, /rowScales: int8 scales need/],
      ['rs-on-float', { slorb: { groupSize: 16, projection: false, rowScales: true } }, { 'w.slorbScales': S, 'w.slorbRowScales': q8.rowScales }, /only int8 scales take row scales/],
      ['rs-shape', { slorb: { groupSize: 16, projection: false, rowScales: true } }, { 'w.slorbScales': q8.scales, 'w.slorbRowScales': Tensor.randn([M + 1], { seed: 1 }) }, /rowScales: expected \[24\]/],
      ['rs-inf', { slorb: { groupSize: 16, projection: false, rowScales: true } }, { 'w.slorbScales': q8.scales, 'w.slorbRowScales': Tensor.from(new Float32Array(M).fill(-Infinity)) }, /rowScales: element 0 is -Infinity/],
      ['rs-type', { slorb: { groupSize: 16, projection: false, rowScales: 1 } }, { 'w.slorbScales': q8.scales }, /slorb must be/],
    ];
    for (const [name, meta, extra, msg] of cases) {
      const path = await write(name, meta, extra);
      await expect(load(path), name).rejects.toThrow(expect.objectContaining({ code: 'ERR_FORMAT', message: expect.stringMatching(msg) }));
    }
  });
});
