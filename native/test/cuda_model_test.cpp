// Verification of the CUDA kernels without a GPU (docs/cuda.md): the warp model against the
// canonical ldmatrix / mma usage, the 2:4 metadata encoder against the dense product, and a CPU
// replay of every kernel's thread blocks against an fp64 reference over odd shapes, N = 1..40,
// sparsities up to fully dense tiles, both half types and split-K. Run by ctest and by vitest
// (test/cuda-model.test.ts runs this binary when it was built).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "../core/convert.h"
#include "../cuda/replay/replay.h"
#include "../cuda/kernels/mma_layout.h"
#include "../cuda/kernels/sp24_index.h"
#include "../cuda/kernels/tiled_csl_index.h"
#include "../cuda/replay/warp_model.h"
#include "../formats/sparse_matrix.h"
#include "check.h"

using namespace sk;
using namespace sk::cuda;


static uint16_t to_half(DType dt, float v) { return dt == DType::bf16 ? f32_to_bf16(v) : f32_to_f16(v); }
static double from_half(DType dt, uint16_t h) { return dt == DType::bf16 ? bf16_to_f32(h) : f16_to_f32(h); }

// The canonical use of the instructions (row-major A [16][16] in smem; ldmatrix.x4 with lanes
// 0-15 pointing at rows 0-15 of columns 0-7 and lanes 16-31 at rows 0-15 of columns 8-15; B
// row-major [16][8] read with ldmatrix.x2.trans) must reproduce the plain product.
static void test_model_canonical(DType dt) {
  std::vector<float> r(16 * 16 + 16 * 8);
  fill_random(r.data(), DType::f32, r.size(), 11, Distribution::normal, 0, 1);
  std::vector<uint16_t> smem(16 * 16 + 16 * 8);
  for (size_t i = 0; i < smem.size(); ++i) smem[i] = to_half(dt, r[i]);
  uint32_t addr[32], a4[32][4], b4[32][4], b[32][2];
  for (int l = 0; l < 32; ++l) addr[l] = uint32_t((l % 16) * 16 + (l / 16) * 8);
  model::ModelError err;
  model::ldmatrix(smem.data(), smem.size(), addr, 4, false, a4, &err);
  for (int l = 0; l < 32; ++l) addr[l] = uint32_t(256 + (l % 16) * 8);
  model::ldmatrix(smem.data(), smem.size(), addr, 2, true, b4, &err);
  CHECK(!err.failed, "ldmatrix model: %s", err.what.c_str());
  for (int l = 0; l < 32; ++l) { b[l][0] = b4[l][0]; b[l][1] = b4[l][1]; }
  float c[32][4], d[32][4];
  for (int l = 0; l < 32; ++l)
    for (int i = 0; i < 4; ++i) c[l][i] = float(l * 4 + i) * 0.25f;
  model::mma_m16n8k16(dt, a4, b, c, d);
  // Where the PTX ISA puts D[row][col]: lane 4*(row%8) + col/2, register (row/8)*2 + col%2.
  for (int row = 0; row < 16; ++row)
    for (int col = 0; col < 8; ++col) {
      double want = 0;
      for (int k = 0; k < 16; ++k) want += from_half(dt, smem[row * 16 + k]) * from_half(dt, smem[256 + k * 8 + col]);
      const int lane = 4 * (row % 8) + col / 2, i = (row / 8) * 2 + col % 2;
      want += c[lane][i];
      CHECK(std::fabs(d[lane][i] - want) <= 1e-5 * (1 + std::fabs(want)), "canonical mma %s (%d,%d): %g vs %g",
            dtype_name(dt), row, col, d[lane][i], want);
    }
  // Misuse is reported, not silently accepted.
  addr[0] = 3;
  model::ModelError bad;
  model::ldmatrix(smem.data(), smem.size(), addr, 1, false, a4, &bad);
  CHECK(bad.failed, "misaligned ldmatrix row must be reported");
}

