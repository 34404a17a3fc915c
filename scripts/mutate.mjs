#!/usr/bin/env node
// npm run mutate: applies each mutation of scripts/mutations.mjs in turn (one small bug at a time),
// rebuilds only what it touches, runs the tests that cover it with a time bound, and restores the
// file, always (also on Ctrl-C or an error). A mutation the tests catch is "killed"; one they miss
// "survived" (a missing test). Prints a table and the score; --json <file> writes a report.
//
//   npm run mutate                        every mutation (several minutes on 2 cores)
//   npm run mutate -- --only a,b          by id        --area formats,io   by area
//   (a mutation's tests may name native ctest tests, `ctest:model_test`: built in build/native)
//   npm run mutate -- --json report.json  --list (print the list, run nothing)
//
// Not part of CI; test/mutations.test.ts checks in CI that every pattern still occurs exactly once.
import { spawn } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mutations from './mutations.mjs';

/**
 * @typedef {object} Mutation
 * @property {string} id        unique, kebab-case
 * @property {string} area      formats | io | core | cpu | solvers | cuda | lib
 * @property {string} file      path from the repository root
 * @property {string} from      exact text, occurring exactly once in `file`
 * @property {string} to        its replacement
 * @property {string[]} tests   vitest files that cover it, and/or `ctest:<name>` native tests (CMakeLists.txt add_test)
 * @property {string} [grep]    only the tests whose name matches (vitest -t)
 * @property {string} why       what the bug would do
 * @property {string} [equivalent] why no test can tell it apart (excluded from the score)
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const AREAS = ['formats', 'io', 'core', 'cpu', 'solvers', 'cuda', 'lib', 'model', 'quant', 'adapters', 'sizes', 'fuzz', 'structured'];

/** How a mutated file is rebuilt: native sources go into the addon (node-gyp, incremental); lib/ and scripts/ TypeScript run from source. */
export function buildKind(file) {
  if (file.startsWith('native/')) return 'addon';
  if (file.startsWith('lib/') || file.startsWith('scripts/')) return 'none';
  throw new Error(`no build rule for ${file}`);
}

/** `ctest:<name>` entries of a mutation's tests: native tests run by ctest from build/native (npm run test:native's tree). */
export const CTEST_PREFIX = 'ctest:';
export function splitTests(tests) {
  return {
    vitest: tests.filter((t) => !t.startsWith(CTEST_PREFIX)),
    ctest: tests.filter((t) => t.startsWith(CTEST_PREFIX)).map((t) => t.slice(CTEST_PREFIX.length)),
  };
}

/** Occurrences of `text` in `s` (non-overlapping). */
export function occurrences(s, text) {
  if (!text) return 0;
  let n = 0;
  for (let i = s.indexOf(text); i !== -1; i = s.indexOf(text, i + text.length)) n++;
  return n;
}

