/**
 * safetensors files: `loadSafetensors` maps a file and validates its header (natively) without
 * reading any tensor; `get(name)` then returns a Tensor over the mapped bytes (no copy) or a
 * SparseMatrix rebuilt from its parts. `saveSafetensors` streams values to a temp file and
 * renames it into place.
 */
import { describe, viewAs, type DType } from './dtype.js';
import { ArgumentError, DTypeError, DisposedError, FormatError, fromNativeError } from './errors.js';
import { native, type PartName, type StEntry, type StOpened } from './native.js';
import { fmtShape } from './shape.js';
import {
  SPARSE_META_PREFIX, fromStDType, parseSparseMeta, partTensorName, slorbTensorNames, sparseParts, stAlignment, type SparseDiskInfo,
} from './safetensors-format.js';
import { SafetensorsWriter, type RawTensor, type SaveValue } from './safetensors-writer.js';
import { checkSlorb } from './slorb.js';
import { SparseMatrix } from './sparse-matrix.js';
import { Tensor } from './tensor.js';

export { SafetensorsWriter, type RawTensor, type SaveValue, type WriterOptions } from './safetensors-writer.js';

/** A stored tensor as the header describes it. `dtype` is the safetensors name ('F32', 'BF16', 'F64', ...). */
export interface TensorEntryInfo {
  kind: 'tensor';
  name: string;
  dtype: string;
  /** The sparsekit dtype, or undefined when sparsekit cannot compute with this dtype (get() refuses it; getRaw() works). */
  sparsekitDtype: DType | undefined;
  shape: number[];
  byteLength: number;
}

/** A packed SparseMatrix stored as several part tensors. */
export interface SparseEntryInfo extends SparseDiskInfo {
  kind: 'sparse';
  name: string;
  /** Part tensor names on disk, e.g. `w.rowPtr`, `w.masks`, `w.values`. */
  partTensors: string[];
  byteLength: number;
}

export type EntryInfo = TensorEntryInfo | SparseEntryInfo;

/** A file opened by loadSafetensors. Dispose it when done; tensors already handed out stay valid. */
export class SafetensorsFile {
  readonly path: string;
  /** The header's `__metadata__`, every key included (sparse-matrix descriptions too). */
  readonly metadata: Readonly<Record<string, string>>;
  readonly fileSize: number;
  /** Logical entries in file order: plain tensors and sparse matrices (their part tensors hidden). */
  readonly names: readonly string[];
  /** Every tensor stored in the file, part tensors included. */
  readonly tensorNames: readonly string[];
  #handle: object | null;
  readonly #entries: Map<string, { index: number; entry: StEntry }>;
  readonly #sparse: Map<string, SparseEntryInfo>;
  readonly #dataOffset: number;

