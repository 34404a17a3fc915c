// Magnitude pruning, the reference baseline: rank |w| over the whole matrix (one threshold), within
// each row, or within each group of m inputs. Exactly ⌊count·s⌋ pruned (the published code's
// `|W| <= sorted[⌊n·s⌋]` prunes one more; we prune the stated fraction exactly).
#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/thread_pool.h"
#include "prune_common.h"
#include "select.h"

namespace sk {

namespace {

// One threshold over the whole matrix (select_smallest over |w|), then each fixed row chunk
// writes its rows, giving equal magnitudes to the lowest flat indices first.
template <class KeyAt>
void global_threshold(const WeightView& w, int64_t count, KeyAt key_at, std::vector<double>& row_loss, PruneOutput* out) {
  const int64_t cols = w.cols;
  const Selection<uint32_t> sel = select_smallest<uint32_t>(w.rows * cols, count, cols, key_at);
  parallel_for(sel.chunks, [&](int64_t c) {
    std::vector<float> v(static_cast<size_t>(cols));
    std::vector<uint8_t> pruned(static_cast<size_t>(cols));
    int64_t left = sel.quota[size_t(c)];
    for (int64_t r = sel.begin(c) / cols; r < sel.end(c) / cols; ++r) {
      load_row(w, r, v.data());
      double loss = 0;
      for (int64_t j = 0; j < cols; ++j) {
        const uint32_t k = score_key(std::fabs(v[size_t(j)]));
        const bool p = k < sel.t || (k == sel.t && left > 0);
        if (k == sel.t && p) --left;
        pruned[size_t(j)] = p;
        if (p) loss += double(v[size_t(j)]) * double(v[size_t(j)]);
      }
      row_loss[size_t(r)] = loss;
      write_row(w, r, pruned.data(), out);
    }
  });
}

}  // namespace

Status prune_magnitude(const WeightView& w, const Pattern& p, bool per_row, PruneOutput* out) {
  SK_RETURN_IF_ERROR(check_pattern(p, w.cols));
  const int64_t rows = w.rows, cols = w.cols;
  std::vector<double> row_loss(size_t(rows), 0.0);
  const int64_t total = rows * cols;
  const int64_t global_count = int64_t(std::floor(double(total) * p.sparsity));
  if (!p.nm() && !per_row && global_count > 0) {
    SK_RETURN_IF_ERROR(check_weight_finite(w, "magnitude"));
    allocate_outputs(w, out);
    const void* d = w.data;
    if (w.dtype == DType::f32)
      global_threshold(w, global_count, [d](int64_t i) { return score_key(std::fabs(static_cast<const float*>(d)[i])); }, row_loss, out);
    else if (w.dtype == DType::f16)
      global_threshold(w, global_count, [d](int64_t i) { return score_key(std::fabs(f16_to_f32(static_cast<const uint16_t*>(d)[i]))); },
                       row_loss, out);
    else
      global_threshold(w, global_count, [d](int64_t i) { return score_key(std::fabs(bf16_to_f32(static_cast<const uint16_t*>(d)[i]))); },
                       row_loss, out);
  } else {
    // |w|'s bits are exact keys: margin 0.
    const int64_t count = p.nm() || !per_row ? 0 : int64_t(std::floor(double(cols) * p.sparsity));
    allocate_outputs(w, out, /*populate=*/false);  // first touched by the workers writing the rows
    // In place, a bad value found halfway would leave w half pruned: check all of w first.
    if (in_place(w, out)) SK_RETURN_IF_ERROR(check_weight_finite(w, "magnitude"));
    // float32 rows are read where they are, unless they are being overwritten (in place).
    const float* wf = w.dtype == DType::f32 && !in_place(w, out) ? static_cast<const float*>(w.data) : nullptr;
    const bool ok = prune_rows(
        rows, cols, p.m, p.n, count, 0u,
        [&](int64_t r, float* buf) -> const float* {
          if (wf) return wf + r * cols;
          load_row(w, r, buf);
          return buf;
        },
        [&](const float* v, uint32_t* key) {
          for (int64_t c = 0; c < cols; ++c) key[c] = score_key(std::fabs(v[c]));
        },
        [](int64_t, float v) { return score_key(std::fabs(v)); },
        [&](int64_t r, const float* v, const uint32_t* key, const RowCut& cut) {
          write_row_cut(w, r, v, key, cut.below, cut.extra, nullptr, &row_loss[size_t(r)], out);
        });
    if (!ok) return check_weight_finite(w, "magnitude");
  }
  out->pruned = 0;
  for (int64_t r = 0; r < rows; ++r) out->loss += row_loss[size_t(r)];
  // Counted from the mask so every path reports what it wrote.
  int64_t kept = 0;
  for (int64_t i = 0; i < total; ++i) kept += out->mask.data()[i];
  out->pruned = total - kept;
  return Status::Ok();
}

}  // namespace sk
