/**
 * What every CLI command shares: where output goes, exit codes, errors a user can act on,
 * progress reporting and plain-text tables. Commands never call process.exit or write to
 * process.stdout directly, so the whole CLI runs in-process in tests.
 */
import cliProgress from 'cli-progress';
import { SparsekitError } from '../errors.js';

/** Exit codes scripts can rely on (docs/cli.md). */
export const EXIT = {
  ok: 0,
  /** Bad command line: unknown command or option, bad option value. */
  usage: 1,
  /** Bad input: missing or unreadable file, malformed safetensors, wrong shapes or dtypes, unknown layer, missing calibration. */
  input: 2,
  /** The output could not be written. */
  output: 3,
  /** A solver failed numerically (e.g. a Hessian that stays singular after damping). */
  numeric: 4,
  /** A check asked for on the command line failed (inspect --expect-nm). */
  check: 5,
  /** A bug in sparsekit. */
  internal: 70,
  /** Interrupted (Ctrl-C). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error meant for the user: no stack trace unless --verbose. */
export class CliError extends Error {
  constructor(readonly exitCode: ExitCode, message: string, readonly hint?: string) {
    super(message);
  }
}

export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** Whether stderr is a terminal (progress bars are drawn only then). */
  isTTY: boolean;
  /** For progress bars; defaults to process.stderr. */
  stream?: NodeJS.WritableStream;
}

export interface GlobalOptions {
  json: boolean;
  verbose: boolean;
  quiet: boolean;
}

export class Context {
  constructor(readonly io: CliIO, readonly opts: GlobalOptions, readonly signal: AbortSignal) {}

  /** Human-readable lines on stdout; suppressed under --json (stdout is then one JSON document). */
  out(line = ''): void {
    if (!this.opts.json) this.io.stdout(line + '\n');
  }
  /** Notes and warnings on stderr; suppressed by --quiet and --json. */
  note(line: string): void {
    if (!this.opts.quiet && !this.opts.json) this.io.stderr(line + '\n');
  }
  verbose(line: string): void {
    if (this.opts.verbose && !this.opts.json) this.io.stderr(line + '\n');
  }
  json(value: unknown): void {
    this.io.stdout(JSON.stringify(value, null, 2) + '\n');
  }
  checkAborted(): void {
    if (this.signal.aborted) throw new CliError(EXIT.interrupted, 'interrupted');
  }

  /**
   * Progress over `count` items (layers), with a second bar for the current item. `totalWork` (e.g.
   * the elements of all layers) weights the overall bar and its ETA; default: every item weighs 1.
   */
  progress(count: number, unit: string, totalWork = count): Progress {
    if (!this.io.isTTY || this.opts.json || this.opts.quiet) return new QuietProgress(this, count);
    return new BarProgress(this.io.stream ?? process.stderr, count, unit, totalWork);
  }
}

export interface Progress {
  /** Starts item `name` of weight `work` (default 1); fraction() updates go to its own bar. */
  item(name: string, work?: number): void;
  fraction(f: number): void;
  /** Finishes the current item. */
  done(): void;
  stop(): void;
}

class QuietProgress implements Progress {
  #i = 0;
  #t0 = 0;
  #name = '';
  constructor(readonly ctx: Context, readonly count: number) {}
  item(name: string): void {
    this.#name = name;
    this.#t0 = performance.now();
  }
  fraction(): void {}
  done(): void {
    this.#i++;
    this.ctx.verbose(`[${this.#i}/${this.count}] ${this.#name} (${((performance.now() - this.#t0) / 1000).toFixed(2)} s)`);
  }
  stop(): void {}
}

class BarProgress implements Progress {
  readonly #multi: cliProgress.MultiBar;
  readonly #overall: cliProgress.SingleBar;
  #current: cliProgress.SingleBar | null = null;
  #count = 0;
  #workDone = 0;
  #itemWork = 0;

