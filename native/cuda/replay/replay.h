// CPU replays of the CUDA kernels: every thread block's data movement is executed on the host with
// the kernels' own index functions (*_index.h, mma_layout.h) and the PTX-derived warp model
// (warp_model.h) standing in for ldmatrix / mma.sync / mma.sp. A wrong slot, swizzle, fragment
// order or metadata bit shows up as a wrong product against the fp64 reference.
#pragma once
#include <cstdint>

#include "../../formats/sparse_matrix.h"

namespace sk::cuda {

enum class GpuKernel { tiled_csl = 0, bitmap = 1, sp24 = 2 };
const char* gpu_kernel_name(GpuKernel k);  // "tiled-csl", "bitmap", "sp24"
bool gpu_kernel_from_name(const char* name, GpuKernel* out);

struct ReplayOptions {
  GpuKernel kernel = GpuKernel::tiled_csl;
  int split_k = 1;  // clamped to the number of K stages, as the launcher does
  int bn = 0;       // activation tile width 8/16/32/64; 0 = pick_bn(n)
  // Tests only: leave out the kernel's first __syncthreads inside the K loop, to show that the
  // replay's shared-memory race check catches a missing barrier.
  bool omit_barrier = false;
};

// y[N,M] (f32, row-major) = x[N,K] (a.dtype, row-major) times a[M,K] transposed: the kernels'
// nn.Linear orientation. a must be float16/bfloat16 in the kernel's source format (tiled-csl,
// bitmap, or nm 2:4).
Status replay_spmm(const MatrixView& a, const uint16_t* x, int64_t n, const ReplayOptions& opt, float* y);

}  // namespace sk::cuda
