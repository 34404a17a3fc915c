#!/usr/bin/env node
// npm run gpu:first-run: everything the first GPU host should run, as one bounded command that
// leaves one report (JSON + Markdown) to paste into the issue tracker. Steps, each with a timeout:
//   1. the driver and GPU as nvidia-smi sees them;
//   2. build libsparsekit_cuda (CMake + nvcc, all cores);
//   3. devices() and gpuStatus() through the library just built;
//   4. the hardware probes (scripts/gpu-probes.ts): which 2:4 metadata pairing and which
//      cuSPARSELt operand orders give right products;
//   5. test:gpu (vitest, JSON reporter: every test with its status and time);
//   6. a short bench:gpu (two shapes, N = 1 / 16 / 256, mma.sp k16 against k32).
// About 5 minutes on an H100. Without a GPU it says why, writes a report saying so and exits 0
// (test/gpu-first-run.test.ts runs that path). Usage: node scripts/gpu-first-run.mjs [--out DIR]
// [--skip-build]; the report goes to DIR (default bench/results/gpu-first-run-<time>/).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const outDir = resolve(opt('--out') ?? join(root, 'bench', 'results', `gpu-first-run-${stamp}`));
mkdirSync(outDir, { recursive: true });
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const report = { started: new Date().toISOString(), host: { node: process.version, cpus: cpus().length }, steps: [] };

// One bounded step: its command, exit status, seconds and the tail of its output.
function step(name, cmd, cmdArgs, { timeoutS, env } = {}) {
  const t0 = Date.now();
  console.log(`\n=== ${name}: ${cmd} ${cmdArgs.join(' ')} (timeout ${timeoutS} s)`);
  const r = spawnSync(cmd, cmdArgs, { cwd: root, encoding: 'utf8', timeout: timeoutS * 1000, maxBuffer: 512 << 20,
    env: { ...process.env, ...env }, killSignal: 'SIGKILL' });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const timedOut = r.error?.code === 'ETIMEDOUT' || (r.signal === 'SIGKILL' && Date.now() - t0 >= timeoutS * 1000 - 50);
  const s = { name, command: `${cmd} ${cmdArgs.join(' ')}`, status: timedOut ? 'timeout' : r.status === 0 ? 'ok' : 'failed',
    exitCode: r.status, seconds: +((Date.now() - t0) / 1000).toFixed(1), stdout: r.stdout ?? '', tail: out.split('\n').slice(-60).join('\n') };
  if (r.error && !timedOut) s.error = r.error.message;
  report.steps.push(s);
  process.stdout.write(out.split('\n').slice(-40).join('\n'));
  console.log(`\n=== ${name}: ${s.status} in ${s.seconds} s`);
  return s;
}

function lastJson(text) {
  for (const line of text.trim().split('\n').reverse()) {
    try { return JSON.parse(line); } catch { /* not the JSON line */ }
  }
  return null;
}

// Is there an NVIDIA GPU at all? The driver's device nodes or nvidia-smi; without either nothing
// below can run, so nothing is built.
function gpuPresence() {
  const smi = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,compute_cap,memory.total', '--format=csv,noheader'],
    { encoding: 'utf8', timeout: 20000 });
  if (smi.status === 0 && smi.stdout.trim()) return { present: true, nvidiaSmi: smi.stdout.trim() };
  if (existsSync('/dev/nvidiactl') || existsSync('/dev/nvidia0')) return { present: true, nvidiaSmi: null };
  const why = smi.error ? `nvidia-smi not found (${smi.error.code})` : `nvidia-smi failed (exit ${smi.status}): ${(smi.stderr || smi.stdout).trim()}`;
  return { present: false, reason: `no NVIDIA GPU on this machine: ${why}, and no /dev/nvidia* device nodes` };
}

function writeReport() {
  report.finished = new Date().toISOString();
  const json = join(outDir, 'report.json'), md = join(outDir, 'report.md');
  writeFileSync(json, JSON.stringify(report, (k, v) => (k === 'stdout' ? undefined : v), 1));
  writeFileSync(md, markdown());
  console.log(`\ngpu:first-run report: ${md}\n                      ${json}`);
}

