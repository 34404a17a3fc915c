// Blocked GEMM driver: C is cut into kMc x kNc tiles run as pool tasks; each task packs its A and
// B blocks (kGemmKc deep) into panels and calls the ISA's micro-kernel on every MR x NR sub-tile.
// Packing absorbs the transposes, so one micro-kernel serves NN, NT and TN products.
#include <algorithm>
#include <vector>

#include "../core/thread_pool.h"
#include "linalg.h"

namespace sk {

const GemmMicroKernel& gemm_micro_kernel(Isa isa) {
  const GemmMicroKernel* k = nullptr;
  if (isa == Isa::avx512) k = gemm_micro_kernel_avx512();
  if (!k && (isa == Isa::avx512 || isa == Isa::avx2)) k = gemm_micro_kernel_avx2();
  if (!k) k = gemm_micro_kernel_portable();
  return *k;
}

namespace {

// Multiples of every MR (4, 6, 12) and NR (8, 16, 32); the A block stays in L2 while B panels stream.
constexpr int64_t kMc = 144;
constexpr int64_t kNc = 384;

void pack_a(const GemmArgs& g, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int mr, float* dst) {
  for (int64_t p = 0; p < mc; p += mr) {
    const int64_t rows = std::min<int64_t>(mr, mc - p);
    if (g.a_trans) {
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = g.a + (k0 + k) * g.lda + i0 + p;
        float* d = dst + k * mr;
        int64_t a = 0;
        for (; a < rows; ++a) d[a] = src[a];
        for (; a < mr; ++a) d[a] = 0.f;
      }
    } else {
      for (int64_t a = 0; a < mr; ++a) {
        if (a < rows) {
          const float* src = g.a + (i0 + p + a) * g.lda + k0;
          for (int64_t k = 0; k < kc; ++k) dst[k * mr + a] = src[k];
        } else {
          for (int64_t k = 0; k < kc; ++k) dst[k * mr + a] = 0.f;
        }
      }
    }
    dst += kc * mr;
  }
}

void pack_b(const GemmArgs& g, int64_t j0, int64_t nc, int64_t k0, int64_t kc, int nr, float* dst) {
  for (int64_t q = 0; q < nc; q += nr) {
    const int64_t cols = std::min<int64_t>(nr, nc - q);
    if (!g.b_trans) {
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = g.b + (k0 + k) * g.ldb + j0 + q;
        float* d = dst + k * nr;
        int64_t b = 0;
        for (; b < cols; ++b) d[b] = src[b];
        for (; b < nr; ++b) d[b] = 0.f;
      }
    } else {
      for (int64_t b = 0; b < nr; ++b) {
        if (b < cols) {
          const float* src = g.b + (j0 + q + b) * g.ldb + k0;
          for (int64_t k = 0; k < kc; ++k) dst[k * nr + b] = src[k];
        } else {
          for (int64_t k = 0; k < kc; ++k) dst[k * nr + b] = 0.f;
        }
      }
    }
    dst += kc * nr;
  }
}

void update_c(const GemmArgs& g, int64_t i, int64_t j, int64_t rows, int64_t cols, const float* __restrict tile, int nr) {
  const float alpha = g.alpha;
  const int64_t ldc = g.ldc;
  if (g.cd) {
    for (int64_t a = 0; a < rows; ++a) {
      double* __restrict c = g.cd + (i + a) * ldc + j;
      const float* __restrict t = tile + a * nr;
      for (int64_t b = 0; b < cols; ++b) c[b] += double(alpha * t[b]);
    }
  } else {
    for (int64_t a = 0; a < rows; ++a) {
      float* __restrict c = g.c + (i + a) * ldc + j;
      const float* __restrict t = tile + a * nr;
      for (int64_t b = 0; b < cols; ++b) c[b] += alpha * t[b];
    }
  }
}

void run_tile(const GemmArgs& g, const GemmMicroKernel& mk, int64_t i0, int64_t j0) {
  const int64_t mc = std::min(kMc, g.m - i0), nc = std::min(kNc, g.n - j0);
  if (g.shape == GemmShape::lower_c && j0 > i0 + mc - 1) return;
  int64_t kb = 0, ke = g.k;
  if (g.shape == GemmShape::upper_a) kb = std::min(i0, g.k);
  if (g.shape == GemmShape::lower_a) ke = std::min(g.k, i0 + mc);
  if (kb >= ke) return;
  const int mr = mk.mr, nr = mk.nr;
  thread_local std::vector<float> abuf, bbuf, tile;
  const int64_t mcp = (mc + mr - 1) / mr * mr, ncp = (nc + nr - 1) / nr * nr;
  abuf.resize(size_t(mcp * kGemmKc));
  bbuf.resize(size_t(ncp * kGemmKc));
  tile.resize(size_t(mr * nr));
  for (int64_t k0 = kb; k0 < ke; k0 += kGemmKc) {
    const int64_t kc = std::min(kGemmKc, ke - k0);
    pack_a(g, i0, mc, k0, kc, mr, abuf.data());
    pack_b(g, j0, nc, k0, kc, nr, bbuf.data());
    for (int64_t q = 0; q < nc; q += nr) {
      const float* bp = bbuf.data() + q * kc;
      for (int64_t p = 0; p < mc; p += mr) {
        if (g.shape == GemmShape::lower_c && j0 + q > i0 + p + mr - 1) continue;
        mk.run(kc, abuf.data() + p * kc, bp, tile.data());
        update_c(g, i0 + p, j0 + q, std::min<int64_t>(mr, mc - p), std::min<int64_t>(nr, nc - q), tile.data(), nr);
      }
    }
  }
}

}  // namespace

void gemm(const GemmArgs& g) {
  if (g.m <= 0 || g.n <= 0 || g.k <= 0) return;
  const GemmMicroKernel& mk = gemm_micro_kernel(active_isa());
  const int64_t tm = (g.m + kMc - 1) / kMc, tn = (g.n + kNc - 1) / kNc;
  parallel_for(tm * tn, [&](int64_t t) { run_tile(g, mk, (t / tn) * kMc, (t % tn) * kNc); });
}

}  // namespace sk
