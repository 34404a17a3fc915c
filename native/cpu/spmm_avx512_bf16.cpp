// AVX512-BF16 kernels: bf16 (or bitmap / N:M bf16) weights times bf16 activations with
// `vdpbf16ps`, which adds two bf16 products per fp32 lane to an fp32 accumulator.
//
// Numerics (docs/kernels.md): a bf16 x bf16 product is exact in fp32 and vdpbf16ps adds the two
// products of a pair to the accumulator one after the other, each rounded to nearest-even, as two
// fp32 FMAs would; the differences from the fp32 kernels are the summation order and that the
// instruction flushes denormal inputs and results to zero. So these run only when the activations
// are bf16 already, or when the caller allowed rounding them (ActivationRounding::bf16: the driver
// stages fp32 / f16 x rounded to nearest-even, up to 2^-9 relative per element); otherwise fp32
// activations keep the fp32 kernels. f16 weights are not converted (bf16 keeps 8 significand bits
// against f16's 11).
//
// Layouts of x (staged by the driver): n_major_bf16 x[j * Kp + k] (N <= kJ: one row of x per
// activation vector, the weights' 32-column chunks multiply it in natural order: vdpbf16ps pairs
// columns 2i and 2i + 1 of both operands); k_pairs_bf16 x[(k / 2) * 2 ld + 2 j + (k & 1)] (N > kJ:
// one 64-byte vector holds 16 columns of N for a pair of k, and the weight pair (w[r, k], w[r, k+1])
// is one 32-bit broadcast, read in place from a dense row); k_octs_bf16 x[(k / 8) * 8 ld + 8 j + k % 8]
// (kJ < N <= kOctsMaxN: one vector holds 4 columns of N for eight k, the weight's eight k are one
// 128-bit broadcast); k_major_bf16 x[k * ld + j] (the CSR cols kernel and the pairs kernel at
// kJ < N <= 16: a column's N values in 32 bytes, 16 at N <= 8 in the cols kernel).
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../core/dtype.h"
#include "spmm.h"
#include "../core/thread_pool.h"
#include "core/isa_target.h"

