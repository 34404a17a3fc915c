// AVX2 kernels for quantized weights at N = 1 with fp32 activations (N > 1: the panel GEMM of
// qspmm_avx2_gemm.inl, built into spmm_avx2.cpp). Dense 4-bit: the AVX-512 kernel's layout at half width. 64-column blocks: 32 code bytes
// are 8 dwords holding columns 8i .. 8i+7, so a shift by 4s and a mask put column 8i + s at the
// bottom of lane i; it is converted to fp32 and centered arithmetically (AVX2's vpermps has only
// 8 entries), and x is staged as 8 planes X_s[i] = x[8i + s]. Each lane's 8-column sum of
// (code - zero)·x is multiplied by its group's scale at the end of the block.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../formats/quant.h"
#include "core/isa_target.h"
#include "qspmm.h"

#if SK_HAVE_X86
SK_TARGET_BEGIN_AVX2
namespace sk {
namespace {

// A quantized matrix's codes and per-group grid (formats/quant.h), as every kernel here reads them.
template <int Bits, bool Asym> struct QGrid {
  const uint8_t* codes;
  const uint16_t* scales;
  const uint8_t* zeros;
  int group;
  int64_t gpr;
  explicit QGrid(const MatrixView& a)
      : codes(a.as<uint8_t>(Part::values)), scales(a.as<uint16_t>(Part::scales)),
        zeros(Asym ? a.as<uint8_t>(Part::zeros) : nullptr), group(a.quant.group), gpr(quant_groups_per_row(a.cols, a.quant.group)) {}
  int zero(int64_t gi) const { return Asym ? zeros[gi] : quant_sym_zero(Bits); }
  float scale(int64_t gi) const { return _cvtsh_ss(scales[gi]); }
};

#include "qspmm_avx2_codes.inl"

inline float reduce_add(__m256 v) {
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)));
}

template <bool Asym>
void qgemv_dense_int4(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const QGrid<4, Asym> q(a);
  const int G = q.group;
  const int64_t cols = a.cols, gpr = q.gpr, nb = (cols + 63) / 64;
  const uint8_t* codes = q.codes;
  // x.data holds k_padded >= nb * 64 floats, zero past cols: a last half block reads zeros.
  float* xs = static_cast<float*>(x.workspace);
  for (int64_t b = 0; b < nb; ++b)
    for (int s = 0; s < 8; ++s)
      for (int i = 0; i < 8; ++i) xs[64 * b + 8 * s + i] = x.data[64 * b + 8 * i + s];
  const __m256i nib = _mm256_set1_epi32(15);
  const int gs = __builtin_ctz(unsigned(G));
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* p = codes + r * cols / 2;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const bool half = 64 * b + 32 >= cols;  // the last 32 columns of a row whose width is 32 mod 64
      // Lanes 0-3 cover columns 0..31 of the block, lanes 4-7 columns 32..63.
      // G is a power of two (32 .. 256): shifts, not two integer divisions per block and row.
      const int64_t ga = r * gpr + ((64 * b) >> gs), gb = half ? ga : r * gpr + ((64 * b + 32) >> gs);
      const __m256 sv = _mm256_blend_ps(_mm256_set1_ps(q.scale(ga)), _mm256_set1_ps(q.scale(gb)), 0xf0);
      const __m256 zv = _mm256_blend_ps(_mm256_set1_ps(float(q.zero(ga))), _mm256_set1_ps(float(q.zero(gb))), 0xf0);
      const __m256i v = half ? _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 32 * b)))
                             : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 32 * b));
      const __m256i vv = half ? _mm256_inserti128_si256(v, _mm_setzero_si128(), 1) : v;
      const float* xb = xs + 64 * b;
      auto w = [&](int s) { return _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srli_epi32(vv, 4 * s), nib)), zv); };
      __m256 p0 = _mm256_mul_ps(w(0), _mm256_load_ps(xb)), p1 = _mm256_mul_ps(w(1), _mm256_load_ps(xb + 8));
      __m256 p2 = _mm256_mul_ps(w(2), _mm256_load_ps(xb + 16)), p3 = _mm256_mul_ps(w(3), _mm256_load_ps(xb + 24));
      p0 = _mm256_fmadd_ps(w(4), _mm256_load_ps(xb + 32), p0);
      p1 = _mm256_fmadd_ps(w(5), _mm256_load_ps(xb + 40), p1);
      p2 = _mm256_fmadd_ps(w(6), _mm256_load_ps(xb + 48), p2);
      p3 = _mm256_fmadd_ps(w(7), _mm256_load_ps(xb + 56), p3);
      acc = _mm256_fmadd_ps(_mm256_add_ps(_mm256_add_ps(p0, p1), _mm256_add_ps(p2, p3)), sv, acc);
    }
    out.store(r, 0, reduce_add(acc));
  }
}

