// AVX-512 row dots of SLoRB's term: dots[(r - r0) * n + t] = S[r, :] · g[t, :]. S is streamed
// once, decoded 16 scales per step from float32, float16, bfloat16 or int8 (the dtype is a
// template parameter, so the inner loop has no switch), with a software prefetch a few rows ahead:
// the term runs right after the sparse kernel's rows, and without it the loads of S stall on
// memory (they were ~40% of a 2:4 bf16 N = 1 product's time). Tokens go in blocks of up to 8,
// one accumulator each, so a row of S is decoded once per block and g stays in L1.
#include <cstdint>

#include "solvers/slorb.h"
#include "core/isa_target.h"

#if SK_HAVE_X86
#include <immintrin.h>

SK_TARGET_BEGIN_AVX512
namespace sk {
namespace {

#include "solvers/slorb_transpose.inl"

constexpr int kTokenBlock = 8;
constexpr int64_t kRowsAhead = 6;  // prefetch distance in rows of S (a row is G scales)

template <DType T>
__m512 load16(const void* p, int64_t i, __mmask16 m) {
  // The maskz forms: GCC 12's unmasked ones start from an "undefined" register and warn.
  if constexpr (T == DType::f16) return _mm512_maskz_cvtph_ps(m, _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i));
  else if constexpr (T == DType::bf16)
    return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(m, _mm512_maskz_cvtepu16_epi32(m, _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i)), 16));
  else if constexpr (T == DType::i8)
    return _mm512_maskz_cvtepi32_ps(m, _mm512_maskz_cvtepi8_epi32(m, _mm_maskz_loadu_epi8(m, static_cast<const int8_t*>(p) + i)));
  else return _mm512_maskz_loadu_ps(m, static_cast<const float*>(p) + i);
}

template <DType T> constexpr int64_t kSize = T == DType::f32 ? 4 : T == DType::i8 ? 1 : 2;

float hsum(__m512 v) {  // _mm512_reduce_add_ps and the cast trip GCC 12's maybe-uninitialized warning
  const __m256 h = _mm256_add_ps(_mm512_maskz_extractf32x8_ps(0xff, v, 0), _mm512_maskz_extractf32x8_ps(0xff, v, 1));
  const __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
  return _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)));
}

