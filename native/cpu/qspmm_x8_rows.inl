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

// 32 bytes of packed codes to 64 signed bytes 16·(code − 8) in storage order: the symmetric
// zero point taken off in the same ops that split the nibbles. Each qword of the result reads
// its half of a qword of b (vpermq), vpmultishiftqb brings every code's nibble to bits 4-7 (the
// low nibble from 4 bits below its own, the high one from its byte), and (A & 0xf0) ^ 0x80 is
// (code ^ 8) << 4 read as int8, which is 16·(code − 8).
inline __m512i nibbles_to_sym16(__m256i b) {
  const __m512i q = _mm512_permutexvar_epi64(_mm512_set_epi64(3, 3, 2, 2, 1, 1, 0, 0), _mm512_castsi256_si512(b));
  // Byte j of qword k: code 8k + j, in byte B = 4(k & 1) + j / 2 of that qword; its bits from
  // 8B − 4 (j even, mod 64) or 8B (j odd).
  const __m512i ctl = _mm512_set_epi64(0x3834302c2824201c, 0x1814100c0804003c, 0x3834302c2824201c, 0x1814100c0804003c,
                                       0x3834302c2824201c, 0x1814100c0804003c, 0x3834302c2824201c, 0x1814100c0804003c);
  return _mm512_ternarylogic_epi32(_mm512_multishift_epi64_epi8(ctl, q), _mm512_set1_epi8(char(0xf0)), _mm512_set1_epi8(char(0x80)), 0x6a);
}

// A bitmap row's codes [v0, v1) (counted in codes, so the row may start mid-byte) spread to one
// byte each at ub, whole 64-byte stores; returns where its first code is. The codes part is
// code_bytes long: the last load is masked there. Sym16: each byte 16·(code − 8) (signed), else the
// code.
template <bool Sym16 = false>
inline const uint8_t* spread_row_codes(const uint8_t* codes, int64_t code_bytes, int64_t v0, int64_t v1, uint8_t* ub) {
  const int64_t b0 = v0 >> 1, nbytes = ((v0 & 1) + (v1 - v0) + 1) >> 1;
  for (int64_t j = 0; j < nbytes; j += 32) {
    const int64_t left = code_bytes - (b0 + j);
    const __m256i c = left >= 32 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + b0 + j))
                                 : _mm256_maskz_loadu_epi8(__mmask32((uint64_t(1) << left) - 1), codes + b0 + j);
    _mm512_storeu_si512(ub + 2 * j, Sym16 ? nibbles_to_sym16(c) : nibbles_to_bytes(c));
  }
  return ub + (v0 & 1);
}
