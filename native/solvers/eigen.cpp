// Symmetric eigen-decomposition (eigen.h). Three phases, each O(n^3) and multi-threaded:
//  1. A = Q T Q^T: Householder reflections H_k = I - beta v v^T zero row/column k below the
//     subdiagonal (matrix-vector product and rank-2 update of the trailing block, split by rows);
//  2. Z = Q = H_0 ... H_{n-3}, accumulated backwards so each reflection touches only its block;
//  3. implicit QR steps on the tridiagonal T (scalar, O(n^2)), each Givens rotation recorded as
//     (k, c, s); the recorded rotations are applied to Z's columns k, k+1 in blocks of rows, each
//     block transposed into a buffer that stays in cache while every rotation passes over it.
// The sums run in a fixed order per row / column whatever the thread count, so results do not
// depend on it.
#include "eigen.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "../core/cpu_features.h"
#include "../core/thread_pool.h"
#include "linalg.h"

namespace sk {

namespace {

struct Rotations {
  std::vector<int32_t> k;
  std::vector<double> c, s;
  void clear() { k.clear(); c.clear(); s.clear(); }
};

// Z[:, k], Z[:, k+1] <- (c Z[:, k] - s Z[:, k+1], s Z[:, k] + c Z[:, k+1]) for each recorded rotation, in order.
void apply_rotations(double* z, int64_t n, const Rotations& rot) {
  if (rot.k.empty()) return;
  const auto rotate = linalg_kernels(active_isa()).rotate_columns;
  const int64_t blocks = (n + kRotRows - 1) / kRotRows;
  parallel_for(blocks, [&](int64_t b) {
    const int64_t r0 = b * kRotRows, R = std::min<int64_t>(kRotRows, n - r0);
    std::vector<double> y(static_cast<size_t>(n) * kRotRows, 0.0);  // y[col * kRotRows + r] = Z[r0 + r, col]
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < n; ++c) y[size_t(c * kRotRows + r)] = z[(r0 + r) * n + c];
    rotate(int64_t(rot.k.size()), rot.k.data(), rot.c.data(), rot.s.data(), y.data());
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < n; ++c) z[(r0 + r) * n + c] = y[size_t(c * kRotRows + r)];
  });
}

}  // namespace

