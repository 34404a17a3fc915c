// AVX-512 GEMM micro-kernel: 12 x 32 floats of accumulators in 24 zmm registers.
#include <cstdint>

#include "linalg.h"
#include "core/isa_target.h"

#if SK_HAVE_X86
#include <immintrin.h>

SK_TARGET_BEGIN_AVX512
namespace sk {
namespace {

struct V {
  static constexpr int kWidth = 16;
  __m512 x;
  static V zero() { return {_mm512_setzero_ps()}; }
  static V load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static V broadcast(float s) { return {_mm512_set1_ps(s)}; }
  static V fma(const V& a, const V& b, const V& c) { return {_mm512_fmadd_ps(a.x, b.x, c.x)}; }
  static void store(float* p, const V& v) { _mm512_storeu_ps(p, v.x); }
};

#include "gemm_kernel.inl"

constexpr int kMr = 12, kNv = 2;
void gemm_kernel(int64_t kc, const float* ap, const float* bp, float* c, double* cd, int64_t ldc, float alpha) {
  gemm_micro<kMr, kNv>(kc, ap, bp, c, cd, ldc, alpha);
}
void rank1(int64_t n, const float* u, const float* e, float* wt) { rank1_rows<kRowGroup>(n, u, e, wt); }
void rotate(int64_t count, const int32_t* k, const double* c, const double* s, double* y) {
  rotate_columns_block<kRotRows>(count, k, c, s, y);
}

}  // namespace

const LinalgKernels* linalg_kernels_avx512() {
  static const LinalgKernels k{"gemm_f32_avx512", kMr, kNv * V::kWidth, gemm_kernel, rank1, rotate};
  return &k;
}

}  // namespace sk
SK_TARGET_END

#else
namespace sk {
const LinalgKernels* linalg_kernels_avx512() { return nullptr; }
}  // namespace sk
#endif
