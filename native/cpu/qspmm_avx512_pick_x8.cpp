// AVX-512 VNNI + VBMI GEMM for 2:4 4-bit weights with int8 activations at N > 1 (opt-in,
// ActivationRounding::int8, the numerics of the other x8 kernels: x rounded per vector and weight
// group, exact int32 sums per unit of min(G, 128) columns, fp32 across units).
//
// Rows in the lanes, x picked per lane. Lane i of a vector is row i of a 16-row group; at step s
// of a 128-column block its dword holds that row's 4 kept weights of columns 8s .. 8s + 7 as
// signed bytes (code - zero), and one vpermb of a vector of N's 64-column window of x (xq + 128,
// unsigned) by the kept columns' positions puts the matching 4 bytes of x beside them: one vpermb
// and one vpdpbusd per 64 kept-weight MACs, no pruned zero multiplied (the dense-expanded GEMM,
// qspmm_avx512_gemm_x8.cpp, spends one vpdpbusd per 64 MACs of which half are zeros; here the
// pair with its x load runs at ~0.9 cycles, docs/kernels.md). A block's 16 rows of codes and masks
// are transposed to step order once (vpermt2w / vpermt2b), each step's weights and positions
// decoded once and reused by every vector of N; each vector's sums stay in a register over the
// block's steps and are scaled once per group.
//   x          xw[(w · Np + t) · 64 + b] = xq[t][64w + b] + 128 (Np = N rounded up to 4; padded
//              vectors and columns hold 128, i.e. xq = 0)
//   scales     sx[t · gpr + g] = s_x of vector t in group g
//   sums       lane i of a vector's int32 sum, less 128 · Σ of row i's weights in the group (the
//              +128 of x), is the exact Σ (code - zero) · xq of the group (per 128 columns at G > 128).
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <utility>

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
#define SK_INLINE inline __attribute__((always_inline))

#include "qspmm_x8_round.inl"
#include "unroll.inl"

inline int64_t padded_vecs(int64_t n) { return (n + 3) / 4 * 4; }
inline int64_t windows(int64_t cols) { return (cols + 63) / 64; }

// ---- x: rounded per vector and group, staged once per call (SpmmKernel::prepare) -------------

size_t pick_prepare_bytes(const MatrixView& a, int64_t n, int64_t) {
  const int64_t np = padded_vecs(n);
  return size_t(windows(a.cols) * np * 64 + np * (a.cols / a.quant.group) * 4 + 64);
}

void pick_prepare(const MatrixView& a, const Activations& x, void* out) {
  const int64_t cols = a.cols, N = x.n, np = padded_vecs(N), G = a.quant.group, gpr = cols / G, nw = windows(cols);
  uint8_t* xw = static_cast<uint8_t*>(out);
  float* sx = reinterpret_cast<float*>(xw + nw * np * 64);
  const __m128i c128 = _mm_set1_epi8(char(0x80));
  parallel_range(np, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      if (t >= N) {  // a padded vector: x = 0
        for (int64_t w = 0; w < nw; ++w) std::memset(xw + (w * np + t) * 64, 0x80, 64);
        for (int64_t g = 0; g < gpr; ++g) sx[t * gpr + g] = 0.f;
        continue;
      }
      const float* xt = x.data + t * x.k_padded;
      for (int64_t g = 0; g < gpr; ++g) {
        const float s = x8_group_scale(xt + g * G, G);
        sx[t * gpr + g] = s;
        for (int64_t i = 0; i < G; i += 16) {
          const int64_t c = g * G + i;
          const __m128i q = s > 0.f ? x8_round16(xt + c, s) : _mm_setzero_si128();
          _mm_storeu_si128(reinterpret_cast<__m128i*>(xw + ((c >> 6) * np + t) * 64 + (c & 63)), _mm_add_epi8(q, c128));
        }
      }
      if (cols & 63) std::memset(xw + ((cols >> 6) * np + t) * 64 + (cols & 63), 0x80, size_t(64 - (cols & 63)));
    }
  });
}

// ---- constants --------------------------------------------------------------------------------