#if SK_HAVE_X86
SK_TARGET_BEGIN_AVX512BF16
namespace sk {
namespace {

#define SK_UNROLL _Pragma("GCC unroll 64")
#define SK_BLOCK __attribute__((noinline))

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

#include "avx512_expand.inl"  // expand_w16: merge-form register vpexpandw
inline __m512 dp(__m512 acc, __m512i a, __m512i b) { return _mm512_dpbf16_ps(acc, (__m512bh)a, (__m512bh)b); }
inline float hsum(__m512 v) {
  __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

// ---- CSR (and the pairs kernel) at kJ < N <= 16: pairs of kept values times two interleaved x columns

// Word 2j of the pair vector is x[a, j] (word j of the first operand), word 2j + 1 is x[b, j]
// (word j of the second: index 32 + j).
inline __m512i interleave_index() {
  return _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
}

// x in k_major_bf16 (32 bytes per column: word j holds x[j, k]), so for two consecutive kept values
// of a row, (w[a], w[b]) with a < b anywhere in the row, the pair vector (x[a, j], x[b, j]) per
// fp32 lane j is one vpermt2w of two aligned 32-byte column loads. Per pair: two index loads, the
// two x loads, the word interleave and vdpbf16ps with the weight pair broadcast from memory. The
// CSR indices are read in place, no decode. 32 bytes per column keep the 4096-column x panel at
// 128 KB; the 64-byte duplicated columns it replaced (one word blend per pair instead of the
// interleave) pulled twice the lines from L2 and were slower per pair (measured in docs/kernels.md).
// At N <= 8 the columns are 16 bytes (ld = 8: a 64 KB panel at K = 4096) and lanes 8..15 of the
// accumulators carry nothing the stores read. Summation: pair t of a row goes to accumulator
// t mod kColsU (the odd last value to accumulator 1), the kColsU sums are added pairwise at the
// row's end.
constexpr int64_t kColsMaxN = 16;
constexpr int kColsU = 8;
constexpr int64_t kColsAhead = 512;  // elements

// The column at p (LD = 16 or 8 words; at 8 the upper 8 words are not read by any store).
template <int LD> inline __m256i x_column(const uint16_t* p) {
  if constexpr (LD == 16) return _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
  else return _mm256_castsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(p)));
}

// Idx: the kept columns as CSR's int32 column numbers (Scale = LD) or the pairs kernel's 16-bit
// word offsets within its K block (Scale = 1).
template <class Idx, int Scale, int LD>
inline __m512 col_pair(__m512 acc, const Idx* col, const uint16_t* wv, const uint16_t* x, __m512i ilv) {
  uint32_t wp;
  __builtin_memcpy(&wp, wv, 4);
  const __m512i xp = _mm512_permutex2var_epi16(_mm512_castsi256_si512(x_column<LD>(x + size_t(col[0]) * Scale)), ilv,
                                               _mm512_castsi256_si512(x_column<LD>(x + size_t(col[1]) * Scale)));
  return dp(acc, _mm512_set1_epi32(int(wp)), xp);
}

// A row: col[0, cnt) its kept columns, wv[0, cnt) their values; c[0, 16) += the products.
template <class Idx, int Scale, int LD>
SK_BLOCK void cols_row(const Idx* col, const uint16_t* wv, int64_t cnt, const uint16_t* x, float* c) {
  const __m512i ilv = interleave_index();
  __m512 acc[kColsU];
  acc[0] = _mm512_loadu_ps(c);
  SK_UNROLL for (int u = 1; u < kColsU; ++u) acc[u] = _mm512_setzero_ps();
  const int64_t pairs = cnt / 2;
  int64_t t = 0;
  for (; t + kColsU <= pairs; t += kColsU) {
    // The row's two streams kColsAhead elements ahead: the hardware prefetcher alone left the loop
    // waiting on them (docs/kernels.md).
    _mm_prefetch(reinterpret_cast<const char*>(col + 2 * t + kColsAhead), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(wv + 2 * t + kColsAhead), _MM_HINT_T0);
    SK_UNROLL for (int u = 0; u < kColsU; ++u) acc[u] = col_pair<Idx, Scale, LD>(acc[u], col + 2 * (t + u), wv + 2 * (t + u), x, ilv);
  }
  for (; t < pairs; ++t) acc[0] = col_pair<Idx, Scale, LD>(acc[0], col + 2 * t, wv + 2 * t, x, ilv);
  if (cnt & 1) {
    // The last value alone: (w, 0) times (x, 0) (the column's words zero-extended), never 0 x Inf.
    const __m512i xs = _mm512_cvtepu16_epi32(x_column<LD>(x + size_t(col[cnt - 1]) * Scale));
    acc[1] = dp(acc[1], _mm512_set1_epi32(int(wv[cnt - 1])), xs);
  }
  SK_UNROLL for (int h = kColsU / 2; h > 0; h /= 2)
    SK_UNROLL for (int u = 0; u < h; ++u) acc[u] = _mm512_add_ps(acc[u], acc[u + h]);
  _mm512_storeu_ps(c, acc[0]);
}

// ---- where a row's 32-column chunks of bf16 weights come from --------------------------------

struct DenseRows {
  static constexpr bool kPairs = false;  // MaskRows::chunk_pair
  const uint16_t* base;
  int64_t cols, full, chunks;
  explicit DenseRows(const MatrixView& a)
      : base(a.as<uint16_t>(Part::values)), cols(a.cols), full(a.cols / 32), chunks((a.cols + 31) / 32) {}
  struct Row { const uint16_t* p; };
  Row row(int64_t r) const { return {base + r * cols}; }
  bool safe_row(int64_t) const { return true; }
  // The line kStreamAheadBytes past chunk c (the GEMVs call it once per chunk).
  void prefetch(const Row& rw, int64_t c) const { _mm_prefetch(reinterpret_cast<const char*>(rw.p + c * 32) + kStreamAheadBytes, _MM_HINT_T0); }
  // Chunk c of a row whose chunks before c were all read (in order).
  template <bool Safe> __m512i chunk(Row& rw, int64_t c) const {
    if (c < full) return _mm512_loadu_si512(rw.p + c * 32);
    return _mm512_maskz_loadu_epi16(__mmask32((uint64_t(1) << (cols - c * 32)) - 1u), rw.p + c * 32);
  }
};

// bitmap and N:M: a 32-bit mask word per 32 columns, the kept values packed in order. Fixed: N:M
// with m dividing 32, so chunk c's values start at c * 32 / m * n (no popcount chain). Narrow: a
// chunk keeping at most 16 values loads 32 bytes instead of 64. The values sit at any 2-byte offset,
// so nearly every 64-byte load spans two cache lines and costs two; a 32-byte load, about half as
// often. Chosen per matrix (kNarrowDensity): the branch on the count is well predicted only while
// chunks keeping more than 16 are rare or the rule.
template <bool Fixed, bool Narrow = false> struct MaskRows {
  const uint16_t* vals;
  int64_t nvals;
  const uint32_t* masks;
  const int32_t* rp;
  int64_t wpr, per_row, step, chunks;
  explicit MaskRows(const MatrixView& a)
      : vals(a.as<uint16_t>(Part::values)),
        nvals(int64_t(a.part(Part::values).bytes / 2)),
        masks(a.as<uint32_t>(Part::masks)),
        rp(a.format == Format::bitmap ? a.as<int32_t>(Part::row_ptr) : nullptr),
        wpr(mask_words_per_row(a.format == Format::nm ? nm_padded_cols(a.cols, a.m) : a.cols)),
        per_row(a.format == Format::nm ? nm_values_per_row(a.cols, a.n, a.m) : 0),
        step(a.format == Format::nm ? 32 / a.m * a.n : 0),
        chunks(wpr) {}
  struct Row { const uint16_t* p; const uint32_t* m; };
  int64_t row_start(int64_t r) const { return rp ? int64_t(rp[r]) : r * per_row; }
  Row row(int64_t r) const { return {vals + row_start(r), masks + r * wpr}; }
  // A whole 64-byte load from anywhere in the row stays inside the values buffer.
  bool safe_row(int64_t r) const { return row_start(r + 1) + 32 <= nvals; }
  // None: the values' and masks' streams advance at the decode's pace, which the hardware
  // prefetcher follows (a prefetch kStreamAheadBytes ahead, with or without the masks' line, measured
  // equal at 50 / 70 / 90% and 2:4, N = 1 cold).
  void prefetch(const Row&, int64_t) const {}
  // The cnt values of a chunk from p: a whole vector in safe rows (safe_row), else exactly cnt.
  template <bool Safe> __m512i load(const uint16_t* p, uint64_t cnt) const {
    if constexpr (!Safe) return _mm512_maskz_loadu_epi16(__mmask32((uint64_t(1) << cnt) - 1u), p);
    else if (Narrow && __builtin_expect(cnt <= 16, 1)) return _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    else return _mm512_loadu_si512(p);
  }
  template <bool Safe> __m512i chunk(Row& rw, int64_t c) const {
    const uint64_t bits = rw.m[c];
    const uint16_t* p = Fixed ? rw.p + c * step : rw.p;
    const uint64_t cnt = popcount64(bits);
    const __m512i v = load<Safe>(p, cnt);
    if constexpr (!Fixed) rw.p += cnt;
    return expand_w16(v, __mmask32(bits));
  }
  // Chunks c and c + 1 (c even) of a popcount cursor (the GEMVs' steps of two or four chunks): one
  // 64-bit load of both masks, the second chunk's values found at the first's count, one add per two
  // chunks to advance the row (faster than two chunk() calls: docs/kernels.md, thirteenth session).
  static constexpr bool kPairs = !Fixed;
  template <bool Safe> void chunk_pair(Row& rw, int64_t c, __m512i& w0, __m512i& w1) const {
    uint64_t bits;
    std::memcpy(&bits, rw.m + c, sizeof bits);
    const uint64_t n0 = popcount64(uint32_t(bits)), n = popcount64(bits);
    w0 = expand_w16(load<Safe>(rw.p, n0), __mmask32(bits));
    w1 = expand_w16(load<Safe>(rw.p + n0, n - n0), __mmask32(bits >> 32));
    rw.p += n;
  }
};

// ---- N <= 4: one pass over the weight, each chunk times up to four x rows ---------------------
// kGemvRows rows per pass, a quarter of the task apart (rows r + i * rs): they share each x load,
// interleave four independent decode chains, and read four sequential streams per core, as the
// read-bandwidth probe does. At N = 1 two chunks per step go into two accumulators per row (chunk
// c to c mod 2). Cold (11008x4096, two threads, N = 1), one row per pass read less than four
// quarter-apart streams (dense 0.92, bitmap 90% 0.89-0.92 of their speed), and four adjacent rows
// per pass were 3-5x slower than one (bitmap 90%: 4.2 against 0.76-0.95 ms): the prefetcher did
// not follow four streams a few KB apart. The rows left over (at most three per task, and the last
// rows of a bitmap / N:M matrix, whose whole-vector loads would pass the end of the values) run
// one at a time, four chunks per step at N = 1.
// Dense rows are also prefetched in software, kStreamAheadBytes ahead, once per chunk: cold, the
// hardware prefetcher alone read 11008x4096 at 37-43 GB/s against 52-55 GB/s with it (N = 1, two
// threads; 2048² and 1024² 1.25-1.4x faster too; in cache neutral on two threads, up to 5% slower
// on one); the sparse rows' streams advance at the decode's pace and gained nothing (MaskRows).

template <class Src, int RB, int J, bool Safe>
SK_BLOCK void gemv_block(const Src& s, const Activations& x, int64_t r, int64_t j0, const OutputSpec& out, int64_t rs, int64_t passes) {
  constexpr int U = J > 1 ? 1 : RB == 1 ? 4 : 2;
  // All of a task's passes in one call (apart_row_passes): a call per pass put its prologue (stack
  // frame, row pointers from memory) between every two passes, and at N = 1 any work there holds
  // up the four streams for longer than it runs (docs/kernels.md, fourteenth session).
  const uint16_t* xj[J];
  for (int j = 0; j < J; ++j) xj[j] = x.bf16 + (j0 + j) * x.k_padded;
  const int64_t chunks = s.chunks;
  for (int64_t p = 0; p < passes; ++p, ++r) {
    typename Src::Row rw[RB];
    SK_UNROLL for (int i = 0; i < RB; ++i) rw[i] = s.row(r + i * rs);
    __m512 acc[RB][J][U];
    SK_UNROLL for (int i = 0; i < RB; ++i)
      SK_UNROLL for (int j = 0; j < J; ++j)
        SK_UNROLL for (int u = 0; u < U; ++u) acc[i][j][u] = _mm512_setzero_ps();
    int64_t c = 0;
    for (; c + U <= chunks; c += U) {
      __m512i w[RB][U];
      SK_UNROLL for (int u = 0; u < U; ++u)
        SK_UNROLL for (int i = 0; i < RB; ++i) s.prefetch(rw[i], c + u);
      if constexpr (Src::kPairs && U % 2 == 0) {
        SK_UNROLL for (int u = 0; u < U; u += 2)
          SK_UNROLL for (int i = 0; i < RB; ++i) s.template chunk_pair<Safe>(rw[i], c + u, w[i][u], w[i][u + 1]);
      } else {
        SK_UNROLL for (int u = 0; u < U; ++u)
          SK_UNROLL for (int i = 0; i < RB; ++i) w[i][u] = s.template chunk<Safe>(rw[i], c + u);
      }
      SK_UNROLL for (int u = 0; u < U; ++u)
        SK_UNROLL for (int j = 0; j < J; ++j) {
          const __m512i xv = _mm512_loadu_si512(xj[j] + (c + u) * 32);
          SK_UNROLL for (int i = 0; i < RB; ++i) acc[i][j][u] = dp(acc[i][j][u], w[i][u], xv);
        }
    }
    for (; c < chunks; ++c) {
      __m512i w[RB];
      SK_UNROLL for (int i = 0; i < RB; ++i) w[i] = s.template chunk<Safe>(rw[i], c);
      SK_UNROLL for (int j = 0; j < J; ++j) {
        const __m512i xv = _mm512_loadu_si512(xj[j] + c * 32);
        SK_UNROLL for (int i = 0; i < RB; ++i) acc[i][j][0] = dp(acc[i][j][0], w[i], xv);
      }
    }
    SK_UNROLL for (int i = 0; i < RB; ++i)
      SK_UNROLL for (int j = 0; j < J; ++j) {
        __m512 t = acc[i][j][0];
        SK_UNROLL for (int u = 1; u < U; ++u) t = _mm512_add_ps(t, acc[i][j][u]);
        out.store(r + i * rs, j0 + j, hsum(t));
      }
  }
}

template <class Src, int RB, bool Safe>
void gemv_rows(const Src& s, const Activations& x, int64_t r, const OutputSpec& out, int64_t rs, int64_t passes) {
  for (int64_t j0 = 0; j0 < x.n; j0 += 4) {
    switch (imin(4, x.n - j0)) {
      case 1: gemv_block<Src, RB, 1, Safe>(s, x, r, j0, out, rs, passes); break;
      case 2: gemv_block<Src, RB, 2, Safe>(s, x, r, j0, out, rs, passes); break;
      case 3: gemv_block<Src, RB, 3, Safe>(s, x, r, j0, out, rs, passes); break;
      default: gemv_block<Src, RB, 4, Safe>(s, x, r, j0, out, rs, passes); break;
    }
  }
}

constexpr int kGemvRows = 4;

template <class Src> void gemv_kernel(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const Src s(a);
  apart_row_passes<kGemvRows>(r0, r1, [&](int64_t r) { return s.safe_row(r); }, [&](auto rb, auto safe, int64_t r, int64_t rs, int64_t passes) {
    gemv_rows<Src, decltype(rb)::value, decltype(safe)::value>(s, x, r, out, rs, passes);
  });
}

// ---- N > 4: K-blocked outer-product GEMM on pairs of k ----------------------------------------
// c[i, j..j+16) += w[i, k] x[k, j..) + w[i, k+1] x[k+1, j..): one vdpbf16ps per row and vector of
// N, with the weight pair broadcast. R x JV accumulators in registers (at least 12 independent
// chains: two dot-product pipes times its latency).

constexpr int64_t kWeightAhead = 256;  // elements (512 bytes)

template <int R, int JV>
SK_BLOCK void micro(const uint16_t* w, int64_t ldw, const uint16_t* xp, int64_t ld2, int64_t pairs, float* c, int64_t ldc) {
  __m512 acc[R][JV];
  SK_UNROLL for (int i = 0; i < R; ++i)
    SK_UNROLL for (int v = 0; v < JV; ++v) acc[i][v] = _mm512_loadu_ps(c + i * ldc + v * 16);
  for (int64_t q = 0; q < pairs; ++q) {
    // Each row's stream a few lines ahead, once per 64-byte line: R streams 8 KB apart (dense rows
    // read in place) are more than the hardware prefetcher keeps up with at N = 16.
    if ((q & 15) == 0)
      SK_UNROLL for (int i = 0; i < R; ++i) _mm_prefetch(reinterpret_cast<const char*>(w + i * ldw + 2 * q + kWeightAhead), _MM_HINT_T0);
    __m512i xv[JV];
    SK_UNROLL for (int v = 0; v < JV; ++v) xv[v] = _mm512_loadu_si512(xp + q * ld2 + v * 32);
    SK_UNROLL for (int i = 0; i < R; ++i) {
      uint32_t pair;
      __builtin_memcpy(&pair, w + i * ldw + 2 * q, 4);
      const __m512i b = _mm512_set1_epi32(int(pair));
      SK_UNROLL for (int v = 0; v < JV; ++v) acc[i][v] = dp(acc[i][v], b, xv[v]);
    }
  }
  SK_UNROLL for (int i = 0; i < R; ++i)
    SK_UNROLL for (int v = 0; v < JV; ++v) _mm512_storeu_ps(c + i * ldc + v * 16, acc[i][v]);
}

// Rows per block by vectors of N: 12 x 1-2 (N <= 32), 6 x 3-4.
constexpr int kRbNarrow = 12, kRbWide = 6, kJV = 4;

template <int R, int JV>
void micro_tail(int rr, const uint16_t* w, int64_t ldw, const uint16_t* xp, int64_t ld2, int64_t pairs, float* c, int64_t ldc) {
  if constexpr (R > 0) {
    if (rr == R) return micro<R, JV>(w, ldw, xp, ld2, pairs, c, ldc);
    micro_tail<R - 1, JV>(rr, w, ldw, xp, ld2, pairs, c, ldc);
  }
}

// rr rows (<= the block size for nv) over all vectors of N.
void micro_rows(int rr, const uint16_t* w, int64_t ldw, const uint16_t* xp, int64_t ld2, int64_t pairs, float* c, int64_t ldc, int64_t nv) {
  if (nv <= 2) {
    if (nv == 1) micro_tail<kRbNarrow, 1>(rr, w, ldw, xp, ld2, pairs, c, ldc);
    else micro_tail<kRbNarrow, 2>(rr, w, ldw, xp, ld2, pairs, c, ldc);
    return;
  }
  for (int64_t v0 = 0; v0 < nv; v0 += kJV) {
    const uint16_t* xb = xp + v0 * 32;
    float* cb = c + v0 * 16;
    switch (imin(kJV, nv - v0)) {
      case 1: micro_tail<kRbWide, 1>(rr, w, ldw, xb, ld2, pairs, cb, ldc); break;
      case 2: micro_tail<kRbWide, 2>(rr, w, ldw, xb, ld2, pairs, cb, ldc); break;
      case 3: micro_tail<kRbWide, 3>(rr, w, ldw, xb, ld2, pairs, cb, ldc); break;
      default: micro_tail<kRbWide, 4>(rr, w, ldw, xb, ld2, pairs, cb, ldc); break;
    }
  }
}

// ---- kJ < N <= kOctsMaxN: the same GEMM on groups of eight k ---------------------------------
// With one vector of N (N <= 16) the pair blocking issues a 4-byte broadcast for every vdpbf16ps (12
// broadcasts and one x load per 12 dot products): 0.74-0.77 of the one-thread dot-product peak with
// weights and x in L2. In k_octs a vector holds 4 columns of N x eight k, so one 128-bit broadcast of
// w[r, 8g .. 8g + 8) serves every vector of N: R x V = 6 x 4 (N <= 16), 8 x 3 (N <= 12), 12 x 2
// (N <= 8) accumulators, one broadcast per V dot products (1.0 of the peak in L2). Lane l of an
// accumulator sums column 4v + l / 4 of N over k = 8g + 2(l % 4) + {0, 1}; the C tile keeps the
// four partial sums per column ([rows, 4 ld]) and the final store adds them.
constexpr int64_t kOctsMaxN = 16;

template <int R, int V>
SK_BLOCK void micro_octs(const uint16_t* w, int64_t ldw, const uint16_t* xp, int64_t chunks, float* c, int64_t ldc) {
  __m512 acc[R][V];
  SK_UNROLL for (int i = 0; i < R; ++i)
    SK_UNROLL for (int v = 0; v < V; ++v) acc[i][v] = _mm512_loadu_ps(c + i * ldc + v * 16);
  // One 32-column chunk (a 64-byte line of each row) per step: four groups of eight k.
  for (int64_t l = 0; l < chunks; ++l, w += 32, xp += 4 * V * 32) {
    SK_UNROLL for (int i = 0; i < R; ++i) _mm_prefetch(reinterpret_cast<const char*>(w + i * ldw + kWeightAhead), _MM_HINT_T0);
    SK_UNROLL for (int u = 0; u < 4; ++u) {
      __m512i xv[V];
      SK_UNROLL for (int v = 0; v < V; ++v) xv[v] = _mm512_loadu_si512(xp + (u * V + v) * 32);
      SK_UNROLL for (int i = 0; i < R; ++i) {
        const __m512i b = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i * ldw + 8 * u)));
        SK_UNROLL for (int v = 0; v < V; ++v) acc[i][v] = dp(acc[i][v], b, xv[v]);
      }
    }
  }
  SK_UNROLL for (int i = 0; i < R; ++i)
    SK_UNROLL for (int v = 0; v < V; ++v) _mm512_storeu_ps(c + i * ldc + v * 16, acc[i][v]);
}

