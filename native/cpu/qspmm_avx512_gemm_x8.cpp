// AVX-512 VNNI GEMM for 4-bit weights with int8 activations at N > 1 (opt-in, ActivationRounding::
// int8, the numerics of the x8 GEMVs in qspmm_avx512_vnni.cpp: x rounded per vector and weight
// group, exact int32 group sums, fp32 across groups). It is the dense bf16 octs GEMM
// (spmm_avx512_bf16.cpp) with bytes instead of bf16 pairs: a row block's weights are expanded ONCE
// per K block into an L1-resident panel of unsigned bytes w' = code − zero + 16 (pruned columns
// 16, i.e. weight 0), and one 128-bit broadcast of a row's 16 columns against a vector of x
// holding 4 columns of N × those 16 k is one vpdpbusd of 64 MACs (vdpbf16ps does 32, at the same
// issue rate here); x is shared by every row (no per-row pick of x). It serves dense and bitmap
// 4-bit; 2:4 has its own kernel that skips the pruned zeros (qspmm_avx512_pick_x8.cpp), which this
// one, multiplying them, matched only at G = 32 (docs/kernels.md).
//
// Layouts. A 128-column block is 8 steps of 16 columns; dword d (0..3) of step s holds the 4
// columns kcol(s, d) .. + 3 of the block, kcol = 32d + 4s when G < 128 (lane d stays in quarter
// d: one weight group, however small G is) and 16s + 4d otherwise (the natural order).
//   x panel   xs[(b·8 + s)·nv4 + q]: 64 bytes, 128-bit lane t, dword d = xq[4q + t][128b + kcol(s, d) ..]
//   start     [b·nv4 + q]: lane 4t + d = −16·Σ over the block's columns of lane d of xq[4q + t]
//             (the +16 of w', so the int32 group sums are exact Σ (code − zero)·xq)
//   sx        [b·nv4 + q]: lane 4t + d = s_x of vector 4q + t in lane d's group (0 past N, past cols)
//   weights   wp[i][b][16s + 4d + e] = w'[row i][128b + kcol(s, d) + e]; wsc[i][b][d] = lane d's scale
// Accumulators: lane 4t + d of acc[i][v] sums row i, vector 4v + t over lane d's columns; per block
// converted, times sx and the row's scales, into fp32 facc[i][v] (the four d summed at the end).
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../core/dtype.h"
#include "../core/thread_pool.h"
#include "../formats/quant.h"
#include "core/isa_target.h"
#include "qspmm.h"

