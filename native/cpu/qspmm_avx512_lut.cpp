// AVX-512 kernels for 4-bit weights at N = 1 with fp32 activations: dequantization by table.
// A group's 16 possible weights (code - zero) * scale are one zmm register of fp32 (exact: a 5-bit
// integer times an fp16 scale), and vpermps looks a whole vector of codes up in it: it reads only
// the low 4 bits of each index lane, so a code needs no masking once it sits at the bottom of a
// 32-bit lane. The weight is then exactly the dequantized one and each product goes into an fp32
// accumulator (no per-group rounding step; docs/kernels.md "Quantized kernels").
//   dense: 16 code bytes (32 columns) zero-extended to 16 lanes; the low nibbles are the even
//     columns, the high nibbles (>> 4) the odd ones, so x is staged per 32 columns as [even, odd].
//   nm 2:4 (groups of >= 64 columns): 16 code bytes cover 64 columns, byte i = the two kept values
//     of the 4-column group i; x is staged per 64 columns as 4 planes P_j[i] = x[4i + j], and the
//     x of the first / second kept value is picked per lane from the planes with masked loads
//     driven by the group's 4 mask bits (a lane-wise 4-way select, no gather).
//   other nm, bitmap (and 2:4 with 32-column groups): per 16 columns, the next popcount codes are
//     spread into lanes (vpshufb + vpsrlvd: a row may start mid-byte), looked up, and expanded to
//     their columns.
#include <immintrin.h>

#include <cstdint>

#include "../formats/quant.h"
#include "core/isa_target.h"
#include "qspmm.h"

