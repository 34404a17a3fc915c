#!/usr/bin/env node
// npm run test:gpu / bench:gpu: runs the GPU suite or benchmark where a usable GPU is present and
// otherwise says loudly why it is skipped (exit 0), so CI without a GPU stays green but not silent.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv[2];
if (mode !== 'test' && mode !== 'bench') {
  console.error('usage: gpu-run.mjs test|bench');
  process.exit(2);
}
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const probe = spawnSync(npx, ['tsx', '-e',
  "import { devices } from './lib/index.ts'; const d = devices(); console.log(JSON.stringify({ n: d.length, reason: d.reason, names: d.map((x) => x.name) }));"],
  { cwd: root, encoding: 'utf8' });
let info;
try {
  info = JSON.parse(probe.stdout.trim().split('\n').pop());
} catch {
  console.error(`gpu-run: could not query devices:\n${probe.stdout}${probe.stderr}`);
  process.exit(1);
}
if (info.n === 0) {
  const bar = '*'.repeat(78);
  console.log(`\n${bar}\n*** ${mode === 'test' ? 'test:gpu' : 'bench:gpu'} SKIPPED: no usable GPU on this machine.\n*** Reason: ${info.reason}\n${bar}\n`);
  process.exit(0);
}
console.log(`gpu-run: ${info.n} device(s): ${info.names.join(', ')}`);
const cmd = mode === 'test'
  ? [npx, ['vitest', 'run', 'test/gpu', 'test/cuda-runtime.test.ts', 'test/cuda-model.test.ts']]
  : [npx, ['tsx', 'bench/gpu.ts']];
const r = spawnSync(cmd[0], cmd[1], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
