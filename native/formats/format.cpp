// Names, part tables, shape checks and the format-independent unpack.
#include <climits>
#include <cstring>

#include "../core/sizes.h"
#include "../core/thread_pool.h"
#include "quant.h"
#include "sparse_matrix.h"

namespace sk {

namespace {
constexpr const char* kFormatNames[] = {"dense", "csr", "bitmap", "nm", "tiled-csl"};
constexpr const char* kPartNames[] = {"values", "rowPtr", "colIdx", "masks", "words", "tileOffsets", "scales", "zeros"};
}  // namespace

const char* format_name(Format f) { return kFormatNames[int(f)]; }
bool format_from_name(const char* name, Format* out) {
  for (int i = 0; i < 5; ++i)
    if (std::strcmp(name, kFormatNames[i]) == 0) { *out = Format(i); return true; }
  return false;
}

const char* part_name(Part p) { return kPartNames[int(p)]; }
bool part_from_name(const char* name, Part* out) {
  for (int i = 0; i < int(Part::kNumParts); ++i)
    if (std::strcmp(name, kPartNames[i]) == 0) { *out = Part(i); return true; }
  return false;
}

bool format_has_part(Format f, Part p) {
  switch (f) {
    case Format::dense: return p == Part::values;
    case Format::csr: return p == Part::values || p == Part::row_ptr || p == Part::col_idx;
    case Format::bitmap: return p == Part::values || p == Part::row_ptr || p == Part::masks;
    case Format::nm: return p == Part::values || p == Part::masks;
    case Format::tiled_csl: return p == Part::words || p == Part::tile_offsets;
  }
  return false;
}

DType part_dtype(Part p, DType value_dtype) {
  if (p == Part::values) return value_dtype;
  if (p == Part::scales) return DType::f16;
  if (p == Part::zeros) return DType::u8;
  return DType::i32;
}

Status check_shape_and_type(Format f, DType dtype, int64_t rows, int64_t cols, int n, int m) {
  uint64_t elements;
  if (!matrix_elements(rows, cols, &elements))
    return Status::Error(ErrorCode::shape, "shape [" + std::to_string(rows) + ", " + std::to_string(cols) +
                                               "] is out of range (each dimension at most 2^31-1, at most 2^40 elements)");
  if (!dtype_is_float(dtype))
    return Status::Error(ErrorCode::dtype, std::string("weights must be float32, float16 or bfloat16, got ") +
                                               dtype_name(dtype));
  if (f == Format::nm) {
    if (m < 1 || m > 16 || n < 1 || n > m)
      return Status::Error(ErrorCode::argument, "n:m must satisfy 1 <= n <= m <= 16, got " + std::to_string(n) +
                                                    ":" + std::to_string(m));
  }
  if (f == Format::tiled_csl && dtype == DType::f32)
    return Status::Error(ErrorCode::dtype, "tiled-csl stores 16-bit values: use float16 or bfloat16, got float32");
  return Status::Ok();
}

MatrixView PackedMatrix::view() const {
  MatrixView v;
  v.format = format;
  v.dtype = dtype;
  v.rows = rows;
  v.cols = cols;
  v.n = n;
  v.m = m;
  v.quant = quant;
  for (int i = 0; i < int(Part::kNumParts); ++i) v.parts[i] = {parts[i].data(), parts[i].size()};
  v.aux = {aux.data(), aux.size()};
  return v;
}

int64_t stored_count(const MatrixView& a) {
  if (a.quant.on()) return quant_stored_count(a);
  switch (a.format) {
    case Format::dense: return a.rows * a.cols;
    case Format::csr:
    case Format::bitmap: return int64_t(a.part(Part::values).bytes / dtype_size(a.dtype));
    case Format::nm: return a.rows * nm_values_per_row(a.cols, a.n, a.m);
    case Format::tiled_csl: return int64_t(a.part(Part::words).bytes / 4);
  }
  return 0;
}

Status unpack(const MatrixView& a, void* dense_out) {
  if (a.quant.on()) return unpack_quantized(a, static_cast<float*>(dense_out));
  const size_t es = dtype_size(a.dtype);
  char* out = static_cast<char*>(dense_out);
  std::memset(out, 0, size_t(a.rows * a.cols) * es);
  const int64_t align = a.format == Format::tiled_csl ? kTileRows : 1;
  const int64_t blocks = (a.rows + align - 1) / align;
  parallel_range(blocks, a.format == Format::tiled_csl ? 1 : 64, [&](int64_t b, int64_t e) {
    for_each_stored(a, b * align, std::min(a.rows, e * align), [&](int64_t r, int64_t c, const void* elem) {
      if (c < a.cols) std::memcpy(out + size_t(r * a.cols + c) * es, elem, es);
    });
  });
  return Status::Ok();
}

}  // namespace sk
