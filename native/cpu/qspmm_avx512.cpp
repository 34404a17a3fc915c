// AVX-512 (F/BW/VL/DQ + VBMI2) kernels for quantized weights: dense, nm and bitmap with 4- or 8-bit
// codes (formats/quant.h). Activations stay fp32; weights are dequantized in registers:
//   N = 1 ("gemv"): 32 columns per step. 4-bit codes are unpacked to bytes, the zero point is
//     subtracted in bytes (code - zero fits int8), sparse rows are placed at their columns with
//     vpexpandb, then sign-extended, converted and FMA'd with x. 8-bit codes go through int32.
//   N > 1: the panel GEMM of qspmm_avx512_gemm.inl (built into spmm_avx512.cpp), except sparse
//     bitmap rows with many vectors ("outer"): each kept weight, centered and converted once, is
//     broadcast against its x row (x is k-major, N padded to 16): only kept weights cost work.
// Each group's fp32 sum is multiplied by its fp16 scale once (docs/kernels.md, quantized kernels).
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../core/dtype.h"
#include "../formats/quant.h"
#include "core/isa_target.h"
#include "qspmm.h"

#if SK_HAVE_X86
SK_TARGET_BEGIN_AVX512
namespace sk {
namespace {

#include "avx512_expand.inl"
#include "qspmm_avx512_decode.inl"

template <int Fmt, int Bits>
void qgemv(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const QMat<Fmt, Bits> A(a);
  for (int64_t r = r0; r < r1; ++r) {
    int64_t vi = A.row_start(r);
    const uint32_t* rmask = Fmt == kDense ? nullptr : A.masks + r * A.wpr;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t g = 0; g < A.gpr; ++g) {
      const int64_t gi = r * A.gpr + g;
      const int z = A.zero(gi);
      const __m512i zb = _mm512_set1_epi8(char(z)), z32 = _mm512_set1_epi32(z);
      __m512 g0 = _mm512_setzero_ps(), g1 = _mm512_setzero_ps(), g2 = _mm512_setzero_ps(), g3 = _mm512_setzero_ps();
      const int64_t ch0 = g * A.cpg;
      int64_t ch = ch0;
      for (; ch + 2 <= ch0 + A.cpg; ch += 2) {
        __m512 w0, w1, w2, w3;
        decode_dense_cols<Fmt, Bits>(A, rmask, ch, vi, zb, z32, w0, w1);
        decode_dense_cols<Fmt, Bits>(A, rmask, ch + 1, vi, zb, z32, w2, w3);
        const float* xs = x.data + ch * 32;
        g0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xs), g0);
        g1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xs + 16), g1);
        g2 = _mm512_fmadd_ps(w2, _mm512_loadu_ps(xs + 32), g2);
        g3 = _mm512_fmadd_ps(w3, _mm512_loadu_ps(xs + 48), g3);
      }
      if (ch < ch0 + A.cpg) {  // group of 32 columns
        __m512 w0, w1;
        decode_dense_cols<Fmt, Bits>(A, rmask, ch, vi, zb, z32, w0, w1);
        const float* xs = x.data + ch * 32;
        g0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xs), g0);
        g1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xs + 16), g1);
      }
      acc = _mm512_fmadd_ps(_mm512_add_ps(_mm512_add_ps(g0, g1), _mm512_add_ps(g2, g3)), _mm512_set1_ps(A.scale(gi)), acc);
    }
    out.store(r, 0, _mm512_reduce_add_ps(acc));
  }
}

