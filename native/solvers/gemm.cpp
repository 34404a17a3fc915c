// Blocked GEMM driver. For each kGemmKc-deep slice of K, A and B are packed once into MR-row and
// NR-column panels (in parallel), then C's kMc x kNc tiles run as pool tasks calling the ISA's
// micro-kernel on every MR x NR sub-tile. Packing absorbs the transposes, so one micro-kernel
// serves NN, NT and TN products. Packed buffers belong to the calling thread and are reused.
#include <algorithm>
#include <vector>

#include "../core/thread_pool.h"
#include "linalg.h"

namespace sk {

const LinalgKernels& linalg_kernels(Isa isa) {
  const LinalgKernels* k = nullptr;
  if (isa == Isa::avx512) k = linalg_kernels_avx512();
  if (!k && (isa == Isa::avx512 || isa == Isa::avx2)) k = linalg_kernels_avx2();
  if (!k) k = linalg_kernels_portable();
  return *k;
}

namespace {

// Multiples of every MR (4, 6, 12) and NR (8, 16, 32): a tile's A panels stay in L2 while its
// B panels stream through L1.
constexpr int64_t kMc = 144;
constexpr int64_t kNc = 384;

// Packs a panel of `w` lines (x = 0..w-1, zero beyond `valid`) by `kc` deep, k-major, from a
// matrix whose element (x, k) lives at src[x*sx + k*sk]. A's row panels and B's column panels are
// both such panels; the loop order follows whichever stride is 1.
void pack_panel(const float* src, int64_t sx, int64_t sk, int64_t valid, int w, int64_t kc, float* dst) {
  for (int64_t k = 0; k < kc; ++k) {
    const float* s = src + k * sk;
    float* d = dst + k * w;
    int64_t x = 0;
    if (sx == 1)
      for (; x < valid; ++x) d[x] = s[x];
    else
      for (; x < valid; ++x) d[x] = s[x * sx];  // `valid` streams, each read in order over k
    for (; x < w; ++x) d[x] = 0.f;
  }
}

// Panel p of A (rows p*mr ..) and panel q of B (columns q*nr ..) for K slice [k0, k0 + kc).
void pack_a_panel(const GemmArgs& g, int64_t p, int64_t k0, int64_t kc, int mr, float* dst) {
  const int64_t i0 = p * mr;
  const int64_t sx = g.a_trans ? 1 : g.lda, sk = g.a_trans ? g.lda : 1;
  pack_panel(g.a + i0 * sx + k0 * sk, sx, sk, std::min<int64_t>(mr, g.m - i0), mr, kc, dst);
}

void pack_b_panel(const GemmArgs& g, int64_t q, int64_t k0, int64_t kc, int nr, float* dst) {
  const int64_t j0 = q * nr;
  const int64_t sx = g.b_trans ? g.ldb : 1, sk = g.b_trans ? 1 : g.ldb;
  pack_panel(g.b + j0 * sx + k0 * sk, sx, sk, std::min<int64_t>(nr, g.n - j0), nr, kc, dst);
}

// Does row tile [i0, i0 + mc) need K slice [k0, k0 + kc)? (The shape hints let us skip slices
// whose A entries are known to be zero.)
bool needs_slice(const GemmArgs& g, int64_t i0, int64_t mc, int64_t k0, int64_t kc) {
  if (g.shape == GemmShape::upper_a) return k0 + kc > i0;
  if (g.shape == GemmShape::lower_a) return k0 < i0 + mc;
  return true;
}

void run_tile(const GemmArgs& g, const LinalgKernels& mk, int64_t i0, int64_t j0, int64_t k0, int64_t kc,
              const float* apack, const float* bpack) {
  const int64_t mc = std::min(kMc, g.m - i0), nc = std::min(kNc, g.n - j0);
  if (g.shape == GemmShape::lower_c && j0 > i0 + mc - 1) return;
  if (!needs_slice(g, i0, mc, k0, kc)) return;
  const int mr = mk.mr, nr = mk.nr;
  float tile[32 * 64];
  for (int64_t q = 0; q < nc; q += nr) {
    const float* bp = bpack + (j0 + q) * kc;
    const int64_t cols = std::min<int64_t>(nr, nc - q);
    for (int64_t p = 0; p < mc; p += mr) {
      if (g.shape == GemmShape::lower_c && j0 + q > i0 + p + mr - 1) continue;
      const float* ap = apack + (i0 + p) * kc;
      const int64_t rows = std::min<int64_t>(mr, mc - p);
      const int64_t off = (i0 + p) * g.ldc + j0 + q;
      if (rows == mr && cols == nr) {
        mk.gemm(kc, ap, bp, g.cd ? nullptr : g.c + off, g.cd ? g.cd + off : nullptr, g.ldc, g.alpha);
        continue;
      }
      std::fill(tile, tile + mr * nr, 0.f);
      mk.gemm(kc, ap, bp, tile, nullptr, nr, g.alpha);
      for (int64_t a = 0; a < rows; ++a)
        for (int64_t b = 0; b < cols; ++b) {
          if (g.cd) g.cd[off + a * g.ldc + b] += double(tile[a * nr + b]);
          else g.c[off + a * g.ldc + b] += tile[a * nr + b];
        }
    }
  }
}

}  // namespace

void gemm(const GemmArgs& g) {
  if (g.m <= 0 || g.n <= 0 || g.k <= 0) return;
  const LinalgKernels& mk = linalg_kernels(active_isa());
  const int mr = mk.mr, nr = mk.nr;
  const int64_t pa = (g.m + mr - 1) / mr, pb = (g.n + nr - 1) / nr;
  thread_local std::vector<float> apack, bpack;
  const int64_t kmax = std::min(kGemmKc, g.k);
  if (apack.size() < size_t(pa * mr * kmax)) apack.resize(size_t(pa * mr * kmax));
  if (bpack.size() < size_t(pb * nr * kmax)) bpack.resize(size_t(pb * nr * kmax));
  // Plain pointers: inside the tasks `apack` would name the worker thread's own (empty) vector.
  float* const ap = apack.data();
  float* const bp = bpack.data();
  const int64_t tm = (g.m + kMc - 1) / kMc, tn = (g.n + kNc - 1) / kNc;
  for (int64_t k0 = 0; k0 < g.k; k0 += kGemmKc) {
    const int64_t kc = std::min(kGemmKc, g.k - k0);
    // Panels of A for row tiles that use this slice; all of B's (any row tile may need them).
    parallel_range(pa + pb, 8, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        if (t < pa) {
          const int64_t i0 = t * mr / kMc * kMc;
          if (needs_slice(g, i0, std::min(kMc, g.m - i0), k0, kc)) pack_a_panel(g, t, k0, kc, mr, ap + t * mr * kc);
        } else {
          pack_b_panel(g, t - pa, k0, kc, nr, bp + (t - pa) * nr * kc);
        }
      }
    });
    parallel_for(tm * tn, [&](int64_t t) {
      run_tile(g, mk, (t / tn) * kMc, (t % tn) * kNc, k0, kc, ap, bp);
    });
  }
}

}  // namespace sk
