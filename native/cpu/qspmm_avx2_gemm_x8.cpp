// AVX2 GEMM for 4-bit weights with int8 activations at 1 < N <= kX8GemmMaxN (opt-in,
// ActivationRounding::int8; the numerics of the x8 GEMVs: x rounded per vector and weight group by
// qspmm_x8_round_avx2.inl, exact integer group sums, fp32 across groups). Dense, n:m and bitmap
// alike: a block of rows is expanded once into an L1 panel of code bytes in column order, a
// pruned column holding its group's zero point (so it adds (zero - zero)·x = 0), and the products
// run as llama.cpp's AVX2 quants do, on vpmaddubsw: one broadcast of a row's adjacent code bytes
// against a vector of x is 32 MACs into int16 pair sums.
//
// Lanes. An int32 lane j of the sums holds one activation vector and KQ of every KQ quads (4 k)
// of columns: KQ = 1 from 5 vectors on (8 vectors per lane group, a step of 4 columns), 2 for 3-4
// vectors (4 per group, steps of 8 columns), 4 for 1-2 (2 per group, steps of 16): so a step's
// broadcast of 4·KQ codes repeats every 4·KQ bytes and lane j meets quad j mod KQ of the step and
// vector j / KQ of its group, and at N = 2 no lane is idle (at KQ = 1 six of the eight would be).
// Layouts (per call, SpmmKernel::prepare; ng vector groups of 8 / KQ vectors, zeros past N):
//   x panel  xs[step·ng + v]: 32 bytes, byte 4j + e = xq[vector (8/KQ)·v + j/KQ][4·KQ·step + 4·(j mod KQ) + e]
//   sx       [g·ng + v]: 8 floats, lane j = s_x of its vector in group g
//   gsum     [g·ng + v]: 8 int32, lane j = Σ xq of its vector over its columns of group g
// Word 2j of a vpmaddubsw holds two products of lane j, word 2j + 1 the other two: a 32-column
// chunk's steps add up in int16 (at most 8 · 2 · 15 · 127 = 30480 < 2^15 per word) before one
// vpmaddwd by ones makes lane j's int32 sum; a group's sums start at −zero · gsum (exact: Σ (code −
// zero)·xq, so a pruned column, holding the zero point, adds nothing) and are converted and scaled
// by the row's scale times s_x once; a vector's KQ lanes are added at the end of the row.
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

#include "qspmm_avx2_codes.inl"
#include "qspmm_x8_round_avx2.inl"
#include "unroll.inl"

constexpr int kPanelRows = 6;  // rows expanded per block: one pass of 6 x 1 vector group, two of 3 x 2
inline int kq_of(int64_t n) { return n <= 2 ? 4 : n <= 4 ? 2 : 1; }
inline int64_t groups_of(int64_t n) { return (n * kq_of(n) + 7) / 8; }  // vector groups of 8 / KQ

struct X8Panel {
  const int8_t* xs;
  const float* sx;
  const int32_t* gsum;
  int64_t ng;
  int kq;
};
size_t prepare_bytes(const MatrixView& a, int64_t n, int64_t) {
  const int64_t ng = groups_of(n), gpr = a.cols / a.quant.group;
  return size_t(a.cols / 4 * ng * 32 + 2 * gpr * ng * 32 + 128);
}
X8Panel panel_of(const MatrixView& a, int64_t n, const void* prepared) {
  const int64_t ng = groups_of(n), gpr = a.cols / a.quant.group;
  const int8_t* xs = static_cast<const int8_t*>(prepared);
  const float* sx = reinterpret_cast<const float*>(xs + a.cols / 4 * ng * 32);
  return {xs, sx, reinterpret_cast<const int32_t*>(sx + gpr * ng * 8), ng, kq_of(n)};
}

