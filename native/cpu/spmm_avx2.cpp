// AVX2 + FMA + F16C instantiation of spmm_kernels.inl: 8-float vectors, 8-column decode chunks.
// AVX2 has no expand-load: a mask byte selects a shuffle control from a 256-entry table (vpshufb
// for 16-bit weights, vpermps + a lane mask for fp32).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../core/dtype.h"
#include "../formats/quant.h"
#include "qspmm.h"
#include "spmm.h"
#include "core/isa_target.h"

#if SK_HAVE_X86
namespace sk {
namespace {
// Per mask byte b (8 columns; bit i = column i kept), where each kept column's packed value comes
// from: its rank k among the set bits below it. Three forms of the same map:
//   perm[b][i]:  vpermps index (fp32 weights), keep[b][i] all ones where bit i is set (the AND
//                that clears the other lanes: one load and AND, against three ops to build it);
//   bf16[b]:     a vpshufb control over the 16 packed bytes broadcast to both 128-bit halves, which
//                lands value k's two bytes in the high half of fp32 lane i: bf16 -> fp32 for free;
//   f16[b]:      a vpshufb control that places value k at 16-bit lane i, ready for vcvtph2ps;
//   cols[b][k]:  the inverse: the column of the k-th set bit (the outer-product kernels' indices).
// 0x80 in a control byte writes zero, so cleared columns come out as 0 with no extra masking.
struct ExpandTable {
  alignas(32) uint8_t bf16[256][32];  // first: the hot bf16 decode then indexes it with one shift
  alignas(32) int32_t perm[256][8];
  alignas(32) int32_t keep[256][8];
  alignas(16) uint8_t f16[256][16];
  alignas(32) int32_t cols[256][8];
  ExpandTable() {
    for (int b = 0; b < 256; ++b) {
      int k = 0;
      for (int i = 0; i < 8; ++i) {
        const bool set = (b >> i) & 1;
        perm[b][i] = set ? k : 0;
        keep[b][i] = set ? -1 : 0;
        const uint8_t lo = set ? uint8_t(2 * k) : 0x80, hi = set ? uint8_t(2 * k + 1) : 0x80;
        bf16[b][4 * i + 0] = bf16[b][4 * i + 1] = 0x80;
        bf16[b][4 * i + 2] = lo;
        bf16[b][4 * i + 3] = hi;
        f16[b][2 * i] = lo;
        f16[b][2 * i + 1] = hi;
        cols[b][i] = 0;
        if (set) cols[b][k] = i;
        k += set;
      }
    }
  }
};
const ExpandTable kExpand;
}  // namespace
}  // namespace sk

