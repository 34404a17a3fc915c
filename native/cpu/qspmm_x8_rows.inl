// The 4-bit weight rows as the x8 kernels (qspmm_avx512_vnni.cpp at N = 1, qspmm_avx512_gemm_x8.cpp
// at N > 1) read them, one definition for both: include inside an SK_TARGET_BEGIN_AVX512VNNI region
// and an anonymous namespace.

struct Q4Rows {
  const uint8_t* codes;
  const uint16_t* scales;
  const uint8_t* zeros;
  const uint32_t* masks;
  int64_t cols, gpr;
  int G;
  const int16_t* code_sums = nullptr;  // 2:4 with G >= 128: per row and group, Σ (code − zero) (quant.h)
};

// 32 bytes of packed codes to 64 code bytes in storage order (byte 2i the low nibble of byte i).
inline __m512i nibbles_to_bytes(__m256i b) {
  const __m512i t = _mm512_cvtepu8_epi16(b);
  return _mm512_ternarylogic_epi32(_mm512_slli_epi16(t, 4), t, _mm512_set1_epi16(0x0f0f), 0xA8);  // (A | B) & C
}

// A bitmap row's codes [v0, v1) (counted in codes, so the row may start mid-byte) spread to one
// byte each at ub, whole 64-byte stores; returns where its first code is. The codes part is
// code_bytes long: the last load is masked there.
inline const uint8_t* spread_row_codes(const uint8_t* codes, int64_t code_bytes, int64_t v0, int64_t v1, uint8_t* ub) {
  const int64_t b0 = v0 >> 1, nbytes = ((v0 & 1) + (v1 - v0) + 1) >> 1;
  for (int64_t j = 0; j < nbytes; j += 32) {
    const int64_t left = code_bytes - (b0 + j);
    const __m256i c = left >= 32 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + b0 + j))
                                 : _mm256_maskz_loadu_epi8(__mmask32((uint64_t(1) << left) - 1), codes + b0 + j);
    _mm512_storeu_si512(ub + 2 * j, nibbles_to_bytes(c));
  }
  return ub + (v0 & 1);
}