// x rounded per vector and group, dealt to the quads of the panel.
void prepare_x8(const MatrixView& a, const Activations& x, void* out) {
  const int G = a.quant.group;
  const int64_t cols = a.cols, N = x.n, gpr = cols / G;
  const X8Panel p = panel_of(a, N, out);
  int8_t* xs = const_cast<int8_t*>(p.xs);
  float* sx = const_cast<float*>(p.sx);
  int32_t* gsum = const_cast<int32_t*>(p.gsum);
  const int64_t ng = p.ng, kq = p.kq, per = 8 / kq, ks = kq == 4 ? 2 : kq == 2 ? 1 : 0;  // per: vectors per group; ks = log2 KQ
  std::memset(xs, 0, size_t(cols / 4 * ng * 32));
  std::memset(sx, 0, size_t(gpr * ng * 32));
  std::memset(gsum, 0, size_t(gpr * ng * 32));
  for (int64_t j = 0; j < N; ++j) {
    const int64_t v = j / per, l0 = j % per * kq;  // its group and first lane
    for (int64_t g = 0; g < gpr; ++g) {
      const float* xg = x.data + j * x.k_padded + g * G;
      const float s = x8_group_scale(xg, G);
      for (int i = 0; i < G; i += 8) {
        alignas(32) int32_t q[8];
        _mm256_store_si256(reinterpret_cast<__m256i*>(q), x8_round8(xg + i, s));
        for (int h = 0; h < 2; ++h) {  // the two quads: step k >> (2 + log2 KQ), lane l0 + (k >> 2) mod KQ (shifts: KQ is 1, 2 or 4)
          const int64_t k = g * G + i + 4 * h, l = l0 + ((k >> 2) & (kq - 1));
          int8_t* d = xs + ((k >> (2 + ks)) * ng + v) * 32 + 4 * l;
          for (int e = 0; e < 4; ++e) d[e] = int8_t(q[4 * h + e]);
          gsum[(g * ng + v) * 8 + l] += q[4 * h] + q[4 * h + 1] + q[4 * h + 2] + q[4 * h + 3];
        }
      }
      for (int64_t l = l0; l < l0 + kq; ++l) sx[(g * ng + v) * 8 + l] = s;
    }
  }
}

// ---- the rows' code bytes -----------------------------------------------------------------------

// Per mask byte b: a vpshufb control placing the byte's k-th kept code (k counted from the byte's
// first) at its column, 0x80 (a pruned column) elsewhere; the high 8 bytes of a 16-column lane add
// the first byte's count (off).
struct PlaceTable {
  alignas(16) uint8_t ctl[256][8];
  alignas(32) uint8_t off[9][9][32];  // off[p][q]: per 16-byte lane, 0 in its low 8 bytes, p (lane 0) or q (lane 1) in its high 8
  PlaceTable() {
    for (int b = 0; b < 256; ++b)
      for (int i = 0, k = 0; i < 8; ++i) ctl[b][i] = (b >> i) & 1 ? uint8_t(k++) : 0x80;
    for (int p = 0; p <= 8; ++p)
      for (int q = 0; q <= 8; ++q)
        for (int i = 0; i < 32; ++i) off[p][q][i] = uint8_t(i % 16 < 8 ? 0 : i < 16 ? p : q);
  }
};
const PlaceTable kPlace;

struct Q4Src {
  const uint8_t* codes;
  const uint16_t* scales;
  const uint8_t* zeros;
  const uint32_t* masks;
  const int32_t* row_ptr;  // bitmap
  int64_t cols, gpr, per_row, code_bytes;  // per_row: n:m codes per row
  int G;
  Format fmt;
  bool four_per_byte;  // n:m keeping half of groups no wider than a mask byte (2:4, 1:2, 4:8): 4 codes per 8 columns
};
inline bool four_per_byte(const MatrixView& a) { return a.format == Format::nm && 2 * a.n == a.m && a.m <= 8; }