// vpermt2w / vpermt2b indices that take the elements labelled `want` from two vectors labelled
// a and b (n elements each).
template <int n, class A, class B, class W>
void perm2(const A& a, const B& b, const W& want, void* idx, int esize) {
  for (int v = 0; v < n; ++v) {
    int at = -1;
    for (int u = 0; u < n && at < 0; ++u) {
      if (a(u) == want(v)) at = u;
      else if (b(u) == want(v)) at = n + u;
    }
    if (esize == 2) static_cast<uint16_t*>(idx)[v] = uint16_t(at);
    else static_cast<uint8_t*>(idx)[v] = uint8_t(at);
  }
}

struct PickConsts {
  // Codes: 16 rows x 16 words (a word = a step's 4 codes) from 8 vectors of 2 rows to 8 of 2 steps.
  __m512i ct1[2], ct2[2], ct3[2];
  // Masks: 16 rows x 16 bytes (a byte = a step's 8 columns) from 4 vectors of 4 rows to 4 of 4 steps.
  __m512i mt1[2], mt2[2];
  __m512i cpat[2];     // vpermb: dword i <- row i's word of step 2q + h, as bytes (b0, b0, b1, b1)
  __m512i mpat[4];     // vpermb: dword i <- row i's mask byte of step 4k + e, 4 times
  __m512i code_shift;  // vpmultishiftqb: byte m of a dword <- code m (lo b0, hi b0, lo b1, hi b1)
  __m512i mask_shift;  // vpmultishiftqb: bytes 0, 1 <- the mask's low nibble, 2, 3 <- its high one
  __m512i nib, m16;    // 0x0f; 16 · (byte index in its dword)
  __m512i pos[8];      // vpermb tables: [16m + nibble] = 8e + (m >= 2 ? 4 : 0) + the (m % 2)-th set bit of nibble
                       // (e: the step's 8 columns in its 64-column window)
  __m512i sym;         // vpermb table: [v] = (v & 15) - 8, a symmetric code byte with garbage above it
  __m512i c128;        // 0x80 bytes (vpdpbusd against the weights: 128 · Σ w)
  __m512i quad;        // vpermb: byte 4i + m <- byte i (a row's zero point to its lane)
};

