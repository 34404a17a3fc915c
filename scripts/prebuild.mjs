#!/usr/bin/env node
// npm run prebuild: builds this machine's prebuilt addon into prebuilds/<platform>-<arch>/ (N-API,
// stripped, tagged with the C library on Linux), from exactly the native sources the npm tarball
// ships, in a scratch copy so the development build in build/ stays as it is. docs/releasing.md
// says how the prebuilds of other platforms are collected before `npm publish`. The headers come
// from npm_config_nodedir when set (npm run sets it from .npmrc / npm config), else node-gyp's cache.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const scratch = mkdtempSync(join(tmpdir(), 'sparsekit-prebuild-'));
try {
  for (const f of ['package.json', 'binding.gyp']) cpSync(join(root, f), join(scratch, f));
  // The tarball's native sources (package.json "files"): no tests, no CUDA replay or kernels.
  cpSync(join(root, 'native'), join(scratch, 'native'), {
    recursive: true,
    filter: (src) => !/native\/(test|cuda\/(kernels|replay))(\/|$)/.test(src) && !/\.cmake$/.test(src),
  });
  symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'), 'dir');
  const prebuildify = join(root, 'node_modules/prebuildify/bin.js');
  const r = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', '--tag-libc', '--target', `node@${process.versions.node}`], {
    cwd: scratch, stdio: 'inherit', env: { ...process.env, SPARSEKIT_TEST_ADDON: '0', JOBS: process.env.JOBS ?? 'max' },
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
  mkdirSync(join(root, 'prebuilds'), { recursive: true });
  cpSync(join(scratch, 'prebuilds'), join(root, 'prebuilds'), { recursive: true });
  for (const d of readdirSync(join(scratch, 'prebuilds'))) console.log(`prebuilds/${d}: ${readdirSync(join(scratch, 'prebuilds', d)).join(', ')}`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
