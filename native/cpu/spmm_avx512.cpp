// AVX-512 (F/BW/VL/DQ + VBMI2) instantiation of spmm_kernels.inl: 16-float vectors, 32-column
// decode chunks (one mask word), vpexpandw / vexpandps expand-loads.
#include <immintrin.h>

#include <cstdint>

#include "../core/dtype.h"
#include "../formats/quant.h"
#include "qspmm.h"
#include "spmm.h"
#include "core/isa_target.h"

#if SK_HAVE_X86
SK_TARGET_BEGIN_AVX512
namespace sk {
namespace {

#include "avx512_expand.inl"

struct VT {
  using V = __m512;
  // Rows per GEMV pass: four a quarter of the task apart, for every format, each dense row's
  // stream prefetched in software (measured: docs/kernels.md, "Measurements behind the code").
  static constexpr int W = 16, CW = 32, NV = 2, kJ = 4, kRv = 4, kRvDense = 4, kRv32 = 4, kRb = 6, kJV = 4, kGemvChains = 4;
  static constexpr bool kGemvApart = true, kGemvApartDense = true;
  static constexpr bool kPrefetch16 = true, kPrefetch32 = true;
  static constexpr double kOuterDensity = 0.25;
  static constexpr bool kHalfPairs = false;  // AVX2 only: pairs of byte-mask chunks
  static constexpr bool kCursorPairs = true;  // MaskSrc::decode_two (measured: docs/kernels.md, thirteenth session)

  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V load_tail(const float* p, int cnt) { return _mm512_maskz_loadu_ps(__mmask16((1u << cnt) - 1u), p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V set1(float v) { return _mm512_set1_ps(v); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static float hsum(V v) {
    // (not _mm512_reduce_add_ps: GCC 12's version trips -Wuninitialized)
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
  }

  // 32 16-bit weights in a zmm -> two fp32 vectors in column order. (Splitting bf16 into even and
  // odd columns with one shift and one AND, with x staged to match, measured slower than these
  // widening moves: docs/kernels.md, "Measurements behind the code".)
  template <class D> static void split16(__m512i v, V* o) {
    if constexpr (D::kIsBf16) {
      o[0] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(v)), 16));
      o[1] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(v, 1)), 16));
    } else {
      o[0] = _mm512_cvtph_ps(_mm512_castsi512_si256(v));
      o[1] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(v, 1));
    }
  }
  template <class D> static void dense_chunk(const typename D::T* p, V* o) {
    if constexpr (D::kIsF32) {
      o[0] = _mm512_loadu_ps(p);
      o[1] = _mm512_loadu_ps(p + 16);
    } else {
      split16<D>(_mm512_loadu_si512(p), o);
    }
  }
  template <class D> static void dense_tail(const typename D::T* p, int cnt, V* o) {
    const __mmask32 k = __mmask32((uint64_t(1) << cnt) - 1u);
    if constexpr (D::kIsF32) {
      o[0] = _mm512_maskz_loadu_ps(__mmask16(k), p);
      o[1] = _mm512_maskz_loadu_ps(__mmask16(k >> 16), p + 16);
    } else {
      split16<D>(_mm512_maskz_loadu_epi16(k, p), o);
    }
  }
  template <class D, bool Safe> static const typename D::T* sparse_chunk(const typename D::T* p, uint32_t bits, const typename D::T* end, V* o) {
    // A full 64-byte load may run past the end of the values near it: load only what is there.
    if constexpr (D::kIsF32) {
      const uint32_t lo = bits & 0xffffu, hi = bits >> 16;
      const int nlo = __builtin_popcount(lo), nhi = __builtin_popcount(hi);
      const bool safe = Safe || end - p >= 32;
      const __m512 a = safe ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(__mmask16((1u << nlo) - 1u), p);
      const __m512 b = safe ? _mm512_loadu_ps(p + nlo) : _mm512_maskz_loadu_ps(__mmask16((1u << nhi) - 1u), p + nlo);
      o[0] = expand_f32(a, __mmask16(lo));
      o[1] = expand_f32(b, __mmask16(hi));
      return p + nlo + nhi;
    } else {
      const int cnt = __builtin_popcount(bits);
      const __m512i v = Safe || end - p >= 32 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi16(__mmask32((uint64_t(1) << cnt) - 1u), p);
      split16<D>(expand_w16(v, __mmask32(bits)), o);
      return p + cnt;
    }
  }
  // W weights in natural order (CSR).
  template <class D> static V load_w(const typename D::T* p) {
    if constexpr (D::kIsF32) return _mm512_loadu_ps(p);
    else if constexpr (D::kIsBf16)
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))), 16));
    else return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  template <class D> static V load_w_tail(const typename D::T* p, int cnt) {
    const __mmask16 k = __mmask16((1u << cnt) - 1u);
    if constexpr (D::kIsF32) return _mm512_maskz_loadu_ps(k, p);
    else if constexpr (D::kIsBf16)
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, p)), 16));
    else return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, p));
  }
  static int mask_cols(uint32_t bits, int32_t base, int32_t* out) {
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i lo = _mm512_add_epi32(iota, _mm512_set1_epi32(base));
    const int n0 = __builtin_popcount(bits & 0xffffu);
    // Compress in registers, then a plain store: compress-to-memory is slow on Zen 4.
    _mm512_storeu_si512(out, _mm512_maskz_compress_epi32(__mmask16(bits), lo));
    _mm512_storeu_si512(out + n0, _mm512_maskz_compress_epi32(__mmask16(bits >> 16), _mm512_add_epi32(lo, _mm512_set1_epi32(16))));
    return n0 + __builtin_popcount(bits >> 16);
  }
  static V gather(const float* base, const int32_t* idx) {
    return _mm512_i32gather_ps(_mm512_loadu_si512(idx), base, 4);
  }
};

#define SK_ISA_NAME "avx512"
#include "spmm_kernels.inl"
#undef SK_ISA_NAME
#include "qspmm_avx512_decode.inl"
#include "qspmm_avx512_gemm.inl"

}  // namespace

SpmmKernel select_spmm_avx512(const MatrixView& a, int64_t n) { return pick_kernel(a, n); }
SpmmKernel select_qspmm_avx512_gemm(const MatrixView& a, int64_t) { return a.quant.bits == 4 ? quant_gemm_for<4>(a) : quant_gemm_for<8>(a); }

}  // namespace sk
SK_TARGET_END
#else
namespace sk {
SpmmKernel select_spmm_avx512(const MatrixView&, int64_t) { return SpmmKernel{}; }
SpmmKernel select_qspmm_avx512_gemm(const MatrixView&, int64_t) { return SpmmKernel{}; }
}  // namespace sk
#endif
