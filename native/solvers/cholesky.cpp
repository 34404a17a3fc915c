// Blocked right-looking Cholesky and lower-triangular inverse. The nb x nb diagonal blocks are
// factored / inverted in float64 (cheap, and it keeps the pivots accurate); the O(n³) parts are
// float32 GEMMs (panel solve, trailing SYRK, TRMM) on the shared pool.
#include <algorithm>
#include <cmath>
#include <vector>

#include "linalg.h"

namespace sk {

namespace {

constexpr int64_t kNb = 128;

bool aborted(const volatile int32_t* flag) { return flag && *flag != 0; }

// blk (nb x nb, row-major) lower triangle -> its Cholesky factor; returns the failing column or -1.
int64_t factor_block(double* blk, int64_t nb, double* pivot) {
  for (int64_t c = 0; c < nb; ++c) {
    double d = blk[c * nb + c];
    for (int64_t p = 0; p < c; ++p) d -= blk[c * nb + p] * blk[c * nb + p];
    if (!(d > 0) || !std::isfinite(d)) {
      *pivot = d;
      return c;
    }
    const double s = std::sqrt(d);
    blk[c * nb + c] = s;
    for (int64_t r = c + 1; r < nb; ++r) {
      double v = blk[r * nb + c];
      for (int64_t p = 0; p < c; ++p) v -= blk[r * nb + p] * blk[c * nb + p];
      blk[r * nb + c] = v / s;
    }
  }
  return -1;
}

// In float64: inv (nb x nb) = L⁻¹ for the lower-triangular L held in blk; strict upper set to 0.
void invert_block(const double* blk, int64_t nb, std::vector<double>& inv) {
  inv.assign(size_t(nb * nb), 0.0);
  for (int64_t c = 0; c < nb; ++c) {
    inv[c * nb + c] = 1.0 / blk[c * nb + c];
    for (int64_t r = c + 1; r < nb; ++r) {
      double v = 0;
      for (int64_t p = c; p < r; ++p) v += blk[r * nb + p] * inv[p * nb + c];
      inv[r * nb + c] = -v / blk[r * nb + r];
    }
  }
}

void load_block(const float* a, int64_t lda, int64_t nb, std::vector<double>& blk) {
  blk.assign(size_t(nb * nb), 0.0);
  for (int64_t r = 0; r < nb; ++r)
    for (int64_t c = 0; c <= r; ++c) blk[r * nb + c] = a[r * lda + c];
}

void store_block(const std::vector<double>& blk, int64_t nb, float* a, int64_t lda, bool zero_upper) {
  for (int64_t r = 0; r < nb; ++r) {
    for (int64_t c = 0; c <= r; ++c) a[r * lda + c] = float(blk[r * nb + c]);
    if (zero_upper)
      for (int64_t c = r + 1; c < nb; ++c) a[r * lda + c] = 0.f;
  }
}

// C (rows x nb at c, ldc) = alpha * A (rows x nb, packed lda = nb) * op(B) (nb x nb).
void panel_product(float* c, int64_t ldc, const float* a, int64_t rows, int64_t nb, const float* b, bool b_trans, float alpha) {
  for (int64_t r = 0; r < rows; ++r) std::fill(c + r * ldc, c + r * ldc + nb, 0.f);
  GemmArgs g;
  g.m = rows;
  g.n = nb;
  g.k = nb;
  g.a = a;
  g.lda = nb;
  g.b = b;
  g.ldb = nb;
  g.b_trans = b_trans;
  g.c = c;
  g.ldc = ldc;
  g.alpha = alpha;
  gemm(g);
}

void copy_panel(const float* src, int64_t lds, int64_t rows, int64_t nb, std::vector<float>& dst) {
  dst.resize(size_t(rows * nb));
  for (int64_t r = 0; r < rows; ++r) std::copy(src + r * lds, src + r * lds + nb, dst.data() + r * nb);
}

std::vector<float> to_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

}  // namespace

Status cholesky_lower(float* a, int64_t n, int64_t lda, CholeskyFailure* fail, const volatile int32_t* abort_flag) {
  std::vector<double> blk, inv;
  std::vector<float> panel;
  for (int64_t j = 0; j < n; j += kNb) {
    if (aborted(abort_flag)) return Status::Error(ErrorCode::aborted, "aborted");
    const int64_t nb = std::min(kNb, n - j), j2 = j + nb, rows = n - j2;
    float* d = a + j * lda + j;
    load_block(d, lda, nb, blk);
    double pivot = 0;
    const int64_t bad = factor_block(blk.data(), nb, &pivot);
    if (bad >= 0) {
      if (fail) *fail = {j + bad, pivot};
      return Status::Error(ErrorCode::numeric, "Cholesky factorization failed: pivot " + std::to_string(pivot) +
                                                   " at column " + std::to_string(j + bad));
    }
    store_block(blk, nb, d, lda, false);
    if (rows == 0) break;
    // L21 = A21 L11⁻ᵀ, then A22 -= L21 L21ᵀ (lower triangle only).
    invert_block(blk.data(), nb, inv);
    const std::vector<float> inv32 = to_float(inv);
    float* a21 = a + j2 * lda + j;
    copy_panel(a21, lda, rows, nb, panel);
    panel_product(a21, lda, panel.data(), rows, nb, inv32.data(), true, 1.f);
    GemmArgs g;
    g.m = g.n = rows;
    g.k = nb;
    g.a = a21;
    g.lda = lda;
    g.b = a21;
    g.ldb = lda;
    g.b_trans = true;
    g.c = a + j2 * lda + j2;
    g.ldc = lda;
    g.alpha = -1.f;
    g.shape = GemmShape::lower_c;
    gemm(g);
  }
  return Status::Ok();
}

Status invert_lower(float* a, int64_t n, int64_t lda, const volatile int32_t* abort_flag) {
  for (int64_t r = 0; r < n; ++r) std::fill(a + r * lda + r + 1, a + r * lda + n, 0.f);
  std::vector<double> blk, inv;
  std::vector<float> panel;
  const int64_t blocks = (n + kNb - 1) / kNb;
  // Right to left: X22 = L22⁻¹ is known when block j is reached, and
  // X21 = -X22 L21 L11⁻¹ only needs it and the original L21.
  for (int64_t bi = blocks - 1; bi >= 0; --bi) {
    if (aborted(abort_flag)) return Status::Error(ErrorCode::aborted, "aborted");
    const int64_t j = bi * kNb, nb = std::min(kNb, n - j), j2 = j + nb, rows = n - j2;
    float* d = a + j * lda + j;
    load_block(d, lda, nb, blk);
    invert_block(blk.data(), nb, inv);
    if (rows > 0) {
      float* x21 = a + j2 * lda + j;
      copy_panel(x21, lda, rows, nb, panel);
      for (int64_t r = 0; r < rows; ++r) std::fill(x21 + r * lda, x21 + r * lda + nb, 0.f);
      GemmArgs g;  // x21 = X22 * L21 (X22 lower triangular)
      g.m = rows;
      g.n = nb;
      g.k = rows;
      g.a = a + j2 * lda + j2;
      g.lda = lda;
      g.b = panel.data();
      g.ldb = nb;
      g.c = x21;
      g.ldc = lda;
      g.shape = GemmShape::lower_a;
      gemm(g);
      copy_panel(x21, lda, rows, nb, panel);
      const std::vector<float> inv32 = to_float(inv);
      panel_product(x21, lda, panel.data(), rows, nb, inv32.data(), false, -1.f);
    }
    for (int64_t r = 0; r < nb; ++r)
      for (int64_t c = 0; c <= r; ++c) blk[r * nb + c] = inv[r * nb + c];
    store_block(blk, nb, d, lda, true);
  }
  return Status::Ok();
}

}  // namespace sk
