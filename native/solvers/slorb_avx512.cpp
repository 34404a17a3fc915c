// AVX-512 row dots of SLoRB's decode path: dots[(r - r0) * n + t] = S[r, :] · g[t, :] for a few
// tokens, decoding 16 scales per step from float32, float16 or bfloat16 and keeping one
// accumulator per token, so S streams through once at memory speed.
#include <cstdint>

#include "solvers/slorb.h"
#include "core/isa_target.h"

#if SK_HAVE_X86
#include <immintrin.h>

SK_TARGET_BEGIN_AVX512
namespace sk {
namespace {

__m512 load16(const void* p, DType t, int64_t i, __mmask16 m) {
  switch (t) {
    // The maskz forms: GCC 12's unmasked ones start from an "undefined" register and warn.
    case DType::f16: return _mm512_maskz_cvtph_ps(m, _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i));
    case DType::bf16:
      return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(m, _mm512_maskz_cvtepu16_epi32(m, _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i)), 16));
    default: return _mm512_maskz_loadu_ps(m, static_cast<const float*>(p) + i);
  }
}

template <int N>
void rows(const void* s, DType t, int64_t G, int64_t r0, int64_t r1, const float* g, float* dots) {
  for (int64_t r = r0; r < r1; r++) {
    __m512 acc[N];
    for (int j = 0; j < N; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t i = 0; i < G; i += 16) {
      const __mmask16 m = G - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (G - i)) - 1);
      const __m512 sv = load16(s, t, r * G + i, m);
      for (int j = 0; j < N; j++) acc[j] = _mm512_fmadd_ps(sv, _mm512_maskz_loadu_ps(m, g + j * G + i), acc[j]);
    }
    for (int j = 0; j < N; j++) {  // _mm512_reduce_add_ps and the cast trip GCC 12's maybe-uninitialized warning
      const __m256 h = _mm256_add_ps(_mm512_maskz_extractf32x8_ps(0xff, acc[j], 0), _mm512_maskz_extractf32x8_ps(0xff, acc[j], 1));
      const __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
      const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
      dots[(r - r0) * N + j] = _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)));
    }
  }
}

void dots_avx512(const void* s, DType t, int64_t G, int64_t r0, int64_t r1, const float* g, int64_t n, float* dots) {
  switch (n) {
    case 1: rows<1>(s, t, G, r0, r1, g, dots); break;
    case 2: rows<2>(s, t, G, r0, r1, g, dots); break;
    default: rows<3>(s, t, G, r0, r1, g, dots); break;
  }
}

}  // namespace

SlorbDots slorb_dots_avx512() { return dots_avx512; }

}  // namespace sk
SK_TARGET_END

#else
namespace sk {
SlorbDots slorb_dots_avx512() { return nullptr; }
}  // namespace sk
#endif
