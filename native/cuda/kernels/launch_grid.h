// The launch grid of the SpMM kernels and CUDA's limits on it, shared by the launchers
// (spmm_*.cu) and launcher.cu, which checks a product against the limits before allocating
// anything so that an oversized shape is a clear error rather than cudaErrorInvalidConfiguration
// after the fact. Plain host/device code, unit-tested in native/test/cuda_route_test.cpp.
//
// Grid: x = column blocks of BN activations, y = row blocks (Tiled-CSL: 128-row tile rows;
// bitmap and 2:4: 64 rows, 4 warps of 16), z = split-K slices. CUDA allows gridDim.x up to
// 2^31 - 1 but gridDim.y and gridDim.z only up to 65535, so y caps M (8.4 M rows for Tiled-CSL,
// 4.2 M for the others) and z caps split-K.
#pragma once
#include <cstdint>

#include "mma_layout.h"

namespace sk::cuda {

constexpr int64_t kMaxGridX = 2147483647;
constexpr int64_t kMaxGridYZ = 65535;

struct SpmmGrid {
  uint32_t x = 1, y = 1, z = 1;
};

// Blocks down M for a kernel whose block covers block_rows rows of the weight: kTileRows (128)
// for Tiled-CSL, kBmpBlockRows / kSp24BlockRows (64) for bitmap and 2:4.
SK_HD inline int64_t spmm_row_blocks(int64_t M, int block_rows) { return (M + block_rows - 1) / block_rows; }

// The grid for n activation columns in tiles of bn, row_blocks blocks down M and `splits` K
// slices; false (g untouched) when a dimension is out of CUDA's range or not positive.
SK_HD inline bool spmm_grid(int64_t n, int bn, int64_t row_blocks, int64_t splits, SpmmGrid* g) {
  if (n < 1 || bn < 1 || row_blocks < 1 || splits < 1) return false;
  const int64_t x = (n + bn - 1) / bn;
  if (x > kMaxGridX || row_blocks > kMaxGridYZ || splits > kMaxGridYZ) return false;
  g->x = uint32_t(x);
  g->y = uint32_t(row_blocks);
  g->z = uint32_t(splits);
  return true;
}

}  // namespace sk::cuda
