// The benchmark probes (native/cpu/probes.cpp): what they accept and that they measure something.
// Speeds are not checked (a test must not time the machine); only that a probe that reads returns
// a positive, finite rate, and one that reads nothing returns 0.
import { describe, expect, it } from 'vitest';
import { cpuInfo, setIsa } from '../lib/index.js';
import { native } from '../lib/native.js';

// The binding's own error (the probes are internal: lib/ wraps no call of theirs), with its code.
function nativeError(f: () => unknown): Error & { code?: string } {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(Error);
    return e as Error & { code?: string };
  }
  throw new Error('expected an error');
}

describe('probes', () => {
  it('measure positive, finite rates', () => {
    for (const v of [native.probeReadBandwidth(1 << 20, 1), native.probeFmaPeak(1000, 1)]) {
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeGreaterThan(0);
    }
    const bf16 = native.probeBf16DotPeak(1000, 1);
    expect(bf16 >= 0 && Number.isFinite(bf16)).toBe(true);
  });

  it('probeReadBuffers reads the caller\'s buffers, whatever their view, and writes nothing', () => {
    const a = new Float32Array(1 << 18).fill(1.5);
    const b = new Uint16Array(1 << 18).fill(7);
    const c = new ArrayBuffer(1 << 20);
    const v = native.probeReadBuffers([a, b.subarray(1), c], 2);  // subarray(1): a start 2 bytes past any alignment
    expect(Number.isFinite(v)).toBe(true);
    expect(v).toBeGreaterThan(0);
    expect(a.every((x) => x === 1.5)).toBe(true);
    expect(b.every((x) => x === 7)).toBe(true);
  });

  it('every ISA\'s reader reads (the probes follow setIsa)', () => {
    const start = cpuInfo().isa;
    const a = new Float32Array(1 << 18).fill(2);
    try {
      for (const isa of cpuInfo().supportedIsas) {
        setIsa(isa);
        for (const v of [native.probeReadBuffers([a], 1), native.probeReadBandwidth(1 << 20, 1)]) {
          expect(Number.isFinite(v)).toBe(true);
          expect(v).toBeGreaterThan(0);
        }
      }
    } finally {
      setIsa(start);
    }
  });

  it('probeReadBuffers returns 0 when there is nothing to read', () => {
    expect(native.probeReadBuffers([], 1)).toBe(0);
    // Less than one 64-float block per thread after the first 64-byte boundary.
    expect(native.probeReadBuffers([new Uint8Array(200), new ArrayBuffer(64)], 3)).toBe(0);
    // Shorter than the distance to the first 64-byte boundary (a size computed without that check
    // wraps around and the reader runs off the buffer).
    expect(native.probeReadBuffers([new Uint8Array(16).subarray(1), new Uint8Array(4).subarray(3)], 1)).toBe(0);
  });

  it('rejects what is not a list of buffers, and reps out of range, naming the argument', () => {
    const notArray = nativeError(() => native.probeReadBuffers({} as unknown as ArrayBuffer[], 1));
    expect(notArray.code).toBe('ERR_ARGUMENT');
    expect(notArray.message).toMatch(/buffers/);
    const second = nativeError(() => native.probeReadBuffers([new ArrayBuffer(8), 'x' as unknown as ArrayBuffer], 1));
    expect(second.code).toBe('ERR_ARGUMENT');
    expect(second.message).toMatch(/buffers\[1\]/);
    for (const reps of [0, 1001, Number.NaN]) {
      const e = nativeError(() => native.probeReadBuffers([new ArrayBuffer(8)], reps));
      expect(e.code).toBe('ERR_ARGUMENT');
      expect(e.message).toMatch(/argument 1/);
    }
    expect(nativeError(() => native.probeReadBandwidth((1 << 20) - 1, 1)).code).toBe('ERR_ARGUMENT');
  });
});