// The row loop of the 32-column kernels: for each row and group, step(r, c, z, s) adds columns
// [c, c + 32) of row r, centered on the group's zero z, into four accumulators s (four FMA chains);
// each group's sum is multiplied by its scale once. G is a multiple of 32 (formats/quant.h).
template <int Bits, bool Asym, class Step>
inline void group_rows(const QGrid<Bits, Asym>& q, int64_t r0, int64_t r1, const OutputSpec& out, Step&& step) {
  for (int64_t r = r0; r < r1; ++r) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t g = 0; g < q.gpr; ++g) {
      const int64_t gi = r * q.gpr + g;
      const __m256i z = _mm256_set1_epi32(q.zero(gi));
      __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
      for (int64_t c = g * q.group; c < (g + 1) * q.group; c += 32) step(r, c, z, s);
      acc = _mm256_fmadd_ps(_mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3])), _mm256_set1_ps(q.scale(gi)), acc);
    }
    out.store(r, 0, reduce_add(acc));
  }
}

// 8 codes at p, centered on z, as fp32 (exact).
inline __m256 centered8(const uint8_t* p, __m256i z) {
  return _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))), z));
}

// Dense 8-bit rows: 8 codes widened to int32 lanes, centered in integers (exact), converted and
// FMA'd with x; four chains of 8 columns cover 32, each group's sum times its scale.
template <bool Asym>
void qgemv_dense_int8(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const QGrid<8, Asym> q(a);
  const int64_t cols = a.cols;
  group_rows(q, r0, r1, out, [&](int64_t r, int64_t c, __m256i z, __m256* s) {
    const uint8_t* p = q.codes + r * cols + c;
    // One row streams at a time: a line prefetched per 64 columns (the hardware prefetcher alone
    // held it near half the read bandwidth).
    if ((c & 32) == 0) _mm_prefetch(reinterpret_cast<const char*>(p) + kStreamAheadBytes, _MM_HINT_T0);
    s[0] = _mm256_fmadd_ps(centered8(p, z), _mm256_loadu_ps(x.data + c), s[0]);
    s[1] = _mm256_fmadd_ps(centered8(p + 8, z), _mm256_loadu_ps(x.data + c + 8), s[1]);
    s[2] = _mm256_fmadd_ps(centered8(p + 16, z), _mm256_loadu_ps(x.data + c + 16), s[2]);
    s[3] = _mm256_fmadd_ps(centered8(p + 24, z), _mm256_loadu_ps(x.data + c + 24), s[3]);
  });
}

// nm and bitmap rows, per 8 columns (4-bit; 8-bit alike with bytes widened instead of nibbles
// shifted): the next popcount codes (at most 8: 32 bits from nibble vi) are broadcast and shifted
// into lanes, converted and centered, then moved to their columns by a permutation from a
// 256-entry table (AVX2 has no expand); unkept lanes are zeroed.
// Built at compile time: no code of this AVX2 region may run before the CPU check.
//   idx[m][j]:  the rank of column j among m's set bits (the code that lands there);
//   keep[m][j]: all ones where bit j is set;
//   pair[m][j]: 2:4 only, an in-lane (vpermilps) index: the rank of column j among its 4-column
//               group's set bits (0 or 1), each group's codes sitting at positions 0-1 of its lane
//               (nm24_codes lays them out so); pair2 the same at positions 2-3 (the second 8 columns).
struct ExpandTable {
  alignas(32) int32_t idx[256][8];
  alignas(32) int32_t keep[256][8];
  alignas(32) int32_t pair[256][8];
  alignas(32) int32_t pair2[256][8];
  constexpr ExpandTable() : idx{}, keep{}, pair{}, pair2{} {
    for (int m = 0; m < 256; ++m)
      for (int j = 0, k = 0, kg = 0; j < 8; ++j) {
        const bool set = (m >> j) & 1;
        if (j == 4) kg = 0;
        idx[m][j] = set ? k : 0;
        keep[m][j] = set ? -1 : 0;
        pair[m][j] = set ? kg : 0;
        pair2[m][j] = set ? kg + 2 : 0;
        k += set, kg += set;
      }
  }
};
constexpr ExpandTable kExpand{};