#if SK_HAVE_X86
SK_TARGET_BEGIN_AVX512VNNI
namespace sk {
namespace {

#define SK_UNROLL _Pragma("GCC unroll 64")
#define SK_BLOCK __attribute__((noinline))
#define SK_INLINE inline __attribute__((always_inline))

#include "qspmm_x8_round.inl"
#include "qspmm_x8_rows.inl"

inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
constexpr int64_t round128(int64_t c) { return (c + 127) / 128 * 128; }
constexpr int kSteps = 8;           // 16-column steps per 128-column block
constexpr int kMaxRows = 12;        // rows per block when N <= 4 (12 accumulators)
// Vectors of 4 per micro-kernel pass, and rows per block (R x V = kMaxRows accumulators). From 4 vectors
// on, passes of 2 over 6 rows: half the x loads per dot product of one pass of 4 over 3 rows (the
// panel of x comes from L2); measured in docs/kernels.md.
inline int pass_vectors(int64_t nv4) { return nv4 >= 4 ? 2 : int(nv4); }
inline int block_rows(int64_t nv4) { return kMaxRows / pass_vectors(nv4); }

// Dword permutation from column order to the step order of G < 128: step dword 4s + d <- column dword 8d + s.
struct PermIdx {
  __m512i lo, hi;  // vpermt2d indices for step dwords 0..15 and 16..31 over (columns 0..63, 64..127)
};
PermIdx perm_idx() {
  alignas(64) int32_t a[16], b[16];
  for (int q = 0; q < 16; ++q) a[q] = 8 * (q % 4) + q / 4, b[q] = 8 * (q % 4) + q / 4 + 4;
  return {_mm512_load_si512(a), _mm512_load_si512(b)};
}

// ---- x: rounded per vector and group, staged once per call (SpmmKernel::prepare) -------------

struct X8Panel {
  const int8_t* xs;
  const int32_t* start;
  const float* sx;
  int64_t nv4;
};

// Bytes: the panel (x, start, sx per block and 4 vectors), then each vector's group scales.
size_t panel_bytes(int64_t nv4, int64_t nblk) { return size_t(nblk * nv4 * (kSteps * 64 + 128)); }
size_t prepare_bytes(const MatrixView& a, int64_t n, int64_t) {
  const int64_t nv4 = (n + 3) / 4, nblk = round128(a.cols) / 128;
  return panel_bytes(nv4, nblk) + size_t(4 * nv4 * (a.cols / a.quant.group + 16) * 4) + 64;
}
X8Panel panel_of(const MatrixView& a, const Activations& x) {
  const int64_t nv4 = (x.n + 3) / 4, nblk = round128(a.cols) / 128;
  const int8_t* xs = static_cast<const int8_t*>(x.prepared);
  const int32_t* start = reinterpret_cast<const int32_t*>(xs + nblk * kSteps * nv4 * 64);
  return {xs, start, reinterpret_cast<const float*>(start + nblk * nv4 * 16), nv4};
}

// Vectors 4q .. 4q + 3 (zeros past N): per group s_x, then per block the 128 rounded bytes of each
// vector (permuted to the step order when G < 128), dealt to the 8 steps' lanes t.
void stage_x4(const MatrixView& a, const Activations& x, int64_t q, void* out) {
  const int64_t cols = a.cols, N = x.n, nv4 = (N + 3) / 4, nblk = round128(cols) / 128;
  const int G = a.quant.group;
  const int64_t gpr = cols / G;
  const bool perm = G < 128;
  int8_t* xs = static_cast<int8_t*>(out);
  int32_t* start = reinterpret_cast<int32_t*>(xs + nblk * kSteps * nv4 * 64);
  float* sx = reinterpret_cast<float*>(start + nblk * nv4 * 16);
  float* sg = sx + nblk * nv4 * 16 + 4 * q * (gpr + 16);  // 4 x gpr scales of these vectors
  const PermIdx pi = perm_idx();
  const __m512i ones = _mm512_set1_epi8(1);
  for (int t = 0; t < 4; ++t) {
    const int64_t j = 4 * q + t;
    for (int64_t g = 0; g < gpr; ++g) {
      float s = 0.f;
      if (j < N) s = x8_group_scale(x.data + j * x.k_padded + g * G, G);
      sg[t * gpr + g] = s;
    }
  }
  for (int64_t b = 0; b < nblk; ++b) {
    alignas(64) int8_t blk[4][128];
    for (int t = 0; t < 4; ++t) {
      const int64_t j = 4 * q + t;
      __m512i v[2];
      for (int h = 0; h < 2; ++h) {
        alignas(64) int8_t tmp[64];
        for (int i = 0; i < 64; i += 16) {
          const int64_t c = b * 128 + 64 * h + i;
          const float s = c < cols ? sg[t * gpr + c / G] : 0.f;
          const __m128i r = s > 0.f ? x8_round16(x.data + j * x.k_padded + c, s) : _mm_setzero_si128();
          _mm_store_si128(reinterpret_cast<__m128i*>(tmp + i), r);
        }
        v[h] = _mm512_load_si512(tmp);
      }
      if (perm) {
        const __m512i p0 = _mm512_permutex2var_epi32(v[0], pi.lo, v[1]), p1 = _mm512_permutex2var_epi32(v[0], pi.hi, v[1]);
        v[0] = p0, v[1] = p1;
      }
      _mm512_store_si512(blk[t], v[0]);
      _mm512_store_si512(blk[t] + 64, v[1]);
    }
    __m512i sum = _mm512_setzero_si512();
    for (int st = 0; st < kSteps; ++st) {
      int8_t* dst = xs + ((b * kSteps + st) * nv4 + q) * 64;
      for (int t = 0; t < 4; ++t) std::memcpy(dst + 16 * t, blk[t] + 16 * st, 16);
      sum = _mm512_dpbusd_epi32(sum, ones, _mm512_load_si512(dst));
    }
    _mm512_store_si512(start + (b * nv4 + q) * 16, _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(sum, 4)));
    float* sxo = sx + (b * nv4 + q) * 16;
    for (int t = 0; t < 4; ++t)
      for (int d = 0; d < 4; ++d) {
        const int64_t c = b * 128 + (perm ? 32 * d : 0);
        sxo[4 * t + d] = c < cols ? sg[t * gpr + c / G] : 0.f;
      }
  }
}

void prepare_x8(const MatrixView& a, const Activations& x, void* out) {
  const int64_t nv4 = (x.n + 3) / 4;
  parallel_range(nv4, 1, [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) stage_x4(a, x, q, out);
  });
}

