/**
 * A Hugging Face checkpoint folder's weights: `model.safetensors`, or the shards that
 * `model.safetensors.index.json` lists, memory-mapped. Names resolve to the shard holding them;
 * entries may be dense tensors or packed SparseMatrix entries as saveSafetensors writes them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { FormatError, IOError } from '../errors.js';
import { loadSafetensors, type EntryInfo, type SafetensorsFile } from '../safetensors.js';
import type { SparseMatrix } from '../sparse-matrix.js';
import type { Tensor } from '../tensor.js';

export class Checkpoint {
  readonly dir: string;
  readonly files: readonly SafetensorsFile[];
  readonly #where: Map<string, SafetensorsFile>;

  private constructor(dir: string, files: SafetensorsFile[], where: Map<string, SafetensorsFile>) {
    this.dir = dir;
    this.files = files;
    this.#where = where;
  }

  static async open(dir: string): Promise<Checkpoint> {
    const single = join(dir, 'model.safetensors');
    const index = join(dir, 'model.safetensors.index.json');
    const files: SafetensorsFile[] = [];
    const where = new Map<string, SafetensorsFile>();
    try {
      if (existsSync(single)) {
        const f = await loadSafetensors(single);
        files.push(f);
        for (const n of f.names) where.set(n, f);
      } else if (existsSync(index)) {
        const map = readIndex(index);
        const byShard = new Map<string, SafetensorsFile>();
        for (const shard of new Set(map.values())) {
          const f = await loadSafetensors(join(dir, shard));
          files.push(f);
          byShard.set(shard, f);
        }
        for (const [name, shard] of map) {
          const f = byShard.get(shard)!;
          // Packed entries appear in the index by their part tensors; the logical name is what we want.
          if (!f.has(name) && !f.tensorNames.includes(name))
            throw new FormatError(`${index}: '${name}' is listed in shard '${shard}', which does not hold it`);
        }
        for (const f of files) for (const n of f.names) where.set(n, f);
      } else {
        throw new IOError(`${dir}: no model.safetensors or model.safetensors.index.json`);
      }
    } catch (e) {
      for (const f of files) f.dispose();
      throw e;
    }
    return new Checkpoint(dir, files, where);
  }

  /** Logical entry names (packed matrices by their own name), over all shards. */
  get names(): string[] { return [...this.#where.keys()]; }

  has(name: string): boolean { return this.#where.has(name); }

  info(name: string): EntryInfo { return this.#file(name).info(name); }

  get(name: string): Tensor | SparseMatrix { return this.#file(name).get(name); }

  /** The file holding `name` (for raw pass-through and page release). */
  fileOf(name: string): SafetensorsFile { return this.#file(name); }

  dispose(): void {
    for (const f of this.files) f.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #file(name: string): SafetensorsFile {
    const f = this.#where.get(name);
    if (!f) throw new FormatError(`${this.dir}: the checkpoint has no tensor '${name}'`);
    return f;
  }
}

function readIndex(path: string): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new FormatError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const wm = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) throw new FormatError(`${path}: expected a 'weight_map' object`);
  const map = new Map<string, string>();
  for (const [name, shard] of Object.entries(wm as Record<string, unknown>)) {
    // A shard must be a plain file name inside the folder: no paths, no '..'.
    if (typeof shard !== 'string' || shard.length === 0 || basename(shard) !== shard || shard === '.' || shard === '..')
      throw new FormatError(`${path}: weight_map['${name}'] must be a file name in the checkpoint folder, got ${JSON.stringify(shard)}`);
    map.set(name, shard);
  }
  return map;
}