// Row r's codes as bytes in column order into dst (cols bytes), pruned columns holding the zero
// point; ub: scratch for a sparse row's codes as bytes (cols + 64 bytes). 8-bit codes are bytes
// already: a dense row is not copied (the caller reads it in place), a sparse row's codes are
// copied to ub (the expansion's 16-byte loads reach past the row's last code).
template <int Bits, bool Asym>
void expand_row(const Q4Src& w, int64_t r, uint8_t* dst, uint8_t* ub) {
  const int64_t cols = w.cols;
  if (w.fmt == Format::dense) {
    static_assert(Bits == 4 || Bits == 8);
    if constexpr (Bits == 4) {
      const uint8_t* cp = w.codes + r * cols / 2;
      for (int64_t c = 0; c < cols; c += 32) _mm256_store_si256(reinterpret_cast<__m256i*>(dst + c), nibbles32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(cp + c / 2))));
    }
    return;
  }
  const int64_t v0 = w.fmt == Format::nm ? r * w.per_row : w.row_ptr[r], v1 = w.fmt == Format::nm ? v0 + w.per_row : w.row_ptr[r + 1];
  if constexpr (Bits == 8) {
    std::memcpy(ub, w.codes + v0, size_t(v1 - v0));
  } else {
  // Sparse: the row's codes [v0, v1) spread to bytes (the last 16-byte load masked to the part).
  const int64_t b0 = v0 >> 1, nbytes = ((v0 & 1) + (v1 - v0) + 1) >> 1;
  for (int64_t j = 0; j < nbytes; j += 16) {
    __m128i b;
    if (w.code_bytes - (b0 + j) >= 16) {
      b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w.codes + b0 + j));
    } else {
      alignas(16) uint8_t t[16] = {};
      std::memcpy(t, w.codes + b0 + j, size_t(w.code_bytes - (b0 + j)));
      b = _mm_load_si128(reinterpret_cast<const __m128i*>(t));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(ub + 2 * j), nibbles32(b));
  }
  }
  const uint8_t* u = Bits == 4 ? ub + (v0 & 1) : ub;
  const uint8_t* mb = reinterpret_cast<const uint8_t*>(w.masks + r * mask_words_per_row(cols));
  const int gs = __builtin_ctz(unsigned(w.G));
  // Per 32 columns (cols is a multiple of 32, and so is G: one zero point per step): each 16-column
  // lane's two mask-byte controls (the second's moved past the first's codes), one vpshufb of each
  // lane's next 16 codes (lane 1's from past lane 0's), the zero point blended into the pruned
  // columns. 2:4 keeps 4 of every 8 columns: no popcounts (8:16 keeps half too, but not of every byte).
  __m256i z = _mm256_set1_epi8(char(quant_sym_zero(Bits)));
  auto step = [&](int64_t c, const uint8_t* m, const uint8_t* u1, __m256i off) SK_UNROLLED {
    __m128i lo = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(kPlace.ctl[m[0]]));
    lo = _mm_castpd_si128(_mm_loadh_pd(_mm_castsi128_pd(lo), reinterpret_cast<const double*>(kPlace.ctl[m[1]])));
    __m128i hi = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(kPlace.ctl[m[2]]));
    hi = _mm_castpd_si128(_mm_loadh_pd(_mm_castsi128_pd(hi), reinterpret_cast<const double*>(kPlace.ctl[m[3]])));
    const __m256i ctl = _mm256_add_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1), off);
    if constexpr (Asym) z = _mm256_set1_epi8(char(w.zeros[r * w.gpr + (c >> gs)]));
    const __m256i codes = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u))),
                                                  _mm_loadu_si128(reinterpret_cast<const __m128i*>(u1)), 1);
    _mm256_store_si256(reinterpret_cast<__m256i*>(dst + c), _mm256_blendv_epi8(_mm256_shuffle_epi8(codes, ctl), z, ctl));
  };
  if (w.four_per_byte) {
    const __m256i off4 = _mm256_load_si256(reinterpret_cast<const __m256i*>(kPlace.off[4][4]));
    for (int64_t c = 0; c < cols; c += 32, u += 16) step(c, mb + c / 8, u + 8, off4);
  } else {
    for (int64_t c = 0; c < cols; c += 32) {
      const uint8_t* m = mb + c / 8;
      const int p0 = __builtin_popcount(m[0]), p01 = p0 + __builtin_popcount(m[1]), p2 = __builtin_popcount(m[2]);
      step(c, m, u + p01, _mm256_load_si256(reinterpret_cast<const __m256i*>(kPlace.off[p0][p2])));
      u += p01 + p2 + __builtin_popcount(m[3]);
    }
  }
}