// ---- the micro-kernel: R rows x V vectors (4 columns of N each) ---------------------------------
// Per step: V x loads, R broadcasts, R·V vpdpbusd; per block: one convert, multiply and FMA per
// accumulator. facc starts at zero (first K block) or from the carry tile c.
// The R·V int32 sums and R·V fp32 sums in registers (12 + 12 at most, with V x vectors and a
// broadcast: 29 zmm). Keeping the fp32 sums in an L1 tile instead, for 4-6 rows per block (fewer x
// loads per dot product), ran slower: 76 / 152 / 143 cycles per block for 4 / 5 / 6 rows against
// the 64 / 80 / 96 of their dot products, and 49 (of 48) for 3 rows in registers.
template <int R, int V>
SK_BLOCK void micro(const uint8_t* wp, int64_t wst, const float* wsc, int64_t sst, const int8_t* xs, const int32_t* start, const float* sx,
                    int64_t nv4, int64_t nb, bool first, float* c, int64_t ldc, const char* const* pf, int64_t pf_per_block) {
  __m512 facc[R][V];
  SK_UNROLL for (int i = 0; i < R; ++i)
    SK_UNROLL for (int v = 0; v < V; ++v) facc[i][v] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + i * ldc + 16 * v);
  const int64_t xstep = nv4 * 64;
  for (int64_t b = 0; b < nb; ++b, wp += 128, xs += kSteps * xstep, start += nv4 * 16, sx += nv4 * 16) {
    // The next row block's lines, a few per block.
    for (int64_t j = 0; j < pf_per_block; ++j) _mm_prefetch(pf[b * pf_per_block + j], _MM_HINT_T0);
    __m512i acc[R][V];
    SK_UNROLL for (int i = 0; i < R; ++i)
      SK_UNROLL for (int v = 0; v < V; ++v) acc[i][v] = _mm512_load_si512(start + 16 * v);
    SK_UNROLL for (int s = 0; s < kSteps; ++s) {
      __m512i xv[V];
      SK_UNROLL for (int v = 0; v < V; ++v) {
        xv[v] = _mm512_load_si512(xs + s * xstep + 64 * v);
        __asm__("" : "+v"(xv[v]));  // one load per vector, not one memory operand per dot product
      }
      SK_UNROLL for (int i = 0; i < R; ++i) {
        const __m512i w = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(wp + i * wst + 16 * s)));
        SK_UNROLL for (int v = 0; v < V; ++v) acc[i][v] = _mm512_dpbusd_epi32(acc[i][v], w, xv[v]);
      }
    }
    SK_UNROLL for (int i = 0; i < R; ++i) {
      const __m512 ws = _mm512_broadcast_f32x4(_mm_load_ps(wsc + i * sst + 4 * b));
      SK_UNROLL for (int v = 0; v < V; ++v) {
        const __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[i][v]), _mm512_load_ps(sx + 16 * v));
        facc[i][v] = _mm512_fmadd_ps(t, ws, facc[i][v]);
      }
    }
  }
  SK_UNROLL for (int i = 0; i < R; ++i)
    SK_UNROLL for (int v = 0; v < V; ++v) _mm512_storeu_ps(c + i * ldc + 16 * v, facc[i][v]);
}

template <int R, int V>
void micro_tail(int rr, const uint8_t* wp, int64_t wst, const float* wsc, int64_t sst, const int8_t* xs, const int32_t* start, const float* sx,
                int64_t nv4, int64_t nb, bool first, float* c, int64_t ldc, const char* const* pf, int64_t ppb) {
  if constexpr (R > 0) {
    if (rr == R) return micro<R, V>(wp, wst, wsc, sst, xs, start, sx, nv4, nb, first, c, ldc, pf, ppb);
    micro_tail<R - 1, V>(rr, wp, wst, wsc, sst, xs, start, sx, nv4, nb, first, c, ldc, pf, ppb);
  }
}