template <int R, int V>
void micro_octs_tail(int rr, const uint16_t* w, int64_t ldw, const uint16_t* xp, int64_t chunks, float* c, int64_t ldc) {
  if constexpr (R > 0) {
    if (rr == R) return micro_octs<R, V>(w, ldw, xp, chunks, c, ldc);
    micro_octs_tail<R - 1, V>(rr, w, ldw, xp, chunks, c, ldc);
  }
}

// Rows per block by vectors of 4 columns of N (nv4 = ld / 4, 2..4).
inline int octs_rows(int64_t nv4) { return nv4 >= 4 ? 6 : nv4 == 3 ? 8 : 12; }

void micro_octs_rows(int rr, const uint16_t* w, int64_t ldw, const uint16_t* xp, int64_t chunks, float* c, int64_t ldc, int64_t nv4) {
  switch (nv4) {
    case 2: return micro_octs_tail<12, 2>(rr, w, ldw, xp, chunks, c, ldc);
    case 3: return micro_octs_tail<8, 3>(rr, w, ldw, xp, chunks, c, ldc);
    default: return micro_octs_tail<6, 4>(rr, w, ldw, xp, chunks, c, ldc);
  }
}

// Bitmap / N:M on the octs GEMM without the bf16 scratch: each row's 32-column chunk is expanded
// in a register (Src::chunk) and its four groups of eight k broadcast from it by vshufi32x4. R x V =
// 4 x 4, 6 x 3, 8 x 2 (the accumulators, V x vectors and R chunks in 32 registers).
template <class Src, bool Safe, int R, int V>
SK_BLOCK void micro_octs_expand(const Src& s, typename Src::Row* rw, const uint16_t* xp, int64_t c0, int64_t c1, float* c, int64_t ldc) {
  __m512 acc[R][V];
  SK_UNROLL for (int i = 0; i < R; ++i)
    SK_UNROLL for (int v = 0; v < V; ++v) acc[i][v] = _mm512_loadu_ps(c + i * ldc + v * 16);
  for (int64_t cc = c0; cc < c1; ++cc, xp += 4 * V * 32) {
    __m512i w[R];
    SK_UNROLL for (int i = 0; i < R; ++i) w[i] = s.template chunk<Safe>(rw[i], cc);
    SK_UNROLL for (int u = 0; u < 4; ++u) {
      __m512i xv[V];
      SK_UNROLL for (int v = 0; v < V; ++v) xv[v] = _mm512_loadu_si512(xp + (u * V + v) * 32);
      SK_UNROLL for (int i = 0; i < R; ++i) {
        const __m512i b = _mm512_shuffle_i32x4(w[i], w[i], u * 0x55);
        SK_UNROLL for (int v = 0; v < V; ++v) acc[i][v] = dp(acc[i][v], b, xv[v]);
      }
    }
  }
  SK_UNROLL for (int i = 0; i < R; ++i)
    SK_UNROLL for (int v = 0; v < V; ++v) _mm512_storeu_ps(c + i * ldc + v * 16, acc[i][v]);
}

