#include "prune_common.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string>

#include "../core/convert.h"
#include "../core/thread_pool.h"

namespace sk {

Status check_pattern(const Pattern& p, int64_t cols) {
  if (p.nm()) {
    if (p.m < 1 || p.m > 16)
      return Status::Error(ErrorCode::argument, "m must be an integer in [1, 16], got " + std::to_string(p.m));
    if (p.n < 1 || p.n > p.m)
      return Status::Error(ErrorCode::argument, "n must be an integer in [1, m = " + std::to_string(p.m) + "], got " +
                                                    std::to_string(p.n));
    if (cols % p.m != 0)
      return Status::Error(ErrorCode::shape, "N:M pruning needs m = " + std::to_string(p.m) +
                                                 " to divide the weight's column count, got " + std::to_string(cols) + " columns");
    return Status::Ok();
  }
  if (!(p.sparsity >= 0 && p.sparsity < 1))
    return Status::Error(ErrorCode::argument, "sparsity must be in [0, 1), got " + std::to_string(p.sparsity));
  return Status::Ok();
}

namespace {

Status non_finite(const WeightView& w, int64_t i, const char* solver) {
  return Status::Error(ErrorCode::numeric, std::string(solver) + ": weight has a non-finite value at [" +
                                               std::to_string(i / w.cols) + ", " + std::to_string(i % w.cols) + "]");
}

// Scans rows in parallel with `row(r, first_bad_col_or_-1)`; returns the flat index of a bad value or -1.
template <class RowFn>
int64_t scan_rows(const WeightView& w, RowFn row) {
  std::atomic<int64_t> bad{-1};
  parallel_range(w.rows, 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t c = row(r);
      if (c >= 0) {
        int64_t expected = -1;
        bad.compare_exchange_strong(expected, r * w.cols + c);
        return;
      }
    }
  });
  return bad.load();
}

}  // namespace

void load_row(const WeightView& w, int64_t r, float* dst) {
  const size_t es = dtype_size(w.dtype);
  if (w.dtype == DType::f32)
    std::memcpy(dst, static_cast<const float*>(w.data) + r * w.cols, size_t(w.cols) * 4);
  else
    convert(static_cast<const uint8_t*>(w.data) + size_t(r * w.cols) * es, w.dtype, dst, DType::f32, size_t(w.cols));
}

Status check_weight_finite(const WeightView& w, const char* solver) {
  const int64_t bad = scan_rows(w, [&](int64_t r) -> int64_t {
    thread_local std::vector<float> row;
    row.resize(size_t(w.cols));
    const float* p = static_cast<const float*>(w.data) + r * w.cols;
    if (w.dtype != DType::f32) {
      load_row(w, r, row.data());
      p = row.data();
    }
    for (int64_t c = 0; c < w.cols; ++c)
      if (!std::isfinite(p[c])) return c;
    return -1;
  });
  return bad >= 0 ? non_finite(w, bad, solver) : Status::Ok();
}

Status load_weight_f32(const WeightView& w, float* out, const char* solver) {
  const int64_t bad = scan_rows(w, [&](int64_t r) -> int64_t {
    float* dst = out + r * w.cols;
    load_row(w, r, dst);
    for (int64_t c = 0; c < w.cols; ++c)
      if (!std::isfinite(dst[c])) return c;
    return -1;
  });
  return bad >= 0 ? non_finite(w, bad, solver) : Status::Ok();
}

void allocate_outputs(const WeightView& w, PruneOutput* out, bool populate) {
  const size_t total = size_t(w.rows) * size_t(w.cols);
  // Buffers the caller provided (HostBuffer::wrap) are used when their sizes match.
  if (out->weight.owned() || out->weight.size() != total * dtype_size(w.dtype)) out->weight.allocate(total * dtype_size(w.dtype), populate);
  if (out->mask.owned() || out->mask.size() != total) out->mask.allocate(total, populate);
}