// ---- where a row block's bytes come from ------------------------------------------------------

struct Q4Src : Q4Rows {
  const int32_t* row_ptr = nullptr;  // bitmap: each row's first code
  int64_t code_bytes = 0;            // bitmap: the values part's length
};

struct ExpandConsts {
  PermIdx pi;
  __m512i c16, c8, zlo, zhi;  // zlo / zhi: the columns' group
  __m128i sidx;
  __mmask16 gmask;  // the groups of a whole block (G < 128: 128 / G of them)
};
ExpandConsts expand_consts(int G) {
  alignas(64) uint8_t zl[64], zh[64];
  alignas(16) uint16_t s[8];
  for (int i = 0; i < 64; ++i) {
    zl[i] = uint8_t(G >= 128 ? 0 : i / G);
    zh[i] = uint8_t(G >= 128 ? 0 : (64 + i) / G);
  }
  for (int d = 0; d < 8; ++d) s[d] = uint16_t(G >= 128 ? 0 : 32 * (d % 4) / G);
  return {perm_idx(), _mm512_set1_epi8(16), _mm512_set1_epi8(8), _mm512_load_si512(zl),
          _mm512_load_si512(zh), _mm_load_si128(reinterpret_cast<const __m128i*>(s)), __mmask16(G >= 128 ? 1 : (1u << (128 / G)) - 1)};
}

// A block's 4 lane scales as fp32: lane d's group (G < 128), else the block's one group. Lanes
// past the last column: scale 0 (their x and sums are 0 too).
template <bool Perm, bool Tail>
SK_INLINE void store_block_scales(const ExpandConsts& k, const uint16_t* sp, int64_t tail, __mmask16 gm, float* dsc) {
  __m128i hs;
  if constexpr (Perm) {
    const __m128i h = _mm_maskz_loadu_epi16(__mmask8(gm), sp);
    hs = _mm_maskz_permutexvar_epi16(Tail ? __mmask8((1u << (tail / 32)) - 1) : __mmask8(15), k.sidx, h);
  } else {
    hs = _mm_set1_epi16(short(*sp));
  }
  _mm_store_ps(dsc, _mm_cvtph_ps(hs));
}

// A block's mask bits as two 64-column words; a tail block reads only its own words.
template <bool Tail>
SK_INLINE void block_masks(const uint32_t* mp, int64_t tail, uint64_t* m0, uint64_t* m1) {
  if (!Tail || tail >= 64) std::memcpy(m0, mp, 8);
  else *m0 = mp[0];
  if (!Tail) std::memcpy(m1, mp + 2, 8);
  else *m1 = tail == 96 ? mp[2] : 0;
}

// A block's 128 codes in column order (lo, hi) to code - zero + 16: z0 / z1 the columns' zero
// points when asymmetric (a pruned column holding its zero point becomes 16: weight 0).
template <bool Asym>
SK_INLINE void offset_block(const ExpandConsts& k, __m512i& lo, __m512i& hi, __m512i z0, __m512i z1) {
  if constexpr (Asym) {
    lo = _mm512_add_epi8(_mm512_sub_epi8(lo, z0), k.c16);
    hi = _mm512_add_epi8(_mm512_sub_epi8(hi, z1), k.c16);
  } else {
    lo = _mm512_add_epi8(lo, k.c8);
    hi = _mm512_add_epi8(hi, k.c8);
  }
}

// The block's bytes (column order) into the panel, in step order when G < 128, and its scales.
template <bool Perm, bool Tail>
SK_INLINE void store_block(const ExpandConsts& k, __m512i lo, __m512i hi, const uint16_t* sp, int64_t tail, __mmask16 gm, uint8_t* dst, float* dsc) {
  if constexpr (Perm) {
    const __m512i p0 = _mm512_permutex2var_epi32(lo, k.pi.lo, hi), p1 = _mm512_permutex2var_epi32(lo, k.pi.hi, hi);
    lo = p0, hi = p1;
  }
  _mm512_store_si512(dst, lo);
  _mm512_store_si512(dst + 64, hi);
  store_block_scales<Perm, Tail>(k, sp, tail, gm, dsc);
}

