// AVX512-BF16 kernel for 2:4 + 4-bit weights times bf16 activations at N > 8 (prefill batches).
// A 2:4 group of 4 columns keeps two weights; (code - zero) of each is a small integer, exact in
// bf16, so the pair is one bf16x2 dword and one vdpbf16ps multiplies it with the matching x pair
// for 16 columns of N: half the dot-product instructions of a dense bf16 row. The x pair depends on
// which two columns are kept (6 patterns): per task and per 16 columns of N, x is staged once as
// the 6 pairs of every 4-column group (6 x 64 bytes), and each weight pair loads its pattern's.
// Each group of G columns sums exact products in fp32 (vdpbf16ps: bf16 products are exact, the
// pair sum and the accumulation round in fp32, denormals flushed) and is multiplied by its fp16
// scale once (docs/kernels.md "Quantized kernels").
#include <immintrin.h>

#include <cstdint>

#include "../formats/quant.h"
#include "core/isa_target.h"
#include "qspmm.h"

#if SK_HAVE_X86
SK_TARGET_BEGIN_AVX512BF16
namespace sk {
namespace {

constexpr int64_t kPatternBytes = 64;      // 16 bf16 pairs: one zmm
constexpr int64_t kGroupBytes = 6 * kPatternBytes;

// Mask nibble (exactly two bits set) -> byte offset of its pattern within a group's 6:
// (0,1) (0,2) (0,3) (1,2) (1,3) (2,3).
alignas(64) const int32_t kPatternOffset[16] = {0, 0, 0, 0 * 64, 0, 1 * 64, 3 * 64, 0, 0, 2 * 64, 4 * 64, 0, 5 * 64, 0, 0, 0};

// The staged pairs, then one fp32 accumulator vector per row of the task.
size_t pairs_workspace(int64_t rows, int64_t, int64_t kp) { return size_t(kp / 4 * kGroupBytes + rows * 64 + 64); }
// Columns per pass over the task's rows: their staged pairs (24 KiB) stay in L1.
constexpr int64_t kKBlock = 256;

// The 6 x pairs of every 4-column group for columns j0 .. j0+15 of N, from the k_pairs layout.
void stage_pairs(const uint16_t* xb, int64_t ld, int64_t cols, int64_t j0, uint8_t* dst) {
  const __mmask32 hi = 0xaaaaaaaau;
  for (int64_t i = 0; i < cols / 4; ++i) {
    const __m512i p0 = _mm512_loadu_si512(xb + (2 * i) * 2 * ld + 2 * j0);      // (x[4i], x[4i+1])
    const __m512i p1 = _mm512_loadu_si512(xb + (2 * i + 1) * 2 * ld + 2 * j0);  // (x[4i+2], x[4i+3])
    const __m512i h0 = _mm512_srli_epi32(p0, 16), l1 = _mm512_slli_epi32(p1, 16);
    uint8_t* d = dst + i * kGroupBytes;
    _mm512_store_si512(d + 0 * 64, p0);
    _mm512_store_si512(d + 1 * 64, _mm512_mask_blend_epi16(hi, p0, l1));
    _mm512_store_si512(d + 2 * 64, _mm512_mask_blend_epi16(hi, p0, p1));
    _mm512_store_si512(d + 3 * 64, _mm512_mask_blend_epi16(hi, h0, l1));
    _mm512_store_si512(d + 4 * 64, _mm512_mask_blend_epi16(hi, h0, p1));
    _mm512_store_si512(d + 5 * 64, p1);
  }
}

// Lane c: bf16 bits of (c - zero), exact.
inline __m512i pair_table(const uint8_t* zeros, int64_t gi) {
  const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const float z = zeros ? float(zeros[gi]) : 8.f;
  return _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_sub_ps(iota, _mm512_set1_ps(z))));
}

// G32: groups of 32 columns, so the 64-column block's two halves have their own zero and scale.
// Pair t of a 64-column block: its weights (lane t of wv) times its pattern's x pair.
#define SK_PAIR(t, acc_)                                                                                       \
  acc_ = _mm512_dpbf16_ps(acc_, (__m512bh)_mm512_permutexvar_epi32(_mm512_set1_epi32(t), wv),                 \
                          (__m512bh)_mm512_load_si512(s + t * kGroupBytes + kPatternOffset[(m64 >> (4 * t)) & 15]));

