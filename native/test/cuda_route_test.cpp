// The CPU-testable half of the cuSPARSELt path (native/cuda/sp24_route.h): the descriptor
// parameters, evaluated with cuSPARSELt's documented meaning of rows / cols / ld / order / op,
// must compute our y[N, M] = x[N, K] * W[M, K]^T; every call the eligibility rules accept must
// satisfy the documented size multiples; plan keys; and the decision between cuSPARSELt and mma.sp.
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <vector>

#include "../cuda/runtime/blas_libs.h"
#include "../cuda/kernels/launch_grid.h"
#include "../cuda/runtime/sp24_route.h"
#include "check.h"

using namespace sk::cuda;

// Element (i, j) of a matrix described by p, stored at base: column-major is j * ld + i.
static double at(const std::vector<double>& base, const LtMatrixParams& p, int64_t i, int64_t j) {
  return p.order == lt::kOrderRow ? base[size_t(i * p.ld + j)] : base[size_t(j * p.ld + i)];
}
static size_t offset(const LtMatrixParams& p, int64_t i, int64_t j) {
  return size_t(p.order == lt::kOrderRow ? i * p.ld + j : j * p.ld + i);
}

// D = op(A) * op(B) evaluated literally from the descriptors, on our buffers.
static void test_params_compute_our_product() {
  for (auto [M, K, N] : std::vector<std::array<int64_t, 3>>{{16, 32, 8}, {48, 16, 24}, {32, 64, 1}, {5, 7, 3}}) {
    std::vector<double> w(size_t(M * K)), x(size_t(N * K)), y(size_t(N * M), 0.0);
    for (size_t i = 0; i < w.size(); ++i) w[i] = double((i * 7919) % 23) - 11;
    for (size_t i = 0; i < x.size(); ++i) x[i] = double((i * 104729) % 17) - 8;
    const LtMatmulParams p = lt_matmul_params(M, K, N, 1, 1);
    // op(A) is M x K, op(B) is K x N, C is M x N.
    const int64_t opa_rows = p.op_a == lt::kOpN ? p.a.rows : p.a.cols, opa_cols = p.op_a == lt::kOpN ? p.a.cols : p.a.rows;
    const int64_t opb_rows = p.op_b == lt::kOpN ? p.b.rows : p.b.cols, opb_cols = p.op_b == lt::kOpN ? p.b.cols : p.b.rows;
    CHECK(opa_rows == M && opa_cols == K, "op(A) is %lldx%lld, want M x K", (long long)opa_rows, (long long)opa_cols);
    CHECK(opb_rows == K && opb_cols == N, "op(B) is %lldx%lld, want K x N", (long long)opb_rows, (long long)opb_cols);
    CHECK(p.c.rows == M && p.c.cols == N, "C is %lldx%lld, want M x N", (long long)p.c.rows, (long long)p.c.cols);
    // Leading dimensions cover the stored extent (cuSPARSELt: ld >= rows for column-major, >= cols for row-major).
    for (const LtMatrixParams* m : {&p.a, &p.b, &p.c})
      CHECK(m->ld >= (m->order == lt::kOrderRow ? m->cols : m->rows), "ld %lld too small", (long long)m->ld);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double d = 0;
        for (int64_t k = 0; k < K; ++k) {
          const double a = p.op_a == lt::kOpN ? at(w, p.a, i, k) : at(w, p.a, k, i);
          const double b = p.op_b == lt::kOpN ? at(x, p.b, k, j) : at(x, p.b, j, k);
          d += a * b;
        }
        y[offset(p.c, i, j)] = d;
      }
    for (int64_t n = 0; n < N; ++n)
      for (int64_t m = 0; m < M; ++m) {
        double want = 0;
        for (int64_t k = 0; k < K; ++k) want += w[size_t(m * K + k)] * x[size_t(n * K + k)];
        CHECK(y[size_t(n * M + m)] == want, "[%lldx%lld N=%lld] y[%lld][%lld] = %g, want %g", (long long)M, (long long)K,
              (long long)N, (long long)n, (long long)m, y[size_t(n * M + m)], want);
      }
    // The structured operand's 2:4 groups must run along K: A is row-major with K as its columns.
    CHECK(p.a.order == lt::kOrderRow && p.op_a == lt::kOpN && p.a.cols == K, "A must be W itself, row-major, not transposed");
  }
}

