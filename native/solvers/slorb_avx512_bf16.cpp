// AVX512-BF16 kernels of SLoRB's term for bf16 activations, g = P·x rounded to bf16
// (SlorbTerm::prepare's rule, docs/adapters.md) and S stored as bf16 or int8 (int8 codes are exact
// in bf16; the row scales are applied by the caller). `vdpbf16ps` flushes denormal inputs and
// results to zero, as in the product's bf16 kernels.
//
// Panels (8..32 tokens): dotsT[t * (r1 - r0) + (r - r0)] = S[r, :] · g[t, :], 4 rows at a time.
// g is staged in octs (eight groups): one vector holds 4 tokens × the oct's 4 pairs of groups, so
// one 128-bit broadcast of a row's 8 scales, read in place (int8: converted into L1 first), serves
// the 4 vectors of 16 tokens: 4 dot products per broadcast, as the product's octs GEMM (the 16-row
// panels it replaced broadcast one pair per dot product: slower, docs/adapters.md). Lane 4k + p
// of a row's accumulator v sums token 4v + k over pair p of each oct; three rounds of pairwise
// adds leave each token's 4 rows in one 128-bit lane, stored as they are (token-major).
#include <cstdint>

#include "solvers/slorb.h"
#include "core/isa_target.h"

#if SK_HAVE_X86
#include <immintrin.h>

SK_TARGET_BEGIN_AVX512BF16
namespace sk {
namespace {

#include "solvers/slorb_transpose.inl"

constexpr int kRows = 16;         // the one-token dots' rows per block
constexpr int kOctRows = 4;       // the panels' rows per block: 4 rows x 4 vectors of tokens = 16 accumulators
constexpr int64_t kChunkOcts = 32;  // int8 S: 4 rows x 32 octs (256 scales) converted to bf16 in L1

// The next block of `rows` rows of S (rows [rb + rows, ..), up to S's end), prefetched a few lines
// per step of the current block's `steps` steps.
struct NextRows {
  const char* next;
  int64_t lines, per_step;
  NextRows(const char* base, int64_t rows_total, int64_t row_bytes, int64_t rb, int rows, int64_t steps) : next(base + (rb + rows) * row_bytes) {
    const char* end = base + rows_total * row_bytes;
    const int64_t avail = end > next ? (end - next) / 64 : 0, want = (rows * row_bytes + 63) / 64;
    lines = avail < want ? avail : want;
    per_step = (lines + steps - 1) / steps;
  }
  void prefetch(int64_t q) const {
    for (int64_t l = q * per_step; l < (q + 1) * per_step && l < lines; l++) _mm_prefetch(next + l * 64, _MM_HINT_T0);
  }
};

// Octs [o0, o0 + len) of an int8 row as bf16 into d[0, 8 len) (exact: |code| <= 127), zero past G;
// d has room for len rounded up to 4 octs.
void decode_octs_i8(const int8_t* srow, int64_t G, int64_t o0, int64_t len, uint16_t* d) {
  for (int64_t q = 0; q < len * 8; q += 32) {
    const int64_t first = o0 * 8 + q, left = G - first;
    const __mmask32 m = left >= 32 ? ~__mmask32(0) : left <= 0 ? __mmask32(0) : __mmask32((1u << left) - 1);
    const __m512i v = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, srow + first));
    const __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(_mm512_castsi512_si256(v)));
    const __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(v, 1)));
    _mm512_storeu_si512(d + q, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
  }
}

// Per 128-bit lane: (a0 + a1, a2 + a3, b0 + b1, b2 + b3).
inline __m512 pair_sums(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), _mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)));
}

