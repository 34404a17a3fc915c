/**
 * The layer-by-layer file pipeline behind pack, unpack and prune: read a tensor from the mapped
 * input, transform it, stream it to the output, forget it. Tensors that are not selected are
 * copied through unchanged (any dtype). At most one layer's results are in memory at a time.
 */
import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { SparsekitError } from '../errors.js';
import { SafetensorsWriter, loadSafetensors, type SafetensorsFile, type SaveValue } from '../safetensors.js';
import { SPARSE_META_PREFIX } from '../safetensors-format.js';
import { CliError, Context, EXIT } from './context.js';

export interface LayerResult {
  /** What was written for this name (or null to copy the input entry unchanged). */
  value: SaveValue | null;
  /** Anything the command wants in its per-layer report. */
  report?: Record<string, unknown>;
}

export interface PipelineReport {
  input: string;
  output: string;
  inputBytes: number;
  outputBytes: number;
  seconds: number;
  layers: Record<string, unknown>[];
}

export interface PipelineSpec {
  input: string;
  output: string;
  /** Which logical entries the command transforms. */
  select: (name: string, file: SafetensorsFile) => boolean;
  transform: (name: string, file: SafetensorsFile, onFraction: (f: number) => void) => Promise<LayerResult>;
  /** Extra __metadata__ for the output (the input's own metadata is kept). */
  metadata?: Record<string, string>;
  unit?: string;
  /** Called once the input is open and the selection is known (e.g. to check calibration data up front). */
  prepare?: (file: SafetensorsFile, selected: string[]) => Promise<void> | void;
}

/** Errors of the writer: an I/O failure there is an output problem (exit 3), not an input one. */
function outputError(e: unknown): unknown {
  return e instanceof SparsekitError && e.code === 'ERR_IO' ? new CliError(EXIT.output, e.message) : e;
}

/**
 * Whether writing `output` would replace `input`: the same device and inode when both exist (so a
 * symlinked folder, a symlink or a hard link is seen through), else the same real path.
 */
export function sameFile(input: string, output: string): boolean {
  try {
    const a = statSync(input), b = statSync(output);
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    // one of them does not exist (yet)
  }
  try {
    return realpathSync(input) === join(realpathSync(dirname(resolve(output))), basename(output));
  } catch {
    return resolve(input) === resolve(output);
  }
}

export async function runPipeline(spec: PipelineSpec, ctx: Context): Promise<PipelineReport> {
  const t0 = performance.now();
  if (sameFile(spec.input, spec.output))
    throw new CliError(EXIT.usage, `--out must differ from the input file ('${spec.output}')`, 'write to a new file, then rename it');
  using f = await loadSafetensors(spec.input);
  const selected = f.names.filter((n) => spec.select(n, f));
  if (spec.prepare) await spec.prepare(f, selected);
  // Room for the output header: packing turns one tensor into up to three entries plus a
  // metadata line. Too small only costs one copy at finish; too big is padding in the file.
  let reserve = 4096;
  for (const n of f.tensorNames) reserve += 3 * (Buffer.byteLength(n) + 100) + 200;
  for (const [k, v] of Object.entries(f.metadata)) reserve += Buffer.byteLength(k) + Buffer.byteLength(v) + 16;
  let w: SafetensorsWriter;
  try {
    w = SafetensorsWriter.create(spec.output, { reserve });
  } catch (e) {
    throw outputError(e);
  }
  const layers: Record<string, unknown>[] = [];
  const size = (name: string) => f.info(name).shape.reduce((a, b) => a * b, 1);
  const progress = ctx.progress(selected.length, spec.unit ?? 'layers', selected.reduce((a, n) => a + size(n), 0));
  const sel = new Set(selected);
  try {
    for (const name of f.names) {
      ctx.checkAborted();
      let value: SaveValue | null = null;
      if (sel.has(name)) {
        progress.item(name, size(name));
        const r = await spec.transform(name, f, (x) => progress.fraction(x));
        value = r.value;
        layers.push({ name, ...r.report });
        progress.done();
      }
      if (value === null) {
        const info = f.info(name);
        value = info.kind === 'sparse' ? f.get(name) : info.sparsekitDtype ? f.getTensor(name) : f.getRaw(name);
      }
      try {
        await w.add(name, value);
      } catch (e) {
        throw outputError(e);
      }
      // Written (or queued as a view of the mapping, which reads the file again when written):
      // give its pages back so resident memory stays about one layer, whatever the file size.
      f.release(name);
    }
    const meta = Object.fromEntries(Object.entries(f.metadata).filter(([k]) => !k.startsWith(SPARSE_META_PREFIX)));
    try {
      await w.finish({ ...meta, ...spec.metadata });
    } catch (e) {
      throw outputError(e);
    }
  } catch (e) {
    w.abort();
    throw e;
  } finally {
    progress.stop();
  }
  const out = await loadSafetensors(spec.output);
  const outputBytes = out.fileSize;
  out.dispose();
  return { input: spec.input, output: spec.output, inputBytes: f.fileSize, outputBytes, seconds: (performance.now() - t0) / 1000, layers };
}
