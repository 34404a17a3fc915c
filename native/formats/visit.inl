// for_each_stored: the one place that knows how to walk every format row by row.
#pragma once

namespace sk {

template <class F> void for_each_stored(const MatrixView& a, int64_t r0, int64_t r1, F&& f) {
  const size_t es = dtype_size(a.dtype);
  const char* values = static_cast<const char*>(a.part(Part::values).data);
  switch (a.format) {
    case Format::dense:
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = 0; c < a.cols; ++c) f(r, c, values + size_t(r * a.cols + c) * es);
      break;
    case Format::csr: {
      const int32_t* rp = a.as<int32_t>(Part::row_ptr);
      const int32_t* ci = a.as<int32_t>(Part::col_idx);
      for (int64_t r = r0; r < r1; ++r)
        for (int32_t i = rp[r]; i < rp[r + 1]; ++i) f(r, int64_t(ci[i]), values + size_t(i) * es);
      break;
    }
    case Format::bitmap:
    case Format::nm: {
      const uint32_t* masks = a.as<uint32_t>(Part::masks);
      const bool is_nm = a.format == Format::nm;
      const int64_t wpr = mask_words_per_row(is_nm ? nm_padded_cols(a.cols, a.m) : a.cols);
      const int32_t* rp = is_nm ? nullptr : a.as<int32_t>(Part::row_ptr);
      const int64_t per_row = is_nm ? nm_values_per_row(a.cols, a.n, a.m) : 0;
      for (int64_t r = r0; r < r1; ++r) {
        int64_t vi = is_nm ? r * per_row : int64_t(rp[r]);
        for (int64_t w = 0; w < wpr; ++w) {
          uint32_t bits = masks[r * wpr + w];
          while (bits) {
            int j = __builtin_ctz(bits);
            bits &= bits - 1;
            f(r, w * 32 + j, values + size_t(vi++) * es);
          }
        }
      }
      break;
    }
    case Format::tiled_csl: {
      const uint32_t* words = a.as<uint32_t>(Part::words);
      const int32_t* offs = a.as<int32_t>(Part::tile_offsets);
      const int64_t tx = tiles_across(a.cols);
      for (int64_t ty = r0 / kTileRows; ty * kTileRows < r1; ++ty) {
        for (int64_t t = ty * tx; t < (ty + 1) * tx; ++t) {
          const int64_t col0 = (t % tx) * kTileCols;
          uint32_t prev = 0;
          for (int32_t i = offs[t]; i < offs[t + 1]; ++i) {
            if (i > offs[t] && words[i] == prev) continue;  // padding repeats the previous word
            prev = words[i];
            uint32_t pos = words[i] >> 16;
            int64_t r = ty * kTileRows + tile_position_row(pos);
            if (r < r0 || r >= r1) continue;
            f(r, col0 + tile_position_col(pos), reinterpret_cast<const char*>(&words[i]));
          }
        }
      }
      break;
    }
  }
}

}  // namespace sk
