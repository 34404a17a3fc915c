/**
 * Streaming safetensors writer: each value is written as soon as it is added, so a pipeline that
 * prunes or packs one layer at a time never holds the output file in memory. Entries are written
 * in the order they arrive except that one whose dtype would land misaligned waits (holding only
 * a reference) until the running offset suits it, so readers can map every tensor without a copy.
 */
import { describe } from './dtype.js';
import { ArgumentError, DisposedError, fromNativeError } from './errors.js';
import { native } from './native.js';
import {
  SPARSE_META_PREFIX, partTensorName, slorbTensorNames, sparseMetaValue, stAlignment, toStDType,
} from './safetensors-format.js';
import { SparseMatrix } from './sparse-matrix.js';
import { Tensor } from './tensor.js';

/** A tensor of any safetensors dtype as raw bytes (e.g. an I64 or F64 tensor passed through unchanged). */
export interface RawTensor {
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

export type SaveValue = Tensor | SparseMatrix | RawTensor;

export interface WriterOptions {
  /** Bytes reserved for the header at the start of the file; a bigger header costs one extra copy at finish. */
  reserve?: number;
}

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  data: ArrayBufferView;
  align: number;
}

function isRaw(v: unknown): v is RawTensor {
  const r = v as RawTensor;
  return typeof r === 'object' && r !== null && typeof r.dtype === 'string' && Array.isArray(r.shape) && r.data instanceof Uint8Array;
}

export class SafetensorsWriter {
  readonly path: string;
  #handle: object | null;
  #offset = 0;
  #pending: Entry[] = [];
  #names = new Set<string>();
  #tensorNames: string[] = [];
  #sparseMeta: Record<string, string> = {};
  #busy = false;

  private constructor(path: string, handle: object) {
    this.path = path;
    this.#handle = handle;
  }

  /** Creates `<path>.tmp-*`; nothing appears at `path` until finish(). */
  static create(path: string, options: WriterOptions = {}): SafetensorsWriter {
    if (typeof path !== 'string' || path.length === 0) throw new ArgumentError(`path: expected a non-empty string, got ${describe(path)}`);
    const reserve = options.reserve ?? 64 * 1024;
    if (!Number.isSafeInteger(reserve) || reserve < 0) throw new ArgumentError(`options.reserve: expected a non-negative integer, got ${reserve}`);
    try {
      return new SafetensorsWriter(path, native.stWriterCreate(path, reserve));
    } catch (e) {
      throw fromNativeError(e, 'saveSafetensors');
    }
  }

  /** An upper bound of the header size for these entries (used as `reserve`). */
  static estimateHeader(entries: [string, SaveValue][], metadata: Record<string, string> = {}): number {
    const str = (s: string) => Buffer.byteLength(JSON.stringify(s)) + 1;
    const one = (name: string, ndim: number) => str(name) + 64 + 21 * (ndim + 2);
    let n = 64;
    for (const [k, v] of Object.entries(metadata)) n += str(k) + str(v) + 2;
    for (const [name, v] of entries) {
      if (v instanceof SparseMatrix) {
        n += str(SPARSE_META_PREFIX + name) + 160;
        for (const part of Object.keys(v.parts())) n += one(`${name}.${part}`, 1);
        if (v.slorb) n += 3 * one(`${name}.slorbRowScales`, 2) + 64;
      } else {
        n += one(name, v instanceof Tensor ? v.ndim : isRaw(v) ? v.shape.length : 0);
      }
    }
    return n;
  }

