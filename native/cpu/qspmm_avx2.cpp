// AVX2 kernel for dense 4-bit weights at N = 1 with fp32 activations (the AVX-512 one's layout at
// half width; other quantized cases run qspmm_portable on AVX2). 64-column blocks: 32 code bytes
// are 8 dwords holding columns 8i .. 8i+7, so a shift by 4s and a mask put column 8i + s at the
// bottom of lane i; it is converted to fp32 and centered arithmetically (AVX2's vpermps has only
// 8 entries), and x is staged as 8 planes X_s[i] = x[8i + s]. Each lane's 8-column sum of
// (code - zero)·x is multiplied by its group's scale at the end of the block.
#include <immintrin.h>

#include <cstdint>

#include "../formats/quant.h"
#include "core/isa_target.h"
#include "qspmm.h"

#if SK_HAVE_X86
SK_TARGET_BEGIN_AVX2
namespace sk {
namespace {

template <bool Asym>
void qgemv_dense_int4(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const int G = a.quant.group;
  const int64_t cols = a.cols, gpr = cols / G, nb = (cols + 63) / 64;
  const uint8_t* codes = a.as<uint8_t>(Part::values);
  const uint16_t* scales = a.as<uint16_t>(Part::scales);
  const uint8_t* zeros = Asym ? a.as<uint8_t>(Part::zeros) : nullptr;
  // x.data holds k_padded >= nb * 64 floats, zero past cols: a last half block reads zeros.
  float* xs = static_cast<float*>(x.workspace);
  for (int64_t b = 0; b < nb; ++b)
    for (int s = 0; s < 8; ++s)
      for (int i = 0; i < 8; ++i) xs[64 * b + 8 * s + i] = x.data[64 * b + 8 * i + s];
  const __m256i nib = _mm256_set1_epi32(15);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* p = codes + r * cols / 2;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const bool half = 64 * b + 32 >= cols;  // the last 32 columns of a row whose width is 32 mod 64
      // Lanes 0-3 cover columns 0..31 of the block, lanes 4-7 columns 32..63.
      const int64_t ga = r * gpr + 64 * b / G, gb = half ? ga : r * gpr + (64 * b + 32) / G;
      const __m256 sv = _mm256_blend_ps(_mm256_set1_ps(_cvtsh_ss(scales[ga])), _mm256_set1_ps(_cvtsh_ss(scales[gb])), 0xf0);
      const __m256 zv = Asym ? _mm256_blend_ps(_mm256_set1_ps(float(zeros[ga])), _mm256_set1_ps(float(zeros[gb])), 0xf0)
                             : _mm256_set1_ps(8.f);
      const __m256i v = half ? _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32 * b)))
                             : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * b));
      const __m256i vv = half ? _mm256_inserti128_si256(v, _mm_setzero_si128(), 1) : v;
      const float* xb = xs + 64 * b;
      auto w = [&](int s) { return _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(vv, 4 * s), nib)), zv); };
      __m256 p0 = _mm256_mul_ps(w(0), _mm256_load_ps(xb)), p1 = _mm256_mul_ps(w(1), _mm256_load_ps(xb + 8));
      __m256 p2 = _mm256_mul_ps(w(2), _mm256_load_ps(xb + 16)), p3 = _mm256_mul_ps(w(3), _mm256_load_ps(xb + 24));
      p0 = _mm256_fmadd_ps(w(4), _mm256_load_ps(xb + 32), p0);
      p1 = _mm256_fmadd_ps(w(5), _mm256_load_ps(xb + 40), p1);
      p2 = _mm256_fmadd_ps(w(6), _mm256_load_ps(xb + 48), p2);
      p3 = _mm256_fmadd_ps(w(7), _mm256_load_ps(xb + 56), p3);
      acc = _mm256_fmadd_ps(_mm256_add_ps(_mm256_add_ps(p0, p1), _mm256_add_ps(p2, p3)), sv, acc);
    }
    const __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
    out.store(r, 0, _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q))));
  }
}

}  // namespace

SpmmKernel select_qspmm_avx2(const MatrixView& a, int64_t n) {
  if (n != 1 || a.format != Format::dense || a.quant.bits != 4) return SpmmKernel{};
  return {a.quant.asym ? qgemv_dense_int4<true> : qgemv_dense_int4<false>, XLayout::k_major, "qspmm_gemv_dense_int4_avx2", true, 1};
}

}  // namespace sk
SK_TARGET_END
#else
namespace sk {
SpmmKernel select_qspmm_avx2(const MatrixView&, int64_t) { return SpmmKernel{}; }
}  // namespace sk
#endif