template <class Src, bool Safe, int R, int V>
void micro_octs_expand_tail(int rr, const Src& s, typename Src::Row* rw, const uint16_t* xp, int64_t c0, int64_t c1, float* c, int64_t ldc) {
  if constexpr (R > 0) {
    if (rr == R) return micro_octs_expand<Src, Safe, R, V>(s, rw, xp, c0, c1, c, ldc);
    micro_octs_expand_tail<Src, Safe, R - 1, V>(rr, s, rw, xp, c0, c1, c, ldc);
  }
}

inline int octs_expand_rows(int64_t nv4) { return nv4 >= 4 ? 4 : nv4 == 3 ? 6 : 8; }

template <class Src, bool Safe>
void micro_octs_expand_rows(int rr, const Src& s, typename Src::Row* rw, const uint16_t* xp, int64_t c0, int64_t c1, float* c, int64_t ldc, int64_t nv4) {
  switch (nv4) {
    case 2: return micro_octs_expand_tail<Src, Safe, 8, 2>(rr, s, rw, xp, c0, c1, c, ldc);
    case 3: return micro_octs_expand_tail<Src, Safe, 6, 3>(rr, s, rw, xp, c0, c1, c, ldc);
    default: return micro_octs_expand_tail<Src, Safe, 4, 4>(rr, s, rw, xp, c0, c1, c, ldc);
  }
}

// The octs C tile holds 4 floats per column of N.
size_t octs_workspace(int64_t rows, int64_t ld, int64_t kp) { return spmm_workspace_bytes(rows, 4 * ld, kp); }

constexpr int64_t kPanelBytes = 256 * 1024;  // the x panel of a K block: half of a 512 KB+ L2

// The output row r into L1 before its stores: linear's output [N, M] puts a row's N values on
// N lines M elements apart, and their read-for-ownership misses stalled the stores (single thread,
// 11008x4096, N = 16: the stores 0.3-0.45 ms of a 1.5-1.9 ms task without, 0.16-0.23 with).
constexpr int64_t kOutAhead = 48;  // rows
inline void prefetch_out(const OutputSpec& out, int64_t r, int64_t n) {
  const int64_t esz = int64_t(dtype_size(out.dtype)), step = out.col_stride * esz >= 64 ? 1 : n;
  const char* p = static_cast<const char*>(out.data) + r * out.row_stride * esz;
  for (int64_t j = 0; j < n; j += step) _mm_prefetch(p + j * out.col_stride * esz, _MM_HINT_T0);
}