#if SK_HAVE_X86
SK_TARGET_BEGIN_AVX512
namespace sk {
namespace {

#include "avx512_expand.inl"

enum Kind { kNM24 = 1, kMasked = 2 };

struct Grid {
  const uint16_t* scales;
  const uint8_t* zeros;
  // The group's 16 weights: lane c = (c - zero) * scale.
  __m512 table(int64_t gi) const {
    const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const float z = zeros ? float(zeros[gi]) : 8.f;
    return _mm512_mul_ps(_mm512_sub_ps(iota, _mm512_set1_ps(z)), _mm512_set1_ps(_cvtsh_ss(scales[gi])));
  }
};

template <int K>
void qgemv_lut(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const QuantSpec q = a.quant;
  const int64_t cols = a.cols, gpr = cols / q.group, cpg = q.group / 32;
  const uint8_t* codes = a.as<uint8_t>(Part::values);
  const Grid grid{a.as<uint16_t>(Part::scales), q.asym ? a.as<uint8_t>(Part::zeros) : nullptr};
  const uint32_t* masks = a.as<uint32_t>(Part::masks);
  const int64_t wpr = mask_words_per_row(cols);
  const int32_t* rp = a.format == Format::bitmap ? a.as<int32_t>(Part::row_ptr) : nullptr;
  const int64_t per_row = a.format == Format::nm ? nm_values_per_row(cols, a.n, a.m) : cols;
  const float* xs = K == kMasked ? x.data : stage_x_planes4(x.data, cols, static_cast<float*>(x.workspace));
  for (int64_t r = r0; r < r1; ++r) {
    int64_t vi = rp ? int64_t(rp[r]) : r * per_row;
    const uint32_t* rm = masks ? masks + r * wpr : nullptr;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps(), acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    if constexpr (K == kNM24) {
      // 2:4 with G >= 64: a row's codes start on a byte (cols/2 codes per row, cols % 64 == 0).
      const uint8_t* p = codes + (vi >> 1);
      const __m512i words = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
      const __m512i shifts = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
      const int64_t bpg = cpg / 2;  // 64-column blocks per group
      for (int64_t g = 0; g < gpr; ++g) {
        const __m512 t = grid.table(r * gpr + g);
        for (int64_t b = g * bpg; b < (g + 1) * bpg; ++b) {
          // Lane i: the mask nibble of 4-column group i of this block.
          const __m512i m = _mm512_srlv_epi32(
              _mm512_permutexvar_epi32(words, _mm512_castsi128_si512(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(rm + 2 * b)))), shifts);
          const __mmask16 k0 = _mm512_test_epi32_mask(m, _mm512_set1_epi32(1)), k1 = _mm512_test_epi32_mask(m, _mm512_set1_epi32(2));
          const __mmask16 k2 = _mm512_test_epi32_mask(m, _mm512_set1_epi32(4)), k3 = _mm512_test_epi32_mask(m, _mm512_set1_epi32(8));
          const float* xb = xs + b * 64;
          // First kept column: 0 if bit 0, else 1 if bit 1, else 2; second: 3 if bit 3, else 2 if bit 2, else 1.
          __m512 xf = _mm512_load_ps(xb + 32);
          xf = _mm512_mask_load_ps(xf, k1, xb + 16);
          xf = _mm512_mask_load_ps(xf, k0, xb);
          __m512 xl = _mm512_load_ps(xb + 16);
          xl = _mm512_mask_load_ps(xl, k2, xb + 32);
          xl = _mm512_mask_load_ps(xl, k3, xb + 48);
          const __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + b * 16)));
          if (b & 1) {
            acc2 = _mm512_fmadd_ps(_mm512_permutexvar_ps(c, t), xf, acc2);
            acc3 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(c, 4), t), xl, acc3);
          } else {
            acc0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(c, t), xf, acc0);
            acc1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(c, 4), t), xl, acc1);
          }
        }
      }
    } else {
      // Dword lane k of a 16-column half takes code vi + k: byte (odd + k) >> 1 of the bytes loaded
      // from vi >> 1, shifted right by 4 when (odd + k) is odd.
      alignas(64) static const int8_t kByte[2][64] = {
          {0, -1, -1, -1, 0, -1, -1, -1, 1, -1, -1, -1, 1, -1, -1, -1, 2, -1, -1, -1, 2, -1, -1, -1, 3, -1, -1, -1, 3, -1, -1, -1,
           4, -1, -1, -1, 4, -1, -1, -1, 5, -1, -1, -1, 5, -1, -1, -1, 6, -1, -1, -1, 6, -1, -1, -1, 7, -1, -1, -1, 7, -1, -1, -1},
          {0, -1, -1, -1, 1, -1, -1, -1, 1, -1, -1, -1, 2, -1, -1, -1, 2, -1, -1, -1, 3, -1, -1, -1, 3, -1, -1, -1, 4, -1, -1, -1,
           4, -1, -1, -1, 5, -1, -1, -1, 5, -1, -1, -1, 6, -1, -1, -1, 6, -1, -1, -1, 7, -1, -1, -1, 7, -1, -1, -1, 8, -1, -1, -1}};
      const __m512i sh[2] = {_mm512_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4),
                             _mm512_setr_epi32(4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0)};
      const __m512i idx[2] = {_mm512_load_si512(kByte[0]), _mm512_load_si512(kByte[1])};
      for (int64_t g = 0; g < gpr; ++g) {
        const __m512 t = grid.table(r * gpr + g);
        for (int64_t ch = g * cpg; ch < (g + 1) * cpg; ++ch) {
          const uint32_t bits = rm[ch];
          for (int h = 0; h < 2; ++h) {
            const __mmask16 k = __mmask16(bits >> (16 * h));
            const int cnt = __builtin_popcount(uint32_t(k)), odd = int(vi & 1), nb = (odd + cnt + 1) >> 1;
            if (cnt == 0) continue;
            const __m128i raw = _mm_maskz_loadu_epi8(__mmask16((1u << nb) - 1), codes + (vi >> 1));
            const __m512i lanes = _mm512_srlv_epi32(_mm512_shuffle_epi8(_mm512_broadcast_i32x4(raw), idx[odd]), sh[odd]);
            const __m512 w = expand_f32(_mm512_permutexvar_ps(lanes, t), k);
            vi += cnt;
            if (h) acc1 = _mm512_fmadd_ps(w, _mm512_loadu_ps(xs + ch * 32 + 16), acc1);
            else acc0 = _mm512_fmadd_ps(w, _mm512_loadu_ps(xs + ch * 32), acc0);
          }
        }
      }
    }
    out.store(r, 0, _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3))));
  }
}


