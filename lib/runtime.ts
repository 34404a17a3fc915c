import { ArgumentError } from './errors.js';
import { native } from './native.js';

export type Isa = 'portable' | 'avx2' | 'avx512';

/** Threads the native pool uses for every kernel (default: all cores, or SPARSEKIT_NUM_THREADS). */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 1024) throw new ArgumentError(`setNumThreads: expected an integer in [0, 1024] (0 = default), got ${n}`);
  native.setNumThreads(n);
}

export function getNumThreads(): number {
  return native.getNumThreads();
}

export interface CpuInfo {
  /** The ISA the kernels dispatch to (SPARSEKIT_ISA overrides the best supported one). */
  isa: Isa;
  supportedIsas: Isa[];
  features: Record<string, boolean>;
  /** The x86 vendor and display family (cpuid; 'other' and 0 elsewhere): the cost model's constants depend on them. */
  vendor: 'amd' | 'intel' | 'other';
  family: number;
  threads: number;
}

export function cpuInfo(): CpuInfo {
  const c = native.cpuInfo();
  return { isa: c.isa as Isa, supportedIsas: c.supportedIsas as Isa[], features: c.features, vendor: c.vendor as CpuInfo['vendor'], family: c.family,
    threads: native.getNumThreads() };
}

/** Switches kernel dispatch to `isa` (for tests and comparisons). Returns false if this CPU lacks it. */
export function setIsa(isa: Isa): boolean {
  if (isa !== 'portable' && isa !== 'avx2' && isa !== 'avx512')
    throw new ArgumentError(`setIsa: expected 'portable', 'avx2' or 'avx512', got ${JSON.stringify(isa)}`);
  return native.setIsa(isa);
}
