// Wanda (Sun et al. 2023): score |w_ij|·‖X_j‖₂ compared within each output row. Scores are float64
// (the ranking is what matters; float64 keeps near-ties resolved as a float64 reference would).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

#include "../core/thread_pool.h"
#include "prune_common.h"
#include "select.h"

namespace sk {

namespace {

// The published variant: in each row prune the smallest scores whose cumulative sum stays within
// alpha·(row sum), with alpha bisected in [0, 0.8] until the overall sparsity is within 0.001.
double alpha_search(const std::vector<double>& score, int64_t rows, int64_t cols, double target, std::vector<uint8_t>& pruned) {
  std::vector<double> sorted(score), cum(score.size());
  parallel_range(rows, 4, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      double* s = &sorted[size_t(r * cols)];
      std::sort(s, s + cols);
      double acc = 0;
      for (int64_t c = 0; c < cols; ++c) cum[size_t(r * cols + c)] = acc += s[c];
    }
  });
  std::vector<double> thres(static_cast<size_t>(rows));
  std::vector<int64_t> count(static_cast<size_t>(rows));
  auto eval = [&](double alpha) {
    parallel_range(rows, 64, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const double* s = &sorted[size_t(r * cols)];
        const double* cs = &cum[size_t(r * cols)];
        const int64_t k = std::upper_bound(cs, cs + cols, cs[cols - 1] * alpha) - cs;
        thres[size_t(r)] = k > 0 ? s[k - 1] : -1.0;
        count[size_t(r)] = k > 0 ? std::upper_bound(s, s + cols, s[k - 1]) - s : 0;
      }
    });
    int64_t total = 0;
    for (int64_t r = 0; r < rows; ++r) total += count[size_t(r)];
    return double(total) / double(rows * cols);
  };
  double alpha = 0.4, lo = 0.0, hi = 0.8;
  double cur = eval(alpha);
  while (std::fabs(cur - target) > 0.001 && hi - lo >= 0.001) {
    double next;
    if (cur > target) {
      next = (alpha + lo) / 2;
      hi = alpha;
    } else {
      next = (alpha + hi) / 2;
      lo = alpha;
    }
    alpha = next;
    cur = eval(alpha);
  }
  parallel_range(rows, 16, [&](int64_t b, int64_t e) {
    for (size_t i = size_t(b * cols); i < size_t(e * cols); ++i) pruned[i] = score[i] <= thres[i / size_t(cols)];
  });
  return alpha;
}

}  // namespace