// The 16 int4 codes as fp32 lanes, lane c = c - 8 for symmetric codes; asymmetric ones keep c
// (block_grid's zero points are subtracted after the lookup).
template <bool Asym>
inline __m512 block_code_table() {
  const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  return Asym ? iota : _mm512_sub_ps(iota, _mm512_set1_ps(8.f));
}

// Lane i of a block of 16 * span columns covers columns span*i .. span*i + span-1: its group is
// span*i / G after the block's first (0 for every lane when G spans the whole block).
inline __m512i block_lane_groups(int span, int64_t G) {
  const __m512i first = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(span));
  return _mm512_srlv_epi32(first, _mm512_set1_epi32(G >= 16 * span ? 31 : __builtin_ctz(unsigned(G))));
}

// The scales (and zero points) of a block's lanes: groups g .. g+count-1 (count = block / G, or 1
// when the block lies in one group), lane i taking group g + lane_group[i].
template <bool Asym>
inline void block_grid(const uint16_t* scales, const uint8_t* zeros, int64_t g, int count, __m512i lane_group, __m512* sv, __m512* zv) {
  *zv = _mm512_setzero_ps();
  if (count == 1) {
    *sv = _mm512_set1_ps(_cvtsh_ss(scales[g]));
    if (Asym) *zv = _mm512_set1_ps(float(zeros[g]));
    return;
  }
  const __mmask8 k = __mmask8((1u << count) - 1);
  *sv = _mm512_permutexvar_ps(lane_group, _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_maskz_loadu_epi16(k, scales + g))));
  if (Asym) *zv = _mm512_permutexvar_ps(lane_group, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(k, zeros + g))));
}