// Dense 4-bit, one block of a row: 64 code bytes at cp, columns in order, offset to
// code - zero + 16 and permuted to the step order when G < 128.
template <bool Perm, bool Asym, bool Tail>
SK_INLINE void expand_dense4_block(const ExpandConsts& k, const uint8_t* cp, const uint16_t* sp, const uint8_t* zp, int64_t tail, __mmask16 gm,
                                   uint8_t* dst, float* dsc) {
  __m512i cb;
  if constexpr (!Tail) cb = _mm512_loadu_si512(cp);
  else cb = _mm512_maskz_loadu_epi8((uint64_t(1) << (tail / 2)) - 1, cp);  // columns past the tail meet x = 0
  __m512i lo = nibbles_to_bytes(_mm512_castsi512_si256(cb)), hi = nibbles_to_bytes(_mm512_extracti64x4_epi64(cb, 1));
  __m512i z0 = k.c8, z1 = k.c8;
  if constexpr (Asym) {
    const __m512i z = _mm512_castsi128_si512(_mm_maskz_loadu_epi8(gm, zp));
    z0 = _mm512_permutexvar_epi8(k.zlo, z), z1 = _mm512_permutexvar_epi8(k.zhi, z);
  }
  offset_block<Asym>(k, lo, hi, z0, z1);
  store_block<Perm, Tail>(k, lo, hi, sp, tail, gm, dst, dsc);
}

enum Fmt { kDense4, kBitmap4 };

// Bitmap 4-bit, one block of a row: the next popcount code bytes from u + *cur expanded to their
// columns over each column's zero point (a pruned column: code = zero, weight 0), then offset by
// 16 - zero; 4 mask words at mp (fewer in a tail block: the words past it are not read).
template <bool Perm, bool Asym, bool Tail>
SK_INLINE void expand_bitmap4_block(const ExpandConsts& k, const uint8_t* u, int64_t* cur, const uint32_t* mp, const uint16_t* sp, const uint8_t* zp,
                                    int64_t tail, __mmask16 gm, uint8_t* dst, float* dsc) {
  uint64_t m0, m1;
  block_masks<Tail>(mp, tail, &m0, &m1);
  __m512i z0 = k.c8, z1 = k.c8;
  if constexpr (Asym) {
    const __m512i z = _mm512_castsi128_si512(_mm_maskz_loadu_epi8(gm, zp));
    z0 = _mm512_permutexvar_epi8(k.zlo, z), z1 = _mm512_permutexvar_epi8(k.zhi, z);
  }
  __m512i lo = _mm512_mask_expand_epi8(z0, m0, _mm512_loadu_si512(u + *cur));
  *cur += __builtin_popcountll(m0);
  __m512i hi = _mm512_mask_expand_epi8(z1, m1, _mm512_loadu_si512(u + *cur));
  *cur += __builtin_popcountll(m1);
  offset_block<Asym>(k, lo, hi, z0, z1);
  store_block<Perm, Tail>(k, lo, hi, sp, tail, gm, dst, dsc);
}