Status prune_wanda(const WeightView& w, CalibrationStats& stats, const Pattern& p, bool use_alpha, PruneOutput* out) {
  SK_RETURN_IF_ERROR(check_pattern(p, w.cols));
  const int64_t rows = w.rows, cols = w.cols;
  std::vector<double> norm(static_cast<size_t>(cols));
  double tokens;
  {
    std::lock_guard<std::mutex> lk(stats.mutex());
    if (stats.released()) return Status::Error(ErrorCode::argument, "wanda: stats was disposed");
    if (stats.k() != cols)
      return Status::Error(ErrorCode::shape, "wanda: the weight has " + std::to_string(cols) + " input columns but stats has " +
                                                 std::to_string(stats.k()) + " channels");
    tokens = stats.tokens();
    if (tokens <= 0) return Status::Error(ErrorCode::argument, "wanda: stats has no calibration tokens (call add() first)");
    for (int64_t j = 0; j < cols; ++j) norm[size_t(j)] = std::sqrt(stats.sumsq()[j]);
  }
  std::vector<double> norm2(static_cast<size_t>(cols));
  for (int64_t j = 0; j < cols; ++j) norm2[size_t(j)] = norm[size_t(j)] * norm[size_t(j)];
  double alpha = -1;
  std::vector<double> row_loss(static_cast<size_t>(rows), 0.0);
  std::vector<int64_t> row_pruned(static_cast<size_t>(rows), 0);
  if (use_alpha && !p.nm()) {
    SK_RETURN_IF_ERROR(check_weight_finite(w, "wanda"));
    allocate_outputs(w, out);
    const size_t total = size_t(rows) * size_t(cols);
    std::vector<double> score(total);
    parallel_range(rows, 16, [&](int64_t b, int64_t e) {
      std::vector<float> v(static_cast<size_t>(cols));
      for (int64_t r = b; r < e; ++r) {
        load_row(w, r, v.data());
        for (int64_t c = 0; c < cols; ++c) score[size_t(r * cols + c)] = std::fabs(double(v[size_t(c)])) * norm[size_t(c)];
      }
    });
    std::vector<uint8_t> pruned(total);
    alpha = alpha_search(score, rows, cols, p.sparsity, pruned);
    parallel_range(rows, 16, [&](int64_t b, int64_t e) {
      std::vector<float> v(static_cast<size_t>(cols));
      for (int64_t r = b; r < e; ++r) {
        load_row(w, r, v.data());
        const uint8_t* pr = &pruned[size_t(r * cols)];
        double loss = 0;
        for (int64_t c = 0; c < cols; ++c)
          if (pr[c]) loss += double(v[size_t(c)]) * double(v[size_t(c)]) * norm2[size_t(c)];
        row_loss[size_t(r)] = loss;
        row_pruned[size_t(r)] = write_row(w, r, pr, out);
      }
    });
  } else {
    // Approximate float32 scores |w|·float(norm) rank the bulk of each row; select_row settles the
    // few near the threshold with the float64 score. With float(norm) normal, it is within 2^-24
    // (relative) of norm and the product rounds once more, so an approximate score is within
    // 2^-23 relative (<= 3 units of the last place) of the float64 score rounded to float in the
    // normal range, and within 2^-149 (one unit) of it below FLT_MIN: margin 16 covers that
    // with room to spare. A zero norm gives exact zeros; any other norm that is not a normal
    // float voids the bound, and every row is then ranked by its float64 scores.
    std::vector<float> normf(static_cast<size_t>(cols));
    bool approx_ok = true;
    for (int64_t j = 0; j < cols; ++j) {
      normf[size_t(j)] = float(norm[size_t(j)]);
      approx_ok = approx_ok && (norm[size_t(j)] == 0 || std::isnormal(normf[size_t(j)]));
    }
    allocate_outputs(w, out, /*populate=*/false);  // first touched by the workers writing the rows
    // In place, a bad value found halfway would leave w half pruned: check all of w first.
    if (in_place(w, out)) SK_RETURN_IF_ERROR(check_weight_finite(w, "wanda"));
    const int64_t count = int64_t(std::floor(double(cols) * p.sparsity));
    // float32 rows are read where they are, unless they are being overwritten (in place).
    const float* wf = w.dtype == DType::f32 && !in_place(w, out) ? static_cast<const float*>(w.data) : nullptr;
    const float* nf = normf.data();
    const bool ok = prune_rows(
        rows, cols, p.m, p.n, count, approx_ok ? 16u : kExactOnly,
        [&](int64_t r, float* buf) -> const float* {
          if (wf) return wf + r * cols;
          load_row(w, r, buf);
          return buf;
        },
        [nf, cols](const float* __restrict v, uint32_t* __restrict key) {
          for (int64_t c = 0; c < cols; ++c) {
            const float s = std::fabs(v[c]) * nf[c];
            std::memcpy(&key[c], &s, 4);
          }
        },
        [&](int64_t c, float v) { return score_key(std::fabs(double(v)) * norm[size_t(c)]); },
        [&](int64_t r, const float* v, const uint32_t* key, const RowCut& cut) {
          row_pruned[size_t(r)] = write_row_cut(w, r, v, key, cut.below, cut.extra, norm2.data(), &row_loss[size_t(r)], out);
        });
    if (!ok) return check_weight_finite(w, "wanda");
  }
  double loss = 0;
  out->pruned = 0;
  for (int64_t r = 0; r < rows; ++r) {
    loss += row_loss[size_t(r)];
    out->pruned += row_pruned[size_t(r)];
  }
  out->loss = loss / tokens;
  out->alpha = alpha;
  return Status::Ok();
}

}  // namespace sk