  /** @internal use loadSafetensors */
  constructor(path: string, opened: StOpened) {
    this.path = path;
    this.#handle = opened.handle;
    this.metadata = Object.freeze({ ...opened.metadata });
    this.fileSize = opened.fileSize;
    this.#dataOffset = opened.dataOffset;
    this.#entries = new Map(opened.tensors.map((entry, index) => [entry.name, { index, entry }]));
    this.tensorNames = Object.freeze(opened.tensors.map((t) => t.name));
    this.#sparse = new Map();
    const claimed = new Set<string>();
    for (const [key, value] of Object.entries(opened.metadata)) {
      if (!key.startsWith(SPARSE_META_PREFIX)) continue;
      const name = key.slice(SPARSE_META_PREFIX.length);
      const info = parseSparseMeta(name, value);
      const partTensors: string[] = [];
      let byteLength = 0;
      for (const { part, dtype: want } of sparseParts(info)) {
        const tn = partTensorName(name, part);
        const e = this.#entries.get(tn)?.entry;
        if (!e) throw new FormatError(`'${path}': sparse matrix '${name}' (${info.format}) is missing its part tensor '${tn}'`);
        if (fromStDType(e.dtype) !== want || e.shape.length !== 1)
          throw new FormatError(`'${path}': part tensor '${tn}' must be 1-D ${want}, got ${e.dtype} ${fmtShape(e.shape)}`);
        if (claimed.has(tn)) throw new FormatError(`'${path}': tensor '${tn}' is claimed by two sparse matrices`);
        claimed.add(tn);
        partTensors.push(tn);
        byteLength += e.end - e.begin;
      }
      if (info.slorb) {
        const names = slorbTensorNames(name);
        for (const tn of [names.scales, ...(info.slorb.projection ? [names.projection] : []), ...(info.slorb.rowScales ? [names.rowScales] : [])]) {
          const e = this.#entries.get(tn)?.entry;
          if (!e) throw new FormatError(`'${path}': sparse matrix '${name}' has an SLoRB term but no tensor '${tn}'`);
          if (claimed.has(tn)) throw new FormatError(`'${path}': tensor '${tn}' is claimed by two sparse matrices`);
          claimed.add(tn);
          partTensors.push(tn);
          byteLength += e.end - e.begin;
        }
      }
      if (this.#entries.has(name)) throw new FormatError(`'${path}': '${name}' is both a tensor and a sparse matrix`);
      this.#sparse.set(name, { kind: 'sparse', name, ...info, partTensors, byteLength });
    }
    const names: string[] = [];
    const firstPart = new Map([...this.#sparse.values()].map((s) => [s.partTensors[0]!, s.name]));
    for (const t of opened.tensors) {
      if (!claimed.has(t.name)) names.push(t.name);
      else if (firstPart.has(t.name)) names.push(firstPart.get(t.name)!);
    }
    this.names = Object.freeze(names);
  }

  get disposed(): boolean { return this.#handle === null; }

  has(name: string): boolean {
    return this.#sparse.has(name) || (this.#entries.has(name) && !this.isPart(name));
  }

  info(name: string): EntryInfo {
    const s = this.#sparse.get(name);
    if (s) return { ...s, shape: [...s.shape] as [number, number], partTensors: [...s.partTensors] };
    const e = this.#entries.get(name)?.entry;
    if (!e) throw this.unknown(name);
    return { kind: 'tensor', name, dtype: e.dtype, sparsekitDtype: fromStDType(e.dtype), shape: [...e.shape], byteLength: e.end - e.begin };
  }

  /** A Tensor over the file's bytes (zero-copy when aligned) or, for a packed matrix, a validated SparseMatrix. */
  get(name: string): Tensor | SparseMatrix {
    const s = this.#sparse.get(name);
    if (s) return this.getSparse(s);
    return this.getTensor(name);
  }

  /** A stored tensor by its on-disk name (part tensors of sparse matrices included). */
  getTensor(name: string): Tensor {
    const { entry } = this.lookup(name);
    const dtype = fromStDType(entry.dtype);
    if (dtype === undefined)
      throw new DTypeError(`'${this.path}': tensor '${name}' has dtype ${entry.dtype}, which sparsekit cannot compute with ` +
                           `(supported: F32, F16, BF16, I8, U8, I32); getRaw('${name}') returns its bytes`);
    return Tensor.from(viewAs(dtype, this.bytes(name)), entry.shape, { dtype });
  }

  /** Any stored tensor's bytes, whatever its dtype (for passing tensors through unchanged). */
  getRaw(name: string): RawTensor {
    const { entry } = this.lookup(name);
    return { dtype: entry.dtype, shape: [...entry.shape], data: new Uint8Array(this.bytes(name)) };
  }

  /**
   * Returns the memory pages of `name` (a tensor, or every part of a packed matrix) to the OS once
   * you are done with it, so streaming over a file larger than RAM keeps resident memory flat.
   * Views of it stay valid: they read the file again if touched (in-place edits are lost).
   */
  release(name: string): void {
    const s = this.#sparse.get(name);
    for (const t of s ? s.partTensors : [name]) {
      const { index } = this.lookup(t);  // ERR_DISPOSED or unknown name first
      native.stRelease(this.#handle!, index);
    }
  }

  /** Drops the file's mapping reference; tensors already returned keep it alive until collected. Idempotent. */
  dispose(): void {
    if (this.#handle) native.stClose(this.#handle);
    this.#handle = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `SafetensorsFile(${this.path}, ${this.names.length} entries${this.disposed ? ', disposed' : ''})`;
  }

  private isPart(name: string): boolean {
    for (const s of this.#sparse.values()) if (s.partTensors.includes(name)) return true;
    return false;
  }

  private unknown(name: string): ArgumentError {
    const near = this.names.filter((n) => n.includes(name) || name.includes(n)).slice(0, 3);
    return new ArgumentError(`'${this.path}' has no tensor '${name}'${near.length ? ` (did you mean ${near.map((n) => `'${n}'`).join(', ')}?)` : ''}`);
  }

  private lookup(name: string): { index: number; entry: StEntry } {
    if (typeof name !== 'string') throw new ArgumentError(`name: expected a string, got ${describe(name)}`);
    if (this.#handle === null) throw new DisposedError(`${this} was disposed`);
    const found = this.#entries.get(name);
    if (!found) throw this.unknown(name);
    return found;
  }

  /** The tensor's bytes: a view of the mapping, or a copy when its file offset is not aligned for its dtype. */
  private bytes(name: string): ArrayBuffer {
    const { index, entry } = this.lookup(name);
    let buf: ArrayBuffer;
    try {
      buf = native.stTensor(this.#handle!, index);
    } catch (e) {
      throw fromNativeError(e, `'${this.path}': ${name}`);
    }
    return (this.#dataOffset + entry.begin) % stAlignment(entry.dtype) === 0 ? buf : buf.slice(0);
  }

  private getSparse(s: SparseEntryInfo): SparseMatrix {
    const parts: Partial<Record<PartName, number>> = {};
    for (const { part } of sparseParts(s)) parts[part] = this.lookup(partTensorName(s.name, part)).index;
    try {
      // parseSparseMeta checked the shape against the limits; n:m and every part are checked
      // natively on a copy taken straight from the mapping (no JS view of it is made).
      const q = s.quant && { bits: s.quant.bits, groupSize: s.quant.groupSize, symmetric: s.quant.symmetric };
      const stored = native.stMatrix(this.#handle!, {
        format: s.format, dtype: q ? 'uint8' : (s.dtype as DType), rows: s.shape[0], cols: s.shape[1], n: s.n, m: s.m, parts, ...(q ? { quant: q } : {}),
      });
      // The SLoRB tensors are copied too (small: rows x cols/k): a view of the mapping would change
      // with the file after get(), and would be checked on other bytes than those used.
      const names = slorbTensorNames(s.name);
      const slorb = s.slorb && checkSlorb({
        groupSize: s.slorb.groupSize, scales: this.getTensor(names.scales).clone(),
        ...(s.slorb.projection ? { projection: this.getTensor(names.projection).clone() } : {}),
        ...(s.slorb.rowScales ? { rowScales: this.getTensor(names.rowScales).clone() } : {}),
      }, s.shape[0], s.shape[1], 'slorb');
      return SparseMatrix._fromPacked(s.format, s.shape, s.dtype, s.n, s.m, stored, s.quant, slorb);
    } catch (e) {
      const err = fromNativeError(e);
      throw new FormatError(`'${this.path}': sparse matrix '${s.name}' (${s.format} ${fmtShape(s.shape)}): ${err.message}`);
    }
  }
}

export interface LoadSafetensorsFn {
  /** Maps `path` and validates its header off the event loop; no tensor data is read. */
  (path: string): Promise<SafetensorsFile>;
  sync(path: string): SafetensorsFile;
}

function checkPath(path: unknown, what = 'path'): string {
  if (typeof path !== 'string' || path.length === 0) throw new ArgumentError(`${what}: expected a non-empty string, got ${describe(path)}`);
  return path;
}

export const loadSafetensors: LoadSafetensorsFn = Object.assign(
  async (path: string) => {
    checkPath(path);
    let opened: StOpened;
    try {
      opened = await native.stOpenAsync(path);
    } catch (e) {
      throw fromNativeError(e);
    }
    return wrap(path, opened);
  },
  {
    sync: (path: string) => {
      checkPath(path);
      let opened: StOpened;
      try {
        opened = native.stOpen(path);
      } catch (e) {
        throw fromNativeError(e);
      }
      return wrap(path, opened);
    },
  },
);

function wrap(path: string, opened: StOpened): SafetensorsFile {
  try {
    return new SafetensorsFile(path, opened);
  } catch (e) {
    native.stClose(opened.handle);  // a file refused here releases its mapping now, not at GC
    throw e;
  }
}

export interface SaveSafetensorsFn {
  /**
   * Writes `tensors` to `path` atomically (temp file + rename), one tensor at a time straight from
   * its memory. SparseMatrix values are stored packed (never densified); see docs/formats.md.
   */
  (path: string, tensors: Record<string, SaveValue>, metadata?: Record<string, string>): Promise<void>;
  sync(path: string, tensors: Record<string, SaveValue>, metadata?: Record<string, string>): void;
}

function checkRecord(tensors: unknown): Record<string, SaveValue> {
  if (typeof tensors !== 'object' || tensors === null || Array.isArray(tensors))
    throw new ArgumentError(`tensors: expected an object of name -> Tensor | SparseMatrix, got ${describe(tensors)}`);
  return tensors as Record<string, SaveValue>;
}

export const saveSafetensors: SaveSafetensorsFn = Object.assign(
  async (path: string, tensors: Record<string, SaveValue>, metadata: Record<string, string> = {}) => {
    checkPath(path);
    const entries = Object.entries(checkRecord(tensors));
    const w = SafetensorsWriter.create(path, { reserve: SafetensorsWriter.estimateHeader(entries, metadata) });
    try {
      for (const [name, v] of sortForAlignment(entries)) await w.add(name, v);
      await w.finish(metadata);
    } catch (e) {
      w.abort();
      throw e;
    }
  },
  {
    sync: (path: string, tensors: Record<string, SaveValue>, metadata: Record<string, string> = {}) => {
      checkPath(path);
      const entries = Object.entries(checkRecord(tensors));
      const w = SafetensorsWriter.create(path, { reserve: SafetensorsWriter.estimateHeader(entries, metadata) });
      try {
        for (const [name, v] of sortForAlignment(entries)) w.addSync(name, v);
        w.finishSync(metadata);
      } catch (e) {
        w.abort();
        throw e;
      }
    },
  },
);

/** Widest elements first (as the reference writer does), so every tensor lands aligned. */
function sortForAlignment(entries: [string, SaveValue][]): [string, SaveValue][] {
  const width = (v: SaveValue) => (v instanceof Tensor ? v.toTypedArray().BYTES_PER_ELEMENT : v instanceof SparseMatrix ? 4 : stAlignment((v as RawTensor).dtype));
  return entries.map((e, i) => ({ e, w: width(e[1]), i })).sort((a, b) => b.w - a.w || a.i - b.i).map((x) => x.e);
}

