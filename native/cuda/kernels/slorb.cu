// SLoRB's term on the GPU (index math in slorb_index.h, replayed on the CPU by
// native/test/slorb_replay_test.cpp): g = P·x by group sums, then part[t][r] += rowScale[r] ·
// S[r]·g[t] into the launcher's fp32 partial, before launch_reduce rounds it once. Not wired
// into the launcher yet (docs/adapters.md, GPU).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "slorb_index.h"
#include "slorb_kernels.h"

namespace sk::cuda {

namespace {

__device__ __forceinline__ float val(const float* p, int64_t e) { return p[e]; }
__device__ __forceinline__ float val(const __half* p, int64_t e) { return __half2float(p[e]); }
__device__ __forceinline__ float val(const __nv_bfloat16* p, int64_t e) { return __bfloat162float(p[e]); }
__device__ __forceinline__ float val(const int8_t* p, int64_t e) { return float(p[e]); }

template <class X>
__global__ void group_sums_kernel(const X* __restrict__ x, int64_t N, int64_t K, int64_t k, float* __restrict__ g) {
  const int64_t G = K / k;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < N * G; idx += int64_t(gridDim.x) * blockDim.x) {
    int64_t t, i;
    slorb_gsum_cell(idx, G, &t, &i);
    g[idx] = slorb_group_sum([&](int64_t e) { return val(x, e); }, t, i, K, k);
  }
}

template <class S, class RS>
__global__ void add_kernel(const S* __restrict__ s, const RS* __restrict__ row_scales, const float* __restrict__ g, int64_t M,
                           int64_t G, int64_t N, float* __restrict__ part) {
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  for (int64_t block = blockIdx.x;; block += gridDim.x) {
    const int64_t r = slorb_add_row(block, warp);
    if (block * kSlorbWarps >= M) return;
    if (r >= M) continue;  // (no barrier in the loop: a warp past the end just waits for the next block)
    const float rs = row_scales ? val(row_scales, r) : 1.f;
    for (int64_t t = 0; t < N; ++t) {
      float acc = slorb_lane_partial([&](int64_t e) { return val(s, e); }, [&](int64_t e) { return g[e]; }, r, t, G, lane);
#pragma unroll
      for (int step = 0; step < kSlorbButterflySteps; ++step) acc += __shfl_xor_sync(0xffffffffu, acc, slorb_butterfly_offset(step));
      if (lane == 0) part[slorb_part_index(t, r, M)] += rs * acc;
    }
  }
}

unsigned grid_for(int64_t items, int per_block) {
  const int64_t blocks = (items + per_block - 1) / per_block;
  return unsigned(blocks < 65535 ? blocks : 65535);
}

template <class S, class RS>
cudaError_t run_add(const void* s, const void* rs, const float* g, int64_t M, int64_t G, int64_t N, float* part, cudaStream_t st) {
  add_kernel<S, RS><<<unsigned(slorb_add_grid(M, 65535)), kSlorbAddThreads, 0, st>>>(static_cast<const S*>(s), static_cast<const RS*>(rs), g,
                                                                           M, G, N, part);
  return cudaGetLastError();
}

template <class S>
cudaError_t run_add_rs(const void* s, const void* rs, int rs_dtype, const float* g, int64_t M, int64_t G, int64_t N, float* part,
                       cudaStream_t st) {
  switch (rs_dtype) {  // sk::DType: f32 = 0, f16 = 1, bf16 = 2
    case 0: return run_add<S, float>(s, rs, g, M, G, N, part, st);
    case 1: return run_add<S, __half>(s, rs, g, M, G, N, part, st);
    case 2: return run_add<S, __nv_bfloat16>(s, rs, g, M, G, N, part, st);
  }
  return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t launch_slorb_group_sums(const void* x, int x_dtype, int64_t N, int64_t K, int64_t k, float* g, cudaStream_t stream) {
  if (N == 0 || K == 0) return cudaSuccess;
  if (k < 1 || K % k != 0) return cudaErrorInvalidValue;
  const unsigned grid = grid_for(N * (K / k), kSlorbSumThreads);
  switch (x_dtype) {
    case 0: group_sums_kernel<float><<<grid, kSlorbSumThreads, 0, stream>>>(static_cast<const float*>(x), N, K, k, g); break;
    case 1: group_sums_kernel<__half><<<grid, kSlorbSumThreads, 0, stream>>>(static_cast<const __half*>(x), N, K, k, g); break;
    case 2: group_sums_kernel<__nv_bfloat16><<<grid, kSlorbSumThreads, 0, stream>>>(static_cast<const __nv_bfloat16*>(x), N, K, k, g); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launch_slorb_add(const void* scales, int scales_dtype, const void* row_scales, int row_scales_dtype, const float* g, int64_t M,
                             int64_t G, int64_t N, float* part, cudaStream_t stream) {
  if (M == 0 || N == 0) return cudaSuccess;
  if ((scales_dtype == 3) != (row_scales != nullptr)) return cudaErrorInvalidValue;
  switch (scales_dtype) {  // sk::DType: f32 = 0, f16 = 1, bf16 = 2, i8 = 3
    case 0: return run_add<float, float>(scales, nullptr, g, M, G, N, part, stream);
    case 1: return run_add<__half, float>(scales, nullptr, g, M, G, N, part, stream);
    case 2: return run_add<__nv_bfloat16, float>(scales, nullptr, g, M, G, N, part, stream);
    case 3: return run_add_rs<int8_t>(scales, row_scales, row_scales_dtype, g, M, G, N, part, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace sk::cuda
