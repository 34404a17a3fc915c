// RIA (Zhang et al., "Plug-and-Play: An Efficient Post-training Pruning Method for Large Language
// Models", ICLR 2024): relative importance |w_ij|/Σ_k|w_kj| + |w_ij|/Σ_k|w_ik| (the weight against
// its input channel's and its output row's total) times the activation norm ‖X_j‖^a, ranked within
// each output row (unstructured) or each N:M group. Scores are float64 (ties: lower index first).
//
// Channel permutation (N:M; the paper's "heuristic channel reallocation"): channels are sorted by
// their summed score and dealt to the m slots of the groups in a snake order (slot 0 takes the
// lowest-ranked K/m channels, slot 1 the next K/m in reverse, ...), so every group holds one
// channel from each importance band instead of several strong ones competing for n places.
// With refine, the paper's linear-sum-assignment pass follows (refine_lsa).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "../core/thread_pool.h"
#include "prune_common.h"
#include "select.h"

namespace sk {

namespace {

// Maximum-weight perfect assignment on an n x n matrix (row i -> column col[i]): the Hungarian
// method with potentials (shortest augmenting paths), O(n³), on negated weights.
std::vector<int64_t> assign_max(const std::vector<double>& w, int64_t n) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(size_t(n + 1), 0.0), v(size_t(n + 1), 0.0), minv(size_t(n + 1));
  std::vector<int64_t> match(size_t(n + 1), 0), way(size_t(n + 1), 0);  // match[column] = row, 1-based
  std::vector<char> used(size_t(n + 1));
  for (int64_t i = 1; i <= n; ++i) {
    match[0] = i;
    int64_t j0 = 0;
    std::fill(minv.begin(), minv.end(), inf);
    std::fill(used.begin(), used.end(), 0);
    do {
      used[size_t(j0)] = 1;
      const int64_t i0 = match[size_t(j0)];
      double delta = inf;
      int64_t j1 = 0;
      for (int64_t j = 1; j <= n; ++j) {
        if (used[size_t(j)]) continue;
        const double cur = -w[size_t((i0 - 1) * n + (j - 1))] - u[size_t(i0)] - v[size_t(j)];
        if (cur < minv[size_t(j)]) {
          minv[size_t(j)] = cur;
          way[size_t(j)] = j0;
        }
        if (minv[size_t(j)] < delta) {
          delta = minv[size_t(j)];
          j1 = j;
        }
      }
      for (int64_t j = 0; j <= n; ++j) {
        if (used[size_t(j)]) {
          u[size_t(match[size_t(j)])] += delta;
          v[size_t(j)] -= delta;
        } else {
          minv[size_t(j)] -= delta;
        }
      }
      j0 = j1;
    } while (match[size_t(j0)] != 0);
    do {
      const int64_t j1 = way[size_t(j0)];
      match[size_t(j0)] = match[size_t(j1)];
      j0 = j1;
    } while (j0);
  }
  std::vector<int64_t> col(static_cast<size_t>(n));
  for (int64_t j = 1; j <= n; ++j) col[size_t(match[size_t(j)] - 1)] = j - 1;
  return col;
}

// The paper's refinement after the heuristic: for each slot s in turn, the channels sitting in
// slot s are reassigned to the groups by a linear sum assignment maximizing Σ rows' kept N:M
// score of the group (the group's other m - 1 channels plus the one assigned).
// false when aborted (the order is then partly refined: the caller discards it).
bool refine_lsa(const std::vector<double>& score, int64_t rows, int64_t cols, const Pattern& p, const Control& control,
                std::vector<int32_t>& order) {
  const int64_t G = cols / p.m;
  std::vector<double> value(size_t(G * G));
  for (int s = 0; s < p.m; ++s) {
    parallel_range(G, 1, [&](int64_t b, int64_t e) {
      std::vector<uint64_t> key(static_cast<size_t>(p.m));
      std::vector<uint8_t> pr(static_cast<size_t>(p.m));
      std::vector<double> vals(static_cast<size_t>(p.m));
      for (int64_t a = b; a < e; ++a) {  // candidate: the channel in slot s of group a
        if (control.aborted()) return;
        control.advance();
        const int32_t ch = order[size_t(a * p.m + s)];
        for (int64_t g = 0; g < G; ++g) {
          double total = 0;
          for (int64_t r = 0; r < rows; ++r) {
            const double* sr = &score[size_t(r * cols)];
            for (int i = 0; i < p.m; ++i) {
              vals[size_t(i)] = sr[i == s ? ch : order[size_t(g * p.m + i)]];
              key[size_t(i)] = score_key(vals[size_t(i)]);
            }
            mark_group(key.data(), p.m, p.n, pr.data());
            for (int i = 0; i < p.m; ++i)
              if (!pr[size_t(i)]) total += vals[size_t(i)];
          }
          value[size_t(a * G + g)] = total;
        }
      }
    });
    if (control.aborted()) return false;
    const std::vector<int64_t> to = assign_max(value, G);
    std::vector<int32_t> slot(static_cast<size_t>(G));
    for (int64_t a = 0; a < G; ++a) slot[size_t(to[size_t(a)])] = order[size_t(a * p.m + s)];
    for (int64_t g = 0; g < G; ++g) order[size_t(g * p.m + s)] = slot[size_t(g)];
  }
  return true;
}

Status aborted() { return Status::Error(ErrorCode::aborted, "ria: aborted"); }

}  // namespace

