// Host-side conversion of quantized int4 matrices (docs/formats.md "Quantized values": dense, and
// nm 2:4) into the layouts of the 4-bit tensor-core kernels (q4_index.h describes them). Plain C++:
// it serves the upload in libsparsekit_cuda and the CPU replay alike.
#pragma once
#include <cstdint>
#include <vector>

#include "../../formats/sparse_matrix.h"

namespace sk::cuda {

struct Q4Gpu {
  bool sp24 = false;  // false: dense (mma.sync m16n8k16), true: 2:4 (mma.sp m16n8k32)
  int64_t rows = 0, cols = 0, row_blocks = 0, stages = 0, steps = 0, groups = 0;
  int group = 0;
  bool asym = false;
  std::vector<uint32_t> codes;   // dense: [row_blocks * stages * 32 * 4]; 2:4: [... * 32 * 2]
  std::vector<uint32_t> meta;    // 2:4: [row_blocks * stages * 32]
  std::vector<uint32_t> scales;  // [row_blocks * groups * 8]
  std::vector<uint32_t> zeros;   // asymmetric: [row_blocks * groups * 8]; symmetric: empty
};

// Deliberately wrong layouts, for the tests that show the replay notices (never used otherwise):
// the two nibbles of every register swapped, or the metadata halves of rows g and g + 8 swapped.
enum class Q4Mutation { none = 0, nibble_order = 1, meta_rows = 2 };

// a: a validated int4 matrix, format dense or nm 2:4 (anything else is a typed error naming what
// the GPU lacks: int8, bitmap, other n:m).
Status q4_to_gpu(const MatrixView& a, Q4Gpu* out, Q4Mutation mutation = Q4Mutation::none);
// Whether the GPU has a kernel for this (quantized) matrix; the message says why not.
Status q4_gpu_supported(const MatrixView& a);

}  // namespace sk::cuda