static void test_types() {
  const LtMatmulParams h = lt_matmul_params(64, 64, 16, 1, 1), b = lt_matmul_params(64, 64, 16, 2, 2);
  CHECK(h.a.value_type == 2 && h.b.value_type == 2 && h.c.value_type == 2, "float16 is CUDA_R_16F = 2");
  CHECK(b.a.value_type == 14 && b.b.value_type == 14 && b.c.value_type == 14, "bfloat16 is CUDA_R_16BF = 14");
  CHECK(h.compute_type == 2 && b.compute_type == 2, "fp32 accumulation is CUSPARSE_COMPUTE_32F = 2 (cuSPARSELt >= 0.6)");
  CHECK(lt::kOrderCol == 1 && lt::kOrderRow == 2 && lt::kOpN == 0 && lt::kOpT == 1, "cusparse.h enum values");
}

// Everything the eligibility rules accept meets the documented multiples (structured: 16, dense: 8).
static void test_eligible_calls_meet_constraints() {
  int accepted = 0;
  for (int64_t M : {16, 24, 32, 4096, 11008, 100})
    for (int64_t K : {16, 40, 64, 4096, 11008})
      for (int64_t N : {1, 8, 12, 16, 64, 256, 257})
        for (int dt : {1, 2}) {
          if (!lt_weight_ineligible(M, K, dt).empty() || !lt_call_ineligible(N, dt, dt, false, true).empty()) continue;
          ++accepted;
          const LtMatmulParams p = lt_matmul_params(M, K, N, dt, dt);
          CHECK(p.a.rows % 16 == 0 && p.a.cols % 16 == 0 && p.a.ld % 16 == 0, "structured A %lldx%lld", (long long)M, (long long)K);
          for (const LtMatrixParams* m : {&p.b, &p.c})
            CHECK(m->rows % 8 == 0 && m->cols % 8 == 0 && m->ld % 8 == 0, "dense operand of M=%lld K=%lld N=%lld",
                  (long long)M, (long long)K, (long long)N);
        }
  CHECK(accepted > 20, "the rules accept the LLM shapes (%d accepted)", accepted);
  CHECK(lt_weight_ineligible(4096, 4096, 1).empty() && lt_weight_ineligible(11008, 4096, 2).empty(), "LLM weights qualify");
  CHECK(!lt_weight_ineligible(4100, 4096, 1).empty() && !lt_weight_ineligible(4096, 4104, 1).empty(), "M, K multiples of 16");
  CHECK(!lt_weight_ineligible(64, 64, 0).empty(), "float32 weights do not qualify");
  CHECK(!lt_weight_ineligible(65536, 65536, 1).empty(), "2^32 elements exceed the structured-matrix limit");
  CHECK(lt_call_ineligible(16, 1, 1, false, true).empty(), "N = 16, f16 -> f16 qualifies");
  CHECK(!lt_call_ineligible(12, 1, 1, false, true).empty(), "N = 12 is not a multiple of 8");
  CHECK(!lt_call_ineligible(16, 1, 0, false, true).empty(), "float32 output is not a cuSPARSELt combination");
  CHECK(!lt_call_ineligible(16, 2, 1, false, true).empty(), "bf16 weight with f16 output");
  CHECK(!lt_call_ineligible(16, 1, 1, true, true).empty(), "bias runs in our epilogue");
  CHECK(!lt_call_ineligible(16, 1, 1, false, false).empty(), "unaligned pointers");
}

static void test_plan_keys() {
  std::map<LtPlanKey, int> cache;
  cache[lt_plan_key(16, 1, 1)] = 1;
  cache[lt_plan_key(16, 2, 2)] = 2;
  cache[lt_plan_key(32, 1, 1)] = 3;
  cache[lt_plan_key(16, 1, 1)] = 4;  // same key: replaces
  CHECK(cache.size() == 3, "three distinct (N, dtype, out dtype) keys, got %zu", cache.size());
  CHECK(cache[lt_plan_key(16, 1, 1)] == 4, "equal keys find the same plan");
  CHECK(!(lt_plan_key(16, 1, 1) == lt_plan_key(16, 1, 2)), "out dtype is part of the key");
}

