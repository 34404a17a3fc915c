#!/usr/bin/env node
// npm run test:package: packs the tarball as `npm publish` would, checks what it holds, installs
// it into a fresh ESM project and a fresh CommonJS one (dependencies from the registry) and runs
// README's API tour in each, plus `sparsekit --help`. Prints the tarball's size and file count and
// each install's time. Without prebuilds/ for this platform (a git clone: prebuilds/ is
// gitignored and made by `npm run prebuild` at release), the local build/Release/sparsekit.node is
// staged as this platform's prebuild for the pack and removed afterwards.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const fail = (msg) => {
  console.error(`test:package: ${msg}`);
  process.exit(1);
};
const libc = process.platform !== 'linux' ? null : process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl';
const platDir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const staged = existsSync(platDir) ? null : join(platDir, `sparsekit${libc ? `.${libc}` : ''}.node`);
const work = mkdtempSync(join(tmpdir(), 'sparsekit-package-'));
let failed = false;
try {
  if (staged) {
    const local = join(root, 'build/Release/sparsekit.node');
    if (!existsSync(local)) fail('no prebuilds/ and no build/Release/sparsekit.node to stage: build first');
    mkdirSync(platDir, { recursive: true });
    copyFileSync(local, staged);
  }
  let packed;
  try {
    packed = JSON.parse(execFileSync(npm, ['pack', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' }))[0];
  } finally {
    if (staged) rmSync(join(root, 'prebuilds'), { recursive: true, force: true });
  }
  const files = packed.files.map((f) => f.path);
  console.log(`tarball: ${packed.filename}, ${(packed.size / 1024).toFixed(0)} KiB packed, ${(packed.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${files.length} files`);
  const must = ['LICENSE', 'README.md', 'package.json', 'binding.gyp', 'dist/lib/index.js', 'dist/lib/index.d.ts', 'scripts/install.mjs'];
  for (const f of must) if (!files.includes(f)) fail(`the tarball lacks ${f}`);
  if (!files.some((f) => f.startsWith(`prebuilds/${process.platform}-${process.arch}/`))) fail('the tarball has no prebuild for this platform');
  const unwanted = files.filter((f) => /^native\/test\/|^native\/cuda\/(kernels|replay)\/|\.tsbuildinfo$|^dist\/(test|bench|examples)\//.test(f));
  if (unwanted.length) fail(`the tarball ships files no user needs: ${unwanted.join(', ')}`);
  const tgz = join(work, packed.filename);

  // The README's tour, as an ES module and as CommonJS.
  const tour = /```ts\n([\s\S]*?)```/.exec(readFileSync(join(root, 'README.md'), 'utf8'))[1];
  const importLine = /^import \{([^}]*)\} from 'sparsekit';\n/m;
  if (!importLine.test(tour)) fail("README's tour does not start with import { ... } from 'sparsekit'");
  const cjs = `const {${importLine.exec(tour)[1]}} = require('sparsekit');\n(async () => {\n${tour.replace(importLine, '')}\nconsole.log('ok');\n})().catch((e) => { console.error(e); process.exit(1); });\n`;
  const projects = [
    { type: 'module', file: 'tour.mjs', code: `${tour}\nconsole.log('ok');\n` },
    { type: 'commonjs', file: 'tour.cjs', code: cjs },
  ];
  for (const p of projects) {
    const dir = join(work, p.type);
    mkdirSync(dir);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${p.type}`, private: true, type: p.type }));
    const t0 = performance.now();
    execFileSync(npm, ['install', '--no-audit', '--no-fund', '--loglevel=error', tgz], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    console.log(`${p.type}: npm install of the tarball took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    if (existsSync(join(dir, 'node_modules/sparsekit/build'))) fail(`${p.type}: the install compiled from source instead of using the prebuild`);
    writeFileSync(join(dir, p.file), p.code);
    const t1 = performance.now();
    const out = execFileSync(process.execPath, [p.file], { cwd: dir, encoding: 'utf8' });
    if (!out.trim().endsWith('ok')) fail(`${p.type}: the tour printed ${JSON.stringify(out)}`);
    console.log(`${p.type}: README tour ran in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
  }
  const help = execFileSync(process.execPath, [join(work, 'module/node_modules/.bin/sparsekit'), '--help'], { encoding: 'utf8' });
  if (!/Usage: sparsekit/.test(help)) fail(`sparsekit --help printed ${JSON.stringify(help.slice(0, 200))}`);
  console.log('test:package: ok');
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
