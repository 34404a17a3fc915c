// AVX2 kernels for 4-bit weights at N = 1 with int8 activations (opt-in: linear(..., { activations:
// 'int8' }), ActivationRounding::int8): the AVX2 counterparts of qspmm_avx512_vnni.cpp's dense and
// 2:4 kernels, multiplying as llama.cpp's AVX2 Q4_0 x Q8_0 dot does. x is rounded per weight group
// by the rule of docs/kernels.md "Numerics" (the VNNI kernels' s_x and xq, bit for bit); vpmaddubsw
// multiplies unsigned codes by signed xq into int16 pair sums, which add up over a unit (below)
// before one vpmaddwd by ones widens them to int32 lanes; every lane's sum is exact, converted once
// and scaled by scale·s_x.
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "../formats/quant.h"
#include "core/isa_target.h"
#include "qspmm.h"

#if SK_HAVE_X86
SK_TARGET_BEGIN_AVX2
namespace sk {
namespace {

#include "qspmm_avx2_codes.inl"
#include "qspmm_x8_round_avx2.inl"
#include "unroll.inl"

constexpr int64_t round64(int64_t c) { return (c + 63) / 64 * 64; }

// A unit is what one int32 vector sums before it is scaled: a group when G >= 128 (G / 64 windows
// of 64 columns, their int16 sums added), else 128 columns (two windows whose int16 sums are
// paired by one vphaddw, so lanes 0-1 | 4-5 hold the first window's 32-column halves and 2-3 |
// 6-7 the second's: two to four groups, each lane within one): one conversion and scaling per 128
// columns however small G is (per 64 columns at G = 32 that cost more than the products).
// Its int16 sums stay below 2^15: at most 4 windows of 4 products of 15 · 127 per word.
inline bool split_units(int G) { return G < 128; }
inline int64_t unit_cols(int G) { return G < 128 ? 128 : G; }
inline int64_t unit_count(int64_t cols, int G) { return (cols + unit_cols(G) - 1) / unit_cols(G); }
// The columns (from the unit's first) of lane i's 16 (split) or, per window, 8 ones.
inline int64_t lane_first_col(bool split, int i) { return split ? 64 * ((i % 4) / 2) + 32 * (i / 4) + 16 * (i % 2) : 8 * i; }

// What prepare writes once per call (64-aligned pieces of Activations::prepared):
struct XQ {
  int8_t* x;       // per 64 columns: dense, the 32 even columns then the 32 odd ones; 2:4, columns 0-15, 32-47, then 16-31, 48-63
  float* sx;       // per group: s_x, zero-padded to a multiple of 8 groups (a run of 8 is one load)
  int32_t* start;  // dense, per unit, lane i: -8 · Σ xq over the lane's columns (lane_first_col; the symmetric accumulators' start)
  float* lsum;     // dense, per unit: the same sums, as floats (the asymmetric zero points' term)
};
size_t x8_prepared_bytes(const MatrixView& a, int64_t, int64_t) {
  const int64_t cp = round64(a.cols), units = unit_count(a.cols, a.quant.group);
  return size_t(2 * cp + (a.cols / a.quant.group + 8) * 4 + units * 64 + 256);
}
XQ x8_layout(const MatrixView& a, void* prepared) {
  const int64_t cp = round64(a.cols), units = unit_count(a.cols, a.quant.group);
  int8_t* x = static_cast<int8_t*>(prepared);
  int8_t* q = x + cp;  // column order, a scratch of prepare's
  float* sx = reinterpret_cast<float*>(align64(q + cp));
  int32_t* start = reinterpret_cast<int32_t*>(align64(sx + a.cols / a.quant.group + 8));
  float* lsum = reinterpret_cast<float*>(start + 8 * units);
  return {x, sx, start, lsum};
}

enum QFmt { kDense = 0, kNM24 = 1 };

template <QFmt F>
void prepare_x8(const MatrixView& a, const Activations& xa, void* out) {
  const XQ xq = x8_layout(a, out);
  const int G = a.quant.group;
  const int64_t cols = a.cols, cp = round64(cols), gpr = cols / G;
  int8_t* q = xq.x + cp;
  x8_round_row(xa.data, cols, G, q, xq.sx, nullptr);
  std::memset(xq.sx + gpr, 0, 8 * sizeof(float));
  std::memset(q + cols, 0, size_t(cp - cols));
  for (int64_t c = 0; c < cp; c += 64) {
    int8_t* d = xq.x + c;
    const int8_t* s = q + c;
    if constexpr (F == kDense) {
      for (int j = 0; j < 32; ++j) d[j] = s[2 * j], d[32 + j] = s[2 * j + 1];
    } else {
      std::memcpy(d, s, 16), std::memcpy(d + 16, s + 32, 16), std::memcpy(d + 32, s + 16, 16), std::memcpy(d + 48, s + 48, 16);
    }
  }
  if constexpr (F == kDense) {
    const int64_t uc = unit_cols(G), units = unit_count(cols, G);
    const bool split = split_units(G);
    for (int64_t u = 0; u < units; ++u)
      for (int i = 0; i < 8; ++i) {
        int32_t t = 0;
        for (int64_t c = u * uc + lane_first_col(split, i); c < (u + 1) * uc && c < cp; c += split ? uc : 64)
          for (int k = 0; k < (split ? 16 : 8); ++k) t += q[c + k];
        xq.start[8 * u + i] = -8 * t;
        xq.lsum[8 * u + i] = float(t);
      }
  }
}

// scale·s_x of a row's next units in one register, placed so that an in-lane vpermilps by
// run_lanes gives a unit its lanes (a cross-lane vpermps per unit and row cost ~1.6 cycles on
// Zen 2, a third of a unit's work at G = 128): G >= 64, groups g .. g+3 in both halves (4 units
// of G >= 128, 2 of G = 64); G = 32, groups g .. g+7 as g, g+2, g+4, g+6 | g+1, g+3, g+5, g+7
// (2 units). The row's last run may be short: its scales are copied so no load leaves the row.
inline int units_per_run(int G) { return G < 128 ? 2 : 4; }
inline __m256 scale_run(const uint16_t* scales, const float* sx, int64_t g, int64_t gpr, int G) {
  const int64_t n = G < 64 ? 8 : 4;
  alignas(16) uint16_t t[8] = {};
  const uint16_t* h = scales + g;
  if (gpr - g < n) {
    std::memcpy(t, h, size_t(gpr - g) * 2);
    h = t;
  }
  if (G >= 64) {
    const __m128 v = _mm_mul_ps(_mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(h))), _mm_loadu_ps(sx + g));
    return _mm256_set_m128(v, v);
  }
  const __m256 v = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h))), _mm256_loadu_ps(sx + g));
  return _mm256_permutevar8x32_ps(v, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
}
// The vpermilps index of unit k of its run: split, lanes 0-1 the first window's group(s), 2-3
// the second's; else the whole unit is group k.
inline __m256i run_lanes(int G, int64_t k) {
  if (G >= 128) return _mm256_set1_epi32(int(k));
  const int a = int(2 * k), b = a + 1;
  return _mm256_setr_epi32(a, a, b, b, a, a, b, b);
}
// The asymmetric zero points of the same run, as floats placed as scale_run places the scales.
inline __m256 zero_run(const uint8_t* zeros, int64_t g, int64_t gpr, int G) {
  uint64_t b = 0;
  if (gpr - g >= 8) std::memcpy(&b, zeros + g, 8);
  else if (G >= 64 && gpr - g >= 4) std::memcpy(&b, zeros + g, 4);  // G >= 64 reads 4
  else std::memcpy(&b, zeros + g, size_t(gpr - g));  // the row's last, short run
  const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(int64_t(b))));
  if (G >= 64) return _mm256_permute2f128_ps(v, v, 0x00);
  return _mm256_permutevar8x32_ps(v, _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
}

