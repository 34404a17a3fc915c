// AVX-512 VNNI kernels for quantized weights at N = 1 with int8 activations (opt-in:
// linear(..., { activations: 'int8' }), QuantSpec::act_int8), as llama.cpp does for its k-quants:
//   x is rounded per weight group (the same G columns): s_x = max|x| / 127, xq = round(x / s_x);
//   each group's Σ code·xq is exact in int32 (vpdpbusd: unsigned codes × signed xq), the zero
//   point is subtracted as zero·Σ xq over the kept columns, and the group adds
//   scale·s_x·(Σ code·xq − zero·Σ xq) to an fp32 accumulator.
// Dense 4-bit rows read 32 code bytes per 64 columns and split them into low and high nibbles
// (columns 2j and 2j+1); x is staged in that order (per 64 columns: the even columns, then the
// odd ones), so no interleave is needed. Sparse rows compress x's int8 copy to the kept columns
// (vpcompressb) instead of expanding the weights.
#include <immintrin.h>

#include <cstdint>

#include "../core/dtype.h"
#include "../formats/quant.h"
#include "core/isa_target.h"
#include "qspmm.h"

#if SK_HAVE_X86
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's reduce / cast intrinsics read an "undefined" register and warn about it (harmless).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi2,avx512vnni,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi2,avx512vnni,fma,f16c")
#endif
namespace sk {
namespace {

enum QFmt { kDense = 0, kNM = 1, kBitmap = 2 };

// Workspace: xq (kp bytes, 64-aligned), then per group s_x (float) and Σ xq (int32).
struct XQ {
  const int8_t* q;
  const float* scale;
  const int32_t* sum;
};

// Dense 4-bit rows want each 64-column block as [even columns, odd columns] (B = 64), or per 32
// columns when the group is 32; everything else keeps column order (B = 0).
XQ quantize_x(const float* x, int64_t cols, int group, int block, void* ws) {
  int8_t* q = static_cast<int8_t*>(ws);
  const int64_t groups = cols / group;
  float* sc = reinterpret_cast<float*>(q + (cols + 63) / 64 * 64);
  int32_t* sum = reinterpret_cast<int32_t*>(sc + groups);
  for (int64_t g = 0; g < groups; ++g) {
    const float* xg = x + g * group;
    __m512 m = _mm512_setzero_ps();
    for (int i = 0; i < group; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(xg + i)));
    const float amax = _mm512_reduce_max_ps(m);
    const float s = amax > 0.f ? amax / 127.f : 1.f;
    const __m512 sv = _mm512_set1_ps(s);
    __m512i tot = _mm512_setzero_si512();
    for (int i = 0; i < group; i += 16) {
      // Round to nearest even; |x|/s can exceed 127 by an ulp, so clamp.
      __m512i v = _mm512_cvtps_epi32(_mm512_roundscale_ps(_mm512_div_ps(_mm512_loadu_ps(xg + i), sv), _MM_FROUND_TO_NEAREST_INT));
      v = _mm512_max_epi32(_mm512_min_epi32(v, _mm512_set1_epi32(127)), _mm512_set1_epi32(-127));
      tot = _mm512_add_epi32(tot, v);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + g * group + i), _mm512_cvtepi32_epi8(v));
    }
    sc[g] = s;
    sum[g] = _mm512_reduce_add_epi32(tot);
  }
  // Dense 4-bit order: each block's even columns, then its odd ones.
  if (block == 64) {
    for (int64_t b = 0; b < cols; b += 64) {
      const __m512i v = _mm512_load_si512(q + b);
      const __m512i e = _mm512_maskz_compress_epi8(0x5555555555555555ull, v), o = _mm512_maskz_compress_epi8(0xaaaaaaaaaaaaaaaaull, v);
      _mm512_store_si512(q + b, _mm512_inserti64x4(e, _mm512_castsi512_si256(o), 1));
    }
  } else if (block == 32) {
    for (int64_t b = 0; b < cols; b += 32) {
      const __m256i v = _mm256_load_si256(reinterpret_cast<const __m256i*>(q + b));
      const __m256i e = _mm256_maskz_compress_epi8(0x55555555u, v), o = _mm256_maskz_compress_epi8(0xaaaaaaaau, v);
      _mm256_store_si256(reinterpret_cast<__m256i*>(q + b), _mm256_inserti128_si256(e, _mm256_castsi256_si128(o), 1));
    }
  }
  return {q, sc, sum};
}