  get bytesWritten(): number { return this.#offset; }

  /** The tensor names stored so far (packed matrices by their part tensors), in the order added. */
  get tensorNames(): readonly string[] { return this.#tensorNames; }

  /** Adds one value; it is written now or, if it would land misaligned, as soon as it fits. */
  async add(name: string, value: SaveValue): Promise<void> {
    for (const e of this.#accept(name, value)) await this.#write(e, true);
  }

  addSync(name: string, value: SaveValue): void {
    for (const e of this.#accept(name, value)) void this.#write(e, false);
  }

  /** Writes what is left, the header (with `metadata`), and renames the file into place. */
  async finish(metadata: Record<string, string> = {}): Promise<void> {
    const meta = this.#finalMeta(metadata);
    for (const e of this.#drain()) await this.#write(e, true);
    try {
      this.#busy = true;
      await native.stWriterFinishAsync(this.#handle!, meta);
    } catch (e) {
      throw fromNativeError(e, `saveSafetensors('${this.path}')`);
    } finally {
      this.#busy = false;
      this.#handle = null;
    }
  }

  finishSync(metadata: Record<string, string> = {}): void {
    const meta = this.#finalMeta(metadata);
    for (const e of this.#drain()) void this.#write(e, false);
    try {
      native.stWriterFinish(this.#handle!, meta);
    } catch (e) {
      throw fromNativeError(e, `saveSafetensors('${this.path}')`);
    } finally {
      this.#handle = null;
    }
  }

  /** Removes the temp file; nothing is written at `path`. Idempotent. */
  abort(): void {
    if (this.#handle && !this.#busy) native.stWriterAbort(this.#handle);
    this.#handle = null;
    this.#pending = [];
  }

  #live(): object {
    if (this.#handle === null) throw new DisposedError(`safetensors writer for '${this.path}' is finished or aborted`);
    if (this.#busy) throw new ArgumentError(`safetensors writer for '${this.path}': await the previous call first`);
    return this.#handle;
  }

  #claim(name: string): void {
    if (this.#names.has(name)) throw new ArgumentError(`saveSafetensors: the name '${name}' is used twice (a tensor, or a part of a sparse matrix)`);
    this.#names.add(name);
  }

  /** Checks the value, turns it into stored entries, queues them and returns those writable now. */
  #accept(name: string, value: SaveValue): Entry[] {
    this.#live();
    if (typeof name !== 'string' || name.length === 0) throw new ArgumentError(`name: expected a non-empty string, got ${describe(name)}`);
    if (name === '__metadata__') throw new ArgumentError("name: '__metadata__' is reserved by the safetensors format");
    const entries: Entry[] = [];
    if (value instanceof Tensor) {
      const data = value.toTypedArray();  // throws ERR_DISPOSED
      entries.push({ name, dtype: toStDType(value.dtype), shape: [...value.shape], data, align: data.BYTES_PER_ELEMENT });
    } else if (value instanceof SparseMatrix) {
      const parts = value.parts();
      // Index parts first: int32, so they keep the offset 4-aligned for whatever follows (quantized:
      // then float16 scales, uint8 zeros, uint8 codes).
      const order = Object.keys(parts).sort((a, b) => Number(a === 'values') - Number(b === 'values'));
      for (const part of order) {
        const t = parts[part]!;
        const data = t.toTypedArray();
        entries.push({ name: partTensorName(name, part as never), dtype: toStDType(t.dtype), shape: [t.size], data, align: data.BYTES_PER_ELEMENT });
      }
      const sl = value.slorb;
      if (sl) {
        const names = slorbTensorNames(name);
        for (const [tn, t] of [[names.scales, sl.scales], [names.projection, sl.projection], [names.rowScales, sl.rowScales]] as const) {
          if (!t) continue;
          const data = t.toTypedArray();
          entries.push({ name: tn, dtype: toStDType(t.dtype), shape: [...t.shape], data, align: data.BYTES_PER_ELEMENT });
        }
      }
      this.#claim(SPARSE_META_PREFIX + name);
      this.#sparseMeta[SPARSE_META_PREFIX + name] = sparseMetaValue({
        format: value.format, shape: [value.rows, value.cols], dtype: value.dtype, n: value.n, m: value.m, quant: value.quant,
        slorb: sl ? { groupSize: sl.groupSize, projection: sl.projection !== undefined, rowScales: sl.rowScales !== undefined } : undefined,
      });
    } else if (isRaw(value)) {
      entries.push({ name, dtype: value.dtype, shape: [...value.shape], data: value.data, align: stAlignment(value.dtype) });
    } else {
      throw new ArgumentError(`tensors['${name}']: expected a Tensor, SparseMatrix or { dtype, shape, data: Uint8Array }, got ${describe(value)}`);
    }
    for (const e of entries) this.#claim(e.name);
    this.#tensorNames.push(...entries.map((e) => e.name));
    this.#names.add(name);
    this.#pending.push(...entries);
    return this.#ready();
  }

  /** Pending entries that can go now, in order, each keeping the next one's alignment in mind. */
  #ready(): Entry[] {
    const out: Entry[] = [];
    let offset = this.#offset;
    for (let progress = true; progress;) {
      progress = false;
      const i = this.#pending.findIndex((e) => offset % e.align === 0);
      if (i >= 0) {
        const [e] = this.#pending.splice(i, 1);
        out.push(e!);
        offset += e!.data.byteLength;
        progress = true;
      }
    }
    return out;
  }

  /** At finish: everything left, widest first (the offset is a multiple of 4 or 2 by then, or stays unaligned). */
  #drain(): Entry[] {
    this.#live();
    const out = this.#ready();
    const rest = this.#pending.sort((a, b) => b.align - a.align);
    this.#pending = [];
    return [...out, ...rest];
  }

  #finalMeta(metadata: Record<string, string>): Record<string, string> {
    if (typeof metadata !== 'object' || metadata === null) throw new ArgumentError(`metadata: expected an object of strings, got ${describe(metadata)}`);
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new ArgumentError(`metadata['${k}']: expected a string, got ${describe(v)}`);
      if (k.startsWith(SPARSE_META_PREFIX) && k in this.#sparseMeta)
        throw new ArgumentError(`metadata['${k}']: this key describes a sparse matrix being saved; choose another key`);
    }
    return { ...metadata, ...this.#sparseMeta };
  }

  #write(e: Entry, async: boolean): Promise<void> | void {
    const h = this.#live();
    const fail = (err: unknown) => {
      this.#handle = null;  // the native writer abandoned the file (temp removed)
      throw fromNativeError(err, `saveSafetensors('${this.path}'), tensor '${e.name}'`);
    };
    if (!async) {
      try {
        native.stWriterAppend(h, e.name, e.dtype, e.shape, e.data);
      } catch (err) {
        fail(err);
      }
      this.#offset += e.data.byteLength;
      return;
    }
    this.#busy = true;
    let pending: Promise<void>;
    try {
      pending = native.stWriterAppendAsync(h, e.name, e.dtype, e.shape, e.data);
    } catch (err) {  // the binding checks its arguments before it queues the work
      this.#busy = false;
      return Promise.reject(err).catch(fail);
    }
    return pending.then(
      () => { this.#busy = false; this.#offset += e.data.byteLength; },
      (err) => { this.#busy = false; fail(err); },
    );
  }
}

/** @internal Removes the temp files of every unfinished writer of this process (the CLI's signal handlers). */
export function removeUnfinishedTempFiles(): void {
  native.stRemoveTempFiles();
}