// 2:4 8-bit at N = 1: every 64 columns keep exactly 32 codes, at a fixed offset (no popcount
// cursor). One 32-byte load and one vpexpandb under the 64-bit mask word, the zero point filling
// the pruned columns: 64 code bytes in column order, i.e. 16 dwords whose byte k is column 4i + k.
// Byte k is taken out by a shift and one vpternlogd that also ORs in the bits of 2^23 (no
// shuffles: widening by vpmovzxbd took 4 extracts and 4 widenings per 64 columns, all on the
// shuffle pipe); the float 2^23 + code minus 2^23 + zero is code - zero exactly (no int32
// conversion), FMA'd with x staged per task in the same order (stage_x_planes4). G = 32 takes 32
// columns a step.
template <int G, bool Asym>
void qgemv_nm24_int8(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  constexpr int W = G < 64 ? G : 64;  // columns per step
  const QMat<kNM, 8> A(a);
  const char* masks = reinterpret_cast<const char*>(A.masks);
  const float* xs = stage_x_planes4(x.data, A.cols, static_cast<float*>(x.workspace));
  const __m512i ff = _mm512_set1_epi32(0xff), magic = _mm512_set1_epi32(0x4b000000);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* codes = A.codes + r * A.per_row;
    const char* rm = masks + r * A.wpr * 4;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t g = 0; g < A.gpr; ++g) {
      const int64_t gi = r * A.gpr + g;
      const int z = Asym ? A.zero(gi) : 128;
      const __m512i zb = _mm512_set1_epi8(char(z));
      const __m512 zf = _mm512_set1_ps(8388608.f + float(z));
      __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
      for (int64_t c = g * G; c < (g + 1) * G; c += W) {
        uint64_t km = 0;
        std::memcpy(&km, rm + c / 8, W / 8);
        const __m512i cb = W == 64 ? _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + c / 2)))
                                   : _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + c / 2)));
        const __m512i cv = _mm512_mask_expand_epi8(zb, __mmask64(km), cb);
        for (int k = 0; k < 4; ++k) {
          // (byte & 0xff) | bits of 2^23 is the float 2^23 + byte; minus 2^23 + z: code - z, exact.
          const __m512i b = _mm512_ternarylogic_epi32(k ? _mm512_srli_epi32(cv, 8 * k) : cv, ff, magic, 0xea);
          const __m512 wk = _mm512_sub_ps(_mm512_castsi512_ps(b), zf);
          // W = 32: the step's 8 dwords meet the first or second half of the 64-column block's
          // plane; the dwords past them hold zero points (centered: 0) against no x.
          const __m512 xk = W == 64 ? _mm512_load_ps(xs + c + 16 * k) : _mm512_maskz_loadu_ps(0xff, xs + (c & ~int64_t(63)) + 16 * k + (c & 32) / 4);
          s[k] = _mm512_fmadd_ps(wk, xk, s[k]);
        }
      }
      acc = _mm512_fmadd_ps(_mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3])), _mm512_set1_ps(_cvtsh_ss(A.scales[gi])), acc);
    }
    out.store(r, 0, _mm512_reduce_add_ps(acc));
  }
}

SpmmKernel nm24_int8_gemv(const MatrixView& a) {
  static constexpr SpmmKernelFn kFns[4][2] = {{qgemv_nm24_int8<32, false>, qgemv_nm24_int8<32, true>}, {qgemv_nm24_int8<64, false>, qgemv_nm24_int8<64, true>},
                                             {qgemv_nm24_int8<128, false>, qgemv_nm24_int8<128, true>}, {qgemv_nm24_int8<256, false>, qgemv_nm24_int8<256, true>}};
  const int gi = a.quant.group == 32 ? 0 : a.quant.group == 64 ? 1 : a.quant.group == 128 ? 2 : 3;
  SpmmKernel k{kFns[gi][a.quant.asym], XLayout::k_major, "qspmm_gemv_nm24_int8_avx512", true, 1};
  k.workspace = [](int64_t, int64_t, int64_t kp) { return size_t(kp) * sizeof(float) + 64; };
  return k;
}