// The rows' shared loop: for each unit, R rows' int16 sums over its windows (window(i, c, x0, x1,
// full) returns row i's pair sums of the window at column c; full: all 64 columns are the row's),
// widened, centered, scaled and added.
struct Q4Rows {
  const uint8_t* codes;
  const uint16_t* scales;
  const uint8_t* zeros;
  const uint32_t* masks;
  int64_t cols, gpr;
  int G;
};
template <int R, bool Asym, bool StartSym, bool Split, class Window>
SK_UNROLLED inline void unit_rows(const Q4Rows& w, const XQ& xq, const int64_t* rows, const OutputSpec& out, Window&& window) {
  const int G = w.G;
  const int64_t uc = unit_cols(G), units = unit_count(w.cols, G), upr = units_per_run(G);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 facc[R], run[R], zrun[R];
  unroll<R>([&](auto i) SK_UNROLLED { facc[i] = run[i] = zrun[i] = _mm256_setzero_ps(); });
  for (int64_t u = 0; u < units; ++u) {
    const int64_t g = u * uc / G, c0 = u * uc, cend = c0 + uc < w.cols ? c0 + uc : w.cols;
    const int64_t k = u & (upr - 1);  // the unit's place in its run
    if (k == 0)
      unroll<R>([&](auto i) SK_UNROLLED {
        run[i] = scale_run(w.scales + rows[i] * w.gpr, xq.sx, g, w.gpr, G);
        if constexpr (Asym && StartSym) zrun[i] = zero_run(w.zeros + rows[i] * w.gpr, g, w.gpr, G);
      });
    const __m256i lidx = run_lanes(G, k);
    __m256i s16[R];
    unroll<R>([&](auto i) SK_UNROLLED { s16[i] = _mm256_setzero_si256(); });
    // Window c's int16 sums added into acc; full: all 64 columns are the row's (else the last 32
    // of a row whose width is 32 mod 64).
    auto add_window = [&](int64_t c, __m256i* acc) SK_UNROLLED {
      const __m256i x0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(xq.x + c));
      const __m256i x1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(xq.x + c + 32));
      if (c + 64 <= cend) unroll<R>([&](auto i) SK_UNROLLED { acc[i] = _mm256_add_epi16(acc[i], window(int(i), c, x0, x1, std::true_type{})); });
      else unroll<R>([&](auto i) SK_UNROLLED { acc[i] = _mm256_add_epi16(acc[i], window(int(i), c, x0, x1, std::false_type{})); });
    };
    if constexpr (Split) {
      __m256i s2[R];
      unroll<R>([&](auto i) SK_UNROLLED { s2[i] = _mm256_setzero_si256(); });
      add_window(c0, s16);
      if (c0 + 64 < cend) add_window(c0 + 64, s2);
      unroll<R>([&](auto i) SK_UNROLLED { s16[i] = _mm256_hadd_epi16(s16[i], s2[i]); });
    } else {
      for (int64_t c = c0; c < cend; c += 64) add_window(c, s16);
    }
    const __m256i st = StartSym ? _mm256_load_si256(reinterpret_cast<const __m256i*>(xq.start + 8 * u)) : _mm256_setzero_si256();
    const __m256 ls = Asym && StartSym ? _mm256_load_ps(xq.lsum + 8 * u) : _mm256_setzero_ps();
    unroll<R>([&](auto i) SK_UNROLLED {
      __m256 f;
      if constexpr (Asym && StartSym) {  // dense asymmetric: Σ code·xq − zero · Σ xq
        f = _mm256_fnmadd_ps(_mm256_permutevar_ps(zrun[i], lidx), ls, _mm256_cvtepi32_ps(_mm256_madd_epi16(s16[i], ones)));
      } else {
        f = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(s16[i], ones), st));
      }
      facc[i] = _mm256_fmadd_ps(f, _mm256_permutevar_ps(run[i], lidx), facc[i]);
    });
  }
  unroll<R>([&](auto i) SK_UNROLLED {
    const __m128 h = _mm_add_ps(_mm256_castps256_ps128(facc[i]), _mm256_extractf128_ps(facc[i], 1));
    const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
    out.store(rows[i], 0, _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q))));
  });
}