// Dense rows in 128-column blocks: 64 code bytes are 16 dwords, dword i the codes of columns
// 8i .. 8i+7, so shifting by 4s (no shuffle) puts column 8i + s at the bottom of lane i, and x is
// staged per block as 8 planes X_s[i] = x[8i + s]. Only the table lookups cross lanes (the
// expensive kind here). The table holds code - zero (symmetric: one table for the matrix;
// asymmetric: codes, minus a per-lane zero vector); each lane's 8-column sum is multiplied by its
// group's scale at the end of the block. A last 32..96 columns go 32 at a time, [even, odd].
template <bool Asym>
void qgemv_dense(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const int G = a.quant.group;
  const int64_t cols = a.cols, gpr = cols / G, nb = cols / 128, gpb = G >= 128 ? 1 : 128 / G;
  const uint8_t* codes = a.as<uint8_t>(Part::values);
  const uint16_t* scales = a.as<uint16_t>(Part::scales);
  const uint8_t* zeros = Asym ? a.as<uint8_t>(Part::zeros) : nullptr;
  const Grid grid{scales, zeros};
  float* xs = static_cast<float*>(x.workspace);
  for (int64_t b = 0; b < nb; ++b)
    for (int s = 0; s < 8; ++s)
      for (int i = 0; i < 16; ++i) xs[128 * b + 16 * s + i] = x.data[128 * b + 8 * i + s];
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  for (int64_t c = nb * 128; c < cols; c += 32) {
    const __m512 lo = _mm512_loadu_ps(x.data + c), hi = _mm512_loadu_ps(x.data + c + 16);
    _mm512_store_ps(xs + c, _mm512_permutex2var_ps(lo, even, hi));
    _mm512_store_ps(xs + c + 16, _mm512_permutex2var_ps(lo, _mm512_add_epi32(even, _mm512_set1_epi32(1)), hi));
  }
  const __m512 table = block_code_table<Asym>();
  const __m512i lane_group = block_lane_groups(8, G);  // 128-column blocks
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* p = codes + r * cols / 2;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t g = r * gpr + b * 128 / G;
      __m512 sv, zv;
      block_grid<Asym>(scales, zeros, g, int(gpb), lane_group, &sv, &zv);
      const __m512i v = _mm512_loadu_si512(p + 64 * b);
      const float* xb = xs + 128 * b;
      auto w = [&](int s) {
        const __m512 t = _mm512_permutexvar_ps(s ? _mm512_srli_epi32(v, 4 * s) : v, table);
        return Asym ? _mm512_sub_ps(t, zv) : t;
      };
      __m512 p0 = _mm512_mul_ps(w(0), _mm512_load_ps(xb)), p1 = _mm512_mul_ps(w(1), _mm512_load_ps(xb + 16));
      __m512 p2 = _mm512_mul_ps(w(2), _mm512_load_ps(xb + 32)), p3 = _mm512_mul_ps(w(3), _mm512_load_ps(xb + 48));
      p0 = _mm512_fmadd_ps(w(4), _mm512_load_ps(xb + 64), p0);
      p1 = _mm512_fmadd_ps(w(5), _mm512_load_ps(xb + 80), p1);
      p2 = _mm512_fmadd_ps(w(6), _mm512_load_ps(xb + 96), p2);
      p3 = _mm512_fmadd_ps(w(7), _mm512_load_ps(xb + 112), p3);
      acc = _mm512_fmadd_ps(_mm512_add_ps(_mm512_add_ps(p0, p1), _mm512_add_ps(p2, p3)), sv, acc);
    }
    for (int64_t c = nb * 128; c < cols; c += 32) {  // the tail: whole groups of 32 or 64 columns
      const __m512 t = grid.table(r * gpr + c / G);
      const __m512i b0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + c / 2)));
      acc = _mm512_fmadd_ps(_mm512_permutexvar_ps(b0, t), _mm512_load_ps(xs + c), acc);
      acc = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(b0, 4), t), _mm512_load_ps(xs + c + 16), acc);
    }
    out.store(r, 0, _mm512_reduce_add_ps(acc));
  }
}