// mma.sp with metadata from the kernels' encoder (sp24_index.h) equals mma.sync on the dense A.
static void test_model_sparse(DType dt) {
  std::vector<float> r(16 * 16 + 16 * 8);
  fill_random(r.data(), DType::f32, r.size(), 12, Distribution::normal, 0, 1);
  uint16_t A[16][16] = {}, B[16][8];
  uint32_t asp[32][2] = {}, e[32] = {};
  for (int row = 0; row < 16; ++row)
    for (int g = 0; g < 4; ++g) {
      const int i0 = (row + g) % 3, i1 = i0 + 1 + (row * 7 + g) % (3 - i0);  // all six ordered pairs occur
      const uint16_t v0 = to_half(dt, r[row * 16 + 4 * g]), v1 = to_half(dt, r[row * 16 + 4 * g + 1]);
      A[row][4 * g + i0] = v0;
      A[row][4 * g + i1] = v1;
      asp[4 * (row % 8) + g][row / 8] = uint32_t(v0) | uint32_t(v1) << 16;
      e[4 * (row % 8) + kSp24Selector] |= sp24_group_bits(i0, i1) << sp24_meta_shift(row, g);
    }
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 8; ++n) B[k][n] = to_half(dt, r[256 + k * 8 + n]);
  uint32_t bf[32][2];
  for (int l = 0; l < 32; ++l)
    for (int j = 0; j < 2; ++j) {
      const int k = (l % 4) * 2 + 8 * j, n = l / 4;
      bf[l][j] = uint32_t(B[k][n]) | uint32_t(B[k + 1][n]) << 16;
    }
  float c[32][4] = {}, d[32][4];
  model::ModelError err;
  model::mma_sp_m16n8k16(dt, asp, bf, c, e, kSp24Selector, d, &err);
  CHECK(!err.failed, "mma.sp model: %s", err.what.c_str());
  for (int row = 0; row < 16; ++row)
    for (int n = 0; n < 8; ++n) {
      double want = 0;
      for (int k = 0; k < 16; ++k) want += from_half(dt, A[row][k]) * from_half(dt, B[k][n]);
      const float got = d[4 * (row % 8) + n / 2][(row / 8) * 2 + n % 2];
      CHECK(std::fabs(got - want) <= 1e-5 * (1 + std::fabs(want)), "mma.sp %s (%d,%d): %g vs %g", dtype_name(dt), row, n, got, want);
    }
  e[0] = 0x5;  // 0b0101: both indices 1, invalid
  model::ModelError bad;
  model::mma_sp_m16n8k16(dt, asp, bf, c, e, kSp24Selector, d, &bad);
  CHECK(bad.failed, "invalid 2:4 metadata must be reported");
}

static void test_replay(GpuKernel kernel, DType dt, int64_t M, int64_t K, int64_t N, float sparsity, int split) {
  std::vector<uint16_t> w(size_t(M * K)), x(size_t(N * K));
  fill_random(w.data(), dt, w.size(), uint64_t(M * 131 + K), Distribution::normal, 0, 1);
  fill_random(x.data(), dt, x.size(), uint64_t(N * 7 + 3), Distribution::normal, 0, 1);
  std::vector<float> u(size_t(M * K));
  fill_random(u.data(), DType::f32, u.size(), 5, Distribution::uniform, 0, 1);
  std::vector<uint8_t> mask(size_t(M * K));
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = u[i] >= sparsity;
  PackOptions opt;
  opt.format = kernel == GpuKernel::tiled_csl ? Format::tiled_csl : kernel == GpuKernel::bitmap ? Format::bitmap : Format::nm;
  opt.mask = mask.data();
  if (opt.format == Format::nm) { opt.n = 2; opt.m = 4; opt.prune_magnitude = true; }
  PackedMatrix pm;
  Status st = pack(w.data(), dt, M, K, opt, &pm);
  CHECK(st.ok(), "pack: %s", st.message.c_str());
  if (!st.ok()) return;
  std::vector<uint16_t> kept(w.size());  // what the packed matrix really holds (nm prunes further)
  unpack(pm.view(), kept.data());
  std::vector<float> y(size_t(M * N), -1.f);
  ReplayOptions ro;
  ro.kernel = kernel;
  ro.split_k = split;
  st = replay_spmm(pm.view(), x.data(), N, ro, y.data());
  CHECK(st.ok(), "replay %s: %s", gpu_kernel_name(kernel), st.message.c_str());
  if (!st.ok()) return;
  int bad = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) {
      double want = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        const double t = from_half(dt, kept[m * K + k]) * from_half(dt, x[n * K + k]);
        want += t;
        mag += std::fabs(t);
      }
      const double got = y[n * M + m];
      if (!(std::fabs(got - want) <= 1e-6 * mag * (split + 1) + 1e-30)) {
        if (bad++ == 0)
          CHECK(false, "%s %s M=%lld K=%lld N=%lld s=%.2f split=%d: y[%lld,%lld] = %g, want %g", gpu_kernel_name(kernel),
                dtype_name(dt), (long long)M, (long long)K, (long long)N, sparsity, split, (long long)n, (long long)m, got, want);
      }
    }
  if (!bad) ++g_checks;
}