// ---- the micro-kernel: R panel rows x V vectors of 8 --------------------------------------------
// wb: R rows of code bytes (stride ws); sc: per row, each group's scale (gpr floats) then its zero
// point (gpr int32, asymmetric only), stride 2·gpr. Registers hold the R·V int16 sums of 32
// columns and the R·V int32 sums of the group (started at −zero·Σ xq: exact); the fp32 sums, one
// update per group, live in res (L1).
template <int R, int V, bool Asym, int KQ>
void micro(const uint8_t* wb, int64_t ws, const float* sc, int64_t gpr, int G, const X8Panel& xp, int64_t v0, float* res) {
  const __m256i ones = _mm256_set1_epi16(1);
  unroll<R>([&](auto i) SK_UNROLLED { unroll<V>([&](auto v) SK_UNROLLED { _mm256_storeu_ps(res + (i * V + v) * 8, _mm256_setzero_ps()); }); });
  const int64_t ng = xp.ng;
  for (int64_t g = 0; g < gpr; ++g) {
    __m256i acc[R][V];
    const int32_t* gs = xp.gsum + (g * ng + v0) * 8;
    unroll<R>([&](auto i) SK_UNROLLED {
      unroll<V>([&](auto v) SK_UNROLLED {
        const __m256i sum = _mm256_load_si256(reinterpret_cast<const __m256i*>(gs + 8 * v));
        const __m256i zs = Asym ? _mm256_mullo_epi32(_mm256_set1_epi32(reinterpret_cast<const int32_t*>(sc)[i * 2 * gpr + gpr + g]), sum) : _mm256_slli_epi32(sum, 3);
        acc[i][v] = _mm256_sub_epi32(_mm256_setzero_si256(), zs);
      });
    });
    for (int64_t c = g * G; c < (g + 1) * G; c += 32) {
      __m256i s16[R][V];
      unroll<R>([&](auto i) SK_UNROLLED { unroll<V>([&](auto v) SK_UNROLLED { s16[i][v] = _mm256_setzero_si256(); }); });
      const int8_t* xq = xp.xs + (c / (4 * KQ) * ng + v0) * 32;
      for (int q = 0; q < 8 / KQ; ++q, xq += ng * 32) {
        __m256i xv[V];
        unroll<V>([&](auto v) SK_UNROLLED { xv[v] = _mm256_load_si256(reinterpret_cast<const __m256i*>(xq + 32 * v)); });
        unroll<R>([&](auto i) SK_UNROLLED {
          const uint8_t* wp = wb + i * ws + c + 4 * KQ * q;
          __m256i w4;
          if constexpr (KQ == 1) {
            int32_t wd;
            std::memcpy(&wd, wp, 4);
            w4 = _mm256_set1_epi32(wd);
          } else if constexpr (KQ == 2) {
            long long wq;
            std::memcpy(&wq, wp, 8);
            w4 = _mm256_set1_epi64x(wq);
          } else {
            w4 = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wp)));
          }
          unroll<V>([&](auto v) SK_UNROLLED { s16[i][v] = _mm256_add_epi16(s16[i][v], _mm256_maddubs_epi16(w4, xv[v])); });
        });
        // Each quad's sums in registers: unrolled, GCC otherwise stored all 48 products of the 8
        // quads to the stack and summed them as a tree afterwards (half the speed).
        unroll<R>([&](auto i) SK_UNROLLED { unroll<V>([&](auto v) SK_UNROLLED { __asm__("" : "+x"(s16[i][v])); }); });
      }
      unroll<R>([&](auto i) SK_UNROLLED { unroll<V>([&](auto v) SK_UNROLLED { acc[i][v] = _mm256_add_epi32(acc[i][v], _mm256_madd_epi16(s16[i][v], ones)); }); });
    }
    unroll<R>([&](auto i) SK_UNROLLED {
      const __m256 s = _mm256_set1_ps(sc[i * 2 * gpr + g]);
      unroll<V>([&](auto v) SK_UNROLLED {
        float* r = res + (i * V + v) * 8;
        const __m256 sx = _mm256_mul_ps(s, _mm256_load_ps(xp.sx + (g * ng + v0 + v) * 8));
        _mm256_storeu_ps(r, _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[i][v]), sx, _mm256_loadu_ps(r)));
      });
    });
  }
}