// Octs: x in k_octs_bf16 (micro_octs), else k_pairs_bf16 (micro).
template <class Src, bool Octs> void gemm_kernel(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const Src s(a);
  const int64_t n = x.n, ld = x.ld, ld2 = 2 * ld, nv = ld / 16, rows = r1 - r0, chunks = s.chunks;
  const int64_t ldc = Octs ? 4 * ld : ld;
  constexpr bool kExpand = Octs && !std::is_same_v<Src, DenseRows>;  // micro_octs_expand, no scratch
  const int rb_max = kExpand ? octs_expand_rows(ld / 4) : Octs ? octs_rows(ld / 4) : nv <= 2 ? kRbNarrow : kRbWide;
  static_assert(sizeof(typename Src::Row) <= kWorkspaceCursorBytes, "workspace");
  // Workspace: fp32 C tile [rows, ldc], bf16 decode scratch for rb_max rows of a K block, row cursors.
  float* c = static_cast<float*>(x.workspace);
  uint16_t* wbuf = reinterpret_cast<uint16_t*>(c + rows * ldc);
  auto* cur = reinterpret_cast<typename Src::Row*>(reinterpret_cast<float*>(wbuf) + kWorkspaceDecodeFloats);
  for (int64_t i = 0; i < rows; ++i) cur[i] = s.row(r0 + i);
  // Dense rows of whole 32-column chunks are read in place (a pair never reaches into the next
  // row, which could hold an Inf that the zero padding of x would turn into NaN); others decode.
  constexpr bool kDense = std::is_same_v<Src, DenseRows>;
  const bool direct = kDense && a.cols % 32 == 0;
  // K block in 32-column chunks: the x panel fills kPanelBytes; decoded rows also fit the scratch
  // (each skewed by 32 elements so the rows do not share L1 sets).
  const int64_t scratch_chunks = (kWorkspaceDecodeFloats * 2 / rb_max - 32) / 32;
  const int64_t panel_chunks = imax(16, kPanelBytes / (ld * 2) / 32);
  const int64_t kc = direct || kExpand ? panel_chunks : imin(panel_chunks, scratch_chunks);
  const int64_t ldw_scratch = kc * 32 + 32;
  // One K block: each row block's sums go from a [rb_max, ldc] tile still in L1 to the output.
  // Several: the [rows, ldc] tile carries them from block to block (the whole tile written at
  // once evicted x from L2: 1.5x slower at N = 16 with the octs tile's 4 floats per column).
  const bool one_block = chunks <= kc;
  if (!one_block)
    for (int64_t i = 0; i < rows * ldc; ++i) c[i] = 0.f;
  for (int64_t c0 = 0; c0 < chunks; c0 += kc) {
    const int64_t c1 = imin(chunks, c0 + kc), pairs = (c1 - c0) * 16;
    const uint16_t* xb = x.bf16 + c0 * 16 * ld2;
    for (int64_t rb = 0; rb < rows; rb += rb_max) {
      const int rr = int(imin(rb_max, rows - rb));
      const uint16_t* w;
      int64_t ldw;
      if (direct || kExpand) {
        w = direct ? reinterpret_cast<const uint16_t*>(s.row(r0 + rb).p) + c0 * 32 : nullptr;
        ldw = a.cols;
      } else {
        // Chunk-major over the rr rows, so their streams advance together.
        for (int64_t cc = c0; cc < c1; ++cc)
          for (int i = 0; i < rr; ++i) {
            typename Src::Row& rw = cur[rb + i];
            const bool safe = s.safe_row(r0 + rb + i);
            const __m512i v = safe ? s.template chunk<true>(rw, cc) : s.template chunk<false>(rw, cc);
            _mm512_storeu_si512(wbuf + i * ldw_scratch + (cc - c0) * 32, v);
          }
        w = wbuf;
        ldw = ldw_scratch;
      }
      float* cb = one_block ? c : c + rb * ldc;
      if (one_block)
        for (int64_t i = 0; i < rr * ldc; ++i) cb[i] = 0.f;
      if (c1 == chunks) prefetch_out(out, imin(r0 + rb + kOutAhead, a.rows - 1), n);
      if constexpr (kExpand) {
        bool safe = true;
        for (int i = 0; i < rr; ++i) safe = safe && s.safe_row(r0 + rb + i);
        if (safe) micro_octs_expand_rows<Src, true>(rr, s, cur + rb, xb, c0, c1, cb, ldc, ld / 4);
        else micro_octs_expand_rows<Src, false>(rr, s, cur + rb, xb, c0, c1, cb, ldc, ld / 4);
      } else if constexpr (Octs) micro_octs_rows(rr, w, ldw, xb, c1 - c0, cb, ldc, ld / 4);
      else micro_rows(rr, w, ldw, xb, ld2, pairs, cb, ldc, nv);
      // The next block's rows up to the distance micro's prefetches keep: otherwise each block
      // starts with all its rows' first lines missing at once, while the stores below hold the core.
      if (direct) {
        const int64_t nr = imin(rb_max, rows - rb - rr);
        for (int64_t i = 0; i < nr; ++i) {
          const char* p = reinterpret_cast<const char*>(w + (rr + i) * ldw);
          for (int64_t b = 0; b < kWeightAhead * 2; b += 64) _mm_prefetch(p + b, _MM_HINT_T0);
        }
      }
      if (c1 == chunks)
        for (int i = 0; i < rr; ++i)
          for (int64_t j = 0; j < n; ++j) {
            const float* t = cb + i * ldc + (Octs ? 4 * j : j);
            out.store(r0 + rb + i, j, Octs ? (t[0] + t[1]) + (t[2] + t[3]) : t[0]);
          }
    }
  }
}

// ---- N > 4, sparse: pairs of kept values times gathered pairs of x rows (skips the zeros) -----
// Two consecutive kept values of a row, (w[a], w[b]) with a < b anywhere in the row, are one 32-bit
// broadcast; vdpbf16ps wants x's matching pair vector (x[a, j], x[b, j]) per fp32 lane j. In the
// k_pairs layout the 64 bytes from row a's first element hold x[a, j] in the low half of dword j,
// and the 64 bytes from one element before row b's first hold x[b, j] in the high half, so one word
// blend of two loads builds it (b > a, so b's load never starts before the K block). A row costs
// one dot product per two kept values per 16 columns of N, against the dense GEMM's one per two
// columns: the work follows the kept count, not the shape. Loads bound it (the x pair, the weight
// pair and the offsets: about four per dot product against the dense GEMM's one), so the mask
// decode writes 16-bit word offsets of x rows within the K block (one vpcompressw per 32 columns;
// a pair of offsets is one 32-bit load), once per row and K block for every vector of N.

inline __m512i compress_w32(__m512i src, __mmask32 k) {
  __m512i v = _mm512_setzero_si512();  // (merge form into a zeroed register, as expand_w16)
  __asm__("vpcompressw %1, %0%{%2%}" : "+v"(v) : "v"(src), "Yk"(k));
  return v;
}

// One pair (or the last value alone, Single) times JV vectors of N into acc.
template <int JV, bool Single>
inline void pair_dp(__m512 (&acc)[JV], const uint16_t* off, const uint16_t* wv, const uint16_t* xb) {
  uint32_t ab, wp;
  if constexpr (Single) {
    ab = off[0];
    wp = wv[0];  // the partner lane: a zero weight times a zeroed x (never 0 x Inf)
  } else {
    __builtin_memcpy(&ab, off, 4);
    __builtin_memcpy(&wp, wv, 4);
  }
  const __m512i w = _mm512_set1_epi32(int(wp));
  const uint16_t* xa = xb + (ab & 0xffffu);
  const uint16_t* xb1 = xb + (ab >> 16) - 1;
  SK_UNROLL for (int v = 0; v < JV; ++v) {
    const __m512i xp = Single ? _mm512_maskz_loadu_epi16(__mmask32(0x55555555u), xa + v * 32)
                              : _mm512_mask_blend_epi16(__mmask32(0xAAAAAAAAu), _mm512_loadu_si512(xa + v * 32), _mm512_loadu_si512(xb1 + v * 32));
    acc[v] = dp(acc[v], w, xp);
  }
}

