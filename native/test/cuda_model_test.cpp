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
#include "../cuda/kernels/q4_index.h"
#include "../cuda/kernels/sp24_index.h"
#include "../cuda/kernels/tiled_csl_index.h"
#include "../cuda/replay/warp_model.h"
#include "../formats/layout.h"
#include "../formats/sparse_matrix.h"
#include "../formats/tiled_csl_order.h"
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

// mma.sp m16n8k32: the compressed A as two m16n8k16 sparse fragments side by side (registers 0-1
// columns 0-15, 2-3 columns 16-31), metadata from the thread pair of the selector, lane h of the
// pair holding the encoder's word for columns 16h .. 16h+15. Must equal the dense product.
static void test_model_sparse_k32(DType dt, int selector) {
  std::vector<float> r(16 * 32 + 32 * 8);
  fill_random(r.data(), DType::f32, r.size(), 13 + uint64_t(selector), Distribution::normal, 0, 1);
  uint16_t A[16][32] = {}, B[32][8];
  uint32_t asp[32][4] = {}, e[32] = {};
  for (int row = 0; row < 16; ++row)
    for (int g = 0; g < 8; ++g) {
      const int i0 = (row + g) % 3, i1 = i0 + 1 + (row * 5 + g) % (3 - i0);  // all six ordered pairs occur
      const uint16_t v0 = to_half(dt, r[row * 32 + 4 * g]), v1 = to_half(dt, r[row * 32 + 4 * g + 1]);
      A[row][4 * g + i0] = v0;
      A[row][4 * g + i1] = v1;
      const int h = g / 4;
      asp[4 * (row % 8) + g % 4][2 * h + row / 8] = uint32_t(v0) | uint32_t(v1) << 16;
      e[4 * (row % 8) + 2 * selector + h] |= sp24_group_bits(i0, i1) << sp24_meta_shift(row, g % 4);
    }
  for (int k = 0; k < 32; ++k)
    for (int n = 0; n < 8; ++n) B[k][n] = to_half(dt, r[512 + k * 8 + n]);
  uint32_t bf[32][4];
  for (int l = 0; l < 32; ++l)
    for (int j = 0; j < 4; ++j) {
      const int k = (l % 4) * 2 + 8 * j, n = l / 4;
      bf[l][j] = uint32_t(B[k][n]) | uint32_t(B[k + 1][n]) << 16;
    }
  float c[32][4], d[32][4];
  for (int l = 0; l < 32; ++l)
    for (int i = 0; i < 4; ++i) c[l][i] = 0.5f * float(i - l % 3);
  model::ModelError err;
  model::mma_sp_m16n8k32(dt, asp, bf, c, e, selector, d, &err);
  CHECK(!err.failed, "mma.sp k32 model: %s", err.what.c_str());
  for (int row = 0; row < 16; ++row)
    for (int n = 0; n < 8; ++n) {
      const int lane = 4 * (row % 8) + n / 2, i = (row / 8) * 2 + n % 2;
      double want = c[lane][i];
      for (int k = 0; k < 32; ++k) want += from_half(dt, A[row][k]) * from_half(dt, B[k][n]);
      CHECK(std::fabs(d[lane][i] - want) <= 1e-5 * (1 + std::fabs(want)), "mma.sp k32 %s selector %d (%d,%d): %g vs %g",
            dtype_name(dt), selector, row, n, d[lane][i], want);
    }
  // The other thread pair holds no metadata (zero words = 0b0000, invalid): reported, not guessed.
  model::ModelError other;
  model::mma_sp_m16n8k32(dt, asp, bf, c, e, 1 - selector, d, &other);
  CHECK(other.failed, "k32 with the wrong selector must read invalid metadata");
  model::ModelError range;
  model::mma_sp_m16n8k32(dt, asp, bf, c, e, 2, d, &range);
  CHECK(range.failed, "k32 selector 2 is out of range for .f16/.bf16");
}

