// The int8-activation rounding of the x8 kernels (qspmm_avx512_vnni.cpp, qspmm_avx512_gemm_x8.cpp),
// one definition for both: include inside an SK_TARGET_BEGIN_AVX512VNNI region and an anonymous
// namespace. docs/kernels.md "Numerics" is the spec: per weight group of G columns,
// s_x = fp32(max|x| / 127) (1 for an all-zero group), xq = round-half-even(fp32(x / s_x)) clamped
// to ±127. Division, not a multiply by the reciprocal: the tests reproduce it bit for bit.

inline float x8_scale(float amax) { return amax > 0.f ? amax / 127.f : 1.f; }

// s_x of the group of G floats at x (G a multiple of 16).
inline float x8_group_scale(const float* x, int64_t G) {
  __m512 m = _mm512_setzero_ps();
  for (int64_t i = 0; i < G; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
  return x8_scale(_mm512_reduce_max_ps(m));
}

// 16 floats at x rounded with scale s, as 32-bit lanes.
inline __m512i x8_round16_epi32(const float* x, float s) {
  // Round to nearest even; |x|/s can exceed 127 by an ulp, so clamp.
  const __m512i v = _mm512_cvtps_epi32(_mm512_roundscale_ps(_mm512_div_ps(_mm512_loadu_ps(x), _mm512_set1_ps(s)), _MM_FROUND_TO_NEAREST_INT));
  return _mm512_max_epi32(_mm512_min_epi32(v, _mm512_set1_epi32(127)), _mm512_set1_epi32(-127));
}
inline __m128i x8_round16(const float* x, float s) { return _mm512_cvtepi32_epi8(x8_round16_epi32(x, s)); }
