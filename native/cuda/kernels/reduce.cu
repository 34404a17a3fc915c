// Epilogue kernels: the split-K reduction with output conversion and an optional bias, and the
// transpose that lets spmm(w, b [K, N]) reuse the kernels' x [N, K] orientation.
// reduce: y[i] = bias[i % M] + sum over splits of part[z][i], in fp32, rounded once to the output
// dtype (f32 / f16 / bf16, round to nearest even). Also used with splits == 1 when the output is
// 16-bit or there is a bias, and after cuBLASLt when a bias is fused.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels.h"

namespace sk::cuda {

namespace {

template <class T> __device__ __forceinline__ T convert_out(float v);
template <> __device__ __forceinline__ float convert_out<float>(float v) { return v; }
template <> __device__ __forceinline__ __half convert_out<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 convert_out<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class OutT, class BiasT>
__global__ void reduce_kernel(const float* __restrict__ part, int splits, int64_t count, OutT* __restrict__ y,
                              const BiasT* __restrict__ bias, int64_t M) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x) {
    float s = 0.f;
    for (int z = 0; z < splits; ++z) s += part[z * count + i];
    if (bias) s += to_f32(bias[i % M]);
    y[i] = convert_out<OutT>(s);
  }
}

unsigned grid_for(int64_t count, int threads) {
  const int64_t blocks = (count + threads - 1) / threads;
  return unsigned(blocks < 65535 ? blocks : 65535);
}

template <class OutT, class BiasT>
cudaError_t run(const float* part, int splits, int64_t count, void* y, const void* bias, int64_t M, cudaStream_t stream) {
  reduce_kernel<OutT, BiasT><<<grid_for(count, 256), 256, 0, stream>>>(part, splits, count, static_cast<OutT*>(y),
                                                                        static_cast<const BiasT*>(bias), M);
  return cudaGetLastError();
}

template <class OutT>
cudaError_t run_bias(const float* part, int splits, int64_t count, void* y, const void* bias, int bias_dtype, int64_t M,
                     cudaStream_t stream) {
  switch (bias_dtype) {  // sk::DType: f32 = 0, f16 = 1, bf16 = 2 (no bias: any)
    case 0: return run<OutT, float>(part, splits, count, y, bias, M, stream);
    case 1: return run<OutT, __half>(part, splits, count, y, bias, M, stream);
    case 2: return run<OutT, __nv_bfloat16>(part, splits, count, y, bias, M, stream);
  }
  return cudaErrorInvalidValue;
}

// dst[c][r] = src[r][c] through a 32 x 33 shared tile (the +1 column avoids bank conflicts).
template <class T>
__global__ void transpose_kernel(const T* __restrict__ src, int64_t rows, int64_t cols, T* __restrict__ dst) {
  __shared__ T tile[32][33];
  const int64_t r0 = int64_t(blockIdx.y) * 32, c0 = int64_t(blockIdx.x) * 32;
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int64_t r = r0 + i, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[i][threadIdx.x] = src[r * cols + c];
  }
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += blockDim.y) {
    const int64_t c = c0 + i, r = r0 + threadIdx.x;
    if (r < rows && c < cols) dst[c * rows + r] = tile[threadIdx.x][i];
  }
}

}  // namespace

cudaError_t launch_reduce(const float* part, int splits, int64_t count, int out_dtype, void* y, cudaStream_t stream,
                          const void* bias, int bias_dtype, int64_t M) {
  if (count == 0) return cudaSuccess;
  if (!bias) bias_dtype = 0;
  switch (out_dtype) {
    case 0: return run_bias<float>(part, splits, count, y, bias, bias_dtype, M, stream);
    case 1: return run_bias<__half>(part, splits, count, y, bias, bias_dtype, M, stream);
    case 2: return run_bias<__nv_bfloat16>(part, splits, count, y, bias, bias_dtype, M, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t launch_transpose(const void* src, int64_t rows, int64_t cols, int elem_bytes, void* dst, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  const int64_t gx = (cols + 31) / 32, gy = (rows + 31) / 32;
  if (gy > 65535) return cudaErrorInvalidValue;
  const dim3 grid{unsigned(gx), unsigned(gy)}, block{32, 8};
  if (elem_bytes == 2)
    transpose_kernel<uint16_t><<<grid, block, 0, stream>>>(static_cast<const uint16_t*>(src), rows, cols, static_cast<uint16_t*>(dst));
  else if (elem_bytes == 4)
    transpose_kernel<uint32_t><<<grid, block, 0, stream>>>(static_cast<const uint32_t*>(src), rows, cols, static_cast<uint32_t*>(dst));
  else
    return cudaErrorInvalidValue;
  return cudaGetLastError();
}

}  // namespace sk::cuda
