// Dense (+ optional keep-mask) -> each packed format. Two passes: count per row/tile, then fill.
#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <cstring>
#include <numeric>

#include "../core/thread_pool.h"
#include "quant.h"
#include "sparse_matrix.h"
#include "tiled_csl_order.h"

namespace sk {

namespace {

// ES is the element size (2 or 4): a compile-time constant so every copy is a plain load/store.
template <size_t ES>
struct Source {
  static constexpr size_t es = ES;
  const char* data;
  DType dtype;
  int64_t rows, cols;
  const uint8_t* mask;

  bool keep(int64_t i) const {
    if (mask) return mask[i] != 0;
    const char* p = data + size_t(i) * es;
    if (es == 4) { uint32_t b; std::memcpy(&b, p, 4); return (b & 0x7fffffffu) != 0; }
    uint16_t h; std::memcpy(&h, p, 2); return (h & 0x7fffu) != 0;
  }
  const char* at(int64_t i) const { return data + size_t(i) * es; }
};

template <class T> std::vector<uint8_t>& sized(std::vector<uint8_t>& v, int64_t count) {
  v.assign(size_t(count) * sizeof(T), 0);
  return v;
}

// Exclusive prefix sum of per-row counts into an int32 rowPtr; fails if the total overflows int32.
Status prefix_to_row_ptr(const std::vector<int64_t>& counts, std::vector<uint8_t>& row_ptr_bytes, int64_t* total) {
  int32_t* rp = reinterpret_cast<int32_t*>(sized<int32_t>(row_ptr_bytes, int64_t(counts.size()) + 1).data());
  int64_t sum = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    rp[i] = int32_t(sum);
    sum += counts[i];
    if (sum > INT32_MAX)
      return Status::Error(ErrorCode::shape, "the matrix keeps more than 2^31-1 values; csr/bitmap offsets are int32");
  }
  rp[counts.size()] = int32_t(sum);
  *total = sum;
  return Status::Ok();
}

template <size_t ES>
Status pack_dense(const Source<ES>& s, PackedMatrix* out) {
  auto& v = out->parts[int(Part::values)];
  v.resize(size_t(s.rows * s.cols) * s.es);
  parallel_range(s.rows, 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b * s.cols; i < e * s.cols; ++i) {
      if (s.mask && !s.mask[i]) std::memset(&v[size_t(i) * s.es], 0, s.es);
      else std::memcpy(&v[size_t(i) * s.es], s.at(i), s.es);
    }
  });
  return Status::Ok();
}

template <size_t ES>
Status pack_csr(const Source<ES>& s, PackedMatrix* out) {
  std::vector<int64_t> counts(size_t(s.rows), 0);
  parallel_range(s.rows, 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      for (int64_t c = 0; c < s.cols; ++c) counts[r] += s.keep(r * s.cols + c);
  });
  int64_t nnz;
  SK_RETURN_IF_ERROR(prefix_to_row_ptr(counts, out->parts[int(Part::row_ptr)], &nnz));
  const int32_t* rp = reinterpret_cast<const int32_t*>(out->parts[int(Part::row_ptr)].data());
  auto& ci = sized<int32_t>(out->parts[int(Part::col_idx)], nnz);
  auto& vals = out->parts[int(Part::values)];
  vals.resize(size_t(nnz) * s.es);
  parallel_range(s.rows, 16, [&](int64_t b, int64_t e) {
    int32_t* cols = reinterpret_cast<int32_t*>(ci.data());
    for (int64_t r = b; r < e; ++r) {
      int64_t k = rp[r];
      for (int64_t c = 0; c < s.cols; ++c) {
        if (!s.keep(r * s.cols + c)) continue;
        cols[k] = int32_t(c);
        std::memcpy(&vals[size_t(k) * s.es], s.at(r * s.cols + c), s.es);
        ++k;
      }
    }
  });
  return Status::Ok();
}