PickConsts pick_consts() {
  PickConsts k;
  alignas(64) uint16_t w[64];
  alignas(64) uint8_t b[64];
  // Codes. Label = 16 · row + step. Z_p: rows 2p, 2p + 1. Y_{a,h}: rows 4a.., steps 8h..; X_{b,h,e}:
  // rows 8b.., steps 8h + 4e..; C_q: steps 2q, 2q + 1 (word 16 (s % 2) + row).
  for (int h = 0; h < 2; ++h) {
    perm2<32>([](int u) { return 16 * (u / 16) + u % 16; }, [](int u) { return 16 * (2 + u / 16) + u % 16; },
              [h](int v) { return 16 * (v % 4) + 8 * h + v / 4; }, w, 2);
    k.ct1[h] = _mm512_load_si512(w);
  }
  for (int e = 0; e < 2; ++e) {
    perm2<32>([](int u) { return 16 * (u % 4) + u / 4; }, [](int u) { return 16 * (4 + u % 4) + u / 4; },
              [e](int v) { return 16 * (v % 8) + 4 * e + v / 8; }, w, 2);
    k.ct2[e] = _mm512_load_si512(w);
  }
  for (int d = 0; d < 2; ++d) {
    perm2<32>([](int u) { return 16 * (u % 8) + u / 8; }, [](int u) { return 16 * (8 + u % 8) + u / 8; },
              [d](int v) { return 16 * (v % 16) + 2 * d + v / 16; }, w, 2);
    k.ct3[d] = _mm512_load_si512(w);
  }
  // Masks. M_p: rows 4p.. (byte 16 (row % 4) + step); H_{a,e}: rows 8a.., steps 8e..; B_k: steps 4k..
  for (int e = 0; e < 2; ++e) {
    perm2<64>([](int u) { return 16 * (u / 16) + u % 16; }, [](int u) { return 16 * (4 + u / 16) + u % 16; },
              [e](int v) { return 16 * (v % 8) + 8 * e + v / 8; }, b, 1);
    k.mt1[e] = _mm512_load_si512(b);
  }
  for (int d = 0; d < 2; ++d) {
    perm2<64>([](int u) { return 16 * (u % 8) + u / 8; }, [](int u) { return 16 * (8 + u % 8) + u / 8; },
              [d](int v) { return 16 * (v % 16) + 4 * d + v / 16; }, b, 1);
    k.mt2[d] = _mm512_load_si512(b);
  }
  for (int h = 0; h < 2; ++h) {
    for (int v = 0; v < 64; ++v) b[v] = uint8_t(2 * (16 * h + v / 4) + (v % 4 < 2 ? 0 : 1));
    k.cpat[h] = _mm512_load_si512(b);
  }
  for (int e = 0; e < 4; ++e) {
    for (int v = 0; v < 64; ++v) b[v] = uint8_t(16 * e + v / 4);
    k.mpat[e] = _mm512_load_si512(b);
  }
  const uint8_t cs[8] = {0, 12, 16, 28, 32, 44, 48, 60}, ms[8] = {0, 0, 4, 4, 32, 32, 36, 36};
  for (int v = 0; v < 64; ++v) b[v] = cs[v % 8];
  k.code_shift = _mm512_load_si512(b);
  for (int v = 0; v < 64; ++v) b[v] = ms[v % 8];
  k.mask_shift = _mm512_load_si512(b);
  for (int v = 0; v < 64; ++v) b[v] = uint8_t(16 * (v % 4));
  k.m16 = _mm512_load_si512(b);
  for (int e = 0; e < 8; ++e) {
    for (int v = 0; v < 64; ++v) {
      const int m = v / 16, nibble = v % 16;
      int set[4], ns = 0;
      for (int j = 0; j < 4; ++j)
        if (nibble >> j & 1) set[ns++] = j;
      b[v] = uint8_t(8 * e + (m >= 2 ? 4 : 0) + (ns > (m & 1) ? set[m & 1] : 0));
    }
    k.pos[e] = _mm512_load_si512(b);
  }
  for (int v = 0; v < 64; ++v) b[v] = uint8_t((v & 15) - 8);
  k.sym = _mm512_load_si512(b);
  for (int v = 0; v < 64; ++v) b[v] = uint8_t(v / 4);
  k.quad = _mm512_load_si512(b);
  k.nib = _mm512_set1_epi8(0x0f), k.c128 = _mm512_set1_epi8(char(0x80));
  return k;
}

// ---- one 16-row group -------------------------------------------------------------------------

constexpr int kRows = 16;
constexpr int kSteps = 16;  // 8-column steps per 128-column block
constexpr int64_t kAheadBlocks = 4;

// Per task: a block's decoded steps (weights, positions), the group's scales (fp32) and zero points
// per group, and the fp32 sums of every vector.
size_t pick_workspace(int64_t, int64_t ld, int64_t kp) {
  const int64_t gmax = kp / 32 + 1;  // groups per row at most (G >= 32)
  return size_t(2 * kSteps * 64 + gmax * 64 + gmax * 16 + padded_vecs(ld) * 64 + 128);
}

