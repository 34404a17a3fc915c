// Host-side conversion of our CPU formats into the layouts the CUDA kernels read (plain C++: the
// same code serves the upload path in libsparsekit_cuda and the CPU replay tests).
// tiled-csl needs no conversion: the CPU format is already Flash-LLM's layout.
#pragma once
#include <cstdint>
#include <vector>

#include "../../formats/sparse_matrix.h"

namespace sk::cuda {

struct BitmapGpu {  // bitmap_index.h describes the layout
  int64_t rows = 0, cols = 0, row_blocks = 0, kblocks = 0;
  std::vector<uint64_t> masks;    // [row_blocks * kblocks * 16]
  std::vector<int32_t> offsets;   // [row_blocks * kblocks + 1], in values
  std::vector<uint16_t> values;
};

struct Sp24Gpu {  // sp24_index.h describes the layout
  int64_t rows = 0, cols = 0, row_blocks = 0, ksteps = 0;
  std::vector<uint32_t> values;   // [row_blocks * ksteps * 64]
  std::vector<uint32_t> meta;     // [row_blocks * ksteps * 8]
};

// a: bitmap format, float16 or bfloat16 values (validated).
Status bitmap_to_gpu(const MatrixView& a, BitmapGpu* out);
// a: nm format with n = 2, m = 4, float16 or bfloat16 values (validated).
Status nm24_to_gpu(const MatrixView& a, Sp24Gpu* out);

}  // namespace sk::cuda