static void test_decision() {
  const Sp24Timing lib_faster{2.0, 1.0}, ours_faster{1.0, 2.0}, tie{1.0, 1.0}, half{1.0, -1};
  using R = BackendRequest;
  using B = Sp24Backend;
  struct Case { R req; const char* why; int64_t n; const Sp24Timing* t; bool autotune; B want; bool measure; };
  const Case cases[] = {
      {R::automatic, "not loaded", 256, nullptr, true, B::ours, false},  // library absent: ours, no measuring
      {R::library, "not loaded", 256, nullptr, true, B::ours, false},    // (the caller turns this into an error)
      {R::ours, "", 256, &lib_faster, true, B::ours, false},
      {R::library, "", 1, &ours_faster, true, B::cusparselt, false},
      {R::automatic, "", 256, &lib_faster, true, B::cusparselt, false},  // measured: the faster one
      {R::automatic, "", 8, &ours_faster, true, B::ours, false},
      {R::automatic, "", 64, &tie, true, B::ours, false},                // ties go to ours
      {R::automatic, "", 64, &half, true, B::ours, true},                // half-measured counts as unmeasured
      {R::automatic, "", 64, nullptr, true, B::ours, true},              // first use: measure
      {R::automatic, "", 63, nullptr, false, B::ours, false},            // heuristic: ours at small N
      {R::automatic, "", 64, nullptr, false, B::cusparselt, false},
  };
  for (const Case& c : cases) {
    const Sp24Decision d = choose_sp24_backend(c.req, c.why, c.n, c.t, c.autotune);
    CHECK(d.backend == c.want && d.measure == c.measure, "req %d why '%s' n %lld: backend %d measure %d, want %d %d", int(c.req),
          c.why, (long long)c.n, int(d.backend), int(d.measure), int(c.want), int(c.measure));
    CHECK(d.why == c.why, "the reason is passed through");
  }
}

// The launch grid (launch_grid.h) every SpMM launcher uses: it covers every output row and column
// exactly with blocks, and refuses (rather than wraps in a 32-bit cast) shapes beyond CUDA's
// gridDim.y / gridDim.z limit of 65535.
static void test_launch_grid() {
  SpmmGrid g;
  for (int64_t n : {1, 7, 8, 9, 64, 65, 1000})
    for (int bn : {8, 16, 32, 64})
      for (int64_t M : {1, 63, 64, 65, 128, 129, 4096}) {
        for (int rows : {128, 64}) {
          const int64_t rb = spmm_row_blocks(M, rows);
          CHECK(spmm_grid(n, bn, rb, 3, &g), "grid n=%lld bn=%d M=%lld refused", (long long)n, bn, (long long)M);
          CHECK(int64_t(g.x) * bn >= n && int64_t(g.x - 1) * bn < n, "grid.x %u does not cover n=%lld with bn=%d", g.x, (long long)n, bn);
          CHECK(int64_t(g.y) * rows >= M && int64_t(g.y - 1) * rows < M, "grid.y %u does not cover M=%lld", g.y, (long long)M);
          CHECK(g.z == 3, "grid.z %u", g.z);
        }
      }
  // The limits: 65535 row blocks of 64 rows is M = 4194240; one more row needs block 65536.
  CHECK(spmm_grid(1, 8, spmm_row_blocks(4194240, 64), 1, &g) && g.y == 65535, "M = 4194240 should fit");
  CHECK(!spmm_grid(1, 8, spmm_row_blocks(4194241, 64), 1, &g), "M = 4194241 (bitmap/2:4) exceeds gridDim.y");
  CHECK(spmm_grid(1, 8, spmm_row_blocks(int64_t(65535) * 128, 128), 1, &g), "tiled-csl M = 65535 * 128 should fit");
  CHECK(!spmm_grid(1, 8, spmm_row_blocks(int64_t(65535) * 128 + 1, 128), 1, &g), "tiled-csl M beyond 65535 tiles");
  CHECK(spmm_grid(1, 8, 1, 65535, &g) && !spmm_grid(1, 8, 1, 65536, &g), "split-K limit is gridDim.z = 65535");
  CHECK(spmm_grid(int64_t(2147483647) * 8, 8, 1, 1, &g) && g.x == 2147483647u, "grid.x up to 2^31 - 1");
  CHECK(!spmm_grid(int64_t(2147483647) * 8 + 1, 8, 1, 1, &g), "grid.x beyond 2^31 - 1");
  for (auto bad : std::vector<std::array<int64_t, 4>>{{0, 8, 1, 1}, {1, 0, 1, 1}, {1, 8, 0, 1}, {1, 8, 1, 0}, {-1, 8, 1, 1}})
    CHECK(!spmm_grid(bad[0], int(bad[1]), bad[2], bad[3], &g), "degenerate grid accepted");
  // cuBLASLt workspace: NVIDIA's recommendation, 32 MiB from Hopper on, 4 MiB before.
  CHECK(cublaslt_workspace_bytes(9) == 32u << 20 && cublaslt_workspace_bytes(10) == 32u << 20, "Hopper+ workspace");
  CHECK(cublaslt_workspace_bytes(8) == 4u << 20, "Ampere/Ada workspace");
}

int main() {
  test_params_compute_our_product();
  test_types();
  test_eligible_calls_meet_constraints();
  test_plan_keys();
  test_decision();
  test_launch_grid();
  std::printf("cuda_route_test: %d checks, %d failures\n", g_checks, g_failures);
  return g_failures ? 1 : 0;
}