// Dense 4-bit: per 64-column window, 32 code bytes; low nibbles (the even columns) against x's
// even columns, high nibbles against the odd ones: word j of the sum covers columns 4j .. 4j+3.
// The last window of a row whose width is 32 mod 64 reads 16 bytes (x is zero past the row).
template <int R, bool Asym, bool Split>
void dense_rows(const Q4Rows& w, const XQ& xq, const int64_t* rows, const OutputSpec& out) {
  const __m256i nib = _mm256_set1_epi8(0x0f);
  const int64_t rb = w.cols / 2;
  unit_rows<R, Asym, true, Split>(w, xq, rows, out, [&](int i, int64_t c, __m256i xe, __m256i xo, auto full) SK_UNROLLED {
    const uint8_t* p = w.codes + rows[i] * rb + c / 2;
    _mm_prefetch(reinterpret_cast<const char*>(p) + kStreamAheadBytes, _MM_HINT_T0);
    const __m256i cc = decltype(full)::value ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
                                             : _mm256_zextsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    const __m256i lo = _mm256_and_si256(cc, nib), hi = _mm256_and_si256(_mm256_srli_epi16(cc, 4), nib);
    return _mm256_add_epi16(_mm256_maddubs_epi16(lo, xe), _mm256_maddubs_epi16(hi, xo));
  });
}

