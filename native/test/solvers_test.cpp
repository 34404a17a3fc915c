// Links the solvers' linear algebra without Node: GEMM (every transpose and shape hint, float and
// float64 accumulators) on every ISA the machine has, Cholesky and the triangular inverse, all
// against float64 references on odd sizes. Run by `npm run test:native`.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <vector>

#include "../core/convert.h"
#include "../core/cpu_features.h"
#include "../solvers/eigen.h"
#include "../solvers/linalg.h"
#include "../solvers/select.h"
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

// select_row against a stable sort of the exact scores, with Wanda's keys: approximate float32
// |a|·float(n) (margin 16) next to the exact float64 |a|·n, on rows built to break a float32
// ranking: many equal values, near-ties one float64 ulp apart (equal as floats), columns whose
// float norms round in opposite directions, thresholds among subnormal scores and among scores
// that overflow float to infinity, mostly-zero rows and all-equal rows; and margin 0 with exact
// keys (magnitude).
static void test_select_row() {
  uint64_t state = 12345;
  auto next = [&] { state = state * 6364136223846793005ull + 1442695040888963407ull; return state >> 11; };
  auto uniform = [&] { return double(next()) / double(1ull << 53); };
  RowSelectScratch scratch;
  RowCut cut;
  for (int kind = 0; kind < 8; ++kind)
    for (int64_t n : {1, 2, 3, 7, 64, 1000, 4097})
      for (int rep = 0; rep < 6; ++rep) {
        std::vector<float> a(static_cast<size_t>(n));
        std::vector<double> norm(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
          double v = uniform() * 2 - 1, nr = 0.5 + uniform();
          switch (kind) {
            case 1: v = std::round(v * 4) / 4; nr = 1; break;                              // exact ties
            case 2: v = 0.5; nr = 1 + double(next() % 5) * 0x1p-52; break;               // near-ties, equal floats
            case 3: v = 0.25 * (1 + double(next() % 3) * 0x1p-23); nr = 1 + double(next() % 7) * 0x1p-25; break;
            case 4: v *= 1e-30; nr *= 1e-8; break;                                        // scores around 1e-38
            case 5: v *= 3e30; nr *= 1e8; break;                                          // scores past float overflow (inf keys)
            case 6: if (next() % 4) v = 0; break;                                        // mostly zeros
            case 7: v = 1; nr = 2; break;                                                 // all equal
            default: break;
          }
          a[size_t(i)] = float(v);
          norm[size_t(i)] = nr;
        }
        std::vector<uint32_t> key(static_cast<size_t>(n));
        std::vector<uint64_t> exact(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
          const float s = std::fabs(a[size_t(i)]) * float(norm[size_t(i)]);
          std::memcpy(&key[size_t(i)], &s, 4);
          exact[size_t(i)] = score_key(std::fabs(double(a[size_t(i)])) * norm[size_t(i)]);
        }
        std::vector<int64_t> order(static_cast<size_t>(n));
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return exact[size_t(x)] < exact[size_t(y)]; });
        for (int64_t count : {int64_t(0), int64_t(1), n / 3, n / 2, n - 1, n}) {
          for (uint32_t margin : {16u, kExactOnly}) {
            select_row(key.data(), n, count, margin, [&](int64_t i) { return exact[size_t(i)]; }, scratch, &cut);
            std::vector<uint8_t> got(static_cast<size_t>(n), 0), want(static_cast<size_t>(n), 0);
            for (int64_t i = 0; i < n; ++i) got[size_t(i)] = key[size_t(i)] < cut.below;
            for (int32_t i : cut.extra) {
              CHECK(!got[size_t(i)], "extra %d listed once and not below the cut", i);
              got[size_t(i)] = 1;
            }
            for (int64_t j = 0; j < count; ++j) want[size_t(order[size_t(j)])] = 1;
            CHECK(got == want, "select_row kind %d n %lld count %lld margin %u: mask differs from the stable sort", kind, (long long)n,
                  (long long)count, margin);
          }
          // Magnitude: exact uint32 keys, margin 0.
          std::vector<uint32_t> mkey(static_cast<size_t>(n));
          for (int64_t i = 0; i < n; ++i) mkey[size_t(i)] = score_key(std::fabs(a[size_t(i)]));
          std::vector<int64_t> morder(static_cast<size_t>(n));
          std::iota(morder.begin(), morder.end(), 0);
          std::stable_sort(morder.begin(), morder.end(), [&](int64_t x, int64_t y) { return mkey[size_t(x)] < mkey[size_t(y)]; });
          select_row(mkey.data(), n, count, 0, [&](int64_t i) { return uint64_t(mkey[size_t(i)]); }, scratch, &cut);
          std::vector<uint8_t> got(static_cast<size_t>(n), 0), want(static_cast<size_t>(n), 0);
          for (int64_t i = 0; i < n; ++i) got[size_t(i)] = mkey[size_t(i)] < cut.below;
          for (int32_t i : cut.extra) got[size_t(i)] = 1;
          for (int64_t j = 0; j < count; ++j) want[size_t(morder[size_t(j)])] = 1;
          CHECK(got == want, "select_row margin 0 kind %d n %lld count %lld", kind, (long long)n, (long long)count);
        }
      }
}

