/**
 * Writes a checkpoint's weights into a folder in Hugging Face's layout: one `model.safetensors`,
 * or, past `maxShardBytes`, shards `model-0000i-of-0000n.safetensors` plus
 * `model.safetensors.index.json` ({ metadata: { total_size }, weight_map: tensor -> shard }), as
 * transformers' save_pretrained does. Entries go into the current shard in order; a new shard
 * starts when the next entry would take the current one past the limit (an entry bigger than the
 * limit gets a shard of its own; a packed matrix's parts always stay together, since a loader
 * resolves a packed entry in one file). The index lists the stored tensor names (a packed
 * matrix's parts), which is what loaders look up.
 *
 * Nothing is replaced until everything is written: the shards are written under temporary names
 * and renamed into place at the end (the count n is known only then); on any failure they are
 * removed and the folder is as before. A folder that already holds a checkpoint is refused unless
 * `overwrite`; then the files of the old checkpoint that the new one does not reuse (a single file
 * replaced by shards, or shards of another count) are removed after the new ones are in place.
 */
import { existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from '../dtype.js';
import { ArgumentError } from '../errors.js';
import { SafetensorsWriter, type SaveValue } from '../safetensors-writer.js';
import { SparseMatrix } from '../sparse-matrix.js';
import { Tensor } from '../tensor.js';

/** transformers' default `max_shard_size` ("5GB", decimal). */
export const DEFAULT_MAX_SHARD_BYTES = 5e9;

/** Files copied next to the weights (by save() and merge-lora) when the source folder has them. */
export const SIDE_FILES = ['generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.model'];

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';
const SHARD_RE = /^model-\d{5,}-of-\d{5,}\.safetensors$/;

export interface WriteCheckpointOptions {
  /** Largest shard in bytes (tensor data; headers are extra). Default 5e9, as transformers. */
  maxShardBytes?: number;
  /** Replace a checkpoint the folder already holds (default false: refused with ERR_ARGUMENT). */
  overwrite?: boolean;
  /** safetensors __metadata__ of every shard. */
  metadata?: Record<string, string>;
}

export interface WrittenCheckpoint {
  /** Weight files written, in order (one `model.safetensors`, or the shards). */
  files: string[];
  /** Bytes of those files. */
  bytes: number;
  /** The index file when sharded, else null. */
  index: string | null;
}

/** The weight files (and index) of a checkpoint already in `dir`; config.json counts as one too. */
export function existingCheckpointFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f === SINGLE_FILE || f === INDEX_FILE || f === 'config.json' || SHARD_RE.test(f));
}

/** Refuses a folder that holds a checkpoint unless `overwrite` (ERR_ARGUMENT naming `dir`). */
export function checkOutputFolder(dir: string, overwrite: boolean): void {
  if (overwrite) return;
  const held = existingCheckpointFiles(dir);
  if (held.length > 0)
    throw new ArgumentError(`dir: '${dir}' already holds a checkpoint (${held.slice(0, 3).join(', ')}${held.length > 3 ? ', ...' : ''}); ` +
      'pass overwrite: true (CLI: --force) to replace it, or choose another folder');
}

export function checkMaxShardBytes(v: unknown): number {
  if (v === undefined) return DEFAULT_MAX_SHARD_BYTES;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
    throw new ArgumentError(`options.maxShardBytes: expected a positive integer, got ${describe(v)}`);
  return v;
}

function valueBytes(v: SaveValue): number {
  if (v instanceof SparseMatrix || v instanceof Tensor) return v.byteLength;
  return v.data.byteLength;
}

const shardName = (i: number, n: number) => `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`;

/**
 * Writes `entries` (name, and a function producing the value, called once, in order, so a caller
 * can convert one weight at a time) into `dir`, which must exist.
 */