// A row segment: off[] word offsets (from the K block's x) of its cnt kept columns, wv[] their
// values; c[v * 16 ..] += the products. U accumulator sets per vector hide the dot-product latency.
template <int JV, int U>
SK_BLOCK void pairs_row(const uint16_t* off, const uint16_t* wv, int64_t cnt, const uint16_t* xb, float* c) {
  __m512 acc[U][JV];
  SK_UNROLL for (int u = 0; u < U; ++u)
    SK_UNROLL for (int v = 0; v < JV; ++v) acc[u][v] = u == 0 ? _mm512_loadu_ps(c + v * 16) : _mm512_setzero_ps();
  const int64_t pairs = cnt / 2;
  int64_t t = 0;
  for (; t + U <= pairs; t += U)
    SK_UNROLL for (int u = 0; u < U; ++u) pair_dp<JV, false>(acc[u], off + 2 * (t + u), wv + 2 * (t + u), xb);
  for (; t < pairs; ++t) pair_dp<JV, false>(acc[0], off + 2 * t, wv + 2 * t, xb);
  if (cnt & 1) pair_dp<JV, true>(acc[0], off + cnt - 1, wv + cnt - 1, xb);
  SK_UNROLL for (int v = 0; v < JV; ++v) {
    __m512 s = acc[0][v];
    SK_UNROLL for (int u = 1; u < U; ++u) s = _mm512_add_ps(s, acc[u][v]);
    _mm512_storeu_ps(c + v * 16, s);
  }
}

// K blocks: word offsets within a block fit 16 bits (chunks * 16 pairs * 2 ld <= 65536), so
// N <= kPairsMaxN. Measured: the whole row in one block (x in L2 at N = 16) beat L1-sized blocks;
// a block's row segments are not contiguous in memory and cost more than the L2 reads.
constexpr int64_t kPairsMaxN = 2048;
constexpr int kPairsJV = 4;

// A row segment's kept columns and values from bitmap / N:M masks: one vpcompressw of the columns'
// word offsets per 32 columns. segment() writes off[0, cnt) (and up to 32 entries past it), points
// *wv at the values and advances the row. (CSR through the same kernel, its int32 indices
// converted 16 per step, measured slower than the fp32 outer product: it reads 4 more bytes per
// kept value, and at N = 16 that traffic costs more than the dot products save.) Cols: x in
// k_major_bf16 (N <= 16, pairs_row_cols), column i at word offset i * ld.
template <bool Fixed, bool Cols = false> struct MaskPairs {
  static constexpr bool kCols = Cols;
  MaskRows<Fixed> s;
  int64_t ld2;
  MaskPairs(const MatrixView& a, int64_t ld) : s(a), ld2(2 * ld) {}
  using Row = typename MaskRows<Fixed>::Row;
  int64_t chunks() const { return s.chunks; }
  Row row(int64_t r) const { return s.row(r); }
  int64_t segment(Row& rw, int64_t c0, int64_t c1, uint16_t* off, const uint16_t** wv) const {
    // Word offset of column i (0..31) of a chunk from the chunk's x: (i / 2) * ld2 + i % 2.
    const __m512i step = _mm512_set1_epi16(short(16 * ld2));
    __m512i at = Cols ? _mm512_mullo_epi16(lane16(), _mm512_set1_epi16(short(ld2 / 2)))
                      : _mm512_add_epi16(_mm512_mullo_epi16(_mm512_srli_epi16(lane16(), 1), _mm512_set1_epi16(short(ld2))),
                                         _mm512_and_si512(lane16(), _mm512_set1_epi16(1)));
    int64_t cnt = 0;
    for (int64_t cc = c0; cc < c1; ++cc) {
      const uint32_t bits = rw.m[cc];
      _mm512_storeu_si512(off + cnt, compress_w32(at, __mmask32(bits)));
      cnt += __builtin_popcount(bits);
      at = _mm512_add_epi16(at, step);
    }
    *wv = Fixed ? rw.p + c0 * s.step : rw.p;
    if constexpr (!Fixed) rw.p += cnt;
    return cnt;
  }
  static __m512i lane16() {
    return _mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  }
};

template <class Seg>
void pairs_kernel(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const int64_t n = x.n, ld = x.ld, ld2 = 2 * ld, nv = ld / 16, rows = r1 - r0;
  const Seg s(a, ld);
  const int64_t chunks = s.chunks();
  static_assert(sizeof(typename Seg::Row) <= kWorkspaceCursorBytes, "workspace");
  float* c = static_cast<float*>(x.workspace);
  uint16_t* off = reinterpret_cast<uint16_t*>(c + rows * ld);
  auto* cur = reinterpret_cast<typename Seg::Row*>(c + rows * ld + kWorkspaceDecodeFloats);
  for (int64_t i = 0; i < rows * ld; ++i) c[i] = 0.f;
  for (int64_t i = 0; i < rows; ++i) cur[i] = s.row(r0 + i);
  const int64_t kc = imax(1, imin(kPairsMaxN / ld, (kWorkspaceDecodeFloats * 2 - 64) / 32));
  for (int64_t c0 = 0; c0 < chunks; c0 += kc) {
    const int64_t c1 = imin(chunks, c0 + kc);
    const uint16_t* xb = x.bf16 + c0 * 16 * ld2;
    for (int64_t i = 0; i < rows; ++i) {
      const uint16_t* wv;
      const int64_t cnt = s.segment(cur[i], c0, c1, off, &wv);
      if (cnt == 0) continue;
      if constexpr (Seg::kCols) {
        cols_row<uint16_t, 1, 16>(off, wv, cnt, xb, c + i * ld);
        continue;
      }
      for (int64_t v0 = 0; v0 < nv; v0 += kPairsJV) {
        const uint16_t* xv = xb + v0 * 32;
        float* cv = c + i * ld + v0 * 16;
        switch (imin(kPairsJV, nv - v0)) {
          case 1: pairs_row<1, 4>(off, wv, cnt, xv, cv); break;
          case 2: pairs_row<2, 4>(off, wv, cnt, xv, cv); break;
          case 3: pairs_row<3, 3>(off, wv, cnt, xv, cv); break;
          default: pairs_row<4, 3>(off, wv, cnt, xv, cv); break;
        }
      }
    }
  }
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < n; ++j) out.store(r0 + i, j, c[i * ld + j]);
}

// r[i] (16 dwords each) -> r[c] = dword c of every input, in input order.
inline void transpose16x16_epi32(__m512i (&r)[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  // u[4 g + m], 128-bit lane l: column 4 l + m of inputs 4 g .. 4 g + 3.
  for (int m = 0; m < 4; ++m) {
    const __m512i p0 = _mm512_shuffle_i32x4(u[m], u[4 + m], 0x44), p1 = _mm512_shuffle_i32x4(u[m], u[4 + m], 0xEE);
    const __m512i q0 = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0x44), q1 = _mm512_shuffle_i32x4(u[8 + m], u[12 + m], 0xEE);
    r[m] = _mm512_shuffle_i32x4(p0, q0, 0x88);
    r[4 + m] = _mm512_shuffle_i32x4(p0, q0, 0xDD);
    r[8 + m] = _mm512_shuffle_i32x4(p1, q1, 0x88);
    r[12 + m] = _mm512_shuffle_i32x4(p1, q1, 0xDD);
  }
}