// Chunk ch's kept weights, centered, as floats w[0..cnt) with their columns k[0..cnt).
template <int Fmt, int Bits>
inline int decode_kept(const QMat<Fmt, Bits>& A, const uint32_t* rmask, int64_t ch, int64_t& vi, int z, float* w, int32_t* k) {
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i base = _mm512_add_epi32(iota, _mm512_set1_epi32(int32_t(ch * 32)));
  const __m512i z32 = _mm512_set1_epi32(z);
  static_assert(Fmt == kBitmap, "the outer products serve sparse bitmap rows only (pick)");
  const uint32_t bits = rmask[ch];
  const int c0 = __builtin_popcount(bits & 0xffffu), cnt = c0 + __builtin_popcount(bits >> 16);
  _mm512_storeu_si512(k, _mm512_maskz_compress_epi32(__mmask16(bits), base));
  _mm512_storeu_si512(k + c0, _mm512_maskz_compress_epi32(__mmask16(bits >> 16), _mm512_add_epi32(base, _mm512_set1_epi32(16))));
  if constexpr (Bits == 4) {
    const __m256i sb = _mm256_sub_epi8(unpack_nibbles(load_nibbles(A.codes, vi, cnt)), _mm256_set1_epi8(char(z)));
    _mm512_storeu_ps(w, bytes_to_f32(_mm256_castsi256_si128(sb)));
    _mm512_storeu_ps(w + 16, bytes_to_f32(_mm256_extracti128_si256(sb, 1)));
  } else {
    const __m256i b = _mm256_maskz_loadu_epi8(__mmask32((uint64_t(1) << cnt) - 1), A.codes + vi);
    _mm512_storeu_ps(w, _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(b)), z32)));
    _mm512_storeu_ps(w + 16, _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(b, 1)), z32)));
  }
  vi += cnt;
  return cnt;
}

// N > 1: JV vectors of 16 outputs per row; C independent accumulator sets hide the FMA latency.
template <int Fmt, int Bits, int JV>
void qouter_block(const QMat<Fmt, Bits>& A, const Activations& x, int64_t r0, int64_t r1, int64_t j0, const OutputSpec& out) {
  constexpr int C = JV >= 3 ? 1 : 4 / JV;
  const int64_t ld = x.ld, nj = x.n - j0 < 16 * JV ? x.n - j0 : 16 * JV;
  const float* xb = x.data + j0;
  alignas(64) float w[32];
  alignas(64) int32_t k[32];
  for (int64_t r = r0; r < r1; ++r) {
    int64_t vi = A.row_start(r);
    const uint32_t* rmask = Fmt == kDense ? nullptr : A.masks + r * A.wpr;
    __m512 acc[JV];
    for (int v = 0; v < JV; ++v) acc[v] = _mm512_setzero_ps();
    for (int64_t g = 0; g < A.gpr; ++g) {
      const int64_t gi = r * A.gpr + g;
      const int z = A.zero(gi);
      __m512 ga[C][JV];
      for (int c = 0; c < C; ++c)
        for (int v = 0; v < JV; ++v) ga[c][v] = _mm512_setzero_ps();
      for (int64_t ch = g * A.cpg; ch < (g + 1) * A.cpg; ++ch) {
        const int cnt = decode_kept<Fmt, Bits>(A, rmask, ch, vi, z, w, k);
        int i = 0;
        for (; i + C <= cnt; i += C)
          for (int c = 0; c < C; ++c) {
            const __m512 wv = _mm512_set1_ps(w[i + c]);
            const float* xr = xb + int64_t(k[i + c]) * ld;
            for (int v = 0; v < JV; ++v) ga[c][v] = _mm512_fmadd_ps(wv, _mm512_load_ps(xr + 16 * v), ga[c][v]);
          }
        for (; i < cnt; ++i) {
          const __m512 wv = _mm512_set1_ps(w[i]);
          const float* xr = xb + int64_t(k[i]) * ld;
          for (int v = 0; v < JV; ++v) ga[0][v] = _mm512_fmadd_ps(wv, _mm512_load_ps(xr + 16 * v), ga[0][v]);
        }
      }
      const __m512 s = _mm512_set1_ps(A.scale(gi));
      for (int v = 0; v < JV; ++v) {
        __m512 t = ga[0][v];
        for (int c = 1; c < C; ++c) t = _mm512_add_ps(t, ga[c][v]);
        acc[v] = _mm512_fmadd_ps(t, s, acc[v]);
      }
    }
    alignas(64) float res[16 * JV];
    for (int v = 0; v < JV; ++v) _mm512_store_ps(res + 16 * v, acc[v]);
    for (int64_t j = 0; j < nj; ++j) out.store(r, j0 + j, res[j]);
  }
}

