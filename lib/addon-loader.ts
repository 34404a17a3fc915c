/**
 * Finds and loads the compiled addon, once, on first use (so `sparsekit --help`, argument errors
 * and `import 'sparsekit'` work without it). Tried in order: `SPARSEKIT_ADDON` (an explicit path),
 * the local build (build/Release, build/Debug: a source build is something the user asked for), then
 * the prebuild shipped for this platform (prebuilds/<platform>-<arch>/, libc-tagged on Linux).
 * When none loads, a SparsekitError `ERR_NATIVE` lists every path tried, why each failed and how
 * to fix it.
 */
import { createRequire } from 'node:module';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { NativeError } from './errors.js';

const require = createRequire(import.meta.url);

/** The C library this process runs on ('glibc' | 'musl'), or null off Linux. */
export function libc(): 'glibc' | 'musl' | null {
  if (process.platform !== 'linux') return null;
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

/**
 * The prebuilds for this platform, best first: prebuildify names them `<name>.<tags>.node` with
 * tags such as `napi`, `glibc`, `musl`; a file tagged with another libc is skipped.
 */
export function prebuildCandidates(root: string): string[] {
  const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.node'));
  } catch {
    return [];
  }
  const mine = libc();
  const tagged = files.map((f) => ({ f, tags: f.split('.').slice(1, -1) }));
  const fits = tagged.filter(({ tags }) => !tags.some((t) => (t === 'glibc' || t === 'musl') && t !== mine));
  // A file naming our libc beats an untagged one.
  fits.sort((a, b) => Number(mine !== null && b.tags.includes(mine)) - Number(mine !== null && a.tags.includes(mine)));
  return fits.map(({ f }) => join(dir, f));
}

export interface LoadAttempt { path: string; error: string }

/** Loads `<file>.node` for the package at `root`; throws ERR_NATIVE naming every attempt. */
export function loadAddon<T>(root: string, file = 'sparsekit'): T {
  const candidates: string[] = [];
  if (file === 'sparsekit' && process.env.SPARSEKIT_ADDON) candidates.push(process.env.SPARSEKIT_ADDON);
  candidates.push(join(root, 'build', 'Release', `${file}.node`), join(root, 'build', 'Debug', `${file}.node`));
  if (file === 'sparsekit') candidates.push(...prebuildCandidates(root));
  const tried: LoadAttempt[] = [];
  for (const path of candidates) {
    if (!existsSync(path)) {
      tried.push({ path, error: 'not found' });
      continue;
    }
    try {
      return require(path) as T;
    } catch (e) {
      tried.push({ path, error: (e as Error).message.split('\n')[0]! });
    }
  }
  throw nativeError(root, file, tried);
}

function nativeError(root: string, file: string, tried: LoadAttempt[]): NativeError {
  const where = `${process.platform}-${process.arch}${libc() ? ` (${libc()})` : ''}, Node ${process.version}, N-API ${process.versions.napi}`;
  const lines = [
    `sparsekit: could not load its native addon ${file}.node for ${where}.`,
    'Tried:',
    ...tried.map((t) => `  ${t.path}: ${t.error}`),
    'To fix it:',
    `  - build it from source: \`npm rebuild sparsekit\` (or \`npx node-gyp rebuild -j max\` in ${root});`,
    '    this needs Python 3, make and a C++17 compiler (g++ >= 9 or clang >= 10), and downloads the',
    '    Node headers unless npm_config_nodedir points at them;',
    '  - if the package was installed with --ignore-scripts (or pnpm blocked its install script),',
    '    allow it (pnpm: `pnpm approve-builds`) or run the rebuild above;',
    '  - or point SPARSEKIT_ADDON at a sparsekit.node built for this platform.',
  ];
  return new NativeError(lines.join('\n'));
}