template <size_t ES>
Status pack_bitmap(const Source<ES>& s, PackedMatrix* out) {
  const int64_t wpr = mask_words_per_row(s.cols);
  auto& mb = sized<uint32_t>(out->parts[int(Part::masks)], s.rows * wpr);
  uint32_t* masks = reinterpret_cast<uint32_t*>(mb.data());
  std::vector<int64_t> counts(size_t(s.rows), 0);
  parallel_range(s.rows, 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      for (int64_t w = 0; w < wpr; ++w) {
        uint32_t bits = 0;
        for (int64_t c = w * 32; c < std::min(s.cols, w * 32 + 32); ++c) bits |= uint32_t(s.keep(r * s.cols + c)) << (c % 32);
        masks[r * wpr + w] = bits;
      }
      int64_t cnt = 0;
      for (int64_t w = 0; w < wpr; ++w) cnt += __builtin_popcount(masks[r * wpr + w]);
      counts[r] = cnt;
    }
  });
  int64_t nnz;
  SK_RETURN_IF_ERROR(prefix_to_row_ptr(counts, out->parts[int(Part::row_ptr)], &nnz));
  const int32_t* rp = reinterpret_cast<const int32_t*>(out->parts[int(Part::row_ptr)].data());
  auto& vals = out->parts[int(Part::values)];
  vals.resize(size_t(nnz) * s.es);
  parallel_range(s.rows, 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      int64_t k = rp[r];
      for (int64_t w = 0; w < wpr; ++w)
        for (uint32_t bits = masks[r * wpr + w]; bits; bits &= bits - 1)
          std::memcpy(&vals[size_t(k++) * s.es], s.at(r * s.cols + w * 32 + __builtin_ctz(bits)), s.es);
    }
  });
  return Status::Ok();
}

template <size_t ES>
Status pack_nm(const Source<ES>& s, int n, int m, bool prune, PackedMatrix* out) {
  const int64_t groups = nm_groups(s.cols, m);
  const int64_t wpr = mask_words_per_row(groups * m);
  const int64_t per_row = groups * n;
  auto& mb = sized<uint32_t>(out->parts[int(Part::masks)], s.rows * wpr);
  uint32_t* masks = reinterpret_cast<uint32_t*>(mb.data());
  auto& vals = out->parts[int(Part::values)];
  vals.assign(size_t(s.rows * per_row) * s.es, 0);
  // The first violation (lowest row-major group) is the one reported, whatever the thread timing.
  std::atomic<int64_t> first_bad{INT64_MAX};

  parallel_range(s.rows, 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      for (int64_t g = 0; g < groups; ++g) {
        const int64_t c0 = g * m;
        const int width = int(std::min<int64_t>(m, s.cols - c0));
        bool chosen[16] = {};
        int count = 0;
        for (int j = 0; j < width; ++j) count += chosen[j] = s.keep(r * s.cols + c0 + j);
        if (count > n) {
          if (!prune) {
            int64_t flat = r * groups + g, cur = first_bad.load();
            while (flat < cur && !first_bad.compare_exchange_weak(cur, flat)) {}
            continue;
          }
          // Keep the n largest magnitudes among the candidates; ties go to the lower column.
          bool top[16] = {};
          for (int t = 0; t < n; ++t) {
            int best = -1;
            float best_mag = -1.f;
            for (int j = 0; j < width; ++j) {
              if (!chosen[j] || top[j]) continue;
              float mag = std::fabs(load_as_f32(s.data, s.dtype, size_t(r * s.cols + c0 + j)));
              if (mag != mag) mag = INFINITY;
              if (mag > best_mag) { best_mag = mag; best = j; }
            }
            top[best] = true;
          }
          std::copy(top, top + 16, chosen);
          count = n;
        }
        // Groups keeping fewer than n store explicit zeros in the lowest free slots, so every
        // group holds exactly n values and value offsets stay implicit.
        for (int j = 0; j < m && count < n; ++j)
          if (!chosen[j]) { chosen[j] = true; ++count; }
        int64_t vi = r * per_row + g * n;
        for (int j = 0; j < m; ++j) {
          if (!chosen[j]) continue;
          int64_t col = c0 + j;
          masks[r * wpr + col / 32] |= 1u << (col % 32);
          bool real = j < width && s.keep(r * s.cols + col);
          if (real) std::memcpy(&vals[size_t(vi) * s.es], s.at(r * s.cols + col), s.es);
          ++vi;
        }
      }
    }
  });
  if (first_bad.load() != INT64_MAX) {
    int64_t flat = first_bad.load();
    int64_t r = flat / groups, c0 = (flat % groups) * m;
    int count = 0;
    for (int64_t c = c0; c < std::min<int64_t>(c0 + m, s.cols); ++c) count += s.keep(r * s.cols + c);
    return Status::Error(ErrorCode::format,
                         "weight violates " + std::to_string(n) + ":" + std::to_string(m) + " sparsity: row " +
                             std::to_string(r) + ", columns " + std::to_string(c0) + ".." +
                             std::to_string(std::min<int64_t>(c0 + m, s.cols) - 1) + " keep " +
                             std::to_string(count) + " values (at most " + std::to_string(n) +
                             " allowed); pass prune: 'magnitude' to enforce it");
  }
  return Status::Ok();
}

