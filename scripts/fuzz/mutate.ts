/**
 * Mutation strategies over a valid safetensors file. Each returns the mutated bytes; most keep the
 * 8-byte length prefix consistent with the (mutated) header so the mutation reaches the layer it
 * aims at. `post-validation` leaves the file alone: worker.ts changes the parts after loading.
 */
import type { Rng } from './rng.js';

export const STRATEGIES = ['truncate', 'header-length', 'header-json', 'header-fields', 'lying-metadata', 'lying-parts', 'bitflip', 'post-validation'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** Integers at and around every limit the reader and the formats have. */
const BOUNDARY = [0, 1, 2, 3, 4, 7, 8, 31, 32, 63, 64, 127, 128, 8191, 8192, 8196, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32,
  2 ** 40, 2 ** 40 + 1, 2 ** 53 - 1, 2 ** 62, -1, -2, -(2 ** 31)];
const INT32_BOUNDARY = [0, 1, -1, 2, 3, 4, 5, 8, 31, 32, 33, 63, 64, 65, 127, 128, 129, 8191, 8192, 8196, 8197, 0x7fffffff, -0x80000000,
  0x1fff0000, 0x20000000, 0xffff0000 | 0, 0x7fff, 0x8000, 1 << 30];

interface Parsed { hlen: number; header: Record<string, unknown>; data: Buffer }

function parse(file: Buffer): Parsed {
  const hlen = Number(file.readBigUInt64LE(0));
  return { hlen, header: JSON.parse(file.subarray(8, 8 + hlen).toString('utf8')), data: file.subarray(8 + hlen) };
}

function assemble(headerText: Buffer | string, data: Buffer): Buffer {
  const h = typeof headerText === 'string' ? Buffer.from(headerText) : headerText;
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

function boundaryNear(r: Rng, around: number[]): number {
  const base = r.pick(around);
  return r.next() < 0.5 ? base : base + r.pick([-1, 1, -4, 4, 8, -8, 64, 128]);
}

/** A replacement for a JSON value: a boundary integer, something else entirely, or a nearby value. */
function jsonJunk(r: Rng, around: number[]): unknown {
  switch (r.int(8)) {
    case 0: return r.pick([null, true, 'x', '', [], {}, 1.5, -0.5, 1e308, '7']);
    case 1: return r.pick(BOUNDARY);
    default: return boundaryNear(r, around.length ? around : BOUNDARY);
  }
}

function truncate(r: Rng, f: Buffer): Buffer {
  const hlen = Number(f.readBigUInt64LE(0));
  const cuts = [0, 1, 7, 8, 9, 8 + hlen - 1, 8 + hlen, 8 + hlen + 1, f.length - 1, f.length - 4, r.int(f.length)];
  return f.subarray(0, Math.max(0, Math.min(f.length - 1, r.pick(cuts))));
}

function headerLength(r: Rng, f: Buffer): Buffer {
  const out = Buffer.from(f);
  const hlen = Number(f.readBigUInt64LE(0));
  const v = r.pick([0n, 1n, 2n, 7n, 8n, BigInt(hlen - 1), BigInt(hlen + 1), BigInt(hlen + 8), BigInt(f.length - 8), BigInt(f.length - 7),
    BigInt(f.length), 100_000_000n, 100_000_001n, 2n ** 32n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, BigInt(r.int(2 ** 31))]);
  out.writeBigUInt64LE(v < 0n ? 0n : v, 0);
  return out;
}

function headerJson(r: Rng, f: Buffer): Buffer {
  const { hlen, data } = parse(f);
  let h = Buffer.from(f.subarray(8, 8 + hlen));
  const special = [...'{}[],:"\\-+.0123456789eE tfn'].map((c) => c.charCodeAt(0)).concat([0, 0x7f, 0xc0, 0xff, 0xe2, 0x80]);
  for (let k = 1 + r.int(4); k > 0 && h.length > 0; k--) {
    const at = r.int(h.length);
    switch (r.int(4)) {
      case 0: h[at] = r.pick(special); break;
      case 1: h = Buffer.concat([h.subarray(0, at), h.subarray(at + 1)]); break;
      case 2: h = Buffer.concat([h.subarray(0, at), Buffer.from([r.pick(special)]), h.subarray(at)]); break;
      default: { const n = 1 + r.int(16); h = Buffer.concat([h.subarray(0, at), h.subarray(at, at + n), h.subarray(at)]); }
    }
  }
  return assemble(h, data);
}

function headerFields(r: Rng, f: Buffer): Buffer {
  const { header, data } = parse(f);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const e = header[r.pick(names)] as Record<string, unknown>;
  const shape = e.shape as unknown[], offs = e.data_offsets as number[];
  switch (r.int(7)) {
    case 0: e.dtype = r.pick(['F32', 'F16', 'BF16', 'I32', 'I8', 'U8', 'F64', 'I64', 'BOOL', 'F4', 'F6_E2M3', 'F8_E4M3', 'C64', 'Q4', '', 7]); break;
    case 1: if (shape.length) shape[r.int(shape.length)] = jsonJunk(r, shape as number[]); break;
    case 2: if (r.next() < 0.5) shape.push(jsonJunk(r, [1, 2])); else shape.pop(); break;
    case 3: offs[r.int(2)] = jsonJunk(r, offs) as number; break;
    case 4: { const d = r.pick([1, 2, 4, 8, -1, -4]); offs[0] += d; offs[1] += d; break; }
    case 5: e[r.pick(['extra', 'dtype', 'shape', 'data_offsets'])] = r.next() < 0.5 ? undefined : jsonJunk(r, []); break;
    default: e.shape = r.pick([[], [2 ** 31, 2 ** 31, 2 ** 31], new Array(33).fill(1), [0, 2 ** 62], [2 ** 53 - 1]]);
  }
  return assemble(JSON.stringify(header), data);
}

function lyingMetadata(r: Rng, f: Buffer): Buffer {
  const { header, data } = parse(f);
  const meta = (header.__metadata__ ?? {}) as Record<string, string>;
  const key = Object.keys(meta).find((k) => k.startsWith('sparsekit:'));
  if (!key) { meta[`sparsekit:${r.pick(Object.keys(header))}`] = '{"format":"csr","version":1,"shape":[1,1],"dtype":"float32"}'; header.__metadata__ = meta; return assemble(JSON.stringify(header), data); }
  const m = JSON.parse(meta[key]!) as Record<string, unknown>;
  const shape = m.shape as number[];
  for (let k = 1 + r.int(2); k > 0; k--)
    switch (r.int(11)) {
      case 0: case 1: shape[r.int(2)] = boundaryNear(r, [...shape, ...BOUNDARY]); break;
      case 2: m.shape = [shape[1], shape[0]]; break;
      case 3: m.format = r.pick(['dense', 'csr', 'bitmap', 'nm', 'tiled-csl', 'coo', 7]); break;
      case 4: m.dtype = r.pick(['float32', 'float16', 'bfloat16', 'int32', 'F32']); break;
      case 5: m.n = r.pick([0, 1, 2, 3, 4, 8, 16, 17, -1, 2.5]); m.m = r.pick([0, 1, 3, 4, 8, 16, 17]); break;
      case 6: m.version = r.pick([0, 1, 2, -1, 1.5, '1']); break;
      // The version 2 fields: quantized values and the SLoRB term, lying about bits, groups and sizes.
      case 7: m.dtype = r.pick(['int4', 'int8', 'uint8']); m.version = 2; break;
      case 8: {
        const q = (typeof m.quant === 'object' && m.quant !== null ? m.quant : { bits: 4, groupSize: 32, symmetric: true }) as Record<string, unknown>;
        const field = r.pick(['bits', 'groupSize', 'symmetric', 'extra']);
        if (field === 'bits') q.bits = r.pick([0, 1, 2, 3, 4, 5, 8, 16, -4, 4.5, '4']);
        else if (field === 'groupSize') q.groupSize = jsonJunk(r, [16, 32, 64, 128, 256, ...shape]);
        else if (field === 'symmetric') q.symmetric = r.pick([true, false, 0, 1, 'true', null]);
        else q[r.pick(['zeroPoint', 'scaleDtype'])] = jsonJunk(r, BOUNDARY);
        m.quant = r.next() < 0.1 ? jsonJunk(r, BOUNDARY) : q;
        break;
      }
      case 9: {
        const sl = (typeof m.slorb === 'object' && m.slorb !== null ? m.slorb : { groupSize: 16, projection: false }) as Record<string, unknown>;
        const u = r.next();
        if (u < 0.4) sl.groupSize = jsonJunk(r, [1, 8, 16, 32, ...shape]);
        else if (u < 0.7) sl.projection = r.pick([true, false, 0, 'yes', null]);
        else sl.rowScales = r.pick([true, false, 1, 'yes', null]);  // int8 scales' row scales claimed or denied
        m.slorb = r.next() < 0.1 ? jsonJunk(r, BOUNDARY) : sl;
        break;
      }
      default: m.shape = r.pick([[2 ** 40, 2 ** 27], [2 ** 38, 2 ** 37], [2 ** 22, 2 ** 40], [2 ** 31 - 1, 2 ** 31 - 1], [0, 0], [1], [1, 2, 3]]);
    }
  meta[key] = r.next() < 0.05 ? '{"format":' : JSON.stringify(m);
  return assemble(JSON.stringify(header), data);
}

function lyingParts(r: Rng, f: Buffer): Buffer {
  const { hlen, header } = parse(f);
  const out = Buffer.from(f);
  const base = 8 + hlen;
  const parts = Object.entries(header).filter(([k]) => k.startsWith('w.')) as [string, { dtype: string; data_offsets: number[] }][];
  if (!parts.length) return bitflip(r, f);
  const [, e] = r.pick(parts);
  const [b, end] = e.data_offsets as [number, number];
  const words = Math.floor((end - b) / 4);
  for (let k = 1 + r.int(3); k > 0; k--) {
    if (words === 0) break;
    const at = base + b + 4 * r.int(words);
    switch (r.int(4)) {
      case 0: out.writeInt32LE(r.pick(INT32_BOUNDARY), at); break;
      case 1: out.writeInt32LE((out.readInt32LE(at) + r.pick([1, -1, 4, -4, 1 << 16])) | 0, at); break;
      case 2: { const o = base + b + 4 * r.int(words); const t = out.readInt32LE(o); out.writeInt32LE(out.readInt32LE(at), o); out.writeInt32LE(t, at); break; }
      default: out[at + r.int(4)] ^= 1 << r.int(8);
    }
  }
  return out;
}

function bitflip(r: Rng, f: Buffer): Buffer {
  const out = Buffer.from(f);
  for (let k = 1 + r.int(8); k > 0; k--) out[r.int(out.length)] ^= 1 << r.int(8);
  return out;
}

export function mutate(s: Strategy, r: Rng, f: Buffer): Buffer {
  switch (s) {
    case 'truncate': return truncate(r, f);
    case 'header-length': return headerLength(r, f);
    case 'header-json': return headerJson(r, f);
    case 'header-fields': return headerFields(r, f);
    case 'lying-metadata': return lyingMetadata(r, f);
    case 'lying-parts': return lyingParts(r, f);
    case 'bitflip': return bitflip(r, f);
    case 'post-validation': return f;
  }
}
