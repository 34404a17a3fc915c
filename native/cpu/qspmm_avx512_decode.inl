// The AVX-512 decode of quantized weights (formats/quant.h), shared by the kernels of
// qspmm_avx512.cpp and the panel GEMM of qspmm_avx512_gemm.inl: one 32-column chunk of a row's
// codes to its 32 centered weights (code - zero) at their columns, as two fp32 vectors. Include
// after avx512_expand.inl, inside an SK_TARGET_BEGIN_AVX512 region and an anonymous namespace.

enum QFmt { kDense = 0, kNM = 1, kBitmap = 2 };

// 16 bytes of packed nibbles -> 32 code bytes in storage order (low nibble first).
inline __m256i unpack_nibbles(__m128i b) {
  const __m256i t = _mm256_cvtepu8_epi16(b);
  return _mm256_or_si256(_mm256_and_si256(t, _mm256_set1_epi16(0x000f)),
                         _mm256_and_si256(_mm256_slli_epi16(t, 4), _mm256_set1_epi16(0x0f00)));
}

// Up to 32 nibbles starting at nibble `nib` of `base`, `count` of them valid: loads only the bytes
// they occupy (masked: never past the part), then shifts the odd half-byte away.
inline __m128i load_nibbles(const uint8_t* base, int64_t nib, int count) {
  const int odd = int(nib & 1), nb = (odd + count + 1) >> 1;
  const __m256i y = _mm256_maskz_loadu_epi8(__mmask32((uint64_t(1) << nb) - 1), base + (nib >> 1));
  const __m128i lo = _mm256_castsi256_si128(y), next = _mm_alignr_epi8(_mm256_extracti128_si256(y, 1), lo, 8);
  return _mm_or_si128(_mm_srl_epi64(lo, _mm_cvtsi32_si128(odd * 4)), _mm_sll_epi64(next, _mm_cvtsi32_si128(64 - odd * 4)));
}

inline __m512 bytes_to_f32(__m128i sb) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(sb)); }

// A quantized matrix's parts and per-row geometry, by format and code width.
template <int Fmt, int Bits> struct QMat {
  const uint8_t* codes;
  const uint16_t* scales;
  const uint8_t* zeros;
  const uint32_t* masks;
  const int32_t* rp;
  int64_t cols, gpr, cpg, wpr, per_row, kc;
  explicit QMat(const MatrixView& a)
      : codes(a.as<uint8_t>(Part::values)), scales(a.as<uint16_t>(Part::scales)),
        zeros(a.quant.asym ? a.as<uint8_t>(Part::zeros) : nullptr),
        masks(Fmt == kDense ? nullptr : a.as<uint32_t>(Part::masks)),
        rp(Fmt == kBitmap ? a.as<int32_t>(Part::row_ptr) : nullptr), cols(a.cols),
        gpr(quant_groups_per_row(a.cols, a.quant.group)), cpg(a.quant.group / 32),
        wpr(Fmt == kDense ? 0 : mask_words_per_row(a.cols)),
        per_row(Fmt == kNM ? nm_values_per_row(a.cols, a.n, a.m) : a.cols), kc(Fmt == kNM ? 32 * a.n / a.m : 32) {}
  int64_t row_start(int64_t r) const { return rp ? int64_t(rp[r]) : r * per_row; }
  int zero(int64_t gi) const { return zeros ? zeros[gi] : (1 << (Bits - 1)); }
  float scale(int64_t gi) const { return f16_to_f32(scales[gi]); }
};

// Chunk ch (columns 32*ch ..) of a row whose codes start at code index `vi` (advanced for bitmap):
// 32 centered weights at their columns, as two fp32 vectors.
template <int Fmt, int Bits>
inline void decode_dense_cols(const QMat<Fmt, Bits>& A, const uint32_t* rmask, int64_t ch, int64_t& vi, __m512i zb,
                              __m512i z32, __m512& w0, __m512& w1) {
  if constexpr (Bits == 4) {
    __m256i sb;
    if constexpr (Fmt == kDense) {
      sb = unpack_nibbles(_mm_loadu_si128(reinterpret_cast<const __m128i*>(A.codes + ((vi + ch * 32) >> 1))));
    } else {
      const uint32_t bits = rmask[ch];
      const int cnt = Fmt == kNM ? int(A.kc) : __builtin_popcount(bits);
      sb = unpack_nibbles(load_nibbles(A.codes, vi, cnt));
      vi += cnt;
      sb = _mm256_sub_epi8(sb, _mm512_castsi512_si256(zb));
      sb = expand_b32(sb, bits);
      w0 = bytes_to_f32(_mm256_castsi256_si128(sb));
      w1 = bytes_to_f32(_mm256_extracti128_si256(sb, 1));
      return;
    }
    sb = _mm256_sub_epi8(sb, _mm512_castsi512_si256(zb));
    w0 = bytes_to_f32(_mm256_castsi256_si128(sb));
    w1 = bytes_to_f32(_mm256_extracti128_si256(sb, 1));
  } else {
    if constexpr (Fmt == kDense) {
      const uint8_t* p = A.codes + vi + ch * 32;
      w0 = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), z32));
      w1 = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16))), z32));
    } else {
      const uint32_t bits = rmask[ch];
      const int c0 = __builtin_popcount(bits & 0xffffu), c1 = __builtin_popcount(bits >> 16);
      const __m128i b0 = _mm_maskz_loadu_epi8(__mmask16((1u << c0) - 1), A.codes + vi);
      const __m128i b1 = _mm_maskz_loadu_epi8(__mmask16((1u << c1) - 1), A.codes + vi + c0);
      vi += c0 + c1;
      w0 = expand_f32(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(b0), z32)), __mmask16(bits));
      w1 = expand_f32(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(b1), z32)), __mmask16(bits >> 16));
    }
  }
}