namespace {

template <class T>
int64_t masked_copy(const T* __restrict src, const uint8_t* __restrict pruned, T* __restrict dst, uint8_t* __restrict mask,
                    int64_t n) {
  int64_t count = 0;
  // Branch-free so it vectorises: keep = all ones or all zeros; zero bits are +0.0 in every dtype.
  for (int64_t c = 0; c < n; ++c) {
    const T keep = T(T(0) - T(pruned[c] ^ 1));
    dst[c] = T(src[c] & keep);
    mask[c] = uint8_t(pruned[c] ^ 1);
    count += pruned[c];
  }
  return count;
}

// keep = key >= below, written branch-free so the loop vectorises. The loss sums the dropped
// values' v²·lw in float64 over 8 interleaved partial sums (a fixed order, so the result does not
// depend on threads): one running sum would be a serial chain of float64 adds.
template <class T, bool kWeighted>
double cut_copy(const T* __restrict src, const float* __restrict v, const uint32_t* __restrict key, uint32_t below,
                const double* __restrict lw, T* __restrict dst, uint8_t* __restrict mask, int64_t n) {
  for (int64_t c = 0; c < n; ++c) {
    const uint32_t keep = key[c] >= below;
    dst[c] = T(src[c] & T(0u - keep));
    mask[c] = uint8_t(keep);
  }
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  auto term = [&](int64_t c) {
    uint32_t bits;  // v[c] if dropped else +0, by masking its bits (no branch, no select)
    std::memcpy(&bits, &v[c], 4);
    bits &= 0u - uint32_t(key[c] < below);
    float x;
    std::memcpy(&x, &bits, 4);
    const double d = x;
    return kWeighted ? d * d * lw[c] : d * d;
  };
  int64_t c = 0;
  for (; c + 8 <= n; c += 8)
    for (int j = 0; j < 8; ++j) acc[j] += term(c + j);
  for (; c < n; ++c) acc[c & 7] += term(c);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Row r of w's raw bytes, read-only while the row of out->weight is written: w's own memory, or,
// when out->weight is w itself (in place), a per-thread copy.
const uint8_t* source_row(const WeightView& w, int64_t r, const PruneOutput* out) {
  const size_t es = dtype_size(w.dtype), off = size_t(r * w.cols);
  const uint8_t* src = static_cast<const uint8_t*>(w.data) + off * es;
  if (out->weight.data() != w.data) return src;
  thread_local std::vector<uint8_t> copy;
  copy.assign(src, src + size_t(w.cols) * es);
  return copy.data();
}

}  // namespace

bool in_place(const WeightView& w, const PruneOutput* out) { return out->weight.data() == w.data && w.data != nullptr; }

int64_t write_row_cut(const WeightView& w, int64_t r, const float* v, const uint32_t* key, uint32_t below,
                      const std::vector<int32_t>& extra, const double* lw, double* loss, PruneOutput* out) {
  const size_t es = dtype_size(w.dtype), off = size_t(r * w.cols);
  uint8_t* dst = out->weight.data() + off * es;
  uint8_t* mask = out->mask.data() + off;
  const uint8_t* src = source_row(w, r, out);
  double l;
  if (es == 4) {
    auto s4 = reinterpret_cast<const uint32_t*>(src);
    auto d4 = reinterpret_cast<uint32_t*>(dst);
    l = lw ? cut_copy<uint32_t, true>(s4, v, key, below, lw, d4, mask, w.cols) : cut_copy<uint32_t, false>(s4, v, key, below, lw, d4, mask, w.cols);
  } else {
    auto s2 = reinterpret_cast<const uint16_t*>(src);
    auto d2 = reinterpret_cast<uint16_t*>(dst);
    l = lw ? cut_copy<uint16_t, true>(s2, v, key, below, lw, d2, mask, w.cols) : cut_copy<uint16_t, false>(s2, v, key, below, lw, d2, mask, w.cols);
  }
  int64_t pruned = int64_t(extra.size());
  for (int64_t c = 0; c < w.cols; ++c) pruned += key[c] < below;
  for (int32_t c : extra) {
    if (es == 4) reinterpret_cast<uint32_t*>(dst)[c] = 0;
    else reinterpret_cast<uint16_t*>(dst)[c] = 0;
    mask[c] = 0;
    l += double(v[c]) * double(v[c]) * (lw ? lw[c] : 1.0);
  }
  *loss = l;
  return pruned;
}

int64_t write_row(const WeightView& w, int64_t r, const uint8_t* pruned, PruneOutput* out) {
  const size_t es = dtype_size(w.dtype), off = size_t(r * w.cols);
  uint8_t* dst = out->weight.data() + off * es;
  uint8_t* mask = out->mask.data() + off;
  const uint8_t* src = source_row(w, r, out);
  if (es == 4)
    return masked_copy(reinterpret_cast<const uint32_t*>(src), pruned, reinterpret_cast<uint32_t*>(dst), mask, w.cols);
  return masked_copy(reinterpret_cast<const uint16_t*>(src), pruned, reinterpret_cast<uint16_t*>(dst), mask, w.cols);
}

void write_outputs_f32(const WeightView& w, const float* W, const uint8_t* pruned, PruneOutput* out) {
  const int64_t rows = w.rows, cols = w.cols;
  const size_t es = dtype_size(w.dtype);
  out->weight.allocate(size_t(rows * cols) * es);
  out->mask.allocate(size_t(rows * cols));
  std::atomic<int64_t> count{0};
  parallel_range(rows, 16, [&](int64_t b, int64_t e) {
    convert(W + b * cols, DType::f32, out->weight.data() + size_t(b * cols) * es, w.dtype, size_t((e - b) * cols));
    int64_t n = 0;
    for (size_t i = size_t(b * cols); i < size_t(e * cols); ++i) {
      out->mask.data()[i] = !pruned[i];
      n += pruned[i];
    }
    count += n;
  });
  out->pruned = count.load();
}

Status read_channel_stats(CalibrationStats& stats, int64_t cols, const char* solver, std::vector<double>* sumsq,
                          std::vector<double>* sum, double* tokens) {
  std::lock_guard<std::mutex> lk(stats.mutex());
  const std::string name(solver);
  if (stats.released()) return Status::Error(ErrorCode::argument, name + ": stats was disposed");
  if (stats.k() != cols)
    return Status::Error(ErrorCode::shape, name + ": the weight has " + std::to_string(cols) + " input columns but stats has " +
                                               std::to_string(stats.k()) + " channels");
  *tokens = stats.tokens();
  if (*tokens <= 0) return Status::Error(ErrorCode::argument, name + ": stats has no calibration tokens (call add() first)");
  if (sumsq) sumsq->assign(stats.sumsq(), stats.sumsq() + cols);
  if (sum) sum->assign(stats.sum(), stats.sum() + cols);
  return Status::Ok();
}

}  // namespace sk
