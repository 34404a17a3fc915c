// Kernel-side index math shared by every CUDA kernel and by the CPU replay (native/cuda/replay.cpp):
// which address each lane hands to ldmatrix, where each accumulator register goes, how a block
// stages a dense activation tile into swizzled shared memory, and how split-K divides the work.
// These functions say where the kernels *put* data. What the warp instructions *do* with it is
// modelled separately, from the PTX ISA text, in warp_model.cpp; the replay tests only mean
// something because the two are written independently.
#pragma once
#include <cstdint>

#include "../../formats/layout.h"

namespace sk::cuda {

constexpr int kWarp = 32;
constexpr int kBlockThreads = 128;  // every kernel runs 4 warps
constexpr int kStageK = 64;         // K extent of one shared-memory stage (= Tiled-CSL tile width)

// Shared-memory tiles are [rows][64] 16-bit elements with the Flash-LLM swizzle of layout.h: the
// 16-byte chunk index is XORed with row % 8, so the eight row addresses of one ldmatrix 8x8
// matrix fall in eight different 16-byte bank groups.
SK_HD inline uint32_t smem_pos(uint32_t row, uint32_t col) { return tile_position(row, col); }

// ---- ldmatrix addresses ---------------------------------------------------------------------
// ldmatrix takes one row address per lane: lanes 8j..8j+7 give rows 0..7 of matrix j.

// A operand, 16x16 block whose top-left is (row0, col0) of a row-major [.][64] tile, loaded with
// ldmatrix.x4 so that matrix j lands in A register j of mma.m16n8k16:
// j=0 rows 0-7 / cols 0-7, j=1 rows 8-15 / cols 0-7, j=2 rows 0-7 / cols 8-15, j=3 rows 8-15 / cols 8-15.
SK_HD inline uint32_t ldsm_a_row(int lane) { return uint32_t((lane & 7) + ((lane >> 3) & 1) * 8); }
SK_HD inline uint32_t ldsm_a_col(int lane) { return uint32_t((lane >> 4) * 8); }

// B operand, k16 x n8 block stored transposed as [n][k] rows (the activations X[N,K] are already
// "B column-major"), loaded with ldmatrix.x2 (no .trans): matrix 0 = k 0-7, matrix 1 = k 8-15 of
// rows n0..n0+7. Lanes 16-31 pass addresses too (ignored by .x2), kept in range.
SK_HD inline uint32_t ldsm_b_row(int lane) { return uint32_t(lane & 7); }
SK_HD inline uint32_t ldsm_b_col(int lane) { return uint32_t(((lane >> 3) & 1) * 8); }

// ---- accumulators -----------------------------------------------------------------------------
// Float accumulator register i (0..3) of a lane holds C[row][col] of the 16x8 tile.
SK_HD inline int acc_row(int lane, int i) { return (lane >> 2) + 8 * (i >> 1); }
SK_HD inline int acc_col(int lane, int i) { return (lane & 3) * 2 + (i & 1); }

// ---- dense activation tile (B) ----------------------------------------------------------------
// A block stages X[n0 .. n0+bn) x [k0 .. k0+64) into smem rows n, in 16-byte chunks of 8 elements.
// Chunk c of the tile is row c / 8, elements (c % 8) * 8 .. +7; thread t moves chunks t, t+128, ...
SK_HD inline int b_tile_chunks(int bn) { return bn * (kStageK / 8); }
SK_HD inline uint32_t b_chunk_row(int chunk) { return uint32_t(chunk >> 3); }
SK_HD inline uint32_t b_chunk_col(int chunk) { return uint32_t((chunk & 7) * 8); }
// How many of the chunk's 8 elements exist in X (the rest are zero-filled): K and N edges.
SK_HD inline int b_chunk_valid(int64_t n, int64_t k, int64_t N, int64_t K) {
  if (n >= N || k >= K) return 0;
  return K - k >= 8 ? 8 : int(K - k);
}

// ---- split-K ---------------------------------------------------------------------------------
// Split z of `splits` handles K stages [first, last) of `stages`; every split gets at least one
// stage when splits <= stages (the host clamps splits to that).
SK_HD inline int64_t split_first(int64_t stages, int splits, int z) { return stages * z / splits; }
SK_HD inline int64_t split_last(int64_t stages, int splits, int z) { return stages * (z + 1) / splits; }

// The activation tile width a launch uses for n columns: the smallest of 8/16/32/64 covering n
// (capped at 64; wider N runs several column blocks).
SK_HD inline int pick_bn(int64_t n) { return n <= 8 ? 8 : n <= 16 ? 16 : n <= 32 ? 32 : 64; }

SK_HD inline int popc32(uint32_t x) {
#if defined(__CUDA_ARCH__)
  return __popc(x);
#else
  return __builtin_popcount(x);
#endif
}
SK_HD inline int popc64(uint64_t x) {
#if defined(__CUDA_ARCH__)
  return __popcll(x);
#else
  return __builtin_popcountll(x);
#endif
}

}  // namespace sk::cuda
