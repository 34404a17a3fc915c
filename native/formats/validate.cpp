// Structural validation of packed data that came from outside (disk, user-built components).
// Every check runs before any index is dereferenced, so corrupted input cannot crash us.
#include <algorithm>
#include <string>
#include <vector>

#include "quant.h"
#include "../core/sizes.h"
#include "sparse_matrix.h"

namespace sk {

namespace {

Status bad(const std::string& msg) { return Status::Error(ErrorCode::format, msg); }

std::string s(int64_t v) { return std::to_string(v); }

// rows * per_row; UINT64_MAX when it overflows, which no part can hold, so expect_bytes refuses it.
uint64_t per_row_count(int64_t rows, int64_t per_row) {
  uint64_t n;
  return mul_checked(uint64_t(rows), uint64_t(per_row), &n) ? n : UINT64_MAX;
}

// The part must hold exactly count * element_bytes bytes (computed with overflow checks).
Status expect_bytes(const MatrixView& a, Part p, uint64_t count, uint64_t element_bytes) {
  uint64_t want;
  if (!bytes_of(count, element_bytes, &want))
    return bad(std::string(format_name(a.format)) + " part '" + part_name(p) + "': size overflows (" + std::to_string(count) +
               " elements)");
  uint64_t got = a.part(p).bytes;
  if (got != want || (want > 0 && a.part(p).data == nullptr))
    return bad(std::string(format_name(a.format)) + " part '" + part_name(p) + "' must hold " + std::to_string(want) +
               " bytes, got " + std::to_string(got));
  return Status::Ok();
}

// The values part holds `count` stored values: elements of es bytes, or packed codes when quantized.
Status expect_values(const MatrixView& a, uint64_t count, size_t es) {
  if (!a.quant.on()) return expect_bytes(a, Part::values, count, es);
  if (count > uint64_t(kMaxElements)) return expect_bytes(a, Part::values, UINT64_MAX, 1);
  return expect_bytes(a, Part::values, uint64_t(quant_code_bytes(int64_t(count), a.quant.bits)), 1);
}

bool is_zero_value(const void* p, DType t) {
  if (dtype_size(t) == 4) { uint32_t b; std::memcpy(&b, p, 4); return (b & 0x7fffffffu) == 0; }
  uint16_t h; std::memcpy(&h, p, 2); return (h & 0x7fffu) == 0;
}

// rowPtr: starts at 0, never decreases, ends at `total`.
Status check_row_ptr(const MatrixView& a, int64_t* total_out) {
  SK_RETURN_IF_ERROR(expect_bytes(a, Part::row_ptr, uint64_t(a.rows) + 1, 4));
  const int32_t* rp = a.as<int32_t>(Part::row_ptr);
  if (rp[0] != 0) return bad("rowPtr[0] must be 0, got " + s(rp[0]));
  for (int64_t r = 0; r < a.rows; ++r)
    if (rp[r + 1] < rp[r]) return bad("rowPtr decreases at row " + s(r) + ": " + s(rp[r]) + " then " + s(rp[r + 1]));
  *total_out = rp[a.rows];
  return Status::Ok();
}

Status validate_csr(const MatrixView& a, size_t es) {
  int64_t nnz;
  SK_RETURN_IF_ERROR(check_row_ptr(a, &nnz));
  SK_RETURN_IF_ERROR(expect_bytes(a, Part::col_idx, uint64_t(nnz), 4));
  SK_RETURN_IF_ERROR(expect_bytes(a, Part::values, uint64_t(nnz), es));
  const int32_t* rp = a.as<int32_t>(Part::row_ptr);
  const int32_t* ci = a.as<int32_t>(Part::col_idx);
  for (int64_t r = 0; r < a.rows; ++r)
    for (int32_t i = rp[r]; i < rp[r + 1]; ++i) {
      if (ci[i] < 0 || ci[i] >= a.cols) return bad("colIdx[" + s(i) + "] = " + s(ci[i]) + " is outside [0, " + s(a.cols) + ") in row " + s(r));
      if (i > rp[r] && ci[i] <= ci[i - 1]) return bad("colIdx is not strictly increasing in row " + s(r) + " at index " + s(i));
    }
  return Status::Ok();
}

// Bits past `valid_cols` in each row's last word must be clear.
Status check_mask_tail(const MatrixView& a, int64_t wpr, int64_t valid_cols) {
  if (valid_cols % 32 == 0) return Status::Ok();
  const uint32_t* masks = a.as<uint32_t>(Part::masks);
  const uint32_t tail = ~((1u << (valid_cols % 32)) - 1u);
  for (int64_t r = 0; r < a.rows; ++r)
    if (masks[r * wpr + wpr - 1] & tail) return bad("masks has bits set past column " + s(valid_cols - 1) + " in row " + s(r));
  return Status::Ok();
}

Status validate_bitmap(const MatrixView& a, size_t es) {
  const int64_t wpr = mask_words_per_row(a.cols);
  int64_t nnz;
  SK_RETURN_IF_ERROR(check_row_ptr(a, &nnz));
  SK_RETURN_IF_ERROR(expect_bytes(a, Part::masks, per_row_count(a.rows, wpr), 4));
  SK_RETURN_IF_ERROR(expect_values(a, uint64_t(nnz), es));
  SK_RETURN_IF_ERROR(check_mask_tail(a, wpr, a.cols));
  const uint32_t* masks = a.as<uint32_t>(Part::masks);
  const int32_t* rp = a.as<int32_t>(Part::row_ptr);
  for (int64_t r = 0; r < a.rows; ++r) {
    int64_t cnt = 0;
    for (int64_t w = 0; w < wpr; ++w) cnt += __builtin_popcount(masks[r * wpr + w]);
    if (cnt != rp[r + 1] - rp[r])
      return bad("row " + s(r) + " has " + s(cnt) + " mask bits but rowPtr gives it " + s(rp[r + 1] - rp[r]) + " values");
  }
  return Status::Ok();
}

Status validate_nm(const MatrixView& a, size_t es) {
  const int64_t groups = nm_groups(a.cols, a.m), padded = groups * a.m;
  const int64_t wpr = mask_words_per_row(padded), per_row = groups * a.n;
  SK_RETURN_IF_ERROR(expect_bytes(a, Part::masks, per_row_count(a.rows, wpr), 4));
  SK_RETURN_IF_ERROR(expect_values(a, per_row_count(a.rows, per_row), es));
  SK_RETURN_IF_ERROR(check_mask_tail(a, wpr, padded));
  const uint32_t* masks = a.as<uint32_t>(Part::masks);
  const char* vals = static_cast<const char*>(a.part(Part::values).data);
  for (int64_t r = 0; r < a.rows; ++r) {
    int64_t vi = r * per_row;
    for (int64_t g = 0; g < groups; ++g) {
      int cnt = 0;
      for (int j = 0; j < a.m; ++j) {
        int64_t c = g * a.m + j;
        if (!(masks[r * wpr + c / 32] >> (c % 32) & 1u)) continue;
        ++cnt;
        if (c >= a.cols && cnt <= a.n && !a.quant.on() && !is_zero_value(vals + size_t(vi) * es, a.dtype))
          return bad("row " + s(r) + " stores a nonzero value in padding column " + s(c) + " (cols = " + s(a.cols) + ")");
        ++vi;
      }
      if (cnt != a.n)
        return bad("row " + s(r) + ", group " + s(g) + " has " + s(cnt) + " mask bits; " + s(a.n) + ":" + s(a.m) + " needs exactly " + s(a.n));
    }
  }
  return Status::Ok();
}

Status validate_tiled_csl(const MatrixView& a) {
  const int64_t tx = tiles_across(a.cols), tiles = tiles_down(a.rows) * tx;
  SK_RETURN_IF_ERROR(expect_bytes(a, Part::tile_offsets, uint64_t(tiles) + 1, 4));
  const int32_t* offs = a.as<int32_t>(Part::tile_offsets);
  if (offs[0] != 0) return bad("tileOffsets[0] must be 0, got " + s(offs[0]));
  for (int64_t t = 0; t < tiles; ++t) {
    int64_t cnt = int64_t(offs[t + 1]) - offs[t];
    if (cnt < 0 || cnt % kTileWordAlign != 0 || cnt > kTileRows * kTileCols + kTileWordAlign)
      return bad("tile " + s(t) + " has " + s(cnt) + " words (must be a multiple of 4, at most 8196)");
  }
  SK_RETURN_IF_ERROR(expect_bytes(a, Part::words, uint64_t(offs[tiles]), 4));
  const uint32_t* words = a.as<uint32_t>(Part::words);
  // Any order within a tile (packers sort by shared-memory bank, docs/formats.md), each position
  // at most once; padding by repeating the previous word only at the end (at most 3).
  std::vector<uint64_t> seen(size_t(kTileRows * kTileCols / 64));
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t r0 = (t / tx) * kTileRows, c0 = (t % tx) * kTileCols;
    int64_t repeats = 0;
    std::fill(seen.begin(), seen.end(), 0);
    for (int32_t i = offs[t]; i < offs[t + 1]; ++i) {
      if (i > offs[t] && words[i] == words[i - 1]) {
        if (++repeats >= kTileWordAlign) return bad("tile " + s(t) + " has more than 3 padding words");
        continue;
      }
      if (repeats) return bad("tile " + s(t) + ": padding words must come last (word " + s(i) + ")");
      uint32_t pos = words[i] >> 16;
      if (pos >= uint32_t(kTileRows * kTileCols)) return bad("word " + s(i) + " has position " + s(pos) + " outside its 128x64 tile");
      int64_t r = tile_position_row(pos), c = tile_position_col(pos);
      if (r0 + r >= a.rows || c0 + c >= a.cols)
        return bad("word " + s(i) + " addresses (" + s(r0 + r) + ", " + s(c0 + c) + "), outside the [" + s(a.rows) + ", " + s(a.cols) + "] matrix");
      if (seen[pos / 64] >> (pos % 64) & 1u) return bad("tile " + s(t) + " stores position (" + s(r) + ", " + s(c) + ") twice (word " + s(i) + ")");
      seen[pos / 64] |= uint64_t(1) << (pos % 64);
    }
  }
  return Status::Ok();
}

}  // namespace

