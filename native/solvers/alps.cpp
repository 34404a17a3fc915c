// ALPS (Meng, Behdin, Wang, Mazumder, "ALPS: Improved Optimization for Highly Sparse One-Shot
// Pruning for Large Language Models", NeurIPS 2024), following the published algorithm and code:
//   G = XᵀX + damping·mean(diag XᵀX)·I, normalized to unit diagonal by d = sqrt(diag G) (+1e-8),
//   with the weight scaled to match (W·diag(d)); then ADMM on min ½‖X(Ŵ − W)ᵀ‖² s.t. Ŵ ∈ pattern:
//     B = (G + ρI)⁻¹ (G Bₒ − V + ρD),  D = Π(B + V/ρ),  V += ρ(B − D),
//   where Π keeps the largest |·| (over the whole layer for unstructured, per N:M group); every 3
//   iterations ρ grows with the support change (×1.3 above 10%, ×1.2 above 0.5%, ×1.1 while it
//   still moves; it is cut ÷5 and the iterates restarted while the support has never moved), and
//   the run stops once the support settles. Finally the weights on the support Π(B) are refitted
//   by conjugate gradients on G (the unit diagonal is the Jacobi preconditioner), 10 iterations.
// Here everything is held transposed (rows = outputs), so each product is [rows × K]·[K × K].
// (G + ρI)⁻¹ is formed by Cholesky and a triangular inverse each time ρ changes (the code uses one
// eigendecomposition; the matrix is the same up to rounding). float32 GEMMs throughout.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <numeric>

#include "../core/thread_pool.h"
#include "linalg.h"
#include "prune_common.h"
#include "select.h"

