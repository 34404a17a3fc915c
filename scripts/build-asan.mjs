#!/usr/bin/env node
// npm run build:asan: the addon built with AddressSanitizer + UndefinedBehaviorSanitizer into
// build-asan/sparsekit.node (CPU only; the normal build in build/ is untouched). The fuzzer
// loads it with `npm run fuzz -- --asan` (node itself is not instrumented, so libasan is
// LD_PRELOADed into it; scripts/fuzz/run.ts does that).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nodeInclude = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node']
  .find((d) => existsSync(join(d, 'node_api.h')));
if (!nodeInclude) {
  console.error('build:asan: no Node headers (node_api.h) next to this node or in /usr/include/node');
  process.exit(1);
}
const flags = '-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1';
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
run('cmake', ['-S', '.', '-B', 'build-asan', '-DCMAKE_BUILD_TYPE=RelWithDebInfo', '-DSPARSEKIT_CUDA=OFF',
  `-DCMAKE_JS_INC=${nodeInclude}`, `-DCMAKE_CXX_FLAGS=${flags}`, `-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined`]);
run('cmake', ['--build', 'build-asan', '--target', 'sparsekit', '-j', '2']);
console.log(`build:asan: ${join(root, 'build-asan', 'sparsekit.node')}`);