Status check_part_sizes(const MatrixView& a) {
  SK_RETURN_IF_ERROR(check_matrix_header(a));
  if (a.quant.on()) {
    if (a.format == Format::bitmap) {
      SK_RETURN_IF_ERROR(expect_bytes(a, Part::row_ptr, uint64_t(a.rows) + 1, 4));
      if (a.as<int32_t>(Part::row_ptr)[a.rows] < 0) return bad("rowPtr ends negative");
    }
    if (a.format != Format::dense)
      SK_RETURN_IF_ERROR(expect_bytes(a, Part::masks, per_row_count(a.rows, mask_words_per_row(a.format == Format::nm ? nm_padded_cols(a.cols, a.m) : a.cols)), 4));
    return check_quant_part_sizes(a, quant_stored_count(a));
  }
  const size_t es = dtype_size(a.dtype);
  auto stored_from_row_ptr = [&](int64_t* total) -> Status {
    SK_RETURN_IF_ERROR(expect_bytes(a, Part::row_ptr, uint64_t(a.rows) + 1, 4));
    *total = a.as<int32_t>(Part::row_ptr)[a.rows];
    if (*total < 0) return bad("rowPtr ends negative");
    return Status::Ok();
  };
  int64_t total = 0;
  switch (a.format) {
    case Format::dense: return expect_bytes(a, Part::values, per_row_count(a.rows, a.cols), es);
    case Format::csr:
      SK_RETURN_IF_ERROR(stored_from_row_ptr(&total));
      SK_RETURN_IF_ERROR(expect_bytes(a, Part::col_idx, uint64_t(total), 4));
      return expect_bytes(a, Part::values, uint64_t(total), es);
    case Format::bitmap:
      SK_RETURN_IF_ERROR(stored_from_row_ptr(&total));
      SK_RETURN_IF_ERROR(expect_bytes(a, Part::masks, per_row_count(a.rows, mask_words_per_row(a.cols)), 4));
      return expect_bytes(a, Part::values, uint64_t(total), es);
    case Format::nm:
      SK_RETURN_IF_ERROR(expect_bytes(a, Part::masks, per_row_count(a.rows, mask_words_per_row(nm_padded_cols(a.cols, a.m))), 4));
      return expect_bytes(a, Part::values, per_row_count(a.rows, nm_values_per_row(a.cols, a.n, a.m)), es);
    case Format::tiled_csl: {
      const int64_t tiles = tiles_down(a.rows) * tiles_across(a.cols);
      SK_RETURN_IF_ERROR(expect_bytes(a, Part::tile_offsets, uint64_t(tiles) + 1, 4));
      int32_t last = a.as<int32_t>(Part::tile_offsets)[tiles];
      if (last < 0) return bad("tileOffsets ends negative");
      return expect_bytes(a, Part::words, uint64_t(last), 4);
    }
  }
  return bad("unknown format");
}