size_t gemm_workspace(int64_t, int64_t, int64_t kp) {
  return size_t(kPanelRows * (kp + 64) + kPanelRows * 2 * (kp / 32 + 8) * 4 + (kp + 128) + kPanelRows * 16 * 4 * 8 + 256);
}

template <bool Asym>
void qgemm_x8(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const int G = a.quant.group;
  const int64_t cols = a.cols, N = x.n, gpr = cols / G;
  const X8Panel xp = panel_of(a, N, x.prepared);
  Q4Src w{a.as<uint8_t>(Part::values), a.as<uint16_t>(Part::scales), Asym ? a.as<uint8_t>(Part::zeros) : nullptr,
                a.format == Format::dense ? nullptr : a.as<uint32_t>(Part::masks), a.format == Format::bitmap ? a.as<int32_t>(Part::row_ptr) : nullptr,
                cols, gpr, a.format == Format::nm ? nm_values_per_row(cols, a.n, a.m) : 0, 0, G, a.format, four_per_byte(a)};
  w.code_bytes = quant_code_bytes(quant_stored_count(a), 4);
  const int64_t ws = cols + 64;
  uint8_t* wb = align64(x.workspace);
  float* sc = reinterpret_cast<float*>(align64(wb + kPanelRows * ws));
  uint8_t* ub = align64(sc + kPanelRows * 2 * gpr);
  alignas(32) float res[kPanelRows * 2 * 8];
  for (int64_t rb = r0; rb < r1; rb += kPanelRows) {
    const int rows = int(r1 - rb < kPanelRows ? r1 - rb : kPanelRows);
    for (int i = 0; i < rows; ++i) {
      const int64_t r = rb + i;
      expand_row<4, Asym>(w, r, wb + i * ws, ub);
      for (int64_t g = 0; g < gpr; ++g) {
        sc[i * 2 * gpr + g] = _cvtsh_ss(w.scales[r * gpr + g]);
        if constexpr (Asym) reinterpret_cast<int32_t*>(sc)[i * 2 * gpr + gpr + g] = w.zeros[r * gpr + g];
      }
    }
    for (int i = rows; i < kPanelRows; ++i) {  // rows past the task: zero weights, results not stored
      std::memset(wb + i * ws, 0, size_t(cols));
      std::memset(sc + i * 2 * gpr, 0, size_t(2 * gpr) * 4);
    }
    const int kq = xp.kq, per = 8 / kq;
    for (int64_t v0 = 0; v0 < xp.ng; v0 += 2) {
      const int V = xp.ng - v0 >= 2 ? 2 : 1;  // two groups only at KQ = 1 (N > 8)
      if (V == 2) {
        for (int h = 0; h < 2; ++h) micro<3, 2, Asym, 1>(wb + 3 * h * ws, ws, sc + 3 * h * 2 * gpr, gpr, G, xp, v0, res + 3 * h * 16);
      } else if (kq == 4) {
        micro<6, 1, Asym, 4>(wb, ws, sc, gpr, G, xp, v0, res);
      } else if (kq == 2) {
        micro<6, 1, Asym, 2>(wb, ws, sc, gpr, G, xp, v0, res);
      } else {
        micro<6, 1, Asym, 1>(wb, ws, sc, gpr, G, xp, v0, res);
      }
      // A vector's result: the sum of its KQ lanes.
      for (int i = 0; i < rows; ++i)
        for (int v = 0; v < V; ++v)
          for (int j = 0; j < per && per * (v0 + v) + j < N; ++j) {
            const float* l = res + (i * V + v) * 8 + j * kq;
            float y = l[0];
            for (int q = 1; q < kq; ++q) y += l[q];
            out.store(rb + i, per * (v0 + v) + j, y);
          }
    }
  }
}

