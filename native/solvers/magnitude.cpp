// Magnitude pruning, the reference baseline: rank |w| over the whole matrix (one threshold), within
// each row, or within each group of m inputs. Exactly ⌊count·s⌋ pruned (the published code's
// `|W| <= sorted[⌊n·s⌋]` prunes one more; we prune the stated fraction exactly).
#include <algorithm>
#include <cmath>

#include "../core/thread_pool.h"
#include "prune_common.h"
#include "select.h"

namespace sk {

Status prune_magnitude(const WeightView& w, const Pattern& p, bool per_row, PruneOutput* out) {
  SK_RETURN_IF_ERROR(check_pattern(p, w.cols));
  std::vector<float> wf;
  SK_RETURN_IF_ERROR(load_weight_f32(w, &wf, "magnitude"));
  const int64_t rows = w.rows, cols = w.cols;
  const size_t total = size_t(rows) * size_t(cols);
  std::vector<uint32_t> keys(total);
  parallel_range(rows, 16, [&](int64_t b, int64_t e) {
    for (size_t i = size_t(b * cols); i < size_t(e * cols); ++i) keys[i] = score_key(std::fabs(wf[i]));
  });
  std::vector<uint8_t> pruned(total);
  if (p.nm()) {
    parallel_range(rows, 16, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r)
        for (int64_t g = 0; g < cols; g += p.m) mark_group(&keys[size_t(r * cols + g)], p.m, p.n, &pruned[size_t(r * cols + g)]);
    });
  } else if (per_row) {
    const int64_t count = int64_t(std::floor(double(cols) * p.sparsity));
    parallel_range(rows, 4, [&](int64_t b, int64_t e) {
      std::vector<uint32_t> work;
      for (int64_t r = b; r < e; ++r) mark_smallest(&keys[size_t(r * cols)], cols, count, work, &pruned[size_t(r * cols)]);
    });
  } else if (total > 0) {
    std::vector<uint32_t> work;
    mark_smallest(keys.data(), int64_t(total), int64_t(std::floor(double(total) * p.sparsity)), work, pruned.data());
  }
  double loss = 0;
  for (size_t i = 0; i < total; ++i)
    if (pruned[i]) loss += double(wf[i]) * double(wf[i]);
  finish_masked(w, pruned, out);
  out->loss = loss;
  return Status::Ok();
}

}  // namespace sk