// Blocks b0 .. b0 + nb of row r into dst (128 bytes each) and dsc (4 scales each).
// ub: the bitmap row's byte buffer (bytes_stride(cols) bytes).
template <Fmt F, bool Perm, bool Asym>
void expand_row(const Q4Src& w, const ExpandConsts& k, int64_t r, int64_t b0, int64_t nb, uint8_t* dst, float* dsc, uint8_t* ub) {
  const int64_t c0 = b0 * 128, full = imin(nb, (w.cols - c0) / 128);
  const uint8_t* u = nullptr;
  int64_t cur = 0;  // bitmap: codes of the row before the block
  if constexpr (F == kBitmap4) {
    u = spread_row_codes(w.codes, w.code_bytes, w.row_ptr[r], w.row_ptr[r + 1], ub);
    const uint32_t* mr = w.masks + r * (w.cols / 32);
    for (int64_t i = 0; i < c0 / 32; ++i) cur += __builtin_popcount(mr[i]);
  }
  // Per block: dense 64 code bytes; bitmap 4 mask words.
  const uint8_t* cp = w.codes + r * (w.cols / 2) + c0 / 2;
  const uint32_t* mp = F != kDense4 ? w.masks + r * (w.cols / 32) + c0 / 32 : nullptr;
  constexpr int64_t cb = 64;
  const int gs = __builtin_ctz(unsigned(w.G));
  const uint16_t* sp = w.scales + r * w.gpr;
  const uint8_t* zp = Asym ? w.zeros + r * w.gpr : nullptr;
  auto block = [&](auto tail_c, int64_t b, int64_t tail, __mmask16 gm) {
    constexpr bool Tail = decltype(tail_c)::value;
    const int64_t g = (c0 + 128 * b) >> gs;
    if constexpr (F == kBitmap4)
      expand_bitmap4_block<Perm, Asym, Tail>(k, u, &cur, mp + 4 * b, sp + g, Asym ? zp + g : nullptr, tail, gm, dst + 128 * b, dsc + 4 * b);
    else expand_dense4_block<Perm, Asym, Tail>(k, cp + cb * b, sp + g, Asym ? zp + g : nullptr, tail, gm, dst + 128 * b, dsc + 4 * b);
  };
  for (int64_t b = 0; b < full; ++b) block(std::false_type{}, b, 128, k.gmask);
  if (full < nb) {
    const int64_t c = c0 + 128 * full, left = w.gpr - (c >> gs);
    block(std::true_type{}, full, w.cols - c, __mmask16(k.gmask & ((1u << (left < 16 ? left : 16)) - 1)));
  }
}

// ---- the driver -------------------------------------------------------------------------------

// 128-column blocks per K block: the x panel of one (x, start, sx of every vector) stays within
// kPanelBytes, half of a 1 MiB L2; beyond it the fp32 sums of every row are carried from block to
// block in the tile. (N = 64, K = 4096: a 320 KiB panel, one block; split in 25-block K blocks it
// ran 1-4% slower, one thread, 1376 rows warm. N = 16 in K blocks of 8 that keep x in L1: ~10%
// faster warm, ~10% slower cold: 4.81-4.90 against 4.35-4.45 ms, 11008 rows, one thread.)
constexpr int64_t kPanelBytes = 512 * 1024;
int64_t k_blocks(int64_t nv4, int64_t nblk) {
  const int64_t kc = kPanelBytes / int64_t(panel_bytes(nv4, 1));
  return kc < 4 ? 4 : kc > nblk ? nblk : kc;
}

// A bitmap row's spread codes (spread_row_codes), with slack: a block reads 64 bytes from its cursor.
inline int64_t bytes_stride(int64_t cols) { return round128(cols) + 256; }

size_t gemm_x8_workspace(int64_t rows, int64_t ld, int64_t kp) {
  const int64_t nv4 = (ld + 3) / 4, nblk = round128(kp) / 128;
  return size_t(kMaxRows * bytes_stride(kp)) + size_t(kMaxRows * nblk * (128 + 16)) + size_t((rows > kMaxRows ? rows : kMaxRows) * nv4 * 64) + size_t(2 * kMaxRows * (nblk + 8) * 8) + 256;
}

// The output row r into L1 before its stores, as the dense bf16 GEMM does: linear's output [N, M]
// puts a row's N values on N lines M elements apart.
constexpr int64_t kOutAhead = 48;  // rows
inline void prefetch_out(const OutputSpec& out, int64_t r, int64_t n) {
  const int64_t esz = int64_t(dtype_size(out.dtype)), step = out.col_stride * esz >= 64 ? 1 : n;
  const char* p = static_cast<const char*>(out.data) + r * out.row_stride * esz;
  for (int64_t j = 0; j < n; j += step) _mm_prefetch(p + j * out.col_stride * esz, _MM_HINT_T0);
}

