// SLoRB's GPU term without a GPU: replays slorb_group_sums, the projection and slorb_add
// (native/cuda/kernels/slorb.cu) thread by thread on the CPU (native/cuda/replay/replay_slorb.cpp:
// the kernels' own index math, slorb_index.h, and an independent model of __shfl_xor_sync's
// butterfly), and compares with a float64 reference of part + rowScale · S·(P·x): every S dtype
// (f32, f16, bf16, int8 with f32/f16 row scales), a general P, odd M, G not a multiple of 32,
// N = 1..9, and a grid smaller than the rows (the kernel's grid stride).
#include <cmath>
#include <cstdio>
#include <vector>

#include "../core/dtype.h"
#include "../cuda/replay/replay_slorb.h"
#include "check.h"

using namespace sk;
using namespace sk::cuda;

namespace {

uint64_t g_state = 0x9e3779b97f4a7c15ull;
float rnd() {  // uniform [-1, 1)
  g_state = g_state * 6364136223846793005ull + 1442695040888963407ull;
  return float(int64_t(g_state >> 11) - (int64_t(1) << 52)) / float(int64_t(1) << 52);
}

// A buffer of `count` values of dtype t and the values as stored: int8 codes in [-100, 100],
// row scales (`row_scales`) in (0, 0.02), anything else in [-1, 1).
struct Typed {
  std::vector<uint8_t> bytes;
  std::vector<double> v;
  Typed(DType t, size_t count, bool row_scales = false) : bytes(count * dtype_size(t)), v(count) {
    for (size_t i = 0; i < count; ++i) {
      const float r = rnd();
      store_from_f32(bytes.data(), t, i, t == DType::i8 ? std::nearbyint(100.f * r) : row_scales ? 0.01f * (1.f + r) : r);
      v[i] = load_as_f32(bytes.data(), t, i);
    }
  }
};

void run_case(int64_t M, int64_t K, int64_t k, int64_t N, DType xt, DType st, DType rst, bool proj, int64_t max_blocks) {
  const int64_t G = K / k;
  Typed x(xt, size_t(N * K)), s(st, size_t(M * G)), p(DType::bf16, proj ? size_t(G * K) : 0);
  Typed rs(rst, st == DType::i8 ? size_t(M) : 0, true);
  std::vector<float> part(size_t(N * M));
  for (auto& v : part) v = rnd();
  // float64 reference, and the scale of its rounding error
  std::vector<double> want(part.begin(), part.end()), mag(size_t(N * M));
  for (int64_t t = 0; t < N; ++t) {
    std::vector<double> g(static_cast<size_t>(G)), gm(static_cast<size_t>(G));
    for (int64_t i = 0; i < G; ++i)
      for (int64_t j = 0; j < K; ++j) {
        const double pij = proj ? p.v[size_t(i * K + j)] : j / k == i ? 1 : 0;
        g[size_t(i)] += pij * x.v[size_t(t * K + j)];
        gm[size_t(i)] += std::fabs(pij * x.v[size_t(t * K + j)]);
      }
    for (double& v : g) v = round_to_dtype(float(v), xt);  // g in x's dtype (docs/adapters.md, "Numerics")
    for (int64_t r = 0; r < M; ++r) {
      const double scale = st == DType::i8 ? rs.v[size_t(r)] : 1.0;
      double acc = 0, m = std::fabs(part[size_t(t * M + r)]);
      for (int64_t i = 0; i < G; ++i) {
        acc += s.v[size_t(r * G + i)] * g[size_t(i)];
        m += std::fabs(scale * s.v[size_t(r * G + i)]) * gm[size_t(i)];
      }
      want[size_t(t * M + r)] += scale * acc;
      mag[size_t(t * M + r)] = m;
    }
  }
  SlorbReplay term;
  term.group = k;
  term.scales = s.bytes.data();
  term.scales_dtype = st;
  if (st == DType::i8) {
    term.row_scales = rs.bytes.data();
    term.row_scales_dtype = rst;
  }
  if (proj) {
    term.proj = p.bytes.data();
    term.proj_dtype = DType::bf16;
  }
  Status status = replay_slorb_term(term, M, K, x.bytes.data(), xt, N, part.data(), max_blocks);
  CHECK(status.ok(), "replay failed: %s", status.message.c_str());
  const double eps = double(K + G + 2) * 1.2e-7;
  for (int64_t e = 0; e < N * M; ++e)
    CHECK(std::fabs(part[size_t(e)] - want[size_t(e)]) <= eps * mag[size_t(e)] + 1e-30,
          "M=%lld K=%lld k=%lld N=%lld S %s%s: element %lld got %.9g want %.9g", (long long)M, (long long)K, (long long)k, (long long)N,
          dtype_name(st), proj ? " P" : "", (long long)e, double(part[size_t(e)]), want[size_t(e)]);
}

}  // namespace

int main() {
  // [M, K, k]: G = 37 (a lane tail), G = 64, G = 1, one row, 16 groups of 16.
  const int64_t shapes[][3] = {{23, 111, 3}, {9, 1024, 16}, {6, 5, 5}, {1, 48, 16}, {70, 4096, 16}};
  const DType sts[] = {DType::f32, DType::f16, DType::bf16, DType::i8};
  for (const auto& sh : shapes)
    for (DType st : sts)
      for (int64_t N : {1, 2, 9}) {
        run_case(sh[0], sh[1], sh[2], N, DType::bf16, st, DType::f32, false, 65535);
        if (st == DType::i8) run_case(sh[0], sh[1], sh[2], N, DType::f16, st, DType::f16, false, 65535);
      }
  for (const auto& sh : shapes)  // a general P: the row-dot kernel with P as the rows
    if (sh[1] <= 1024)
      for (int64_t N : {1, 3}) run_case(sh[0], sh[1], sh[2], N, DType::f16, DType::bf16, DType::f32, true, 65535);
  run_case(70, 64, 16, 3, DType::f32, DType::f32, DType::f32, false, 2);  // grid of 2 blocks over 9 row blocks
  run_case(70, 640, 2, 2, DType::f32, DType::i8, DType::bf16, true, 3);   // P with G = 320 rows over a 3-block grid
  std::printf("slorb_replay_test: %d checks, %d failures\n", g_checks, g_failures);
  return g_failures ? 1 : 0;
}
