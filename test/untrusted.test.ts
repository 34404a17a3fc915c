// Issue #11: hostile shapes, parts changed after validation, SharedArrayBuffer parts, dispose()
// freeing at once. Each case here crashed the process or misbehaved before the fix.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SparseMatrix, SparsekitError, Tensor, loadSafetensors, saveSafetensors, spmm, type Format } from '../lib/index.js';
import { runCli } from '../lib/cli/main.js';
import { native } from '../lib/native.js';
import { MAX_DIM, MAX_ELEMENTS, checkedNumel } from '../lib/shape.js';
import { errorOf } from './errors-helper.js';

const dir = mkdtempSync(join(tmpdir(), 'sparsekit-untrusted-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const tmp = () => join(dir, `f-${fileNo++}.safetensors`);

function rawFile(path: string, header: object, data: Uint8Array = new Uint8Array(0)): void {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(path, Buffer.concat([len, json, data]));
}


/** A file with one sparse entry `w` whose metadata says `meta` and whose parts are empty. */
function lyingFile(meta: object, parts: string[]): string {
  const p = tmp();
  const header: Record<string, unknown> = { __metadata__: { 'sparsekit:w': JSON.stringify(meta) } };
  for (const part of parts) header[`w.${part}`] = { dtype: part === 'values' ? 'F32' : 'I32', shape: [0], data_offsets: [0, 0] };
  rawFile(p, header);
  return p;
}

function weight(rows: number, cols: number, seed: number, dtype: 'float32' | 'float16' = 'float32'): Tensor {
  const w = Tensor.randn([rows, cols], { seed, dtype: 'float32' });
  const d = w.toTypedArray() as Float32Array;
  for (let i = 0; i < d.length; i++) if ((i * 7 + seed) % 3 !== 0) d[i] = 0;
  for (let r = 0; r < rows; r++) for (let g = 0; g + 4 <= cols; g += 4) {  // make it 2:4 as well
    let kept = 0;
    for (let j = 0; j < 4; j++) if (d[r * cols + g + j] !== 0 && ++kept > 2) d[r * cols + g + j] = 0;
  }
  return w.to(dtype);
}

describe('#11 item 1: shape arithmetic is checked (one limit, both layers)', () => {
  it('refuses the hostile sparsekit: shapes of the issue with a typed error (they used to crash)', () => {
    const cases: [object, string[]][] = [
      [{ format: 'nm', version: 1, shape: [2 ** 40, 2 ** 27], dtype: 'float32', n: 4, m: 4 }, ['masks', 'values']],
      [{ format: 'tiled-csl', version: 1, shape: [2 ** 38, 2 ** 37], dtype: 'float16' }, ['tileOffsets', 'words']],
      [{ format: 'dense', version: 1, shape: [2 ** 22, 2 ** 40], dtype: 'float32' }, ['values']],
      [{ format: 'bitmap', version: 1, shape: [2 ** 31 - 1, 2 ** 31 - 1], dtype: 'float32' }, ['rowPtr', 'masks', 'values']],
      // Few elements, but one dimension past int32 (the index parts' type), either way round.
      [{ format: 'csr', version: 1, shape: [1, 2 ** 31], dtype: 'float32' }, ['rowPtr', 'colIdx', 'values']],
      [{ format: 'csr', version: 1, shape: [2 ** 31, 1], dtype: 'float32' }, ['rowPtr', 'colIdx', 'values']],
    ];
    for (const [meta, parts] of cases) {
      const e = errorOf(() => loadSafetensors.sync(lyingFile(meta, parts)).get('w'));
      expect(e.code).toBe('ERR_FORMAT');
      expect(e.message).toMatch(/sparse matrix 'w'.*limit/);
    }
  });

  it('native layer: products over the element limit are ERR_SHAPE even when JS checks are bypassed', () => {
    for (const [format, rows, cols] of [['nm', MAX_DIM, MAX_DIM], ['dense', 2 ** 22, 2 ** 20], ['tiled-csl', MAX_DIM, 2 ** 10]] as const) {
      const e = errorOf(() => {
        try {
          native.matrixFromParts({ format, dtype: 'float16', rows, cols, n: 2, m: 4, parts: {} });
        } catch (err) {
          throw Object.assign(new SparsekitError('ERR_INTERNAL', (err as Error).message), { code: (err as { code: string }).code });
        }
      });
      expect(e.code).toBe('ERR_SHAPE');
    }
    // Inside the limit but with missing parts: ERR_FORMAT naming the part.
    const e = errorOf(() => SparseMatrix.fromParts('nm', {
      shape: [2 ** 20, 2 ** 20], dtype: 'float32', n: 4, m: 4, parts: { masks: new Int32Array(0), values: new Float32Array(0) },
    }));
    expect([e.code, e.message]).toEqual(['ERR_FORMAT', expect.stringMatching(/part 'masks' must hold/)]);
  });

  it('fromParts: the issue\'s nm [2^40, 2^27] is ERR_SHAPE, and the limits are the documented ones', () => {
    const e = errorOf(() => SparseMatrix.fromParts('nm', {
      shape: [2 ** 40, 2 ** 27], dtype: 'float32', n: 4, m: 4, parts: { masks: new Int32Array(0), values: new Float32Array(0) },
    }));
    expect(e.code).toBe('ERR_SHAPE');
    expect(MAX_DIM).toBe(2 ** 31 - 1);
    expect(MAX_ELEMENTS).toBe(2 ** 40);
    expect(checkedNumel([2 ** 20, 2 ** 20])).toBe(2 ** 40);
    expect(checkedNumel([2 ** 50, 0, 2 ** 50])).toBe(0);
    expect(errorOf(() => checkedNumel([2 ** 20, 2 ** 20 + 1])).code).toBe('ERR_SHAPE');
  });

  it('native spmm checks the output extent with checked arithmetic (a wrapping stride used to write anywhere)', () => {
    const w = Tensor.randn([16385, 1], { seed: 1 });
    const b = new Float32Array(1);
    const out = new Float32Array(1);
    // (rows - 1) * rowStride = 2^64 wraps to 0 unchecked.
    expect(() => native.spmm({ format: 'dense', dtype: 'float32', rows: 16385, cols: 1, parts: { values: w.toTypedArray() } },
      { b, bDtype: 'float32', bIsKn: true, n: 1, out, outDtype: 'float32', rowStride: 2 ** 50, colStride: 0 })).toThrow(/output buffer too small/);
  });

  it('Tensor.zeros / randn / rand: sizes past the limit are ERR_SHAPE, unallocatable ones ERR_MEMORY', () => {
    expect(errorOf(() => Tensor.zeros([2 ** 40 + 1])).code).toBe('ERR_SHAPE');
    expect(errorOf(() => Tensor.zeros([2 ** 30, 2 ** 30])).code).toBe('ERR_SHAPE');
    expect(errorOf(() => Tensor.randn([2 ** 41])).code).toBe('ERR_SHAPE');
    expect(errorOf(() => Tensor.rand([2 ** 21, 2 ** 21])).code).toBe('ERR_SHAPE');
    const e = errorOf(() => Tensor.zeros([2 ** 40]));
    expect([e.code, e.message]).toEqual(['ERR_MEMORY', expect.stringMatching(/cannot allocate 1099511627776 float32/)]);
    expect(errorOf(() => Tensor.randn([2 ** 40])).code).toBe('ERR_MEMORY');
  });

  it('fromParts takes unaligned views (copied as bytes) and refuses ragged ones with ERR_SHAPE', () => {
    const w = weight(6, 40, 3);
    const csr = SparseMatrix.fromDense(w, { format: 'csr' });
    const parts = csr.parts();
    const unaligned: Record<string, Uint8Array> = {};
    for (const [name, t] of Object.entries(parts)) {
      const bytes = new Uint8Array(t.toTypedArray().buffer);
      const shifted = new Uint8Array(bytes.length + 1);
      shifted.set(bytes, 1);
      unaligned[name] = shifted.subarray(1);
    }
    const again = SparseMatrix.fromParts('csr', { shape: [6, 40], dtype: 'float32', parts: unaligned });
    expect(again.toDense().toTypedArray()).toEqual(w.toTypedArray());
    const e = errorOf(() => SparseMatrix.fromParts('csr', { shape: [6, 40], dtype: 'float32', parts: { ...unaligned, rowPtr: unaligned.rowPtr!.subarray(1) } }));
    expect([e.code, e.message]).toEqual(['ERR_SHAPE', expect.stringMatching(/options.parts.rowPtr: 27 bytes/)]);
  });

  it('sparsekit bench --shape 99999999x99999999 is a usage error (exit 1), not an internal one', async () => {
    let stderr = '';
    const code = await runCli(['bench', '--shape', '99999999x99999999'], { stdout: () => {}, stderr: (s) => { stderr += s; }, isTTY: false });
    expect(code).toBe(1);
    expect(stderr).toMatch(/--shape: .*limit/);
  });
});

const FORMATS: [Format, object][] = [['csr', {}], ['bitmap', {}], ['nm', { n: 2, m: 4 }], ['tiled-csl', {}], ['dense', {}]];

describe('#11 item 2: bytes changed after validation never reach the kernels', () => {
  it('writing into the arrays given to fromParts, or into parts() copies, changes nothing', () => {
    for (const [format, opt] of FORMATS) {
      const dtype = format === 'tiled-csl' ? 'float16' : 'float32';
      const w = weight(130, 70, 5, dtype);
      const src = SparseMatrix.fromDense(w, { format, ...opt });
      const arrays = Object.fromEntries(Object.entries(src.parts()).map(([k, t]) => [k, t.toTypedArray()]));
      const m = SparseMatrix.fromParts(format, { shape: [130, 70], dtype, ...opt, parts: arrays });
      const want = w.toTypedArray().slice();
      for (const a of Object.values(arrays)) (a as Int32Array).fill(1 << 30);
      for (const t of Object.values(m.parts())) (t.toTypedArray() as Int32Array).fill(-1);
      expect(m.toDense().toTypedArray()).toEqual(want);
      const b = Tensor.randn([70, 3], { seed: 9 });
      expect(spmm.sync(m, b).toTypedArray()).toEqual(spmm.sync(src, b).toTypedArray());
    }
  });

  it("f.getTensor('w.colIdx') filled with 1 << 30 after get('w') does not affect the matrix (it used to segfault)", async () => {
    const w = weight(64, 96, 7);
    const p = tmp();
    await saveSafetensors(p, { w: SparseMatrix.fromDense(w, { format: 'csr' }) });
    const f = loadSafetensors.sync(p);
    const m = f.get('w') as SparseMatrix;
    (f.getTensor('w.colIdx').toTypedArray() as Int32Array).fill(1 << 30);
    (f.getTensor('w.rowPtr').toTypedArray() as Int32Array).fill(1 << 30);
    const b = Tensor.randn([96, 2], { seed: 2 });
    const ref = SparseMatrix.fromDense(w, { format: 'csr' });
    expect(spmm.sync(m, b).toTypedArray()).toEqual(spmm.sync(ref, b).toTypedArray());
    expect(m.toDense().toTypedArray()).toEqual(w.toTypedArray());
    f.dispose();
  });
});

describe('#11 item 3: SharedArrayBuffer-backed arrays are supported (they aborted the process)', () => {
  it('parts, activations and outputs over a SharedArrayBuffer work and give the same results', () => {
    const w = weight(33, 50, 11);
    const bm = SparseMatrix.fromDense(w, { format: 'bitmap' });
    const shared: Record<string, Int32Array | Float32Array> = {};
    for (const [name, t] of Object.entries(bm.parts())) {
      const src = t.toTypedArray() as Int32Array | Float32Array;
      const sab = new SharedArrayBuffer(src.byteLength);
      const dst = new (src.constructor as Int32ArrayConstructor)(sab);
      dst.set(src as Int32Array);
      shared[name] = dst;
    }
    const m = SparseMatrix.fromParts('bitmap', { shape: [33, 50], dtype: 'float32', parts: shared });
    expect(m.toDense().toTypedArray()).toEqual(w.toTypedArray());
    const bShared = new Float32Array(new SharedArrayBuffer(50 * 4 * 2));
    bShared.set(Tensor.randn([100], { seed: 4 }).toTypedArray() as Float32Array);
    const b = Tensor.from(bShared, [50, 2]);
    expect(spmm.sync(m, b).toTypedArray()).toEqual(spmm.sync(bm, b).toTypedArray());
    expect(Tensor.from(new Float32Array(new SharedArrayBuffer(8)), [2]).to('float16').shape).toEqual([2]);
  });
});

describe('#11 item 4: dispose() frees native memory at once', () => {
  it('keeps an in-flight async product safe and makes later use ERR_DISPOSED', async () => {
    const w = weight(256, 512, 13);
    const m = SparseMatrix.fromDense(w, { format: 'bitmap' });
    const b = Tensor.randn([512, 16], { seed: 5 });
    const want = spmm.sync(m, b).toTypedArray();
    const pending = [spmm(m, b), m.toDenseAsync()];
    m.dispose();
    const [y, dense] = (await Promise.all(pending)) as [Tensor, Tensor];
    expect(y.toTypedArray()).toEqual(want);
    expect(dense.toTypedArray()).toEqual(w.toTypedArray());
    expect(errorOf(() => m.parts()).code).toBe('ERR_DISPOSED');
    expect(errorOf(() => m.byteLength).code).toBe('ERR_DISPOSED');
    m.dispose();
  });

  it('2000 fromDense/dispose cycles on 256x256 keep RSS flat (a child process, no GC forced)', () => {
    const script = `
      import { SparseMatrix, Tensor } from './lib/index.ts';
      const w = Tensor.randn([256, 256], { seed: 1 });
      for (let i = 0; i < 200; i++) SparseMatrix.fromDense(w, { format: 'csr' }).dispose();
      const before = process.memoryUsage().rss;
      for (let i = 0; i < 2000; i++) SparseMatrix.fromDense(w, { format: 'csr' }).dispose();
      console.log(JSON.stringify({ grew: process.memoryUsage().rss - before }));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: join(import.meta.dirname, '..') });
    expect(r.status, r.stderr).toBe(0);
    const { grew } = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(grew).toBeLessThan(64 * 2 ** 20);  // each undisposed matrix holds ~0.5 MiB: 2000 would be ~1 GiB
  });
});

describe('#11 item 5: the CLI never replaces what it was not asked to', () => {
  const cliDir = join(dir, 'cli');
  const input = join(cliDir, 'model.safetensors');
  const run = async (...argv: string[]) => {
    let stderr = '';
    const code = await runCli(argv, { stdout: () => {}, stderr: (s) => { stderr += s; }, isTTY: false });
    return { code, stderr };
  };
  const writeModel = () => {
    mkdirSync(cliDir, { recursive: true });
    saveSafetensors.sync(input, { 'layers.0.w': weight(64, 64, 21, 'float16'), 'layers.1.w': weight(64, 64, 22, 'float16') });
    return readFileSync(input);
  };

  it('refuses a FIFO, a directory or a socket at --out (exit 3) and leaves it as it was', async () => {
    writeModel();
    const fifo = join(cliDir, 'out.fifo');
    execFileSync('mkfifo', [fifo]);
    let r = await run('pack', input, '-o', fifo, '-f', 'csr');
    expect([r.code, r.stderr]).toEqual([3, expect.stringMatching(/refusing to write .*out\.fifo.*a FIFO/)]);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    const sub = join(cliDir, 'a-directory');
    mkdirSync(sub);
    r = await run('pack', input, '-o', sub, '-f', 'csr');
    expect([r.code, r.stderr]).toEqual([3, expect.stringMatching(/a directory/)]);
    expect(lstatSync(sub).isDirectory()).toBe(true);
    const sockPath = join(cliDir, 'out.sock');
    const server = createServer().listen(sockPath);
    await new Promise((ok) => server.once('listening', ok));
    r = await run('pack', input, '-o', sockPath, '-f', 'csr');
    expect([r.code, r.stderr]).toEqual([3, expect.stringMatching(/a socket/)]);
    expect(lstatSync(sockPath).isSocket()).toBe(true);
    server.close();
    expect(readdirSync(cliDir).filter((n) => n.includes('.tmp-'))).toEqual([]);
    // The library writer refuses the same way (ERR_IO).
    expect(errorOf(() => saveSafetensors.sync(fifo, { t: Tensor.zeros([2]) })).code).toBe('ERR_IO');
  });

  it('sees the input through a symlinked folder, a symlink and a hard link (exit 1, input untouched)', async () => {
    const before = writeModel();
    const link = join(dir, 'dirlink');
    symlinkSync(cliDir, link);
    symlinkSync(input, join(dir, 'filelink.safetensors'));
    linkSync(input, join(dir, 'hardlink.safetensors'));
    for (const out of [join(link, 'model.safetensors'), join(dir, 'filelink.safetensors'), join(dir, 'hardlink.safetensors')]) {
      const r = await run('pack', input, '-o', out, '-f', 'csr');
      expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(/--out must differ from the input/)]);
    }
    expect(readFileSync(input).equals(before)).toBe(true);
  });

  let slow: string | undefined;
  const slowModel = () => {
    if (slow) return slow;
    mkdirSync(cliDir, { recursive: true });
    const layers: Record<string, Tensor> = {};
    for (let i = 0; i < 24; i++) layers[`layers.${i}.w`] = Tensor.randn([1024, 1024], { seed: i });
    saveSafetensors.sync((slow = join(cliDir, 'slow.safetensors')), layers);
    return slow;
  };
  for (const [signal, code] of [['SIGTERM', 143], ['SIGHUP', 129], ['SIGINT', 130]] as const)
    it(`${signal} removes the temp file (exit ${code})`, async () => {
      // A prune slow enough (SparseGPT, many layers) to be caught while its output is being written.
      const big = slowModel(), out = join(cliDir, `slow-${signal}.out.safetensors`);
      const child = spawn(process.execPath, ['--import', 'tsx', 'lib/cli.ts', 'prune', big, '-o', out, '--method', 'magnitude', '--sparsity', '0.5', '--threads', '1'],
        { cwd: join(import.meta.dirname, '..'), stdio: 'ignore' });
      const exited = new Promise<number | null>((ok) => child.on('exit', (c) => ok(c)));
      const temps = () => readdirSync(cliDir).filter((n) => n.startsWith(`slow-${signal}.out.safetensors.tmp-`));
      const t0 = Date.now();
      while (temps().length === 0 && Date.now() - t0 < 60_000) await new Promise((ok) => setTimeout(ok, 5));
      expect(temps().length).toBe(1);
      child.kill(signal);
      if (signal === 'SIGINT') setTimeout(() => child.kill('SIGINT'), 20);  // the second Ctrl-C exits at once
      const status = await exited;
      expect(temps()).toEqual([]);
      expect([130, 143, 129]).toContain(status);
      if (signal !== 'SIGINT') expect(status).toBe(code);
    }, 90_000);
});