// Half-ulp of |v| once rounded to `out` (RNE), with f16's subnormal spacing as the floor.
static double half_ulp(DType out, double v) {
  if (out == DType::f32) return 0;
  const int e = v == 0 ? -126 : std::ilogb(v);
  return out == DType::f16 ? std::ldexp(1.0, std::max(e, -14) - 11) : std::ldexp(1.0, e - 8);
}

// y[n][m] = sum_k w(m, k) x(n, k) in fp64 and sum |terms|, for weights and activations given as
// element accessors (16-bit or float storage).
template <class W, class X>
static void dot_ref(W w, X x, int64_t m, int64_t n, int64_t K, double* want, double* mag) {
  *want = 0;
  *mag = 0;
  for (int64_t k = 0; k < K; ++k) {
    const double t = w(m, k) * x(n, k);
    *want += t;
    *mag += std::fabs(t);
  }
}

static void test_replay(GpuKernel kernel, DType dt, int64_t M, int64_t K, int64_t N, float sparsity, int split, int selector = 0,
                        DType out = DType::f32) {
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
  ro.sp24_selector = selector;
  ro.out_dtype = out;
  st = replay_spmm(pm.view(), x.data(), N, ro, y.data());
  CHECK(st.ok(), "replay %s %s M=%lld K=%lld N=%lld s=%.2f: %s", gpu_kernel_name(kernel), dtype_name(dt), (long long)M, (long long)K, (long long)N, sparsity, st.message.c_str());
  if (!st.ok()) return;
  int bad = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) {
      double want, mag;
      dot_ref([&](int64_t r, int64_t k) { return from_half(dt, kept[r * K + k]); }, [&](int64_t c, int64_t k) { return from_half(dt, x[c * K + k]); },
              m, n, K, &want, &mag);
      const double got = y[n * M + m];
      // A 16-bit output is the fp32 sum rounded once: representable, and within half an ulp.
      const bool representable = out == DType::f32 || (out == DType::f16 ? double(f16_to_f32(f32_to_f16(float(got))))
                                                                         : double(bf16_to_f32(f32_to_bf16(float(got))))) == got;
      if (!representable || !(std::fabs(got - want) <= 1e-6 * mag * (split + 1) + half_ulp(out, std::fabs(want)) * 1.0001 + 1e-30)) {
        if (bad++ == 0)
          CHECK(false, "%s %s->%s M=%lld K=%lld N=%lld s=%.2f split=%d sel=%d: y[%lld,%lld] = %g, want %g", gpu_kernel_name(kernel),
                dtype_name(dt), dtype_name(out), (long long)M, (long long)K, (long long)N, sparsity, split, selector, (long long)n,
                (long long)m, got, want);
      }
    }
  if (!bad) ++g_checks;
}

// The int4 kernels' in-register dequantization (q4_index.h), exhaustively: every code q and zero
// point z in every register and half gives exactly q - z in f16 and bf16, and the scale word's two
// halves are rows g and g + 8.
static void test_q4_dequant() {
  int bad = 0;
  for (bool bf16 : {false, true})
    for (int r = 0; r < 4; ++r)
      for (uint32_t q0 = 0; q0 < 16; ++q0)
        for (uint32_t q1 = 0; q1 < 16; ++q1)
          for (uint32_t z = 0; z < 16; ++z) {
            // Other registers' nibbles are set to 15 (they must not leak in); z for this row, 3 for the other.
            uint32_t word = 0xffffffffu;
            word &= ~(0xfu << q4_nibble_shift(r, 0)) & ~(0xfu << q4_nibble_shift(r, 1));
            word |= q0 << q4_nibble_shift(r, 0) | q1 << q4_nibble_shift(r, 1);
            const uint32_t zw = (r & 1) ? (3u | z << 16) : (z | 3u << 16);
            const uint32_t d = q4_dequant_reg(word, r, zw, bf16);
            const DType dt = bf16 ? DType::bf16 : DType::f16;
            if (from_half(dt, uint16_t(d)) != double(int(q0) - int(z)) || from_half(dt, uint16_t(d >> 16)) != double(int(q1) - int(z)))
              if (bad++ == 0) CHECK(false, "q4 dequant %s r=%d q=(%u,%u) z=%u: got %08x", bf16 ? "bf16" : "f16", r, q0, q1, z, d);
          }
  if (!bad) ++g_checks;
  CHECK(q4_scale(0x3c00u | (0x4000u << 16), 0) == 1.f && q4_scale(0x3c00u | (0x4000u << 16), 1) == 2.f, "q4 scale halves");
}

