/** A small deterministic generator (splitmix64 over BigInt-free 32-bit halves is overkill here: mulberry32). */
export class Rng {
  #s: number;
  constructor(seed: number) { this.#s = (seed >>> 0) ^ 0x9e3779b9; }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number { return Math.floor(this.next() * n); }
  pick<T>(a: readonly T[]): T { return a[this.int(a.length)]!; }
}

/** The seed of case `i` of strategy `s` under base seed `base`. */
export function caseSeed(base: number, s: number, i: number): number {
  return (Math.imul(base ^ 0x85ebca6b, 0x01000193) ^ Math.imul(s + 1, 0x27d4eb2f) ^ Math.imul(i + 1, 0x165667b1)) >>> 0;
}