// ---- N = 1: sparse 4-bit rows other than 2:4, and every 8-bit row: the same expansion, then a dot
// product on bytes ----------------------------------------------------------------------------------
// x in column order, per group s_x and Σ xq. Each sparse row is expanded as above (most of the time
// goes there), then 32 columns per vpmaddubsw against x, int16 sums over the group (at most
// 8 · 2 · 15 · 127 = 30480), one vpmaddwd, less zero · Σ xq in lane 0 (exact), scaled once. An
// 8-bit code c = 16h + l would overflow vpmaddubsw's int16 pairs (2 · 255 · 127): its nibbles go
// through two, h's pair sums widened by a vpmaddwd by 16 and l's by 1.
struct X8Vec {
  const int8_t* xq;
  const float* sx;
  const int32_t* sum;
};
size_t gemv_prepare_bytes(const MatrixView& a, int64_t, int64_t) { return size_t(a.cols + 2 * (a.cols / a.quant.group) * 4 + 128); }
X8Vec vec_of(const MatrixView& a, const void* prepared) {
  const int8_t* xq = static_cast<const int8_t*>(prepared);
  const float* sx = reinterpret_cast<const float*>(align64(xq + a.cols));
  return {xq, sx, reinterpret_cast<const int32_t*>(sx + a.cols / a.quant.group)};
}
void prepare_gemv(const MatrixView& a, const Activations& x, void* out) {
  const X8Vec p = vec_of(a, out);
  x8_round_row(x.data, a.cols, a.quant.group, const_cast<int8_t*>(p.xq), const_cast<float*>(p.sx), const_cast<int32_t*>(p.sum));
}
size_t gemv_workspace(int64_t, int64_t, int64_t kp) { return size_t(2 * kp + 256); }