export async function writeCheckpoint(dir: string, entries: [string, () => Promise<SaveValue>][], options: WriteCheckpointOptions = {}): Promise<WrittenCheckpoint> {
  const maxShardBytes = checkMaxShardBytes(options.maxShardBytes);
  const overwrite = options.overwrite ?? false;
  checkOutputFolder(dir, overwrite);
  const old = existingCheckpointFiles(dir).filter((f) => f !== 'config.json');
  const stamp = `${process.pid}-${Date.now().toString(36)}`;
  const staged: string[] = [];  // finished shards under their temporary names
  const shards: { writer: SafetensorsWriter; bytes: number }[] = [];
  const reserve = 64 * 1024 + entries.length * 512;
  const open = () => {
    const path = join(dir, `.sparsekit-shard-${stamp}-${shards.length}.safetensors`);
    shards.push({ writer: SafetensorsWriter.create(path, { reserve }), bytes: 0 });
  };
  let current: { writer: SafetensorsWriter; bytes: number } | undefined;
  try {
    for (const [name, make] of entries) {
      const value = await make();
      const bytes = valueBytes(value);
      if (current === undefined || (current.bytes > 0 && current.bytes + bytes > maxShardBytes)) {
        if (current) {
          await current.writer.finish({ format: 'pt', ...options.metadata });
          staged.push(current.writer.path);
        }
        open();
        current = shards[shards.length - 1]!;
      }
      await current.writer.add(name, value);
      current.bytes += bytes;
    }
    if (current === undefined) {
      open();
      current = shards[0]!;
    }
    await current.writer.finish({ format: 'pt', ...options.metadata });
    staged.push(current.writer.path);
  } catch (e) {
    for (const s of shards) s.writer.abort();
    for (const p of staged) rmSync(p, { force: true });
    throw e;
  }

  return installShards(dir, shards.map((s, i) => ({ path: staged[i]!, tensorNames: s.writer.tensorNames, dataBytes: s.writer.bytesWritten })), old, stamp);
}

/** A finished weight file under a temporary name, waiting for its place in a checkpoint. */
export interface StagedShard {
  path: string;
  /** The tensor names it stores (packed matrices by their parts). */
  tensorNames: readonly string[];
  /** Bytes of tensor data (the file without its header). */
  dataBytes: number;
}

/**
 * Moves staged weight files into place in `dir`: one as `model.safetensors`, several as
 * `model-0000i-of-0000n.safetensors` plus the index (written last, so a reader that finds it finds
 * its shards). Then removes the files of `old` (the checkpoint `dir` held before) that were not
 * replaced. If the index cannot be written, the staged files are removed and nothing changes.
 */
export function installShards(dir: string, staged: StagedShard[], old: string[], stamp = `${process.pid}-${Date.now().toString(36)}`): WrittenCheckpoint {
  const n = staged.length;
  const files = n === 1 ? [SINGLE_FILE] : staged.map((_, i) => shardName(i, n));
  let index: string | null = null;
  const moves = staged.map((s) => s.path);
  if (n > 1) {
    const weightMap: Record<string, string> = {};
    let total = 0;
    staged.forEach((s, i) => {
      for (const t of s.tensorNames) weightMap[t] = files[i]!;
      total += s.dataBytes;
    });
    const sorted = Object.fromEntries(Object.entries(weightMap).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const tmp = join(dir, `.sparsekit-index-${stamp}.json`);
    try {
      writeFileSync(tmp, JSON.stringify({ metadata: { total_size: total }, weight_map: sorted }, null, 2) + '\n');
    } catch (e) {
      for (const p of moves) rmSync(p, { force: true });
      rmSync(tmp, { force: true });
      throw e;
    }
    moves.push(tmp);
    files.push(INDEX_FILE);
    index = join(dir, INDEX_FILE);
  }
  moves.forEach((p, i) => renameSync(p, join(dir, files[i]!)));
  if (index) files.pop();
  // The old checkpoint's files the new one did not replace; the single file goes when the new one is sharded.
  for (const f of old) if (!files.includes(f) && !(index && f === INDEX_FILE)) rmSync(join(dir, f), { force: true });
  const bytes = files.reduce((s, f) => s + statSync(join(dir, f)).size, 0);
  return { files, bytes, index };
}