// The group's 16 rows, 128 columns from c0 (fewer in a tail block: steps = its columns / 8),
// transposed to step order: step s's weights (code - zero, per row) into dst[s], its x positions
// (+ 8 (s % 8), the step's place in its 64-column window) into dst[kSteps + s].
template <bool Asym, bool Tail>
SK_INLINE void decode_block(const PickConsts& k, const uint8_t* const* codes, const uint32_t* const* masks, int64_t c0, int64_t tail,
                            const uint8_t* zrow, int gsteps, int gshift, __m512i* dst) {
  __m512i z[8], m[4];
  const __mmask32 cm = Tail ? __mmask32((uint64_t(1) << (tail / 4)) - 1) : ~__mmask32(0);
  const __mmask16 mm = Tail ? __mmask16((1u << (tail / 8)) - 1) : __mmask16(0xffff);
  // A tail block reads only its own columns' bytes.
  auto ldc = [&](int i) {
    return Tail ? _mm256_maskz_loadu_epi8(cm, codes[i] + c0 / 4) : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes[i] + c0 / 4));
  };
  auto ldm = [&](int i) {
    return Tail ? _mm_maskz_loadu_epi8(mm, masks[i] + c0 / 32) : _mm_loadu_si128(reinterpret_cast<const __m128i*>(masks[i] + c0 / 32));
  };
  SK_UNROLL for (int p = 0; p < 8; ++p) z[p] = _mm512_inserti64x4(_mm512_castsi256_si512(ldc(2 * p)), ldc(2 * p + 1), 1);
  SK_UNROLL for (int p = 0; p < 4; ++p) {
    const __m512i v = _mm512_inserti32x4(_mm512_castsi128_si512(ldm(4 * p)), ldm(4 * p + 1), 1);
    m[p] = _mm512_inserti32x4(_mm512_inserti32x4(v, ldm(4 * p + 2), 2), ldm(4 * p + 3), 3);
  }
  // Codes: rows in pairs -> Y (4 rows x 8 steps) -> X (8 rows x 4 steps) -> C (16 rows x 2 steps).
  __m512i y[8], x[8], c[8];
  SK_UNROLL for (int a = 0; a < 4; ++a)
    SK_UNROLL for (int h = 0; h < 2; ++h) y[2 * a + h] = _mm512_permutex2var_epi16(z[2 * a], k.ct1[h], z[2 * a + 1]);
  SK_UNROLL for (int bb = 0; bb < 2; ++bb)
    SK_UNROLL for (int h = 0; h < 2; ++h)
      SK_UNROLL for (int e = 0; e < 2; ++e) x[4 * bb + 2 * h + e] = _mm512_permutex2var_epi16(y[4 * bb + h], k.ct2[e], y[4 * bb + 2 + h]);
  SK_UNROLL for (int h = 0; h < 2; ++h)
    SK_UNROLL for (int e = 0; e < 2; ++e)
      SK_UNROLL for (int d = 0; d < 2; ++d) c[4 * h + 2 * e + d] = _mm512_permutex2var_epi16(x[2 * h + e], k.ct3[d], x[4 + 2 * h + e]);
  // Masks: rows in pairs of 4 -> H (8 rows x 8 steps) -> B (16 rows x 4 steps).
  __m512i hh[4], bm[4];
  SK_UNROLL for (int a = 0; a < 2; ++a)
    SK_UNROLL for (int e = 0; e < 2; ++e) hh[2 * a + e] = _mm512_permutex2var_epi8(m[2 * a], k.mt1[e], m[2 * a + 1]);
  SK_UNROLL for (int e = 0; e < 2; ++e)
    SK_UNROLL for (int d = 0; d < 2; ++d) bm[2 * e + d] = _mm512_permutex2var_epi8(hh[e], k.mt2[d], hh[2 + e]);
  __m512i zp = _mm512_setzero_si512();
  const int steps = Tail ? int(tail / 8) : kSteps;
  SK_UNROLL for (int s = 0; s < kSteps; ++s) {
    if (Tail && s >= steps) break;
    if constexpr (Asym) {
      if ((s & (gsteps - 1)) == 0) zp = _mm512_permutexvar_epi8(k.quad, _mm512_castsi128_si512(_mm_load_si128(reinterpret_cast<const __m128i*>(zrow + 16 * ((c0 + 8 * s) >> gshift)))));
    }
    const __m512i wd = _mm512_multishift_epi64_epi8(k.code_shift, _mm512_permutexvar_epi8(k.cpat[s & 1], c[s >> 1]));
    dst[s] = Asym ? _mm512_sub_epi8(_mm512_and_si512(wd, k.nib), zp) : _mm512_permutexvar_epi8(wd, k.sym);
    const __m512i md = _mm512_permutexvar_epi8(k.mpat[s & 3], bm[s >> 2]);
    const __m512i pi = _mm512_ternarylogic_epi32(_mm512_multishift_epi64_epi8(k.mask_shift, md), k.nib, k.m16, 0xEA);  // (A & B) | C
    dst[kSteps + s] = _mm512_permutexvar_epi8(pi, k.pos[s & 7]);
  }
}

// acc += a (unsigned bytes) · b (signed bytes), in place. GCC allocates the intrinsic's result apart
// from its accumulator and copies it back, two register moves per vpdpbusd in the loop below
// (~25% of its time, docs/kernels.md); the asm keeps each sum in one register.
SK_INLINE void dpbusd_acc(__m512i& acc, __m512i a, __m512i b) { __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b)); }

