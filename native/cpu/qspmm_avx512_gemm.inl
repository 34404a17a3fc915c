// Quantized weights at N > 1 on AVX-512: each 32-column chunk is decoded by
// qspmm_avx512_decode.inl and scaled to its exact fp32 weights, (code - zero) * scale, into
// spmm_kernels.inl's decode panel; the fp32 micro-kernel does the rest (6 rows x 64 outputs in
// registers), as for float bitmap / n:m weights. Included by spmm_avx512.cpp inside its target
// region and anonymous namespace, after spmm_kernels.inl and qspmm_avx512_decode.inl. Numerics as
// qspmm_avx2_gemm.inl: the dequantized weights are exact, only the fp32 accumulation rounds.

static_assert(CW == 32, "the quantized panel source decodes 32-column chunks (one mask word)");

template <int Fmt, int Bits> struct QuantSrc {
  // The next code of the row (bitmap / n:m; dense: the row's first) and the row; spmm_kernel
  // decodes each row's chunks in order.
  struct Row { int64_t vi; int64_t r; };
  QMat<Fmt, Bits> A;
  explicit QuantSrc(const MatrixView& a) : A(a) {}
  // cols is a multiple of the group size, itself a multiple of 32: no partial chunk.
  int64_t chunks() const { return A.cols / CW; }
  Row row(int64_t r) const { return {A.row_start(r), r}; }
  const float* direct(int64_t, int64_t, int64_t) const { return nullptr; }
  int64_t direct_stride() const { return 0; }
  void decode(Row& rw, int64_t c, V* o) const {
    const int64_t gi = rw.r * A.gpr + c / A.cpg;
    const int z = A.zero(gi);
    const uint32_t* rmask = Fmt == kDense ? nullptr : A.masks + rw.r * A.wpr;
    decode_dense_cols<Fmt, Bits>(A, rmask, c, rw.vi, _mm512_set1_epi8(char(z)), _mm512_set1_epi32(z), o[0], o[1]);
    const __m512 s = _mm512_set1_ps(A.scale(gi));
    o[0] = _mm512_mul_ps(o[0], s);
    o[1] = _mm512_mul_ps(o[1], s);
  }
};

template <int Fmt, int Bits> SpmmKernel quant_gemm() {
  static const char* const kNames[3][2] = {{"qspmm_gemm_dense_int4_avx512", "qspmm_gemm_dense_int8_avx512"},
                                           {"qspmm_gemm_nm_int4_avx512", "qspmm_gemm_nm_int8_avx512"},
                                           {"qspmm_gemm_bitmap_int4_avx512", "qspmm_gemm_bitmap_int8_avx512"}};
  return SpmmKernel{spmm_kernel<QuantSrc<Fmt, Bits>>, XLayout::k_major, kNames[Fmt][Bits == 8], true, W};
}

template <int Bits> SpmmKernel quant_gemm_for(const MatrixView& a) {
  switch (a.format) {
    case Format::dense: return quant_gemm<kDense, Bits>();
    case Format::nm: return quant_gemm<kNM, Bits>();
    case Format::bitmap: return quant_gemm<kBitmap, Bits>();
    default: return SpmmKernel{};
  }
}
