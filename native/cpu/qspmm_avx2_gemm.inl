// Quantized weights (formats/quant.h) at N > 1 on AVX2: each 8-column chunk is dequantized to its
// exact fp32 weights, (code - zero) * scale, into spmm_kernels.inl's decode panel, and the fp32
// outer-product micro-kernel does the rest, as for float bitmap / n:m weights. Included by
// spmm_avx2.cpp inside its target region and anonymous namespace, after spmm_kernels.inl (VT,
// spmm_kernel) and qspmm_avx2_codes.inl. Numerics: the dequantized weight is exact in fp32 (an fp16 scale times an integer
// below 2^8 needs 19 significant bits), so only the fp32 accumulation of w * x rounds, as for
// float weights.

static_assert(CW == 8, "the quantized panel source decodes 8-column chunks (one mask byte)");

enum QFmt { kQDense = 0, kQNM = 1, kQBitmap = 2 };

template <int Fmt, int Bits, bool Asym> struct QuantSrc {
  // The next code of the row and the row itself (its scales and mask bytes); chunks are decoded
  // in order per row (spmm_kernel walks each row's chunks from the first to the last).
  struct Row { int64_t vi; int64_t r; };
  const uint8_t* codes;
  uint64_t code_bytes;
  const uint16_t* scales;
  const uint8_t* zeros;
  const uint8_t* masks;  // mask bytes, 8 columns each (x86: little-endian words)
  const int32_t* rp;
  int64_t cols, gpr, cpg, mask_bytes_per_row, per_row;
  explicit QuantSrc(const MatrixView& a)
      : codes(a.as<uint8_t>(Part::values)), code_bytes(a.part(Part::values).bytes), scales(a.as<uint16_t>(Part::scales)),
        zeros(Asym ? a.as<uint8_t>(Part::zeros) : nullptr),
        masks(Fmt == kQDense ? nullptr : a.as<uint8_t>(Part::masks)),
        rp(Fmt == kQBitmap ? a.as<int32_t>(Part::row_ptr) : nullptr), cols(a.cols),
        gpr(quant_groups_per_row(a.cols, a.quant.group)), cpg(a.quant.group / CW),
        mask_bytes_per_row(Fmt == kQDense ? 0 : 4 * mask_words_per_row(a.cols)),
        per_row(Fmt == kQNM ? nm_values_per_row(a.cols, a.n, a.m) : a.cols) {}
  // cols is a multiple of the group size, itself a multiple of 32: no partial chunk.
  int64_t chunks() const { return cols / CW; }
  Row row(int64_t r) const { return {rp ? int64_t(rp[r]) : r * per_row, r}; }
  const float* direct(int64_t, int64_t, int64_t) const { return nullptr; }
  int64_t direct_stride() const { return 0; }

  void decode(Row& rw, int64_t c, V* o) const {
    const int64_t gi = rw.r * gpr + c / cpg;
    const __m256i z = _mm256_set1_epi32(Asym ? int(zeros[gi]) : quant_sym_zero(Bits));
    const __m256 s = _mm256_set1_ps(_cvtsh_ss(scales[gi]));
    if constexpr (Fmt == kQDense) {
      o[0] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(codes8_lanes<Bits>(codes, code_bytes, rw.vi + c * CW), z)), s);
    } else {
      const uint32_t m = masks[rw.r * mask_bytes_per_row + c];
      const __m256 w = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(codes8_lanes<Bits>(codes, code_bytes, rw.vi), z)), s);
      rw.vi += __builtin_popcount(m);
      // The kept codes to their columns (spmm_avx2.cpp's expand table); other lanes 0.
      const __m256i idx = _mm256_load_si256(reinterpret_cast<const __m256i*>(kExpand.perm[m]));
      o[0] = _mm256_and_ps(_mm256_permutevar8x32_ps(w, idx), _mm256_load_ps(reinterpret_cast<const float*>(kExpand.keep[m])));
    }
  }
};

template <int Fmt, int Bits> SpmmKernel quant_gemm(const MatrixView& a) {
  static const char* const kNames[3][2] = {{"qspmm_gemm_dense_int4_avx2", "qspmm_gemm_dense_int8_avx2"},
                                           {"qspmm_gemm_nm_int4_avx2", "qspmm_gemm_nm_int8_avx2"},
                                           {"qspmm_gemm_bitmap_int4_avx2", "qspmm_gemm_bitmap_int8_avx2"}};
  const SpmmKernelFn fn = a.quant.asym ? spmm_kernel<QuantSrc<Fmt, Bits, true>> : spmm_kernel<QuantSrc<Fmt, Bits, false>>;
  return SpmmKernel{fn, XLayout::k_major, kNames[Fmt][Bits == 8], true, W};
}

template <int Bits> SpmmKernel quant_gemm_for(const MatrixView& a) {
  switch (a.format) {
    case Format::dense: return quant_gemm<kQDense, Bits>(a);
    case Format::nm: return quant_gemm<kQNM, Bits>(a);
    case Format::bitmap: return quant_gemm<kQBitmap, Bits>(a);
    default: return SpmmKernel{};
  }
}
