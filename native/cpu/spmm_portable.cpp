// Portable instantiation of spmm_kernels.inl: plain C++ on 8-float arrays that the compiler maps to
// whatever vector unit the baseline target has (SSE2 on x86-64, NEON on arm64).
#include <cstdint>

#include "../core/dtype.h"
#include "spmm.h"

namespace sk {
namespace {

struct VT {
  struct V { float v[8]; };
  static constexpr int W = 8, CW = 8, NV = 1, kJ = 4, kRv = 2, kRvDense = 2, kRv32 = 2, kRb = 2, kJV = 2, kGemvChains = 2;
  static constexpr bool kGemvApart = false, kGemvApartDense = false;
  static constexpr bool kPrefetch16 = false, kPrefetch32 = false;  // not measured
  static constexpr double kOuterDensity = 0.25;
  static constexpr bool kHalfPairs = false;  // AVX2 only: pairs of byte-mask chunks
  static constexpr bool kCursorPairs = false;

  static V zero() { return V{}; }
  static V load(const float* p) { V r; for (int i = 0; i < 8; ++i) r.v[i] = p[i]; return r; }
  static V load_tail(const float* p, int cnt) { V r{}; for (int i = 0; i < cnt; ++i) r.v[i] = p[i]; return r; }
  static void store(float* p, V a) { for (int i = 0; i < 8; ++i) p[i] = a.v[i]; }
  static V set1(float s) { V r; for (int i = 0; i < 8; ++i) r.v[i] = s; return r; }
  static V fma(V a, V b, V c) { for (int i = 0; i < 8; ++i) c.v[i] += a.v[i] * b.v[i]; return c; }
  static V add(V a, V b) { for (int i = 0; i < 8; ++i) a.v[i] += b.v[i]; return a; }
  static float hsum(V a) { return ((a.v[0] + a.v[4]) + (a.v[1] + a.v[5])) + ((a.v[2] + a.v[6]) + (a.v[3] + a.v[7])); }

  template <class D> static V load_w(const typename D::T* p) { V r; for (int i = 0; i < 8; ++i) r.v[i] = D::to_f32(p[i]); return r; }
  template <class D> static V load_w_tail(const typename D::T* p, int cnt) {
    V r{};
    for (int i = 0; i < cnt; ++i) r.v[i] = D::to_f32(p[i]);
    return r;
  }
  template <class D> static void dense_chunk(const typename D::T* p, V* o) { o[0] = load_w<D>(p); }
  template <class D> static void dense_tail(const typename D::T* p, int cnt, V* o) { o[0] = load_w_tail<D>(p, cnt); }
  template <class D, bool Safe> static const typename D::T* sparse_chunk(const typename D::T* p, uint32_t bits, const typename D::T*, V* o) {
    V r{};
    for (int i = 0; i < 8; ++i)
      if (bits >> i & 1u) r.v[i] = D::to_f32(*p++);
    o[0] = r;
    return p;
  }
  static int mask_cols(uint32_t bits, int32_t base, int32_t* out) {
    int n = 0;
    for (; bits; bits &= bits - 1) out[n++] = base + __builtin_ctz(bits);
    return n;
  }
  static V gather(const float* base, const int32_t* idx) { V r; for (int i = 0; i < 8; ++i) r.v[i] = base[idx[i]]; return r; }
};

#define SK_ISA_NAME "portable"
// Forced unrolling of 8-float array "vectors" made GCC spend ~40 s on this one file.
#define SK_KERNELS_NO_FORCED_UNROLL
#include "spmm_kernels.inl"
#undef SK_KERNELS_NO_FORCED_UNROLL
#undef SK_ISA_NAME

}  // namespace

SpmmKernel select_spmm_portable(const MatrixView& a, int64_t n) { return pick_kernel(a, n); }

}  // namespace sk
