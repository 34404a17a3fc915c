// AST's Sparse Low-Rank Boosting term on the CPU: y = base + S·(P·x), where base is the sparse
// product (W ⊙ M)·x already computed in float32, S [rows, groups] the per-row scales and P either
// the fixed group-sum projection (each group of group_size consecutive inputs summed) or a general
// [groups, cols] matrix. One pass over S for all tokens; docs/adapters.md has the math.
#pragma once
#include <cstdint>
#include "core/dtype.h"
#include "core/status.h"

namespace sk {

struct SlorbArgs {
  int64_t rows = 0, cols = 0, groups = 0, group_size = 0, n = 0;
  const void* scales = nullptr;  // [rows, groups], row-major
  DType scales_dtype = DType::f32;
  const void* proj = nullptr;    // [groups, cols], row-major; null: group sums
  DType proj_dtype = DType::f32;
  const void* x = nullptr;       // token t, feature k at x[t * x_tok_stride + k * x_feat_stride]
  DType x_dtype = DType::f32;
  int64_t x_tok_stride = 0, x_feat_stride = 0;
  float* base = nullptr;         // float32 scratch with out's strides (may alias out when out is float32): updated in place
  void* out = nullptr;           // token t, row r at out[t * out_tok_stride + r * out_row_stride]
  DType out_dtype = DType::f32;
  int64_t out_tok_stride = 0, out_row_stride = 0;
};

Status slorb_add(const SlorbArgs& a);

// Decode-path row dots, dots[(r - r0) * n + t] = S[r, :] · g[t, :] for n <= kSlorbDotTokens tokens
// (S [.., G] in a float dtype, g [n, G] float32). slorb_avx512.cpp; nullptr off x86.
constexpr int64_t kSlorbDotTokens = 3;
using SlorbDots = void (*)(const void* s, DType t, int64_t G, int64_t r0, int64_t r1, const float* g, int64_t n, float* dots);
SlorbDots slorb_dots_avx512();

}  // namespace sk
