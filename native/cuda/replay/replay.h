// CPU replays of the CUDA kernels: every thread block's data movement is executed on the host with
// the kernels' own index functions (*_index.h, mma_layout.h) and the PTX-derived warp model
// (warp_model.h) standing in for ldmatrix / mma.sync / mma.sp. A wrong slot, swizzle, fragment
// order or metadata bit shows up as a wrong product against the fp64 reference.
#pragma once
#include <cstdint>

#include "../../formats/sparse_matrix.h"
#include "replay_slorb.h"

namespace sk::cuda {

// sp24: mma.sp m16n8k16; sp24_k32: the same kernel with mma.sp m16n8k32 (SPARSEKIT_SP24_K=32).
// q4_dense / q4_sp24: int4 weights (dense: mma.sync m16n8k16, 2:4: mma.sp m16n8k32; spmm_q4.cu).
enum class GpuKernel { tiled_csl = 0, bitmap = 1, sp24 = 2, sp24_k32 = 3, q4_dense = 4, q4_sp24 = 5 };
const char* gpu_kernel_name(GpuKernel k);  // "tiled-csl", "bitmap", "sp24", "sp24-k32", "q4-dense", "q4-sp24"
bool gpu_kernel_from_name(const char* name, GpuKernel* out);

struct ReplayOptions {
  GpuKernel kernel = GpuKernel::tiled_csl;
  int split_k = 1;  // clamped to the number of K stages, as the launcher does
  int bn = 0;       // activation tile width 8/16/32/64; 0 = pick_bn(n)
  // sp24-k32: the thread pair that supplies metadata (the kernel uses 0; the layout serves both).
  int sp24_selector = 0;
  // The reduction kernel's output rounding (sk::DType f32 / f16 / bf16): y holds the rounded values.
  DType out_dtype = DType::f32;
  // Tests only: leave out the kernel's first __syncthreads inside the K loop, to show that the
  // replay's shared-memory race check catches a missing barrier.
  bool omit_barrier = false;
  // int4 kernels: the activations' dtype (f16 or bf16; the weight's codes serve both), and a
  // deliberately wrong GPU layout (gpu_quant_layouts.h Q4Mutation), for the tests that show it fails.
  DType x_dtype = DType::f16;
  int q4_mutation = 0;
  // The rest of the launcher's sequence (launcher.cu run_nk): SLoRB's term added to split 0's
  // partial after the kernel (replay_slorb.h), then the reduction adds the bias ([M], bias_dtype)
  // in fp32 before the one rounding.
  SlorbReplay slorb;
  const void* bias = nullptr;
  DType bias_dtype = DType::f32;
};

// y[N,M] (f32, row-major) = x[N,K] (a.dtype, row-major) times a[M,K] transposed: the kernels'
// nn.Linear orientation. a must be float16/bfloat16 in the kernel's source format (tiled-csl,
// bitmap, or nm 2:4), or int4 dense / nm 2:4 for the q4 kernels (x then has opt.x_dtype). With out_dtype f16/bf16 each output is rounded once (RNE) as the reduction
// kernel does, and stored widened to f32.
Status replay_spmm(const MatrixView& a, const uint16_t* x, int64_t n, const ReplayOptions& opt, float* y);

}  // namespace sk::cuda
