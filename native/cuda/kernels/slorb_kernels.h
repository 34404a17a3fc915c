// Host entry points of SLoRB's GPU term (slorb.cu; index math in slorb_index.h). Dtypes are
// sk::DType codes (f32 = 0, f16 = 1, bf16 = 2, i8 = 3).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace sk::cuda {

// g [N][K/k] (fp32) = the group sums of x [N][K] (f32, f16 or bf16), k dividing K.
cudaError_t launch_slorb_group_sums(const void* x, int x_dtype, int64_t N, int64_t K, int64_t k, float* g, cudaStream_t stream);
// g [N][G] (fp32) = P·x for a general projection P [G][K] (f32, f16 or bf16): slorb_add's kernel
// with P as the rows, x [N][K] as the vectors and a zeroed g as the partial (slorb_index.h).
cudaError_t launch_slorb_project(const void* proj, int proj_dtype, const void* x, int x_dtype, int64_t N, int64_t K, int64_t G, float* g,
                                 cudaStream_t stream);
// part [N][M] (fp32) += rowScale[r] · S[r]·g[t] for every token t and row r; S [M][G] in f32, f16,
// bf16, or i8 with row_scales [M] (f32, f16, bf16; given exactly when S is i8).
cudaError_t launch_slorb_add(const void* scales, int scales_dtype, const void* row_scales, int row_scales_dtype, const float* g, int64_t M,
                             int64_t G, int64_t N, float* part, cudaStream_t stream);

}  // namespace sk::cuda
