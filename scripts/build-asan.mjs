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
// RelWithDebInfo supplies -O2 -g (the kernels' intrinsics need -O2's constant propagation for
// their immediates: -O1 does not compile them). Use-after-scope instrumentation is off: it doubled
// the AVX-512 kernels' compile time (82 against 42 s for spmm_avx512_bf16.cpp) and guards locals
// that outlive their block, not the heap and stack overflows the fuzzer looks for.
const flags = '-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-sanitize-address-use-after-scope -fno-omit-frame-pointer';
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
run('cmake', ['-S', '.', '-B', 'build-asan', '-DCMAKE_BUILD_TYPE=RelWithDebInfo', '-DSPARSEKIT_CUDA=OFF',
  `-DCMAKE_JS_INC=${nodeInclude}`, `-DCMAKE_CXX_FLAGS=${flags}`, `-DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address,undefined`]);
run('cmake', ['--build', 'build-asan', '--target', 'sparsekit', '-j', '2']);
console.log(`build:asan: ${join(root, 'build-asan', 'sparsekit.node')}`);