// 2:4 4-bit: per 64-column window (16 four-column groups), 16 code bytes (byte j: group j's two
// kept codes, the first in the low nibble) and 8 mask bytes (a nibble per group). Word j of the
// codes vector is group j's pair (lane 0 groups 0-7, lane 1 groups 8-15); x's bytes at the kept
// columns are picked into the same places by two vpshufb, one from each 16-column half of the
// lane's 32 columns (x staged as columns 0-15 | 32-47 and 16-31 | 48-63), the mask nibble giving
// each group's first and second kept column by table. The zero point: Σ (code - z)·x =
// vpmaddubsw(codes, x) - vpmaddubsw(z, x), both exact in int16.
struct NM24Tables {
  __m256i first, second, off_a, off_b;
};
NM24Tables nm24_tables() {
  alignas(32) uint8_t f[32], s[32], oa[32], ob[32];
  for (int j = 0; j < 32; ++j) {
    const unsigned k = unsigned(j % 16);
    f[j] = uint8_t(k ? __builtin_ctz(k) : 0), s[j] = uint8_t(k ? 31 - __builtin_clz(k) : 0);
    const int b = j % 16, grp = b / 2;  // byte b of a lane: group grp of the lane's 8
    oa[j] = uint8_t(grp < 4 ? 4 * grp : 0x80), ob[j] = uint8_t(grp >= 4 ? 4 * (grp - 4) : 0x80);
  }
  return {_mm256_load_si256(reinterpret_cast<const __m256i*>(f)), _mm256_load_si256(reinterpret_cast<const __m256i*>(s)),
          _mm256_load_si256(reinterpret_cast<const __m256i*>(oa)), _mm256_load_si256(reinterpret_cast<const __m256i*>(ob))};
}
template <int R, bool Asym, bool Split>
void nm24_rows(const Q4Rows& w, const XQ& xq, const NM24Tables& t, const int64_t* rows, const OutputSpec& out) {
  const __m256i nib = _mm256_set1_epi8(0x0f);
  const __m256i lane_shift = _mm256_setr_epi64x(0, 0, 32, 32);
  const int64_t wpr = w.cols / 32, rb = w.cols / 4;
  const int gs = __builtin_ctz(unsigned(w.G));  // G is a power of two: a shift, not a division per window
  unit_rows<R, Asym, false, Split>(w, xq, rows, out, [&](int i, int64_t c, __m256i xa, __m256i xb, auto full) SK_UNROLLED {
    const uint32_t* mp = w.masks + rows[i] * wpr + c / 32;
    const uint8_t* cp = w.codes + rows[i] * rb + c / 4;
    int64_t m8;
    __m128i c16;
    if constexpr (decltype(full)::value) {
      std::memcpy(&m8, mp, 8);
      c16 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(cp));
    } else {  // the last 32 columns of a row whose width is 32 mod 64
      uint32_t m4;
      std::memcpy(&m4, mp, 4);
      m8 = int64_t(m4);
      c16 = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(cp));
    }
    // Lane 0's low dword: mask bytes 0-3 (groups 0-7); lane 1's: bytes 4-7 (groups 8-15).
    const __m256i m = _mm256_srlv_epi64(_mm256_set1_epi64x(m8), lane_shift);
    const __m256i n = _mm256_unpacklo_epi8(_mm256_and_si256(m, nib), _mm256_and_si256(_mm256_srli_epi16(m, 4), nib));
    const __m256i idx = _mm256_unpacklo_epi8(_mm256_shuffle_epi8(t.first, n), _mm256_shuffle_epi8(t.second, n));
    const __m256i xp = _mm256_or_si256(_mm256_shuffle_epi8(xa, _mm256_add_epi8(idx, t.off_a)), _mm256_shuffle_epi8(xb, _mm256_add_epi8(idx, t.off_b)));
    const __m256i v = nibbles32(c16);
    __m256i z;
    if constexpr (Asym) {
      const int64_t g = c >> gs;
      const uint8_t* zr = w.zeros + rows[i] * w.gpr;
      z = w.G >= 64 ? _mm256_set1_epi8(char(zr[g])) : _mm256_setr_m128i(_mm_set1_epi8(char(zr[g])), _mm_set1_epi8(char(g + 1 < w.gpr ? zr[g + 1] : 0)));
    } else {
      z = _mm256_set1_epi8(8);
    }
    return _mm256_sub_epi16(_mm256_maddubs_epi16(v, xp), _mm256_maddubs_epi16(z, xp));
  });
}