namespace sk {

namespace {

// c (m x n) = a (m x k) · b (k x n), all row-major float32.
void matmul(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n, bool a_trans = false,
            GemmShape shape = GemmShape::full) {
  std::memset(c, 0, size_t(m * n) * 4);
  GemmArgs g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a;
  g.lda = a_trans ? m : k;
  g.a_trans = a_trans;
  g.b = b;
  g.ldb = n;
  g.c = c;
  g.ldc = n;
  g.shape = shape;
  gemm(g);
}

// Zeroes all but the kept entries of x (rows x cols): prunes the prune_count smallest |x| over the
// whole matrix (ties: lower flat index pruned first), or the m - n smallest of each N:M group.
void project(float* x, int64_t rows, int64_t cols, const Pattern& p, int64_t prune_count, std::vector<uint8_t>& pr,
             std::vector<uint32_t>& key, std::vector<uint32_t>& work) {
  const size_t total = size_t(rows * cols);
  if (p.nm()) {
    parallel_range(rows, 16, [&](int64_t b, int64_t e) {
      uint32_t k[16];
      for (int64_t r = b; r < e; ++r)
        for (int64_t g = 0; g < cols; g += p.m) {
          for (int i = 0; i < p.m; ++i) k[i] = score_key(std::fabs(x[r * cols + g + i]));
          mark_group(k, p.m, p.n, &pr[size_t(r * cols + g)]);
        }
    });
  } else {
    for (size_t i = 0; i < total; ++i) key[i] = score_key(std::fabs(x[i]));
    mark_smallest(key.data(), int64_t(total), prune_count, work, pr.data());
  }
  parallel_range(rows, 16, [&](int64_t b, int64_t e) {
    for (size_t i = size_t(b * cols); i < size_t(e * cols); ++i)
      if (pr[i]) x[i] = 0.f;
  });
}

}  // namespace

Status prune_alps(const WeightView& w, CalibrationStats& stats, const Pattern& p, const AlpsOptions& opt, const Control& control,
                  PruneOutput* out, int* iters, double* rho_final) {
  SK_RETURN_IF_ERROR(check_pattern(p, w.cols));
  if (!(opt.rho > 0) || opt.max_iter < 0 || opt.update_iter < 1 || opt.cg_iter < 0 || !(opt.damping >= 0))
    return Status::Error(ErrorCode::argument, "alps: rho > 0, maxIter >= 0, cgIter >= 0 and damping >= 0 are required");
  const int64_t R = w.rows, K = w.cols;
  const size_t total = size_t(R) * size_t(K), kk = size_t(K) * size_t(K);
  double tokens;
  HostBuffer gbuf;
  gbuf.allocate(kk * 4);
  float* Gn = gbuf.as<float>();  // normalized G
  std::vector<double> d(static_cast<size_t>(K));
  {
    std::lock_guard<std::mutex> lk(stats.mutex());
    if (stats.released()) return Status::Error(ErrorCode::argument, "alps: stats was disposed");
    if (!stats.has_hessian()) return Status::Error(ErrorCode::argument, "alps: stats must be created with { hessian: true }");
    if (stats.k() != K)
      return Status::Error(ErrorCode::shape, "alps: the weight has " + std::to_string(K) + " input columns but stats has " +
                                                 std::to_string(stats.k()) + " channels");
    tokens = stats.tokens();
    if (tokens <= 0) return Status::Error(ErrorCode::argument, "alps: stats has no calibration tokens (call add() first)");
    const double* s = stats.xtx();
    double mean = 0;
    for (int64_t j = 0; j < K; ++j) mean += s[j * K + j];
    const double damp = opt.damping * mean / double(K);
    for (int64_t j = 0; j < K; ++j) d[size_t(j)] = std::sqrt(s[j * K + j] + damp) + 1e-8;
    parallel_range(K, 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        for (int64_t j = 0; j <= i; ++j) {
          const double v = s[i * K + j];
          Gn[i * K + j] = Gn[j * K + i] = float((v + (i == j ? damp : 0.0)) / (d[size_t(i)] * d[size_t(j)]));
        }
    });
  }
  std::vector<float> W0(total);
  SK_RETURN_IF_ERROR(load_weight_f32(w, W0.data(), "alps"));
  // Bo = W·diag(d) (transposed B of the paper), Gt = Bo·G (the paper's (YᵀX)ᵀ).
  std::vector<float> Bo(total), Gt(total), B(total), D(total), V(total, 0.f), T(total);
  // Peak memory is 3 K×K + 8 rows×K float32 during ADMM: what only ADMM needs (the inverse, its
  // factor, V, the initial D) is freed before the CG refit, and XᵀX/tokens for the loss is built
  // after it.
  parallel_range(R, 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      for (int64_t c = 0; c < K; ++c) Bo[size_t(r * K + c)] = float(W0[size_t(r * K + c)] * d[size_t(c)]);
  });
  matmul(Bo.data(), Gn, Gt.data(), R, K, K);

  HostBuffer ibuf;
  ibuf.allocate(kk * 4);
  float* Xinv = ibuf.as<float>();
  std::vector<float> L(kk);
  double rho = opt.rho;
  auto make_inverse = [&]() -> Status {
    parallel_range(K, 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        std::memcpy(&L[size_t(i * K)], &Gn[size_t(i * K)], size_t(K) * 4);
        L[size_t(i * K + i)] += float(rho);
      }
    });
    CholeskyFailure fail;
    Status st = cholesky_lower(L.data(), K, K, &fail, control.abort_flag());
    if (st.code == ErrorCode::aborted) return Status::Error(ErrorCode::aborted, "alps: aborted");
    if (!st.ok()) return Status::Error(ErrorCode::numeric, "alps: G + ρI is not positive definite in float32 (ρ = " + std::to_string(rho) + ")");
    SK_RETURN_IF_ERROR(invert_lower(L.data(), K, K, control.abort_flag()));
    // L⁻ᵀL⁻¹: A = L⁻ᵀ is upper triangular (the product skips its zero half).
    matmul(L.data(), L.data(), Xinv, K, K, K, /*a_trans=*/true, GemmShape::upper_a);
    return Status::Ok();
  };
  SK_RETURN_IF_ERROR(make_inverse());

  const int64_t prune_count = p.nm() ? 0 : int64_t(total) - int64_t(std::llround((1.0 - p.sparsity) * double(total)));
  const double k_spar = p.nm() ? double(total) * p.n / p.m : std::llround((1.0 - p.sparsity) * double(total));
  std::vector<uint8_t> pr(total), supp(total), suppp(total);
  std::vector<uint32_t> key(p.nm() ? 0 : total), work;
  D = Bo;
  project(D.data(), R, K, p, prune_count, pr, key, work);
  std::vector<float> Dinit = D;
  for (size_t i = 0; i < total; ++i) suppp[i] = D[i] == 0.f;
  B = Bo;
  control.set_total(opt.max_iter + opt.cg_iter + 1);
  bool init_rho = false;
  int it = 0;
  for (; it < opt.max_iter; ++it) {
    if (control.aborted()) return Status::Error(ErrorCode::aborted, "alps: aborted");
    const float rf = float(rho);
    parallel_range(R, 16, [&](int64_t b, int64_t e) {
      for (size_t i = size_t(b * K); i < size_t(e * K); ++i) T[i] = Gt[i] - V[i] + rf * D[i];
    });
    matmul(T.data(), Xinv, B.data(), R, K, K);
    parallel_range(R, 16, [&](int64_t b, int64_t e) {
      for (size_t i = size_t(b * K); i < size_t(e * K); ++i) D[i] = (V[i] + rf * B[i]) / rf;
    });
    project(D.data(), R, K, p, prune_count, pr, key, work);
    parallel_range(R, 16, [&](int64_t b, int64_t e) {
      for (size_t i = size_t(b * K); i < size_t(e * K); ++i) V[i] += rf * (B[i] - D[i]);
    });
    control.advance();
    if ((it + 1) % opt.update_iter != 0) continue;
    int64_t change = 0;
    for (size_t i = 0; i < total; ++i) {
      supp[i] = D[i] == 0.f;
      change += supp[i] != suppp[i];
    }
    const double frac = double(change) / k_spar;
    bool stop = false;
    if (frac > 0.1) {
      init_rho = true;
      rho *= 1.3;
    } else if (frac > 0.005) {
      init_rho = true;
      rho *= 1.2;
    } else if (change > 0) {
      if (init_rho) {
        rho *= 1.1;
      } else {
        rho /= 5;
        B = Bo;
        D = Dinit;
        std::fill(V.begin(), V.end(), 0.f);
      }
    } else if (init_rho) {
      stop = true;
    } else {
      rho /= 5;
    }
    if (stop) break;
    suppp.swap(supp);
    rho = std::min(rho, 1e6);
    SK_RETURN_IF_ERROR(make_inverse());
    if (it >= opt.switch_iter && frac < 0.0003) break;
  }
  *iters = std::min(it + 1, opt.max_iter);
  *rho_final = rho;
  ibuf.reset();
  std::vector<float>().swap(L);
  std::vector<float>().swap(V);
  std::vector<float>().swap(Dinit);

  // The support: Π(B). Then CG on it: each output row solves G x = Gt_r restricted to the support.
  project(B.data(), R, K, p, prune_count, pr, key, work);
  std::vector<uint8_t>& mask_pruned = pr;  // 1 = pruned, as the projection left it
  std::vector<float>& X = B;
  std::vector<float>& AX = T;
  matmul(X.data(), Gn, AX.data(), R, K, K);
  std::vector<float> Rr(total), P(total), AP(total);
  std::vector<double> rz(static_cast<size_t>(R)), bnorm(static_cast<size_t>(K), 0.0);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < K; ++c) bnorm[size_t(c)] += double(Gt[size_t(r * K + c)]) * Gt[size_t(r * K + c)];
  for (auto& v : bnorm) v = opt.cg_rtol * std::sqrt(v);
  parallel_range(R, 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      double s = 0;
      for (int64_t c = 0; c < K; ++c) {
        const size_t i = size_t(r * K + c);
        Rr[i] = mask_pruned[i] ? 0.f : Gt[i] - AX[i];
        P[i] = Rr[i];
        s += double(Rr[i]) * Rr[i];
      }
      rz[size_t(r)] = s;
    }
  });
  std::vector<double> resid(static_cast<size_t>(K));
  for (int k = 0; k < opt.cg_iter; ++k) {
    if (control.aborted()) return Status::Error(ErrorCode::aborted, "alps: aborted");
    matmul(P.data(), Gn, AP.data(), R, K, K);
    parallel_range(R, 16, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const size_t o = size_t(r * K);
        double pap = 0;
        for (int64_t c = 0; c < K; ++c) pap += double(P[o + c]) * AP[o + c];
        if (pap == 0) pap = 1e-8;
        const double alpha = rz[size_t(r)] / pap;
        double s = 0;
        for (int64_t c = 0; c < K; ++c) {
          X[o + c] += float(alpha * P[o + c]);
          AX[o + c] += float(alpha * AP[o + c]);
          Rr[o + c] = mask_pruned[o + c] ? 0.f : float(Rr[o + c] - alpha * AP[o + c]);
          s += double(Rr[o + c]) * Rr[o + c];
        }
        double den = rz[size_t(r)];
        if (den == 0) den = 1e-8;
        const double beta = s / den;
        rz[size_t(r)] = s;
        for (int64_t c = 0; c < K; ++c) P[o + c] = Rr[o + c] + float(beta * P[o + c]);
      }
    });
    control.advance();
    // The published stopping rule: every input channel's residual (over all outputs, support or
    // not) within rtol of its right-hand side's norm.
    std::fill(resid.begin(), resid.end(), 0.0);
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < K; ++c) {
        const double q = double(AX[size_t(r * K + c)]) - Gt[size_t(r * K + c)];
        resid[size_t(c)] += q * q;
      }
    bool done = true;
    for (int64_t c = 0; c < K && done; ++c) done = std::sqrt(resid[size_t(c)]) <= bnorm[size_t(c)];
    if (done) break;
  }
  // Back to the weight's scale; the loss ‖XΔWᵀ‖²/tokens from S = XᵀX/tokens (in G's buffer, done with).
  std::vector<float>().swap(Rr);
  std::vector<float>().swap(P);
  std::vector<float>().swap(AP);
  float* S = Gn;
  {
    std::lock_guard<std::mutex> lk(stats.mutex());
    if (stats.released()) return Status::Error(ErrorCode::argument, "alps: stats was disposed");
    const double* s = stats.xtx();
    parallel_range(K, 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        for (int64_t j = 0; j <= i; ++j) S[i * K + j] = S[j * K + i] = float(s[i * K + j] / tokens);
    });
  }
  std::vector<float>& Wout = Bo;
  parallel_range(R, 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      for (int64_t c = 0; c < K; ++c) {
        const size_t i = size_t(r * K + c);
        Wout[i] = mask_pruned[i] ? 0.f : float(X[i] / d[size_t(c)]);
        D[i] = W0[i] - Wout[i];
      }
  });
  matmul(D.data(), S, AX.data(), R, K, K);
  double loss = 0;
  for (size_t i = 0; i < total; ++i) loss += double(D[i]) * AX[i];
  write_outputs_f32(w, Wout.data(), mask_pruned.data(), out);
  out->loss = loss;
  control.advance();
  return Status::Ok();
}

}  // namespace sk