template <int Fmt, int Bits>
void qouter(const MatrixView& a, const Activations& x, int64_t r0, int64_t r1, const OutputSpec& out) {
  const QMat<Fmt, Bits> A(a);
  for (int64_t j0 = 0; j0 < x.n; j0 += 64) {
    switch ((x.n - j0 >= 64 ? 64 : x.n - j0 + 15) / 16) {
      case 1: qouter_block<Fmt, Bits, 1>(A, x, r0, r1, j0, out); break;
      case 2: qouter_block<Fmt, Bits, 2>(A, x, r0, r1, j0, out); break;
      case 3: qouter_block<Fmt, Bits, 3>(A, x, r0, r1, j0, out); break;
      default: qouter_block<Fmt, Bits, 4>(A, x, r0, r1, j0, out); break;
    }
  }
}

// N > 1: the panel GEMM (qspmm_avx512_gemm.inl) decodes every chunk and does dense work at N
// rounded up to 16, 2-2.7x faster than the outer products for dense and 2:4 and for bitmap at
// N <= 16 (docs/kernels.md); the outer products do work per kept weight and win for sparse bitmap
// rows with many vectors.
constexpr double kOuterDensity = 0.35;
constexpr int64_t kOuterMinN = 32;

template <int Fmt, int Bits> SpmmKernel pick(const MatrixView& a, int64_t n) {
  static const char* const kGemv8[3] = {"qspmm_gemv_dense_int8_avx512", "qspmm_gemv_nm_int8_avx512", "qspmm_gemv_bitmap_int8_avx512"};
  if constexpr (Bits == 8) {  // 4-bit at N = 1: qspmm_avx512_lut.cpp
    if (n == 1 && Fmt == kNM && a.n == 2 && a.m == 4) return nm24_int8_gemv(a);
    if (n == 1) return {qgemv<Fmt, Bits>, XLayout::k_major, kGemv8[Fmt], false, 1};
  }
  if constexpr (Fmt == kBitmap)
    if (n > kOuterMinN && double(a.as<int32_t>(Part::row_ptr)[a.rows]) < kOuterDensity * double(a.rows) * double(a.cols))
      return {qouter<Fmt, Bits>, XLayout::k_major, Bits == 4 ? "qspmm_outer_bitmap_int4_avx512" : "qspmm_outer_bitmap_int8_avx512", false, 16};
  return select_qspmm_avx512_gemm(a, n);
}

}  // namespace

SpmmKernel select_qspmm_avx512(const MatrixView& a, int64_t n) {
  const bool b8 = a.quant.bits == 8;
  switch (a.format) {
    case Format::dense: return b8 ? pick<kDense, 8>(a, n) : pick<kDense, 4>(a, n);
    case Format::nm: return b8 ? pick<kNM, 8>(a, n) : pick<kNM, 4>(a, n);
    case Format::bitmap: return b8 ? pick<kBitmap, 8>(a, n) : pick<kBitmap, 4>(a, n);
    default: return SpmmKernel{};
  }
}

}  // namespace sk
SK_TARGET_END
#else
namespace sk {
SpmmKernel select_qspmm_avx512(const MatrixView&, int64_t) { return SpmmKernel{}; }
}  // namespace sk
#endif
