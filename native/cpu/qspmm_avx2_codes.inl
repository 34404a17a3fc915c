// Packed 4- and 8-bit codes (formats/quant.h) unpacked for the AVX2 kernels: qspmm_avx2.cpp, the
// panel source of qspmm_avx2_gemm.inl, and the int8-activation kernels of qspmm_avx2_x8.cpp and
// qspmm_avx2_gemm_x8.cpp. Include inside an SK_TARGET_BEGIN_AVX2 region and an anonymous namespace.

// Codes vi .. vi + 7 (4-bit: 32 bits from nibble vi, up to 5 bytes; 8-bit: 8 bytes), never read
// past the `bytes` of the codes part: near its end the bytes are gathered one by one.
template <int Bits> inline __m256i codes8_lanes(const uint8_t* codes, uint64_t bytes, int64_t vi) {
  const int64_t byte = Bits == 4 ? vi >> 1 : vi;
  uint64_t u = 0;
  if (uint64_t(byte) + 8 <= bytes) std::memcpy(&u, codes + byte, 8);
  else
    for (uint64_t i = 0; uint64_t(byte) + i < bytes && i < 8; ++i) u |= uint64_t(codes[byte + i]) << (8 * i);
  if constexpr (Bits == 4) {
    const uint32_t bits = uint32_t(u >> (4 * (vi & 1)));
    return _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(int32_t(bits)), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                            _mm256_set1_epi32(15));
  } else {
    return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(int64_t(u)));
  }
}

// 16 packed bytes (32 4-bit codes, low nibble first) to 32 bytes in code order: lane 0 holds codes
// 0-15, lane 1 codes 16-31 (word j: the codes of byte j).
inline __m256i nibbles32(__m128i b) {
  const __m256i t = _mm256_cvtepu8_epi16(b);
  return _mm256_or_si256(_mm256_and_si256(t, _mm256_set1_epi16(0x000f)), _mm256_and_si256(_mm256_slli_epi16(t, 4), _mm256_set1_epi16(0x0f00)));
}