template <int Fmt, int Bits>
void qgemv_vnni(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const QuantSpec qs = a.quant;
  const int G = qs.group;
  const int64_t cols = a.cols, gpr = cols / G;
  const int block = Fmt == kDense && Bits == 4 ? (G == 32 ? 32 : 64) : 0;
  const XQ xq = quantize_x(x.data, cols, G, block, x.workspace);
  const uint8_t* codes = a.as<uint8_t>(Part::values);
  const uint16_t* scales = a.as<uint16_t>(Part::scales);
  const uint8_t* zeros = qs.asym ? a.as<uint8_t>(Part::zeros) : nullptr;
  const uint32_t* masks = Fmt == kDense ? nullptr : a.as<uint32_t>(Part::masks);
  const int64_t wpr = Fmt == kDense ? 0 : mask_words_per_row(cols);
  const int32_t* rp = Fmt == kBitmap ? a.as<int32_t>(Part::row_ptr) : nullptr;
  const int64_t per_row = Fmt == kNM ? nm_values_per_row(cols, a.n, a.m) : cols;
  const int kc = Fmt == kNM ? 32 * a.n / a.m : 32;
  const __m512i nib = _mm512_set1_epi8(0x0f);
  const __m256i ones = _mm256_set1_epi8(1);
  for (int64_t r = r0; r < r1; ++r) {
    int64_t vi = rp ? int64_t(rp[r]) : r * per_row;
    const uint32_t* rm = masks ? masks + r * wpr : nullptr;
    __m512 facc = _mm512_setzero_ps();
    float corr = 0.f;
    for (int64_t g = 0; g < gpr; ++g) {
      const int64_t gi = r * gpr + g;
      const int z = zeros ? zeros[gi] : (1 << (Bits - 1));
      const float s = _cvtsh_ss(scales[gi]) * xq.scale[g];  // F16C: the portable conversion branches
      const int64_t c0 = g * G;
      if constexpr (Fmt == kDense) {
        __m512i acc = _mm512_setzero_si512();
        if constexpr (Bits == 4) {
          const uint8_t* p = codes + ((vi + c0) >> 1);
          if (G == 32) {
            const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
            const __m256i u = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(c, _mm_set1_epi8(0x0f))),
                                                      _mm_and_si128(_mm_srli_epi16(c, 4), _mm_set1_epi8(0x0f)), 1);
            const __m256i d = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, _mm256_load_si256(reinterpret_cast<const __m256i*>(xq.q + c0)));
            acc = _mm512_zextsi256_si512(d);
          } else {
            for (int i = 0; i < G; i += 64) {
              const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i / 2));
              const __m512i cc = _mm512_inserti64x4(_mm512_castsi256_si512(c), _mm256_srli_epi16(c, 4), 1);
              acc = _mm512_dpbusd_epi32(acc, _mm512_and_si512(cc, nib), _mm512_load_si512(xq.q + c0 + i));
            }
          }
        } else {
          const uint8_t* p = codes + vi + c0;
          if (G == 32)
            acc = _mm512_zextsi256_si512(_mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)),
                                                             _mm256_load_si256(reinterpret_cast<const __m256i*>(xq.q + c0))));
          else
            for (int i = 0; i < G; i += 64)
              acc = _mm512_dpbusd_epi32(acc, _mm512_loadu_si512(p + i), _mm512_load_si512(xq.q + c0 + i));
        }
        facc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(s), facc);
        corr -= s * float(z) * float(xq.sum[g]);
      } else {
        __m256i acc = _mm256_setzero_si256(), xs = _mm256_setzero_si256();
        for (int64_t ch = c0 / 32; ch < (c0 + G) / 32; ++ch) {
          const uint32_t bits = rm[ch];
          const int cnt = Fmt == kNM ? kc : __builtin_popcount(bits);
          const __m256i xk = _mm256_maskz_compress_epi8(bits, _mm256_load_si256(reinterpret_cast<const __m256i*>(xq.q + ch * 32)));
          __m256i u;
          if constexpr (Bits == 4) {
            __m128i b;
            if (Fmt == kNM && kc == 16) {
              b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + (vi >> 1)));
            } else {
              const int odd = int(vi & 1), nb = (odd + cnt + 1) >> 1;
              const __m256i y = _mm256_maskz_loadu_epi8(__mmask32((uint64_t(1) << nb) - 1), codes + (vi >> 1));
              const __m128i lo = _mm256_castsi256_si128(y), next = _mm_alignr_epi8(_mm256_extracti128_si256(y, 1), lo, 8);
              b = _mm_or_si128(_mm_srl_epi64(lo, _mm_cvtsi32_si128(odd * 4)), _mm_sll_epi64(next, _mm_cvtsi32_si128(64 - odd * 4)));
            }
            // Nibbles to bytes in column order: byte 2j = low nibble of j, 2j+1 = high nibble.
            const __m256i t = _mm256_cvtepu8_epi16(b);
            u = _mm256_or_si256(_mm256_and_si256(t, _mm256_set1_epi16(0x000f)), _mm256_and_si256(_mm256_slli_epi16(t, 4), _mm256_set1_epi16(0x0f00)));
          } else {
            u = _mm256_maskz_loadu_epi8(__mmask32((uint64_t(1) << cnt) - 1), codes + vi);
          }
          vi += cnt;
          acc = _mm256_dpbusd_epi32(acc, u, xk);  // codes past cnt meet compressed zeros
          xs = _mm256_dpbusd_epi32(xs, ones, xk);
        }
        const __m256i d = _mm256_sub_epi32(acc, _mm256_mullo_epi32(xs, _mm256_set1_epi32(z)));
        facc = _mm512_fmadd_ps(_mm512_zextps256_ps512(_mm256_cvtepi32_ps(d)), _mm512_set1_ps(s), facc);
      }
    }
    out.store(r, 0, _mm512_reduce_add_ps(facc) + corr);
  }
}

