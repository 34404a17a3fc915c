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

// Fixed row chunks (independent of the thread count, so ties resolve identically everywhere).
struct Chunks {
  int64_t rows, n;
  int64_t begin(int64_t c) const { return rows * c / n; }
  int64_t end(int64_t c) const { return rows * (c + 1) / n; }
};

// One threshold over the whole matrix without materialising all keys: a 16-bit histogram of the
// keys' top halves finds the bucket holding the threshold, a radix select over that bucket's
// members finds it exactly, then ties are shared out in flat index order.
void global_threshold(const WeightView& w, int64_t count, std::vector<double>& row_loss, PruneOutput* out) {
  const int64_t cols = w.cols;
  const Chunks ch{w.rows, std::max<int64_t>(1, std::min<int64_t>(w.rows, 16))};
  auto for_rows = [&](int64_t c, auto fn) {
    thread_local std::vector<float> row;
    row.resize(size_t(cols));
    for (int64_t r = ch.begin(c); r < ch.end(c); ++r) {
      load_row(w, r, row.data());
      fn(r, row.data());
    }
  };
  std::vector<uint32_t> hist(size_t(ch.n) << 16, 0);
  parallel_for(ch.n, [&](int64_t c) {
    uint32_t* h = &hist[size_t(c) << 16];
    for_rows(c, [&](int64_t, const float* v) {
      for (int64_t j = 0; j < cols; ++j) ++h[score_key(std::fabs(v[j])) >> 16];
    });
  });
  int64_t rank = count - 1, bucket = 0;
  for (;; ++bucket) {
    int64_t in = 0;
    for (int64_t c = 0; c < ch.n; ++c) in += hist[(size_t(c) << 16) + size_t(bucket)];
    if (rank < in) break;
    rank -= in;
  }
  std::vector<std::vector<uint32_t>> cand(size_t(ch.n));
  parallel_for(ch.n, [&](int64_t c) {
    for_rows(c, [&](int64_t, const float* v) {
      for (int64_t j = 0; j < cols; ++j) {
        const uint32_t k = score_key(std::fabs(v[j]));
        if ((k >> 16) == uint32_t(bucket)) cand[size_t(c)].push_back(k);
      }
    });
  });
  std::vector<uint32_t> all;
  for (auto& c : cand) all.insert(all.end(), c.begin(), c.end());
  const uint32_t t = radix_select(all.data(), int64_t(all.size()), rank);
  std::vector<int64_t> less(size_t(ch.n), 0), equal(size_t(ch.n), 0), quota(size_t(ch.n), 0);
  parallel_for(ch.n, [&](int64_t c) {
    for_rows(c, [&](int64_t, const float* v) {
      for (int64_t j = 0; j < cols; ++j) {
        const uint32_t k = score_key(std::fabs(v[j]));
        less[size_t(c)] += k < t;
        equal[size_t(c)] += k == t;
      }
    });
  });
  int64_t ties = count;
  for (int64_t c = 0; c < ch.n; ++c) ties -= less[size_t(c)];
  for (int64_t c = 0; c < ch.n; ++c) {
    quota[size_t(c)] = std::min(ties, equal[size_t(c)]);
    ties -= quota[size_t(c)];
  }
  parallel_for(ch.n, [&](int64_t c) {
    std::vector<uint8_t> pruned(static_cast<size_t>(cols));
    int64_t left = quota[size_t(c)];
    for_rows(c, [&](int64_t r, const float* v) {
      double loss = 0;
      for (int64_t j = 0; j < cols; ++j) {
        const uint32_t k = score_key(std::fabs(v[j]));
        const bool p = k < t || (k == t && left > 0);
        if (k == t && left > 0) --left;
        pruned[size_t(j)] = p;
        if (p) loss += double(v[j]) * double(v[j]);
      }
      row_loss[size_t(r)] = loss;
      write_row(w, r, pruned.data(), out);
    });
  });
}

}  // namespace

Status prune_magnitude(const WeightView& w, const Pattern& p, bool per_row, PruneOutput* out) {
  SK_RETURN_IF_ERROR(check_pattern(p, w.cols));
  SK_RETURN_IF_ERROR(check_weight_finite(w, "magnitude"));
  const int64_t rows = w.rows, cols = w.cols;
  allocate_outputs(w, out);
  std::vector<double> row_loss(size_t(rows), 0.0);
  const int64_t total = rows * cols;
  const int64_t global_count = int64_t(std::floor(double(total) * p.sparsity));
  if (!p.nm() && !per_row && global_count > 0) {
    global_threshold(w, global_count, row_loss, out);
  } else {
    const int64_t count = p.nm() || !per_row ? 0 : int64_t(std::floor(double(cols) * p.sparsity));
    parallel_range(rows, 4, [&](int64_t b, int64_t e) {
      std::vector<float> v(static_cast<size_t>(cols));
      std::vector<uint32_t> key(static_cast<size_t>(cols)), work;
      std::vector<uint8_t> pruned(static_cast<size_t>(cols));
      for (int64_t r = b; r < e; ++r) {
        load_row(w, r, v.data());
        for (int64_t c = 0; c < cols; ++c) key[size_t(c)] = score_key(std::fabs(v[size_t(c)]));
        if (p.nm())
          for (int64_t g = 0; g < cols; g += p.m) mark_group(&key[size_t(g)], p.m, p.n, &pruned[size_t(g)]);
        else
          mark_smallest(key.data(), cols, count, work, pruned.data());
        double loss = 0;
        for (int64_t c = 0; c < cols; ++c)
          if (pruned[size_t(c)]) loss += double(v[size_t(c)]) * double(v[size_t(c)]);
        row_loss[size_t(r)] = loss;
        write_row(w, r, pruned.data(), out);
      }
    });
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