// Steps [s0, s1) of a decoded block (one group, or 128 columns of one) for vectors t0 .. t0 + T
// of N: int32 sums in registers, then scaled into the fp32 sums f (16 floats per vector).
template <int T>
SK_INLINE void run_steps(const __m512i* dec, int s0, int s1, const uint8_t* x0, const uint8_t* x1, int64_t t0, const __m512 sw, const float* sxg,
                         int64_t gpr, const __m512i c128, float* f) {
  __m512i acc[T], sum = _mm512_setzero_si512();
  unroll<T>([&](auto u) SK_UNROLLED { acc[u] = _mm512_setzero_si512(); });
  for (int s = s0; s < s1; ++s) {
    const __m512i w = dec[s], ix = dec[kSteps + s];
    dpbusd_acc(sum, c128, w);
    const uint8_t* xp = (s < 8 ? x0 : x1) + t0 * 64;
    unroll<T>([&](auto u) SK_UNROLLED {
      dpbusd_acc(acc[u], _mm512_permutexvar_epi8(ix, _mm512_load_si512(xp + 64 * u)), w);
    });
  }
  unroll<T>([&](auto u) SK_UNROLLED {
    float* fp = f + (t0 + u) * 16;
    const __m512 sc = _mm512_mul_ps(sw, _mm512_set1_ps(sxg[(t0 + u) * gpr]));
    _mm512_store_ps(fp, _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[u], sum)), sc, _mm512_load_ps(fp)));
  });
}

