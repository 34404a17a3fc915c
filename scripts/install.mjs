#!/usr/bin/env node
// npm's install step for sparsekit: use the prebuilt addon when one loads on this machine, else
// build from source with node-gyp using every core (`npm_config_build_from_source=true`, or
// `npm install --build-from-source`, always builds). In a git checkout (no dist/ yet) it always
// builds: developers test what they compile.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fromSource = process.env.npm_config_build_from_source === 'true';
const loader = join(root, 'dist/lib/addon-loader.js');

if (!fromSource && existsSync(loader)) {
  try {
    const { loadAddon } = await import(pathToFileURL(loader).href);
    loadAddon(root);
    process.exit(0);
  } catch (e) {
    console.error(`sparsekit: no prebuilt addon loads here (${String(e.message).split('\n')[0]}); building from source`);
  }
}

// npm runs install scripts with its own node-gyp (npm_config_node_gyp); a checkout has the devDependency.
let gyp = process.env.npm_config_node_gyp;
if (!gyp) {
  try {
    gyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    gyp = undefined;
  }
}
const jobs = process.env.JOBS ?? 'max';
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild', '--jobs', jobs]] : ['node-gyp', ['rebuild', '--jobs', jobs]];
const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', shell: !gyp && process.platform === 'win32' });
process.exit(r.status ?? 1);