// Both int4 kernels through the replay, from a C++-packed int4 matrix, against fp64 on the
// unpacked (exactly dequantized) weight; asymmetric grid, K with a half stage at the end.
static void test_q4_replay(GpuKernel kernel, DType xdt, int64_t M, int64_t K, int64_t N, int group, int split) {
  std::vector<float> w(size_t(M * K));
  std::vector<uint16_t> x(size_t(N * K));
  fill_random(w.data(), DType::f32, w.size(), uint64_t(M * 17 + K), Distribution::normal, 0, 1);
  fill_random(x.data(), xdt, x.size(), uint64_t(N * 5 + 1), Distribution::normal, 0, 1);
  PackOptions opt;
  opt.format = kernel == GpuKernel::q4_sp24 ? Format::nm : Format::dense;
  if (opt.format == Format::nm) { opt.n = 2; opt.m = 4; opt.prune_magnitude = true; }
  opt.quant.bits = 4;
  opt.quant.group = group;
  opt.quant.asym = true;
  PackedMatrix pm;
  Status st = pack(w.data(), DType::f32, M, K, opt, &pm);
  CHECK(st.ok(), "q4 pack: %s", st.message.c_str());
  if (!st.ok()) return;
  std::vector<float> deq(w.size());
  unpack(pm.view(), deq.data());
  std::vector<float> y(size_t(M * N), -1.f);
  ReplayOptions ro;
  ro.kernel = kernel;
  ro.split_k = split;
  ro.x_dtype = xdt;
  st = replay_spmm(pm.view(), x.data(), N, ro, y.data());
  CHECK(st.ok(), "replay %s: %s", gpu_kernel_name(kernel), st.message.c_str());
  if (!st.ok()) return;
  int bad = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m) {
      double want, mag;
      dot_ref([&](int64_t r, int64_t k) { return double(deq[r * K + k]); }, [&](int64_t c, int64_t k) { return from_half(xdt, x[c * K + k]); },
              m, n, K, &want, &mag);
      if (!(std::fabs(y[n * M + m] - want) <= std::ldexp(mag, -24) * double(K / 32 + split + 2)) && bad++ == 0)
        CHECK(false, "%s x %s M=%lld K=%lld N=%lld g%d split %d: y[%lld,%lld] = %g, want %g", gpu_kernel_name(kernel), dtype_name(xdt),
              (long long)M, (long long)K, (long long)N, group, split, (long long)n, (long long)m, y[n * M + m], want);
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

// The Tiled-CSL packer's order (formats/tiled_csl_order.h): every tile of random matrices at
// densities 1% .. 100% validates, scatters without bank conflicts, and pays little padding; the
// replay refuses the old (row, col) order, whose scatters conflict.
static void test_tiled_csl_bank_order() {
  const int64_t M = 300, K = 700;  // edge tiles of 44 rows and 60 columns too
  std::vector<uint16_t> w(size_t(M * K));
  fill_random(w.data(), DType::f16, w.size(), 21, Distribution::normal, 0, 1);
  std::vector<float> u(w.size());
  fill_random(u.data(), DType::f32, u.size(), 22, Distribution::uniform, 0, 1);
  for (double density : {0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0}) {
    std::vector<uint8_t> mask(w.size());
    int64_t kept = 0;
    for (size_t i = 0; i < mask.size(); ++i) kept += mask[i] = u[i] < density;
    PackOptions opt;
    opt.format = Format::tiled_csl;
    opt.mask = mask.data();
    PackedMatrix pm;
    CHECK(pack(w.data(), DType::f16, M, K, opt, &pm).ok(), "pack");
    const MatrixView v = pm.view();
    CHECK(validate(v).ok(), "density %.2f: %s", density, validate(v).message.c_str());
    const uint32_t* words = v.as<uint32_t>(Part::words);
    const int32_t* offs = v.as<int32_t>(Part::tile_offsets);
    const int64_t tiles = tiles_down(M) * tiles_across(K);
    int worst = 0;
    for (int64_t t = 0; t < tiles; ++t) worst = std::max(worst, tile_scatter_conflict_ways(words + offs[t], offs[t + 1] - offs[t]));
    CHECK(worst <= 1, "density %.2f: a scatter store is %d-way bank conflicted", density, worst);
    const double pad = double(offs[tiles] - kept) / double(std::max<int64_t>(kept, 1));
    std::printf("tiled-csl bank order, density %.2f: %lld words for %lld values (padding %.2f%%), worst scatter %d-way\n", density,
                (long long)offs[tiles], (long long)kept, 100 * pad, worst);
    // Near the fewest stores possible: each store takes at most one 32-bit shared word per bank and
    // 32 values, so a tile needs max(words in its fullest bank, values / 32) stores; the packer
    // may round that up to whole 128-word chunks only.
    for (int64_t t = 0; t < tiles; ++t) {
      int units[32] = {};
      int64_t values = 0;
      for (int32_t i = offs[t]; i < offs[t + 1]; ++i)
        if (uint16_t(words[i] & 0xffffu) != 0) {
          ++values;
          const uint32_t sw = (words[i] >> 16) / 2;
          if (i == offs[t] || (words[i - 1] >> 16) / 2 != sw) ++units[sw % 32];  // a pair split apart counts twice: a looser bound
        }
      const int64_t stores = std::max<int64_t>(*std::max_element(units, units + 32), (values + 31) / 32);
      CHECK(offs[t + 1] - offs[t] <= (stores + 3) / 4 * 128, "density %.2f tile %lld: %d words for a minimum of %lld stores", density,
            (long long)t, offs[t + 1] - offs[t], (long long)stores);
    }
    // The same tiles in (row, col) order with trailing repeats: still a valid matrix, but the replay
    // reports the conflicts its scatters would have.
    if (density < 0.25 || density > 0.35) continue;
    std::vector<uint32_t> old_words;
    std::vector<int32_t> old_offs{0};
    for (int64_t t = 0; t < tiles; ++t) {
      std::vector<uint32_t> tw;
      for (int32_t i = offs[t]; i < offs[t + 1]; ++i)
        if (uint16_t(words[i] & 0xffffu) != 0) tw.push_back(words[i]);  // drop the zero padding
      std::sort(tw.begin(), tw.end(), [](uint32_t a, uint32_t b) {
        return tile_position_row(a >> 16) * 64 + tile_position_col(a >> 16) < tile_position_row(b >> 16) * 64 + tile_position_col(b >> 16);
      });
      while (!tw.empty() && tw.size() % 4) tw.push_back(tw.back());
      old_words.insert(old_words.end(), tw.begin(), tw.end());
      old_offs.push_back(int32_t(old_words.size()));
    }
    MatrixView ov = v;
    ov.parts[int(Part::words)] = {old_words.data(), old_words.size() * 4};
    ov.parts[int(Part::tile_offsets)] = {old_offs.data(), old_offs.size() * 4};
    CHECK(validate(ov).ok(), "the (row, col) order stays valid: %s", validate(ov).message.c_str());
    std::vector<uint16_t> x(size_t(8 * K), 0x3c00);
    std::vector<float> y(size_t(8 * M));
    ReplayOptions ro;
    ro.kernel = GpuKernel::tiled_csl;
    const Status st = replay_spmm(ov, x.data(), 8, ro, y.data());
    CHECK(!st.ok() && st.message.find("bank conflict") != std::string::npos, "row-major order must be reported, got '%s'", st.message.c_str());
  }
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
  // The probe's other readings (sp24_meta_shift_pairing 1, 2) put values elsewhere under this model.
  for (int pairing : {1, 2}) {
    uint32_t e2[32] = {};
    for (int g = 0; g < 8; ++g)
      for (int c = 0; c < 4; ++c)
        e2[4 * g] |= sp24_group_bits(0, 1) << sp24_meta_shift_pairing(pairing, g, c) |
                     sp24_group_bits(2, 3) << sp24_meta_shift_pairing(pairing, g + 8, c);
    CHECK(e2[0] != 0xEEEE4444u, "pairing %d must differ from the documented word", pairing);
  }
  CHECK(sp24_meta_shift_pairing(0, 11, 2) == sp24_meta_shift(11, 2), "pairing 0 is the documented layout");
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
  test_tiled_csl_bank_order();
  test_race_check();
  for (DType dt : {DType::f16, DType::bf16}) {
    test_model_canonical(dt);
    test_model_sparse(dt);
    test_metadata_literal(dt);
    test_model_sparse_k32(dt, 0);
    test_model_sparse_k32(dt, 1);
  }
  // M, K not multiples of the tiles; N = 1, 8, 16, 40 (40 -> a 64-wide tile, partly empty).
  const int64_t shapes[][2] = {{128, 64}, {200, 130}, {37, 300}, {256, 192}, {1, 5}};
  const int64_t ns[] = {1, 8, 16, 40};
  const GpuKernel kernels[] = {GpuKernel::tiled_csl, GpuKernel::bitmap, GpuKernel::sp24, GpuKernel::sp24_k32};
  for (GpuKernel kernel : kernels)
    for (DType dt : {DType::f16, DType::bf16})
      for (auto& s : shapes)
        for (int64_t n : ns) {
          const bool sp24 = kernel == GpuKernel::sp24 || kernel == GpuKernel::sp24_k32;
          // 0.0 and 0.3: tiles over 50% dense (a second register round for tiled-csl).
          for (float sp : {0.0f, 0.3f, 0.7f, 0.95f}) {
            if (sp24 && sp > 0.3f) continue;  // 2:4 is 50% by construction
            test_replay(kernel, dt, s[0], s[1], n, sp, 1);
          }
          test_replay(kernel, dt, s[0], s[1], n, 0.5f, 3);
          if (kernel == GpuKernel::sp24_k32) test_replay(kernel, dt, s[0], s[1], n, 0.f, 2, 1);  // selector 1
        }
  // Every weight x output dtype pair, for every kernel (the reduction kernel's single rounding).
  for (GpuKernel kernel : kernels)
    for (DType dt : {DType::f16, DType::bf16})
      for (DType out : {DType::f32, DType::f16, DType::bf16}) {
        test_replay(kernel, dt, 200, 130, 8, 0.3f, 1, 0, out);
        test_replay(kernel, dt, 37, 300, 40, 0.3f, 3, 0, out);
      }
  test_q4_dequant();
  for (GpuKernel kernel : {GpuKernel::q4_dense, GpuKernel::q4_sp24})
    for (DType xdt : {DType::f16, DType::bf16}) {
      test_q4_replay(kernel, xdt, 37, 160, 9, 32, 2);
      test_q4_replay(kernel, xdt, 70, 256, 40, 128, 1);
    }
  std::printf("%d passed, %d failed\n", g_checks - g_failures, g_failures);
  return g_failures == 0 ? 0 : 1;
}