function markdown() {
  const L = [`# sparsekit gpu:first-run`, '', `- started ${report.started}, finished ${report.finished}`,
    `- status: **${report.status}**${report.reason ? `: ${report.reason}` : ''}`, `- node ${report.host.node}, ${report.host.cpus} CPUs`];
  if (report.nvidiaSmi) L.push(`- nvidia-smi: \`${report.nvidiaSmi.replace(/\n/g, ' | ')}\``);
  if (report.devices) {
    L.push('', '## Devices', '', '```json', JSON.stringify(report.devices, null, 1), '```');
  }
  L.push('', '## Steps', '', '| step | status | seconds |', '|---|---|---|');
  for (const s of report.steps) L.push(`| ${s.name} | ${s.status} | ${s.seconds} |`);
  if (report.probes) {
    L.push('', '## Hardware probes (2:4 metadata pairing, cuSPARSELt operand orders)', '', '| probe | result | worst error / tolerance | kernel |', '|---|---|---|---|');
    for (const p of report.probes)
      L.push(`| ${p.name} | ${p.ok ? 'right' : p.error ? `error: ${p.error}` : `WRONG (${p.wrongOutputs} outputs)`} | ${p.worstErrorOverTolerance?.toFixed(3) ?? ''} | ${p.kernel ?? ''} |`);
    if (report.cusparseLtAbsent) L.push('', `cuSPARSELt absent: ${report.cusparseLtAbsent}`);
  }
  if (report.tests) {
    L.push('', `## test:gpu: ${report.tests.passed} passed, ${report.tests.failed} failed, ${report.tests.skipped} skipped`, '',
      '| test | status | ms |', '|---|---|---|');
    for (const t of report.tests.list) L.push(`| ${t.name} | ${t.status} | ${t.ms ?? ''} |`);
    for (const t of report.tests.list.filter((x) => x.failure)) L.push('', `### FAILED: ${t.name}`, '', '```', t.failure, '```');
  }
  if (report.bench) {
    L.push('', '## bench:gpu --short', '', '| shape | N | variant | ms | % bw floor | vs dense | kernel |', '|---|---|---|---|---|---|---|');
    for (const r of report.bench)
      L.push(`| ${r.M}x${r.K} | ${r.N} | ${r.variant} | ${r.ms?.toFixed(4)} | ${(100 * r.floorFraction).toFixed(0)} | ${r.vsDense ? r.vsDense.toFixed(2) : ''} | ${r.kernel} |`);
  }
  for (const s of report.steps.filter((x) => x.status !== 'ok')) L.push('', `### ${s.name}: ${s.status}`, '', '```', s.tail, '```');
  return `${L.join('\n')}\n`;
}

const presence = gpuPresence();
report.nvidiaSmi = presence.nvidiaSmi ?? null;
if (!presence.present) {
  report.status = 'skipped';
  report.reason = presence.reason;
  const bar = '*'.repeat(78);
  console.log(`\n${bar}\n*** gpu:first-run SKIPPED: ${presence.reason}.\n*** Run it on a host with an NVIDIA GPU (sm_80 or newer) and its driver.\n${bar}`);
  writeReport();
  process.exit(0);
}

// 2. Build, with every core (npm run build:cuda uses two, for shared machines).
if (!args.includes('--skip-build')) {
  const cfg = step('configure', 'cmake', ['-S', '.', '-B', 'build-cuda', '-DCMAKE_BUILD_TYPE=Release'], { timeoutS: 120 });
  if (cfg.status === 'ok') step('build libsparsekit_cuda', 'cmake', ['--build', 'build-cuda', '--target', 'sparsekit_cuda', '-j', String(cpus().length)], { timeoutS: 900 });
}
// 3. + 4. devices() and the probes.
const probes = step('devices() and hardware probes', npx, ['tsx', 'scripts/gpu-probes.ts'], { timeoutS: 240 });
const probed = lastJson(probes.stdout ?? '');
if (probed) {
  report.devices = { devices: probed.devices, reason: probed.reason, gpuStatus: probed.status };
  report.probes = probed.probes ?? null;
  report.cusparseLtAbsent = probed.cusparseLtAbsent ?? null;
  console.log(`devices(): ${JSON.stringify(probed.devices)}${probed.reason ? ` reason: ${probed.reason}` : ''}`);
}
if (!probed || probed.devices.length === 0) {
  report.status = 'no usable device';
  report.reason = probed?.reason ?? 'the device probe failed (see its step)';
  writeReport();
  process.exit(1);
}
// 5. test:gpu with a JSON reporter.
const vitestJson = join(outDir, 'vitest.json');
step('test:gpu', npx, ['vitest', 'run', 'test/gpu', 'test/cuda-runtime.test.ts', 'test/cuda-model.test.ts', 'test/tensor-core-bound.test.ts',
  '--reporter=default', '--reporter=json', `--outputFile.json=${vitestJson}`], { timeoutS: 420 });
if (existsSync(vitestJson)) {
  const v = JSON.parse(readFileSync(vitestJson, 'utf8'));
  const list = v.testResults.flatMap((f) => f.assertionResults.map((a) => ({ name: a.fullName, status: a.status, ms: a.duration ? Math.round(a.duration) : null,
    failure: a.failureMessages?.length ? a.failureMessages.join('\n').slice(0, 4000) : undefined })));
  report.tests = { passed: v.numPassedTests, failed: v.numFailedTests, skipped: v.numPendingTests + (v.numTodoTests ?? 0), list };
}
// 6. The short benchmark.
const benchJson = join(outDir, 'bench.json');
step('bench:gpu --short', npx, ['tsx', 'bench/gpu.ts', '--short', '--out', benchJson], { timeoutS: 300 });
if (existsSync(benchJson)) report.bench = JSON.parse(readFileSync(benchJson, 'utf8'));
const failed = report.steps.filter((s) => s.status !== 'ok');
report.status = failed.length ? `${failed.length} step(s) not ok: ${failed.map((s) => s.name).join(', ')}` : 'all steps ok';
writeReport();
process.exit(failed.length ? 1 : 0);