// Row r's N outputs from its fp32 sums c (lane 4t + d of vector q: column 4q + t, the four d summed).
inline void store_row(const OutputSpec& out, int64_t r, const float* c, int64_t N) {
  const __m512i pick = _mm512_set_epi32(28, 24, 20, 16, 12, 8, 4, 0, 28, 24, 20, 16, 12, 8, 4, 0);
  for (int64_t q = 0; q < (N + 3) / 4; q += 4) {
    __m512 t[4];
    for (int u = 0; u < 4; ++u) {
      __m512 f = q + u < (N + 3) / 4 ? _mm512_loadu_ps(c + 16 * (q + u)) : _mm512_setzero_ps();
      f = _mm512_add_ps(f, _mm512_permute_ps(f, _MM_SHUFFLE(2, 3, 0, 1)));
      t[u] = _mm512_add_ps(f, _mm512_permute_ps(f, _MM_SHUFFLE(1, 0, 3, 2)));
    }
    // Lanes 0, 4, 8, 12 of each: columns 4(q + u) .. + 3.
    const __m512 lo = _mm512_permutex2var_ps(t[0], pick, t[1]), hi = _mm512_permutex2var_ps(t[2], pick, t[3]);
    alignas(64) float y[16];
    _mm512_store_ps(y, _mm512_mask_blend_ps(0xff00, lo, hi));
    for (int64_t j = 0; j < 16 && 4 * q + j < N; ++j) out.store(r, 4 * q + j, y[j]);
  }
}

// rr rows (at most 12 / V) times V vectors.
template <int V>
void micro_rows(int rr, const uint8_t* wp, int64_t wst, const float* wsc, int64_t sst, const int8_t* xs, const int32_t* start, const float* sx,
                int64_t nv4, int64_t nb, bool first, float* c, int64_t ldc, const char* const* pf, int64_t ppb) {
  micro_tail<12 / V, V>(rr, wp, wst, wsc, sst, xs, start, sx, nv4, nb, first, c, ldc, pf, ppb);
}

template <Fmt F, bool Perm, bool Asym>
void gemm_q4(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const int G = a.quant.group;
  const int64_t cols = a.cols, N = x.n, nblk = round128(cols) / 128;
  const X8Panel xp = panel_of(a, x);
  const int64_t nv4 = xp.nv4, rows = r1 - r0, ldc = nv4 * 16;
  uint8_t* wp = align64(x.workspace);
  const int64_t kc = k_blocks(nv4, nblk);
  float* wsc = reinterpret_cast<float*>(wp + kMaxRows * kc * 128);
  float* tile = reinterpret_cast<float*>(align64(wsc + kMaxRows * kc * 4));
  const char** pf = reinterpret_cast<const char**>(tile + (kc < nblk ? rows : kMaxRows) * ldc);
  uint8_t* bytes = align64(pf + 2 * kMaxRows * (nblk + 8));
  Q4Src w{{a.as<uint8_t>(Part::values), a.as<uint16_t>(Part::scales), Asym ? a.as<uint8_t>(Part::zeros) : nullptr,
           F != kDense4 ? a.as<uint32_t>(Part::masks) : nullptr, cols, cols / G, G}};
  if constexpr (F == kBitmap4) {
    w.row_ptr = a.as<int32_t>(Part::row_ptr);
    w.code_bytes = quant_code_bytes(w.row_ptr[a.rows], 4);
  }
  const int64_t bst = bytes_stride(cols);
  const ExpandConsts k = expand_consts(G);
  const int R = block_rows(nv4);
  const int64_t wst = kc * 128, sst = kc * 4;
  for (int64_t b0 = 0; b0 < nblk; b0 += kc) {
    const int64_t nb = imin(kc, nblk - b0);
    const bool first = b0 == 0, last = b0 + nb == nblk;
    for (int64_t rb = r0; rb < r1; rb += R) {
      const int rr = int(imin(R, r1 - rb));
      for (int i = 0; i < rr; ++i) expand_row<F, Perm, Asym>(w, k, rb + i, b0, nb, wp + i * wst, wsc + i * sst, bytes + i * bst);
      // The next row block's codes, masks and scales of this K block, one prefetch per line, spread
      // evenly over the blocks (padded with repeats of the tile's address).
      int64_t npf = 0;
      for (int64_t i = rb + R; i < imin(r1, rb + 2 * R); ++i) {
        constexpr int64_t cb = 64;  // code bytes per block
        if constexpr (F == kBitmap4) {  // the row's codes, all K blocks (K blocks are rare here)
          const char* cpp = reinterpret_cast<const char*>(w.codes + (w.row_ptr[i] >> 1));
          for (int64_t o = 0; o < (w.row_ptr[i + 1] - w.row_ptr[i] + 1) / 2 && npf < 2 * kMaxRows * (nblk + 8) - 8; o += 64) pf[npf++] = cpp + o;
        } else {
          const char* cpp = reinterpret_cast<const char*>(w.codes + i * (cols / 2) + b0 * cb);
          for (int64_t o = 0; o < nb * cb; o += 64) pf[npf++] = cpp + o;
        }
        if constexpr (F != kDense4) {
          const char* mpp = reinterpret_cast<const char*>(w.masks + i * (cols / 32) + b0 * 4);
          for (int64_t o = 0; o < nb * 16; o += 64) pf[npf++] = mpp + o;
        }
        pf[npf++] = reinterpret_cast<const char*>(w.scales + i * w.gpr + b0 * 128 / G);
      }
      const int64_t ppb = (npf + nb - 1) / nb;
      for (int64_t j = npf; j < ppb * nb; ++j) pf[j] = reinterpret_cast<const char*>(tile);
      float* c = kc < nblk ? tile + (rb - r0) * ldc : tile;
      const int8_t* xs = xp.xs + b0 * kSteps * nv4 * 64;
      const int32_t* st = xp.start + b0 * nv4 * 16;
      const float* sx = xp.sx + b0 * nv4 * 16;
      const int pv = pass_vectors(nv4);
      for (int64_t q0 = 0; q0 < nv4; q0 += pv) {
        int64_t vn = imin(pv, nv4 - q0), pp = q0 == 0 ? ppb : 0;

        switch (vn) {
          case 1: micro_rows<1>(rr, wp, wst, wsc, sst, xs + q0 * 64, st + q0 * 16, sx + q0 * 16, nv4, nb, first, c + q0 * 16, ldc, pf, pp); break;
          case 2: micro_rows<2>(rr, wp, wst, wsc, sst, xs + q0 * 64, st + q0 * 16, sx + q0 * 16, nv4, nb, first, c + q0 * 16, ldc, pf, pp); break;
          case 3: micro_rows<3>(rr, wp, wst, wsc, sst, xs + q0 * 64, st + q0 * 16, sx + q0 * 16, nv4, nb, first, c + q0 * 16, ldc, pf, pp); break;
          default: micro_rows<4>(rr, wp, wst, wsc, sst, xs + q0 * 64, st + q0 * 16, sx + q0 * 16, nv4, nb, first, c + q0 * 16, ldc, pf, pp); break;
        }
      }
      if (last) {
        prefetch_out(out, imin(rb + kOutAhead, a.rows - 1), N);
        for (int i = 0; i < rr; ++i) store_row(out, rb + i, c + i * ldc, N);
      }
    }
  }
}

