// Split-K reduction and output conversion: y[i] = sum over splits of part[z][i], rounded once to
// the output dtype (f32 / f16 / bf16, round to nearest even). Also used with splits == 1 when the
// output is 16-bit.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels.h"

namespace sk::cuda {

namespace {

template <class OutT> __device__ __forceinline__ OutT convert_out(float v);
template <> __device__ __forceinline__ float convert_out<float>(float v) { return v; }
template <> __device__ __forceinline__ __half convert_out<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 convert_out<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

template <class OutT>
__global__ void reduce_kernel(const float* __restrict__ part, int splits, int64_t count, OutT* __restrict__ y) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x) {
    float s = 0.f;
    for (int z = 0; z < splits; ++z) s += part[z * count + i];
    y[i] = convert_out<OutT>(s);
  }
}

template <class OutT> cudaError_t run(const float* part, int splits, int64_t count, void* y, cudaStream_t stream) {
  const int threads = 256;
  const int64_t blocks = (count + threads - 1) / threads;
  reduce_kernel<OutT><<<unsigned(blocks < 65535 ? blocks : 65535), threads, 0, stream>>>(part, splits, count, static_cast<OutT*>(y));
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_reduce(const float* part, int splits, int64_t count, int out_dtype, void* y, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  switch (out_dtype) {  // sk::DType: f32 = 0, f16 = 1, bf16 = 2
    case 0: return run<float>(part, splits, count, y, stream);
    case 1: return run<__half>(part, splits, count, y, stream);
    case 2: return run<__nv_bfloat16>(part, splits, count, y, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace sk::cuda
