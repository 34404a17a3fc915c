// Portable GEMM micro-kernel: plain arrays the compiler vectorises with the baseline ISA.
#include <cstdint>

#include "linalg.h"

namespace sk {
namespace {

struct V {
  static constexpr int kWidth = 8;
  float x[kWidth];
  static V zero() { V r; for (int i = 0; i < kWidth; ++i) r.x[i] = 0.f; return r; }
  static V load(const float* p) { V r; for (int i = 0; i < kWidth; ++i) r.x[i] = p[i]; return r; }
  static V broadcast(float s) { V r; for (int i = 0; i < kWidth; ++i) r.x[i] = s; return r; }
  static V fma(const V& a, const V& b, const V& c) { V r; for (int i = 0; i < kWidth; ++i) r.x[i] = a.x[i] * b.x[i] + c.x[i]; return r; }
  static void store(float* p, const V& v) { for (int i = 0; i < kWidth; ++i) p[i] = v.x[i]; }
};

#include "gemm_kernel.inl"

constexpr int kMr = 4, kNv = 1;
void gemm_kernel(int64_t kc, const float* ap, const float* bp, float* c, double* cd, int64_t ldc, float alpha) {
  gemm_micro<kMr, kNv>(kc, ap, bp, c, cd, ldc, alpha);
}
void rank1(int64_t n, const float* u, const float* e, float* wt) { rank1_rows<kRowGroup>(n, u, e, wt); }
void rotate(int64_t count, const int32_t* k, const double* c, const double* s, double* y) {
  rotate_columns_block<kRotRows>(count, k, c, s, y);
}

}  // namespace

const LinalgKernels* linalg_kernels_portable() {
  static const LinalgKernels k{"gemm_f32_portable", kMr, kNv * V::kWidth, gemm_kernel, rank1, rotate};
  return &k;
}

}  // namespace sk
