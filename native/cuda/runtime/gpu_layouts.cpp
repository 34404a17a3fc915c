#include "gpu_layouts.h"

#include <string>

#include "../kernels/bitmap_index.h"
#include "../kernels/sp24_index.h"

namespace sk::cuda {

namespace {

Status check_half(const MatrixView& a, Format f, const char* what) {
  if (a.format != f) return Status::Error(ErrorCode::format, std::string(what) + ": wrong source format");
  if (a.dtype != DType::f16 && a.dtype != DType::bf16)
    return Status::Error(ErrorCode::dtype, std::string(what) + ": the GPU kernels take float16 or bfloat16 weights, got " +
                                               dtype_name(a.dtype));
  return check_part_sizes(a);
}

}  // namespace

Status bitmap_to_gpu(const MatrixView& a, BitmapGpu* out) {
  SK_RETURN_IF_ERROR(check_half(a, Format::bitmap, "bitmap_to_gpu"));
  const int64_t wpr = mask_words_per_row(a.cols);
  const uint32_t* masks = a.as<uint32_t>(Part::masks);
  const int32_t* row_ptr = a.as<int32_t>(Part::row_ptr);
  const uint16_t* vals = a.as<uint16_t>(Part::values);
  // Value index of every stored element, by prefix counts per row word.
  std::vector<int64_t> word_base(size_t(a.rows * wpr));
  for (int64_t r = 0; r < a.rows; ++r) {
    int64_t base = row_ptr[r];
    for (int64_t w = 0; w < wpr; ++w) {
      word_base[size_t(r * wpr + w)] = base;
      base += popc32(masks[r * wpr + w]);
    }
  }
  auto stored = [&](int64_t r, int64_t c, uint16_t* v) {
    if (r >= a.rows || c >= a.cols) return false;
    const uint32_t m = masks[r * wpr + c / 32];
    const uint32_t bit = 1u << (c % 32);
    if (!(m & bit)) return false;
    *v = vals[word_base[size_t(r * wpr + c / 32)] + popc32(m & (bit - 1))];
    return true;
  };
  BitmapGpu& g = *out;
  g = BitmapGpu();
  g.rows = a.rows;
  g.cols = a.cols;
  g.row_blocks = bmp_rows_padded(a.rows) / kBmpWarpRows;
  g.kblocks = bmp_kblocks(a.cols);
  const int64_t tiles = g.row_blocks * g.kblocks;
  g.masks.assign(size_t(tiles * kBmpSubtiles), 0);
  g.offsets.assign(size_t(tiles + 1), 0);
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t r0 = (t / g.kblocks) * kBmpWarpRows, c0 = (t % g.kblocks) * 64;
    g.offsets[size_t(t)] = int32_t(g.values.size());
    if (g.values.size() > size_t(INT32_MAX) - kBmpMaxValues)
      return Status::Error(ErrorCode::shape, "bitmap_to_gpu: more than 2^31 stored values");
    for (int s = 0; s < kBmpSubtiles; ++s) {
      uint64_t mask = 0;
      for (int p = 0; p < 64; ++p) {
        uint16_t v;
        if (stored(r0 + bmp_subtile_row0(s) + p / 8, c0 + bmp_subtile_col0(s) + p % 8, &v)) {
          mask |= uint64_t(1) << p;
          g.values.push_back(v);
        }
      }
      g.masks[size_t(t * kBmpSubtiles + s)] = mask;
    }
    while (g.values.size() % kBmpValueAlign) g.values.push_back(0);
  }
  g.offsets[size_t(tiles)] = int32_t(g.values.size());
  return Status::Ok();
}

Status nm24_to_gpu(const MatrixView& a, Sp24Gpu* out) {
  SK_RETURN_IF_ERROR(check_half(a, Format::nm, "nm24_to_gpu"));
  if (a.n != 2 || a.m != 4)
    return Status::Error(ErrorCode::format, "the mma.sp kernel needs 2:4, got " + std::to_string(a.n) + ":" + std::to_string(a.m));
  const int64_t groups = nm_groups(a.cols, 4);
  const int64_t wpr = mask_words_per_row(groups * 4);
  const uint32_t* masks = a.as<uint32_t>(Part::masks);
  const uint16_t* vals = a.as<uint16_t>(Part::values);
  Sp24Gpu& g = *out;
  g = Sp24Gpu();
  g.rows = a.rows;
  g.cols = a.cols;
  g.row_blocks = sp24_rows_padded(a.rows) / kSp24WarpRows;
  g.ksteps = sp24_ksteps(a.cols);
  g.values.assign(size_t(g.row_blocks * g.ksteps * 64), 0);
  g.meta.assign(size_t(g.row_blocks * g.ksteps * 8), 0);
  for (int64_t rb = 0; rb < g.row_blocks; ++rb)
    for (int64_t ks = 0; ks < g.ksteps; ++ks)
      for (int row16 = 0; row16 < 16; ++row16)
        for (int c = 0; c < 4; ++c) {
          const int64_t r = rb * 16 + row16, gi = ks * 4 + c;
          int idx[2] = {0, 1};  // padding rows/groups: columns 0 and 1, both zero
          uint32_t word = 0;
          if (r < a.rows && gi < groups) {
            int found = 0;
            for (int j = 0; j < 4 && found < 2; ++j) {
              const int64_t col = gi * 4 + j;
              if (masks[r * wpr + col / 32] >> (col % 32) & 1u) idx[found++] = j;
            }
            if (found != 2) return Status::Error(ErrorCode::format, "nm24_to_gpu: a group does not keep exactly 2 values");
            const int64_t v = (r * groups + gi) * 2;
            word = uint32_t(vals[v]) | (uint32_t(vals[v + 1]) << 16);
          }
          g.values[size_t(sp24_value_word(rb, ks, g.ksteps, 4 * (row16 % 8) + c, row16 / 8))] = word;
          g.meta[size_t(sp24_meta_word(rb, ks, g.ksteps, row16 % 8))] |= sp24_group_bits(idx[0], idx[1])
                                                                         << sp24_meta_shift(row16, c);
        }
  return Status::Ok();
}

}  // namespace sk::cuda
