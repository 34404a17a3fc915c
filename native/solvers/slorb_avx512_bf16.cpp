// AVX512-BF16 panels of SLoRB's term for bf16 activations: dotsT[t * (r1 - r0) + (r - r0)] =
// S[r, :] · g[t, :] with g = P·x rounded to bf16 (SlorbTerm::prepare's rule, docs/adapters.md) and S
// stored as bf16 or int8 (int8 codes are exact in bf16; the row scales are applied by the caller).
// 16 rows at a time with 16 tokens in the lanes: each row's scales are first copied (int8:
// converted) as bf16 pairs into L1, then per pair of groups one vector of g (16 tokens × the pair)
// and, for each row, one `vdpbf16ps` against the row's pair of scales broadcast: 32 multiply-adds
// per instruction where the fp32 panels (slorb_avx512.cpp) do 16. A row's accumulator holds its 16
// tokens' dots in order; one 16x16 transpose gives them token-major, as the fp32 panels do.
// `vdpbf16ps` flushes denormal inputs and results to zero, as in the product's bf16 kernels.
#include <cstdint>

#include "solvers/slorb.h"
#include "core/isa_target.h"

#if SK_HAVE_X86
#include <immintrin.h>

SK_TARGET_BEGIN_AVX512BF16
namespace sk {
namespace {

#include "solvers/slorb_transpose.inl"

constexpr int kRows = 16;
constexpr int64_t kChunkPairs = 128;  // int8 S: 16 rows x 128 pairs decoded to bf16 in L1 (8 KiB)

inline __m512 dp(__m512 acc, __m512i g, const uint32_t* s_pair) {
  return _mm512_dpbf16_ps(acc, (__m512bh)g, (__m512bh)_mm512_set1_epi32(int(*s_pair)));
}

// The next block of kRows rows of S (rows [rb + kRows, ..), up to S's end), prefetched a few lines
// per step of the current block's `steps` steps.
struct NextRows {
  const char* next;
  int64_t lines, per_step;
  NextRows(const char* base, int64_t rows_total, int64_t row_bytes, int64_t rb, int64_t steps) : next(base + (rb + kRows) * row_bytes) {
    const char* end = base + rows_total * row_bytes;
    const int64_t avail = end > next ? (end - next) / 64 : 0, want = (kRows * row_bytes + 63) / 64;
    lines = avail < want ? avail : want;
    per_step = (lines + steps - 1) / steps;
  }
  void prefetch(int64_t q) const {
    for (int64_t l = q * per_step; l < (q + 1) * per_step && l < lines; l++) _mm_prefetch(next + l * 64, _MM_HINT_T0);
  }
};

// A row's scales of pairs [c0, c0 + len) as bf16 pairs into d[0, len): bf16 copied, int8 converted
// (exact: |code| <= 127); the scale past an odd G (its last pair's second) is zero.
template <bool I8>
void decode(const char* srow, int64_t G, int64_t c0, int64_t len, uint32_t* d) {
  for (int64_t q = 0; q < len; q += 16) {
    const int64_t first = 2 * (c0 + q), count = G - first < 32 ? G - first : 32;
    const __mmask32 m = count >= 32 ? ~__mmask32(0) : __mmask32((1u << count) - 1);
    __m512i pairs;
    if constexpr (I8) {
      const __m512i v = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, srow + first));
      const __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(_mm512_castsi512_si256(v)));
      const __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(v, 1)));
      pairs = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
    } else {
      pairs = _mm512_maskz_loadu_epi16(m, srow + 2 * first);
    }
    const int64_t n = len - q < 16 ? len - q : 16;
    _mm512_mask_storeu_epi32(d + q, __mmask16(n >= 16 ? 0xffff : (1u << n) - 1), pairs);
  }
}