function parseArgs(argv) {
  const o = { only: null, area: null, json: null, list: false, factor: 4, minTimeout: 90 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--only') o.only = val().split(',');
    else if (a === '--area') o.area = val().split(',');
    else if (a === '--json') o.json = val();
    else if (a === '--list') o.list = true;
    else if (a === '--timeout-factor') o.factor = Number(val());
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run mutate -- [--only id,id] [--area a,b] [--json file] [--list] [--timeout-factor 4]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

/** Runs a command in its own process group; kills the whole group at the time limit. */
function run(cmd, args, timeoutS) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' } });
    current = child;
    let out = '';
    const keep = (d) => { out = (out + String(d).replace(/\x1b\[[0-9;]*m/g, '')).slice(-20000); };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    }, timeoutS * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      current = null;
      resolve({ code, timedOut, out, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

let current = null;
/** file -> original text, for every file currently mutated on disk. */
const mutated = new Map();

function restoreAll() {
  for (const [file, text] of mutated) {
    writeFileSync(join(root, file), text);
    mutated.delete(file);
  }
}

function onSignal(sig) {
  if (current) try { process.kill(-current.pid, 'SIGKILL'); } catch { /* gone */ }
  restoreAll();
  console.error(`\nmutate: ${sig}: every file restored; rebuild the addon with npx node-gyp build -j 2`);
  process.exit(130);
}

const nodeGyp = join(root, 'node_modules/node-gyp/bin/node-gyp.js');
const vitest = join(root, 'node_modules/vitest/vitest.mjs');

async function build(kind, timeoutS = 900) {
  if (kind === 'none') return { code: 0, seconds: 0, out: '' };
  return run(process.execPath, [nodeGyp, 'build', '-j', '2'], timeoutS);
}

// The native test tree of npm run test:native; configured once, built incrementally per target.
const cmakeDir = 'build/native';
async function buildCtest(names, timeoutS = 900) {
  const c = await run('cmake', ['-S', '.', '-B', cmakeDir, '-DCMAKE_BUILD_TYPE=Release', '-DSPARSEKIT_CUDA=OFF'], timeoutS);
  if (c.code !== 0) return c;
  const targets = names.flatMap((n) => ['--target', `sparsekit_${n}`]);
  return run('cmake', ['--build', cmakeDir, '-j', '2', ...targets], timeoutS);
}
const ctestArgs = (names) => ['--test-dir', cmakeDir, '--output-on-failure', '-R', `^(${names.join('|')})$`];

function testArgs(m) {
  const a = [vitest, 'run', ...splitTests(m.tests).vitest, '--bail=1', '--reporter=dot'];
  if (m.grep) a.push('-t', m.grep);
  return a;
}

function pad(s, n) {
  s = String(s);
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  let list = mutations;
  if (opt.only) {
    const unknown = opt.only.filter((id) => !mutations.some((m) => m.id === id));
    if (unknown.length) throw new Error(`--only: no mutation called ${unknown.join(', ')}`);
    list = list.filter((m) => opt.only.includes(m.id));
  }
  if (opt.area) {
    const unknown = opt.area.filter((a) => !AREAS.includes(a));
    if (unknown.length) throw new Error(`--area: expected some of ${AREAS.join(', ')}, got ${unknown.join(', ')}`);
    list = list.filter((m) => opt.area.includes(m.area));
  }
  if (opt.list) {
    for (const m of list) console.log(`${pad(m.id, 30)} ${pad(m.area, 8)} ${m.file}${m.equivalent ? '  (equivalent)' : ''}\n    ${m.why}`);
    return;
  }
  // Group by file so a file is rebuilt once per mutation, not once more per switch. Headers go
  // last: restoring one touches it, so the next build recompiles everything that includes it
  // (minutes); after the last header that cost is paid once, by the final rebuild.
  const order = (m) => `${/\.(h|inl|inc)$/.test(m.file) ? 1 : 0} ${m.file}`;
  list = [...list].sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('exit', restoreAll);

  const t0 = performance.now();
  const kinds = new Set(list.filter((m) => splitTests(m.tests).vitest.length).map((m) => buildKind(m.file)));
  // The unmutated tree must build and pass each covering test set; their times set the bounds.
  for (const k of kinds) {
    const b = await build(k);
    if (b.code !== 0) throw new Error(`the unmutated ${k} build fails:\n${b.out}`);
  }
  const ctestNames = [...new Set(list.flatMap((m) => splitTests(m.tests).ctest))];
  if (ctestNames.length) {
    const b = await buildCtest(ctestNames);
    if (b.code !== 0) throw new Error(`the unmutated native tests do not build:\n${b.out}`);
  }
  const baseline = new Map();
  for (const m of list) {
    const { vitest: vt, ctest } = splitTests(m.tests);
    for (const [key, cmd, args, what] of [
      ...(vt.length ? [[testArgs(m).join(' '), process.execPath, testArgs(m), `${vt.join(' ')}${m.grep ? ` -t '${m.grep}'` : ''}`]] : []),
      ...(ctest.length ? [[`ctest ${ctest.join(' ')}`, 'ctest', ctestArgs(ctest), `ctest ${ctest.join(' ')}`]] : []),
    ]) {
      if (baseline.has(key)) continue;
      const r = await run(cmd, args, 900);
      if (r.code !== 0) throw new Error(`the unmutated tests fail (${what}):\n${r.out}`);
      baseline.set(key, r.seconds);
      console.error(`baseline ${what}: ${r.seconds.toFixed(1)} s`);
    }
  }

  const results = [];
  for (const m of list) {
    const path = join(root, m.file);
    const original = readFileSync(path, 'utf8');
    const count = occurrences(original, m.from);
    const res = { id: m.id, area: m.area, file: m.file, tests: m.tests, equivalent: m.equivalent ?? null, why: m.why };
    if (count !== 1) {
      results.push({ ...res, status: 'pattern-not-found', detail: `the pattern occurs ${count} times` });
      console.error(`${m.id}: PATTERN-NOT-FOUND (${count} occurrences in ${m.file})`);
      continue;
    }
    const s0 = performance.now();
    mutated.set(m.file, original);
    try {
      writeFileSync(path, original.replace(m.from, () => m.to));
      const { vitest: vt, ctest } = splitTests(m.tests);
      // vitest first (through the addon); the native tests only when it survives them.
      const steps = [
        ...(vt.length ? [{ build: () => build(buildKind(m.file)), key: testArgs(m).join(' '), cmd: process.execPath, args: testArgs(m) }] : []),
        ...(ctest.length ? [{ build: () => buildCtest(ctest), key: `ctest ${ctest.join(' ')}`, cmd: 'ctest', args: ctestArgs(ctest) }] : []),
      ];
      res.buildSeconds = 0;
      res.testSeconds = 0;
      for (const step of steps) {
        const b = await step.build();
        res.buildSeconds = +(res.buildSeconds + b.seconds).toFixed(1);
        if (b.code !== 0) {
          res.status = b.timedOut ? 'build-timeout' : 'build-error';
          res.detail = b.out.split('\n').filter((l) => /error/.test(l)).slice(0, 3).join(' | ');
          break;
        }
        const limit = Math.max(opt.minTimeout, opt.factor * baseline.get(step.key));
        const r = await run(step.cmd, step.args, limit);
        res.testSeconds = +(res.testSeconds + r.seconds).toFixed(1);
        res.status = r.timedOut ? 'timeout' : r.code === 0 ? 'survived' : 'killed';
        if (res.status === 'killed') {
          // The failing test's name (vitest: "FAIL  file > describe > test"; ctest: the CHECK line), else any error line.
          const lines = r.out.split('\n');
          const failed = lines.find((l) => /FAIL\s+\S+.*>/.test(l)) ?? lines.find((l) => /^FAIL|AssertionError|Error:|\*\*\*Failed|CHECK/.test(l.trim()));
          res.detail = failed ? failed.trim().slice(0, 160) : `exit ${r.code}`;
        }
        if (res.status !== 'survived') break;
      }
    } finally {
      writeFileSync(path, original);
      mutated.delete(m.file);
    }
    res.seconds = +((performance.now() - s0) / 1000).toFixed(1);
    results.push(res);
    console.error(`${pad(m.id, 30)} ${pad(res.status, 10)} ${res.seconds} s${m.equivalent ? ' (listed equivalent)' : ''}`);
  }
  // Leave the addon (and the native test tree) built from the restored sources.
  for (const k of kinds) {
    const b = await build(k);
    if (b.code !== 0) console.error(`mutate: the final rebuild failed; run npx node-gyp build -j 2\n${b.out}`);
  }
  if (ctestNames.length) {
    const b = await buildCtest(ctestNames);
    if (b.code !== 0) console.error(`mutate: the final native test build failed; run npm run test:native\n${b.out}`);
  }

  const scored = results.filter((r) => !r.equivalent && ['killed', 'timeout', 'survived'].includes(r.status));
  const caught = scored.filter((r) => r.status !== 'survived').length;
  const score = scored.length ? caught / scored.length : 1;
  const wall = (performance.now() - t0) / 1000;
  console.log(`\n${pad('mutation', 30)} ${pad('area', 8)} ${pad('status', 18)} file`);
  for (const r of results)
    console.log(`${pad(r.id, 30)} ${pad(r.area, 8)} ${pad(r.status + (r.equivalent ? ' (equiv.)' : ''), 18)} ${r.file}`);
  const equivalents = results.filter((r) => r.equivalent);
  if (equivalents.length) {
    console.log('\nequivalent (not scored):');
    for (const r of equivalents) console.log(`  ${r.id}: ${r.equivalent}${r.status === 'killed' ? '  <- KILLED: not equivalent after all' : ''}`);
  }
  const survivors = scored.filter((r) => r.status === 'survived');
  if (survivors.length) {
    console.log('\nsurvivors (each is a missing test):');
    for (const r of survivors) console.log(`  ${r.id} (${r.file}): ${r.why}`);
  }
  const broken = results.filter((r) => !['killed', 'timeout', 'survived'].includes(r.status));
  console.log(`\nscore: ${caught}/${scored.length} = ${(100 * score).toFixed(1)}% killed (${equivalents.length} equivalent, ${broken.length} not run: pattern-not-found / build-error); ${wall.toFixed(0)} s`);
  if (opt.json) {
    writeFileSync(opt.json, JSON.stringify({ version: 1, score, killed: caught, scored: scored.length, seconds: +wall.toFixed(1), results }, null, 2) + '\n');
    console.log(`report: ${opt.json}`);
  }
  if (broken.length) process.exitCode = 2;
  else if (score < 0.9) process.exitCode = 1;
}

if (process.argv[1] && statSync(process.argv[1]).ino === statSync(fileURLToPath(import.meta.url)).ino) {
  main().catch((e) => {
    restoreAll();
    console.error(`mutate: ${e.message}`);
    process.exit(2);
  });
}