template <Fmt F>
void qgemm_bytes(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const bool perm = a.quant.group < 128;
  if (a.quant.asym) perm ? gemm_q4<F, true, true>(a, x, r0, r1, out) : gemm_q4<F, false, true>(a, x, r0, r1, out);
  else perm ? gemm_q4<F, true, false>(a, x, r0, r1, out) : gemm_q4<F, false, false>(a, x, r0, r1, out);
}

}  // namespace

SpmmKernel select_qspmm_gemm_x8(const MatrixView& a, int64_t n) {
  const CpuFeatures& f = cpu_features();
  if (n < 2 || n > kX8GemmMaxN || !f.avx512vnni || !f.avx512vbmi || !f.avx512vbmi2 || a.quant.bits != 4) return SpmmKernel{};
  SpmmKernel k{nullptr, XLayout::n_major, "", true, 1};
  if (a.format == Format::dense) k.fn = qgemm_bytes<kDense4>, k.name = "qspmm_gemm_bytes_dense_int4_x8_vnni";
  else if (a.format == Format::bitmap) k.fn = qgemm_bytes<kBitmap4>, k.name = "qspmm_gemm_bytes_bitmap_int4_x8_vnni";
  else return SpmmKernel{};
  k.workspace = gemm_x8_workspace;
  k.prepare_bytes = prepare_bytes;
  k.prepare = prepare_x8;
  return k;
}

}  // namespace sk
SK_TARGET_END
#else
namespace sk {
SpmmKernel select_qspmm_gemm_x8(const MatrixView&, int64_t) { return SpmmKernel{}; }
}  // namespace sk
#endif