Status symmetric_eigen(const double* a, int64_t n, double* values, double* vectors, const Control& control, size_t record) {
  record = std::max<size_t>(record, 1);
  if (n < 0) return Status::Error(ErrorCode::argument, "symmetric_eigen: n must be >= 0");
  if (n == 0) return Status::Ok();
  const auto aborted = [] { return Status::Error(ErrorCode::aborted, "symmetricEigen: aborted"); };
  const int64_t steps = std::max<int64_t>(n - 2, 0);
  control.set_total(int32_t(std::min<int64_t>(2 * steps + n, INT32_MAX)));
  std::vector<double> A(a, a + n * n);
  const size_t nn = static_cast<size_t>(n);
  std::vector<double> d(nn), e(nn, 0.0), betas(static_cast<size_t>(steps), 0.0), p(nn), w(nn);
  const int64_t grain = std::max<int64_t>(16, (1 << 16) / std::max<int64_t>(n, 1));  // >= ~64K multiply-adds per task

  // 1. Tridiagonalize. v_k is kept in row k of A from column k+1 on (that row is not read again).
  for (int64_t k = 0; k < steps; ++k) {
    if (control.aborted()) return aborted();
    const int64_t m = n - k - 1, o = k + 1;
    double* v = A.data() + k * n + o;
    double norm = 0;
    for (int64_t i = 0; i < m; ++i) norm += v[i] * v[i];
    norm = std::sqrt(norm);
    d[size_t(k)] = A[size_t(k * n + k)];
    if (norm == 0) {  // nothing to zero: H_k = I
      e[size_t(k)] = 0;
      control.advance();
      continue;
    }
    const double alpha = v[0] > 0 ? -norm : norm;
    v[0] -= alpha;
    double vv = 0;
    for (int64_t i = 0; i < m; ++i) vv += v[i] * v[i];
    const double beta = 2 / vv;
    betas[size_t(k)] = beta;
    e[size_t(k)] = alpha;
    // p = beta S v, S = A[o.., o..]
    parallel_range(m, grain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const double* row = A.data() + (o + i) * n + o;
        double s = 0;
        for (int64_t j = 0; j < m; ++j) s += row[j] * v[j];
        p[size_t(i)] = beta * s;
      }
    });
    double pv = 0;
    for (int64_t i = 0; i < m; ++i) pv += p[size_t(i)] * v[i];
    const double K = beta / 2 * pv;
    for (int64_t i = 0; i < m; ++i) w[size_t(i)] = p[size_t(i)] - K * v[i];
    // S -= v w^T + w v^T
    parallel_range(m, grain, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        double* row = A.data() + (o + i) * n + o;
        const double vi = v[i], wi = w[size_t(i)];
        for (int64_t j = 0; j < m; ++j) row[j] -= vi * w[size_t(j)] + wi * v[j];
      }
    });
    control.advance();
  }
  for (int64_t k = steps; k < n; ++k) d[size_t(k)] = A[size_t(k * n + k)];
  if (n >= 2) e[size_t(n - 2)] = A[size_t((n - 2) * n + n - 1)];

  // 2. Z = H_0 H_1 ... H_{n-3}, from the last reflection back: Z[o.., o..] = H_k Z[o.., o..].
  std::vector<double> Z(nn * nn, 0.0);
  for (int64_t i = 0; i < n; ++i) Z[size_t(i * n + i)] = 1;
  std::vector<double> u(nn);
  for (int64_t k = steps - 1; k >= 0; --k) {
    if (control.aborted()) return aborted();
    const double beta = betas[size_t(k)];
    if (beta != 0) {
      const int64_t m = n - k - 1, o = k + 1;
      const double* v = A.data() + k * n + o;
      // u = beta v^T Z[o.., o..], by column ranges
      parallel_range(m, std::max<int64_t>(64, grain), [&](int64_t j0, int64_t j1) {
        for (int64_t j = j0; j < j1; ++j) u[size_t(j)] = 0;
        for (int64_t i = 0; i < m; ++i) {
          const double vi = v[i];
          if (vi == 0) continue;
          const double* row = Z.data() + (o + i) * n + o;
          for (int64_t j = j0; j < j1; ++j) u[size_t(j)] += vi * row[j];
        }
        for (int64_t j = j0; j < j1; ++j) u[size_t(j)] *= beta;
      });
      parallel_range(m, grain, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          const double vi = v[i];
          if (vi == 0) continue;
          double* row = Z.data() + (o + i) * n + o;
          for (int64_t j = 0; j < m; ++j) row[j] -= vi * u[size_t(j)];
        }
      });
    }
    control.advance();
  }
  A.clear();
  A.shrink_to_fit();

  // 3. Implicit QR with Wilkinson shifts on (d, e), deflating from the bottom.
  Rotations rot;
  rot.k.reserve(std::min<size_t>(record, size_t(n) * size_t(n)));
  int64_t hi = n - 1, iter = 0;
  const int64_t max_iter = 100 * n;
  const auto small = [&](int64_t i) { return std::fabs(e[size_t(i)]) <= 1e-15 * (std::fabs(d[size_t(i)]) + std::fabs(d[size_t(i + 1)])); };
  while (hi > 0) {
    if (++iter > max_iter) return Status::Error(ErrorCode::numeric, "symmetricEigen: the QR iteration did not converge");
    if (small(hi - 1)) {
      e[size_t(hi - 1)] = 0;
      --hi;
      control.advance();
      continue;
    }
    if ((iter & 63) == 0 && control.aborted()) return aborted();
    int64_t lo = hi - 1;
    while (lo > 0 && !small(lo - 1)) --lo;
    const double dd = (d[size_t(hi - 1)] - d[size_t(hi)]) / 2, bb = e[size_t(hi - 1)];
    const double mu = d[size_t(hi)] - bb * bb / (dd + (dd >= 0 ? 1 : -1) * std::hypot(dd, bb));
    double x = d[size_t(lo)] - mu, zz = e[size_t(lo)];
    for (int64_t k = lo; k < hi; ++k) {
      const double r = std::hypot(x, zz);
      const double c = r == 0 ? 1 : x / r, s = r == 0 ? 0 : -zz / r;
      if (k > lo) e[size_t(k - 1)] = r;
      const double ak = d[size_t(k)], ak1 = d[size_t(k + 1)], bk = e[size_t(k)];
      d[size_t(k)] = c * c * ak - 2 * c * s * bk + s * s * ak1;
      d[size_t(k + 1)] = s * s * ak + 2 * c * s * bk + c * c * ak1;
      e[size_t(k)] = c * s * (ak - ak1) + (c * c - s * s) * bk;
      rot.k.push_back(int32_t(k));
      rot.c.push_back(c);
      rot.s.push_back(s);
      if (k + 1 < hi) {
        x = e[size_t(k)];
        zz = -s * e[size_t(k + 1)];
        e[size_t(k + 1)] = c * e[size_t(k + 1)];
      }
    }
    if (rot.k.size() >= record) {
      if (control.aborted()) return aborted();
      apply_rotations(Z.data(), n, rot);
      rot.clear();
    }
  }
  control.advance();  // hi == 0: the last value
  if (control.aborted()) return aborted();
  apply_rotations(Z.data(), n, rot);

  std::vector<int64_t> order(nn);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return d[size_t(i)] > d[size_t(j)]; });
  for (int64_t j = 0; j < n; ++j) values[j] = d[size_t(order[size_t(j)])];
  parallel_range(n, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < n; ++j) vectors[r * n + j] = Z[size_t(r * n + order[size_t(j)])];
  });
  return Status::Ok();
}

}  // namespace sk