// 2:4 rows in 256-column blocks (cols % 256 == 0, any G): lane i covers columns 16i .. 16i+15,
// four 4-column groups q. Dword i of the block's 64 code bytes holds their codes (byte q: first
// kept value in the low nibble, second in the high one), so shifts by 8q and 8q + 4 bring each to
// the bottom of lane i without a shuffle; mask halfword i (one zero-extension per block) gives the
// 16 lane masks that pick each kept value's x from 16 staged planes X_qj[i] = x[16i + 4q + j].
// The table holds code - zero as for dense; scales apply per lane at the end of the block.
template <bool Asym>
void qgemv_nm24_b256(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const int G = a.quant.group;
  const int64_t cols = a.cols, gpr = cols / G, nb = cols / 256, gpb = G >= 256 ? 1 : 256 / G, wpr = mask_words_per_row(cols);
  const uint8_t* codes = a.as<uint8_t>(Part::values);
  const uint16_t* scales = a.as<uint16_t>(Part::scales);
  const uint8_t* zeros = Asym ? a.as<uint8_t>(Part::zeros) : nullptr;
  const uint32_t* masks = a.as<uint32_t>(Part::masks);
  float* xs = static_cast<float*>(x.workspace);
  for (int64_t b = 0; b < nb; ++b)
    for (int qj = 0; qj < 16; ++qj)
      for (int i = 0; i < 16; ++i) xs[256 * b + 16 * qj + i] = x.data[256 * b + 16 * i + qj];
  const __m512 table = block_code_table<Asym>();
  const __m512i lane_group = block_lane_groups(16, G);  // 256-column blocks
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* p = codes + r * cols / 4;  // cols / 2 codes per row: rows start on a byte
    const uint32_t* rm = masks + r * wpr;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t g = r * gpr + b * 256 / G;
      __m512 sv, zv;
      block_grid<Asym>(scales, zeros, g, int(gpb), lane_group, &sv, &zv);
      const __m512i v = _mm512_loadu_si512(p + 64 * b);
      const __m512i m = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(rm + 8 * b)));
      const float* xb = xs + 256 * b;
      __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
      auto group = [&](int q, __m512& first, __m512& second) {
        const float* xq = xb + 64 * q;
        const __mmask16 k0 = _mm512_test_epi32_mask(m, _mm512_set1_epi32(1 << (4 * q))), k1 = _mm512_test_epi32_mask(m, _mm512_set1_epi32(2 << (4 * q)));
        const __mmask16 k2 = _mm512_test_epi32_mask(m, _mm512_set1_epi32(4 << (4 * q))), k3 = _mm512_test_epi32_mask(m, _mm512_set1_epi32(8 << (4 * q)));
        // First kept column: 0 if bit 0, else 1 if bit 1, else 2; second: 3 if bit 3, else 2 if bit 2, else 1.
        const __m512 x0 = _mm512_load_ps(xq), x1 = _mm512_load_ps(xq + 16), x2 = _mm512_load_ps(xq + 32), x3 = _mm512_load_ps(xq + 48);
        const __m512 xf = _mm512_mask_blend_ps(k0, _mm512_mask_blend_ps(k1, x2, x1), x0);
        const __m512 xl = _mm512_mask_blend_ps(k3, _mm512_mask_blend_ps(k2, x1, x2), x3);
        __m512 wf = _mm512_permutexvar_ps(q ? _mm512_srli_epi32(v, 8 * q) : v, table);
        __m512 wl = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 8 * q + 4), table);
        if (Asym) {
          wf = _mm512_sub_ps(wf, zv);
          wl = _mm512_sub_ps(wl, zv);
        }
        first = _mm512_fmadd_ps(wf, xf, first);
        second = _mm512_fmadd_ps(wl, xl, second);
      };
      group(0, s0, s1);
      group(1, s2, s3);
      group(2, s0, s1);
      group(3, s2, s3);
      acc = _mm512_fmadd_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)), sv, acc);
    }
    out.store(r, 0, _mm512_reduce_add_ps(acc));
  }
}

}  // namespace

SpmmKernel select_qspmm_lut(const MatrixView& a, int64_t n) {
  if (n != 1 || a.quant.bits != 4) return SpmmKernel{};
  switch (a.format) {
    case Format::dense: return {a.quant.asym ? qgemv_dense<true> : qgemv_dense<false>, XLayout::k_major, "qspmm_gemv_dense_int4_avx512", true, 1};
    case Format::nm:
      if (a.n == 2 && a.m == 4 && a.cols % 256 == 0)
        return {a.quant.asym ? qgemv_nm24_b256<true> : qgemv_nm24_b256<false>, XLayout::k_major, "qspmm_gemv_nm24_b256_int4_avx512", true, 1};
      if (a.n == 2 && a.m == 4 && a.quant.group >= 64) return {qgemv_lut<kNM24>, XLayout::k_major, "qspmm_gemv_nm24_b64_int4_avx512", true, 1};
      return {qgemv_lut<kMasked>, XLayout::k_major, "qspmm_gemv_nm_int4_avx512", false, 1};
    case Format::bitmap: return {qgemv_lut<kMasked>, XLayout::k_major, "qspmm_gemv_bitmap_int4_avx512", false, 1};
    default: return SpmmKernel{};
  }
}

}  // namespace sk
SK_TARGET_END
#else
namespace sk {
SpmmKernel select_qspmm_lut(const MatrixView&, int64_t) { return SpmmKernel{}; }
}  // namespace sk
#endif
