/**
 * Token input for whole models: token-id files (safetensors int32, or a plain little-endian int32
 * binary) and text through the checkpoint's tokenizer.json (@huggingface/tokenizers).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError, FormatError, IOError } from '../errors.js';
import { loadSafetensors } from '../safetensors.js';

export interface TokenFile {
  ids: Int32Array;
  /** [samples, seqLen] when the file holds a 2-D tensor, else [n]. */
  shape: number[];
}

/**
 * Reads token ids. A `.safetensors` file holds one int32 tensor (or one named `tokens` /
 * `input_ids`), 1-D or [samples, seqLen]; any other file is raw little-endian int32.
 */
export async function readTokenFile(path: string): Promise<TokenFile> {
  if (path.endsWith('.safetensors')) {
    using f = await loadSafetensors(path);
    const name = ['tokens', 'input_ids'].find((n) => f.has(n)) ?? (f.names.length === 1 ? f.names[0] : undefined);
    if (!name) throw new FormatError(`${path}: expected one int32 tensor (or one named 'tokens' or 'input_ids'), found ${f.names.length}`);
    const t = f.get(name);
    if (!('toTypedArray' in t) || t.dtype !== 'int32' || t.ndim < 1 || t.ndim > 2)
      throw new FormatError(`${path}: '${name}' must be a 1-D or 2-D int32 tensor, got ${String(t)}`);
    return { ids: Int32Array.from(t.toTypedArray() as Int32Array), shape: [...t.shape] };
  }
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new IOError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (buf.byteLength % 4 !== 0) throw new FormatError(`${path}: ${buf.byteLength} bytes is not a whole number of int32 token ids`);
  const ids = new Int32Array(buf.byteLength / 4);
  new Uint8Array(ids.buffer).set(buf);
  return { ids, shape: [ids.length] };
}

export interface TextTokenizer {
  encode(text: string): Int32Array;
  decode(ids: ArrayLike<number>): string;
}

/** The tokenizer of a checkpoint folder (tokenizer.json, tokenizer_config.json if present); ERR_IO if it has none. */
export async function loadTokenizer(dir: string): Promise<TextTokenizer> {
  const path = join(dir, 'tokenizer.json');
  if (!existsSync(path)) throw new IOError(`${dir}: no tokenizer.json; pass token ids instead (--tokens)`);
  const json = (p: string) => {
    try {
      return JSON.parse(readFileSync(p, 'utf8')) as object;
    } catch (e) {
      throw new FormatError(`${p}: not valid JSON (${(e as Error).message})`);
    }
  };
  const cfgPath = join(dir, 'tokenizer_config.json');
  const { Tokenizer } = await import('@huggingface/tokenizers');
  let tok: InstanceType<typeof Tokenizer>;
  try {
    tok = new Tokenizer(json(path), existsSync(cfgPath) ? json(cfgPath) : {});
  } catch (e) {
    throw new FormatError(`${path}: the tokenizer could not be built (${(e as Error).message})`);
  }
  return {
    encode(text: string) {
      if (typeof text !== 'string') throw new ArgumentError('text: expected a string');
      return Int32Array.from(tok.encode(text, { add_special_tokens: false }).ids);
    },
    decode(ids: ArrayLike<number>) {
      return tok.decode(Array.from(ids));
    },
  };
}

/**
 * `samples` windows of `seqLen` tokens for calibration: the rows of a 2-D token file as they are,
 * or, from a 1-D stream, windows at random offsets (seeded), as the reference scripts sample C4.
 */
export function calibrationWindows(file: TokenFile, samples: number, seqLen: number, seed = 0): Int32Array[] {
  if (file.shape.length === 2) {
    const [n, t] = file.shape as [number, number];
    if (t < seqLen) throw new ArgumentError(`calibration rows have ${t} tokens, fewer than seqLen ${seqLen}`);
    return Array.from({ length: Math.min(n, samples) }, (_, i) => file.ids.slice(i * t, i * t + seqLen));
  }
  if (file.ids.length < seqLen) throw new ArgumentError(`calibration text has ${file.ids.length} tokens, fewer than seqLen ${seqLen}`);
  let s = (seed >>> 0) || 0x9e3779b9;
  const next = () => {  // xorshift32: reproducible offsets without a dependency
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
  const span = file.ids.length - seqLen + 1;
  return Array.from({ length: samples }, () => {
    const o = next() % span;
    return file.ids.slice(o, o + seqLen);
  });
}

/** Token ids from `path`: a token file (.safetensors, .bin, .tokens) or text encoded with `dir`'s tokenizer. */
export async function readTokensOrText(path: string, dir: string, kind: 'auto' | 'text' | 'tokens' = 'auto'): Promise<TokenFile> {
  const isTokens = kind === 'tokens' || (kind === 'auto' && /\.(safetensors|bin|tokens)$/i.test(path));
  if (isTokens) return readTokenFile(path);
  const tok = await loadTokenizer(dir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new IOError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const ids = tok.encode(text);
  return { ids, shape: [ids.length] };
}
