/**
 * The one place the host types (Tensor, SparseMatrix) reach the GPU: the CUDA add-on (lib/cuda.ts)
 * installs these hooks when it is loaded (lib/index.ts imports it), so the host types never import
 * GPU code and the dependency runs one way: cuda.ts -> sparse-matrix.ts -> tensor.ts.
 */
import type { WeightStats } from './cost-model.js';
import { DeviceError } from './errors.js';

export interface DeviceHooks {
  /** Tensor.to('cuda[:i]'). */
  tensorTo(t: object, device: string, options: { dtype?: string }): Promise<unknown>;
  /** SparseMatrix.to('cuda[:i]'), with the GPU's own repack rule for `format`. */
  matrixTo(m: object, device: string, options: { format?: string; expectedN?: number }): Promise<unknown>;
  /** fromDense({ format: 'auto', device: 'cuda' }): the GPU cost model's choice. */
  chooseFormat(stats: WeightStats, expectedN: number): { format: string; n?: number; m?: number };
}

let hooks: DeviceHooks | null = null;

/** @internal Called once by lib/cuda.ts. */
export function installDeviceHooks(h: DeviceHooks): void {
  hooks = h;
}

/** @internal The installed hooks; ERR_DEVICE when the CUDA add-on was not loaded. */
export function deviceHooks(what: string): DeviceHooks {
  if (!hooks) throw new DeviceError(`${what}: the CUDA add-on (lib/cuda.ts) is not loaded; import 'sparsekit' rather than a deep path`);
  return hooks;
}
