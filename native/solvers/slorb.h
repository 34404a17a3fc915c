// AST's Sparse Low-Rank Boosting term on the CPU: y = base + S·(P·x), where base is the sparse
// product (W ⊙ M)·x already computed in float32, S [rows, groups] the per-row scales and P either
// the fixed group-sum projection (each group of group_size consecutive inputs summed) or a general
// [groups, cols] matrix. One pass over S for all tokens; docs/adapters.md has the math.
#pragma once
#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace sk {

struct SlorbArgs {
  int64_t rows = 0, cols = 0, groups = 0, group_size = 0, n = 0;
  const void* scales = nullptr;  // [rows, groups], row-major
  DType scales_dtype = DType::f32;  // a float dtype, or i8 with row_scales
  const void* row_scales = nullptr;  // i8 scales only: [rows], S[r, i] = row_scales[r] * scales[r, i]
  DType row_scales_dtype = DType::f32;
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

// A row-dots kernel: dots[(r - r0) * n + t] = S[r, :] · g[t, :] for S's stored values (f32, f16,
// bf16 or i8, without the row scales), S having rows_total rows (slorb_dots_avx512 below).
using SlorbDots = void (*)(const void* s, DType t, int64_t G, int64_t r0, int64_t r1, const float* g, int64_t n, float* dots,
                           int64_t rows_total);

// A panel kernel: dotsT[t * (r1 - r0) + (r - r0)] = S[r, :] · g[t, :], with g given in blocks of 16
// tokens and pairs of groups, gP[(t / 16) * P * 32 + (i / 2) * 32 + (t % 16) * 2 + i % 2] (P = (G + 1)
// / 2 pairs; zeros past n and past G), S having rows_total rows (slorb_panels_avx512 below).
using SlorbPanels = void (*)(const void* s, DType t, int64_t G, int64_t r0, int64_t r1, const float* gP, int64_t n, float* dotsT,
                             int64_t rows_total);
// The same panels with `vdpbf16ps` (slorb_avx512_bf16.cpp; nullptr off x86), for S stored as bf16
// or int8 (exact in bf16) and g already rounded to bf16 (bf16 activations), given per block of 16
// tokens in octs of groups: gO[((t / 16) * O + i / 8) * 64 + (t % 16) * 4 + (i % 8) / 2] holds g[t, i]
// (i even) in its low half and g[t, i + 1] in its high half (O = (G + 7) / 8 octs; zeros past n and G).
using SlorbPanelsBf16 = void (*)(const void* s, DType t, int64_t G, int64_t r0, int64_t r1, const uint32_t* gO, int64_t n, float* dotsT,
                                 int64_t rows_total);
// One token with bf16 S and g rounded to bf16 (bf16 activations), by `vdpbf16ps`: dots[r - r0] =
// S[r, :] · g, g given as G bf16 values followed by zeros up to a multiple of 32 (slorb_avx512_bf16.cpp).
using SlorbGemvBf16 = void (*)(const void* s, int64_t G, int64_t r0, int64_t r1, const uint16_t* g, float* dots, int64_t rows_total);

// The term in two steps, so the sparse product can add it inside its own row loop (cpu/spmm.h's
// RowEpilogue): prepare() checks the arguments and computes P·x for every token once; add_rows()
// adds S[r0:r1]·(P·x) into base and writes those output rows. add_rows may run on any thread, for
// disjoint row ranges, after those rows of base hold the product.
class SlorbTerm {
 public:
  Status prepare(const SlorbArgs& a);
  void add_rows(int64_t r0, int64_t r1) const;
  // int8 S's per-row scale (1 for float S).
  float row_scale(int64_t r) const { return a_.row_scales ? load_as_f32(a_.row_scales, a_.row_scales_dtype, size_t(r)) : 1.0f; }
  // RowEpilogue functions: ctx is a prepared SlorbTerm.
  static void add_rows_of(const void* ctx, int64_t r0, int64_t r1) { static_cast<const SlorbTerm*>(ctx)->add_rows(r0, r1); }

 private:
  SlorbArgs a_;
  std::vector<float> g_;  // [n, groups]: P·x per token
  std::vector<float> gP_;  // panels only: g in blocks of 16 tokens x pairs of groups (SlorbPanels)
  std::vector<uint32_t> gO_;  // bf16 panels only: g in octs of bf16 pairs (SlorbPanelsBf16)
  std::vector<uint16_t> g16_;  // bf16 one-token dots only: g as bf16, zeros to a multiple of 32 (SlorbGemvBf16)
  bool gemm_ = false;
  SlorbDots vec_ = nullptr;
  SlorbPanels panels_ = nullptr;
  SlorbPanelsBf16 panels_bf16_ = nullptr;
  SlorbGemvBf16 gemv_bf16_ = nullptr;
};

// prepare() and add_rows over every row, spread over the pool (the term alone, after a product).
Status slorb_add(const SlorbArgs& a);

// The row dots for n <= kSlorbDotTokens tokens (S [.., G] as stored, g [n, G] float32): from there
// on the blocked GEMM is faster. slorb_avx512.cpp; nullptr off x86.
constexpr int64_t kSlorbDotTokens = 32;
SlorbDots slorb_dots_avx512();
// The same on AVX2 (no panels: the row dots up to kSlorbDotTokens): slorb_avx2.cpp; nullptr off x86.
SlorbDots slorb_dots_avx2();
// The one-token row dots of both ISAs read S eight rows per block as one contiguous stream and
// prefetch it this many bytes ahead, spread over the block's steps: lines per step, for `steps`
// steps over eight rows of row_bytes (0 when there are no steps).
constexpr int64_t kSlorbGemvAhead = 4096;
inline int64_t slorb_gemv_lines_per_step(int64_t row_bytes, int64_t steps) {
  const int64_t lines = (8 * row_bytes + 63) / 64;
  return steps > 0 ? (lines + steps - 1) / steps : 0;
}
// Group sums of one token's inputs read in their float dtype, g[i] = Σ x[offset + i·group_size ..
// + group_size) in float32, for a group_size that is a multiple of 16 (slorb_avx512.cpp; nullptr
// off x86; the portable decode and loop otherwise): at N >= 8 the portable decode and 16
// dependent adds per group were a visible part of the term (docs/adapters.md, ninth session).
using SlorbGroupSums = void (*)(const void* x, DType t, int64_t offset, int64_t groups, int64_t group_size, float* g);
SlorbGroupSums slorb_group_sums_avx512();
// From this many tokens (up to kSlorbDotTokens) and a [N, rows] output, the panels replace the
// row dots (slorb_avx512.cpp; nullptr off x86).
constexpr int64_t kSlorbPanelTokens = 8;
SlorbPanels slorb_panels_avx512();
// The bf16 panels (SlorbPanelsBf16), for bf16 activations with bf16 or int8 S.
SlorbPanelsBf16 slorb_panels_bf16_avx512();
// The one-token dots with `vdpbf16ps` (SlorbGemvBf16), for bf16 activations with bf16 S.
SlorbGemvBf16 slorb_gemv_bf16_avx512();

}  // namespace sk
