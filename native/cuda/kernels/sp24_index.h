// 2:4 on sparse tensor cores (mma.sp m16n8k16): GPU layout and metadata encoding.
//
// Layout ("sp24-gpu", built from our nm {2,4} format at upload by gpu_layouts.cpp): rows padded to
// 16, K to 16 (padding groups keep columns 0 and 1, both zero). For row block rb and K step ks
// (16 columns, 4 groups of 4):
//  - values: 32 lanes x 2 uint32, in fragment order, so a warp reads its A operand with one
//    coalesced 8-byte load per lane: lane l = 4g + t holds, in register j, the two kept values of
//    group t (columns 16ks + 4t .. +3) of row g + 8j, lower column in the low half;
//  - metadata: 8 uint32 per (rb, ks), word g = the e operand of lane 4g (sparsity selector 0):
//    bits [4c, 4c+4) describe group c of row g, bits [16 + 4c, 16 + 4c + 4) group c of row g + 8;
//    within a group's 4 bits, bits 0-1 = index (0..3) of the first kept column, bits 2-3 = the
//    second, first < second (the meaningful .sp::ordered_metadata values 0b0100 .. 0b1110).
// PTX ISA 9.7.14.6.1 (sparse matrix storage) and 9.7.14.6.2.1 / Figure 119 (m16n8k16 .f16/.bf16
// metadata layout) are the source; see docs/cuda.md for what was and was not checked on hardware.
#pragma once
#include "mma_layout.h"

namespace sk::cuda {

constexpr int kSp24WarpRows = 16;
constexpr int kSp24BlockRows = 4 * kSp24WarpRows;
constexpr int kSp24Selector = 0;

SK_HD inline int64_t sp24_rows_padded(int64_t rows) { return (rows + 15) / 16 * 16; }
SK_HD inline int64_t sp24_ksteps(int64_t cols) { return (cols + 15) / 16; }

// The 4-bit field of one group from the two kept column indices (i0 < i1, both in 0..3).
SK_HD inline uint32_t sp24_group_bits(int i0, int i1) { return uint32_t(i0) | (uint32_t(i1) << 2); }
// Bit offset of (row within the 16-row block, group within the K step) in metadata word row % 8.
SK_HD inline int sp24_meta_shift(int row16, int group) { return 16 * (row16 >> 3) + 4 * group; }
// Offsets (in uint32 units) of the fragment-ordered values and of the metadata word.
SK_HD inline int64_t sp24_value_word(int64_t rb, int64_t ks, int64_t ksteps, int lane, int j) {
  return ((rb * ksteps + ks) * kWarp + lane) * 2 + j;
}
SK_HD inline int64_t sp24_meta_word(int64_t rb, int64_t ks, int64_t ksteps, int g) { return (rb * ksteps + ks) * 8 + g; }

}  // namespace sk::cuda