template <bool I8>
void panels(const void* s, int64_t G, int64_t r0, int64_t r1, const uint32_t* gB, int64_t n, float* dotsT, int64_t rows_total) {
  const int64_t R = r1 - r0, P = (G + 1) / 2, row_bytes = G * (I8 ? 1 : 2);
  const char* base = static_cast<const char*>(s);
  // Each row's pairs go to L1 first (kChunkPairs at a time), so the 16 rows' scales are at fixed
  // offsets from one pointer (16 row pointers spilled, two loads per dot product).
  alignas(64) uint32_t sbuf[kRows * kChunkPairs];
  for (int64_t rb = r0; rb < r1; rb += kRows) {
    const int rows = int(r1 - rb < kRows ? r1 - rb : kRows);
    // The next panel's rows, a few lines per pair step of the first token block.
    const NextRows ahead(base, rows_total, row_bytes, rb, P);
    for (int64_t tb = 0; tb < n; tb += 16) {
      const uint32_t* g = gB + tb / 16 * P * 16;
      __m512 acc[kRows];
      for (int b = 0; b < kRows; b++) acc[b] = _mm512_setzero_ps();
      for (int64_t c0 = 0; c0 < P; c0 += kChunkPairs) {
        const int64_t len = P - c0 < kChunkPairs ? P - c0 : kChunkPairs;
        // rows past r1: row rb again (its dots are not stored)
        for (int b = 0; b < kRows; b++) decode<I8>(base + (rb + (b < rows ? b : 0)) * row_bytes, G, c0, len, sbuf + b * kChunkPairs);
        for (int64_t p = 0; p < len; p++) {
          if (tb == 0) ahead.prefetch(c0 + p);
          const __m512i gv = _mm512_loadu_si512(g + (c0 + p) * 16);
          for (int b = 0; b < kRows; b++) acc[b] = dp(acc[b], gv, sbuf + b * kChunkPairs + p);
        }
      }
      transpose16(acc);
      const __mmask16 rm = __mmask16(rows == kRows ? 0xffff : (1u << rows) - 1);
      for (int64_t j = 0; j < 16 && tb + j < n; j++) _mm512_mask_storeu_ps(dotsT + (tb + j) * R + (rb - r0), rm, acc[j]);
    }
  }
}

void panels_bf16_avx512(const void* s, DType t, int64_t G, int64_t r0, int64_t r1, const uint32_t* gB, int64_t n, float* dotsT,
                        int64_t rows_total) {
  if (t == DType::i8) panels<true>(s, G, r0, r1, gB, n, dotsT, rows_total);
  else panels<false>(s, G, r0, r1, gB, n, dotsT, rows_total);
}

// One token: dots[r - r0] = S[r, :] · g for bf16 S and g (G bf16 values, zeros up to a multiple of
// 32). 16 rows at a time, one `vdpbf16ps` per row and 32 groups (the fp32 row dots convert each
// value and do 16 per FMA); the 16 accumulators end in one transpose and a sum. The rows are one
// contiguous stream: the next block's lines are prefetched a few per step.
void gemv_bf16(const void* s, int64_t G, int64_t r0, int64_t r1, const uint16_t* g, float* dots, int64_t rows_total) {
  const int64_t row_bytes = 2 * G, steps = (G + 31) / 32;
  const char* base = static_cast<const char*>(s);
  for (int64_t rb = r0; rb < r1; rb += kRows) {
    const int rows = int(r1 - rb < kRows ? r1 - rb : kRows);
    const NextRows ahead(base, rows_total, row_bytes, rb, steps);
    const char* srow[kRows];
    // rows past r1: row rb again (its dot is not stored)
    for (int b = 0; b < kRows; b++) srow[b] = base + (rb + (b < rows ? b : 0)) * row_bytes;
    __m512 acc[kRows];
    for (int b = 0; b < kRows; b++) acc[b] = _mm512_setzero_ps();
    for (int64_t q = 0; q < steps; q++) {
      ahead.prefetch(q);
      const int64_t left = G - 32 * q;
      const __mmask32 m = left >= 32 ? ~__mmask32(0) : __mmask32((1u << left) - 1);
      const __m512i gv = _mm512_loadu_si512(g + 32 * q);
      for (int b = 0; b < kRows; b++)
        acc[b] = _mm512_dpbf16_ps(acc[b], (__m512bh)_mm512_maskz_loadu_epi16(m, srow[b] + 64 * q), (__m512bh)gv);
    }
    transpose16(acc);
    __m512 sum = acc[0];
    for (int j = 1; j < 16; j++) sum = _mm512_add_ps(sum, acc[j]);
    _mm512_mask_storeu_ps(dots + (rb - r0), __mmask16(rows == kRows ? 0xffff : (1u << rows) - 1), sum);
  }
}

}  // namespace

SlorbPanelsBf16 slorb_panels_bf16_avx512() { return panels_bf16_avx512; }
SlorbGemvBf16 slorb_gemv_bf16_avx512() { return gemv_bf16; }

}  // namespace sk
SK_TARGET_END

#else
namespace sk {
SlorbPanelsBf16 slorb_panels_bf16_avx512() { return nullptr; }
SlorbGemvBf16 slorb_gemv_bf16_avx512() { return nullptr; }
}  // namespace sk
#endif