template <bool G32>
void qpairs_nm24(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const QuantSpec q = a.quant;
  const int64_t cols = a.cols, gpr = cols / q.group, bpg = G32 ? 1 : q.group / 64, per_row = cols / 2, wpr = mask_words_per_row(cols);
  const uint8_t* codes = a.as<uint8_t>(Part::values);
  const uint16_t* scales = a.as<uint16_t>(Part::scales);
  const uint8_t* zeros = q.asym ? a.as<uint8_t>(Part::zeros) : nullptr;
  const uint32_t* masks = a.as<uint32_t>(Part::masks);
  uint8_t* staged = static_cast<uint8_t*>(x.workspace);
  for (int64_t j0 = 0; j0 < x.n; j0 += 16) {
    stage_pairs(x.bf16, x.ld, cols, j0, staged);
    float* sums = reinterpret_cast<float*>(staged + cols / 4 * kGroupBytes);
    const int64_t nj = x.n - j0 < 16 ? x.n - j0 : 16;
    for (int64_t kb = 0; kb < cols; kb += kKBlock) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint8_t* rc = codes + r * per_row / 2;  // per_row is even: rows start on a byte
      const uint32_t* rm = masks + r * wpr;
      __m512 acc = kb ? _mm512_load_ps(sums + (r - r0) * 16) : _mm512_setzero_ps();
      // Eight sums: vdpbf16ps's latency would stall fewer chains.
      __m512 g0 = _mm512_setzero_ps(), g1 = g0, g2 = g0, g3 = g0, g4 = g0, g5 = g0, g6 = g0, g7 = g0;
      __m512i table = _mm512_setzero_si512();
      // The running group's sum times its scale, into acc.
      auto fold = [&](int64_t gi) {
        const __m512 t = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(g0, g1), _mm512_add_ps(g2, g3)), _mm512_add_ps(_mm512_add_ps(g4, g5), _mm512_add_ps(g6, g7)));
        acc = _mm512_fmadd_ps(t, _mm512_set1_ps(_cvtsh_ss(scales[gi])), acc);
        g0 = g1 = g2 = g3 = g4 = g5 = g6 = g7 = _mm512_setzero_ps();
      };
      const int64_t kend = kb + kKBlock < cols ? kb + kKBlock : cols;
      for (int64_t b = kb / 64; b < kend / 64; ++b) {
        // 16 groups of 4 columns: byte t holds their two codes, mask nibble t their columns.
        const __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(rc + b * 16)));
        const __m512i ch = _mm512_srli_epi32(c, 4);
        __m512i lo, hi;
        if constexpr (G32) {
          const __m512i ta = pair_table(zeros, r * gpr + 2 * b), tb = pair_table(zeros, r * gpr + 2 * b + 1);
          lo = _mm512_mask_permutexvar_epi32(_mm512_permutexvar_epi32(c, ta), 0xff00, c, tb);
          hi = _mm512_mask_permutexvar_epi32(_mm512_permutexvar_epi32(ch, ta), 0xff00, ch, tb);
        } else {
          if (b % bpg == 0) table = pair_table(zeros, r * gpr + b / bpg);
          lo = _mm512_permutexvar_epi32(c, table);
          hi = _mm512_permutexvar_epi32(ch, table);
        }
        const __m512i wv = _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
        const uint64_t m64 = uint64_t(rm[2 * b]) | uint64_t(rm[2 * b + 1]) << 32;
        const uint8_t* s = staged + b * 16 * kGroupBytes;
        SK_PAIR(0, g0) SK_PAIR(1, g1) SK_PAIR(2, g2) SK_PAIR(3, g3) SK_PAIR(4, g4) SK_PAIR(5, g5) SK_PAIR(6, g6) SK_PAIR(7, g7)
        if constexpr (G32) fold(r * gpr + 2 * b);
        SK_PAIR(8, g0) SK_PAIR(9, g1) SK_PAIR(10, g2) SK_PAIR(11, g3) SK_PAIR(12, g4) SK_PAIR(13, g5) SK_PAIR(14, g6) SK_PAIR(15, g7)
        if (G32 || b % bpg == bpg - 1) fold(G32 ? r * gpr + 2 * b + 1 : r * gpr + b / bpg);
      }
      if constexpr (G32)
        if (kend == cols && cols % 64) {  // a last 32 columns: 8 pairs, its own group
          const int64_t b = cols / 64, gi = r * gpr + 2 * b;
          const __m512i c = _mm512_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(rc + b * 16)));
          const __m512i t = pair_table(zeros, gi);
          const __m512i wv = _mm512_or_si512(_mm512_permutexvar_epi32(c, t), _mm512_slli_epi32(_mm512_permutexvar_epi32(_mm512_srli_epi32(c, 4), t), 16));
          const uint64_t m64 = rm[2 * b];
          const uint8_t* s = staged + b * 16 * kGroupBytes;
          SK_PAIR(0, g0) SK_PAIR(1, g1) SK_PAIR(2, g2) SK_PAIR(3, g3) SK_PAIR(4, g4) SK_PAIR(5, g5) SK_PAIR(6, g6) SK_PAIR(7, g7)
          fold(gi);
        }
      _mm512_store_ps(sums + (r - r0) * 16, acc);
    }
    }
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < nj; ++j) out.store(r, j0 + j, sums[(r - r0) * 16 + j]);
  }
}

#undef SK_PAIR

}  // namespace

SpmmKernel select_qspmm_bf16(const MatrixView& a, int64_t n, DType x_dtype) {
  if (n <= 8 || x_dtype != DType::bf16 || !cpu_features().avx512bf16) return SpmmKernel{};
  if (a.format != Format::nm || a.n != 2 || a.m != 4 || a.quant.bits != 4) return SpmmKernel{};
  SpmmKernel k{a.quant.group == 32 ? qpairs_nm24<true> : qpairs_nm24<false>, XLayout::k_pairs_bf16, "qspmm_pairs_nm24_int4_bf16_avx512", true, 16};
  k.workspace = pairs_workspace;
  return k;
}

}  // namespace sk
SK_TARGET_END
#else
namespace sk {
SpmmKernel select_qspmm_bf16(const MatrixView&, int64_t, DType) { return SpmmKernel{}; }
}  // namespace sk
#endif
