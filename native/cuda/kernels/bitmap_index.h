// GPU bitmap layout and its per-lane decode (the SpInfer idea: the bitmap is laid out so that each
// lane's share of an mma A fragment can be found with two bit tests and one popcount).
//
// Layout ("bitmap-gpu", built from our CPU bitmap at upload by gpu_layouts.cpp):
//  - rows padded to a multiple of 16, K to a multiple of 64 (padding is simply absent bits);
//  - warp tiles of 16 rows x 64 columns, numbered row-major (row block, K block);
//  - each warp tile has 16 sub-tiles of 8x8, one uint64 mask each, bit p = row*8 + col; sub-tile s
//    covers K step s/4 (16 columns) and quarter s%4 in the order of the mma A registers:
//    q=0 rows 0-7 cols 0-7, q=1 rows 8-15 cols 0-7, q=2 rows 0-7 cols 8-15, q=3 rows 8-15 cols 8-15;
//  - values of a warp tile are packed sub-tile by sub-tile, each in bit order, the tile's count
//    padded with zeros to a multiple of 8 (16-byte loads); tileOffsets[t] (int32) is where warp
//    tile t's values start.
// Within an 8x8 sub-tile lane l owns row l/4, columns 2(l%4) and 2(l%4)+1, i.e. bits 2l and 2l+1:
// bit order equals lane order, which is what makes the decode a popcount.
#pragma once
#include "mma_layout.h"

namespace sk::cuda {

constexpr int kBmpWarpRows = 16;
constexpr int kBmpSubtiles = 16;                 // 8x8 masks per 16x64 warp tile
constexpr int kBmpMaxValues = kBmpWarpRows * 64;  // 1024 halves when fully dense
constexpr int kBmpValueAlign = 8;
constexpr int kBmpBlockRows = 4 * kBmpWarpRows;   // 4 warps -> 64 rows per block

SK_HD inline int bmp_subtile_row0(int s) { return (s & 1) * 8; }
SK_HD inline int bmp_subtile_col0(int s) { return (s >> 2) * 16 + ((s >> 1) & 1) * 8; }

// The 32-bit A register of lane `lane` for one 8x8 sub-tile: two 16-bit values (low = even
// column), zero where the mask bit is clear. `vals` points at the sub-tile's first value.
SK_HD inline uint32_t bmp_lane_pair(uint64_t mask, int lane, const uint16_t* vals) {
  const uint32_t bits = uint32_t(mask >> (2 * lane)) & 3u;
  const int off = popc64(mask & ((uint64_t(1) << (2 * lane)) - 1));
  const uint32_t lo = (bits & 1u) ? vals[off] : 0u;
  const uint32_t hi = (bits & 2u) ? vals[off + int(bits & 1u)] : 0u;
  return lo | (hi << 16);
}

SK_HD inline int64_t bmp_rows_padded(int64_t rows) { return (rows + 15) / 16 * 16; }
SK_HD inline int64_t bmp_kblocks(int64_t cols) { return (cols + 63) / 64; }

}  // namespace sk::cuda