// symmetric_eigen on every ISA: A V = V diag(values), VᵀV = I, values descending; flushing the
// recorded rotations after every 1 or 7 of them gives the same bits as recording them all.
static void test_symmetric_eigen(Isa isa) {
  for (int64_t n : {1, 2, 3, 65, 130}) {
    std::vector<double> b(size_t(n * n)), a(size_t(n * n), 0.0);
    uint32_t s = 7u + uint32_t(n);
    for (double& x : b) { s = s * 1664525u + 1013904223u; x = double(s >> 8) / double(1 << 24) - 0.5; }
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t k = 0; k < n / 2 + 1; ++k) a[size_t(i * n + j)] += b[size_t(i * n + k)] * b[size_t(j * n + k)];
    const size_t nn = static_cast<size_t>(n);
    std::vector<double> val(nn), vec(nn * nn);
    Status st = symmetric_eigen(a.data(), n, val.data(), vec.data(), Control{});
    CHECK(st.ok(), "eigen %s n %lld: %s", isa_name(isa), (long long)n, st.message.c_str());
    double res = 0, orth = 0;
    for (int64_t j = 0; j < n; ++j) {
      if (j > 0) CHECK(val[size_t(j)] <= val[size_t(j - 1)], "eigen values descending");
      for (int64_t i = 0; i < n; ++i) {
        double av = 0, vv = 0;
        for (int64_t k = 0; k < n; ++k) {
          av += a[size_t(i * n + k)] * vec[size_t(k * n + j)];
          vv += vec[size_t(k * n + i)] * vec[size_t(k * n + j)];
        }
        res = std::max(res, std::fabs(av - val[size_t(j)] * vec[size_t(i * n + j)]));
        orth = std::max(orth, std::fabs(vv - (i == j ? 1.0 : 0.0)));
      }
    }
    CHECK(res < 1e-12 * (std::fabs(val[0]) + 1) * double(n) && orth < 1e-12, "eigen %s n %lld: residual %g, orthogonality %g",
          isa_name(isa), (long long)n, res, orth);
    for (size_t record : {size_t(1), size_t(7)}) {
      std::vector<double> val2(nn), vec2(nn * nn);
      st = symmetric_eigen(a.data(), n, val2.data(), vec2.data(), Control{}, record);
      CHECK(st.ok() && val2 == val && vec2 == vec, "eigen %s n %lld: flushing every %zu rotations changes the result", isa_name(isa),
            (long long)n, record);
    }
  }
}

int main() {
  for (Isa isa : {Isa::portable, Isa::avx2, Isa::avx512}) {
    if (!set_active_isa(isa)) continue;
    test_gemm(isa);
    test_symmetric_eigen(isa);
  }
  test_cholesky_inverse();
  test_select_row();
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