template <int Fmt, int Bits> SpmmKernel pick() {
  static const char* const kNames[3][2] = {{"qspmm_gemv_dense_int4_x8_vnni", "qspmm_gemv_dense_int8_x8_vnni"},
                                           {"qspmm_gemv_nm_int4_x8_vnni", "qspmm_gemv_nm_int8_x8_vnni"},
                                           {"qspmm_gemv_bitmap_int4_x8_vnni", "qspmm_gemv_bitmap_int8_x8_vnni"}};
  return {qgemv_vnni<Fmt, Bits>, XLayout::k_major, kNames[Fmt][Bits == 8], true, 1};
}

}  // namespace

SpmmKernel select_qspmm_vnni(const MatrixView& a, int64_t n) {
  if (n != 1 || !a.quant.act_int8) return SpmmKernel{};
  const bool b8 = a.quant.bits == 8;
  switch (a.format) {
    case Format::dense: return b8 ? pick<kDense, 8>() : pick<kDense, 4>();
    case Format::nm: return b8 ? pick<kNM, 8>() : pick<kNM, 4>();
    case Format::bitmap: return b8 ? pick<kBitmap, 8>() : pick<kBitmap, 4>();
    default: return SpmmKernel{};
  }
}

}  // namespace sk
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#else
namespace sk {
SpmmKernel select_qspmm_vnni(const MatrixView&, int64_t) { return SpmmKernel{}; }
}  // namespace sk
#endif
