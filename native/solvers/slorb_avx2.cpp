// AVX2 row dots of SLoRB's term: dots[(r - r0) * n + t] = S[r, :] · g[t, :] for S's stored values
// (float32, float16, bfloat16 or int8; the row scales are applied by the caller), n up to
// kSlorbDotTokens (past it the blocked GEMM). One token: the AVX-512 kernel's scheme
// (slorb_avx512.cpp) at half width, eight rows per block, one accumulator each, 8 scales per step
// decoded by the dtype given as a template parameter, the eight sums out of one transposing hadd
// tree, the block's contiguous stream of S prefetched a fixed distance ahead (the term runs right
// after the sparse kernel's rows: without it S's loads wait on memory). More tokens: per row, blocks
// of up to 8 tokens sharing each step's decoded scales (the blocked GEMM, which decoded S to
// float32 first, took 1.15-1.20x the sparse product at N = 16 where these take 1.09-1.10x).
#include <cstdint>

#include "solvers/slorb.h"
#include "core/isa_target.h"

#if SK_HAVE_X86
#include <immintrin.h>

SK_TARGET_BEGIN_AVX2
namespace sk {
namespace {

template <DType T> constexpr int64_t kSize = T == DType::f32 ? 4 : T == DType::i8 ? 1 : 2;

// Scales i .. i + 7 of the row at p as float32.
template <DType T>
inline __m256 load8(const char* p, int64_t i) {
  if constexpr (T == DType::f16) return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i)));
  else if constexpr (T == DType::bf16)
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i))), 16));
  else if constexpr (T == DType::i8) return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + i))));
  else return _mm256_loadu_ps(reinterpret_cast<const float*>(p) + i);
}
// One scale as float32.
template <DType T>
inline float load1(const char* p, int64_t i) {
  if constexpr (T == DType::f16) return _cvtsh_ss(reinterpret_cast<const uint16_t*>(p)[i]);
  else if constexpr (T == DType::bf16) return bf16_to_f32(reinterpret_cast<const uint16_t*>(p)[i]);
  else if constexpr (T == DType::i8) return float(reinterpret_cast<const int8_t*>(p)[i]);
  else return reinterpret_cast<const float*>(p)[i];
}

// The eight sums, in order, of a[0..7].
inline __m256 hsum8(const __m256* a) {
  const __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
  const __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

template <DType T>
void gemv(const void* s, int64_t G, int64_t r0, int64_t r1, const float* g, float* dots, int64_t rows_total) {
  const char* base = static_cast<const char*>(s);
  const int64_t row_bytes = G * kSize<T>, full = G / 8 * 8, per_step = slorb_gemv_lines_per_step(row_bytes, full / 8);
  const char* end = base + rows_total * row_bytes;
  int64_t r = r0;
  for (; r + 8 <= r1; r += 8) {
    const char* srow = base + r * row_bytes;
    const char* ahead = srow + kSlorbGemvAhead;
    const bool pf = ahead + 8 * row_bytes <= end;
    __m256 acc[8];
    for (int b = 0; b < 8; b++) acc[b] = _mm256_setzero_ps();
    for (int64_t i = 0, q = 0; i < full; i += 8, q++) {
      if (pf)
        for (int64_t l = 0; l < per_step; l++) _mm_prefetch(ahead + (q * per_step + l) * 64, _MM_HINT_T0);
      const __m256 gv = _mm256_loadu_ps(g + i);
      for (int b = 0; b < 8; b++) acc[b] = _mm256_fmadd_ps(load8<T>(srow + b * row_bytes, i), gv, acc[b]);
    }
    alignas(32) float d[8];
    _mm256_store_ps(d, hsum8(acc));
    for (int b = 0; b < 8; b++) {
      for (int64_t i = full; i < G; i++) d[b] += load1<T>(srow + b * row_bytes, i) * g[i];
      dots[r - r0 + b] = d[b];
    }
  }
  for (; r < r1; r++) {  // the last rows, one at a time
    const char* srow = base + r * row_bytes;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < full; i += 8) acc = _mm256_fmadd_ps(load8<T>(srow, i), _mm256_loadu_ps(g + i), acc);
    alignas(32) float d[8];
    _mm256_store_ps(d, acc);
    float t = ((d[0] + d[4]) + (d[1] + d[5])) + ((d[2] + d[6]) + (d[3] + d[7]));
    for (int64_t i = full; i < G; i++) t += load1<T>(srow, i) * g[i];
    dots[r - r0] = t;
  }
}

// 2 <= n <= kSlorbDotTokens: per row, tokens in blocks of up to 8, one accumulator each, so a step's
// 8 scales are decoded once per block; the block's eight sums come out of one hadd tree.
template <DType T>
void dots(const void* s, int64_t G, int64_t r0, int64_t r1, const float* g, int64_t n, float* out, int64_t rows_total) {
  const char* base = static_cast<const char*>(s);
  const int64_t row_bytes = G * kSize<T>, full = G / 8 * 8;
  const char* end = base + rows_total * row_bytes;
  for (int64_t r = r0; r < r1; r++) {
    const char* srow = base + r * row_bytes;
    if (srow + 2 * row_bytes <= end)  // the next row, while this one's blocks run
      for (int64_t l = 0; l < row_bytes; l += 64) _mm_prefetch(srow + row_bytes + l, _MM_HINT_T0);
    for (int64_t t0 = 0; t0 < n; t0 += 8) {
      const int nt = int(n - t0 < 8 ? n - t0 : 8);
      __m256 acc[8];
      for (int b = 0; b < 8; b++) acc[b] = _mm256_setzero_ps();
      for (int64_t i = 0; i < full; i += 8) {
        const __m256 sv = load8<T>(srow, i);
        for (int b = 0; b < nt; b++) acc[b] = _mm256_fmadd_ps(sv, _mm256_loadu_ps(g + (t0 + b) * G + i), acc[b]);
      }
      alignas(32) float d[8];
      _mm256_store_ps(d, hsum8(acc));
      for (int b = 0; b < nt; b++) {
        for (int64_t i = full; i < G; i++) d[b] += load1<T>(srow, i) * g[(t0 + b) * G + i];
        out[(r - r0) * n + t0 + b] = d[b];
      }
    }
  }
}

void dots_avx2(const void* s, DType t, int64_t G, int64_t r0, int64_t r1, const float* g, int64_t n, float* out, int64_t rows_total) {
  if (n == 1) {
    switch (t) {
      case DType::f16: return gemv<DType::f16>(s, G, r0, r1, g, out, rows_total);
      case DType::bf16: return gemv<DType::bf16>(s, G, r0, r1, g, out, rows_total);
      case DType::i8: return gemv<DType::i8>(s, G, r0, r1, g, out, rows_total);
      default: return gemv<DType::f32>(s, G, r0, r1, g, out, rows_total);
    }
  }
  switch (t) {
    case DType::f16: return dots<DType::f16>(s, G, r0, r1, g, n, out, rows_total);
    case DType::bf16: return dots<DType::bf16>(s, G, r0, r1, g, n, out, rows_total);
    case DType::i8: return dots<DType::i8>(s, G, r0, r1, g, n, out, rows_total);
    default: return dots<DType::f32>(s, G, r0, r1, g, n, out, rows_total);
  }
}

}  // namespace

SlorbDots slorb_dots_avx2() { return dots_avx2; }

}  // namespace sk
SK_TARGET_END

#else
namespace sk {
SlorbDots slorb_dots_avx2() { return nullptr; }
}  // namespace sk
#endif