Status prune_ria(const WeightView& w, CalibrationStats& stats, const Pattern& p, const RiaOptions& opt, const Control& control,
                 PruneOutput* out, std::vector<int32_t>* perm, double retained[2]) {
  SK_RETURN_IF_ERROR(check_pattern(p, w.cols));
  if (!(opt.a >= 0) || !std::isfinite(opt.a)) return Status::Error(ErrorCode::argument, "ria: a must be a finite number >= 0");
  if (opt.permute && !p.nm()) return Status::Error(ErrorCode::argument, "ria: permute applies to N:M patterns only");
  if (opt.reconstruct) {
    std::lock_guard<std::mutex> lk(stats.mutex());
    if (!stats.has_hessian()) return Status::Error(ErrorCode::argument, "ria: reconstruct needs stats created with { hessian: true }");
  }
  const int64_t rows = w.rows, cols = w.cols;
  std::vector<double> sumsq;
  double tokens;
  SK_RETURN_IF_ERROR(read_channel_stats(stats, cols, "ria", &sumsq, nullptr, &tokens));
  const size_t total = size_t(rows) * size_t(cols);
  // The same step count as dsnot.cpp gives SparseGPT's sweep: its column blocks + 2.
  const int64_t sg_steps = opt.reconstruct ? (cols + 127) / 128 + 2 : 0;
  control.set_total(int32_t(std::min<int64_t>(2 + (opt.refine ? cols : 0) + sg_steps, 1 << 30)));
  std::vector<float> W(total);
  SK_RETURN_IF_ERROR(load_weight_f32(w, W.data(), "ria"));

  std::vector<double> act(static_cast<size_t>(cols)), rowsum(static_cast<size_t>(rows), 0.0), colsum(static_cast<size_t>(cols), 0.0);
  for (int64_t j = 0; j < cols; ++j) act[size_t(j)] = std::pow(std::sqrt(sumsq[size_t(j)]), opt.a);
  parallel_range(rows, 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      double s = 0;
      for (int64_t c = 0; c < cols; ++c) s += std::fabs(double(W[size_t(r * cols + c)]));
      rowsum[size_t(r)] = s;
    }
  });
  parallel_range(cols, 64, [&](int64_t b, int64_t e) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = b; c < e; ++c) colsum[size_t(c)] += std::fabs(double(W[size_t(r * cols + c)]));
  });
  // A zero row or column sum means every weight in it is zero: its relative importance is 0.
  std::vector<double> score(total);
  parallel_range(rows, 16, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const double a = std::fabs(double(W[size_t(r * cols + c)]));
        const double rel = (a == 0 ? 0 : a / colsum[size_t(c)] + a / rowsum[size_t(r)]);
        score[size_t(r * cols + c)] = rel * act[size_t(c)];
      }
  });

  control.advance();
  if (control.aborted()) return aborted();
  // Column order: identity, or the snake reallocation.
  std::vector<int32_t> order(static_cast<size_t>(cols));
  std::iota(order.begin(), order.end(), 0);
  auto kept_score = [&](const std::vector<int32_t>& ord) {
    std::vector<double> part(static_cast<size_t>(rows), 0.0);
    parallel_range(rows, 16, [&](int64_t b, int64_t e) {
      std::vector<uint64_t> key(static_cast<size_t>(p.m));
      std::vector<uint8_t> pr(static_cast<size_t>(p.m));
      for (int64_t r = b; r < e; ++r) {
        const double* s = &score[size_t(r * cols)];
        double acc = 0;
        for (int64_t g = 0; g < cols; g += p.m) {
          for (int i = 0; i < p.m; ++i) key[size_t(i)] = score_key(s[ord[size_t(g + i)]]);
          mark_group(key.data(), p.m, p.n, pr.data());
          for (int i = 0; i < p.m; ++i)
            if (!pr[size_t(i)]) acc += s[ord[size_t(g + i)]];
        }
        part[size_t(r)] = acc;
      }
    });
    return std::accumulate(part.begin(), part.end(), 0.0);
  };
  retained[0] = retained[1] = 0;
  if (p.nm()) retained[0] = retained[1] = kept_score(order);
  if (opt.permute) {
    std::vector<double> imp(static_cast<size_t>(cols), 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) imp[size_t(c)] += score[size_t(r * cols + c)];
    std::vector<int32_t> sorted(static_cast<size_t>(cols));
    std::iota(sorted.begin(), sorted.end(), 0);
    std::stable_sort(sorted.begin(), sorted.end(), [&](int32_t x, int32_t y) { return imp[size_t(x)] < imp[size_t(y)]; });
    const int64_t band = cols / p.m;
    for (int s = 0; s < p.m; ++s)
      for (int64_t t = 0; t < band; ++t) {
        const int64_t from = s % 2 == 0 ? s * band + t : (s + 1) * band - 1 - t;
        order[size_t(t * p.m + s)] = sorted[size_t(from)];
      }
    if (opt.refine && !refine_lsa(score, rows, cols, p, control, order)) return aborted();
    retained[1] = kept_score(order);
  }

  // Masks in output column order; the weight is W[:, order] there.
  std::vector<float> Wout(total);
  std::vector<uint8_t> pruned(total);
  std::vector<double> row_loss(static_cast<size_t>(rows), 0.0);
  const int64_t count = int64_t(std::floor(double(cols) * p.sparsity));
  parallel_range(rows, 4, [&](int64_t b, int64_t e) {
    std::vector<uint64_t> key(static_cast<size_t>(cols)), work;
    for (int64_t r = b; r < e; ++r) {
      const double* s = &score[size_t(r * cols)];
      for (int64_t c = 0; c < cols; ++c) key[size_t(c)] = score_key(s[order[size_t(c)]]);
      uint8_t* pr = &pruned[size_t(r * cols)];
      if (p.nm())
        for (int64_t g = 0; g < cols; g += p.m) mark_group(&key[size_t(g)], p.m, p.n, pr + g);
      else
        mark_smallest(key.data(), cols, count, work, pr);
      double loss = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const int32_t j = order[size_t(c)];
        const float v = W[size_t(r * cols + j)];
        Wout[size_t(r * cols + c)] = pr[c] ? 0.f : v;
        if (pr[c]) loss += double(v) * double(v) * sumsq[size_t(j)];
      }
      row_loss[size_t(r)] = loss;
    }
  });
  control.advance();
  if (control.aborted()) return aborted();
  if (opt.reconstruct) {
    // SparseGPT's sweep on the mask, in the inputs' own column order (the Hessian's), then the
    // columns back into the permuted order.
    std::vector<uint8_t> keep(total);
    parallel_range(rows, 16, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r)
        for (int64_t c = 0; c < cols; ++c) keep[size_t(r * cols + order[size_t(c)])] = !pruned[size_t(r * cols + c)];
    });
    SparseGptOptions so;
    so.damping = opt.damping;
    so.fixed_mask = keep.data();
    PruneOutput rec;
    Control inner = control;
    inner.keep_total = true;
    SK_RETURN_IF_ERROR(prune_sparsegpt(w, stats, p, so, inner, &rec));
    WeightView rv = w;
    rv.data = rec.weight.data();
    std::vector<float> R(total);
    SK_RETURN_IF_ERROR(load_weight_f32(rv, R.data(), "ria"));
    parallel_range(rows, 16, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r)
        for (int64_t c = 0; c < cols; ++c) Wout[size_t(r * cols + c)] = R[size_t(r * cols + order[size_t(c)])];
    });
    write_outputs_f32(w, Wout.data(), pruned.data(), out);
    out->loss = rec.loss;
  } else {
    write_outputs_f32(w, Wout.data(), pruned.data(), out);
    out->loss = std::accumulate(row_loss.begin(), row_loss.end(), 0.0) / tokens;
  }
  if (opt.permute) *perm = std::move(order);
  return Status::Ok();
}

}  // namespace sk