  constructor(stream: NodeJS.WritableStream, readonly itemCount: number, unit: string, totalWork: number) {
    this.#multi = new cliProgress.MultiBar(
      { stream, clearOnComplete: true, hideCursor: true, barsize: 30, etaBuffer: 50, fps: 8,
        format: `{label} [{bar}] {percentage}% | {count}/${itemCount} ${unit} | ETA {eta_formatted}` },
      cliProgress.Presets.shades_classic,
    );
    this.#overall = this.#multi.create(Math.max(1, totalWork), 0, { label: 'overall'.padEnd(28), count: 0 });
  }
  item(name: string, work = 1): void {
    const label = name.length > 28 ? '…' + name.slice(-27) : name.padEnd(28);
    this.#itemWork = work;
    this.#current = this.#multi.create(1000, 0, { label }, { format: '{label} [{bar}] {percentage}%' });
  }
  fraction(f: number): void {
    const x = Math.min(1, Math.max(0, f));
    this.#current?.update(Math.round(x * 1000));
    this.#overall.update(this.#workDone + x * this.#itemWork, { count: this.#count });
  }
  done(): void {
    if (this.#current) this.#multi.remove(this.#current);
    this.#current = null;
    this.#workDone += this.#itemWork;
    this.#overall.update(this.#workDone, { count: ++this.#count });
  }
  stop(): void {
    this.#multi.stop();
  }
}

/** Maps any error to an exit code and a one-line message. */
export function classify(err: unknown): { exitCode: ExitCode; code: string; message: string; hint?: string } {
  if (err instanceof CliError) return { exitCode: err.exitCode, code: codeOfExit(err.exitCode), message: err.message, hint: err.hint };
  if (err instanceof SparsekitError) {
    const exitCode: ExitCode =
      err.code === 'ERR_NUMERIC' ? EXIT.numeric
      : err.code === 'ERR_ABORTED' ? EXIT.interrupted
      : err.code === 'ERR_INTERNAL' ? EXIT.internal
      : EXIT.input;
    return { exitCode, code: err.code, message: err.message };
  }
  return { exitCode: EXIT.internal, code: 'ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

function codeOfExit(e: ExitCode): string {
  return { 0: 'OK', 1: 'ERR_USAGE', 2: 'ERR_INPUT', 3: 'ERR_OUTPUT', 4: 'ERR_NUMERIC', 5: 'ERR_CHECK', 70: 'ERR_INTERNAL', 130: 'ERR_ABORTED' }[e];
}

// ---- formatting ----------------------------------------------------------------------------

export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? `${n} B` : `${n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2)} ${units[i]}`;
}

export function fmtPct(x: number | null | undefined): string {
  return x === null || x === undefined || Number.isNaN(x) ? '-' : `${(100 * x).toFixed(1)}%`;
}

/** A plain table: first row is the header; columns whose header starts with '>' are right-aligned. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const right = rows[0]!.map((h) => h.startsWith('>'));
  const cells = rows.map((r, i) => (i === 0 ? r.map((h) => h.replace(/^>/, '')) : r));
  const width = cells[0]!.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((v, c) => (right[c] ? v.padStart(width[c]!) : v.padEnd(width[c]!))).join('  ').trimEnd();
  return [line(cells[0]!), width.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

/** Parses "2:4" into { n: 2, m: 4 } or throws a usage error naming the option. */
export function parseNM(s: string, option: string): { n: number; m: number } {
  const m = /^(\d+):(\d+)$/.exec(s.trim());
  if (!m) throw new CliError(EXIT.usage, `${option}: expected N:M such as 2:4, got '${s}'`);
  const n = Number(m[1]), mm = Number(m[2]);
  if (n < 1 || mm > 16 || n > mm) throw new CliError(EXIT.usage, `${option}: need 1 <= N <= M <= 16, got ${s}`);
  return { n, m: mm };
}

export function parseRegex(s: string | undefined, option: string): RegExp | undefined {
  if (s === undefined) return undefined;
  try {
    return new RegExp(s);
  } catch (e) {
    throw new CliError(EXIT.usage, `${option}: invalid regular expression '${s}': ${(e as Error).message}`);
  }
}