SK_TARGET_BEGIN_AVX2
namespace sk {
namespace {

struct VT {
  using V = __m256;
  // Rows per GEMV pass: bitmap / N:M one, dense four a quarter of the task apart, prefetched in
  // software (measured: docs/kernels.md, "Measurements behind the code"; the dense choices with
  // this code on a Zen 5, not on an AVX2-only CPU).
  static constexpr int W = 8, CW = 8, NV = 1, kJ = 4, kRv = 1, kRvDense = 4, kRv32 = 4, kRb = 6, kJV = 2, kGemvChains = 4;
  static constexpr bool kGemvApart = false, kGemvApartDense = true;
  static constexpr bool kPrefetch16 = true, kPrefetch32 = true;
  static constexpr double kOuterDensity = 0.35;
  static constexpr bool kHalfPairs = true;
  static constexpr bool kCursorPairs = false;  // slower with this code (docs/kernels.md, thirteenth session)

  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static __m256i lane_mask(int cnt) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(cnt), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V load_tail(const float* p, int cnt) { return _mm256_maskload_ps(p, lane_mask(cnt)); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V set1(float v) { return _mm256_set1_ps(v); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static float hsum(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }

  // 8 weights (natural order) -> fp32.
  template <class D> static V load_w(const typename D::T* p) {
    if constexpr (D::kIsF32) return _mm256_loadu_ps(p);
    else {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      if constexpr (D::kIsBf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
      else return _mm256_cvtph_ps(h);
    }
  }
  template <class D> static V load_w_tail(const typename D::T* p, int cnt) {
    typename D::T tmp[8] = {};
    std::memcpy(tmp, p, size_t(cnt) * sizeof(*p));
    return load_w<D>(tmp);
  }
  template <class D> static void dense_chunk(const typename D::T* p, V* o) { o[0] = load_w<D>(p); }
  template <class D> static void dense_tail(const typename D::T* p, int cnt, V* o) { o[0] = load_w_tail<D>(p, cnt); }
  // No branch on an empty byte: at 90% sparsity 43% of the bytes are zero, at random, and a
  // mispredict per byte cost more than the whole decode.
  template <class D, bool Safe> static const typename D::T* sparse_chunk(const typename D::T* p, uint32_t bits, const typename D::T* end, V* o) {
    const int cnt = __builtin_popcount(bits);
    // A full 8-element load may run past the values buffer near its end: copy those few.
    typename D::T tmp[8];
    const typename D::T* src = p;
    if (!Safe && end - p < 8) {
      for (int i = 0; i < 8; ++i) tmp[i] = i < cnt ? p[i] : 0;
      src = tmp;
    }
    if constexpr (D::kIsF32) {
      const __m256i idx = _mm256_load_si256(reinterpret_cast<const __m256i*>(kExpand.perm[bits]));
      const __m256 keep = _mm256_load_ps(reinterpret_cast<const float*>(kExpand.keep[bits]));
      o[0] = _mm256_and_ps(_mm256_permutevar8x32_ps(_mm256_loadu_ps(src), idx), keep);
    } else if constexpr (D::kIsBf16) {
      const __m256i packed = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src)));
      o[0] = _mm256_castsi256_ps(_mm256_shuffle_epi8(packed, _mm256_load_si256(reinterpret_cast<const __m256i*>(kExpand.bf16[bits]))));
    } else {
      const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
      o[0] = _mm256_cvtph_ps(_mm_shuffle_epi8(packed, _mm_load_si128(reinterpret_cast<const __m128i*>(kExpand.f16[bits]))));
    }
    return p + cnt;
  }
  // Two chunks of an n:m that keeps half of each (2:4, 4:8): their 4 + 4 values are consecutive,
  // so one load serves both, the second chunk's shifted down (no popcount, one load fewer).
  template <class D> static void half_pair(const typename D::T* p, uint32_t b0, uint32_t b1, V* o0, V* o1) {
    if constexpr (D::kIsF32) {
      const __m256 v = _mm256_loadu_ps(p);
      const __m256i i0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(kExpand.perm[b0]));
      const __m256i i1 = _mm256_add_epi32(_mm256_load_si256(reinterpret_cast<const __m256i*>(kExpand.perm[b1])), _mm256_set1_epi32(4));
      o0[0] = _mm256_and_ps(_mm256_permutevar8x32_ps(v, i0), _mm256_load_ps(reinterpret_cast<const float*>(kExpand.keep[b0])));
      o1[0] = _mm256_and_ps(_mm256_permutevar8x32_ps(v, i1), _mm256_load_ps(reinterpret_cast<const float*>(kExpand.keep[b1])));
    } else if constexpr (D::kIsBf16) {
      const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      o0[0] = _mm256_castsi256_ps(_mm256_shuffle_epi8(v, _mm256_load_si256(reinterpret_cast<const __m256i*>(kExpand.bf16[b0]))));
      o1[0] = _mm256_castsi256_ps(_mm256_shuffle_epi8(_mm256_srli_si256(v, 8), _mm256_load_si256(reinterpret_cast<const __m256i*>(kExpand.bf16[b1]))));
    } else {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      o0[0] = _mm256_cvtph_ps(_mm_shuffle_epi8(v, _mm_load_si128(reinterpret_cast<const __m128i*>(kExpand.f16[b0]))));
      o1[0] = _mm256_cvtph_ps(_mm_shuffle_epi8(_mm_srli_si128(v, 8), _mm_load_si128(reinterpret_cast<const __m128i*>(kExpand.f16[b1]))));
    }
  }
  // Branch-free: per mask byte, its eight table columns plus the base stored, the cursor moved by
  // its popcount (walking the bits mispredicts about once per word).
  static int mask_cols(uint32_t bits, int32_t base, int32_t* out) {
    int n = 0;
    for (int b = 0; b < 4; ++b) {
      const uint32_t byte = (bits >> (8 * b)) & 0xffu;
      const __m256i c = _mm256_load_si256(reinterpret_cast<const __m256i*>(kExpand.cols[byte]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + n), _mm256_add_epi32(c, _mm256_set1_epi32(base + 8 * b)));
      n += __builtin_popcount(byte);
    }
    return n;
  }
  // Eight scalar loads and inserts, not vgatherdps: on Zen 3 the microcoded gather costs 2.3
  // cycles per element against 1.1 for this (4096-float x in cache, random columns).
  static V gather(const float* base, const int32_t* idx) {
    const __m128 lo = _mm_setr_ps(base[idx[0]], base[idx[1]], base[idx[2]], base[idx[3]]);
    const __m128 hi = _mm_setr_ps(base[idx[4]], base[idx[5]], base[idx[6]], base[idx[7]]);
    return _mm256_set_m128(hi, lo);
  }
};

#define SK_ISA_NAME "avx2"
#include "spmm_kernels.inl"
#undef SK_ISA_NAME
#include "qspmm_avx2_codes.inl"
#include "qspmm_avx2_gemm.inl"

}  // namespace

SpmmKernel select_spmm_avx2(const MatrixView& a, int64_t n) { return pick_kernel(a, n); }
SpmmKernel select_qspmm_avx2_gemm(const MatrixView& a, int64_t) { return a.quant.bits == 4 ? quant_gemm_for<4>(a) : quant_gemm_for<8>(a); }

}  // namespace sk
SK_TARGET_END
#else
namespace sk {
SpmmKernel select_spmm_avx2(const MatrixView&, int64_t) { return SpmmKernel{}; }
SpmmKernel select_qspmm_avx2_gemm(const MatrixView&, int64_t) { return SpmmKernel{}; }
}  // namespace sk
#endif
