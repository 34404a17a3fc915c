// SLoRB's GPU term without a GPU: replays slorb_group_sums and slorb_add (native/cuda/kernels/
// slorb.cu) thread by thread on the CPU with the kernels' own index math (slorb_index.h) and an
// independent model of __shfl_xor_sync's butterfly, and compares with a float64 reference of
// part + rowScale · S·(P·x): every S dtype (f32, f16, bf16, int8 with f32/f16 row scales), odd M,
// G not a multiple of 32, N = 1..9, and a grid smaller than the rows (the kernel's grid stride).
#include <cmath>
#include <cstdio>
#include <vector>

#include "../core/dtype.h"
#include "../cuda/kernels/slorb_index.h"
#include "check.h"

using namespace sk;
using namespace sk::cuda;

namespace {

uint64_t g_state = 0x9e3779b97f4a7c15ull;
float rnd() {  // uniform [-1, 1)
  g_state = g_state * 6364136223846793005ull + 1442695040888963407ull;
  return float(int64_t(g_state >> 11) - (int64_t(1) << 52)) / float(int64_t(1) << 52);
}

// Values as the GPU reads them: 16-bit inputs are rounded once, int8 codes are integers.
float rounded(DType t, float v) {
  if (t == DType::bf16) return bf16_to_f32(f32_to_bf16(v));
  if (t == DType::f16) return f16_to_f32(f32_to_f16(v));
  if (t == DType::i8) return std::nearbyint(v * 100.f);
  return v;
}

// __shfl_xor_sync(full, v, o) gives lane l the value of lane l ^ o, for all lanes at once.
void butterfly_model(float* v) {
  for (int step = 0; step < kSlorbButterflySteps; ++step) {
    const int o = slorb_butterfly_offset(step);
    float next[32];
    for (int l = 0; l < 32; ++l) next[l] = v[l] + v[l ^ o];
    for (int l = 0; l < 32; ++l) v[l] = next[l];
  }
}

void run_case(int64_t M, int64_t K, int64_t k, int64_t N, DType xt, DType st, DType rst, int64_t max_blocks) {
  const int64_t G = K / k;
  std::vector<float> x(size_t(N * K)), s(size_t(M * G)), rs(size_t(M), 1.f), part(size_t(N * M));
  for (auto& v : x) v = rounded(xt, rnd());
  for (auto& v : s) v = rounded(st, rnd());
  if (st == DType::i8) for (auto& v : rs) v = rounded(rst, 0.01f * (1.f + rnd()));
  for (auto& v : part) v = rnd();
  // float64 reference, and the scale of its rounding error
  std::vector<double> want(part.begin(), part.end()), mag(size_t(N * M));
  for (int64_t t = 0; t < N; ++t)
    for (int64_t r = 0; r < M; ++r) {
      double acc = 0, m = std::fabs(part[size_t(t * M + r)]);
      for (int64_t i = 0; i < G; ++i) {
        double gi = 0, gm = 0;
        for (int64_t j = 0; j < k; ++j) { gi += x[size_t(t * K + i * k + j)]; gm += std::fabs(x[size_t(t * K + i * k + j)]); }
        acc += double(s[size_t(r * G + i)]) * gi;
        m += std::fabs(double(rs[size_t(r)]) * s[size_t(r * G + i)]) * gm;
      }
      want[size_t(t * M + r)] += double(rs[size_t(r)]) * acc;
      mag[size_t(t * M + r)] = m;
    }
  // slorb_group_sums, thread by thread
  std::vector<float> g(size_t(N * G), NAN);
  const auto lx = [&](int64_t e) { return x[size_t(e)]; };
  for (int64_t idx = 0; idx < N * G; ++idx) {
    int64_t t, i;
    slorb_gsum_cell(idx, G, &t, &i);
    CHECK(t >= 0 && t < N && i >= 0 && i < G, "group-sum cell %lld out of range", (long long)idx);
    g[size_t(idx)] = slorb_group_sum(lx, t, i, K, k);
  }
  // slorb_add: blocks of kSlorbWarps warps striding over the rows, each warp a row
  std::vector<int> visits(size_t(M), 0);
  const auto ls = [&](int64_t e) { return s[size_t(e)]; };
  const auto lg = [&](int64_t e) { return g[size_t(e)]; };
  const int64_t grid = slorb_add_grid(M, max_blocks);
  for (int64_t b0 = 0; b0 < grid; ++b0)
    for (int64_t block = b0; block * kSlorbWarps < M; block += grid)
      for (int warp = 0; warp < kSlorbWarps; ++warp) {
        const int64_t r = slorb_add_row(block, warp);
        if (r >= M) continue;
        ++visits[size_t(r)];
        for (int64_t t = 0; t < N; ++t) {
          float lanes[32];
          for (int lane = 0; lane < 32; ++lane) lanes[lane] = slorb_lane_partial(ls, lg, r, t, G, lane);
          butterfly_model(lanes);
          part[size_t(slorb_part_index(t, r, M))] += rs[size_t(r)] * lanes[0];
        }
      }
  for (int64_t r = 0; r < M; ++r) CHECK(visits[size_t(r)] == 1, "row %lld visited %d times", (long long)r, visits[size_t(r)]);
  const double eps = double(K + G + 2) * 1.2e-7;
  for (int64_t e = 0; e < N * M; ++e)
    CHECK(std::fabs(part[size_t(e)] - want[size_t(e)]) <= eps * mag[size_t(e)] + 1e-30,
          "M=%lld K=%lld k=%lld N=%lld S %s: element %lld got %.9g want %.9g", (long long)M, (long long)K, (long long)k, (long long)N,
          dtype_name(st), (long long)e, double(part[size_t(e)]), want[size_t(e)]);
}

}  // namespace

int main() {
  // [M, K, k]: G = 37 (a lane tail), G = 64, G = 1, one row, 16 groups of 16.
  const int64_t shapes[][3] = {{23, 111, 3}, {9, 1024, 16}, {6, 5, 5}, {1, 48, 16}, {70, 4096, 16}};
  const DType sts[] = {DType::f32, DType::f16, DType::bf16, DType::i8};
  for (const auto& sh : shapes)
    for (DType st : sts)
      for (int64_t N : {1, 2, 9}) {
        run_case(sh[0], sh[1], sh[2], N, DType::bf16, st, DType::f32, 65535);
        if (st == DType::i8) run_case(sh[0], sh[1], sh[2], N, DType::f16, st, DType::f16, 65535);
      }
  run_case(70, 64, 16, 3, DType::f32, DType::f32, DType::f32, 2);  // grid of 2 blocks over 9 row blocks
  std::printf("slorb_replay_test: %d checks, %d failures\n", g_checks, g_failures);
  return g_failures ? 1 : 0;
}
