// SLoRB's GPU term replayed on the CPU as the launcher runs it (launcher.cu, add_slorb_term):
// slorb_group_sums (or, for a general P, the row-dot kernel with P as the rows), then slorb_add
// into the fp32 partial, thread by thread with the kernels' own index math (slorb_index.h) and a
// model of __shfl_xor_sync's butterfly written here, independently of the kernels.
#pragma once
#include <cstdint>

#include "../../core/dtype.h"
#include "../../core/status.h"

namespace sk::cuda {

struct SlorbReplay {
  int64_t group = 0;  // k, dividing K; 0 = no term
  const void* scales = nullptr;  // S [M][K/k]: f32, f16, bf16 or i8 codes
  DType scales_dtype = DType::f32;
  const void* row_scales = nullptr;  // [M], exactly when S is i8
  DType row_scales_dtype = DType::f32;
  const void* proj = nullptr;  // a general P [K/k][K], or null for the group sums
  DType proj_dtype = DType::f32;
};

// part [N][M] += rowScale[r] · S[r]·(P·x[t]), x [N][K] of x_dtype. max_blocks caps slorb_add's grid
// as the launcher does (65535); tests pass less to replay the grid stride.
Status replay_slorb_term(const SlorbReplay& t, int64_t M, int64_t K, const void* x, DType x_dtype, int64_t N, float* part,
                         int64_t max_blocks = 65535);

}  // namespace sk::cuda