// The 8 codes of 2:4 columns [c, c + 16) (c = r * cols + column, a multiple of 16), centered, as
// fp32, laid out per 4-column group: codes 0 1 4 5 | 2 3 6 7, so each group's two codes are in its
// own lane (an in-lane vpermilps places them: a cross-lane vpermps costs ~1.6 cycles on Zen 2).
template <int Bits> inline __m256 nm24_codes(const uint8_t* codes, int64_t c, __m256i z) {
  __m256i v;
  if constexpr (Bits == 4) {
    uint32_t u;
    std::memcpy(&u, codes + c / 4, 4);
    v = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(int32_t(u)), _mm256_setr_epi32(0, 4, 16, 20, 8, 12, 24, 28)),
                         _mm256_set1_epi32(15));
  } else {
    const __m128i b = _mm_shuffle_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + c / 2)), _mm_setr_epi8(0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    v = _mm256_cvtepu8_epi32(b);
  }
  return _mm256_cvtepi32_ps(_mm256_sub_epi32(v, z));
}
// nm24_codes' lanes placed at the 8 columns of mask byte m (first or second 8 of the 16).
inline __m256 place_pair(__m256 w, const int32_t* idx, const int32_t* keep) {
  return _mm256_and_ps(_mm256_permutevar_ps(w, _mm256_load_si256(reinterpret_cast<const __m256i*>(idx))),
                       _mm256_load_ps(reinterpret_cast<const float*>(keep)));
}

// w's lanes moved by a permutation table row, the unkept lanes cleared.
inline __m256 place(__m256 w, const int32_t* idx, const int32_t* keep) {
  return _mm256_and_ps(_mm256_permutevar8x32_ps(w, _mm256_load_si256(reinterpret_cast<const __m256i*>(idx))),
                       _mm256_load_ps(reinterpret_cast<const float*>(keep)));
}

// 2:4 rows: every 8 columns keep exactly 4 codes, so 16 columns take 8 consecutive codes (4 bytes
// of nibbles or 8 bytes) at a fixed offset: one load, one conversion and centering for both
// 8-column halves, each placed by its mask byte's permutation (no popcount cursor, no bounds
// check: the offsets are exact). Two 16-column steps per iteration keep four FMA chains.
template <int Bits, bool Asym>
void qgemv_nm24(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const QGrid<Bits, Asym> q(a);
  const int64_t cols = a.cols;
  const uint8_t* masks = a.as<uint8_t>(Part::masks);  // one byte per 8 columns (x86: little-endian words)
  group_rows(q, r0, r1, out, [&](int64_t r, int64_t c, __m256i z, __m256* s) {
    const __m256 w0 = nm24_codes<Bits>(q.codes, r * cols + c, z), w1 = nm24_codes<Bits>(q.codes, r * cols + c + 16, z);
    const uint8_t* m = masks + (r * cols + c) / 8;
    s[0] = _mm256_fmadd_ps(place_pair(w0, kExpand.pair[m[0]], kExpand.keep[m[0]]), _mm256_loadu_ps(x.data + c), s[0]);
    s[1] = _mm256_fmadd_ps(place_pair(w0, kExpand.pair2[m[1]], kExpand.keep[m[1]]), _mm256_loadu_ps(x.data + c + 8), s[1]);
    s[2] = _mm256_fmadd_ps(place_pair(w1, kExpand.pair[m[2]], kExpand.keep[m[2]]), _mm256_loadu_ps(x.data + c + 16), s[2]);
    s[3] = _mm256_fmadd_ps(place_pair(w1, kExpand.pair2[m[3]], kExpand.keep[m[3]]), _mm256_loadu_ps(x.data + c + 24), s[3]);
  });
}

