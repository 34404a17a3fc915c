// Index math of SLoRB's GPU term (slorb.cu), shared with its CPU replay (native/test/
// slorb_replay_test.cpp): y = (W ⊙ M)x + S·(P·x) where the product is already in the launcher's
// fp32 partial part[N][M]. Two kernels:
//  - slorb_group_sums: one thread per (token t, group i): g[t][i] = Σ_{j<k} x[t][i·k + j], summed
//    in fp32 in ascending j;
//  - slorb_add: one warp per output row r (kSlorbWarps rows per block): lane l sums
//    S[r][i]·g[t][i] over i = l, l + 32, l + 64, ..., the 32 lane sums are combined by a xor
//    butterfly (offsets 16, 8, 4, 2, 1), and lane 0 adds rowScale[r] times the total to
//    part[t][r]. S is read as stored (f32, f16, bf16 or int8 codes); rowScale is 1 unless int8.
// The functions here say which element each thread touches and in which order it sums; the
// butterfly itself (__shfl_xor_sync) is modelled independently in the replay.
#pragma once
#include <cstdint>

#include "../../formats/layout.h"

namespace sk::cuda {

constexpr int kSlorbWarps = 8;                  // rows (warps) per slorb_add block
constexpr int kSlorbAddThreads = kSlorbWarps * 32;
constexpr int kSlorbSumThreads = 256;           // slorb_group_sums block size

// slorb_group_sums: thread `idx` (global) owns token t = idx / G and group i = idx % G.
SK_HD inline void slorb_gsum_cell(int64_t idx, int64_t G, int64_t* t, int64_t* i) {
  *t = idx / G;
  *i = idx % G;
}

// g[t][i] from the activations x [N][K] (row-major), `load(e)` returning element e as float.
template <class Load>
SK_HD inline float slorb_group_sum(const Load& load, int64_t t, int64_t i, int64_t K, int64_t k) {
  float s = 0.f;
  const int64_t base = t * K + i * k;
  for (int64_t j = 0; j < k; ++j) s += load(base + j);
  return s;
}

// slorb_add: the row of warp `warp` in block `block`.
SK_HD inline int64_t slorb_add_row(int64_t block, int warp) { return block * kSlorbWarps + warp; }

// Lane `lane`'s partial sum for row r and token t: S[r][i]·g[t][i] over i = lane + 32·step, in
// ascending step; `s(e)` returns S's element e (row-major [M][G]) as float, `g(e)` g's.
template <class LoadS, class LoadG>
SK_HD inline float slorb_lane_partial(const LoadS& s, const LoadG& g, int64_t r, int64_t t, int64_t G, int lane) {
  float acc = 0.f;
  for (int64_t i = lane; i < G; i += 32) acc += s(r * G + i) * g(t * G + i);
  return acc;
}

// Where token t, row r lives in the fp32 partial [N][M] (the launcher's layout).
SK_HD inline int64_t slorb_part_index(int64_t t, int64_t r, int64_t M) { return t * M + r; }

// The butterfly's offset at step 0..4 (16, 8, 4, 2, 1; each step: v[lane] += v[lane ^ offset]).
constexpr int kSlorbButterflySteps = 5;
SK_HD inline int slorb_butterfly_offset(int step) { return 16 >> step; }

// slorb_add's grid: a block per kSlorbWarps rows, at most max_blocks (the kernel strides over the rest).
SK_HD inline int64_t slorb_add_grid(int64_t M, int64_t max_blocks) {
  const int64_t b = (M + kSlorbWarps - 1) / kSlorbWarps;
  return b < max_blocks ? b : max_blocks;
}

}  // namespace sk::cuda
