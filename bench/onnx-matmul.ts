// The peer in the CPU benchmark: onnxruntime-node's MatMul Y[N, M] = X[N, K] · Wt[K, M], float32,
// with Wt a constant initializer (so ORT may pre-pack it, as it would in a real model). The model
// is a few protobuf fields written by hand: no onnx tooling is needed.

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

type Part = number[] | Uint8Array;
const enc = new TextEncoder();

function bytesField(field: number, payload: Part | string): Part[] {
  const p = typeof payload === 'string' ? enc.encode(payload) : payload;
  return [[...varint((field << 3) | 2), ...varint(p.length)], p];
}
const intField = (field: number, v: number): Part[] => [[...varint(field << 3), ...varint(v)]];

function concat(parts: Part[]): Uint8Array {
  const len = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
const msg = (...fields: Part[][]) => concat(fields.flat());

// ValueInfoProto { name, type: TypeProto { tensor_type { elem_type: FLOAT, shape { dim... } } } }
function valueInfo(name: string, dims: (number | string)[]): Uint8Array {
  const shape = msg(...dims.map((d) => bytesField(1, typeof d === 'number' ? msg(intField(1, d)) : msg(bytesField(2, d)))));
  return msg(bytesField(1, name), bytesField(2, msg(bytesField(1, msg(intField(1, 1), bytesField(2, shape))))));
}

/** ModelProto bytes for Y = X · Wt with X [N, K] (N symbolic) and Wt [K, M] given row-major. */
export function matmulModel(wt: Float32Array, K: number, M: number): Uint8Array {
  const raw = new Uint8Array(wt.buffer, wt.byteOffset, wt.byteLength);
  const tensor = msg(intField(1, K), intField(1, M), intField(2, 1), bytesField(8, 'W'), bytesField(9, raw));
  const node = msg(bytesField(1, 'X'), bytesField(1, 'W'), bytesField(2, 'Y'), bytesField(4, 'MatMul'));
  const graph = msg(bytesField(1, node), bytesField(2, 'g'), bytesField(5, tensor), bytesField(11, valueInfo('X', ['N', K])),
    bytesField(12, valueInfo('Y', ['N', M])));
  return msg(intField(1, 8), bytesField(7, graph), bytesField(8, msg(bytesField(1, ''), intField(2, 13))));
}