// Rows [rb, rb + rows) (rows <= kOctRows) times the V vectors of tokens [t0, t0 + 4V) of g (one
// token block of gO); the dots of tokens below n to dotsT (row rb at column r_off).
template <bool I8, int V>
void oct_panel(const char* base, int64_t G, int64_t rb, int rows, const uint32_t* g, uint16_t* sbuf, const NextRows* ahead,
               float* dotsT, int64_t R, int64_t r_off, int64_t t0, int64_t n) {
  const int64_t row_bytes = G * (I8 ? 1 : 2), O = (G + 7) / 8, full = G / 8;
  const char* srow[kOctRows];
  // rows past r1: row rb again (its dots are not stored)
  for (int b = 0; b < kOctRows; b++) srow[b] = base + (rb + (b < rows ? b : 0)) * row_bytes;
  __m512 acc[kOctRows][V];
  for (int b = 0; b < kOctRows; b++)
    for (int v = 0; v < V; v++) acc[b][v] = _mm512_setzero_ps();
  auto step = [&](int64_t o, auto oct_of) {
    if (ahead) ahead->prefetch(o);
    __m512i gv[V];
    for (int v = 0; v < V; v++) gv[v] = _mm512_loadu_si512(g + o * 64 + v * 16);
    for (int b = 0; b < kOctRows; b++) {
      const __m512i w = _mm512_broadcast_i32x4(oct_of(b));
      for (int v = 0; v < V; v++) acc[b][v] = _mm512_dpbf16_ps(acc[b][v], (__m512bh)gv[v], (__m512bh)w);
    }
  };
  if constexpr (I8) {
    for (int64_t o0 = 0; o0 < O; o0 += kChunkOcts) {
      const int64_t len = O - o0 < kChunkOcts ? O - o0 : kChunkOcts;
      for (int b = 0; b < kOctRows; b++) decode_octs_i8(reinterpret_cast<const int8_t*>(srow[b]), G, o0, len, sbuf + b * kChunkOcts * 8);
      for (int64_t o = o0; o < o0 + len; o++)
        step(o, [&](int b) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(sbuf + b * kChunkOcts * 8 + (o - o0) * 8)); });
    }
  } else {
    for (int64_t o = 0; o < full; o++) step(o, [&](int b) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(srow[b] + 16 * o)); });
    // The last oct's scales past G (the next row's, or past S's end) are not read.
    const __mmask8 m = __mmask8((1u << (G - 8 * full)) - 1);
    if (full < O) step(full, [&](int b) { return _mm_maskz_loadu_epi16(m, srow[b] + 16 * full); });
  }
  const __mmask8 rm = __mmask8((1u << rows) - 1);
  for (int v = 0; v < V; v++) {
    // 128-bit lane k: the 4 rows' dots of token t0 + 4v + k
    const __m512 u = pair_sums(pair_sums(acc[0][v], acc[1][v]), pair_sums(acc[2][v], acc[3][v]));
    const int64_t t = t0 + 4 * v;
    if (t < n) _mm_mask_storeu_ps(dotsT + t * R + r_off, rm, _mm512_extractf32x4_ps(u, 0));
    if (t + 1 < n) _mm_mask_storeu_ps(dotsT + (t + 1) * R + r_off, rm, _mm512_extractf32x4_ps(u, 1));
    if (t + 2 < n) _mm_mask_storeu_ps(dotsT + (t + 2) * R + r_off, rm, _mm512_extractf32x4_ps(u, 2));
    if (t + 3 < n) _mm_mask_storeu_ps(dotsT + (t + 3) * R + r_off, rm, _mm512_extractf32x4_ps(u, 3));
  }
}

template <bool I8>
void panels(const void* s, int64_t G, int64_t r0, int64_t r1, const uint32_t* gO, int64_t n, float* dotsT, int64_t rows_total) {
  const int64_t R = r1 - r0, O = (G + 7) / 8, row_bytes = G * (I8 ? 1 : 2);
  const char* base = static_cast<const char*>(s);
  alignas(64) uint16_t sbuf[kOctRows * kChunkOcts * 8];
  for (int64_t rb = r0; rb < r1; rb += kOctRows) {
    const int rows = int(r1 - rb < kOctRows ? r1 - rb : kOctRows);
    // The next block's rows, a few lines per oct step of the first token block.
    const NextRows ahead(base, rows_total, row_bytes, rb, kOctRows, O);
    for (int64_t tb = 0; tb < n; tb += 16) {
      const uint32_t* g = gO + tb / 16 * O * 64;
      const NextRows* a = tb == 0 ? &ahead : nullptr;
      switch (n - tb >= 16 ? 4 : (n - tb + 3) / 4) {  // vectors of 4 tokens in this block
        case 1: oct_panel<I8, 1>(base, G, rb, rows, g, sbuf, a, dotsT, R, rb - r0, tb, n); break;
        case 2: oct_panel<I8, 2>(base, G, rb, rows, g, sbuf, a, dotsT, R, rb - r0, tb, n); break;
        case 3: oct_panel<I8, 3>(base, G, rb, rows, g, sbuf, a, dotsT, R, rb - r0, tb, n); break;
        default: oct_panel<I8, 4>(base, G, rb, rows, g, sbuf, a, dotsT, R, rb - r0, tb, n); break;
      }
    }
  }
}

void panels_bf16_avx512(const void* s, DType t, int64_t G, int64_t r0, int64_t r1, const uint32_t* gO, int64_t n, float* dotsT,
                        int64_t rows_total) {
  if (t == DType::i8) panels<true>(s, G, r0, r1, gO, n, dotsT, rows_total);
  else panels<false>(s, G, r0, r1, gO, n, dotsT, rows_total);
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
    const NextRows ahead(base, rows_total, row_bytes, rb, kRows, steps);
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