template <int Bits, bool Asym>
void qgemv_x8(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const int G = a.quant.group;
  const int64_t cols = a.cols, gpr = cols / G;
  const X8Vec xv = vec_of(a, x.prepared);
  Q4Src w{a.as<uint8_t>(Part::values), a.as<uint16_t>(Part::scales), Asym ? a.as<uint8_t>(Part::zeros) : nullptr,
          a.format == Format::dense ? nullptr : a.as<uint32_t>(Part::masks), a.format == Format::bitmap ? a.as<int32_t>(Part::row_ptr) : nullptr,
          cols, gpr, a.format == Format::nm ? nm_values_per_row(cols, a.n, a.m) : 0, 0, G, a.format, four_per_byte(a)};
  w.code_bytes = quant_code_bytes(quant_stored_count(a), Bits);
  uint8_t* wb = align64(x.workspace);
  uint8_t* ub = wb + cols + 64;
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i nib = _mm256_set1_epi8(0x0f), sixteen = _mm256_set1_epi16(16);
  for (int64_t r = r0; r < r1; ++r) {
    expand_row<Bits, Asym>(w, r, wb, ub);
    const uint8_t* row = Bits == 8 && w.fmt == Format::dense ? w.codes + r * cols : wb;  // dense 8-bit: in place
    // Each group's sum exact in one int32 (an empty row, all zero points, gives exactly 0), then
    // scaled; two fp32 chains for even and odd groups.
    float acc[2] = {0.f, 0.f};
    for (int64_t g = 0; g < gpr; ++g) {
      __m256i s16 = _mm256_setzero_si256(), s16h = _mm256_setzero_si256();
      for (int64_t c = g * G; c < (g + 1) * G; c += 32) {
        // Dense 8-bit rows stream from memory one at a time: prefetched a line per 64 columns (the
        // hardware prefetcher alone held the row at about half the read bandwidth).
        if (Bits == 8 && w.fmt == Format::dense && (c & 32) == 0) _mm_prefetch(reinterpret_cast<const char*>(row + c) + kStreamAheadBytes, _MM_HINT_T0);
        const __m256i cb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + c));
        const __m256i xb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xv.xq + c));
        if constexpr (Bits == 4) {
          s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(cb, xb));
        } else {
          s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(_mm256_and_si256(cb, nib), xb));
          s16h = _mm256_add_epi16(s16h, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(cb, 4), nib), xb));
        }
      }
      __m256i d = _mm256_madd_epi16(s16, ones);
      if constexpr (Bits == 8) d = _mm256_add_epi32(d, _mm256_madd_epi16(s16h, sixteen));
      __m128i h = _mm_add_epi32(_mm256_castsi256_si128(d), _mm256_extracti128_si256(d, 1));
      h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
      h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
      const int32_t z = Asym ? w.zeros[r * gpr + g] : quant_sym_zero(Bits);
      const int32_t t = _mm_cvtsi128_si32(h) - z * xv.sum[g];
      acc[g & 1] += float(t) * (_cvtsh_ss(w.scales[r * gpr + g]) * xv.sx[g]);
    }
    out.store(r, 0, acc[0] + acc[1]);
  }
}

}  // namespace

SpmmKernel select_qspmm_avx2_gemm_x8(const MatrixView& a, int64_t n) {
  if (n == 1 && (a.quant.bits == 8 || a.format == Format::bitmap || (a.format == Format::nm && !(a.n == 2 && a.m == 4)))) {
    const bool b8 = a.quant.bits == 8, asym = a.quant.asym;
    SpmmKernel k{b8 ? (asym ? qgemv_x8<8, true> : qgemv_x8<8, false>) : (asym ? qgemv_x8<4, true> : qgemv_x8<4, false>), XLayout::k_major, "", true, 1};
    switch (a.format) {
      case Format::dense: k.name = "qspmm_gemv_dense_int8_x8_avx2"; break;  // 4-bit dense: qspmm_avx2_x8.cpp
      case Format::nm: k.name = b8 ? "qspmm_gemv_nm_int8_x8_avx2" : "qspmm_gemv_nm_int4_x8_avx2"; break;
      case Format::bitmap: k.name = b8 ? "qspmm_gemv_bitmap_int8_x8_avx2" : "qspmm_gemv_bitmap_int4_x8_avx2"; break;
      default: return SpmmKernel{};
    }
    k.workspace = gemv_workspace;
    k.prepare_bytes = gemv_prepare_bytes;
    k.prepare = prepare_gemv;
    return k;
  }
  if (n < 2 || n > kX8GemmMaxN || a.quant.bits != 4) return SpmmKernel{};
  SpmmKernel k{a.quant.asym ? qgemm_x8<true> : qgemm_x8<false>, XLayout::n_major, "", true, 1};
  switch (a.format) {
    case Format::dense: k.name = "qspmm_gemm_dense_int4_x8_avx2"; break;
    case Format::nm: k.name = "qspmm_gemm_nm_int4_x8_avx2"; break;
    case Format::bitmap: k.name = "qspmm_gemm_bitmap_int4_x8_avx2"; break;
    default: return SpmmKernel{};
  }
  k.workspace = gemm_workspace;
  k.prepare_bytes = prepare_bytes;
  k.prepare = prepare_x8;
  return k;
}

}  // namespace sk
SK_TARGET_END
#else
namespace sk {
SpmmKernel select_qspmm_avx2_gemm_x8(const MatrixView&, int64_t) { return SpmmKernel{}; }
}  // namespace sk
#endif