template <size_t ES>
Status pack_tiled_csl(const Source<ES>& s, PackedMatrix* out) {
  const int64_t ty_count = tiles_down(s.rows), tx_count = tiles_across(s.cols);
  const int64_t tiles = ty_count * tx_count;
  // Each tile's words in scatter order (tiled_csl_order.h: by shared-memory bank, zero-padded).
  std::vector<std::vector<uint32_t>> tile_words(static_cast<size_t>(tiles));
  parallel_range(tiles, 4, [&](int64_t b, int64_t e) {
    std::vector<uint32_t> words;
    for (int64_t t = b; t < e; ++t) {
      const int64_t r0 = (t / tx_count) * kTileRows, c0 = (t % tx_count) * kTileCols;
      const int rows = int(std::min<int64_t>(kTileRows, s.rows - r0)), cols = int(std::min<int64_t>(kTileCols, s.cols - c0));
      words.clear();
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) {
          const int64_t idx = (r0 + i) * s.cols + c0 + j;
          if (!s.keep(idx)) continue;
          uint16_t bits;
          std::memcpy(&bits, s.at(idx), 2);
          words.push_back(tiled_csl_word(bits, tile_position(uint32_t(i), uint32_t(j))));
        }
      tile_words[size_t(t)] = order_tile_words(words, rows, cols);
    }
  });
  std::vector<int64_t> counts(static_cast<size_t>(tiles));
  for (int64_t t = 0; t < tiles; ++t) counts[size_t(t)] = int64_t(tile_words[size_t(t)].size());
  int64_t total;
  SK_RETURN_IF_ERROR(prefix_to_row_ptr(counts, out->parts[int(Part::tile_offsets)], &total));
  const int32_t* offs = reinterpret_cast<const int32_t*>(out->parts[int(Part::tile_offsets)].data());
  auto& wb = sized<uint32_t>(out->parts[int(Part::words)], total);
  uint32_t* words = reinterpret_cast<uint32_t*>(wb.data());
  parallel_range(tiles, 16, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) std::copy(tile_words[size_t(t)].begin(), tile_words[size_t(t)].end(), words + offs[t]);
  });
  return Status::Ok();
}

template <size_t ES>
Status pack_as(const Source<ES>& s, const PackOptions& opt, PackedMatrix* out) {
  switch (opt.format) {
    case Format::dense: return pack_dense(s, out);
    case Format::csr: return pack_csr(s, out);
    case Format::bitmap: return pack_bitmap(s, out);
    case Format::nm: return pack_nm(s, opt.n, opt.m, opt.prune_magnitude, out);
    case Format::tiled_csl: return pack_tiled_csl(s, out);
  }
  return Status::Error(ErrorCode::internal, "unknown format");
}

}  // namespace

Status pack(const void* dense, DType dtype, int64_t rows, int64_t cols, const PackOptions& opt, PackedMatrix* out) {
  if (opt.quant.on()) {
    try {
      return pack_quantized(dense, dtype, rows, cols, opt, out);
    } catch (const std::bad_alloc&) {
      return Status::Error(ErrorCode::memory, "out of host memory while quantizing a [" + std::to_string(rows) + ", " +
                                                  std::to_string(cols) + "] matrix");
    }
  }
  SK_RETURN_IF_ERROR(check_shape_and_type(opt.format, dtype, rows, cols, opt.n, opt.m));
  *out = PackedMatrix();
  out->format = opt.format;
  out->dtype = dtype;
  out->rows = rows;
  out->cols = cols;
  if (opt.format == Format::nm) { out->n = opt.n; out->m = opt.m; }
  try {
    if (dtype_size(dtype) == 4) return pack_as(Source<4>{static_cast<const char*>(dense), dtype, rows, cols, opt.mask}, opt, out);
    return pack_as(Source<2>{static_cast<const char*>(dense), dtype, rows, cols, opt.mask}, opt, out);
  } catch (const std::bad_alloc&) {
    return Status::Error(ErrorCode::memory, "out of host memory while packing a [" + std::to_string(rows) + ", " +
                                                std::to_string(cols) + "] matrix");
  }
}

}  // namespace sk