// fp32 -> bf16 as f32_to_bf16 (nearest even, NaN quieted, denormals kept; not vcvtneps2bf16,
// which flushes them).
inline __m256i f32x16_to_bf16(__m512 v) {
  const __m512i b = _mm512_castps_si512(v);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(b, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7fff))), 16);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(b, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(b, 16), _mm512_set1_epi32(0x40));
  return _mm512_cvtepi32_epi16(r);
}

// The [rows, 16] tile (row i's sums for N = 0..15) to the output. Linear's output [N, M] with fp32
// or bf16 values: 16 rows at a time transposed, each column of N one 64- (32-) byte store instead
// of 16 scalar stores to 16 lines; otherwise (and the last rows) element by element.
void store_tile16(const OutputSpec& out, int64_t r0, int64_t rows, int64_t n, const float* c) {
  const bool vec = out.row_stride == 1 && (out.dtype == DType::f32 || out.dtype == DType::bf16);
  int64_t i = 0;
  if (vec)
    for (; i + 16 <= rows; i += 16) {
      __m512i t[16];
      SK_UNROLL for (int q = 0; q < 16; ++q) t[q] = _mm512_loadu_si512(c + (i + q) * 16);
      transpose16x16_epi32(t);
      const __m512 bias = out.bias ? _mm512_loadu_ps(out.bias + r0 + i) : _mm512_setzero_ps();
      for (int64_t j = 0; j < n; ++j) {
        const __m512 v = _mm512_add_ps(_mm512_castsi512_ps(t[j]), bias);
        const int64_t at = r0 + i + j * out.col_stride;
        if (out.dtype == DType::f32) _mm512_storeu_ps(static_cast<float*>(out.data) + at, v);
        else _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<uint16_t*>(out.data) + at), f32x16_to_bf16(v));
      }
    }
  for (; i < rows; ++i)
    for (int64_t j = 0; j < n; ++j) out.store(r0 + i, j, c[i * 16 + j]);
}

// CSR: each row's column indices and values read in place (rows from DRAM; the row's prefetch in
// cols_row), its sums into a [rows, 16] tile stored 16 rows at a time (x.ld = 16 or 8 words per column).
template <int LD>
void csr_cols_kernel(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const int32_t* rp = a.as<int32_t>(Part::row_ptr);
  const int32_t* ci = a.as<int32_t>(Part::col_idx);
  const uint16_t* vals = a.as<uint16_t>(Part::values);
  const int64_t rows = r1 - r0;
  float* c = static_cast<float*>(x.workspace);
  for (int64_t i = 0; i < rows * 16; ++i) c[i] = 0.f;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t b = rp[r0 + i];
    cols_row<int32_t, LD, LD>(ci + b, vals + b, int64_t(rp[r0 + i + 1]) - b, x.bf16, c + i * 16);
  }
  store_tile16(out, r0, rows, x.n, c);
}

// The [rows, 16] tile whatever the ld (8 at N <= 8).
size_t cols_workspace(int64_t rows, int64_t, int64_t kp) { return spmm_workspace_bytes(rows, 16, kp); }

// ---- staging x into the bf16 layouts (the driver's fast path for linear's x [N, K]) --------------

// 32 bf16 activations of `row` from column k (cnt <= 32 of them, the rest zero): bf16 as they
// are, fp32 rounded to nearest even by vcvtne2ps2bf16 (as f32_to_bf16, except that fp32 denormals
// become 0, which vdpbf16ps makes of their bf16 denormals anyway).
template <bool F32> inline __m512i load_bf16x32(const void* row, int64_t k, int64_t cnt) {
  if constexpr (F32) {
    const float* p = static_cast<const float*>(row) + k;
    const __m512 lo = cnt >= 16 ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(__mmask16((1u << cnt) - 1u), p);
    const __m512 hi = cnt >= 32 ? _mm512_loadu_ps(p + 16)
                    : cnt > 16 ? _mm512_maskz_loadu_ps(__mmask16((1u << (cnt - 16)) - 1u), p + 16) : _mm512_setzero_ps();
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
  } else {
    const uint16_t* p = static_cast<const uint16_t*>(row) + k;
    return cnt >= 32 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi16(__mmask32((uint64_t(1) << cnt) - 1u), p);
  }
}

template <bool F32>
void stage_rows(const void* x, int64_t n, int64_t cols, int64_t kp, int64_t ld, XLayout layout, uint16_t* buf) {
  const size_t esize = F32 ? 4 : 2;
  auto row = [&](int64_t j) { return static_cast<const uint8_t*>(x) + size_t(j) * size_t(cols) * esize; };
  if (layout == XLayout::n_major_bf16) {
    parallel_range(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j)
        for (int64_t k = 0; k < cols; k += 32) {
          const int64_t cnt = imin(32, cols - k);
          _mm512_mask_storeu_epi16(buf + j * kp + k, __mmask32((uint64_t(1) << cnt) - 1u), load_bf16x32<F32>(row(j), k, cnt));
        }
    });
    return;
  }
  if (layout == XLayout::k_octs_bf16) {
    // 16 bytes (eight k) of row j to (k / 8) * 8 ld + 8 j.
    parallel_range(n, 1, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j)
        for (int64_t k = 0; k < cols; k += 32) {
          const __m512i v = load_bf16x32<F32>(row(j), k, imin(32, cols - k));
          uint16_t* d = buf + (k / 8) * 8 * ld + 8 * j;
          _mm_storeu_si128(reinterpret_cast<__m128i*>(d), _mm512_castsi512_si128(v));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 8 * ld), _mm512_extracti32x4_epi32(v, 1));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 16 * ld), _mm512_extracti32x4_epi32(v, 2));
          _mm_storeu_si128(reinterpret_cast<__m128i*>(d + 24 * ld), _mm512_extracti32x4_epi32(v, 3));
        }
    });
    return;
  }
  uint32_t* dst = reinterpret_cast<uint32_t*>(buf);
  if (layout == XLayout::k_major_bf16) {
    // Word k * ld + j holds x[j, k]: 16 x 16 transposes of the words widened to dwords, narrowed back.
    parallel_range((cols + 15) / 16, 4, [&](int64_t b, int64_t e) {
      for (int64_t kb = b; kb < e; ++kb)
        for (int64_t j0 = 0; j0 < n; j0 += 16) {
          __m512i r[16];
          const int64_t k = kb * 16, cnt = imin(16, cols - k);
          for (int i = 0; i < 16; ++i) {
            if (j0 + i >= n) {
              r[i] = _mm512_setzero_si512();
              continue;
            }
            r[i] = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(load_bf16x32<F32>(row(j0 + i), k, cnt)));
          }
          transpose16x16_epi32(r);
          if (ld == 8)  // (N <= 8: j0 = 0, the upper 8 words are zero)
            for (int64_t c = 0; c < cnt; ++c) _mm_storeu_si128(reinterpret_cast<__m128i*>(buf + (k + c) * 8), _mm256_castsi256_si128(_mm512_cvtepi32_epi16(r[c])));
          else
            for (int64_t c = 0; c < cnt; ++c) _mm256_storeu_si256(reinterpret_cast<__m256i*>(buf + (k + c) * ld + j0), _mm512_cvtepi32_epi16(r[c]));
        }
    });
    return;
  }
  // k_pairs_bf16: dword (k / 2) * ld + j holds (x[j, k], x[j, k + 1]), dword k / 2 of row j: a
  // transpose of [N, K / 2] dwords, 16 x 16 at a time (missing rows of N as zeros; ld and the
  // zeroed buffer cover whole blocks: ld and K / 2 rounded up to 16 fit).
  const int64_t pairs = (cols + 1) / 2;
  parallel_range((pairs + 15) / 16, 4, [&](int64_t b, int64_t e) {
    for (int64_t kb = b; kb < e; ++kb)
      for (int64_t j0 = 0; j0 < n; j0 += 16) {
        __m512i r[16];
        const int64_t k = kb * 32, cnt = imin(32, cols - k);
        for (int i = 0; i < 16; ++i) r[i] = j0 + i < n ? load_bf16x32<F32>(row(j0 + i), k, cnt) : _mm512_setzero_si512();
        transpose16x16_epi32(r);
        const int64_t rows = imin(16, pairs - kb * 16);
        for (int c = 0; c < rows; ++c) _mm512_storeu_si512(dst + (kb * 16 + c) * ld + j0, r[c]);
      }
  });
}

}  // namespace

