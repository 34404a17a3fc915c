// Host entry points of the SpMM kernels (nvcc-compiled; api.cu calls them).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace sk::cuda {

struct LaunchArgs {
  const uint16_t* x;  // [N, K] activations, same 16-bit type as the weights
  int64_t M, K, N;
  float* part;        // [splits][N][M] partial products (or y itself when splits == 1 and y is f32)
  int splits;
  bool bf16;
  bool aligned;       // K % 8 == 0 and x 16-byte aligned: activation tiles move with cp.async
  int bn;             // 8, 16, 32 or 64
  cudaStream_t stream;
  bool sp24_k32 = false;  // 2:4 only: mma.sp m16n8k32 instead of m16n8k16
};

cudaError_t launch_tiled_csl(const uint32_t* words, const int32_t* tile_offsets, const LaunchArgs& a);
cudaError_t launch_bitmap(const uint64_t* masks, const int32_t* offsets, const uint16_t* values, int64_t row_blocks,
                          int64_t kblocks, const LaunchArgs& a);
cudaError_t launch_sp24(const uint32_t* values, const uint32_t* meta, int64_t row_blocks, int64_t ksteps, const LaunchArgs& a);
// An int4 weight in the layouts of q4_index.h (dense: mma.sync, sp24: 2:4 on mma.sp); x is f16 or
// bf16 as LaunchArgs::bf16 says, whatever the weight.
struct Q4Launch {
  const uint32_t* codes;
  const uint32_t* meta;    // sp24 only
  const uint32_t* scales;
  const uint32_t* zeros;   // null when symmetric
  int64_t row_blocks, groups;
  int group;
  bool sp24;
};
cudaError_t launch_q4(const Q4Launch& w, const LaunchArgs& a);
// y[N, M] (out_dtype: sk::DType f32/f16/bf16) = bias[m] + sum over splits of part, rounded once;
// bias ([M], bias_dtype) may be null.
cudaError_t launch_reduce(const float* part, int splits, int64_t count, int out_dtype, void* y, cudaStream_t stream,
                          const void* bias = nullptr, int bias_dtype = 0, int64_t M = 1);
// dst [cols, rows] = transpose of src [rows, cols], elements of 2 or 4 bytes (rows < 2^21).
cudaError_t launch_transpose(const void* src, int64_t rows, int64_t cols, int elem_bytes, void* dst, cudaStream_t stream);

// Whether the current device can load this library's kernels (cudaFuncGetAttributes on one of
// them: cudaErrorNoKernelImageForDevice / cudaErrorInvalidDeviceFunction when no image fits).
cudaError_t probe_kernel_image();

// Instantiates `fn<BN>(args...)` for the runtime activation tile width.
#define SK_CUDA_DISPATCH_BN(bn, fn, ...)                  \
  switch (bn) {                                           \
    case 8: return fn<8>(__VA_ARGS__);                    \
    case 16: return fn<16>(__VA_ARGS__);                  \
    case 32: return fn<32>(__VA_ARGS__);                  \
    case 64: return fn<64>(__VA_ARGS__);                  \
    default: return cudaErrorInvalidValue;                \
  }

}  // namespace sk::cuda
