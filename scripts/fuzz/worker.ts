/**
 * One fuzzing child: runs cases [start, start + count) of one strategy and reports each on stdout
 * ("C <i>" before, "R <i> <outcome> [detail]" after) so the parent can name the case that crashed
 * or hung. Every matrix the library accepts goes through toDense and spmm (N = 1 and 3, sync and
 * async; quantized ones also with int8 activations); every error must be a SparsekitError.
 *   argv: <json { strategy, start, count, base, dir }>
 */
import { writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SparseMatrix, SparsekitError, Tensor, loadSafetensors, spmm } from '../../lib/index.js';
import { buildCorpus } from './corpus.js';
import { STRATEGIES, mutate, type Strategy } from './mutate.js';
import { Rng, caseSeed } from './rng.js';

const { strategy, start, count, base, dir } = JSON.parse(process.argv[2]!) as { strategy: Strategy; start: number; count: number; base: number; dir: string };
const say = (line: string) => writeSync(1, line + '\n');
// Sizes past this are validated but not densified or multiplied (a legal [1, 2^31-1] csr matrix
// would need 8 GiB of dense output): memory, not safety, is the limit here.
const MAX_WORK = 1 << 22;

const corpus = buildCorpus(dir);
const path = join(dir, `case-${process.pid}.safetensors`);

class Untyped extends Error {}
function typed(e: unknown): void {
  if (!(e instanceof SparsekitError)) throw new Untyped(`${(e as Error)?.constructor?.name}: ${(e as Error)?.message ?? String(e)}`);
}

const same = (a: Tensor, b: Tensor) => Buffer.from((a.toTypedArray() as Uint8Array).buffer).equals(Buffer.from((b.toTypedArray() as Uint8Array).buffer));

async function exercise(m: SparseMatrix, r: Rng): Promise<void> {
  const [rows, cols] = m.shape;
  if (rows * cols > MAX_WORK) return;
  const dense = m.toDense();
  for (const n of [1, 3]) {
    const b = Tensor.randn(n === 1 ? [cols] : [cols, n], { seed: r.int(1000) });
    const y = spmm.sync(m, b);
    if (r.next() < 0.2) {
      const y2 = await spmm(m, b);
      if (!same(y, y2)) throw new Untyped('async spmm differs from sync');
    }
    // Quantized weights also through the int8-activation kernels (the code sums paths among them).
    if (m.quant) spmm.sync(m, b, { activations: 'int8' });
  }
  if (r.next() < 0.2) {
    const again = SparseMatrix.fromParts(m.format, { shape: m.shape, dtype: m.dtype, n: m.n, m: m.m, quant: m.quant, slorb: m.slorb, parts: m.parts() });
    if (!same(again.toDense(), dense)) throw new Untyped('fromParts(parts()) round trip changed the matrix');
    again.dispose();
  }
}

/** Item 2: after get(), scribble over the mapped part tensors; the matrix must not change. */
async function scribble(f: ReturnType<typeof loadSafetensors.sync>, name: string, m: SparseMatrix, r: Rng): Promise<void> {
  const [rows, cols] = m.shape;
  if (rows * cols > MAX_WORK) return;
  const before = m.toDense();
  const b = Tensor.randn([cols, 2], { seed: 5 });
  const y0 = spmm.sync(m, b);
  const info = f.info(name);
  if (info.kind !== 'sparse') return;
  for (const t of info.partTensors) {
    const a = f.getTensor(t).toTypedArray() as Int32Array;
    const v = new Int32Array(a.buffer, a.byteOffset, a.byteLength >> 2);
    for (let k = 0; k < v.length; k++) if (r.next() < 0.5) v[k] = r.pick([1 << 30, -1, 0x7fffffff, 8192 << 16, r.int(2 ** 31)]);
  }
  const pending = spmm(m, b);
  if (r.next() < 0.5) f.dispose();
  if (!same(m.toDense(), before) || !same(spmm.sync(m, b), y0) || !same(await pending, y0)) throw new Untyped('matrix changed after its file bytes did');
}

async function runCase(i: number): Promise<string> {
  const r = new Rng(caseSeed(base, STRATEGIES.indexOf(strategy), i));
  const seed = r.pick(corpus);
  writeFileSync(path, mutate(strategy, r, seed.bytes));
  let f;
  try {
    f = loadSafetensors.sync(path);
  } catch (e) {
    typed(e);
    return 'rejected';
  }
  let accepted = 0, refused = 0;
  try {
    for (const name of f.names) {
      let v: Tensor | SparseMatrix;
      try {
        v = f.get(name);
      } catch (e) {
        typed(e);
        refused++;
        continue;
      }
      if (v instanceof SparseMatrix) {
        accepted++;
        try {
          if (strategy === 'post-validation') await scribble(f, name, v, r);
          else await exercise(v, r);
        } catch (e) {
          if (e instanceof Untyped) throw e;
          typed(e);
        } finally {
          v.dispose();
        }
        if (f.disposed) break;
      } else if (v.size <= MAX_WORK) {
        v.toFloat32Array();
      }
    }
  } finally {
    f.dispose();
  }
  return accepted ? 'accepted' : refused ? 'refused' : 'tensors-only';
}

for (let i = start; i < start + count; i++) {
  say(`C ${i}`);
  let outcome: string;
  try {
    outcome = await runCase(i);
  } catch (e) {
    outcome = `untyped ${(e as Error).message.replace(/\s+/g, ' ').slice(0, 300)}`;
  }
  say(`R ${i} ${outcome}`);
}
