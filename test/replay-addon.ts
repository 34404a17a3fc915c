// The test-only addon (binding.gyp's sparsekit_test target: the binding plus the CPU replay of the
// CUDA kernels). It is built in every source checkout; a missing one is an error, not a skip.
import { loadAddon } from '../lib/addon-loader.js';
import { packageRoot, type MatrixDesc } from '../lib/native.js';

export interface ReplayAddon {
  /** CPU replay of a CUDA kernel: y [n, rows] float32 = x [n, cols] (16-bit) times the matrix transposed. */
  cudaReplay(m: MatrixDesc, x: Uint16Array, n: number, kernel: 'tiled-csl' | 'bitmap' | 'sp24' | 'sp24-k32' | 'q4-dense' | 'q4-sp24',
    splitK: number, bn: number, outDtype?: 'float32' | 'float16' | 'bfloat16',
    /** int4 kernels: the activations' dtype; mutation: a deliberately wrong GPU layout (tests only). */
    options?: { xDtype?: 'float16' | 'bfloat16' | 'float32'; mutation?: number;
      /** The launcher's epilogue: the weight's SLoRB term (lib/slorb.ts slorbTermArgs) and a bias [M]. */
      slorb?: object | null; bias?: ArrayBufferView; biasDtype?: 'float32' | 'float16' | 'bfloat16' }): Float32Array;
}

export const replayAddon: ReplayAddon = loadAddon<ReplayAddon>(packageRoot(), 'sparsekit_test');
