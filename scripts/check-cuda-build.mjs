#!/usr/bin/env node
// Builds libsparsekit_cuda for sm_80/86/89/90 with `-Xptxas -v` and fails on a compile error, a
// missing architecture, a ptxas warning, or any register spill (stack frame, spill stores/loads).
// Without nvcc it says so and exits 0: the CPU build does not need CUDA.
// Usage: node scripts/check-cuda-build.mjs [--jobs N] [--build-dir DIR]
// --build-dir build/native (CI) reuses test:native's Release objects of the CPU core, which the
// CUDA library links; SPARSEKIT_CUDA=ON overrides that directory's cached OFF.
import { spawnSync, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
const jobs = opt('--jobs', process.env.JOBS ?? '2');
const buildDir = join(root, opt('--build-dir', 'build-cuda-check'));
const ARCHS = ['sm_80', 'sm_86', 'sm_89', 'sm_90'];
const t0 = Date.now();

function findNvcc() {
  const cands = [process.env.CUDACXX, process.env.CUDA_PATH && join(process.env.CUDA_PATH, 'bin/nvcc'), '/usr/local/cuda/bin/nvcc'];
  for (const dir of (process.env.PATH ?? '').split(':')) cands.push(join(dir, 'nvcc'));
  return cands.find((p) => p && existsSync(p));
}

const nvcc = findNvcc();
if (!nvcc) {
  console.log('check-cuda-build: SKIPPED: no nvcc found (CUDACXX, CUDA_PATH, /usr/local/cuda, PATH); the CPU build needs none.');
  process.exit(0);
}

function run(cmd, cmdArgs) {
  const r = spawnSync(cmd, cmdArgs, { cwd: root, encoding: 'utf8', maxBuffer: 256 << 20 });
  return { code: r.status ?? 1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

const cfg = run('cmake', ['-S', '.', '-B', buildDir, '-DCMAKE_BUILD_TYPE=Release', '-DSPARSEKIT_CUDA=ON', '-DSPARSEKIT_PTXAS_VERBOSE=ON',
  `-DCMAKE_CUDA_COMPILER=${nvcc}`]);
if (cfg.code !== 0 || !/building libsparsekit_cuda/.test(cfg.out)) {
  console.log(cfg.out);
  console.error('check-cuda-build: FAILED: cmake did not configure the CUDA library');
  process.exit(1);
}
// Recompile every CUDA object so ptxas reports on all kernels, not only the changed ones.
const objDir = join(buildDir, 'CMakeFiles', 'sparsekit_cuda.dir');
const walk = (d) => existsSync(d) ? readdirSync(d).flatMap((f) => { const p = join(d, f); return statSync(p).isDirectory() ? walk(p) : [p]; }) : [];
for (const f of walk(objDir)) if (f.endsWith('.cu.o')) rmSync(f);
const build = run('cmake', ['--build', buildDir, '--target', 'sparsekit_cuda', '-j', jobs]);

// ptxas -v: "Compiling entry function 'NAME' for 'sm_XX'", then "Used R registers, ..." and
// "B bytes stack frame, S bytes spill stores, L bytes spill loads" for that function.
const kernels = [];
const warnings = [];
let cur = null;
for (const line of build.out.split('\n')) {
  let m;
  if ((m = /Compiling entry function '([^']+)' for '(sm_\d+)'/.exec(line))) {
    cur = { name: m[1], arch: m[2], regs: NaN, stack: NaN, spillStores: NaN, spillLoads: NaN, smem: 0 };
    kernels.push(cur);
  } else if (cur && (m = /(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/.exec(line))) {
    cur.stack = +m[1]; cur.spillStores = +m[2]; cur.spillLoads = +m[3];
  } else if (cur && (m = /Used (\d+) registers/.exec(line))) {
    cur.regs = +m[1];
    const s = /(\d+) bytes smem/.exec(line);
    if (s) cur.smem = +s[1];
  } else if (/ptxas (warning|error)|error:|warning:/i.test(line)) {
    warnings.push(line.trim());
  }
}

let demangled = kernels.map((k) => k.name);
try {
  demangled = execFileSync('c++filt', { input: kernels.map((k) => k.name).join('\n'), encoding: 'utf8' }).trim().split('\n');
} catch { /* c++filt missing: mangled names are fine */ }
const short = (s) => s.replace(/sk::cuda::\(anonymous namespace\)::/g, '').replace(/\(.*$/, '');

const problems = [];
if (build.code !== 0) problems.push(`the build failed (exit ${build.code})`);
for (const w of warnings) problems.push(`compiler: ${w}`);
kernels.forEach((k, i) => {
  if (!(k.spillStores === 0 && k.spillLoads === 0 && k.stack === 0))
    problems.push(`${short(demangled[i])} on ${k.arch}: ${k.stack} B stack, ${k.spillStores} B spill stores, ${k.spillLoads} B spill loads`);
});
// Static cudart and no link-time dependency on NVIDIA libraries: only the driver is needed at run
// time (cuBLASLt / cuSPARSELt are dlopen'ed), and only the ABI entry point is exported.
const lib = join(buildDir, 'libsparsekit_cuda.so');
if (build.code === 0 && existsSync(lib)) {
  const dyn = run('readelf', ['-d', '--wide', lib]);
  if (dyn.code === 0) {
    const needed = [...dyn.out.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
    for (const n of needed) if (/cuda|cublas|cusparse|nvidia/i.test(n)) problems.push(`libsparsekit_cuda.so links ${n} (must be static or dlopen'ed)`);
  }
  const syms = run('nm', ['-D', '--defined-only', lib]);
  if (syms.code === 0) {
    const exported = syms.out.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f.length === 3 && /[TDB]/.test(f[1])).map((f) => f[2]);
    const extra = exported.filter((s) => s !== 'sparsekit_cuda_api' && !s.startsWith('_'));
    if (!exported.includes('sparsekit_cuda_api')) problems.push('libsparsekit_cuda.so does not export sparsekit_cuda_api');
    if (extra.length) problems.push(`libsparsekit_cuda.so exports more than its ABI: ${extra.slice(0, 5).join(', ')}`);
  }
}
const names = new Set(kernels.map((k) => k.name));
for (const arch of ARCHS) for (const n of names)
  if (!kernels.some((k) => k.name === n && k.arch === arch)) problems.push(`${n} was not compiled for ${arch}`);
if (kernels.length === 0) problems.push('no ptxas resource report found (was -Xptxas -v applied?)');

const rows = kernels.map((k, i) => `  ${k.arch}  ${String(k.regs).padStart(3)} regs  ${String(k.smem).padStart(6)} B smem  spill ${k.spillStores}/${k.spillLoads}  ${short(demangled[i])}`);
console.log(rows.join('\n'));
const secs = ((Date.now() - t0) / 1000).toFixed(0);
if (problems.length) {
  if (build.code !== 0) console.log(build.out.split('\n').filter((l) => /error/i.test(l)).slice(0, 40).join('\n'));
  console.error(`check-cuda-build: FAILED (${secs} s):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`check-cuda-build: OK: ${names.size} kernels x ${ARCHS.length} archs (${ARCHS.join(', ')}), no spills, nvcc ${nvcc} (${secs} s)`);