// Shared memory has 32 4-byte banks; ldmatrix serves one 8x8 matrix (eight 16-byte rows) per
// phase, and a phase is conflict-free when the eight rows fall in eight different 16-byte bank
// groups. The same holds for eight consecutive threads' 16-byte cp.async stores.
static int bank_ways(const uint32_t elem_addr[8]) {
  int count[8] = {}, worst = 0;
  for (int r = 0; r < 8; ++r) worst = std::max(worst, ++count[(elem_addr[r] * 2 / 16) % 8]);
  return worst;
}

static void test_bank_conflicts() {
  int worst = 0;
  for (int lane_group = 0; lane_group < 4; ++lane_group)
    for (int w = 0; w < 4; ++w)
      for (int mt = 0; mt < 2; ++mt)
        for (int ks = 0; ks < kStageK / 16; ++ks) {
          uint32_t a[8];
          for (int r = 0; r < 8; ++r) {
            const int lane = lane_group * 8 + r;
            a[r] = smem_pos(tcsl_warp_row0(w, mt) + ldsm_a_row(lane), uint32_t(ks * 16) + ldsm_a_col(lane));
          }
          worst = std::max(worst, bank_ways(a));
        }
  CHECK(worst == 1, "ldmatrix.x4 on the swizzled A tile: %d-way bank conflict", worst);
  worst = 0;
  for (int bn : {8, 16, 32, 64})
    for (int lane_group = 0; lane_group < 2; ++lane_group)
      for (int nt = 0; nt < bn / 8; ++nt)
        for (int ks = 0; ks < kStageK / 16; ++ks) {
          uint32_t b[8];
          for (int r = 0; r < 8; ++r) {
            const int lane = lane_group * 8 + r;
            b[r] = smem_pos(uint32_t(nt * 8) + ldsm_b_row(lane), uint32_t(ks * 16) + ldsm_b_col(lane));
          }
          worst = std::max(worst, bank_ways(b));
        }
  CHECK(worst == 1, "ldmatrix.x2 on the activation tile: %d-way bank conflict", worst);
  worst = 0;
  for (int bn : {8, 16, 32, 64})
    for (int t0 = 0; t0 < b_tile_chunks(bn); t0 += 8) {
      uint32_t c[8];
      for (int r = 0; r < 8; ++r) c[r] = smem_pos(b_chunk_row(t0 + r), b_chunk_col(t0 + r));
      worst = std::max(worst, bank_ways(c));
    }
  CHECK(worst == 1, "activation tile stores: %d-way bank conflict", worst);
  // Without the swizzle the A reads would be 8-way conflicted: the check can fail.
  uint32_t plain[8];
  for (int r = 0; r < 8; ++r) plain[r] = uint32_t(r * kStageK);
  CHECK(bank_ways(plain) == 8, "unswizzled rows must conflict");
}

// The replay's shared-memory race check must notice a barrier taken out of the kernel schedule.
static void test_race_check() {
  const int64_t M = 130, K = 200, N = 8;
  std::vector<uint16_t> w(size_t(M * K)), x(size_t(N * K));
  fill_random(w.data(), DType::f16, w.size(), 3, Distribution::normal, 0, 1);
  fill_random(x.data(), DType::f16, x.size(), 4, Distribution::normal, 0, 1);
  for (GpuKernel kernel : {GpuKernel::tiled_csl, GpuKernel::bitmap, GpuKernel::sp24}) {
    PackOptions opt;
    opt.format = kernel == GpuKernel::tiled_csl ? Format::tiled_csl : kernel == GpuKernel::bitmap ? Format::bitmap : Format::nm;
    if (opt.format == Format::nm) { opt.n = 2; opt.m = 4; opt.prune_magnitude = true; }
    PackedMatrix pm;
    CHECK(pack(w.data(), DType::f16, M, K, opt, &pm).ok(), "pack");
    std::vector<float> y(size_t(M * N));
    ReplayOptions ro;
    ro.kernel = kernel;
    CHECK(replay_spmm(pm.view(), x.data(), N, ro, y.data()).ok(), "%s: the kernel's own schedule is race-free", gpu_kernel_name(kernel));
    ro.omit_barrier = true;
    Status st = replay_spmm(pm.view(), x.data(), N, ro, y.data());
    CHECK(!st.ok() && st.message.find("race") != std::string::npos, "%s: a missing barrier must be reported, got '%s'",
          gpu_kernel_name(kernel), st.message.c_str());
  }
}