// Eight sums, in order, of the eight accumulators a[0..7] (each folded to 256 bits, then a
// transposing hadd tree): ~25 instructions instead of eight separate horizontal sums.
__m256 hsum8(const __m512* a) {
  __m256 h[8];
  for (int j = 0; j < 8; j++) h[j] = _mm256_add_ps(_mm512_maskz_extractf32x8_ps(0xff, a[j], 0), _mm512_maskz_extractf32x8_ps(0xff, a[j], 1));
  const __m256 t0 = _mm256_hadd_ps(h[0], h[1]), t1 = _mm256_hadd_ps(h[2], h[3]);
  const __m256 t2 = _mm256_hadd_ps(h[4], h[5]), t3 = _mm256_hadd_ps(h[6], h[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// Rows [r, r + RB) (RB <= 2) times tokens [t0, t0 + NT): each g load serves RB rows. `ahead` is
// the row to prefetch from (RB rows of it), or null.
template <DType T, int RB, int NT>
void block(const char* srow, int64_t row_bytes, const char* ahead, int64_t G, const float* g, int64_t t0, float* dots, int64_t n) {
  __m512 acc[RB][NT];
  for (int b = 0; b < RB; b++)
    for (int j = 0; j < NT; j++) acc[b][j] = _mm512_setzero_ps();
  const float* gt = g + t0 * G;
  auto step = [&](int64_t i, __mmask16 m) {
    if (ahead)
      for (int b = 0; b < RB; b++) _mm_prefetch(ahead + b * row_bytes + i * kSize<T>, _MM_HINT_T0);
    __m512 sv[RB];
    for (int b = 0; b < RB; b++) sv[b] = load16<T>(srow + b * row_bytes, i, m);
    for (int j = 0; j < NT; j++) {
      const __m512 gv = _mm512_maskz_loadu_ps(m, gt + j * G + i);
      for (int b = 0; b < RB; b++) acc[b][j] = _mm512_fmadd_ps(sv[b], gv, acc[b][j]);
    }
  };
  int64_t i = 0;
  for (; i + 16 <= G; i += 16) step(i, __mmask16(0xffff));
  if (i < G) step(i, __mmask16((1u << (G - i)) - 1));
  for (int b = 0; b < RB; b++) {
    if constexpr (NT == 8) _mm256_storeu_ps(dots + b * n + t0, hsum8(acc[b]));
    else for (int j = 0; j < NT; j++) dots[b * n + t0 + j] = hsum(acc[b][j]);
  }
}

template <DType T, int RB>
void tokens(const char* srow, int64_t row_bytes, const char* ahead, int64_t G, const float* g, int64_t n, float* d) {
  int64_t t = 0;
  // The first token block prefetches: later blocks re-read the same rows from L1.
  for (; t + kTokenBlock <= n; t += kTokenBlock, ahead = nullptr) block<T, RB, kTokenBlock>(srow, row_bytes, ahead, G, g, t, d, n);
  switch (n - t) {
    case 1: block<T, RB, 1>(srow, row_bytes, ahead, G, g, t, d, n); break;
    case 2: block<T, RB, 2>(srow, row_bytes, ahead, G, g, t, d, n); break;
    case 3: block<T, RB, 3>(srow, row_bytes, ahead, G, g, t, d, n); break;
    case 4: block<T, RB, 4>(srow, row_bytes, ahead, G, g, t, d, n); break;
    case 5: block<T, RB, 5>(srow, row_bytes, ahead, G, g, t, d, n); break;
    case 6: block<T, RB, 6>(srow, row_bytes, ahead, G, g, t, d, n); break;
    case 7: block<T, RB, 7>(srow, row_bytes, ahead, G, g, t, d, n); break;
    default: break;
  }
}

template <DType T>
void rows(const void* s, int64_t G, int64_t r0, int64_t r1, const float* g, int64_t n, float* dots, int64_t rows_total) {
  const char* base = static_cast<const char*>(s);
  const int64_t row_bytes = G * kSize<T>;
  int64_t r = r0;
  for (; r + 2 <= r1; r += 2) {
    const char* srow = base + r * row_bytes;
    const char* ahead = r + kRowsAhead + 2 <= rows_total ? srow + kRowsAhead * row_bytes : nullptr;
    tokens<T, 2>(srow, row_bytes, ahead, G, g, n, dots + (r - r0) * n);
  }
  if (r < r1) tokens<T, 1>(base + r * row_bytes, row_bytes, nullptr, G, g, n, dots + (r - r0) * n);
}

void dots_avx512(const void* s, DType t, int64_t G, int64_t r0, int64_t r1, const float* g, int64_t n, float* dots, int64_t rows_total) {
  switch (t) {
    case DType::f16: rows<DType::f16>(s, G, r0, r1, g, n, dots, rows_total); break;
    case DType::bf16: rows<DType::bf16>(s, G, r0, r1, g, n, dots, rows_total); break;
    case DType::i8: rows<DType::i8>(s, G, r0, r1, g, n, dots, rows_total); break;
    default: rows<DType::f32>(s, G, r0, r1, g, n, dots, rows_total); break;
  }
}

// ---- One token: eight rows per block ----------------------------------------------------------
// At N = 1 a row is G / 16 multiply-adds, so a horizontal sum per row weighed as much as its dot:
// eight rows' accumulators go through one transposing tree (hsum8) and come out as eight dots in
// one vector. The eight rows are one contiguous stream of S, prefetched a fixed distance ahead
// (kSlorbGemvAhead bytes) a few lines per step, so S is read at the bandwidth the kernel's weights get.

template <DType T>
void gemv(const void* s, int64_t G, int64_t r0, int64_t r1, const float* g, float* dots, int64_t rows_total) {
  const char* base = static_cast<const char*>(s);
  const int64_t row_bytes = G * kSize<T>, per_step = slorb_gemv_lines_per_step(row_bytes, (G + 15) / 16);
  const char* end = base + rows_total * row_bytes;
  int64_t r = r0;
  for (; r + 8 <= r1; r += 8) {
    const char* srow = base + r * row_bytes;
    const char* ahead = srow + kSlorbGemvAhead;
    const bool pf = ahead + 8 * row_bytes <= end;
    __m512 acc[8];
    for (int b = 0; b < 8; b++) acc[b] = _mm512_setzero_ps();
    auto step = [&](int64_t i, int64_t q, __mmask16 m) {
      if (pf)
        for (int64_t l = 0; l < per_step; l++) _mm_prefetch(ahead + (q * per_step + l) * 64, _MM_HINT_T0);
      const __m512 gv = _mm512_maskz_loadu_ps(m, g + i);
      for (int b = 0; b < 8; b++) acc[b] = _mm512_fmadd_ps(load16<T>(srow + b * row_bytes, i, m), gv, acc[b]);
    };
    int64_t i = 0, q = 0;
    for (; i + 16 <= G; i += 16, q++) step(i, q, __mmask16(0xffff));
    if (i < G) step(i, q, __mmask16((1u << (G - i)) - 1));
    _mm256_storeu_ps(dots + (r - r0), hsum8(acc));
  }
  if (r < r1) rows<T>(s, G, r, r1, g, 1, dots + (r - r0), rows_total);
}

void gemv_avx512(const void* s, DType t, int64_t G, int64_t r0, int64_t r1, const float* g, int64_t n, float* dots, int64_t rows_total) {
  if (n != 1) return dots_avx512(s, t, G, r0, r1, g, n, dots, rows_total);
  switch (t) {
    case DType::f16: gemv<DType::f16>(s, G, r0, r1, g, dots, rows_total); break;
    case DType::bf16: gemv<DType::bf16>(s, G, r0, r1, g, dots, rows_total); break;
    case DType::i8: gemv<DType::i8>(s, G, r0, r1, g, dots, rows_total); break;
    default: gemv<DType::f32>(s, G, r0, r1, g, dots, rows_total); break;
  }
}

// ---- Panels: from kSlorbPanelTokens tokens on --------------------------------------------------
// 16 rows at a time with the tokens in the vector lanes, eight rows per pass: each step takes two
// groups, broadcasts row b's pair of scales (S[b][i], S[b][i + 1]) once and multiplies it into
// two vectors of g (gP: 8 tokens x the same two groups each, interleaved), so each broadcast
// serves two FMAs; a broadcast per FMA (one scale times 16 tokens) ran at the broadcasts' pace,
// half the FMAs'. S's rows are decoded to float32 into L1 first (kChunk groups at a time). At the
// end each row's even and odd lanes are added (its 16 tokens' dots, in order) and one 16x16
// transpose gives each token's 16 rows, stored contiguous, so the caller's epilogue runs along the
// output's unit stride. docs/adapters.md has the measurements.

constexpr int kPanelRows = 16;
constexpr int kPassRows = 8;     // rows per pass: 8 x 2 accumulators
constexpr int64_t kChunk = 256;  // 8 rows x 256 scales x 4 B = 8 KiB (even: pairs never straddle)

// kPassRows rows of S (as stored) from group i0, len groups, to float32 rows of kChunk; rows past
// `rows` zero, and zeros past len up to the next multiple of 16 (the last pair's second scale).
template <DType T>
void decode_pass(const char* s, int64_t row_bytes, int rows, int64_t i0, int64_t len, float* dst) {
  for (int b = 0; b < kPassRows; b++) {
    float* d = dst + b * kChunk;
    if (b >= rows) {
      for (int64_t i = 0; i < len; i += 16) _mm512_storeu_ps(d + i, _mm512_setzero_ps());
      continue;
    }
    const char* srow = s + b * row_bytes;
    int64_t i = 0;
    for (; i + 16 <= len; i += 16) _mm512_storeu_ps(d + i, load16<T>(srow, i0 + i, __mmask16(0xffff)));
    if (i < len) _mm512_storeu_ps(d + i, load16<T>(srow, i0 + i, __mmask16((1u << (len - i)) - 1)));
  }
}

// Tokens [tb, tb + 16) of rows [0, rows) (rows <= 8) over all G groups: out[b] = the 16 tokens'
// dots of row b. gP: [(G + 1) / 2 pairs][16 tokens][2] for this token block.
// Each pair step also prefetches a line of the next pass's rows (the kPassRows rows after these,
// up to `end`): the pass's multiply-adds take long enough to hide their memory latency.
template <DType T>
void pass(const char* s, int64_t row_bytes, int rows, int64_t G, const float* gP, float* sbuf, __m512* out, const char* end) {
  const char* next = s + kPassRows * row_bytes;
  const int64_t lines = (end - next) / 64 < kPassRows * row_bytes / 64 + 1 ? (end - next) / 64 : kPassRows * row_bytes / 64 + 1;
  __m512 acc[kPassRows][2];
  for (int b = 0; b < kPassRows; b++) acc[b][0] = acc[b][1] = _mm512_setzero_ps();
  for (int64_t i0 = 0; i0 < G; i0 += kChunk) {
    const int64_t len = G - i0 < kChunk ? G - i0 : kChunk;
    decode_pass<T>(s, row_bytes, rows, i0, len, sbuf);
    const float* gp = gP + i0 * 16;
    for (int64_t p = 0; p < (len + 1) / 2; p++) {
      if (i0 / 2 + p < lines) _mm_prefetch(next + (i0 / 2 + p) * 64, _MM_HINT_T0);
      const __m512 g0 = _mm512_loadu_ps(gp + p * 32), g1 = _mm512_loadu_ps(gp + p * 32 + 16);
      for (int b = 0; b < kPassRows; b++) {
        double pair;
        __builtin_memcpy(&pair, sbuf + b * kChunk + 2 * p, sizeof pair);
        const __m512 sv = _mm512_castpd_ps(_mm512_set1_pd(pair));
        acc[b][0] = _mm512_fmadd_ps(sv, g0, acc[b][0]);
        acc[b][1] = _mm512_fmadd_ps(sv, g1, acc[b][1]);
      }
    }
  }
  // Lane 2t + e of acc[b][h] holds token 8h + t's sum over the groups of parity e.
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (int b = 0; b < kPassRows; b++)
    out[b] = _mm512_add_ps(_mm512_permutex2var_ps(acc[b][0], even, acc[b][1]), _mm512_permutex2var_ps(acc[b][0], odd, acc[b][1]));
}

template <DType T>
void panels(const void* s, int64_t G, int64_t r0, int64_t r1, const float* gP, int64_t n, float* dotsT, int64_t rows_total) {
  const int64_t R = r1 - r0, row_bytes = G * kSize<T>, block = (G + 1) / 2 * 32;
  alignas(64) float sbuf[kPassRows * kChunk];
  const char* base = static_cast<const char*>(s);
  const char* end = base + rows_total * row_bytes;
  for (int64_t rb = r0; rb < r1; rb += kPanelRows) {
    const int rows = int(r1 - rb < kPanelRows ? r1 - rb : kPanelRows);
    for (int64_t tb = 0; tb < n; tb += 16) {
      __m512 res[16];
      for (int h = 0; h < kPanelRows; h += kPassRows) {
        const int hr = rows - h < 0 ? 0 : rows - h > kPassRows ? kPassRows : rows - h;
        pass<T>(base + (rb + h) * row_bytes, row_bytes, hr, G, gP + tb / 16 * block, sbuf, res + h, end);
      }
      transpose16(res);
      const __mmask16 rm = __mmask16(rows == 16 ? 0xffff : (1u << rows) - 1);
      for (int64_t j = 0; j < 16 && tb + j < n; j++) _mm512_mask_storeu_ps(dotsT + (tb + j) * R + (rb - r0), rm, res[j]);
    }
  }
}

void panels_avx512(const void* s, DType t, int64_t G, int64_t r0, int64_t r1, const float* gP, int64_t n, float* dotsT, int64_t rows_total) {
  switch (t) {
    case DType::f16: panels<DType::f16>(s, G, r0, r1, gP, n, dotsT, rows_total); break;
    case DType::bf16: panels<DType::bf16>(s, G, r0, r1, gP, n, dotsT, rows_total); break;
    case DType::i8: panels<DType::i8>(s, G, r0, r1, gP, n, dotsT, rows_total); break;
    default: panels<DType::f32>(s, G, r0, r1, gP, n, dotsT, rows_total); break;
  }
}

// ---- Group sums (the fixed projection P·x) -----------------------------------------------------
// Each group's vectors decoded and added, eight groups' horizontal sums through one transposing
// tree (hsum8), in place of a decode pass and 16 dependent scalar adds per group.
template <DType T>
void group_sums(const void* x, int64_t offset, int64_t groups, int64_t group_size, float* g) {
  const int64_t per = group_size / 16;
  auto sum = [&](int64_t i) {
    const int64_t o = offset + i * group_size;
    __m512 v = load16<T>(x, o, __mmask16(0xffff));
    for (int64_t j = 1; j < per; j++) v = _mm512_add_ps(v, load16<T>(x, o + 16 * j, __mmask16(0xffff)));
    return v;
  };
  int64_t i = 0;
  for (; i + 8 <= groups; i += 8) {
    __m512 v[8];
    for (int b = 0; b < 8; b++) v[b] = sum(i + b);
    _mm256_storeu_ps(g + i, hsum8(v));
  }
  for (; i < groups; i++) g[i] = hsum(sum(i));
}

void group_sums_avx512(const void* x, DType t, int64_t offset, int64_t groups, int64_t group_size, float* g) {
  switch (t) {
    case DType::f16: return group_sums<DType::f16>(x, offset, groups, group_size, g);
    case DType::bf16: return group_sums<DType::bf16>(x, offset, groups, group_size, g);
    default: return group_sums<DType::f32>(x, offset, groups, group_size, g);
  }
}

}  // namespace

SlorbGroupSums slorb_group_sums_avx512() { return group_sums_avx512; }
SlorbDots slorb_dots_avx512() { return gemv_avx512; }
SlorbPanels slorb_panels_avx512() { return panels_avx512; }

}  // namespace sk
SK_TARGET_END

#else
namespace sk {
SlorbGroupSums slorb_group_sums_avx512() { return nullptr; }
SlorbDots slorb_dots_avx512() { return nullptr; }
SlorbPanels slorb_panels_avx512() { return nullptr; }
}  // namespace sk
#endif
