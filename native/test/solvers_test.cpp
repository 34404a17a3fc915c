// Links the solvers' linear algebra without Node: GEMM (every transpose and shape hint, float and
// float64 accumulators) on every ISA the machine has, Cholesky and the triangular inverse, all
// against float64 references on odd sizes. Run by `npm run test:native`.
#include <cmath>
#include <cstdio>
#include <vector>

#include "../core/convert.h"
#include "../core/cpu_features.h"
#include "../solvers/linalg.h"
#include "check.h"

using namespace sk;


static std::vector<float> random(size_t n, uint64_t seed) {
  std::vector<float> v(n);
  fill_random(v.data(), DType::f32, n, seed, Distribution::normal, 0, 1);
  return v;
}

static void test_gemm(Isa isa) {
  const int64_t shapes[][3] = {{1, 1, 1}, {13, 7, 5}, {150, 389, 300}, {37, 33, 520}, {290, 45, 17}};
  for (auto& s : shapes)
    for (int variant = 0; variant < 4; ++variant)
      for (GemmShape shape : {GemmShape::full, GemmShape::lower_c, GemmShape::lower_a, GemmShape::upper_a}) {
        const int64_t M = s[0], N = shape == GemmShape::lower_c ? s[0] : s[1], K = shape == GemmShape::full || shape == GemmShape::lower_c ? s[2] : s[0];
        const bool at = variant & 1, bt = variant & 2;
        std::vector<float> a = random(size_t(M * K), 1), b = random(size_t(K * N), 2), c = random(size_t(M * N), 3);
        // Triangular hints promise zeros: make A honour them.
        for (int64_t i = 0; i < M; ++i)
          for (int64_t k = 0; k < K; ++k) {
            const bool zero = (shape == GemmShape::lower_a && k > i) || (shape == GemmShape::upper_a && k < i);
            if (zero) a[size_t(at ? k * M + i : i * K + k)] = 0.f;
          }
        std::vector<double> ref(c.begin(), c.end()), mag(size_t(M * N), 0.0);
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j)
            for (int64_t k = 0; k < K; ++k) {
              const double t = double(a[size_t(at ? k * M + i : i * K + k)]) * b[size_t(bt ? j * K + k : k * N + j)];
              ref[size_t(i * N + j)] -= 0.5 * t;
              mag[size_t(i * N + j)] += std::fabs(t);
            }
        std::vector<double> cd(c.begin(), c.end());
        for (int use_double = 0; use_double < 2; ++use_double) {
          std::vector<float> cc = c;
          GemmArgs g;
          g.m = M; g.n = N; g.k = K;
          g.a = a.data(); g.lda = at ? M : K; g.a_trans = at;
          g.b = b.data(); g.ldb = bt ? K : N; g.b_trans = bt;
          if (use_double) g.cd = cd.data(); else g.c = cc.data();
          g.ldc = N; g.alpha = -0.5f; g.shape = shape;
          gemm(g);
          int bad = 0;
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) {
              if (shape == GemmShape::lower_c && j > i) continue;
              const double got = use_double ? cd[size_t(i * N + j)] : cc[size_t(i * N + j)];
              const double tol = 1e-6 * (K + 4) * (mag[size_t(i * N + j)] + 1) + 1e-6 * std::fabs(ref[size_t(i * N + j)]);
              if (!(std::fabs(got - ref[size_t(i * N + j)]) <= tol)) ++bad;
            }
          CHECK(bad == 0, "gemm %s %lldx%lldx%lld trans %d%d shape %d double %d: %d bad", isa_name(isa), (long long)M,
                (long long)N, (long long)K, at, bt, int(shape), use_double, bad);
        }
      }
}

static void test_cholesky_inverse() {
  for (int64_t n : {1, 5, 127, 128, 129, 300}) {
    // A = B Bᵀ/n + I: well conditioned, symmetric positive definite.
    std::vector<float> bm = random(size_t(n * n), uint64_t(n));
    std::vector<double> a(size_t(n * n));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = i == j ? 1.0 : 0.0;
        for (int64_t k = 0; k < n; ++k) s += double(bm[size_t(i * n + k)]) * bm[size_t(j * n + k)] / double(n);
        a[size_t(i * n + j)] = s;
      }
    std::vector<float> l(a.begin(), a.end());
    CholeskyFailure fail;
    Status st = cholesky_lower(l.data(), n, n, &fail);
    CHECK(st.ok(), "cholesky %lld: %s", (long long)n, st.message.c_str());
    double worst = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j <= i; ++j) {
        double s = 0;
        for (int64_t k = 0; k <= j; ++k) s += double(l[size_t(i * n + k)]) * l[size_t(j * n + k)];
        worst = std::fmax(worst, std::fabs(s - a[size_t(i * n + j)]));
      }
    CHECK(worst < 1e-4, "L Lᵀ = A for n = %lld (max error %g)", (long long)n, worst);
    std::vector<float> x = l;
    st = invert_lower(x.data(), n, n);
    CHECK(st.ok(), "invert %lld", (long long)n);
    worst = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t k = 0; k < n; ++k) s += (k <= i ? double(l[size_t(i * n + k)]) : 0.0) * x[size_t(k * n + j)];
        worst = std::fmax(worst, std::fabs(s - (i == j ? 1.0 : 0.0)));
        if (j > i) CHECK(x[size_t(i * n + j)] == 0.f, "upper triangle zeroed");
      }
    CHECK(worst < 1e-4, "L L⁻¹ = I for n = %lld (max error %g)", (long long)n, worst);
  }
  // Not positive definite: the failing column and pivot are reported.
  std::vector<float> m = {4, 0, 0, 2, 1, 0, 0, 0, -1};
  CholeskyFailure fail;
  Status st = cholesky_lower(m.data(), 3, 3, &fail);
  CHECK(st.code == ErrorCode::numeric && fail.index == 1 && fail.pivot == 0.0, "pivot 0 at column 1 (got %lld, %g)",
        (long long)fail.index, fail.pivot);
}

int main() {
  for (Isa isa : {Isa::portable, Isa::avx2, Isa::avx512}) {
    if (!set_active_isa(isa)) continue;
    test_gemm(isa);
  }
  test_cholesky_inverse();
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
