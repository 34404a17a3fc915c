// AVX2 + FMA GEMM micro-kernel: 6 x 16 floats of accumulators in 12 ymm registers.
#include <cstdint>

#include "linalg.h"
#include "core/isa_target.h"

#if SK_HAVE_X86
#include <immintrin.h>

SK_TARGET_BEGIN_AVX2
namespace sk {
namespace {

struct V {
  static constexpr int kWidth = 8;
  __m256 x;
  static V zero() { return {_mm256_setzero_ps()}; }
  static V load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static V broadcast(float s) { return {_mm256_set1_ps(s)}; }
  static V fma(const V& a, const V& b, const V& c) { return {_mm256_fmadd_ps(a.x, b.x, c.x)}; }
  static void store(float* p, const V& v) { _mm256_storeu_ps(p, v.x); }
};

#include "gemm_kernel.inl"

constexpr int kMr = 6, kNv = 2;
void gemm_kernel(int64_t kc, const float* ap, const float* bp, float* c, double* cd, int64_t ldc, float alpha) {
  gemm_micro<kMr, kNv>(kc, ap, bp, c, cd, ldc, alpha);
}
void rank1(int64_t n, const float* u, const float* e, float* wt) { rank1_rows<kRowGroup>(n, u, e, wt); }
void rotate(int64_t count, const int32_t* k, const double* c, const double* s, double* y) {
  rotate_columns_block<kRotRows>(count, k, c, s, y);
}

}  // namespace

const LinalgKernels* linalg_kernels_avx2() {
  static const LinalgKernels k{"gemm_f32_avx2", kMr, kNv * V::kWidth, gemm_kernel, rank1, rotate};
  return &k;
}

}  // namespace sk
SK_TARGET_END

#else
namespace sk {
const LinalgKernels* linalg_kernels_avx2() { return nullptr; }
}  // namespace sk
#endif