Status validate(const MatrixView& a) {
  SK_RETURN_IF_ERROR(check_matrix_header(a));
  for (int p = 0; p < int(Part::kNumParts); ++p) {
    if (!matrix_has_part(a.format, a.quant, Part(p)) && a.parts[p].bytes != 0)
      return bad(std::string(format_name(a.format)) + (a.quant.on() ? " (quantized)" : "") + " has no part '" + part_name(Part(p)) + "'");
  }
  if (a.quant.on()) {
    switch (a.format) {
      case Format::bitmap: SK_RETURN_IF_ERROR(validate_bitmap(a, 1)); break;
      case Format::nm: SK_RETURN_IF_ERROR(validate_nm(a, 1)); break;
      default: break;
    }
    const int64_t stored = quant_stored_count(a);
    SK_RETURN_IF_ERROR(check_quant_part_sizes(a, stored));
    return validate_quant_parts(a, stored);
  }
  const size_t es = dtype_size(a.dtype);
  switch (a.format) {
    case Format::dense: return expect_bytes(a, Part::values, per_row_count(a.rows, a.cols), es);
    case Format::csr: return validate_csr(a, es);
    case Format::bitmap: return validate_bitmap(a, es);
    case Format::nm: return validate_nm(a, es);
    case Format::tiled_csl: return validate_tiled_csl(a);
  }
  return bad("unknown format");
}

Status copy_validated(const MatrixView& src, PackedMatrix* out) {
  SK_RETURN_IF_ERROR(check_matrix_header(src));
  *out = PackedMatrix();
  out->format = src.format;
  out->dtype = src.dtype;
  out->rows = src.rows;
  out->cols = src.cols;
  out->n = src.n;
  out->m = src.m;
  out->quant = src.quant;
  for (int p = 0; p < int(Part::kNumParts); ++p) {
    const ConstBuffer& b = src.parts[p];
    if (b.bytes == 0) continue;
    if (b.data == nullptr) return bad(std::string(format_name(src.format)) + " part '" + part_name(Part(p)) + "' has no data");
    const auto* bytes = static_cast<const uint8_t*>(b.data);
    out->parts[p].assign(bytes, bytes + b.bytes);
  }
  Status st = validate(out->view());
  if (!st.ok()) {
    *out = PackedMatrix();
    return st;
  }
  derive_quant_aux(out);
  return st;
}

}  // namespace sk