template <bool Asym>
void pick_q4(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const int64_t cols = a.cols, N = x.n, np = padded_vecs(N), gpr = cols / a.quant.group;
  const int G = a.quant.group;
  const uint8_t* xw = static_cast<const uint8_t*>(x.prepared);
  const float* sx = reinterpret_cast<const float*>(xw + windows(cols) * np * 64);
  const uint8_t* codes = a.as<uint8_t>(Part::values);
  const uint32_t* masks = a.as<uint32_t>(Part::masks);
  const uint16_t* scales = a.as<uint16_t>(Part::scales);
  const uint8_t* zeros = Asym ? a.as<uint8_t>(Part::zeros) : nullptr;
  static const PickConsts k = pick_consts();
  __m512i* dec = reinterpret_cast<__m512i*>(align64(x.workspace));
  float* swb = reinterpret_cast<float*>(dec + 2 * kSteps);  // [gpr][16]
  uint8_t* zb = reinterpret_cast<uint8_t*>(swb + gpr * 16);  // [gpr][16]
  float* f = reinterpret_cast<float*>(align64(zb + gpr * 16));  // [np][16]
  const int64_t nblk = (cols + 127) / 128;
  const int gs = G < 128 ? G / 8 : kSteps, gshift = __builtin_ctz(unsigned(G));  // steps per scaled run
  for (int64_t rg = r0; rg < r1; rg += kRows) {
    const int rr = int(r1 - rg < kRows ? r1 - rg : kRows);
    const uint8_t* cr[kRows];
    const uint32_t* mr[kRows];
    for (int i = 0; i < kRows; ++i) {
      const int64_t r = i < rr ? rg + i : rg;  // rows past the end repeat the first (not stored)
      cr[i] = codes + r * (cols / 4), mr[i] = masks + r * (cols / 32);
      const uint16_t* sp = scales + r * gpr;
      for (int64_t g = 0; g < gpr; g += 16) {
        const __mmask16 gm = gpr - g >= 16 ? __mmask16(0xffff) : __mmask16((1u << (gpr - g)) - 1);
        alignas(64) float v[16];
        _mm512_store_ps(v, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(gm, sp + g)));
        for (int64_t j = 0; j < 16 && g + j < gpr; ++j) swb[(g + j) * 16 + i] = v[j];
      }
      if constexpr (Asym)
        for (int64_t g = 0; g < gpr; ++g) zb[g * 16 + i] = zeros[r * gpr + g];
    }
    std::memset(f, 0, size_t(np) * 64);
    // Software prefetch, as the group's 32 row streams are too many for the hardware prefetcher:
    // the next group's bytes into L2 a group ahead, in the order its blocks will read them (its
    // scales, then per block each row's codes and masks), and this group's lines into L1
    // kAheadBlocks blocks ahead (each alone and both measured in docs/kernels.md).
    const int64_t nr = r1 - (rg + kRows) < kRows ? r1 - (rg + kRows) : kRows;
    for (int64_t b = 0; b < nblk; ++b) {
      const int64_t c0 = 128 * b, tail = cols - c0, ca = c0 + 128 * kAheadBlocks;
      if (ca < cols)
        for (int i = 0; i < kRows; ++i) {
          if (((ca >> 7) & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(cr[i] + ca / 4), _MM_HINT_T0);
          if (((ca >> 7) & 3) == 0) _mm_prefetch(reinterpret_cast<const char*>(mr[i] + ca / 32), _MM_HINT_T0);
        }
      for (int64_t i = 0; i < nr; ++i) {
        const int64_t r = rg + kRows + i;
        if (b == 0)
          for (int64_t o = 0; o < gpr * 2; o += 64) _mm_prefetch(reinterpret_cast<const char*>(scales + r * gpr) + o, _MM_HINT_T1);
        if ((b & 1) == 0) _mm_prefetch(reinterpret_cast<const char*>(codes + r * (cols / 4) + c0 / 4), _MM_HINT_T1);
        if ((b & 3) == 0) _mm_prefetch(reinterpret_cast<const char*>(masks + r * (cols / 32) + c0 / 32), _MM_HINT_T1);
      }
      if (tail >= 128) decode_block<Asym, false>(k, cr, mr, c0, 128, zb, gs, gshift, dec);
      else decode_block<Asym, true>(k, cr, mr, c0, tail, zb, gs, gshift, dec);
      const int steps = tail >= 128 ? kSteps : int(tail / 8);
      const uint8_t* x0 = xw + (2 * b) * np * 64;
      const uint8_t* x1 = xw + (2 * b + 1) * np * 64;
      for (int s0 = 0; s0 < steps; s0 += gs) {
        const int64_t g = (c0 + 8 * s0) >> gshift;
        const __m512 sw = _mm512_load_ps(swb + g * 16);
        const float* sxg = sx + g;
        const int s1 = s0 + gs < steps ? s0 + gs : steps;
        int64_t t0 = 0;
        for (; t0 + 16 <= np; t0 += 16) run_steps<16>(dec, s0, s1, x0, x1, t0, sw, sxg, gpr, k.c128, f);
        switch (np - t0) {
          case 12: run_steps<12>(dec, s0, s1, x0, x1, t0, sw, sxg, gpr, k.c128, f); break;
          case 8: run_steps<8>(dec, s0, s1, x0, x1, t0, sw, sxg, gpr, k.c128, f); break;
          case 4: run_steps<4>(dec, s0, s1, x0, x1, t0, sw, sxg, gpr, k.c128, f); break;
          default: break;
        }
      }
    }
    for (int64_t t = 0; t < N; ++t)
      for (int i = 0; i < rr; ++i) out.store(rg + i, t, f[t * 16 + i]);
  }
}

void qgemm_pick_nm24(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  if (a.quant.asym) pick_q4<true>(a, x, r0, r1, out);
  else pick_q4<false>(a, x, r0, r1, out);
}

}  // namespace

SpmmKernel select_qspmm_pick_x8(const MatrixView& a, int64_t n) {
  const CpuFeatures& f = cpu_features();
  if (n < 2 || n > kX8GemmMaxN || !f.avx512vnni || !f.avx512vbmi || a.quant.bits != 4 || a.format != Format::nm || a.n != 2 || a.m != 4) return SpmmKernel{};
  SpmmKernel k{qgemm_pick_nm24, XLayout::n_major, "qspmm_gemm_pick_nm24_int4_x8_vnni", true, 1};
  k.workspace = pick_workspace;
  k.prepare_bytes = pick_prepare_bytes;
  k.prepare = pick_prepare;
  return k;
}

}  // namespace sk
SK_TARGET_END
#else
namespace sk {
SpmmKernel select_qspmm_pick_x8(const MatrixView&, int64_t) { return SpmmKernel{}; }
}  // namespace sk
#endif