template <bool Asym, bool Split>
void rows4(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out, QFmt fmt) {
  const Q4Rows w{a.as<uint8_t>(Part::values), a.as<uint16_t>(Part::scales), Asym ? a.as<uint8_t>(Part::zeros) : nullptr,
                 fmt == kDense ? nullptr : a.as<uint32_t>(Part::masks), a.cols, a.cols / a.quant.group, a.quant.group};
  const XQ xq = x8_layout(a, const_cast<void*>(x.prepared));
  // Four rows a quarter of the task apart share the x loads (four sequential streams per core, as
  // the dense bf16 GEMV reads); the rows left over (at most 3) run one at a time.
  const int64_t q = (r1 - r0) / 4;
  const NM24Tables t = fmt == kNM24 ? nm24_tables() : NM24Tables{};
  for (int64_t i = 0; i < q; ++i) {
    const int64_t rows[4] = {r0 + i, r0 + i + q, r0 + i + 2 * q, r0 + i + 3 * q};
    fmt == kDense ? dense_rows<4, Asym, Split>(w, xq, rows, out) : nm24_rows<4, Asym, Split>(w, xq, t, rows, out);
  }
  for (int64_t r = r0 + 4 * q; r < r1; ++r) fmt == kDense ? dense_rows<1, Asym, Split>(w, xq, &r, out) : nm24_rows<1, Asym, Split>(w, xq, t, &r, out);
}
template <bool Asym>
void rows4(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out, QFmt fmt) {
  split_units(a.quant.group) ? rows4<Asym, true>(a, x, r0, r1, out, fmt) : rows4<Asym, false>(a, x, r0, r1, out, fmt);
}
void qgemv_dense4_x8(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  a.quant.asym ? rows4<true>(a, x, r0, r1, out, kDense) : rows4<false>(a, x, r0, r1, out, kDense);
}
void qgemv_nm24_x8(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  a.quant.asym ? rows4<true>(a, x, r0, r1, out, kNM24) : rows4<false>(a, x, r0, r1, out, kNM24);
}

template <QFmt F>
SpmmKernel kernel(SpmmKernelFn fn, const char* name) {
  SpmmKernel k{fn, XLayout::k_major, name, false, 1};
  k.prepare_bytes = x8_prepared_bytes;
  k.prepare = prepare_x8<F>;
  return k;
}

}  // namespace

SpmmKernel select_qspmm_avx2_x8(const MatrixView& a, int64_t n) {
  if (n != 1 || a.quant.bits != 4) return SpmmKernel{};
  if (a.format == Format::dense) return kernel<kDense>(qgemv_dense4_x8, "qspmm_gemv_dense_int4_x8_avx2");
  if (a.format == Format::nm && a.n == 2 && a.m == 4) return kernel<kNM24>(qgemv_nm24_x8, "qspmm_gemv_nm24_int4_x8_avx2");
  return SpmmKernel{};
}

}  // namespace sk
SK_TARGET_END
#else
namespace sk {
SpmmKernel select_qspmm_avx2_x8(const MatrixView&, int64_t) { return SpmmKernel{}; }
}  // namespace sk
#endif