template <int Bits, bool Asym>
void qgemv_masked(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const QGrid<Bits, Asym> q(a);
  const int G = q.group;
  const int64_t cols = a.cols, gpr = q.gpr, wpr = mask_words_per_row(cols);
  const uint8_t* codes = q.codes;
  const uint64_t code_bytes = a.part(Part::values).bytes;
  const uint32_t* masks = a.as<uint32_t>(Part::masks);
  const int32_t* rp = a.format == Format::bitmap ? a.as<int32_t>(Part::row_ptr) : nullptr;
  const int64_t per_row = a.format == Format::nm ? nm_values_per_row(cols, a.n, a.m) : 0;
  for (int64_t r = r0; r < r1; ++r) {
    int64_t vi = rp ? int64_t(rp[r]) : r * per_row;
    const uint32_t* rm = masks + r * wpr;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t g = 0; g < gpr; ++g) {
      const int64_t gi = r * gpr + g;
      const __m256 zv = _mm256_set1_ps(float(q.zero(gi)));
      __m256 ga = _mm256_setzero_ps(), gb = _mm256_setzero_ps();
      for (int64_t c = g * G; c < (g + 1) * G; c += 16) {
        for (int h = 0; h < 2; ++h) {
          const uint32_t m = (rm[c / 32] >> (c % 32 + 8 * h)) & 0xffu;
          if (!m) continue;
          const __m256i lanes = codes8_lanes<Bits>(codes, code_bytes, vi);
          vi += __builtin_popcount(m);
          const __m256 w = _mm256_sub_ps(_mm256_cvtepi32_ps(lanes), zv);
          const __m256 wc = place(w, kExpand.idx[m], kExpand.keep[m]);
          if (h) gb = _mm256_fmadd_ps(wc, _mm256_loadu_ps(x.data + c + 8), gb);
          else ga = _mm256_fmadd_ps(wc, _mm256_loadu_ps(x.data + c), ga);
        }
      }
      acc = _mm256_fmadd_ps(_mm256_add_ps(ga, gb), _mm256_set1_ps(q.scale(gi)), acc);
    }
    out.store(r, 0, reduce_add(acc));
  }
}

template <int Bits> SpmmKernel gemv(const MatrixView& a) {
  const bool asym = a.quant.asym;
  const bool b4 = Bits == 4;
  switch (a.format) {
    case Format::dense:
      if constexpr (Bits == 4) return {asym ? qgemv_dense_int4<true> : qgemv_dense_int4<false>, XLayout::k_major, "qspmm_gemv_dense_int4_avx2", true, 1};
      else return {asym ? qgemv_dense_int8<true> : qgemv_dense_int8<false>, XLayout::k_major, "qspmm_gemv_dense_int8_avx2", false, 1};
    case Format::nm:
      if (a.n == 2 && a.m == 4)
        return {asym ? qgemv_nm24<Bits, true> : qgemv_nm24<Bits, false>, XLayout::k_major, b4 ? "qspmm_gemv_nm24_int4_avx2" : "qspmm_gemv_nm24_int8_avx2", false, 1};
      return {asym ? qgemv_masked<Bits, true> : qgemv_masked<Bits, false>, XLayout::k_major, b4 ? "qspmm_gemv_nm_int4_avx2" : "qspmm_gemv_nm_int8_avx2", false, 1};
    case Format::bitmap:
      return {asym ? qgemv_masked<Bits, true> : qgemv_masked<Bits, false>, XLayout::k_major, b4 ? "qspmm_gemv_bitmap_int4_avx2" : "qspmm_gemv_bitmap_int8_avx2", false, 1};
    default: return SpmmKernel{};
  }
}

}  // namespace

SpmmKernel select_qspmm_avx2(const MatrixView& a, int64_t n) {
  if (n > 1) return select_qspmm_avx2_gemm(a, n);
  return a.quant.bits == 4 ? gemv<4>(a) : gemv<8>(a);
}

}  // namespace sk
SK_TARGET_END
#else
namespace sk {
SpmmKernel select_qspmm_avx2(const MatrixView&, int64_t) { return SpmmKernel{}; }
}  // namespace sk
#endif