bool stage_bf16_avx512(const SpmmArgs& args, int64_t cols, int64_t kp, int64_t ld, XLayout layout, uint16_t* buf) {
  if (args.b_is_kn || (args.b_dtype != DType::bf16 && args.b_dtype != DType::f32) || !cpu_features().avx512bf16) return false;
  if (layout == XLayout::k_pairs_bf16 && ld % 16 != 0) return false;
  if (layout == XLayout::k_major_bf16 && ld % 16 != 0 && ld != 8) return false;
  if (args.b_dtype == DType::f32) stage_rows<true>(args.b, args.n, cols, kp, ld, layout, buf);
  else stage_rows<false>(args.b, args.n, cols, kp, ld, layout, buf);
  return true;
}

// Kept fraction of a 16-bit bitmap / N:M / CSR matrix.
inline double density(const MatrixView& a) { return double(a.part(Part::values).bytes) / 2.0 / (double(a.rows) * double(a.cols)); }
constexpr double kBf16SparseDensity = 0.25;
// At kJ < N <= kOctsMaxN bitmap / N:M decode into the octs GEMM in registers (micro_octs_expand,
// about 1.4 ns per chunk over dense) and skip their zeros only below this density (N = 16, one
// thread, 11008x4096: 80% 5.6-6.8 against the pairs kernel's 6.3-8.6 ms, 85% about even, 90% 6.9
// against 3.9-4.2).
constexpr double kBf16OctsSparseDensity = 0.15;
// The N <= 4 bitmap decode loads 32 bytes for chunks keeping <= 16 values up to this density
// (MaskRows::Narrow): a chunk keeps more than 16 with probability ~0.2% at density 0.3 but ~40%
// at 0.5, where the mispredicted branch cost 3.7 against 1.0 ns per chunk (in L3; docs/kernels.md).
constexpr double kNarrowDensity = 0.3;

// The GEMM over a weight source: on groups of eight k up to kOctsMaxN (x in 4-column vectors of
// N), on pairs of k above it.
template <class Src> SpmmKernel gemm_for(int64_t n, const char* name) {
  if (n <= kOctsMaxN) return SpmmKernel{gemm_kernel<Src, true>, XLayout::k_octs_bf16, name, true, 4, octs_workspace};
  return SpmmKernel{gemm_kernel<Src, false>, XLayout::k_pairs_bf16, name, true, 16};
}

SpmmKernel select_spmm_avx512_bf16(const MatrixView& a, int64_t n) {
  if (a.dtype != DType::bf16) return SpmmKernel{};
  const bool gemv = n <= 4;
  const XLayout nl = XLayout::n_major_bf16, kl = XLayout::k_pairs_bf16;
  // CSR at kJ < N <= kColsMaxN: the cols kernel (x in k_major_bf16). Above it CSR keeps the fp32 table's
  // outer product. (Bitmap / N:M through the same kernel, their masks decoded to 16-bit column
  // numbers per row, measured no faster than the kernels below: docs/kernels.md.)
  if (!gemv && n <= kColsMaxN && a.format == Format::csr) {
    const char* name = "spmm_csr_cols_bf16_dpbf16_avx512";
    if (n <= 8) return SpmmKernel{csr_cols_kernel<8>, XLayout::k_major_bf16, name, true, 8, cols_workspace};
    return SpmmKernel{csr_cols_kernel<16>, XLayout::k_major_bf16, name, true, 16, cols_workspace};
  }
  // Below this density a decode-to-dense GEMM does more work than skipping the zeros: bitmap and
  // N:M run the pairs kernel (N <= kPairsMaxN; above it, and for CSR, the fp32 table's outer product).
  const double skip_below = n <= kOctsMaxN ? kBf16OctsSparseDensity : kBf16SparseDensity;
  if (!gemv && a.format != Format::dense && density(a) < skip_below) {
    if (n > kPairsMaxN || (a.format != Format::bitmap && a.format != Format::nm)) return SpmmKernel{};
    // (4 < N <= 16: x in k_major_bf16, the cols kernel's pair vectors)
    const bool cols = n <= kColsMaxN;
    const XLayout pl = cols ? XLayout::k_major_bf16 : kl;
    if (a.format == Format::bitmap)
      return SpmmKernel{cols ? pairs_kernel<MaskPairs<false, true>> : pairs_kernel<MaskPairs<false>>, pl, "spmm_bitmap_pairs_bf16_dpbf16_avx512", true, 16};
    const SpmmKernelFn fn = 32 % a.m == 0 ? (cols ? pairs_kernel<MaskPairs<true, true>> : pairs_kernel<MaskPairs<true>>)
                                          : (cols ? pairs_kernel<MaskPairs<false, true>> : pairs_kernel<MaskPairs<false>>);
    return SpmmKernel{fn, pl, "spmm_nm_pairs_bf16_dpbf16_avx512", true, 16};
  }
  switch (a.format) {
    case Format::dense:
      return gemv ? SpmmKernel{gemv_kernel<DenseRows>, nl, "gemv_dense_bf16_dpbf16_avx512"}
                  : gemm_for<DenseRows>(n, "gemm_dense_bf16_dpbf16_avx512");
    case Format::bitmap:
      if (gemv)
        return SpmmKernel{density(a) <= kNarrowDensity ? gemv_kernel<MaskRows<false, true>> : gemv_kernel<MaskRows<false>>, nl,
                          "spmv_bitmap_bf16_dpbf16_avx512"};
      return gemm_for<MaskRows<false>>(n, "spmm_bitmap_bf16_dpbf16_avx512");
    case Format::nm:
      if (gemv) {
        // Fixed (m divides 32): every chunk keeps exactly 32 n / m values; otherwise as bitmap.
        const bool narrow = 32 % a.m == 0 ? 2 * a.n <= a.m : double(a.n) / double(a.m) <= kNarrowDensity;
        const SpmmKernelFn fn = 32 % a.m == 0 ? (narrow ? gemv_kernel<MaskRows<true, true>> : gemv_kernel<MaskRows<true>>)
                                              : (narrow ? gemv_kernel<MaskRows<false, true>> : gemv_kernel<MaskRows<false>>);
        return SpmmKernel{fn, nl, "spmv_nm_bf16_dpbf16_avx512"};
      }
      return 32 % a.m == 0 ? gemm_for<MaskRows<true>>(n, "spmm_nm_bf16_dpbf16_avx512")
                           : gemm_for<MaskRows<false>>(n, "spmm_nm_bf16_dpbf16_avx512");
    default:
      return SpmmKernel{};
  }
}

#undef SK_UNROLL
#undef SK_BLOCK

}  // namespace sk
SK_TARGET_END
#else
namespace sk {
SpmmKernel select_spmm_avx512_bf16(const MatrixView&, int64_t) { return SpmmKernel{}; }
bool stage_bf16_avx512(const SpmmArgs&, int64_t, int64_t, int64_t, XLayout, uint16_t*) { return false; }
}  // namespace sk
#endif