// The metadata layout written out literally as documented (docs/cuda.md "Verification"): the word
// of lane 4g holds row g in its low 16 bits and row g + 8 in its high 16 bits, chunk c in bits
// [4c, 4c + 4), the first kept index in a nibble's low two bits. LLVM's mma.sp integration test
// packs 0x8888 per row half for "positions 0 and 2 in every chunk". Rows g keep {0, 1} (0x4444)
// and rows g + 8 keep {2, 3} (0xEEEE) here, so a swapped row pairing would move values.
static void test_metadata_literal(DType dt) {
  uint32_t e[32] = {}, asp[32][2], bf[32][2];
  for (int g = 0; g < 8; ++g) e[4 * g] = 0xEEEE4444u;
  for (int l = 0; l < 32; ++l) {
    asp[l][0] = uint32_t(to_half(dt, float(1 + l))) | uint32_t(to_half(dt, float(100 + l))) << 16;
    asp[l][1] = uint32_t(to_half(dt, float(-1 - l))) | uint32_t(to_half(dt, float(-100 - l))) << 16;
  }
  // B = identity in its first 8 rows of k: D[row][n] = A[row][n] for n < 8, i.e. chunks 0 and 1.
  for (int l = 0; l < 32; ++l)
    for (int j = 0; j < 2; ++j) {
      const int k = (l % 4) * 2 + 8 * j, n = l / 4;
      bf[l][j] = uint32_t(to_half(dt, k == n ? 1.f : 0.f)) | uint32_t(to_half(dt, k + 1 == n ? 1.f : 0.f)) << 16;
    }
  float c[32][4] = {}, d[32][4];
  model::ModelError err;
  model::mma_sp_m16n8k16(dt, asp, bf, c, e, 0, d, &err);
  CHECK(!err.failed, "literal metadata: %s", err.what.c_str());
  for (int row = 0; row < 16; ++row)
    for (int n = 0; n < 8; ++n) {
      const int chunk = n / 4, pos = n % 4, lane = 4 * (row % 8) + chunk;
      const int keep0 = row < 8 ? 0 : 2;  // rows g: {0, 1}; rows g + 8: {2, 3}
      double want = 0;
      if (pos == keep0) want = row < 8 ? 1 + lane : -1 - lane;
      if (pos == keep0 + 1) want = row < 8 ? 100 + lane : -100 - lane;
      const float got = d[4 * (row % 8) + n / 2][(row / 8) * 2 + n % 2];
      CHECK(got == float(from_half(dt, to_half(dt, float(want)))), "literal metadata %s D[%d][%d] = %g, want %g", dtype_name(dt),
            row, n, got, want);
    }
  // The kernels' encoder writes the same words.
  uint32_t enc = 0;
  for (int g = 0; g < 4; ++g) enc |= sp24_group_bits(0, 1) << sp24_meta_shift(3, g) | sp24_group_bits(2, 3) << sp24_meta_shift(11, g);
  CHECK(enc == 0xEEEE4444u, "encoder word %08x, documented 0xEEEE4444", enc);
  uint32_t llvm = 0;
  for (int g = 0; g < 4; ++g) llvm |= sp24_group_bits(0, 2) << sp24_meta_shift(0, g);
  CHECK(llvm == 0x8888u, "positions {0, 2} in every chunk of a row encode as LLVM's 0x8888, got %04x", llvm);
}

int main() {
  test_bank_conflicts();
  test_race_check();
  for (DType dt : {DType::f16, DType::bf16}) {
    test_model_canonical(dt);
    test_model_sparse(dt);
    test_metadata_literal(dt);
  }
  // M, K not multiples of the tiles; N = 1, 8, 16, 40 (40 -> a 64-wide tile, partly empty).
  const int64_t shapes[][2] = {{128, 64}, {200, 130}, {37, 300}, {256, 192}, {1, 5}};
  const int64_t ns[] = {1, 8, 16, 40};
  for (GpuKernel kernel : {GpuKernel::tiled_csl, GpuKernel::bitmap, GpuKernel::sp24})
    for (DType dt : {DType::f16, DType::bf16})
      for (auto& s : shapes)
        for (int64_t n : ns) {
          // 0.0 and 0.3: tiles over 50% dense (a second register round for tiled-csl).
          for (float sp : {0.0f, 0.3f, 0.7f, 0.95f}) {
            if (kernel == GpuKernel::sp24 && sp > 0.3f) continue;  // 2:4 is 50% by construction
            test_replay(kernel, dt, s[0], s[1], n, sp, 1);
          }
          test_replay(kernel, dt, s[0], s[1], n, 0.5f, 3);
        }
  std::printf("%d passed, %d failed\n", g_checks - g_failures, g_failures);
  return g_failures == 0 ? 0 : 1;
}
