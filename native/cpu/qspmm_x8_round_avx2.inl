// The int8-activation rounding of the AVX2 x8 kernels (qspmm_avx2_x8.cpp at N = 1,
// qspmm_avx2_gemm_x8.cpp at N > 1), one definition for both: include inside an SK_TARGET_BEGIN_AVX2
// region and an anonymous namespace. The AVX-512 kernels' copy is qspmm_x8_round.inl; both follow
// docs/kernels.md "Numerics" bit for bit (the tests reproduce it).
// The rounding rule (docs/kernels.md "Numerics"): s_x = fp32(max|x| / 127), 1 for an all-zero
// group; xq = round-half-even(fp32(x / s_x)), clamped to ±127 (|x| / s_x can exceed 127 by an ulp).
inline float x8_scale(float amax) { return amax > 0.f ? amax / 127.f : 1.f; }
inline float x8_group_scale(const float* x, int64_t G) {
  const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 m = _mm256_setzero_ps();
  for (int64_t i = 0; i < G; i += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + i), abs));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  return x8_scale(_mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h))));
}
inline __m256i x8_round8(const float* x, float s) {
  const __m256 q = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(x), _mm256_set1_ps(s)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return _mm256_max_epi32(_mm256_min_epi32(_mm256_cvtps_epi32(q), _mm256_set1_epi32(127)), _mm256_set1_epi32(-127));
}
// Every group of G floats of x[0, cols) rounded into xq (column order), its s_x into sx, and its
// Σ xq into sum when given: the N = 1 kernels' staging.
inline void x8_round_row(const float* x, int64_t cols, int64_t G, int8_t* xq, float* sx, int32_t* sum) {
  for (int64_t g = 0; g < cols / G; ++g) {
    const float* xg = x + g * G;
    const float s = x8_group_scale(xg, G);
    __m256i tot = _mm256_setzero_si256();
    for (int64_t i = 0; i < G; i += 8) {
      const __m256i v = x8_round8(xg + i, s);
      tot = _mm256_add_epi32(tot, v);
      const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(xq + g * G + i), _mm_packs_epi16(w, w));
    }
    sx[g] = s;
    if (sum) {
      __m128i h = _mm_add_epi32(_mm256_castsi256_si128(tot), _mm256_extracti128_si256(tot, 1));
      h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
      sum[g] = _mm_cvtsi128_si32(_mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1)));
    }
  }
}
