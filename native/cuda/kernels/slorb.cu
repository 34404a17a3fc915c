// SLoRB's term on the GPU (index math in slorb_index.h, replayed on the CPU by
// native/cuda/replay/replay_slorb.cpp): g = P·x by group sums (or, for a general P, the row-dot
// kernel below with P as the rows and x as the vectors), then part[t][r] += rowScale[r] ·
// S[r]·g[t] into the launcher's fp32 partial, before launch_reduce rounds it once (launcher.cu,
// add_slorb_term).
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

// g is rounded to the activations' dtype, as the reference layer computes it (docs/adapters.md,
// "Numerics"); the CPU (SlorbTerm::prepare) does the same.
__device__ __forceinline__ float as_x(const float*, float v) { return v; }
__device__ __forceinline__ float as_x(const __half*, float v) { return __half2float(__float2half_rn(v)); }
__device__ __forceinline__ float as_x(const __nv_bfloat16*, float v) { return __bfloat162float(__float2bfloat16_rn(v)); }

template <class X>
__global__ void group_sums_kernel(const X* __restrict__ x, int64_t N, int64_t K, int64_t k, float* __restrict__ g) {
  const int64_t G = K / k;
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < N * G; idx += int64_t(gridDim.x) * blockDim.x) {
    int64_t t, i;
    slorb_gsum_cell(idx, G, &t, &i);
    g[idx] = as_x(x, slorb_group_sum([&](int64_t e) { return val(x, e); }, t, i, K, k));
  }
}

// The general projection's g, once the row-dot kernel has summed it, rounded the same way.
template <class X>
__global__ void round_kernel(float* __restrict__ g, int64_t count) {
  for (int64_t idx = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < count; idx += int64_t(gridDim.x) * blockDim.x)
    g[idx] = as_x(static_cast<const X*>(nullptr), g[idx]);
}

// part[t][r] += rowScale[r] · Σ_i S[r][i]·g[t][i]: S [M][G], g [N][G] (fp32 group sums, or the
// activations themselves when the general projection runs through this kernel).
template <class S, class RS, class GT = float>
__global__ void add_kernel(const S* __restrict__ s, const RS* __restrict__ row_scales, const GT* __restrict__ g, int64_t M,
                           int64_t G, int64_t N, float* __restrict__ part) {
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  for (int64_t block = blockIdx.x;; block += gridDim.x) {
    const int64_t r = slorb_add_row(block, warp);
    if (block * kSlorbWarps >= M) return;
    if (r >= M) continue;  // (no barrier in the loop: a warp past the end just waits for the next block)
    const float rs = row_scales ? val(row_scales, r) : 1.f;
    for (int64_t t = 0; t < N; ++t) {
      float acc = slorb_lane_partial([&](int64_t e) { return val(s, e); }, [&](int64_t e) { return val(g, e); }, r, t, G, lane);
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

template <class P>
cudaError_t run_project(const void* proj, const void* x, int x_dtype, int64_t N, int64_t K, int64_t G, float* g, cudaStream_t st) {
  const unsigned grid = unsigned(slorb_add_grid(G, 65535));
  const P* p = static_cast<const P*>(proj);
  switch (x_dtype) {
    case 0: add_kernel<P, float, float><<<grid, kSlorbAddThreads, 0, st>>>(p, nullptr, static_cast<const float*>(x), G, K, N, g); break;
    case 1: add_kernel<P, float, __half><<<grid, kSlorbAddThreads, 0, st>>>(p, nullptr, static_cast<const __half*>(x), G, K, N, g); break;
    case 2:
      add_kernel<P, float, __nv_bfloat16><<<grid, kSlorbAddThreads, 0, st>>>(p, nullptr, static_cast<const __nv_bfloat16*>(x), G, K, N, g);
      break;
    default: return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t launch_slorb_project(const void* proj, int proj_dtype, const void* x, int x_dtype, int64_t N, int64_t K, int64_t G, float* g,
                                 cudaStream_t stream) {
  if (N == 0 || G == 0) return cudaSuccess;
  // The row-dot kernel adds into its output: start the group sums at zero.
  cudaError_t e = cudaMemsetAsync(g, 0, size_t(N * G) * sizeof(float), stream);
  if (e != cudaSuccess) return e;
  switch (proj_dtype) {
    case 0: e = run_project<float>(proj, x, x_dtype, N, K, G, g, stream); break;
    case 1: e = run_project<__half>(proj, x, x_dtype, N, K, G, g, stream); break;
    case 2: e = run_project<__nv_bfloat16>(proj, x, x_dtype, N, K, G, g, stream); break;
    default: return cudaErrorInvalidValue;
  }
  if (e != cudaSuccess || x_dtype == 0) return e;
  const unsigned grid = grid_for(N * G, kSlorbSumThreads);
  if (x_dtype == 1) round_kernel<__half><<<grid, kSlorbSumThreads, 0, stream>>>(g, N * G);
  else round_kernel<__nv_bfloat16><<<grid, kSlorbSumThreads, 0, stream>>>(g, N * G);
  return cudaGetLastError();
}

}  // namespace sk::cuda
