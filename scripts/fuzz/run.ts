/**
 * npm run fuzz [-- options]: mutation fuzzing of the safetensors reader, the sparse formats'
 * validation, toDense and spmm (docs/formats.md "Trust"). Cases run in child processes
 * (worker.ts), so a crash is counted against the case that caused it instead of ending the run.
 *   --cases <n>       cases per strategy (default 400)
 *   --seconds <s>     overall time bound (default 300); strategies share it
 *   --seed <n>        base seed (default 1): same seed, same cases
 *   --strategies a,b  a subset of the strategies (mutate.ts STRATEGIES)
 *   --jobs <n>        child processes at a time (default 1)
 *   --chunk <n>       cases per child process (default 500)
 *   --case-timeout <s> a case silent this long is a hang (default 30)
 *   --asan            run against build-asan/sparsekit.node (npm run build:asan) with libasan preloaded
 * Exit status 1 if any case crashed, hung, tripped a sanitizer or threw something untyped.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { STRATEGIES, type Strategy } from './mutate.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const argv = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = argv.indexOf(name);
  return i < 0 ? dflt : argv[i + 1]!;
};
const cases = Number(opt('--cases', '400')), seconds = Number(opt('--seconds', '300')), base = Number(opt('--seed', '1'));
const jobs = Number(opt('--jobs', '1')), chunk = Number(opt('--chunk', '500')), caseTimeout = Number(opt('--case-timeout', '30'));
const asan = argv.includes('--asan');
const strategies = opt('--strategies', STRATEGIES.join(',')).split(',') as Strategy[];
for (const s of strategies) if (!STRATEGIES.includes(s)) throw new Error(`unknown strategy '${s}' (have ${STRATEGIES.join(', ')})`);

const env: NodeJS.ProcessEnv = { ...process.env, SPARSEKIT_NUM_THREADS: process.env.SPARSEKIT_NUM_THREADS ?? '1' };
if (asan) {
  const addon = join(root, 'build-asan', 'sparsekit.node');
  if (!existsSync(addon)) throw new Error(`${addon} is missing: run npm run build:asan first`);
  const lib = execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
  Object.assign(env, {
    SPARSEKIT_ADDON: addon, LD_PRELOAD: lib,
    // Node is not instrumented and keeps memory until exit: leaks are not what this looks for.
    ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:handle_segv=1',
    UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
  });
}

interface Tally { cases: number; accepted: number; rejected: number; refused: number; tensorsOnly: number; untyped: number; crashes: number; hangs: number; sanitizer: number }
const tally = new Map<Strategy, Tally>(strategies.map((s) => [s, { cases: 0, accepted: 0, rejected: 0, refused: 0, tensorsOnly: 0, untyped: 0, crashes: 0, hangs: 0, sanitizer: 0 }]));
const findings: string[] = [];
const deadline = Date.now() + seconds * 1000;
const dir = mkdtempSync(join(tmpdir(), 'sparsekit-fuzz-'));

/** Runs cases [start, end) of `s` in one child; resolves with the next case to run (after a crash or hang: the one after it). */
function child(s: Strategy, start: number, end: number): Promise<number> {
  return new Promise((resolve) => {
    const t = tally.get(s)!;
    const p = spawn(process.execPath, ['--import', 'tsx', join(root, 'scripts/fuzz/worker.ts'),
      JSON.stringify({ strategy: s, start, count: end - start, base, dir })], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = -1, next = start, hung = false, stderr = '';
    let timer = setTimeout(() => { hung = true; p.kill('SIGKILL'); }, caseTimeout * 1000 * 4);  // start-up gets longer
    const arm = () => { clearTimeout(timer); timer = setTimeout(() => { hung = true; p.kill('SIGKILL'); }, caseTimeout * 1000); };
    p.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-20000); });
    createInterface({ input: p.stdout }).on('line', (line) => {
      const [tag, id, outcome, ...rest] = line.split(' ');
      if (tag === 'C') { pending = Number(id); arm(); }
      if (tag !== 'R') return;
      pending = -1;
      next = Number(id) + 1;
      t.cases++;
      if (outcome === 'accepted') t.accepted++;
      else if (outcome === 'rejected') t.rejected++;
      else if (outcome === 'refused') t.refused++;
      else if (outcome === 'tensors-only') t.tensorsOnly++;
      else { t.untyped++; findings.push(`${s} case ${id} (--seed ${base}): untyped error ${rest.join(' ')}`); }
      if (Date.now() > deadline) p.kill('SIGKILL');
    });
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      const san = /AddressSanitizer|UndefinedBehaviorSanitizer|runtime error:|LeakSanitizer/.test(stderr);
      if (pending >= 0 && !(Date.now() > deadline && !hung && signal === 'SIGKILL')) {
        t.cases++;
        const what = hung ? 'hang' : san ? 'sanitizer report' : `crash (${signal ?? `exit ${code}`})`;
        if (hung) t.hangs++;
        else if (san) t.sanitizer++;
        else t.crashes++;
        findings.push(`${s} case ${pending} (--seed ${base}): ${what}\n${stderr.split('\n').slice(-30).join('\n')}`);
        next = pending + 1;
      } else if (code !== 0 && signal !== 'SIGKILL') {
        findings.push(`${s}: child exited ${code} outside a case\n${stderr.slice(-3000)}`);
        t.crashes++;
        next = end;
      }
      resolve(next);
    });
  });
}

/** Cases [start, end) of `s`, in as many children as crashes and hangs need. */
async function runChunk(s: Strategy, start: number, end: number): Promise<void> {
  for (let i = start; i < end && Date.now() < deadline;) i = await child(s, i, end);
}

// Chunks go round-robin over the strategies, so a time bound cuts every strategy about equally.
const t0 = Date.now();
const queue: [Strategy, number, number][] = [];
for (let i = 0; i < cases; i += chunk) for (const s of strategies) queue.push([s, i, Math.min(cases, i + chunk)]);
await Promise.all(Array.from({ length: Math.max(1, jobs) }, async () => {
  for (let c = queue.shift(); c && Date.now() < deadline; c = queue.shift()) await runChunk(...c);
}));
rmSync(dir, { recursive: true, force: true });

const rows = [...tally.entries()];
console.log(`sparsekit fuzz${asan ? ' (ASan+UBSan build)' : ''}: seed ${base}, ${((Date.now() - t0) / 1000).toFixed(0)} s` +
            `${Date.now() > deadline ? ' (time bound reached)' : ''}`);
console.log('strategy          cases  accepted  rejected  refused  tensors  untyped  crashes  hangs  sanitizer');
for (const [s, t] of rows)
  console.log(`${s.padEnd(16)} ${String(t.cases).padStart(6)} ${String(t.accepted).padStart(9)} ${String(t.rejected).padStart(9)} ${String(t.refused).padStart(8)} ` +
              `${String(t.tensorsOnly).padStart(8)} ${String(t.untyped).padStart(8)} ${String(t.crashes).padStart(8)} ${String(t.hangs).padStart(6)} ${String(t.sanitizer).padStart(10)}`);
const total = rows.reduce((a, [, t]) => a + t.cases, 0);
const bad = rows.reduce((a, [, t]) => a + t.untyped + t.crashes + t.hangs + t.sanitizer, 0);
console.log(`total ${total} cases, ${bad} findings`);
for (const f of findings) console.log(`\n${f}`);
process.exitCode = bad ? 1 : 0;
